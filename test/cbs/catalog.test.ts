import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as asn1js from 'asn1js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { catalogHasDigest, checkCatalogSignature, OID, parseCatalog, type Catalog } from '../../src/cbs/catalog.js';
import { Cabinet } from '../../src/cab/cabinet.js';
import * as pkijs from 'pkijs';
import { ctx0, der, octets, oid, seq, signedData, v2Catalog } from '../helpers/catalog.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { hasTool, skipNote } from '../helpers/tools.js';

function expectCatalogError(bytes: Uint8Array, message: RegExp): FormatError {
  try {
    parseCatalog(bytes, 'x.cat');
  } catch (err) {
    expect(err).toBeInstanceOf(FormatError);
    const e = err as FormatError;
    expect(e.code).toBe('E_CATALOG');
    expect(e.file).toBe('x.cat');
    expect(e.message).toMatch(message);
    return e;
  }
  throw new Error('expected a FormatError');
}

describe('parseCatalog (hand-made)', () => {
  const digest = createHash('sha256').update('update.mum bytes').digest();

  it('reads a v2 catalog: SHA-256 member, its File name, catalog attributes', () => {
    const cat = parseCatalog(v2Catalog([{ file: 'update.mum', sha256: digest }]), 'v2.cat');
    expect(cat.subjectAlgorithm).toBe('v2');
    expect(cat.listIdentifier).toBe('00112233445566778899aabbccddeeff');
    expect(cat.thisUpdate).toBe('2024-01-02T03:04:05.000Z');
    expect(cat.signatureVerified).toBe(false);
    expect(cat.attributes).toEqual([{ name: 'OSAttr', flags: 0x10001, value: '2:10.0' }]);
    expect(cat.entries).toEqual([
      {
        tag: digest.toString('hex'),
        digest: digest.toString('hex'),
        digestAlgorithm: 'SHA256',
        indirectType: 'flat',
        attributes: [{ name: 'File', flags: 0x10010001, value: 'update.mum' }],
        otherAttributes: [OID.catMemberInfo2],
      },
    ]);
    expect(catalogHasDigest(cat, digest.toString('hex').toUpperCase())).toBe(true);
    expect(catalogHasDigest(cat, createHash('sha256').update('other').digest('hex'))).toBe(false);
  });

  it('refuses what is not a CTL catalog, naming the file', () => {
    expectCatalogError(Buffer.from('not asn.1 at all'), /^catalog is not DER\/BER/);
    // 200000 nested SEQUENCE headers with indefinite length: recursion bomb for a BER decoder
    expectCatalogError(Buffer.concat([Buffer.alloc(400000, Buffer.from([0x30, 0x80]))]), /^catalog is not DER\/BER/);
    expectCatalogError(der(seq(oid('1.2.840.113549.1.7.1'), ctx0(octets(Buffer.from('x'))))), /ContentInfo type is 1\.2\.840\.113549\.1\.7\.1, expected signedData/);
    expectCatalogError(signedData('1.2.840.113549.1.7.1', octets(Buffer.from('data'))), /SignedData content is 1\.2\.840\.113549\.1\.7\.1, expected a CTL/);
    const notCatalog = seq(seq(oid('1.3.6.1.5.5.7.3.3')), new asn1js.UTCTime({ valueDate: new Date(0) }), seq(oid(OID.catalogListMemberV1)));
    expectCatalogError(signedData(OID.ctl, notCatalog), /subjectUsage 1\.3\.6\.1\.5\.5\.7\.3\.3 is not a catalog list/);
  });

  it('gives a FormatError (never a crash) for every truncation', () => {
    const whole = v2Catalog([{ file: 'update.mum', sha256: digest }]);
    for (let n = 0; n < whole.length; n += 3) {
      expect(() => parseCatalog(whole.subarray(0, n), 'x.cat'), `cut at ${n}`).toThrow(FormatError);
    }
  });
});

describe.skipIf(!hasCorpus)('catalogs of KB2883457', () => {
  const tool = hasTool('cabextract');
  let dir = '';
  const cats = new Map<string, Catalog>();
  beforeAll(() => {
    if (!tool) return skipNote('KB2883457 catalogs', 'cabextract');
    dir = mkdtempSync(path.join(tmpdir(), 'msu-cat-'));
    execFileSync('cabextract', ['-q', '-d', dir, corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab')], { stdio: 'ignore' });
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.cat')).sort()) cats.set(f, parseCatalog(readFileSync(path.join(dir, f)), f));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!tool)('parses all six catalogs as v1 CTLs with the Win7 OSAttr', () => {
    expect(cats.size).toBe(6);
    for (const [name, c] of cats) {
      expect(c.subjectAlgorithm, name).toBe('v1');
      expect(c.attributes, name).toEqual([{ name: 'OSAttr', flags: 0x10001, value: '2:5.1,2:5.2,2:6.0,2:6.1' }]);
      for (const e of c.entries) {
        expect(e.digestAlgorithm).toBe('SHA1');
        expect(e.tag).toBe(e.digest);
      }
    }
    // listIdentifier and thisUpdate as `openssl asn1parse` shows them for update.cat
    const u = cats.get('update.cat')!;
    expect(u.listIdentifier).toBe('6e6e78c0659b154ab141659b1d1076e6');
    expect(u.thisUpdate).toBe('2013-08-28T06:55:09.000Z');
    expect(u.entries).toHaveLength(1);
    expect(u.entries[0]!.indirectType).toBe('flat');
    const pkg = cats.get('package_1_for_kb2883457~31bf3856ad364e35~amd64~~6.1.1.0.cat')!;
    expect(pkg.entries).toHaveLength(11);
    expect(pkg.entries.filter((e) => e.indirectType === 'PE').length).toBeGreaterThan(0);
  });

  it.skipIf(!tool)('lists the SHA-1 of every .mum and .manifest in the cab', () => {
    const members = readdirSync(dir).filter((x) => /\.(mum|manifest)$/.test(x)).sort();
    expect(members).toHaveLength(10);
    for (const m of members) {
      const sha1 = createHash('sha1').update(readFileSync(path.join(dir, m))).digest('hex');
      const listedIn = [...cats].filter(([, c]) => catalogHasDigest(c, sha1)).map(([n]) => n);
      expect(listedIn.length, m).toBeGreaterThan(0);
      // Each package .mum is listed in the catalog of the same name.
      if (m.endsWith('.mum')) expect(listedIn, m).toContain(m.replace(/\.mum$/, '.cat'));
    }
    const catSha1 = createHash('sha1').update(readFileSync(path.join(dir, 'update.cat'))).digest('hex');
    expect([...cats.values()].some((c) => catalogHasDigest(c, catSha1))).toBe(false);
  });

  it.skipIf(!tool)('gives a FormatError for truncated real catalogs', () => {
    const whole = readFileSync(path.join(dir, 'update.cat'));
    for (const n of [0, 1, 10, 100, 500, 1000, 4000, whole.length - 1]) {
      expect(() => parseCatalog(whole.subarray(0, n), 'update.cat'), `cut at ${n}`).toThrow(FormatError);
    }
  });
});

describe('checkCatalogSignature', () => {
  it('a catalog without a SignerInfo is unsigned', async () => {
    expect(await checkCatalogSignature(v2Catalog([{ file: 'a', sha256: new Uint8Array(32) }]))).toEqual({ state: 'unsigned' });
  });

  it.skipIf(!hasCorpus)('Microsoft\'s catalog verifies; a changed signature byte does not', async () => {
    const cab = await Cabinet.openFile(corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab'));
    const bytes = Buffer.from(await cab.readFile(cab.entries.find((e) => e.name === 'update.cat')!));
    await cab.close();
    expect(await checkCatalogSignature(bytes, 'update.cat')).toEqual({ state: 'intact', signer: 'Microsoft Windows' });
    // the signer's encrypted digest: find it in the file and change one bit in it
    const sd = new pkijs.SignedData({ schema: new pkijs.ContentInfo({ schema: asn1js.fromBER(new Uint8Array(bytes).buffer).result }).content });
    const sig = Buffer.from(sd.signerInfos[0]!.signature.valueBlock.valueHexView);
    const at = bytes.indexOf(sig);
    expect(at).toBeGreaterThan(0);
    const bad = Buffer.from(bytes);
    bad[at + 10]! ^= 1;
    expect(await checkCatalogSignature(bad, 'update.cat')).toEqual({ state: 'broken', signer: 'Microsoft Windows', reason: 'the signature does not verify' });
  });
});
