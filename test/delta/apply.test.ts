import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/index.js';
import { catalogHasDigest, parseCatalog } from '../../src/cbs/catalog.js';
import { keyform } from '../../src/cbs/keyform.js';
import { parseComponentManifest } from '../../src/cbs/manifest.js';
import { BitReader } from '../../src/delta/bits.js';
import { parseDeltaStream } from '../../src/delta/header.js';
import { HuffmanTable } from '../../src/delta/huffman.js';
import {
  applyDelta,
  decodeDcmManifest,
  isDcmManifest,
  readDeltaHeader,
  undoE8,
  unwrapDelta,
} from '../../src/delta/index.js';
import { readRiftTable } from '../../src/delta/rift.js';
import { FormatError, MismatchError, MsuError, UnsupportedError } from '../../src/errors.js';
import { crc32 } from '../../src/util/crc32.js';
import { parseXml } from '../../src/util/xml.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { buildDelta, PatchWriter } from '../helpers/pa30-build.js';
import { rng } from '../helpers/rng.js';

const D = (...p: string[]): Buffer => readFileSync(corpusPath('deltas', ...p));
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function thrown(fn: () => unknown): MsuError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MsuError);
    return err as MsuError;
  }
  throw new Error('expected an MsuError');
}

/** Real RAW deltas with their source and expected target (deltas/sources, deltas/triples). */
const RAW_CASES: [string, string, string][] = [
  ['triples/raw-apply/delta.pa30', 'triples/raw-apply/source.bin', 'triples/raw-apply/target.bin'],
  ['cmd__to__where__raw.pa30', 'sources/cmd.exe', 'sources/where.exe'],
  ['cmd__to__notepad__raw.pa30', 'sources/cmd.exe', 'sources/notepad.exe'],
  ['cmd__to__notepad__raw_bsdiff_flag0x100.pa30', 'sources/cmd.exe', 'sources/notepad.exe'],
  ['cmd__to__notepad__raw_flag0x20000.pa30', 'sources/cmd.exe', 'sources/notepad.exe'],
  ['advapi32_raw.pa30', 'sources/advapi32_old.dll', 'sources/advapi32_new.dll'],
];

const PE_CASES = [
  'triples/amd64_kbdwol/delta.pa30',
  'triples/amd64_provdiagnostics/delta.pa30',
  'triples/wow64_kbdmaori/delta.pa30',
  'genuine/advapi32_pe_genuine.pa30',
  'genuine/cmd_pe_genuine.pa30',
  'advapi32_pe.pa30',
  'cmd__to__cmd_patched__pe_amd64.pa30',
];

describe.skipIf(!hasCorpus)('applyDelta on real RAW deltas', () => {
  for (const [delta, source, target] of RAW_CASES) {
    it(`${delta} rebuilds ${target} byte for byte`, () => {
      const r = applyDelta(D(delta), D(source));
      const want = D(target);
      expect(r.target.length).toBe(want.length);
      expect(sha256(r.target)).toBe(sha256(want));
      expect(r.header.fileType).toBe(1);
      // These deltas carry no target hash: the target file is the oracle, and nothing was checked.
      expect(r.header.hashAlgId).toBe(0);
      expect(r.hashChecked).toBe(false);
    });
  }

  it('a wrong source gives a different output, never the target', () => {
    const r = applyDelta(D('cmd__to__where__raw.pa30'), D('sources/notepad.exe'));
    expect(sha256(r.target)).not.toBe(sha256(D('sources/where.exe')));
  });

  it('accepts the same delta behind a CRC32 prefix and refuses a prefix that does not match', () => {
    const bare = D('cmd__to__where__raw.pa30');
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(crc32(bare));
    const wrapped = Buffer.concat([prefix, bare]);
    expect(unwrapDelta(wrapped).kind).toBe('crc32');
    expect(sha256(applyDelta(wrapped, D('sources/cmd.exe')).target)).toBe(sha256(D('sources/where.exe')));
    wrapped[0]! ^= 1;
    const e = thrown(() => applyDelta(wrapped, D('sources/cmd.exe')));
    expect(e).toBeInstanceOf(FormatError);
    expect(e.code).toBe('E_DELTA_CRC');
  });

  it('respects maxTargetSize before allocating', () => {
    const e = thrown(() => applyDelta(D('cmd__to__where__raw.pa30'), D('sources/cmd.exe'), { maxTargetSize: 65535 }));
    expect(e.code).toBe('E_DELTA_TOO_LARGE');
    expect(e.message).toContain('65536');
  });
});

describe.skipIf(!hasCorpus)('PE-aware deltas are phase 2', () => {
  for (const delta of PE_CASES) {
    it(`${delta}: unsupported: PE transforms`, () => {
      const bytes = D(delta);
      const h = readDeltaHeader(bytes);
      expect(h.fileType === 2 || h.fileType === 8).toBe(true);
      expect(h.preprocessSize).toBeGreaterThan(0);
      const e = thrown(() => applyDelta(bytes, null));
      expect(e).toBeInstanceOf(UnsupportedError);
      expect(e.code).toBe('E_DELTA_PE');
      expect(e.message).toBe('unsupported: PE transforms');
    });
  }

  it('their preprocess buffers parse to the last bit with the rift-table reader (IntFormat layout check)', () => {
    // Layout: 64-bit ImageBase, 32-bit field, 32-bit TimeDateStamp, rift A, CLI bit, rift B, CliMap bit.
    const b = {} as Record<string, { a: number; b: { source: number; target: number }[] }>;
    for (const delta of PE_CASES) {
      const s = parseDeltaStream(D(delta));
      const r = new BitReader(s.preprocess!, 'preprocess buffer');
      r.bitsBig(64, 'ImageBase');
      r.bits(32, 'field1');
      r.bits(32, 'TimeDateStamp');
      const a = readRiftTable(r, 'rift A');
      expect(r.bit('CLI bit')).toBe(0);
      const riftB = readRiftTable(r, 'rift B');
      expect(r.bit('CliMap bit')).toBe(0);
      expect(r.bitsLeft).toBe(0);
      b[delta] = { a: a.length, b: riftB };
    }
    expect(b['triples/amd64_provdiagnostics/delta.pa30']!.b).toEqual([
      { source: 0x3140, target: 0x3148 },
      { source: 0x3250, target: 0x3260 },
      { source: 0x3810, target: 0x3810 },
      { source: 0x9fff, target: 0x9fff },
    ]);
    expect(b['triples/amd64_kbdwol/delta.pa30']!.b).toEqual([]);
    expect(b['triples/wow64_kbdmaori/delta.pa30']!.a).toBe(4);
  });
});

const MANIFESTS = hasCorpus ? readdirSync(corpusPath('manifests')).filter((f) => f.endsWith('.manifest')) : [];

describe.skipIf(!hasCorpus)('DCM manifests', () => {
  const base = hasCorpus ? readFileSync(corpusPath('manifests', 'base_manifest.bin')) : Buffer.alloc(0);

  it('the corpus has DCM manifests to decode', () => {
    expect(MANIFESTS.filter((f) => isDcmManifest(readFileSync(corpusPath('manifests', f)))).length).toBe(6);
  });

  for (const f of MANIFESTS) {
    it(`${f.slice(0, 60)}… decodes to XML whose assemblyIdentity gives its file name`, () => {
      const bytes = readFileSync(corpusPath('manifests', f));
      const xml = decodeDcmManifest(bytes, base);
      const root = parseXml(Buffer.from(xml).toString('utf8'), f);
      expect(root.name).toBe('assembly');
      const m = parseComponentManifest(xml, f);
      // The WinSxS folder name (keyform) is a hash of the identity: a wrong byte in the identity changes it.
      expect(`${keyform(m.identity)}.manifest`).toBe(f);
    });
  }

  it('DCM decoding with a wrong base manifest fails or gives something else', () => {
    const f = MANIFESTS.find((n) => n.includes('network-security'))!;
    const bytes = readFileSync(corpusPath('manifests', f));
    const good = sha256(decodeDcmManifest(bytes, base));
    const wrong = Buffer.from(base);
    wrong.fill(0x20, 100, 400);
    let other: string | undefined;
    try {
      other = sha256(decodeDcmManifest(bytes, wrong));
    } catch (err) {
      expect(err).toBeInstanceOf(MsuError);
    }
    expect(other).not.toBe(good);
  });

  it('decodeDcmManifest refuses something that is not DCM', () => {
    expect(thrown(() => decodeDcmManifest(D('cmd__to__where__raw.pa30'), base)).code).toBe('E_DCM_MAGIC');
  });

  it('the DCM manifests of the OpenSSH FoD cabinet decode to the SHA-256 its catalogs list', async () => {
    const cab = await Cabinet.openFile(corpusPath('cab', 'fod', 'OpenSSH-Client-Package~31bf3856ad364e35~amd64~~.cab'));
    try {
      const cats = [];
      const manifests: [string, Uint8Array][] = [];
      for (const e of cab.entries) {
        const name = e.name.toLowerCase();
        if (name.endsWith('.cat')) cats.push(parseCatalog(await cab.readFile(e), e.name));
        else if (name.endsWith('.manifest')) manifests.push([e.name, await cab.readFile(e)]);
      }
      const dcm = manifests.filter(([, b]) => isDcmManifest(b));
      expect(dcm.length).toBe(3);
      for (const [name, b] of dcm) {
        const digest = sha256(decodeDcmManifest(b, base));
        expect(cats.some((c) => catalogHasDigest(c, digest)), name).toBe(true);
        // The stored (compressed) bytes are not what the catalogs list.
        expect(cats.some((c) => catalogHasDigest(c, sha256(b))), name).toBe(false);
      }
    } finally {
      await cab.close();
    }
  }, 60_000);
});

/** A reference, and a target built from it with every token kind. */
function builtCase(): { reference: Uint8Array; target: Uint8Array; patch: Uint8Array } {
  const reference = Uint8Array.from({ length: 300 }, (_, i) => (i * 7 + 3) & 0xff);
  const t: number[] = [];
  const w = new PatchWriter();
  // Literals.
  w.literal(0x41, 0x42, 0x43);
  t.push(0x41, 0x42, 0x43);
  // Source copy: reads reference at the same output index (3..12).
  w.sourceCopy(10);
  for (let i = 3; i < 13; i++) t.push(reference[i]!);
  // Overlapping copy, distance 1, long (length-tree) length: a run.
  w.distance(1, 40);
  for (let i = 0; i < 40; i++) t.push(t[t.length - 1]!);
  // Repeat the last distance (1) with a short length.
  w.repeat(0, 5);
  for (let i = 0; i < 5; i++) t.push(t[t.length - 1]!);
  // A copy that straddles reference and output: distance from pos back into the reference tail.
  const pos = reference.length + t.length;
  const straddle = t.length + 4; // starts 4 bytes before the end of the reference
  w.distance(straddle, 9);
  for (let i = 0; i < 9; i++) {
    const a = pos - straddle + i;
    t.push(a < reference.length ? reference[a]! : t[a - reference.length]!);
  }
  // Signed displacement from the rift-mapped position (the same index in the reference), d = -5.
  const idx = t.length;
  w.displaced(-5, 6);
  for (let i = 0; i < 6; i++) t.push(reference[idx + 5 + i]!);
  // A distance with aligned-offset bits (x >= 10) reading far back into the reference.
  const far = reference.length + t.length - 20;
  w.distance(far, 3);
  for (let i = 0; i < 3; i++) t.push(reference[20 + i]!);
  // A long-number length (>= 264) from distance 2 (overlapping, period 2).
  w.literal(0xe8, 0x01);
  t.push(0xe8, 0x01);
  w.distance(2, 300);
  for (let i = 0; i < 300; i++) t.push(t[t.length - 2]!);
  // Second LRU slot: after distance 2 the LRU is [2, far, ...]; slot 1 gives far again.
  const far2 = far;
  w.repeat(1, 2);
  const at = reference.length + t.length - far2;
  for (let i = 0; i < 2; i++) t.push(at + i < reference.length ? reference[at + i]! : t[at + i - reference.length]!);
  return { reference, target: Uint8Array.from(t), patch: w.finish() };
}

describe('applyDelta on deltas built from the format description', () => {
  it('decodes every token kind, overlapping and straddling copies included, and checks the hash', () => {
    const { reference, target, patch } = builtCase();
    const delta = buildDelta({ targetSize: target.length, hashOf: { alg: 0x800c, target }, patch });
    const r = applyDelta(delta, reference);
    expect(Buffer.from(r.target).toString('hex')).toBe(Buffer.from(target).toString('hex'));
    expect(r.hashChecked).toBe(true);
  });

  it('reads extended distance slots (x >= 36) with aligned bits far back into a large reference', () => {
    const R = 17_000_000;
    const reference = new Uint8Array(R);
    const w = new PatchWriter();
    const want: number[] = [];
    // x = 36 and 39 (2 extended bits), x = 40 (3 bits), x = 48 (4 bits): each copies 4 bytes from R + pos - d.
    for (const d of [300_000, 800_013, 1_100_007, 16_800_001]) {
      const src = R + want.length - d;
      for (let i = 0; i < 4; i++) reference[src + i] = (d + i * 17) & 0xff || 1;
      w.distance(d, 4);
      for (let i = 0; i < 4; i++) want.push(reference[src + i]!);
    }
    const r = applyDelta(buildDelta({ targetSize: want.length, patch: w.finish() }), reference);
    expect([...r.target]).toEqual(want);
  });

  it('PA31 carries the same payload behind its header buffer', () => {
    const { reference, target, patch } = builtCase();
    const delta = buildDelta({ magic: 'PA31', targetSize: target.length, hashOf: { alg: 0x8004, target }, patch });
    const r = applyDelta(delta, reference);
    expect(r.header.format).toBe('PA31');
    expect(sha256(r.target)).toBe(sha256(target));
    expect(r.hashChecked).toBe(true);
  });

  it('a wrong hash is a MismatchError; --no-hash-check (checkHash false) returns the bytes', () => {
    const { reference, target, patch } = builtCase();
    const other = Uint8Array.from(target);
    other[0] ^= 0xff;
    const delta = buildDelta({ targetSize: target.length, hashOf: { alg: 0x8003, target: other }, patch });
    const e = thrown(() => applyDelta(delta, reference));
    expect(e).toBeInstanceOf(MismatchError);
    expect(e.code).toBe('E_DELTA_HASH');
    const r = applyDelta(delta, reference, { checkHash: false });
    expect(sha256(r.target)).toBe(sha256(target));
    expect(r.hashChecked).toBe(false);
  });

  it('undoes E8 translation when flag bit 0 is set, gated on the flag', () => {
    // Output: E8 + absolute target 0x10 at offset 4 becomes relative 0x10 - 4 = 0x0c.
    const abs = [0, 0, 0, 0, 0xe8, 0x10, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const w = new PatchWriter().literal(...abs);
    const on = applyDelta(buildDelta({ targetSize: abs.length, flags: 1, patch: w.finish() }), null);
    expect([...on.target.subarray(4, 9)]).toEqual([0xe8, 0x0c, 0, 0, 0]);
    const off = applyDelta(buildDelta({ targetSize: abs.length, flags: 0, patch: w.finish() }), null);
    expect([...off.target]).toEqual(abs);
  });

  it('undoE8: negative values wrap by the size, out-of-range values stay, operands are skipped, the tail is left', () => {
    const n = 1024;
    const b = new Uint8Array(n);
    const v = new DataView(b.buffer);
    b[0] = 0xe8;
    v.setInt32(1, -3, true); // below -i (i = 0): stays
    b[5] = 0xe8;
    v.setInt32(6, -2, true); // -5 <= -2 < n: becomes -2 + n
    b[10] = 0xe8;
    v.setInt32(11, 5000, true); // >= n: stays
    b[15] = 0xe8;
    v.setInt32(16, 100, true); // becomes 100 - 15
    // Operand e8 10 00 00 (0x10e8 >= n) stays; its own E8 byte must not start a new match (skip by 5).
    b[20] = 0xe8;
    b[21] = 0xe8;
    b[22] = 0x10;
    b[n - 10] = 0xe8; // past n - 11: never translated
    b[n - 9] = 0x10;
    undoE8(b);
    expect(v.getInt32(1, true)).toBe(-3);
    expect(v.getInt32(6, true)).toBe(n - 2);
    expect(v.getInt32(11, true)).toBe(5000);
    expect(v.getInt32(16, true)).toBe(85);
    expect([...b.subarray(20, 26)]).toEqual([0xe8, 0xe8, 0x10, 0, 0, 0]);
    expect([...b.subarray(n - 10, n - 5)]).toEqual([0xe8, 0x10, 0, 0, 0]);
  });

  it('refuses reverse deltas and PE deltas with a preprocess buffer, and PA19', () => {
    const patch = new PatchWriter().literal(1).finish();
    const rev = thrown(() => applyDelta(buildDelta({ fileTypeSet: 0x101, targetSize: 1, patch }), null));
    expect(rev).toBeInstanceOf(UnsupportedError);
    expect([rev.code, rev.message]).toEqual(['E_DELTA_REVERSE', 'unsupported: reverse delta']);
    const pe = thrown(() => applyDelta(buildDelta({ fileTypeSet: 0xf, fileType: 8, targetSize: 1, preprocess: new Uint8Array([1, 2]), patch }), null));
    expect([pe.code, pe.message]).toEqual(['E_DELTA_PE', 'unsupported: PE transforms']);
    // FileType AMD64 with an empty preprocess buffer is plain PseudoLzx.
    expect([...applyDelta(buildDelta({ fileTypeSet: 0xf, fileType: 8, targetSize: 1, patch }), null).target]).toEqual([1]);
  });

  it('unwraps DCN/DCD/DCM signatures by content', () => {
    const delta = buildDelta({ targetSize: 2, patch: new PatchWriter().literal(7, 8).finish() });
    const sig = (s: string): Buffer => Buffer.concat([Buffer.from(s + '\x01', 'latin1'), delta]);
    expect(unwrapDelta(sig('DCN')).kind).toBe('dcn');
    expect(unwrapDelta(sig('DCM')).kind).toBe('dcm');
    expect(isDcmManifest(sig('DCM'))).toBe(true);
    expect(isDcmManifest(sig('DCN'))).toBe(false);
    expect(unwrapDelta(Buffer.concat([Buffer.from('DCD\x01', 'latin1'), Buffer.alloc(8), delta])).kind).toBe('dcd');
    expect([...applyDelta(sig('DCN'), null).target]).toEqual([7, 8]);
    expect(thrown(() => unwrapDelta(Buffer.from('DCM\x01junkjunk', 'latin1'))).code).toBe('E_DELTA_WRAPPER');
    expect(thrown(() => unwrapDelta(Buffer.from('<?xml version="1.0"?>'))).code).toBe('E_DELTA_MAGIC');
  });

  it('a match that reads before the start of the reference or unproduced output is refused', () => {
    const far = applyOrError(new PatchWriter().literal(1).distance(50, 2).finish(), 3, new Uint8Array(10));
    expect(far.code).toBe('E_DELTA_MATCH');
    const lru = applyOrError(new PatchWriter().literal(1).repeat(0, 2).finish(), 3, null);
    expect(lru.code).toBe('E_DELTA_MATCH');
  });

  it('a stream that ends before TargetSize bytes is truncated', () => {
    const e = applyOrError(new PatchWriter().literal(1, 2, 3).finish(), 100, null);
    expect(e.code).toBe('E_TRUNCATED');
    expect(e.message).toContain('patch buffer ended');
  });

  it('Huffman tables refuse incomplete and oversubscribed codes and accept complete ones', () => {
    expect(() => HuffmanTable.fromLengths([1, 2, 2], 'ok')).not.toThrow();
    expect(thrown(() => HuffmanTable.fromLengths([1, 2], 'incomplete')).code).toBe('E_DELTA_HUFFMAN');
    expect(thrown(() => HuffmanTable.fromLengths([1, 1, 1], 'oversubscribed')).code).toBe('E_DELTA_HUFFMAN');
    expect(thrown(() => HuffmanTable.fromLengths([1], 'single')).code).toBe('E_DELTA_HUFFMAN');
    expect(thrown(() => HuffmanTable.fromLengths([17, 1], 'too long')).code).toBe('E_DELTA_HUFFMAN');
  });
});

function applyOrError(patch: Uint8Array, targetSize: number, source: Uint8Array | null): MsuError {
  return thrown(() => applyDelta(buildDelta({ targetSize, patch }), source));
}

describe.skipIf(!hasCorpus)('hostile and mutated deltas', () => {
  it('every deltas/hostile file gives one MsuError (the test timeout bounds the time)', () => {
    for (const f of readdirSync(corpusPath('deltas', 'hostile'))) {
      const e = thrown(() => applyDelta(D('hostile', f), D('sources/cmd.exe'), { maxTargetSize: 1 << 24 }));
      expect(e.kind, f).toBe('input');
    }
  });

  // Mutations of real deltas: each run either succeeds or throws one MsuError; nothing else. A hang would
  // hit the test timeout.
  const MUTATED: [string, string | null][] = [
    ['cmd__to__where__raw.pa30', 'sources/cmd.exe'],
    ['advapi32_raw.pa30', 'sources/advapi32_old.dll'],
    ['triples/raw-apply/delta.pa30', 'triples/raw-apply/source.bin'],
    ['cmd__to__notepad__raw_flag0x20000.pa30', 'sources/cmd.exe'],
    ['advapi32_pe.pa30', 'sources/advapi32_old.dll'],
    ['triples/amd64_kbdwol/delta.pa30', 'triples/amd64_kbdwol/base.bin'],
  ];
  for (const [delta, source] of MUTATED) {
    it(`${delta}: 60 seeded mutations give success or one MsuError`, () => {
      const good = D(delta);
      const src = source ? D(source) : null;
      const rnd = rng(good.length);
      const kinds = new Map<string, number>();
      for (let n = 0; n < 60; n++) {
        const m = Buffer.from(good);
        const mode = n % 3;
        if (mode === 0) for (let k = 0; k < 1 + rnd(4); k++) m[12 + rnd(Math.min(m.length - 12, 400))]! ^= 1 << rnd(8);
        else if (mode === 1) m[rnd(m.length)] = rnd(256);
        const input = mode === 2 ? m.subarray(0, rnd(m.length)) : m;
        try {
          applyDelta(input, src, { maxTargetSize: 1 << 24 });
          kinds.set('ok', (kinds.get('ok') ?? 0) + 1);
        } catch (err) {
          if (!(err instanceof MsuError)) throw new Error(`mutation ${n} of ${delta}: ${String(err)}`);
          kinds.set(err.code, (kinds.get(err.code) ?? 0) + 1);
        }
      }
      expect([...kinds.values()].reduce((a, b) => a + b, 0)).toBe(60);
      // The mutations reach past the header: into the payload decoder for RAW deltas, to the PE refusal otherwise.
      const deep = ['E_DELTA_HUFFMAN', 'E_DELTA_LENGTHS', 'E_DELTA_MATCH', 'E_TRUNCATED', 'E_DELTA_PE'];
      expect(deep.some((c) => kinds.has(c)), JSON.stringify([...kinds])).toBe(true);
    }, 120_000);
  }
});
