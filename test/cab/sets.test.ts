/**
 * Cabinet sets: the writer splits a CFDATA block at each cabinet boundary (the convention of
 * the CAB specification, which cabextract and 7-Zip follow), and both accept every set it
 * writes; the reader joins split blocks, finds parts case-insensitively, opens the whole set
 * from any part, and refuses an incomplete set instead of listing part of it. libmspack's own
 * multi-part cabinets are read too.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { parseCfFolders, parseCfHeader } from '../../src/cab/header.js';
import { buildCabinetSet, type CabWriteFile } from '../../src/cab/writer.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { uniform } from '../helpers/rng.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-sets-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** Seeded bytes: half noise (stored as is by MSZIP), half text (compresses). */
function bytes(len: number, seed: number): Buffer {
  const r = uniform(seed);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = i % 200 < 100 ? Math.floor(r() * 256) : 97 + ((i * 7) % 26);
  return b;
}

const inputs = (): CabWriteFile[] => [
  { name: 'a.txt', data: Buffer.from('hello') },
  { name: 'dir\\big.bin', data: bytes(123_890, 1) },
  { name: 'empty.txt', data: new Uint8Array(0) },
  { name: 'mid.bin', data: bytes(70_000, 2) },
  { name: 'tail.txt', data: Buffer.from('the end\n'.repeat(30)) },
];

/** Write the set under `names` (as the headers name the parts) into a fresh directory. */
function writeSet(parts: Uint8Array[], names: string[], onDisk = names): string {
  const dir = path.join(root, `set${n++}`);
  mkdirSync(dir);
  parts.forEach((p, i) => writeFileSync(path.join(dir, onDisk[i]!), p));
  return dir;
}

function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) out[path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/')] = sha(readFileSync(path.join(e.parentPath, e.name)));
  }
  return out;
}

/** Blocks whose cbUncomp is 0: the first pieces of split blocks. */
function splitPieces(part: Uint8Array): number {
  const h = parseCfHeader(part, part.length);
  let count = 0;
  for (const f of parseCfFolders(part, h)) {
    let pos = f.coffCabStart;
    for (let i = 0; i < f.cCFData; i++) {
      const dv = new DataView(part.buffer, part.byteOffset + pos);
      if (dv.getUint16(6, true) === 0) count++;
      pos += 8 + h.cbCFData + dv.getUint16(4, true);
    }
  }
  return count;
}

describe('sets the writer makes', () => {
  const cases = [
    { compression: 'mszip', size: 40_000 },
    { compression: 'mszip', size: 9_000 }, // smaller than a block: one block split over several cabinets
    { compression: 'none', size: 50_000 },
    { compression: 'none', size: 20_000, reserve: { header: 20, folder: 4, data: 3 } },
  ] as const;
  for (const c of cases) {
    it(`${c.compression}, ${c.size} bytes of CFDATA a cabinet${'reserve' in c ? ', reserve areas' : ''}: split blocks, read back byte for byte, accepted by cabextract and 7-Zip`, async () => {
      const input = inputs();
      const names = Array.from({ length: 200 }, (_, i) => `part${i + 1}.cab`);
      const parts = buildCabinetSet({
        folders: [{ compression: c.compression, files: input }, { compression: 'none', files: [{ name: 'z.bin', data: bytes(40_000, 3) }] }],
        cabinetDataSize: c.size, names, reserve: 'reserve' in c ? c.reserve : undefined,
      });
      expect(parts.length).toBeGreaterThan(2);
      expect(parts.reduce((k, p) => k + splitPieces(p), 0)).toBeGreaterThanOrEqual(parts.length - 1);
      const dir = writeSet(parts, names.slice(0, parts.length));
      const cab = await Cabinet.openFile(path.join(dir, 'part1.cab'));
      expect(cab.entries.map((e) => e.name)).toEqual([...input.map((f) => f.name), 'z.bin']);
      const out = path.join(dir, 'ours');
      await cab.extract(out);
      await cab.close();
      const expected = Object.fromEntries([...input, { name: 'z.bin', data: bytes(40_000, 3) }].map((f) => [f.name.replace(/\\/g, '/'), sha(f.data)]));
      expect(tree(out)).toEqual(expected);
      if (hasTool('cabextract')) {
        const t = execFileSync('cabextract', ['-t', path.join(dir, 'part1.cab')], { encoding: 'utf8' });
        expect(t.match(/ OK /g)?.length).toBe(6);
        execFileSync('cabextract', ['-q', '-d', path.join(dir, 'oracle'), path.join(dir, 'part1.cab')]);
        expect(tree(path.join(dir, 'oracle'))).toEqual(expected);
      } else skipNote('cabextract -t of written sets', 'cabextract');
      if (hasTool('7zz')) {
        const t = execFileSync('7zz', ['t', path.join(dir, 'part1.cab')], { encoding: 'utf8' });
        expect(t).toContain('Everything is Ok');
        expect(t).toMatch(/^Files: 6$/m);
      } else skipNote('7zz t of written sets', '7zz');
    });
  }
});

describe('reading sets', () => {
  const names = Array.from({ length: 40 }, (_, i) => `Split-${i + 1}.CAB`);
  const parts = buildCabinetSet({ folders: [{ compression: 'mszip', files: inputs() }], cabinetDataSize: 30_000, names });
  const last = parts.length;

  it('finds the parts whatever the case of their names on disk, from any part', async () => {
    expect(last).toBeGreaterThanOrEqual(3);
    const dir = writeSet(parts, names, names.map((x) => x.toLowerCase()));
    for (const start of ['split-1.cab', `split-${last}.cab`, 'split-2.cab']) {
      const r = await runCli('list', '--json', path.join(dir, start));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout).members.map((m: { name: string }) => m.name)).toEqual(inputs().map((f) => f.name));
    }
    const x = await runCli('extract', path.join(dir, `split-${last}.cab`), '-d', path.join(dir, 'out'));
    expect(x.code).toBe(0);
    expect(readFileSync(path.join(dir, 'out', 'mid.bin')).equals(bytes(70_000, 2))).toBe(true);
  });

  it('an incomplete set is an error (exit 3) for list, inspect and extract, from the first, a middle or the last part; nothing is written', async () => {
    const dir = writeSet(parts.slice(0, 1), names.slice(0, 1));
    const tail = writeSet(parts.slice(1), names.slice(1, last));
    const cases: [string, RegExp][] = [
      [path.join(dir, 'Split-1.CAB'), /Split-1\.CAB: incomplete cabinet set: the next cabinet "Split-2\.CAB" is not in the same directory/],
      [path.join(tail, `Split-${last}.CAB`), /Split-2\.CAB: incomplete cabinet set: the previous cabinet "Split-1\.CAB" is not in the same directory/],
      [path.join(tail, 'Split-2.CAB'), /Split-2\.CAB: incomplete cabinet set: the previous cabinet "Split-1\.CAB"/],
    ];
    for (const [file, re] of cases) {
      for (const cmd of [['list'], ['inspect'], ['extract', '-d', path.join(root, `never${n++}`)]]) {
        const r = await runCli(cmd[0]!, file, ...cmd.slice(1));
        expect(r.code, `${cmd[0]} ${path.basename(file)}`).toBe(3);
        expect(r.stderr).toMatch(re);
        expect(r.stdout).toBe('');
      }
    }
    expect(readdirSync(root).filter((x) => x.startsWith('never'))).toEqual([]);
  });

  it('a part opened from a byte source alone (no directory to look in) is refused as incomplete', async () => {
    const { BufferSource } = await import('../../src/util/source.js');
    await expect(Cabinet.open(new BufferSource(parts[0]!, 'alone.cab'))).rejects.toMatchObject({ code: 'E_CAB_SET_INCOMPLETE' });
    await expect(Cabinet.open(new BufferSource(parts[last - 1]!, 'alone.cab'))).rejects.toMatchObject({ code: 'E_CAB_SET_INCOMPLETE' });
  });
});

describe.skipIf(!hasCorpus)("libmspack's multi-part cabinets (multi_basic_pt1..5)", () => {
  const pt = (i: number): string => corpusPath('cab', 'libmspack', `multi_basic_pt${i}.cab`);

  it('under the names their headers give, the set reads from any part, as cabextract reads it', async () => {
    const dir = path.join(root, `mb${n++}`);
    mkdirSync(dir);
    for (let i = 1; i <= 5; i++) copyFileSync(pt(i), path.join(dir, `cabd_multi_basic_pt${i}.cab`));
    const want = { 'test1.txt': 'This is the data from cabinet part 1.\nThis is the data from cabinet part 2.\n', 'test2.txt': 'This is the data from cabinet part 3.\n', 'test3.txt': 'This is the data from cabinet part 4.\nThis is the data from cabinet part 5.\n' };
    for (const i of [1, 3, 5]) {
      const cab = await Cabinet.openFile(path.join(dir, `cabd_multi_basic_pt${i}.cab`));
      expect(cab.parts.length).toBe(5);
      const got: Record<string, string> = {};
      for (const e of cab.entries) got[e.name] = Buffer.from(await cab.readFile(e)).toString();
      expect(got).toEqual(want);
      await cab.close();
    }
    if (hasTool('cabextract')) {
      const out = path.join(dir, 'oracle');
      execFileSync('cabextract', ['-q', '-d', out, path.join(dir, 'cabd_multi_basic_pt1.cab')]);
      const theirs = Object.fromEntries(readdirSync(out).map((f) => [f, readFileSync(path.join(out, f), 'utf8')]));
      expect(theirs).toEqual(want);
    } else skipNote('cabextract comparison of multi_basic', 'cabextract');
  });

  it('as stored in the corpus (the parts renamed, so every neighbour is missing), each part is an incomplete set', async () => {
    for (let i = 1; i <= 5; i++) {
      const r = await runCli('list', pt(i));
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/incomplete cabinet set: the (previous|next) cabinet "cabd_multi_basic_pt\d\.cab" is not in the same directory/);
    }
  });
});
