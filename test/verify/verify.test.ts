import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { parseCatalog } from '../../src/cbs/catalog.js';
import { verifyPackage } from '../../src/verify/index.js';
import { MsuError } from '../../src/errors.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { bareCab, msu, packageMum, removeDir, tempDir, writeFiles } from '../plan/fixtures.js';

const KB = () => corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab');
let dir: string;

/** Every member of the corpus cab, in order, as the writer wants them. */
async function corpusMembers(): Promise<Array<{ name: string; data: Uint8Array }>> {
  const cab = await Cabinet.openFile(KB());
  try {
    const out = [];
    for (const e of cab.entries) out.push({ name: e.name, data: await cab.readFile(e) });
    return out;
  } finally {
    await cab.close();
  }
}

beforeAll(async () => {
  dir = await tempDir('msu-verify-');
});
afterAll(async () => removeDir(dir));

describe.skipIf(!hasCorpus)('verify: genuine KB2883457 cab', () => {
  it('finds every .mum and .manifest in the package catalogs and every RAW cix source intact', async () => {
    const r = await verifyPackage(KB());
    expect(r.ok).toBe(true);
    expect(r.mismatches).toEqual([]);
    expect(r.packages).toEqual([{
      member: '.', catalogs: 6, catalogEntries: 21,
      // all six catalogs carry Microsoft's signature, intact over their content
      signatures: { intact: 6, broken: 0, unsigned: 0 },
      signed: { checked: 10, found: 10 },
      cix: { indexes: 1, files: 22, rawChecked: 16, deltaSourcesChecked: 6, notChecked: 6 },
      manifestFiles: { checked: 0, notChecked: 6 },
    }]);
  });

  it('a catalog changed after signing is a catalog-signature mismatch naming its signer', async () => {
    const members = await corpusMembers();
    const cat = members.find((m) => m.name === 'update.cat')!;
    const bytes = Buffer.from(cat.data);
    // change one listed digest inside the signed content; the entry stays well formed
    const parsed = parseCatalog(bytes);
    const tag = Buffer.from(`${parsed.entries[0]!.tag.toUpperCase()}\0`, 'utf16le');
    const at = bytes.indexOf(tag);
    expect(at).toBeGreaterThan(0);
    bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
    cat.data = bytes;
    await writeFiles(dir, { 'resigned.cab': buildCabinet({ folders: [{ compression: 'mszip', files: members }] }) });
    const r = await verifyPackage(path.join(dir, 'resigned.cab'));
    expect(r.ok).toBe(false);
    expect(r.packages[0]!.signatures).toEqual({ intact: 5, broken: 1, unsigned: 0 });
    const sig = r.mismatches.find((m) => m.check === 'catalog-signature')!;
    expect(sig.file).toBe('update.cat');
    expect(sig.detail).toBe("signature of Microsoft Windows does not verify: Error during verification: Message digest doesn't match");
  });

  it('reports a tampered update.mum by file and check, and the CLI exits 1', async () => {
    const members = await corpusMembers();
    const mum = members.find((m) => m.name === 'update.mum')!;
    const bytes = Buffer.from(mum.data);
    bytes[bytes.indexOf('KB2883457')] = 'k'.charCodeAt(0);
    mum.data = bytes;
    const file = path.join(dir, 'tampered.cab');
    await writeFiles(dir, { 'tampered.cab': buildCabinet({ folders: [{ compression: 'mszip', files: members }] }) });
    const r = await verifyPackage(file);
    expect(r.ok).toBe(false);
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([
      ['update.mum', 'catalog-member'], ['update.mum', 'cix-file-hash'], ['update.mum', 'cix-source-hash'],
    ]);
    const src = r.mismatches.find((m) => m.check === 'cix-source-hash')!;
    expect(src.expected).toBe('dcb3981119225f993918dc820469d69d97ec6bb6');
    expect(src.actual).not.toBe(src.expected);
    expect(r.packages[0]!.signed).toEqual({ checked: 10, found: 9 });
    const cli = await runCli('verify', file);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('tampered.cab: 3 mismatch(es)');
    expect(cli.stdout).toContain('MISMATCH catalog-member: update.mum');
    const ok = await runCli('verify', KB(), '--json');
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).ok).toBe(true);
  });

  it('reports a truncated RAW member (length and hash) and a missing delta source', async () => {
    const members = (await corpusMembers()).filter((m) => m.name !== '3');
    const cat = members.find((m) => m.name === 'update.cat')!;
    cat.data = cat.data.subarray(0, 100);
    await writeFiles(dir, { 'broken.cab': buildCabinet({ folders: [{ compression: 'none', files: members }] }) });
    const r = await verifyPackage(path.join(dir, 'broken.cab'));
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([
      ['amd64_microsoft-windows-winre-tools_31bf3856ad364e35_6.1.7601.22435_none_289885cc9fdecac6\\recenv.exe', 'cix-source-missing'],
      ['update.cat', 'catalog-unreadable'], ['update.cat', 'cix-file-hash'], ['update.cat', 'cix-length'], ['update.cat', 'cix-source-hash'],
      // Only update.cat lists update.mum; the other five catalogs still cover the other nine files.
      ['update.mum', 'catalog-member'],
    ]);
    expect(r.packages[0]!.catalogs).toBe(5);
    expect(r.packages[0]!.signed).toEqual({ checked: 10, found: 9 });
  });
});

describe('verify: synthetic and bad input', () => {
  it('checks each package cab inside an MSU: the synthetic catalogs list every .mum and .manifest, unsigned', async () => {
    await writeFiles(dir, { 'syn.msu': msu({ kb: 5099999, ubr: 4170 }) });
    const r = await verifyPackage(path.join(dir, 'syn.msu'));
    expect(r.ok).toBe(true);
    expect(r.packages.map((p) => [p.member, p.catalogs, p.signed.checked, p.signed.found, p.signatures.unsigned])).toEqual([
      ['SSU-19041.4160-x64.cab', 1, 1, 1, 1], ['Windows10.0-KB5099999-x64.cab', 2, 5, 5, 2],
    ]);
    expect(r.notes).toContain('Windows10.0-KB5099999-x64.cab!update.cat: the catalog carries no signature');
  });

  it('reports a catalog that is not PKCS#7, and the members it should have listed', async () => {
    const mumText = packageMum({ name: 'Package_for_RollupFix', version: '10.0.19041.4170', kb: 'KB5099999' });
    await writeFiles(dir, { 'badcat.cab': bareCab(mumText, { 'update.cat': 'these bytes are not a catalog' }) });
    const r = await verifyPackage(path.join(dir, 'badcat.cab'));
    expect(r.ok).toBe(false);
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([['update.cat', 'catalog-unreadable'], ['update.mum', 'catalog-member']]);
    expect(r.mismatches[0]!.detail).toMatch(/^catalog is not DER\/BER/);
  });

  it('gives one typed error for a file that is not a package, and the CLI exits 3', async () => {
    await writeFiles(dir, { 'junk.cab': 'hello, not a cabinet at all' });
    const err = await verifyPackage(path.join(dir, 'junk.cab'), { displayName: 'junk.cab' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).describe()).toBe('junk.cab: not an MSU or CAB package (no MSCF or MSWIM signature)');
    const cli = await runCli('verify', path.join(dir, 'junk.cab'));
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain('not an MSU or CAB package');
    expect(cli.stderr).not.toContain('    at ');
  });

  it('checks a bare cab without catalogs: every .mum is a catalog-member mismatch', async () => {
    await writeFiles(dir, { 'nocat.cab': bareCab('<assembly/>') });
    const r = await verifyPackage(path.join(dir, 'nocat.cab'));
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([['update.mum', 'catalog-member']]);
    expect(r.mismatches[0]!.detail).toContain("in the package's 0 catalog(s)");
  });
});

it('keeps the corpus file untouched', async () => {
  if (!hasCorpus) return;
  expect((await readFile(KB())).length).toBe(474693);
});
