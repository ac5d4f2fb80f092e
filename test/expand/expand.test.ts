/**
 * `msu expand` on express packages built here from real blobs: the corpus PA30 deltas (cmd→where against an
 * earlier File, cmd→notepad against a file under --basis-dir, advapi32 PE as the phase-2 case), a PA31 whose
 * payload is a real LZMS Compression-API container, a baseless PA30 written in code, RAW ranges and a copy
 * entry; the CIX carries the real SHA-256 of every target. A flipped byte anywhere in a used range of the .psf
 * is detected and nothing is written.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { parseContainerIndex } from '../../src/cbs/container-index.js';
import { expandExpress, expandPackage } from '../../src/expand/index.js';
import { FormatError, MismatchError, MsuError } from '../../src/errors.js';
import { BufferSource, FileSource } from '../../src/util/source.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { rng } from '../helpers/rng.js';
import { buildDelta, PatchWriter } from '../helpers/pa30-build.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { captureWim, wimBytes } from '../helpers/wim-msu.js';

const wimlib = hasTool('wimlib-imagex');
if (!wimlib) skipNote('msu expand of a WIM-based MSU', 'wimlib-imagex');

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-expand-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (name: string) => path.join(root, `${name}-${n++}`);

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const read = (...p: string[]) => new Uint8Array(readFileSync(corpusPath(...p)));

interface Entry {
  id: number;
  name: string;
  target: Uint8Array;
  /** RAW or a blob; absent for a copy entry. */
  source?: { type: string; blob: Uint8Array };
  basis?: string;
  time?: string;
}

/** A .psf (blobs back to back after a 16-byte PSTREAM-like header) and its cix, with real hashes. */
function buildExpress(entries: Entry[]): { psf: Uint8Array; cix: string; ranges: Map<number, [number, number]> } {
  const parts: Uint8Array[] = [Buffer.from('PSTREAM\0\x02\x00\x02\x00\0\0\0\0', 'latin1')];
  let at = parts[0]!.length;
  const ranges = new Map<number, [number, number]>();
  const files = entries.map((e) => {
    let delta = '';
    if (e.source) {
      ranges.set(e.id, [at, e.source.blob.length]);
      delta = `<Delta><Source type="${e.source.type}" offset="${at}" length="${e.source.blob.length}"><Hash alg="SHA256" value="${sha256(e.source.blob)}"/></Source>${e.basis ?? ''}</Delta>`;
      parts.push(e.source.blob);
      at += e.source.blob.length;
    } else if (e.basis) delta = `<Delta>${e.basis}</Delta>`;
    const time = e.time ? ` time="${e.time}"` : '';
    return `<File id="${e.id}" name="${e.name}" length="${e.target.length}"${time} attr="128"><Hash alg="SHA256" value="${sha256(e.target)}"/>${delta}</File>`;
  });
  const psf = Buffer.concat(parts);
  const cix = `<?xml version="1.0" encoding="utf-8"?>\n<Container name="Windows10.0-KB5099999-x64.psf" type="PSF" length="${psf.length}" version="1" xmlns="urn:ContainerIndex"><Files>${files.join('')}</Files></Container>`;
  return { psf, cix, ranges };
}

/** A baseless PA30 (null source) carrying `target` as literals, with its SHA-256 in the header. */
function baseless(target: Uint8Array): Uint8Array {
  const patch = new PatchWriter().literal(...target).finish();
  return buildDelta({ targetSize: target.length, hashOf: { alg: 0x800c, target }, patch });
}

const COMP = 'amd64_microsoft-windows-commandprompt_31bf3856ad364e35_10.0.26100.1_none_0123456789abcdef';
const TIME = '133500000000000000'; // 1705526400 s after 1970: 2024-01-17T21:20:00Z

function corpusEntries(): Entry[] {
  const cmd = read('deltas', 'sources', 'cmd.exe');
  const text = new TextEncoder().encode('express payload smoke text\r\n'.repeat(40));
  const small = new TextEncoder().encode('baseless PA30 built in code');
  return [
    { id: 1, name: `${COMP}\\n\\cmd.exe`, target: cmd, source: { type: 'RAW', blob: cmd }, time: TIME },
    {
      id: 2, name: `${COMP}\\f\\where.exe`, target: read('deltas', 'sources', 'where.exe'),
      source: { type: 'PA30', blob: read('deltas', 'cmd__to__where__raw.pa30') }, basis: '<Basis file="1"/>',
    },
    {
      id: 3, name: `${COMP}\\f\\notepad.exe`, target: read('deltas', 'sources', 'notepad.exe'),
      source: { type: 'PA30', blob: read('deltas', 'cmd__to__notepad__raw.pa30') },
      basis: `<Basis length="${cmd.length}"><Hash alg="SHA256" value="${sha256(cmd)}"/></Basis>`,
    },
    { id: 4, name: 'baseless\\small.txt', target: small, source: { type: 'PA30', blob: baseless(small) } },
    {
      id: 5, name: 'lzms\\english.txt', target: read('lzms', 'english.raw'),
      source: {
        type: 'PA30',
        blob: buildDelta({ magic: 'PA31', targetSize: 1600, hashOf: { alg: 0x800c, target: read('lzms', 'english.raw') }, patch: read('lzms', 'english.lzms') }),
      },
    },
    { id: 6, name: 'copy\\cmd.exe', target: cmd, basis: '<Basis file="1"/>' },
    { id: 7, name: 'raw\\readme.txt', target: text, source: { type: 'RAW', blob: text } },
  ];
}

function writeFolder(entries: Entry[], extra: Record<string, string> = {}): { dir: string; psf: Uint8Array; ranges: Map<number, [number, number]> } {
  const dir = fresh('pkg');
  mkdirSync(dir, { recursive: true });
  const { psf, cix, ranges } = buildExpress(entries);
  writeFileSync(path.join(dir, 'Windows10.0-KB5099999-x64.psf'), psf);
  writeFileSync(path.join(dir, 'express.psf.cix.xml'), cix);
  for (const [k, v] of Object.entries(extra)) writeFileSync(path.join(dir, k), v);
  return { dir, psf, ranges };
}

function basisDir(): string {
  const d = fresh('basis');
  mkdirSync(path.join(d, 'x'), { recursive: true });
  writeFileSync(path.join(d, 'x', 'base-of-notepad.bin'), read('deltas', 'sources', 'cmd.exe'));
  writeFileSync(path.join(d, 'x', 'decoy.bin'), Buffer.alloc(339968, 1));
  return d;
}

/** Every file under a directory (relative, sorted), to prove "nothing written". */
function tree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else out.push(r);
    }
  };
  walk('');
  return out.sort();
}

const outName = (name: string) => name.split('\\').join('/');

describe.skipIf(!hasCorpus)('msu expand on a PSF built from real blobs', () => {
  it('rebuilds every File byte for byte (RAW, PA30 on a File and on --basis-dir, baseless PA30, PA31+LZMS, copy)', async () => {
    const entries = corpusEntries();
    const { dir } = writeFolder(entries, { 'update.mum': '<assembly/>' });
    const out = fresh('out');
    const r = await runCli('expand', dir, '-d', out, '--basis-dir', basisDir(), '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.files).toBe(7);
    expect(report.notExpanded).toEqual([]);
    expect(report.expanded.map((e: { id: number; source: string; basis: string }) => [e.id, e.source, e.basis])).toEqual([
      [1, 'RAW', 'none'], [2, 'PA30', 'file 1'], [3, 'PA30', 'basis-dir'], [4, 'PA30', 'none'],
      [5, 'PA31', 'none'], [6, 'copy', 'file 1'], [7, 'RAW', 'none'],
    ]);
    expect(report.psf).toBe('Windows10.0-KB5099999-x64.psf');
    expect(report.bytes).toBe(entries.reduce((s, e) => s + e.target.length, 0));
    for (const e of entries) {
      const got = readFileSync(path.join(out, outName(e.name)));
      expect(sha256(got), e.name).toBe(sha256(e.target));
    }
    expect(statSync(path.join(out, outName(entries[0]!.name))).mtime.toISOString()).toBe('2024-01-17T21:20:00.000Z');
    // Nothing but the Files: no staging leftovers, no package members.
    expect(tree(out)).toEqual(entries.map((e) => outName(e.name)).sort());
  });

  it('reads each used range of the .psf once, in pieces, never the whole file', async () => {
    const entries = corpusEntries();
    const { dir, psf } = writeFolder(entries);
    const { cix } = buildExpress(entries);
    const src = await FileSource.open(path.join(dir, 'Windows10.0-KB5099999-x64.psf'));
    try {
      await expandExpress(parseContainerIndex(cix), 'express.psf.cix.xml', src, fresh('out'), { basisDir: basisDir() });
      const used = entries.reduce((s, e) => s + (e.source?.blob.length ?? 0), 0);
      expect(src.bytesRead).toBe(used);
      expect(used).toBeLessThan(psf.length);
    } finally {
      await src.close();
    }
  });

  it('a flipped byte in any used range of the .psf is detected and nothing is written', async () => {
    const entries = corpusEntries();
    const { psf, cix, ranges } = buildExpress(entries);
    for (const [id, [off, len]] of ranges) {
      for (const at of [off, off + (len >> 1), off + len - 1]) {
        const bad = Buffer.from(psf);
        bad[at] ^= 0x20;
        const out = fresh('out');
        let err: unknown;
        try {
          await expandExpress(parseContainerIndex(cix), 'express.psf.cix.xml', new BufferSource(bad, 'x.psf'), out, { basisDir: basisDir() });
        } catch (e) {
          err = e;
        }
        expect(err, `File ${id}, byte ${at}`).toBeInstanceOf(MismatchError);
        expect(tree(out), `File ${id}, byte ${at}`).toEqual([]);
      }
    }
  });

  it('seeded mutations of the .psf: a full, correct expansion or one MsuError with nothing written', async () => {
    const entries = corpusEntries();
    const { psf, cix } = buildExpress(entries);
    const index = parseContainerIndex(cix);
    const rnd = rng(0x5eed);
    let failed = 0;
    for (let k = 0; k < 25; k++) {
      const bad = Buffer.from(psf);
      for (let f = 1 + rnd(3); f > 0; f--) bad[rnd(bad.length)] = rnd(256);
      const out = fresh('out');
      try {
        const report = await expandExpress(index, 'c.xml', new BufferSource(bad, 'x.psf'), out, { basisDir: basisDir() });
        expect(report.expanded).toHaveLength(entries.length);
        for (const e of entries) expect(sha256(readFileSync(path.join(out, outName(e.name)))), `case ${k}`).toBe(sha256(e.target));
      } catch (e) {
        expect(e, `case ${k}: ${String(e)}`).toBeInstanceOf(MsuError);
        expect(tree(out), `case ${k}`).toEqual([]);
        failed++;
      }
    }
    expect(failed).toBeGreaterThan(0);
  }, 60_000);

  it('the CLI says which File and exits 1 on a flipped byte, leaving the target directory as it was', async () => {
    const { dir, ranges } = writeFolder(corpusEntries());
    const p = path.join(dir, 'Windows10.0-KB5099999-x64.psf');
    const bytes = readFileSync(p);
    bytes[ranges.get(7)![0] + 3] ^= 1;
    writeFileSync(p, bytes);
    const out = fresh('out');
    mkdirSync(out);
    writeFileSync(path.join(out, 'mine.txt'), 'user data');
    const r = await runCli('expand', dir, '-d', out, '--basis-dir', basisDir());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/File id=7/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(tree(out)).toEqual(['mine.txt']);
  });

  it('a file already in the target is refused (exit 6, nothing written) unless --overwrite replaces it', async () => {
    const entries = corpusEntries();
    const { dir } = writeFolder(entries);
    const out = fresh('out');
    const first = outName(entries[0]!.name);
    mkdirSync(path.dirname(path.join(out, first)), { recursive: true });
    writeFileSync(path.join(out, first), 'user data');
    const refused = await runCli('expand', dir, '-d', out, '--basis-dir', basisDir());
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain(first);
    expect(tree(out)).toEqual([first]);
    expect(readFileSync(path.join(out, first), 'utf8')).toBe('user data');
    const replaced = await runCli('expand', dir, '-d', out, '--basis-dir', basisDir(), '--overwrite');
    expect(replaced.code).toBe(0);
    expect(sha256(readFileSync(path.join(out, first)))).toBe(sha256(entries[0]!.target));
    expect(tree(out)).toEqual(entries.map((e) => outName(e.name)).sort());
  });

  it('a PE-aware delta is listed as not expanded (exit 4); the others are written, the cabinet is not', async () => {
    const old = read('deltas', 'sources', 'advapi32_old.dll');
    const entries: Entry[] = [
      { id: 1, name: 'n\\advapi32.dll', target: old, source: { type: 'RAW', blob: old } },
      { id: 2, name: 'f\\advapi32.dll', target: read('deltas', 'sources', 'advapi32_new.dll'), source: { type: 'PA30', blob: read('deltas', 'advapi32_pe.pa30') }, basis: '<Basis file="1"/>' },
      { id: 3, name: 'f\\copy.dll', target: read('deltas', 'sources', 'advapi32_new.dll'), basis: '<Basis file="2"/>' },
    ];
    const { dir } = writeFolder(entries);
    const out = fresh('out');
    const cab = fresh('cab') + '.cab';
    const r = await runCli('expand', dir, '-d', out, '--cab', cab);
    expect(r.code).toBe(4);
    expect(r.stdout).toMatch(/expanded 1 of 3/);
    expect(r.stdout).toMatch(/not expanded: f\\advapi32\.dll \(File 2\): .*PE/);
    expect(r.stdout).toMatch(/not expanded: f\\copy\.dll \(File 3\): its Basis, File 2, was not expanded/);
    expect(r.stdout).toMatch(/did not write/);
    expect(tree(out)).toEqual(['n/advapi32.dll']);
    expect(existsSync(cab)).toBe(false);
  });

  it('an external Basis without --basis-dir is listed as not expanded with exit 3', async () => {
    const { dir } = writeFolder(corpusEntries());
    const r = await runCli('expand', dir, '-d', fresh('out'), '--json');
    expect(r.code).toBe(3);
    const report = JSON.parse(r.stdout);
    expect(report.notExpanded).toEqual([
      expect.objectContaining({ id: 3, kind: 'input', code: 'E_EXPAND_NO_BASIS' }),
    ]);
    expect(report.expanded).toHaveLength(6);
  });
});

describe.skipIf(!hasCorpus)('msu expand on packages', () => {
  it('a cabinet-based MSU: cix in the payload cab, .psf beside it; --cab repacks the expanded package', async () => {
    const entries = corpusEntries().filter((e) => e.id !== 3);
    const { psf, cix } = buildExpress(entries);
    const mum = Buffer.from('<assembly xmlns="urn:schemas-microsoft-com:asm.v3"/>');
    const payload = buildCabinet({ folders: [{ compression: 'mszip', files: [
      { name: 'update.mum', data: mum },
      { name: 'express.psf.cix.xml', data: Buffer.from(cix) },
    ] }] });
    const msu = buildCabinet({ folders: [{ compression: 'none', files: [
      { name: 'Windows10.0-KB5099999-x64.cab', data: payload },
      { name: 'Windows10.0-KB5099999-x64.psf', data: psf },
    ] }] });
    const file = fresh('msu') + '.msu';
    writeFileSync(file, msu);
    const out = fresh('out');
    const cabOut = fresh('repacked') + '.cab';
    const r = await runCli('expand', file, '-d', out, '--cab', cabOut, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.cix).toBe(`${path.basename(file)}!Windows10.0-KB5099999-x64.cab!express.psf.cix.xml`);
    expect(report.psf).toBe(`${path.basename(file)}!Windows10.0-KB5099999-x64.psf`);
    expect(report.cab).toEqual({ file: path.basename(cabOut), members: entries.length + 1 });
    const cab = await Cabinet.openFile(cabOut);
    try {
      const names = cab.entries.map((e) => e.name);
      expect(names).toContain('update.mum');
      expect(names).not.toContain('express.psf.cix.xml');
      for (const e of entries) {
        const m = cab.entries.find((x) => x.name === e.name)!;
        expect(m, e.name).toBeDefined();
        expect(sha256(await cab.readFile(m)), e.name).toBe(sha256(e.target));
      }
      expect(cab.entries.find((x) => x.name === entries[0]!.name)!.date).toBeGreaterThan(0);
    } finally {
      await cab.close();
    }
    // The same inputs give the same report and the same cabinet, byte for byte.
    const again = fresh('repacked') + '.cab';
    const r2 = await runCli('expand', file, '-d', fresh('out'), '--cab', again, '--json');
    expect(r2.stdout.replace(path.basename(again), 'X')).toBe(r.stdout.replace(path.basename(cabOut), 'X'));
    expect(readFileSync(again).equals(readFileSync(cabOut))).toBe(true);
  });

  it.skipIf(!wimlib)('a WIM-based MSU: cix in the payload .wim, the .psf a stored member streamed in place', async () => {
    const entries = corpusEntries().filter((e) => e.id !== 3);
    const { psf, cix } = buildExpress(entries);
    const dir = fresh('wim');
    mkdirSync(dir);
    const payload = await wimBytes(dir, { 'update.mum': '<assembly/>', 'express.psf.cix.xml': cix });
    const file = path.join(dir, 'windows11.0-kb5099999-x64.msu');
    await captureWim(file, { 'Windows11.0-KB5099999-x64.wim': payload, 'Windows11.0-KB5099999-x64.psf': psf });
    const out = fresh('out');
    const r = await runCli('expand', file, '-d', out, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.psf).toBe('windows11.0-kb5099999-x64.msu!Windows11.0-KB5099999-x64.psf');
    for (const e of entries) expect(sha256(readFileSync(path.join(out, outName(e.name)))), e.name).toBe(sha256(e.target));
    const noCab = await runCli('expand', file, '-d', fresh('out'), '--cab', fresh('x') + '.cab');
    expect(noCab.code).toBe(4);
    // what wimlib-imagex needs of the payload .wim is copied before anything is expanded, with
    // progress: the WIM's structures, then the cix's resource, each from 0 to its total
    const copied: { member: string; done: number; total: number }[] = [];
    await expandPackage(file, fresh('out'), { onCopyProgress: (p) => copied.push(p) });
    expect(new Set(copied.map((p) => p.member))).toEqual(new Set(['Windows11.0-KB5099999-x64.wim']));
    const starts = copied.filter((p) => p.done === 0);
    expect(starts).toHaveLength(2);
    expect(copied.every((p) => p.done <= p.total) && copied.at(-1)!.done === copied.at(-1)!.total).toBe(true);
    expect(starts[0]!.total + starts[1]!.total).toBeLessThan(payload.length);
  }, 60_000);

  it('a real type="CAB" index (KB2999226): Sources are payload-cab members; PE deltas and what builds on them are listed', async () => {
    const file = corpusPath('msu', 'Windows6.1-KB2999226-x64.msu');
    const out = fresh('out');
    const r = await runCli('expand', file, '-d', out, '--json');
    expect(r.code).toBe(4);
    const report = JSON.parse(r.stdout);
    expect(report.psf).toBeNull();
    expect(report.cix).toBe('Windows6.1-KB2999226-x64.msu!Windows6.1-KB2999226-x64.cab!_manifest_.cix.xml');
    expect(report.files).toBe(118);
    const kinds = (list: { source?: string; code?: string }[], key: 'source' | 'code') =>
      list.reduce<Record<string, number>>((m, e) => ({ ...m, [e[key]!]: (m[e[key]!] ?? 0) + 1 }), {});
    // 22 RAW members, the one baseless PA30 (x86 ucrtbase.dll) and its copy; two PE-aware deltas refused,
    // and every File whose Basis chain leads to one of them.
    expect(kinds(report.expanded, 'source')).toEqual({ RAW: 22, PA30: 1, copy: 1 });
    expect(kinds(report.notExpanded, 'code')).toEqual({ E_DELTA_PE: 2, E_EXPAND_BASIS_SKIPPED: 92 });
    // The index's own SHA-1s, read here independently of the code under test.
    const cab = await Cabinet.openFile(file);
    let cixText: string;
    try {
      const payload = await Cabinet.open(new BufferSource(await cab.readFile(cab.entries.find((e) => e.name.endsWith('x64.cab'))!)));
      cixText = Buffer.from(await payload.readFile(payload.entries.find((e) => e.name === '_manifest_.cix.xml')!)).toString('utf8');
    } finally {
      await cab.close();
    }
    for (const e of report.expanded as { id: number; name: string }[]) {
      const m = new RegExp(`<File id="${e.id}"[^>]*><Hash alg="SHA1" value="([0-9a-f]{40})"`).exec(cixText)!;
      const got = createHash('sha1').update(readFileSync(path.join(out, outName(e.name)))).digest('hex');
      expect(got, e.name).toBe(m[1]);
    }
    expect(tree(out)).toHaveLength(24);
  });

  it('the cix XML itself, with the .psf beside it', async () => {
    const entries = corpusEntries().filter((e) => e.id === 1 || e.id === 4);
    const { dir } = writeFolder(entries);
    const out = fresh('out');
    const r = await runCli('expand', path.join(dir, 'express.psf.cix.xml'), '-d', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/expanded 2 of 2 file\(s\)/);
    expect(tree(out)).toHaveLength(2);
  });
});

describe('msu expand refuses hostile indexes before writing', () => {
  const raw = new TextEncoder().encode('hello');
  async function expectRefused(entries: Entry[], cixEdit: (s: string) => string, pattern: RegExp): Promise<void> {
    const { psf, cix } = buildExpress(entries);
    const out = fresh('out');
    await expect(expandExpress(parseContainerIndex(cixEdit(cix)), 'c.xml', new BufferSource(psf, 'p.psf'), out)).rejects.toThrow(pattern);
    expect(tree(out)).toEqual([]);
  }

  it('a name that climbs out of the target', async () => {
    await expectRefused([{ id: 1, name: 'a\\..\\..\\evil.txt', target: raw, source: { type: 'RAW', blob: raw } }], (s) => s, /\.\./);
  });

  it('two Files with the same name (as Windows compares names)', async () => {
    await expectRefused([
      { id: 1, name: 'A.txt', target: raw, source: { type: 'RAW', blob: raw } },
      { id: 2, name: 'a.TXT', target: raw, source: { type: 'RAW', blob: raw } },
    ], (s) => s, /same name/);
  });

  it('a Basis cycle and a dangling Basis', async () => {
    await expectRefused([
      { id: 1, name: 'a', target: raw, basis: '<Basis file="2"/>' },
      { id: 2, name: 'b', target: raw, basis: '<Basis file="1"/>' },
    ], (s) => s, /own Basis/);
    await expectRefused([{ id: 1, name: 'a', target: raw, basis: '<Basis file="9"/>' }], (s) => s, /File 9/);
  });

  it('a Source range past the end of the .psf, and a RAW length that disagrees with the File', async () => {
    await expectRefused([{ id: 1, name: 'a', target: raw, source: { type: 'RAW', blob: raw } }], (s) => s.replace('length="5"><Hash', 'length="5"><Hash').replace(/offset="16" length="5"/, 'offset="16" length="500"'), /past the end/);
    await expectRefused([{ id: 1, name: 'a', target: raw, source: { type: 'RAW', blob: raw } }], (s) => s.replace('<File id="1" name="a" length="5"', '<File id="1" name="a" length="4"'), /RAW Source is 5 bytes/);
  });

  it('a delta blob that is no delta', async () => {
    const { psf, cix } = buildExpress([{ id: 1, name: 'a', target: raw, source: { type: 'PA30', blob: raw } }]);
    await expect(expandExpress(parseContainerIndex(cix), 'c.xml', new BufferSource(psf, 'p.psf'), fresh('out'))).rejects.toThrow(FormatError);
  });

  it('an unknown Source type is listed, not guessed', async () => {
    const { psf, cix } = buildExpress([{ id: 1, name: 'a', target: raw, source: { type: 'XPRESS', blob: raw } }]);
    const out = fresh('out');
    const report = await expandExpress(parseContainerIndex(cix), 'c.xml', new BufferSource(psf, 'p.psf'), out);
    expect(report.notExpanded).toEqual([{ id: 1, name: 'a', kind: 'unsupported', code: 'E_EXPAND_SOURCE_TYPE', reason: 'unsupported: Source type XPRESS' }]);
    expect(tree(out)).toEqual([]);
  });

  it('a folder without an index', async () => {
    const dir = fresh('empty');
    mkdirSync(dir);
    await expect(expandPackage(dir, fresh('out'))).rejects.toThrow(/no \*\.psf\.cix\.xml/);
  });
});
