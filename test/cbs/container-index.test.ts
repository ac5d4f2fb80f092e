import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, MsuError, UnsupportedError } from '../../src/errors.js';
import { filetimeToIso, parseContainerIndex, type ContainerIndex } from '../../src/cbs/container-index.js';
import { parseDeltaHeader } from '../../src/delta/header.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const CAB = 'Windows6.1-KB2883457-amd64.cab';

function cix(files: string, extra = ''): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Container name="test.psf" type="PSF" length="1000" version="1" xmlns="urn:ContainerIndex">
  <Description>hand made</Description>
  <DeltaBasisSearch><Location id="1" path="{windir}\\winsxs" flags="2000001"/></DeltaBasisSearch>${extra}
  <Files>${files}</Files>
</Container>`;
}

function expectCixError(xml: string, where: RegExp | undefined, message: RegExp): MsuError {
  try {
    parseContainerIndex(xml, 'bad.cix.xml');
  } catch (err) {
    expect(err).toBeInstanceOf(MsuError);
    const e = err as MsuError;
    expect(e.file).toBe('bad.cix.xml');
    expect(e.message).toMatch(message);
    if (where) expect(e.where).toMatch(where);
    return e;
  }
  throw new Error('expected an error');
}

describe('parseContainerIndex (hand-made)', () => {
  it('reads Container, Locations, Sources (range and member name) and every Basis form', () => {
    const c = parseContainerIndex(
      cix(`
    <File id="7" name="amd64_comp_31bf3856ad364e35_10.0.1.2_none_0123456789abcdef\\f\\a.dll" length="5" time="116444736000000000" attr="128">
      <Hash alg="SHA256" value="AABB"/>
      <Delta><Source type="PA30" offset="10" length="20"><Hash alg="SHA256" value="ccdd"/></Source>
        <Basis length="4096"><Hash alg="SHA256" value="EEFF"/></Basis></Delta>
    </File>
    <File id="8" name="b.txt" length="3"><Delta><Source type="RAW" name="member.bin"/><Basis file="7"/></Delta></File>
    <File id="9" name="c.txt" length="3"><Delta><Source type="PA19" offset="0" length="3"/><Basis loc="1"/></Delta></File>
    <File id="10" name="d.txt" length="0"/>`),
      'x.cix.xml',
    );
    expect(c.name).toBe('test.psf');
    expect(c.type).toBe('PSF');
    expect(c.length).toBe(1000);
    expect(c.version).toBe('1');
    expect(c.description).toBe('hand made');
    expect(c.locations).toEqual([{ id: 1, path: '{windir}\\winsxs', flags: 0x2000001 }]);
    expect(c.files.map((f) => f.id)).toEqual([7, 8, 9, 10]);
    const [a, b, d, e] = c.files;
    expect(a).toEqual({
      id: 7,
      name: 'amd64_comp_31bf3856ad364e35_10.0.1.2_none_0123456789abcdef\\f\\a.dll',
      length: 5,
      time: '116444736000000000',
      attr: 128,
      hash: { alg: 'SHA256', value: 'aabb' },
      source: { type: 'PA30', offset: 10, length: 20, hash: { alg: 'SHA256', value: 'ccdd' } },
      basis: { length: 4096, hash: { alg: 'SHA256', value: 'eeff' } },
    });
    expect(b!.source).toEqual({ type: 'RAW', name: 'member.bin' });
    expect(b!.basis).toEqual({ file: 7 });
    expect(d!.basis).toEqual({ loc: 1 });
    expect(e!.source).toBeUndefined();
  });

  it('converts FILETIME to ISO', () => {
    expect(filetimeToIso('116444736000000000')).toBe('1970-01-01T00:00:00.000Z');
    expect(filetimeToIso(0n)).toBe('1601-01-01T00:00:00.000Z');
    // 2013-08-28 01:16:16.0865542 UTC, a File@time of the KB2883457 cix
    expect(filetimeToIso('130221261760865542')).toBe('2013-08-28T01:16:16.086Z');
    expect(filetimeToIso('18446744073709551615')).toBe('+060056-05-28T05:36:10.955Z');
    expect(filetimeToIso('x')).toBe(null);
  });

  it('refuses absurd values, naming the file and the File id', () => {
    const f = (attrs: string, body = ''): string => cix(`<File ${attrs}>${body}</File>`);
    expectCixError(f('id="1" name="a" length="-5"'), /^File id=1$/, /^File@length is not a non-negative integer: "-5"/);
    expectCixError(f('id="x1" name="a" length="5"'), /^File id=x1$/, /^File@id is not a non-negative integer/);
    expectCixError(f('id="2" name="a" length="9007199254740993"'), /^File id=2$/, /^File@length is absurdly large: 9007199254740993/);
    expectCixError(f('id="3" name="a" length="1" time="12abc"'), /^File id=3$/, /^File@time is not a FILETIME/);
    expectCixError(f('id="3" name="a" length="1" time="18446744073709551616"'), /^File id=3$/, /^File@time is not a FILETIME/);
    expectCixError(f('id="4" name="a"'), /^File id=4$/, /^File has no length attribute/);
    expectCixError(f('id="5" length="1"'), /^File id=5$/, /^File has no name/);
    expectCixError(
      cix('<File id="6" name="a" length="1"/><File id="6" name="b" length="1"/>'),
      /^File id=6$/,
      /^duplicate File id 6$/,
    );
    expectCixError(f('id="7" name="a" length="1"', '<Hash alg="SHA1" value="xyz"/>'), /^File id=7\/Hash$/, /not a hex digest/);
    expectCixError(
      f('id="8" name="a" length="1"', '<Delta><Source type="RAW" offset="5"/></Delta>'),
      /^File id=8\/Delta\/Source$/,
      /only one of offset and length/,
    );
    expectCixError(
      f('id="9" name="a" length="1"', '<Delta><Source type="RAW"/></Delta>'),
      /^File id=9\/Delta\/Source$/,
      /neither offset\+length nor name/,
    );
    expectCixError(
      f('id="10" name="a" length="1"', '<Delta><Source type="RAW" offset="9007199254740000" length="9007199254740000"/></Delta>'),
      /Source$/,
      /range end is absurdly large/,
    );
    expectCixError(
      f('id="11" name="a" length="1"', '<Delta><Source type="PA30" name="0"/><Basis/></Delta>'),
      /^File id=11\/Delta\/Basis$/,
      /Basis names no file/,
    );
    expectCixError(
      f('id="12" name="a" length="1"', '<Delta><Source type="PA30" name="0"/><Basis file="-1"/></Delta>'),
      /^File id=12\/Delta\/Basis$/,
      /Basis@file is not a non-negative integer/,
    );
    expectCixError(cix('', '<DeltaBasisSearch><Location id="1" path="x"/></DeltaBasisSearch>'), /^Location id=1$/, /duplicate Location id 1/);
    expectCixError(
      cix('').replace('flags="2000001"', 'flags="zz"'),
      /^Location id=1$/,
      /Location@flags is not hex/,
    );
    expectCixError('<Package/>', undefined, /root element is <Package>/);
    const multi = expectCixError(
      f('id="13" name="a" length="1"', '<Delta><Source type="RAW" name="a"/></Delta><Delta><Source type="RAW" name="b"/></Delta>'),
      /^File id=13$/,
      /2 Delta elements/,
    );
    expect(multi).toBeInstanceOf(UnsupportedError);
  });

  it('refuses entity expansion (billion laughs) before anything is expanded', () => {
    const bomb = `<?xml version="1.0"?>
<!DOCTYPE Container [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>
<Container name="&c;" type="PSF" xmlns="urn:ContainerIndex"><Files/></Container>`;
    const e = expectCixError(bomb, undefined, /document type declarations are not allowed/);
    expect(e).toBeInstanceOf(FormatError);
    // An undeclared entity is never looked up: the document is malformed.
    expect(() => parseContainerIndex(cix('<File id="1" name="&c;" length="1"/>'))).toThrow(/^malformed XML: '&' does not start a valid reference/);
  });

  it('reports malformed XML with the file name', () => {
    const e = expectCixError('<Container><Files></Container>', undefined, /^malformed XML/);
    expect(e.code).toBe('E_XML');
  });
});

describe.skipIf(!hasCorpus)('the KB2883457 _manifest_.cix.xml', () => {
  let dir = '';
  let c: ContainerIndex;
  const tool = hasTool('cabextract');
  beforeAll(() => {
    if (!tool) return skipNote('KB2883457 cix and delta members', 'cabextract');
    dir = mkdtempSync(path.join(tmpdir(), 'msu-cix-'));
    execFileSync('cabextract', ['-q', '-d', dir, corpusPath('cab', CAB)], { stdio: 'ignore' });
    c = parseContainerIndex(readFileSync(path.join(dir, '_manifest_.cix.xml')), '_manifest_.cix.xml');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.skipIf(!tool)('has 22 Files: 16 RAW members and the six PA30 deltas 0..5', () => {
    expect(c.type).toBe('CAB');
    expect(c.name).toBe('kb2883457.cab');
    expect(c.length).toBe(512047);
    expect(c.files).toHaveLength(22);
    const pa30 = c.files.filter((f) => f.source?.type === 'PA30');
    expect(pa30.map((f) => [f.id, f.source!.name, f.basis?.file])).toEqual([
      [30, '0', undefined],
      [29, '1', 30],
      [21, '2', 29],
      [22, '3', 21],
      [5, '4', 29],
      [6, '5', 5],
    ]);
    expect(c.files.filter((f) => f.source?.type === 'RAW')).toHaveLength(16);
    expect(c.files.every((f) => f.hash?.alg === 'SHA1' && f.attr === 32)).toBe(true);
  });

  it.skipIf(!tool)('RAW sources and delta streams hash to the SHA1 the cix gives', () => {
    for (const f of c.files) {
      const member = readFileSync(path.join(dir, f.source!.name!));
      const sha1 = createHash('sha1').update(member).digest('hex');
      expect(sha1, `File ${f.id}`).toBe(f.source!.hash!.value);
      if (f.source!.type === 'RAW') {
        expect(sha1).toBe(f.hash!.value);
        expect(member.length).toBe(f.length);
      }
    }
  });

  it.skipIf(!tool)('each delta header describes its File: TargetSize = length, FILETIME = time', () => {
    for (const f of c.files.filter((x) => x.source?.type === 'PA30')) {
      const h = parseDeltaHeader(readFileSync(path.join(dir, f.source!.name!)), f.source!.name);
      expect(h.format).toBe('PA30');
      expect(h.targetSize, `File ${f.id}`).toBe(f.length);
      expect(h.fileTime, `File ${f.id}`).toBe(f.time);
      expect(h.hashAlgName).toBe('MD5');
      expect(h.targetHash).toMatch(/^[0-9a-f]{32}$/);
      // The one delta without a Basis rebuilds startrep.exe from nothing: RAW file type, no PE transforms.
      expect(h.fileTypeName).toBe(f.basis ? 'AMD64' : 'RAW');
    }
  });
});
