import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtemp, readFile, readdir, rm, writeFile, stat } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Cabinet } from '../../src/cab/cabinet.js';
import { buildCabinet, buildCabinetSet, type CabWriteFile } from '../../src/cab/writer.js';
import { csumCompute } from '../../src/cab/checksum.js';
import { BufferSource } from '../../src/util/source.js';
import { EXIT, exitCodeFor, MsuError } from '../../src/errors.js';
import { CabError } from '../../src/cab/header.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { seededBytes } from '../helpers/rng.js';

let tmp: string;
beforeAll(async () => { tmp = await mkdtemp(path.join(os.tmpdir(), 'msu-cab-')); });
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Text that compresses well and whose later blocks repeat earlier ones (exercises MSZIP history). */
function manifestLike(n: number, seed: number): Uint8Array {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) parts.push(`<file name="f${seed}_${i}.dll" destinationPath="$(runtime.system32)\\" sourceName="f${i}.dll"/>\n`);
  return Buffer.from(parts.join(''));
}

const files = (): CabWriteFile[] => [
  { name: 'update.mum', data: Buffer.from('<assembly/>'), modified: '2013-08-27T23:54:56' },
  { name: 'amd64_x\\f\\big.dll', data: manifestLike(3000, 1) },
  { name: 'rand.bin', data: seededBytes(70_000, 1001) },
  { name: 'empty.txt', data: new Uint8Array(0) },
  { name: 'tail.txt', data: manifestLike(10, 2) },
];

async function cabextractAll(file: string): Promise<Map<string, string>> {
  const dir = await mkdtemp(path.join(tmp, 'oracle-'));
  execFileSync('cabextract', ['-q', '-d', dir, file], { stdio: 'pipe' });
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else out.set(path.relative(dir, p), sha(await readFile(p)));
    }
  };
  await walk(dir);
  return out;
}

async function ourExtract(cab: Cabinet): Promise<Map<string, string>> {
  const dir = await mkdtemp(path.join(tmp, 'ours-'));
  await cab.extract(dir, { verifyChecksums: true });
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else out.set(path.relative(dir, p), sha(await readFile(p)));
    }
  };
  await walk(dir);
  return out;
}

describe('CAB checksum', () => {
  it('folds trailing bytes with the first one highest', () => {
    expect(csumCompute(Uint8Array.of(1, 2, 3, 4), 0)).toBe(0x04030201);
    expect(csumCompute(Uint8Array.of(1, 2, 3), 0)).toBe(0x010203);
    expect(csumCompute(Uint8Array.of(1, 2, 3, 4, 5), 0x10)).toBe((0x04030201 ^ 0x05 ^ 0x10) >>> 0);
  });
});

describe.each(['none', 'mszip'] as const)('cabinet with %s folder', (compression) => {
  it('lists, reads members at random and extracts byte-identically', async () => {
    const input = files();
    const bytes = buildCabinet({ folders: [{ compression, files: input }] });
    const cab = await Cabinet.open(new BufferSource(bytes, 'test.cab'));
    expect(cab.entries.map((e) => e.name)).toEqual(input.map((f) => f.name));
    expect(cab.entries.map((e) => e.cbFile)).toEqual(input.map((f) => f.data.length));
    expect(cab.folders[0]!.compression.label).toBe(compression === 'none' ? 'None' : 'MSZIP');
    expect(cab.entries[0]!.modified).toBe('2013-08-27T23:54:56');
    // Random access, out of order.
    for (const i of [4, 2, 0, 1, 3]) expect(sha(await cab.readFile(cab.entries[i]!))).toBe(sha(input[i]!.data));
    const ours = await ourExtract(cab);
    expect(ours.get('amd64_x/f/big.dll')).toBe(sha(input[1]!.data));
    expect(ours.get('empty.txt')).toBe(sha(new Uint8Array(0)));
    if (hasTool('cabextract')) {
      const file = path.join(tmp, `t-${compression}.cab`);
      await writeFile(file, bytes);
      expect(await cabextractAll(file)).toEqual(ours);
    } else skipNote('cabextract comparison', 'cabextract');
  });
});

describe('multi-folder cabinet with reserve areas', () => {
  it('maps members to folders and honours reserve sizes', async () => {
    const a = files(), b = files().map((f) => ({ ...f, name: 'b\\' + f.name }));
    const bytes = buildCabinet({
      folders: [{ compression: 'mszip', files: a }, { compression: 'none', files: b }],
      reserve: { header: 20, folder: 4, data: 3 },
    });
    const cab = await Cabinet.open(new BufferSource(bytes, 'r.cab'));
    expect(cab.header.cbCFHeader).toBe(20);
    expect(cab.header.cbCFFolder).toBe(4);
    expect(cab.header.cbCFData).toBe(3);
    expect(cab.folders.map((f) => f.compression.method)).toEqual(['mszip', 'none']);
    const e = cab.find('b/rand.bin')!;
    expect(e.folder).toBe(1);
    expect(sha(await cab.readFile(e))).toBe(sha(b[2]!.data));
    const ours = await ourExtract(cab);
    expect(ours.size).toBe(10);
    if (hasTool('cabextract')) {
      const file = path.join(tmp, 'reserve.cab');
      await writeFile(file, bytes);
      expect(await cabextractAll(file)).toEqual(ours);
    } else skipNote('cabextract comparison', 'cabextract');
  });
});

describe('cabinet sets', () => {
  it('follows NEXT_CABINET and joins folders that span cabinets', async () => {
    const input = files();
    const names = Array.from({ length: 40 }, (_, i) => `set${i + 1}.cab`);
    const parts = buildCabinetSet({ folders: [{ compression: 'mszip', files: input }, { compression: 'none', files: [{ name: 'z.bin', data: seededBytes(40000, 1002) }] }], cabinetDataSize: 40_000, names });
    expect(parts.length).toBeGreaterThanOrEqual(3);
    const dir = await mkdtemp(path.join(tmp, 'set-'));
    for (let i = 0; i < parts.length; i++) await writeFile(path.join(dir, names[i]!), parts[i]!);
    const cab = await Cabinet.openFile(path.join(dir, 'set1.cab'));
    expect(cab.parts.length).toBe(parts.length);
    expect(cab.entries.map((e) => e.name)).toEqual([...input.map((f) => f.name), 'z.bin']);
    expect(sha(await cab.readFile(cab.find('tail.txt')!))).toBe(sha(input[4]!.data));
    const ours = await ourExtract(cab);
    // cabextract as the oracle for sets: test/cab/sets.test.ts
    for (const f of input) expect(ours.get(f.name.replace(/\\/g, '/'))).toBe(sha(f.data));
    expect(cab.parts.some((p) => p.header.szCabinetPrev)).toBe(true);
    await cab.close();
  });

  it('reports a member cut off by a missing next cabinet', async () => {
    const parts = buildCabinetSet({ folders: [{ compression: 'mszip', files: files() }], cabinetDataSize: 20_000, names: Array.from({ length: 40 }, (_, i) => `a${i + 1}.cab`) });
    const dir = await mkdtemp(path.join(tmp, 'set-missing-'));
    await writeFile(path.join(dir, 'a1.cab'), parts[0]!);
    await expect(Cabinet.openFile(path.join(dir, 'a1.cab'))).rejects.toMatchObject({ code: 'E_CAB_SET_INCOMPLETE', file: expect.stringMatching(/a1\.cab$/), message: expect.stringContaining('"a2.cab"') });
  });
});

describe('extraction writes every member shape', () => {
  it('empty, inside one block, across blocks, and streamed (over 1 MiB); timestamps from CFFILE as UTC', async () => {
    const big = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.concat([manifestLike(400, i), seededBytes(20_000, 1003 + 17 * i)])));
    expect(big.length).toBeGreaterThan(1 << 20);
    const input: CabWriteFile[] = [
      { name: 'update.mum', data: Buffer.from('<assembly/>'), modified: '2013-08-27T23:54:56' },
      { name: 'empty.txt', data: new Uint8Array(0), modified: '2020-01-02T03:04:06' },
      { name: 'span.bin', data: seededBytes(70_000, 1004), modified: '2021-06-30T12:00:00' },
      { name: 'd\\big.bin', data: big, modified: '2022-12-31T23:59:58' },
      { name: 'after.txt', data: manifestLike(5, 9) },
    ];
    const cab = await Cabinet.open(new BufferSource(buildCabinet({ folders: [{ compression: 'mszip', files: input }] }), 'shapes.cab'));
    const dir = await mkdtemp(path.join(tmp, 'shapes-'));
    const r = await cab.extract(dir);
    expect(r.bytes).toBe(input.reduce((n, f) => n + f.data.length, 0));
    for (const f of input) {
      const p = path.join(dir, ...f.name.split('\\'));
      expect(sha(await readFile(p)), f.name).toBe(sha(f.data));
      if (f.modified) expect((await stat(p)).mtime.toISOString(), f.name).toBe(`${f.modified}.000Z`);
    }
    expect((await readdir(dir)).sort()).toEqual(['after.txt', 'd', 'empty.txt', 'span.bin', 'update.mum']);
  });
});

describe.each([['on the calling thread', 10], ['on the writer thread', 400]] as const)('extraction with many members, writes %s', (_how, n) => {
  const many = (): CabWriteFile[] => Array.from({ length: n }, (_, i) => ({
    name: `d${i % 7}\\m${i}.manifest`,
    data: i % 50 === 0 ? Buffer.concat([manifestLike(2000, i), seededBytes(30_000, 1005 + 17 * i)]) : manifestLike(3 + (i % 40), i),
    modified: '2024-02-29T12:34:56',
  }));

  it('writes every member byte-identically with its time', async () => {
    const input = many();
    const cab = await Cabinet.open(new BufferSource(buildCabinet({ folders: [{ compression: 'mszip', files: input.slice(0, n >> 1) }, { compression: 'none', files: input.slice(n >> 1) }] }), 'many.cab'));
    const dir = await mkdtemp(path.join(tmp, 'many-'));
    const r = await cab.extract(dir, { verifyChecksums: true });
    expect(r.files).toHaveLength(n);
    for (const f of input) {
      const p = path.join(dir, ...f.name.split('\\'));
      expect(sha(await readFile(p)), f.name).toBe(sha(f.data));
    }
    expect((await stat(path.join(dir, 'd0', 'm0.manifest'))).mtime.toISOString()).toBe('2024-02-29T12:34:56.000Z');
    expect((await readdir(dir)).sort()).toEqual(['d0', 'd1', 'd2', 'd3', 'd4', 'd5', 'd6']);
  });

  it('a member that needs another member to be a directory is bad input, refused before anything is written, in either order', async () => {
    for (const clash of [[{ name: 'x', data: Buffer.from('file x') }, { name: 'x\\y', data: Buffer.from('file y') }], [{ name: 'x\\y', data: Buffer.from('file y') }, { name: 'x', data: Buffer.from('file x') }]]) {
      const input = [...many(), ...clash];
      const cab = await Cabinet.open(new BufferSource(buildCabinet({ folders: [{ compression: 'mszip', files: input }] }), 'clash.cab'));
      const dir = await mkdtemp(path.join(tmp, 'clash-'));
      const err = await cab.extract(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MsuError);
      expect((err as MsuError).code).toBe('E_NAME_CONFLICT');
      expect((err as MsuError).describe()).toBe('clash.cab: member x\\y needs x to be a directory, but member x is a file');
      expect(await readdir(dir)).toEqual([]);
    }
  });

  it('members of one path: the last one is written and the path is reported in duplicates', async () => {
    const input = [...many(), { name: 'd0\\m0.manifest', data: Buffer.from('again') }, { name: 'd0/m0.manifest', data: Buffer.from('last') }];
    const cab = await Cabinet.open(new BufferSource(buildCabinet({ folders: [{ compression: 'mszip', files: input }] }), 'dup.cab'));
    const dir = await mkdtemp(path.join(tmp, 'dup-'));
    const seen: [number, number][] = [];
    const r = await cab.extract(dir, { onProgress: (done, total) => seen.push([done, total]) });
    expect(r.duplicates).toEqual([{ name: 'd0/m0.manifest', count: 3 }]);
    expect(r.files).toHaveLength(n);
    expect(r.files.find((f) => f.name === 'd0/m0.manifest')).toEqual({ name: 'd0/m0.manifest', size: 4 });
    expect(await readFile(path.join(dir, 'd0', 'm0.manifest'), 'utf8')).toBe('last');
    expect(seen.at(-1)).toEqual([n, n]); // the total counts what is written
  });
});

describe('member names', () => {
  /** A cabinet whose names are raw bytes: `a<0x93>b.txt` without the UTF-8 flag, `u<0xff>v.txt` flagged UTF-8 but invalid. */
  const oddNames = (): Buffer => {
    const cab = Buffer.from(buildCabinet({ folders: [{ compression: 'none', files: [
      { name: 'aXb.txt', data: Buffer.from('x') }, { name: 'uYv.txt', data: Buffer.from('u') },
      { name: 'plain.txt', data: Buffer.from('y') }, { name: 'ok\u00e9.txt', data: Buffer.from('z') },
    ] }] }));
    const a = cab.indexOf('aXb.txt');
    cab[a + 1] = 0x93; // a curly quote in windows-1252, a C1 control in ISO-8859-1, invalid UTF-8
    const u = cab.indexOf('uYv.txt');
    cab[u + 1] = 0xff;
    cab.writeUInt16LE(0x80 | 0x20, u - 2); // CFFILE.attribs: _A_NAME_IS_UTF | _A_ARCH
    return cab;
  };

  it('names without the UTF-8 flag are listed escaped and written as their raw bytes; an invalid UTF-8 name does not stop the rest', async () => {
    const bytes = oddNames();
    const c = await Cabinet.open(new BufferSource(bytes, 'names.cab'));
    expect(c.entries.map((e) => e.name)).toEqual(['a\\x93b.txt', 'u\ufffdv.txt', 'plain.txt', 'ok\u00e9.txt']);
    expect(Buffer.from(c.entries[0]!.nameBytes!).toString('latin1')).toBe('a\x93b.txt');
    const d = await mkdtemp(path.join(tmp, 'names-'));
    const r = await c.extract(path.join(d, 'ours'));
    expect(r.files.length).toBe(4);
    const ours = (await readdir(path.join(d, 'ours'), { encoding: 'buffer' })).map((b) => b.toString('hex')).sort();
    expect(ours).toContain(Buffer.from('a\x93b.txt', 'latin1').toString('hex'));
    expect(ours).toContain(Buffer.from('u\ufffdv.txt').toString('hex'));
    if (hasTool('cabextract')) {
      // cabextract writes an unflagged name's bytes as they are, and U+FFFD for bad UTF-8: byte for byte our names
      await writeFile(path.join(d, 'names.cab'), bytes);
      execFileSync('cabextract', ['-q', '-d', path.join(d, 'oracle'), path.join(d, 'names.cab')]);
      const theirs = (await readdir(path.join(d, 'oracle'), { encoding: 'buffer' })).map((b) => b.toString('hex')).sort();
      expect(ours).toEqual(theirs);
    } else skipNote('cabextract name comparison', 'cabextract');
  });

  it('a name without its terminating NUL is reported with the entry index', async () => {
    const good = Buffer.from(buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'one.txt', data: Buffer.from('1') }, { name: 'two.txt', data: Buffer.from('2') }] }] }));
    // no NUL after the second name, up to the end of the file
    const bad = Buffer.from(good);
    bad.fill(0x41, bad.indexOf('two.txt'));
    const err = await Cabinet.open(new BufferSource(bad, 'nonul.cab')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).message).toMatch(/CFFILE\[1\]\.szName/);
    expect((err as MsuError).file).toBe('nonul.cab');
  });

  it('a name that runs on past the 255 bytes the format allows is called over-long, not truncated', async () => {
    const long = 'n'.repeat(200);
    const good = Buffer.from(buildCabinet({ folders: [{ compression: 'none', files: [{ name: long, data: Buffer.alloc(600, 0x42) }] }] }));
    // the NUL after the name overwritten, and CFFOLDER.cCFData 0 so that the CFFILE table may reach
    // the data: the name then runs on through the CFDATA header (its csum made NUL-free) into the data
    const bad = Buffer.from(good);
    bad[bad.indexOf(long) + long.length] = 0x6e;
    bad.fill(0x11, bad.readUInt32LE(36), bad.readUInt32LE(36) + 4);
    bad.writeUInt16LE(0, 36 + 4);
    const err = await Cabinet.open(new BufferSource(bad, 'long.cab')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CabError);
    expect((err as MsuError).describe()).toMatch(/^long\.cab: CFFILE 0: the name is longer than 255 bytes \(no NUL in its first 256\) \(offset \d+\)$/);
  });

  it('a folder whose LZX window is outside 2^15..2^21 is damage (exit 3) naming the cabinet, not an unsupported feature', async () => {
    const cab = Buffer.from(buildCabinet({ folders: [{ compression: 'mszip', files: [{ name: 'a.txt', data: Buffer.from('hello') }] }] }));
    cab.writeUInt16LE(0x0703, 36 + 6); // CFFOLDER 0 typeCompress: LZX, 2^7
    const c = await Cabinet.open(new BufferSource(cab, 'w7.cab'));
    const err = await c.readFile(c.entries[0]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CabError);
    expect(exitCodeFor(err)).toBe(EXIT.input);
    expect((err as MsuError).describe()).toBe("w7.cab: CFFOLDER.typeCompress 0x703: an LZX window of 2^7 bytes is outside the format's 2^15..2^21");
  });
});

describe('nested cabinet inside a stored outer cabinet (MSU layout)', () => {
  it('opens the inner cabinet in place and reads only a small part of the outer file', async () => {
    const big = seededBytes(3 * 1024 * 1024, 1006);
    const inner = buildCabinet({ folders: [
      { compression: 'mszip', files: [{ name: 'update.mum', data: Buffer.from('<assembly>inner</assembly>') }] },
      { compression: 'none', files: [{ name: 'payload.bin', data: big }] },
    ] });
    const outer = buildCabinet({ folders: [{ compression: 'none', files: [
      { name: 'WSUSSCAN.cab', data: seededBytes(100_000, 1007) },
      { name: 'Windows10.0-KB5000001-x64.cab', data: inner },
    ] }] });
    const src = new BufferSource(outer, 'kb.msu');
    const cab = await Cabinet.open(src);
    const member = cab.find('Windows10.0-KB5000001-x64.cab')!;
    const innerSrc = cab.storedSource(member)!;
    expect(innerSrc.size).toBe(inner.length);
    const innerCab = await Cabinet.open(innerSrc);
    expect(innerCab.entries.map((e) => e.name)).toEqual(['update.mum', 'payload.bin']);
    expect(Buffer.from(await innerCab.readFile(innerCab.entries[0]!)).toString()).toBe('<assembly>inner</assembly>');
    expect(src.bytesRead).toBeLessThan(outer.length / 10);
    // A byte range that crosses CFDATA blocks of the outer folder reads correctly.
    const mid = await innerSrc.read(40_000, 70_000);
    expect(sha(mid)).toBe(sha(inner.subarray(40_000, 110_000)));
  });

  // reads across blocks take one read of the outer bytes with the CFDATA headers squeezed out
  for (const reserve of [0, 20]) {
    it(`reads of any span across stored blocks give the member's bytes (CFDATA reserve ${reserve})`, async () => {
      const data = seededBytes(400_000, 1010 + reserve);
      const outer = buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'pad.bin', data: seededBytes(1000, 1) }, { name: 'in.cab', data }] }], reserve: { data: reserve } });
      const cab = await Cabinet.open(new BufferSource(outer, 'kb.msu'));
      for (const [off, len] of [[0, 400_000], [31_000, 2_000], [100, 32_768 * 3], [32_767, 32_770], [50_000, 350_000], [399_999, 1], [0, 0], [12_345, 300_001]] as const) {
        const src = cab.storedSource(cab.find('in.cab')!)!; // fresh: the block map is built by these reads
        expect(sha(await src.read(off, len)), `${off}+${len}`).toBe(sha(data.subarray(off, off + len)));
        expect(sha(await src.read(off, len)), `${off}+${len} again`).toBe(sha(data.subarray(off, off + len)));
      }
    });
  }

  it('a damaged CFDATA header inside a span is reported, not read past', async () => {
    const data = seededBytes(200_000, 1012);
    const outer = Buffer.from(buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'in.cab', data }] }] }));
    const cab = await Cabinet.open(new BufferSource(outer, 'kb.msu'));
    const folderStart = cab.folders[0]!.segments[0]!.folder.coffCabStart;
    const hdr2 = folderStart + 2 * (8 + 32_768);
    outer.writeUInt16LE(1000, hdr2 + 4); // cbData of block 2 no longer equals its cbUncomp
    const src = cab.storedSource(cab.find('in.cab')!)!;
    expect(sha(await src.read(10, 60_000))).toBe(sha(data.subarray(10, 60_010))); // blocks 0 and 1 only
    await expect(src.read(10, 100_000)).rejects.toThrow(/stored CFDATA 2 has cbData 1000 != cbUncomp 32768/);
  });
});

describe('bad input', () => {
  const good = () => buildCabinet({ folders: [{ compression: 'mszip', files: files() }] });
  const expectCabError = async (bytes: Uint8Array, re: RegExp) => {
    const run = async () => {
      const cab = await Cabinet.open(new BufferSource(bytes, 'bad.cab'));
      await cab.extract(await mkdtemp(path.join(tmp, 'bad-')), { verifyChecksums: true });
    };
    const err = await run().then(() => null, (e) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).describe()).toMatch(/^bad\.cab: /);
    expect((err as MsuError).message).toMatch(re);
  };

  it('rejects a file that is not a cabinet', () => expectCabError(Buffer.from('PK\x03\x04 this is a zip file, not a cabinet at all......'), /no MSCF signature/));
  it('rejects a truncated cabinet', () => expectCabError(good().subarray(0, 5000), /truncated/));
  it('rejects a cabinet cut inside the header', () => expectCabError(good().subarray(0, 20), /too small|truncated/));
  it('rejects a checksum mismatch', async () => {
    const b = Uint8Array.from(good());
    b[b.length - 10] ^= 0xff;
    await expectCabError(b, /checksum mismatch|corrupt MSZIP/);
  });
  it('rejects absurd file counts', async () => {
    const b = Uint8Array.from(good());
    b[0x1c] = 0xff; b[0x1d] = 0xff; // cFiles = 65535
    await expectCabError(b, /CFFILE entries cannot fit|truncated/);
  });
  it('rejects a member that runs past its folder', async () => {
    const b = Uint8Array.from(good());
    const dv = new DataView(b.buffer);
    const coffFiles = dv.getUint32(16, true);
    dv.setUint32(coffFiles, 0x7fff0000, true); // first member's cbFile
    await expectCabError(b, /holds only|absurd/);
  });
  it('rejects Quantum with a clear message', async () => {
    const b = Uint8Array.from(good());
    b[36 + 6] = 2; // CFFOLDER[0].typeCompress = Quantum
    await expectCabError(b, /Quantum compression is not supported/);
  });
  it('refuses member names that climb out and writes nothing', async () => {
    for (const name of ['..\\..\\evil.txt', '/etc/passwd', 'C:\\Windows\\x.dll', 'a\\..\\..\\b']) {
      const bytes = buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'ok.txt', data: Buffer.from('x') }, { name, data: Buffer.from('evil') }] }] });
      const dir = await mkdtemp(path.join(tmp, 'hostile-'));
      const cab = await Cabinet.open(new BufferSource(bytes, 'hostile.cab'));
      await expect(cab.extract(dir)).rejects.toMatchObject({ code: 'E_UNSAFE_NAME' });
      expect(await readdir(dir)).toEqual([]); // not even ok.txt: no partial output
    }
    await expect(stat(path.join(tmp, '..', 'evil.txt'))).rejects.toThrow();
  });
});
