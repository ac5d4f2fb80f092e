// The CFFILE table through WebAssembly (src/cab/cffile-scan.ts, src/cab/cffile.c) against the
// JavaScript scan (scanCfFiles) as the oracle: the same rows for every table it takes, the same
// error for every table it refuses, and CfFileTable.suffixIndex the same over every name shape.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { readCfFiles, WASM_MIN_FILES } from '../../src/cab/cffile-scan.js';
import { CfFileTable, parseCfFiles, parseCfFolders, parseCfHeader, scanCfFiles } from '../../src/cab/header.js';
import type { CfHeader } from '../../src/cab/types.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { BufferSource, FileSource } from '../../src/util/source.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { rng } from '../helpers/rng.js';

const ROW_FIELDS = ['cbFile', 'uoffFolderStart', 'iFolder', 'date', 'time', 'attribs', 'nameLength'] as const;

/** A table as plain data: every field of every row, and each name's bytes. */
function rowsOf(t: CfFileTable): Record<string, number[]> & { names: string[] } {
  const out = { names: [] as string[] } as Record<string, number[]> & { names: string[] };
  for (const f of ROW_FIELDS) out[f] = Array.from(t[f]);
  for (let i = 0; i < t.count; i++) out.names.push(Buffer.from(t.nameBytesAt(i)).toString('latin1'));
  return out;
}

type Outcome = { rows: ReturnType<typeof rowsOf>; wasm: boolean } | { error: string; code: unknown };

async function outcome(f: () => CfFileTable | Promise<CfFileTable>): Promise<Outcome> {
  try {
    const t = await f();
    return { rows: rowsOf(t), wasm: Object.getPrototypeOf(t) !== CfFileTable.prototype };
  } catch (err) {
    return { error: (err as Error).message, code: (err as { code?: unknown }).code };
  }
}

/** The JavaScript scan and readCfFiles made to take the WebAssembly path, over the same bytes. */
async function both(bytes: Uint8Array, h: CfHeader, folderCount: number): Promise<{ js: Outcome; wasm: Outcome }> {
  const js = await outcome(() => scanCfFiles(bytes, 0, h, folderCount, 't.cab'));
  const wasm = await outcome(() => readCfFiles(new BufferSource(bytes, 't.cab'), bytes.subarray(0, 64), bytes.length, h, folderCount, 0));
  return { js, wasm };
}

function expectSame(r: { js: Outcome; wasm: Outcome }): void {
  if ('error' in r.js) expect(r.wasm).toEqual(r.js);
  else {
    expect('rows' in r.wasm && r.wasm.wasm).toBe(true);
    expect((r.wasm as { rows: unknown }).rows).toEqual(r.js.rows);
  }
}

/** One CFFILE entry: the fixed fields, then the name bytes and (unless `nul` is false) a NUL. */
function entry(o: { cb?: number; off?: number; folder?: number; attribs?: number; name: Uint8Array | string; nul?: boolean }): Buffer {
  const fixed = Buffer.alloc(16);
  fixed.writeUInt32LE(o.cb ?? 1, 0);
  fixed.writeUInt32LE(o.off ?? 0, 4);
  fixed.writeUInt16LE(o.folder ?? 0, 8);
  fixed.writeUInt16LE(0x5021, 10);
  fixed.writeUInt16LE(0x6000, 12);
  fixed.writeUInt16LE(o.attribs ?? 0x20, 14);
  const name = typeof o.name === 'string' ? Buffer.from(o.name, 'latin1') : Buffer.from(o.name);
  return Buffer.concat([fixed, name, o.nul === false ? Buffer.alloc(0) : Buffer.alloc(1)]);
}

/** Bytes holding `lead` bytes of padding, then these entries; a header that points at them. */
function table(entries: Buffer[], lead = 36): { bytes: Buffer; h: CfHeader } {
  const bytes = Buffer.concat([Buffer.alloc(lead, 0xcc), ...entries]);
  const h = { coffFiles: lead, cFiles: entries.length } as CfHeader;
  return { bytes, h };
}

const good = (i: number): Buffer => entry({ cb: 100 + i, off: i * 100, name: `dir\\file${i}.manifest` });

describe('the CFFILE table through WebAssembly', () => {
  it('gives the rows the JavaScript scan gives, names of every length from 1 to 255 bytes', async () => {
    const entries = Array.from({ length: 255 }, (_, i) => entry({ cb: i * 7919, off: i * 65_537, folder: i % 3, attribs: i % 2 ? 0xa0 : 0x21, name: Buffer.alloc(i + 1, 0x41 + (i % 26)) }));
    const { bytes, h } = table(entries);
    const r = await both(bytes, h, 3);
    expectSame(r);
    expect('rows' in r.wasm && r.wasm.rows.nameLength).toEqual(Array.from({ length: 255 }, (_, i) => i + 1));
  });

  it('refuses what the JavaScript scan refuses, with its words, wherever in the table the fault is', async () => {
    const faults: [string, Buffer][] = [
      ['no NUL before the data ends', entry({ name: 'tail', nul: false })],
      ['an empty name', entry({ name: '' })],
      ['a 256-byte name', entry({ name: Buffer.alloc(256, 0x61) })],
      ['a name with no NUL in 1024 bytes', entry({ name: Buffer.alloc(1100, 0x62) })],
      ['a folder past the last', entry({ name: 'x.dll', folder: 2 })],
      ['offset + size past 2^32 - 2', entry({ name: 'x.dll', cb: 0xffffffff, off: 0 })],
    ];
    for (const [what, bad] of faults) {
      for (const at of [0, 1, 57]) {
        const entries = [...Array.from({ length: at }, (_, i) => good(i)), bad, ...(what.startsWith('no NUL') ? [] : [good(99)])];
        const { bytes, h } = table(entries);
        const r = await both(bytes, h, 2);
        expect('error' in r.js, `${what} at ${at}`).toBe(true);
        expect(r.wasm, `${what} at ${at}`).toEqual(r.js);
      }
    }
    // the largest values that pass: a 255-byte name, offset + size = 2^32 - 2, the continued folders
    const edge = table([
      entry({ name: Buffer.alloc(255, 0x63), cb: 0xfffffffe, off: 0 }), entry({ name: 'a', cb: 1, off: 0xfffffffd }),
      entry({ name: 'b', folder: 0xfffd }), entry({ name: 'c', folder: 0xfffe }), entry({ name: 'd', folder: 0xffff }),
    ]);
    expectSame(await both(edge.bytes, edge.h, 1));
  });

  it('refuses a table cut in the fixed fields, or one the header puts past the bytes', async () => {
    const { bytes, h } = table([good(0), good(1), good(2)]);
    const cut = bytes.subarray(0, bytes.length - good(2).length + 9);
    const r = await both(cut, h, 1);
    expect('error' in r.js && r.js.error).toMatch(/CFFILE\[2\] fixed fields/);
    expect(r.wasm).toEqual(r.js);
    const past = await both(bytes, { ...h, coffFiles: bytes.length + 1 }, 1);
    expect('error' in past.js).toBe(true);
    expect(past.wasm).toEqual(past.js);
  });

  it('agrees with the JavaScript scan on 600 random corruptions of a table', async () => {
    const entries = Array.from({ length: 300 }, (_, i) => entry({ cb: 1000 + i, off: i * 1000, folder: i % 2, name: `amd64_${'x'.repeat(i % 40)}_${i}.manifest` }));
    const base = table(entries);
    const r = rng(0xcf11e);
    let refused = 0;
    for (let k = 0; k < 600; k++) {
      const bytes = Buffer.from(base.bytes);
      for (let m = 1 + r(4); m > 0; m--) {
        const at = base.h.coffFiles + r(bytes.length - base.h.coffFiles);
        bytes[at] = [0, 0xff, r(256), bytes[at]! ^ (1 << r(8))][r(4)]!;
      }
      const end = r(5) === 0 ? base.h.coffFiles + r(bytes.length - base.h.coffFiles) : bytes.length;
      const res = await both(bytes.subarray(0, end), base.h, 2);
      if ('error' in res.js) refused++;
      expectSame(res);
    }
    // both kinds of outcome were exercised
    expect(refused).toBeGreaterThan(50);
    expect(refused).toBeLessThan(550);
  });

  it('classes name suffixes as CfFileTable.suffixIndex does, over every name shape', async () => {
    const names: [string | Buffer, number?][] = [
      ['a.manifest'], ['B.MANIFEST'], ['x.Mum'], ['Update.MUM'], ['sub\\update.mum'], ['c.cat'], ['d.CIX.XML'], ['e.xml'], ['manifest'], ['f.dll'],
      ['m'], ['.mum'], ['mum'], ['k.xml.cat'], ['x.catQ'], ['j.cix'],
      [Buffer.from('a\xe9.mum', 'latin1')], [Buffer.from('bQ.manifest\xff', 'latin1')], [Buffer.from('\xc3\xa9.manifest', 'latin1'), 0xa0],
      [Buffer.from('long_\xe4_prefix_then.manifest', 'latin1')], [Buffer.from('z\x0emum', 'latin1')], [Buffer.from('[\\]^.MUM', 'latin1')], [Buffer.from('@.CAT', 'latin1')], ['Z[.MUM'], [Buffer.from('q\x80.cat', 'latin1')],
    ];
    // 'um' whose attribs are the bytes ".m": a suffix longer than the name must not reach back into them
    names.push(['um', 0x6d2e]);
    const { bytes, h } = table(names.map(([name, attribs]) => entry({ name, attribs })));
    const wasmTable = await readCfFiles(new BufferSource(bytes, 't.cab'), bytes.subarray(0, 64), bytes.length, h, 1, 0);
    const jsTable = scanCfFiles(bytes, 0, h, 1, 't.cab');
    expect(Object.getPrototypeOf(wasmTable)).not.toBe(CfFileTable.prototype);
    const enc = (...s: string[]): Uint8Array[] => s.map((x) => Buffer.from(x, 'latin1'));
    for (const suffixes of [enc('.mum', '.manifest', '.cat', '.cix.xml'), enc('.cat', '.xml'), enc('m'), enc(), enc('a.manifest', '.manifest'), enc('{.mum', '`.cat', 'z{.mum')]) {
      const fast = wasmTable.suffixIndex(suffixes);
      expect(Array.from(fast)).toEqual(Array.from(jsTable.suffixIndex(suffixes)));
    }
    // the classes themselves, for the suffixes inspect uses
    expect(Array.from(wasmTable.suffixIndex(enc('.mum', '.manifest', '.cat', '.cix.xml')))).toEqual([
      1, 1, 0, 0, 0, 2, 3, 4, 4, 4, 4, 0, 4, 2, 4, 4, 255, 255, 1, 1, 4, 0, 2, 0, 255, 4,
    ]);
    // ASCII case is folded for A-Z only: '@' and '[' are not '`' and '{'
    expect(Array.from(wasmTable.suffixIndex(enc('{.mum', '`.cat', 'z{.mum'))).slice(-5, -2)).toEqual([3, 3, 3]);
    // the result is the caller's: a second call does not change the first's array
    const first = wasmTable.suffixIndex(enc('.mum'));
    wasmTable.suffixIndex(enc('.dll'));
    expect(first[0]).toBe(1);
    expect(() => wasmTable.suffixIndex(Array.from({ length: 255 }, () => enc('.x')[0]!))).toThrow(RangeError);
  });

  it('opens a cabinet of more than WASM_MIN_FILES members from a file, read into the module, with the members the objects say', async () => {
    const n = WASM_MIN_FILES + 500;
    const files = Array.from({ length: n }, (_, i) => ({ name: `amd64_component_${i}\\${i % 3 ? 'f.manifest' : 'g.cat'}`, data: Buffer.from([i & 0xff]) }));
    const cab = Buffer.from(buildCabinet({ folders: [{ compression: 'mszip', files: files.slice(0, 1000) }, { compression: 'none', files: files.slice(1000) }] }));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-cffile-'));
    try {
      const file = path.join(dir, 'big.cab');
      writeFileSync(file, cab);
      const src = await FileSource.open(file);
      const c = await Cabinet.open(src);
      try {
        // the header and the table, each byte read once: the table's tail after the first 64 KiB, not the whole again
        const firstData = Math.min(...c.parts[0]!.folders.map((f) => f.coffCabStart));
        expect(firstData).toBeGreaterThan(64 * 1024);
        expect(src.bytesRead).toBe(firstData);
        expect(Object.getPrototypeOf(c.parts.length === 1 && (c as unknown as { rows: { tables: CfFileTable[] } }).rows.tables[0])).not.toBe(CfFileTable.prototype);
        const h = parseCfHeader(cab, cab.length);
        const objects = parseCfFiles(cab, 0, h, parseCfFolders(cab, h).length);
        expect(c.entries.map(({ index, name, cbFile, uoffFolderStart, iFolder, date, time, attribs }) => ({ index, name, cbFile, uoffFolderStart, iFolder, date, time, attribs })))
          .toEqual(objects.map(({ index, name, cbFile, uoffFolderStart, iFolder, date, time, attribs }) => ({ index, name, cbFile, uoffFolderStart, iFolder, date, time, attribs })));
        expect(c.entries.map((e) => e.folder)).toEqual(objects.map((o) => o.iFolder));
        expect(Buffer.from(await c.readFile(c.entries[n - 1]!))).toEqual(Buffer.from([(n - 1) & 0xff]));
        expect(Buffer.from(await c.readFile(c.entries[7]!))).toEqual(Buffer.from([7]));
      } finally {
        await c.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!hasCorpus)('reads every corpus cabinet table as the JavaScript scan does', async () => {
    const cabs: string[] = [];
    const walk = (d: string): void => {
      for (const name of readdirSync(d).sort()) {
        const p = path.join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (/\.(cab|msu)$/i.test(name) && statSync(p).size < 64 << 20) cabs.push(p);
      }
    };
    walk(corpusPath('cab'));
    walk(corpusPath('msu'));
    let compared = 0;
    for (const file of cabs) {
      const bytes = readFileSync(file);
      let h: CfHeader;
      let folders: number;
      try {
        h = parseCfHeader(bytes, bytes.length, file);
        folders = parseCfFolders(bytes, h, file).length;
      } catch {
        continue; // not a cabinet, or a header fault: the table scan is not reached
      }
      const r = await both(bytes, h, folders);
      expectSame(r);
      compared++;
    }
    expect(compared).toBeGreaterThan(20);
  });
});
