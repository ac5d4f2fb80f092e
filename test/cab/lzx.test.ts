import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { LzxDecoder, LzxError, undoE8Translation } from '../../src/cab/lzx.js';
import { MsuError, UnsupportedError } from '../../src/errors.js';
import { BufferSource } from '../../src/util/source.js';
import { walkCab } from '../helpers/cab-walk.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import {
  applyE8Translation,
  buildLzxCab,
  canonicalCodes,
  FRAME,
  LzxBitWriter,
  lzxEncode,
  type LzxChunk,
  type LzxEncodeOptions,
} from '../helpers/lzx-encode.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

function decodeChunks(windowBits: number, chunks: LzxChunk[], dec = new LzxDecoder(windowBits)): Uint8Array {
  dec.reset();
  return concat(
    chunks.map((c) => {
      const out = dec.decodeBlock(c.bytes, c.cbUncomp);
      expect(out.length).toBe(c.cbUncomp);
      return out.slice(); // the decoder reuses its output buffer
    }),
  );
}

/** Deterministic xorshift PRNG so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function randomBytes(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

/** Text-like data: words from a small vocabulary with occasional far repeats of whole stretches. */
function structured(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const words = ['servicing', 'package', 'assemblyIdentity', 'amd64', ' ', '\r\n', 'version="6.1.7601.', '<file name="', 'x'];
  const b = new Uint8Array(n);
  let i = 0;
  while (i < n) {
    if (i > 40000 && r() % 50 === 0) {
      // A long copy from far back (exercises large offsets, the length tree and the ring wrap for 2^15).
      const from = r() % (i - 30000);
      const len = Math.min(300 + (r() % 2000), n - i);
      for (let k = 0; k < len; k++) b[i + k] = b[from + k]!;
      i += len;
      continue;
    }
    const wd = words[r() % words.length]!;
    for (let k = 0; k < wd.length && i < n; k++) b[i++] = wd.charCodeAt(k);
    if (r() % 7 === 0 && i < n) b[i++] = 0x30 + (r() % 10);
  }
  return b;
}

/** x86-flavoured bytes: many 0xE8 opcodes followed by small relative displacements (forward and back). */
function x86ish(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  const b = new Uint8Array(n);
  const dv = new DataView(b.buffer);
  let i = 0;
  while (i < n) {
    if (i + 5 <= n && r() % 4 === 0) {
      b[i] = 0xe8;
      dv.setInt32(i + 1, (r() % 200000) - 100000, true);
      i += 5;
    } else {
      b[i++] = [0x48, 0x89, 0x8b, 0xc3, 0x90, 0x00, 0xff][r() % 7]!;
    }
  }
  return b;
}

function roundTrip(data: Uint8Array, opts: LzxEncodeOptions): LzxChunk[] {
  const chunks = lzxEncode(data, opts);
  const out = decodeChunks(opts.windowBits, chunks);
  expect(out.length).toBe(data.length);
  // Compare by hash first so a failure does not print megabytes.
  expect(sha256(out)).toBe(sha256(data));
  return chunks;
}

describe('LZX decoder on a genuine Microsoft LZX:21 cabinet', () => {
  const cabFile = corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab');

  it.runIf(hasCorpus)('decodes every member byte-for-byte like cabextract', () => {
    const buf = readFileSync(cabFile);
    const cab = walkCab(buf);
    expect(cab.folders).toHaveLength(1);
    expect(cab.folders[0]!.typeCompress).toBe(0x1503); // LZX, window 2^21
    expect(cab.files).toHaveLength(23);

    const dec = new LzxDecoder(21);
    const folders = cab.folders.map((f) => decodeChunks((f.typeCompress >> 8) & 0x1f, f.data, dec));
    const member = (name: string) => {
      const f = cab.files.find((x) => x.name === name)!;
      return folders[f.iFolder]!.subarray(f.uoffFolderStart, f.uoffFolderStart + f.cbFile);
    };
    // Sizes as cabextract lists them; hashes from cabextract's output (checked below when it is installed).
    expect(member('0').length).toBe(279240);
    expect(member('2').length).toBe(142372);
    expect(sha256(member('0'))).toBe('8edec7a7393c8129ff47f5fa768837e6f3eb361dfb0768dcf55efc1b176f505c');
    expect(sha256(member('2'))).toBe('f1b0b09c98edcffd3f6f56dd987653c5b57769d036f9f231eacf5c31dade4bdc');
    expect(sha256(member('update.mum'))).toBe('bf1a39b2d47dd5356daa40c62677eda547cac320f9d06134320789ea2cfeaf2b');
    expect(new TextDecoder().decode(member('_manifest_.cix.xml').subarray(0, 5))).toBe('<?xml');

    if (!hasTool('cabextract')) {
      skipNote('LZX corpus comparison with cabextract', 'cabextract');
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'lzx-oracle-'));
    try {
      execFileSync('cabextract', ['-q', '-d', dir, cabFile], { stdio: 'ignore' });
      const extracted = readdirSync(dir).sort();
      expect(extracted).toHaveLength(23);
      for (const name of extracted) {
        const want = readFileSync(path.join(dir, name));
        const got = member(name);
        expect({ name, size: got.length, sha: sha256(got) }).toEqual({ name, size: want.length, sha: sha256(want) });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.runIf(hasCorpus)('the real folder uses E8 translation and uncompressed blocks spanning odd-sized frames', () => {
    const cab = walkCab(readFileSync(cabFile));
    const frames = cab.folders[0]!.data;
    expect(frames).toHaveLength(16);
    expect(frames.map((f) => f.bytes.length).filter((n) => n % 2 === 1)).toEqual([32785, 32785]);
    expect(frames[15]!.cbUncomp).toBe(29098);
    // The first bit of the first 16-bit little-endian word is the E8 flag; the translation size follows.
    const b = frames[0]!.bytes;
    const word = (i: number) => b[i]! | (b[i + 1]! << 8);
    expect(word(0) >>> 15).toBe(1);
    const size = (((word(0) & 0x7fff) << 17) | (word(2) << 1) | (word(4) >>> 15)) >>> 0;
    expect(size).toBe(12_000_000);
    expect(decodeChunks(21, frames).length).toBe(15 * FRAME + 29098);
  });
});

describe('LZX decoder round trips through the test encoder', () => {
  for (const windowBits of [15, 16, 21]) {
    it(`window 2^${windowBits}: random data in one verbatim block over several frames`, () => {
      const data = randomBytes(3 * FRAME + 1234, windowBits);
      const chunks = roundTrip(data, { windowBits });
      expect(chunks.map((c) => c.cbUncomp)).toEqual([FRAME, FRAME, FRAME, 1234]);
    });

    it(`window 2^${windowBits}: structured data, verbatim + aligned + uncompressed blocks spanning frames`, () => {
      const data = structured(200_000, 7 + windowBits);
      const chunks = roundTrip(data, {
        windowBits,
        blocks: [
          { type: 'verbatim', size: 50_001 },
          { type: 'aligned', size: 60_000 },
          { type: 'uncompressed', size: 40_001 },
          { type: 'verbatim', size: 20_000 },
          { type: 'aligned', size: 29_998 },
        ],
      });
      expect(chunks).toHaveLength(7);
      // Repetitive data compresses: the matches (not just literals) were exercised.
      const compressed = chunks.reduce((a, c) => a + c.bytes.length, 0);
      expect(compressed).toBeLessThan(data.length / 2);
    });

    it(`window 2^${windowBits}: x86-like data with the E8 header`, () => {
      const data = x86ish(150_000, 99 + windowBits);
      const translated = applyE8Translation(data, 12_000_000);
      expect(sha256(translated)).not.toBe(sha256(data)); // the translation really rewrote call targets
      roundTrip(data, { windowBits, e8TranslationSize: 12_000_000, blocks: [{ type: 'aligned', size: 150_000 }] });
      roundTrip(data, { windowBits, e8TranslationSize: 12_000_000, blocks: [{ type: 'uncompressed', size: 150_000 }] });
    });
  }

  it('cabextract (an independent decoder) accepts what the test encoder emits', () => {
    if (!hasTool('cabextract')) {
      skipNote('LZX test-encoder check with cabextract', 'cabextract');
      return;
    }
    const data = concat([x86ish(70_000, 1), structured(60_000, 2), randomBytes(10_001, 3)]);
    const chunks = lzxEncode(data, {
      windowBits: 17,
      e8TranslationSize: 1_000_000,
      blocks: [
        { type: 'aligned', size: 70_000 },
        { type: 'verbatim', size: 50_000 },
        { type: 'uncompressed', size: 20_001 },
        { type: 'aligned', size: 0 },
      ],
    });
    const dir = mkdtempSync(path.join(tmpdir(), 'lzx-enc-'));
    try {
      const cab = path.join(dir, 'enc.cab');
      writeFileSync(cab, buildLzxCab(17, chunks, [{ name: 'a.bin', size: 100_000 }, { name: 'b.bin', size: 40_001 }]));
      const piped = execFileSync('cabextract', ['-q', '-p', cab], { maxBuffer: 1 << 24 });
      expect(sha256(piped)).toBe(sha256(data));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(sha256(decodeChunks(17, chunks))).toBe(sha256(data));
  });

  it('uncompressed blocks: odd sizes, empty blocks, pad byte in the same or the next frame', () => {
    const data = randomBytes(2 * FRAME + 101, 5);
    for (const oddPadInNextFrame of [false, true]) {
      const chunks = roundTrip(data, {
        windowBits: 16,
        oddPadInNextFrame,
        blocks: [
          { type: 'uncompressed', size: 3 },
          { type: 'uncompressed', size: 0 },
          { type: 'uncompressed', size: FRAME - 3 }, // odd, ends exactly on the frame boundary
          { type: 'verbatim', size: 0 },
          { type: 'uncompressed', size: FRAME + 1 },
          { type: 'verbatim', size: 100 },
        ],
      });
      // The pad byte of the block ending on the first boundary travels with that frame or the next one.
      expect(chunks[0]!.bytes.length % 2).toBe(oddPadInNextFrame ? 1 : 0);
    }
  });

  it('uncompressed block headers that end on a 16-bit boundary take a whole word of padding', () => {
    const data = structured(120_000, 17);
    const blocks: { type: 'verbatim' | 'uncompressed'; size: number }[] = [];
    for (let i = 0, left = data.length; left > 0; i++) {
      const size = Math.min(left, 1000 + ((i * 7919) % 3000));
      blocks.push({ type: i % 2 ? 'uncompressed' : 'verbatim', size });
      left -= size;
    }
    const stats = { fullPads: 0 };
    roundTrip(data, { windowBits: 16, blocks, stats });
    expect(stats.fullPads).toBeGreaterThan(0);
  });

  it('the spec example: "abc" in an uncompressed block', () => {
    // [MS-PATCH] 3: E8 off, type 3, size 3, 4 bits of padding, R0..R2 = 1, "abc", one pad byte.
    const bytes = Uint8Array.from([0x00, 0x30, 0x30, 0x00, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0x61, 0x62, 0x63, 0x00]);
    const dec = new LzxDecoder(15);
    dec.reset();
    expect(new TextDecoder().decode(dec.decodeBlock(bytes, 3))).toBe('abc');
  });

  it('literal-only streams, many blocks re-sending delta-coded trees', () => {
    const data = structured(80_000, 3);
    const blocks = Array.from({ length: 8 }, () => ({ type: 'verbatim' as const, size: 10_000 }));
    roundTrip(data, { windowBits: 17, matches: false, blocks });
    roundTrip(data, { windowBits: 17, blocks });
  });

  it('matches that run across a frame boundary carry into the next frame', () => {
    const unit = randomBytes(1000, 11);
    const data = new Uint8Array(3 * FRAME + 500);
    for (let i = 0; i < data.length; i++) data[i] = unit[i % 1000]!;
    const chunks = roundTrip(data, { windowBits: 15, crossFrames: true });
    expect(chunks.map((c) => c.cbUncomp)).toEqual([FRAME, FRAME, FRAME, 500]);
  });

  it('window 2^15 reuses the ring: back-references wrap past its end', () => {
    const data = structured(5 * FRAME, 21);
    roundTrip(data, { windowBits: 15, blocks: [{ type: 'aligned', size: 5 * FRAME }] });
  });

  it('frames whose compressed input is only a few bytes (decoded entirely from the zero-padded tail copy)', () => {
    // One frame of varied bytes, then repeats of its first 1000 bytes: the later frames compress to a few bytes.
    const data = new Uint8Array(3 * FRAME + 300);
    for (let i = 0; i < FRAME; i++) data[i] = ((i * 7919) >>> 3) & 0xff;
    for (let i = FRAME; i < data.length; i++) data[i] = data[i % 1000]!;
    for (const type of ['verbatim', 'aligned'] as const) {
      const chunks = roundTrip(data, { windowBits: 16, blocks: [{ type, size: data.length }] });
      const sizes = chunks.map((c) => c.bytes.length);
      expect(sizes[0]).toBeGreaterThan(100);
      expect(Math.max(...sizes.slice(1))).toBeLessThan(64);
      expect(sizes[3]).toBeLessThan(10); // below the symbol loop's 10-byte slack: no byte of it is read in place
    }
  });

  it('matches at every offset from 1 to 40 and lengths 2 to 257 (the match copy by words, bytes below 8)', () => {
    // Random bytes with planted repeats: at each spot the next `len` bytes repeat from `off` back
    // (overlapping when off < len), then a random byte ends the match.
    const r = rng(77);
    const lengths = [2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 100, 257];
    const parts: number[] = [];
    for (let i = 0; i < 64; i++) parts.push(r() & 0xff);
    for (let off = 1; off <= 40; off++) {
      for (const len of lengths) {
        for (let k = 0; k < len; k++) parts.push(parts[parts.length - off]!);
        for (let k = 0; k < 3; k++) parts.push(r() & 0xff);
      }
    }
    const data = Uint8Array.from(parts);
    for (const type of ['verbatim', 'aligned'] as const) {
      const chunks = roundTrip(data, { windowBits: 17, blocks: [{ type, size: data.length }] });
      // the planted repeats were coded as matches, not literals
      expect(chunks.reduce((a, c) => a + c.bytes.length, 0)).toBeLessThan(data.length / 4);
    }
  });

  it('a match right after another reaches the ring bytes just past it (offsets of a window less 3..15)', () => {
    // Window 2^15: the second 32 KiB reuse the ring. At each spot a match 50 back ends, and the
    // next bytes repeat from one window less k back: exactly the ring bytes following the first
    // match. A copy that wrote past a match's end would have spoilt them.
    const ws = 1 << 15;
    const data = randomBytes(2 * ws, 91);
    for (let k = 3; k <= 15; k++) {
      const p = ws + 1000 + k * 600;
      for (let i = 0; i < 20; i++) data[p + i] = data[p + i - 50]!;
      for (let i = 20; i < 40; i++) data[p + i] = data[p + i - (ws - k)]!;
    }
    for (const type of ['verbatim', 'aligned'] as const) roundTrip(data, { windowBits: 15, blocks: [{ type, size: data.length }] });
  });

  it('skipBlock decodes a frame into the window only: the frames after skipped ones are the same as with decodeBlock', () => {
    const data = x86ish(5 * FRAME + 700, 12);
    const chunks = lzxEncode(data, { windowBits: 16, e8TranslationSize: 3_000_000, blocks: [{ type: 'aligned', size: data.length }] });
    expect(chunks).toHaveLength(6);
    const dec = new LzxDecoder(16);
    for (let skipped = 0; skipped < chunks.length; skipped++) {
      dec.reset();
      for (const c of chunks.slice(0, skipped)) dec.skipBlock(c.bytes, c.cbUncomp);
      const rest = concat(chunks.slice(skipped).map((c) => dec.decodeBlock(c.bytes, c.cbUncomp).slice()));
      // E8 translation depends on each frame's folder offset: skipped frames still count
      expect(sha256(rest)).toBe(sha256(data.subarray(skipped * FRAME)));
    }
    // and it checks what it decodes
    dec.reset();
    expect(() => dec.skipBlock(chunks[0]!.bytes.subarray(0, 40), FRAME)).toThrow(LzxError);
    expect(() => dec.skipBlock(chunks[0]!.bytes, FRAME)).toThrow(/decoder stopped after an earlier error \(LZX frame 0: compressed data ends early/);
  });

  it('one output buffer serves every frame: a frame stays valid until the next decodeBlock', () => {
    const data = x86ish(70_000, 6);
    const chunks = lzxEncode(data, { windowBits: 16, e8TranslationSize: 70_000 });
    const dec = new LzxDecoder(16);
    dec.reset();
    const first = dec.decodeBlock(chunks[0]!.bytes, chunks[0]!.cbUncomp);
    expect(sha256(first)).toBe(sha256(data.subarray(0, 32768)));
    const second = dec.decodeBlock(chunks[1]!.bytes, chunks[1]!.cbUncomp);
    expect(second.buffer).toBe(first.buffer);
    expect(sha256(second)).toBe(sha256(data.subarray(32768, 65536)));
  });

  it('reset() starts a new folder: the same decoder gives the same bytes twice', () => {
    const data = x86ish(70_000, 4);
    const chunks = lzxEncode(data, { windowBits: 16, e8TranslationSize: 70_000 });
    const dec = new LzxDecoder(16);
    expect(sha256(decodeChunks(16, chunks, dec))).toBe(sha256(data));
    expect(sha256(decodeChunks(16, chunks, dec))).toBe(sha256(data));
  });
});

describe('members read from the middle of an LZX folder', () => {
  it('the frames before the first wanted byte go into the window only, and the members come out the same', async () => {
    const data = x86ish(6 * FRAME + 300, 31);
    const chunks = lzxEncode(data, { windowBits: 16, e8TranslationSize: 2_000_000, blocks: [{ type: 'aligned', size: data.length }] });
    expect(chunks).toHaveLength(7);
    const members = [{ name: 'a', size: 3 * FRAME + 5 }, { name: 'b', size: 2 * FRAME }, { name: 'c', size: FRAME + 295 }];
    const cab = await Cabinet.open(new BufferSource(buildLzxCab(16, chunks, members), 'mid.cab'));
    const member = (name: string) => cab.find(name)!;
    const bytesOf = (name: string) => data.subarray(member(name).uoffFolderStart, member(name).uoffFolderStart + member(name).cbFile);
    const decoded = vi.spyOn(LzxDecoder.prototype, 'decodeBlock');
    const skipped = vi.spyOn(LzxDecoder.prototype, 'skipBlock');
    const runs = vi.spyOn(LzxDecoder.prototype, 'skipRun');
    // frames skipped (one by one or in runs), frames decoded
    const calls = () => {
      const n = [skipped.mock.calls.length + runs.mock.results.reduce((sum, r) => sum + (r.value as { done: number }).done, 0), decoded.mock.calls.length];
      skipped.mockClear();
      runs.mockClear();
      decoded.mockClear();
      return n;
    };
    try {
      // b is in frames 3-5
      expect(sha256(await cab.readFile(member('b')))).toBe(sha256(bytesOf('b')));
      expect(calls()).toEqual([3, 3]);
      const both = await cab.readFiles([member('c'), member('b')]);
      expect([sha256(both.get(member('b'))!), sha256(both.get(member('c'))!)]).toEqual([sha256(bytesOf('b')), sha256(bytesOf('c'))]);
      expect(calls()).toEqual([3, 4]);
      // a starts the folder: nothing to skip
      expect(sha256(await cab.readFile(member('a')))).toBe(sha256(bytesOf('a')));
      expect(calls()).toEqual([0, 4]);
    } finally {
      decoded.mockRestore();
      skipped.mockRestore();
      runs.mockRestore();
    }
  });
});

describe('the 64-bit bit reader hands over to the 16-bit one exactly', () => {
  /** Each frame's bytes, then the error that stopped the folder, if any. */
  function decodeAllFrames(chunks: LzxChunk[], windowBits: number, exactOnly: boolean): string[] {
    const dec = new LzxDecoder(windowBits);
    if (exactOnly) dec.exactReaderOnly();
    const out: string[] = [];
    try {
      for (const c of chunks) out.push(sha256(dec.decodeBlock(c.bytes, c.cbUncomp)));
    } catch (err) {
      if (!(err instanceof LzxError)) throw err;
      out.push(err.message);
    }
    return out;
  }

  /** The frames with frame k's input replaced. */
  const withFrame = (chunks: LzxChunk[], k: number, bytes: Uint8Array): LzxChunk[] =>
    chunks.map((c, i) => (i === k ? { ...c, bytes } : c));

  function compareDamaged(chunks: LzxChunk[], windowBits: number, seed: number): { same: number; errors: number } {
    const r = rng(seed);
    let same = 0, errors = 0;
    const check = (cs: LzxChunk[]): void => {
      const fast = decodeAllFrames(cs, windowBits, false);
      expect(fast).toEqual(decodeAllFrames(cs, windowBits, true));
      same++;
      if (!/^[0-9a-f]{64}$/.test(fast[fast.length - 1]!)) errors++;
    };
    check(chunks);
    for (const k of [0, 1, Math.floor(chunks.length / 2), chunks.length - 1]) {
      const b = chunks[k]!.bytes;
      // every cut of the last 40 bytes: where the 64-bit reader stops and the "ends early" rule applies
      for (let cut = 1; cut <= Math.min(40, b.length); cut++) check(withFrame(chunks, k, b.subarray(0, b.length - cut)));
      // extra bytes after the input, and flipped bits anywhere, more of them near the end
      check(withFrame(chunks, k, Uint8Array.from([...b, 0xff, 0x00, 0x5a])));
      for (let n = 0; n < 30; n++) {
        const d = b.slice();
        const at = n % 2 === 0 ? r() % d.length : Math.max(0, d.length - 1 - (r() % 24));
        d[at] ^= 1 << r() % 8;
        check(withFrame(chunks, k, d));
      }
    }
    return { same, errors };
  }

  it('on encoder data: verbatim, aligned and uncompressed blocks, windows 2^15 to 2^21', () => {
    for (const [windowBits, seed] of [[15, 3], [16, 4], [21, 5]] as const) {
      const data = x86ish(5 * FRAME + 1234, seed);
      const chunks = lzxEncode(data, {
        windowBits, e8TranslationSize: 3_000_000,
        blocks: [{ type: 'aligned', size: 2 * FRAME + 99 }, { type: 'uncompressed', size: 777 }, { type: 'verbatim', size: 3 * FRAME + 358 }],
      });
      const { same, errors } = compareDamaged(chunks, windowBits, seed);
      expect(same).toBeGreaterThan(250);
      expect(errors).toBeGreaterThan(100);
    }
  });

  it('an aligned-offset match of 53 bits, at every bit alignment, with the 16-bit reader and without', () => {
    // window 2^16. Main tree: 'a' 'b' 'c' 1-, 2- and 3-bit codes; slot 30 with length header 7 a
    // 16-bit code. Length tree: symbol 1 a 16-bit code. Aligned tree: symbol 7 the 7-bit code
    // 1111111. So the match takes 16 + 16 + 11 verbatim bits, then 7 bits of aligned code: 53 in
    // all, more than one top-up of the 64-bit buffer guarantees (49), and the 16 bit alignments
    // of the k leading 1-bit literals put every amount the buffer can hold at the match's start.
    const MATCH = 256 + 30 * 8 + 7;
    const main = new Uint8Array(256 + 32 * 8);
    main[0x61] = 1;
    main[0x62] = 2;
    main[0x63] = 3;
    main[MATCH] = 16;
    const lengths = new Uint8Array(249);
    lengths[0] = 1;
    lengths[1] = 16;
    const alignedLens = [1, 2, 3, 4, 5, 6, 7, 7];
    const mainCodes = canonicalCodes(main), lengthCodes = canonicalCodes(lengths), alignedCodes = canonicalCodes(Uint8Array.from(alignedLens));
    const lit = (w: LzxBitWriter, i: number): void => void w.bits(mainCodes[0x61 + (i % 3)]!, main[0x61 + (i % 3)]!);
    for (let k = 5; k < 21; k++) {
      const tail = 100;
      const size = FRAME + k + 10 + tail;
      const w = new LzxBitWriter().bits(0, 1).bits(2, 3).bits(size >> 8, 16).bits(size & 0xff, 8);
      for (const l of alignedLens) w.bits(l, 3);
      writeFlatLengths(w, main, 0, 256);
      writeFlatLengths(w, main, 256, main.length);
      writeFlatLengths(w, lengths, 0, 249);
      const want: number[] = [];
      for (let i = 0; i < FRAME; i++) (lit(w, i), want.push(0x61 + (i % 3)));
      const frame0 = Uint8Array.from(w.align().bytes);
      const w1 = new LzxBitWriter();
      for (let i = 0; i < k; i++) (lit(w1, 0), want.push(0x61));
      // offset = POSITION_BASE[30] - 2 + (verbatim << 3) + aligned = 32766 + 0 + 7
      w1.bits(mainCodes[MATCH]!, 16).bits(lengthCodes[1]!, 16).bits(0, 11).bits(alignedCodes[7]!, 7);
      const at = want.length;
      for (let i = 0; i < 10; i++) want.push(want[at + i - 32773]!);
      for (let i = 0; i < tail; i++) (lit(w1, i + 1), want.push(0x61 + ((i + 1) % 3)));
      const frame1 = Uint8Array.from(w1.align().bytes);
      const chunks = [{ bytes: frame0, cbUncomp: FRAME }, { bytes: frame1, cbUncomp: size - FRAME }];
      for (const exactOnly of [false, true]) {
        const dec = new LzxDecoder(16);
        if (exactOnly) dec.exactReaderOnly();
        const got = concat(chunks.map((c) => dec.decodeBlock(c.bytes, c.cbUncomp).slice()));
        expect(sha256(got), `k ${k}, 16-bit reader only: ${exactOnly}`).toBe(sha256(Uint8Array.from(want)));
      }
    }
  });

  it.runIf(hasCorpus)('on the LZX:21 data of a Microsoft cabinet', () => {
    const frames = walkCab(readFileSync(corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab'))).folders[0]!.data.slice(0, 6);
    const { same, errors } = compareDamaged(frames.map((f) => ({ bytes: f.bytes, cbUncomp: f.cbUncomp })), 21, 6);
    expect(same).toBeGreaterThan(250);
    expect(errors).toBeGreaterThan(100);
  });
});

describe('a run of skipped frames in one call (LzxDecoder.skipRun)', () => {
  /** A member's bytes, or the error reading it gives, as one comparable string. */
  async function outcome(cab: Uint8Array, name: string): Promise<string> {
    try {
      const c = await Cabinet.open(new BufferSource(cab, 'run.cab'));
      const e = c.find(name);
      if (!e) return 'no member';
      return sha256(await c.readFile(e));
    } catch (err) {
      const e = err as MsuError;
      if (!(e instanceof MsuError)) throw err;
      return `${e.code} | ${e.message} | ${e.file} | ${e.where}`;
    }
  }

  /** The same, with the folder decoded frame by frame (skipBlock), as before runs existed. */
  async function frameByFrame(cab: Uint8Array, name: string): Promise<string> {
    const proto = LzxDecoder.prototype as { skipRun?: unknown };
    const skipRun = proto.skipRun;
    proto.skipRun = undefined;
    try {
      return await outcome(cab, name);
    } finally {
      proto.skipRun = skipRun;
    }
  }

  const data = x86ish(14 * FRAME + 700, 77);
  const chunks = lzxEncode(data, {
    windowBits: 15, e8TranslationSize: 1_000_000,
    blocks: [{ type: 'aligned', size: 3 * FRAME + 11 }, { type: 'uncompressed', size: 5 * FRAME + 7 }, { type: 'verbatim', size: 6 * FRAME + 682 }],
  });
  const members = [{ name: 'a', size: 100 }, { name: 'b', size: 9 * FRAME }, { name: 'c', size: 5 * FRAME + 600 }];

  it('is taken for the frames before a wanted member, and gives the same bytes', async () => {
    const runs = vi.spyOn(LzxDecoder.prototype, 'skipRun');
    try {
      const cab = buildLzxCab(15, chunks, members, { checksums: true });
      expect(await outcome(cab, 'c')).toBe(sha256(data.subarray(100 + 9 * FRAME)));
      expect(runs.mock.results.reduce((sum, r) => sum + (r.value as { done: number }).done, 0)).toBe(9);
    } finally {
      runs.mockRestore();
    }
  });

  it('a damaged block before a damaged header: the block\'s error comes first, as frame by frame', async () => {
    const cab = buildLzxCab(15, chunks, members, { checksums: true });
    const dv = new DataView(cab.buffer);
    const blockAt = (k: number): number => {
      let p = dv.getUint32(36, true);
      for (let i = 0; i < k; i++) p += 8 + dv.getUint16(p + 4, true);
      return p;
    };
    cab[blockAt(2) + 8 + 5]! ^= 0x10; // block 2's data: its checksum no longer matches
    dv.setUint16(blockAt(3) + 6, 40000, true); // block 3's cbUncomp is impossible
    const ours = await outcome(cab, 'c');
    expect(ours).toMatch(/checksum mismatch.*CFDATA 2 at offset/);
    expect(ours).toBe(await frameByFrame(cab, 'c'));
    // and the header's error once block 2 is whole again
    cab[blockAt(2) + 8 + 5]! ^= 0x10;
    expect(await outcome(cab, 'c')).toMatch(/cbUncomp 40000 exceeds 32768.*CFDATA 3 at offset/);
  });

  for (const layout of [{ checksums: true }, { checksums: true, cbCFData: 5 }, { checksums: false, cbCFData: 2 }]) {
    it(`gives the same bytes or the same error as frame by frame, on 300 damaged cabinets (${JSON.stringify(layout)})`, async () => {
      const base = buildLzxCab(15, chunks, members, layout);
      const dataStart = new DataView(base.buffer).getUint32(layout.cbCFData ? 40 : 36, true);
      const r = rng(layout.cbCFData ?? 9);
      const kinds = new Map<string, number>();
      for (let k = 0; k < 300; k++) {
        let cab = base.slice();
        const what = k % 5;
        if (what === 4) {
          // cut inside the CFDATA blocks, the header saying so (cbCabinet)
          cab = cab.subarray(0, dataStart + (r() % (cab.length - dataStart)));
          new DataView(cab.buffer, cab.byteOffset).setUint32(8, cab.length, true);
        } else {
          // a CFDATA header field or a byte of the data
          for (let n = 0; n <= what % 3; n++) {
            const at = dataStart + (r() % (cab.length - dataStart));
            cab[at] ^= 1 << r() % 8;
          }
        }
        for (const name of ['b', 'c']) {
          const ours = await outcome(cab, name);
          expect(ours, `mutation ${k}, member ${name}`).toBe(await frameByFrame(cab, name));
          const kind = ours.includes(' | ') ? ours.split(' | ')[1]!.replace(/\b(0x[0-9a-f]+|\d+)\b/g, '#') : 'bytes';
          kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        }
      }
      // the mutations reach the checks a run makes: cut blocks, then bad checksums where there are
      // any (the header fields are covered too), else the decoder's errors
      const seen = [...kinds.keys()].join('\n');
      expect(seen).toMatch(/CFDATA block of # bytes runs past the cabinet end/);
      expect(seen).toMatch(layout.checksums ? /checksum mismatch/ : /LZX frame/);
      expect(kinds.get('bytes')).toBeGreaterThan(0);
    });
  }
});

describe('E8 translation rules', () => {
  it('turns absolute targets back into relative displacements', () => {
    const frame = new Uint8Array(32);
    frame[2] = 0xe8;
    new DataView(frame.buffer).setInt32(3, 1000, true); // absolute 1000, at stream position 100 + 2
    undoE8Translation(frame, 100, 5000);
    expect(new DataView(frame.buffer).getInt32(3, true)).toBe(1000 - 102);
  });

  it('a target of exactly 0 is absolute too', () => {
    const frame = new Uint8Array(32);
    frame[5] = 0xe8; // value 0 at stream position 1000 + 5
    undoE8Translation(frame, 1000, 5000);
    expect(new DataView(frame.buffer).getInt32(6, true)).toBe(-1005);
  });

  it('negative values map by adding the translation size; out-of-range values stay', () => {
    const frame = new Uint8Array(40);
    const dv = new DataView(frame.buffer);
    frame[0] = 0xe8;
    dv.setInt32(1, -10, true); // in range [-pos, size): -10 + 5000
    frame[10] = 0xe8;
    dv.setInt32(11, 5000, true); // == size: untouched
    undoE8Translation(frame, 20, 5000);
    expect(dv.getInt32(1, true)).toBe(4990);
    expect(dv.getInt32(11, true)).toBe(5000);
  });

  it('skips the last 10 bytes, short frames and frames past 2^30', () => {
    const frame = new Uint8Array(20);
    const dv = new DataView(frame.buffer);
    frame[10] = 0xe8; // the last 10 bytes start at index 10
    dv.setInt32(11, 7, true);
    undoE8Translation(frame, 0, 100);
    expect(dv.getInt32(11, true)).toBe(7);
    const short = Uint8Array.from([0xe8, 7, 0, 0, 0, 0, 0, 0, 0, 0]);
    undoE8Translation(short, 0, 100);
    expect(short[1]).toBe(7);
    const late = new Uint8Array(32);
    late[0] = 0xe8;
    late[1] = 7;
    undoE8Translation(late, 0x40000000, 100);
    expect(late[1]).toBe(7);
    undoE8Translation(late, 0x40000000 - 32768, 100);
    expect(new DataView(late.buffer).getInt32(1, true)).toBe(7 - (0x40000000 - 32768));
  });
});

describe('LZX decoder on corrupt input', () => {
  function expectLzxError(fn: () => unknown, message: RegExp): void {
    let caught: unknown;
    try {
      fn();
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(LzxError);
    expect(caught).toBeInstanceOf(MsuError);
    expect((caught as LzxError).code).toBe('E_LZX');
    expect((caught as LzxError).kind).toBe('input');
    expect((caught as LzxError).message).toMatch(message);
  }

  const decodeOne = (bytes: number[] | Uint8Array, outSize: number, windowBits = 16) => {
    const dec = new LzxDecoder(windowBits);
    dec.reset();
    return dec.decodeBlock(Uint8Array.from(bytes), outSize);
  };

  it('rejects windows outside 2^15..2^21', () => {
    expect(() => new LzxDecoder(14)).toThrow(UnsupportedError);
    expect(() => new LzxDecoder(22)).toThrow(/2\^22/);
  });

  for (const type of [0, 4, 5, 6, 7]) {
    it(`block type ${type} is invalid`, () => {
      const w = new LzxBitWriter().bits(0, 1).bits(type, 3).bits(0, 16).bits(100, 8).align();
      expectLzxError(() => decodeOne(w.bytes, 100), new RegExp(`frame 0: invalid block type ${type}`));
    });
  }

  it('an over-subscribed pretree', () => {
    const w = new LzxBitWriter().bits(0, 1).bits(1, 3).bits(0, 16).bits(100, 8);
    for (let i = 0; i < 20; i++) w.bits(1, 4); // twenty 1-bit codes
    w.align();
    expectLzxError(() => decodeOne(w.bytes, 100), /main tree pretree: over-subscribed/);
  });

  it('an over-subscribed main tree (lengths decoded through a valid pretree)', () => {
    const w = new LzxBitWriter().bits(0, 1).bits(1, 3).bits(0, 16).bits(100, 8);
    const main = new Uint8Array(256 + 32 * 8);
    main.fill(1, 0, 3); // three 1-bit codes
    writeFlatLengths(w, main, 0, 256);
    writeFlatLengths(w, main, 256, main.length);
    w.align();
    expectLzxError(() => decodeOne(w.bytes, 100), /main tree: over-subscribed/);
  });

  it('a run of lengths past the end of the tree', () => {
    const w = new LzxBitWriter().bits(0, 1).bits(1, 3).bits(0, 16).bits(100, 8);
    const pre = new Uint8Array(20);
    pre[18] = 1;
    pre[0] = 1;
    const codes = canonicalCodes(pre);
    for (const l of pre) w.bits(l, 4);
    for (let i = 0; i < 5; i++) w.bits(codes[18]!, 1).bits(31, 5); // 5 x 51 zeros = 255
    w.bits(codes[18]!, 1).bits(0, 5); // 20 more: overruns 256
    w.align();
    expectLzxError(() => decodeOne(w.bytes, 100), /main tree: a run of 20 zero lengths overruns the tree \(1 left\)/);
  });

  it('a match offset beyond the data written so far', () => {
    // Main tree with 'a' and one match symbol: slot 5 (base 6, 1 footer bit), length 3.
    const w = new LzxBitWriter().bits(0, 1).bits(1, 3).bits(0, 16).bits(8, 8);
    const slots = 32;
    const main = new Uint8Array(256 + slots * 8);
    main[0x61] = 1;
    const matchSym = 256 + 5 * 8 + 1;
    main[matchSym] = 1;
    writeFlatLengths(w, main, 0, 256);
    writeFlatLengths(w, main, 256, main.length);
    writeFlatLengths(w, new Uint8Array(249), 0, 249);
    const codes = canonicalCodes(main);
    w.bits(codes[0x61]!, 1).bits(codes[matchSym]!, 1).bits(1, 1); // 'a', then offset 6+1-2 = 5 at position 1
    w.align();
    expectLzxError(() => decodeOne(w.bytes, 8), /match offset 5 at folder position 1 reaches before the start/);
  });

  it('a repeated offset at the very first byte (R0 = 1 with nothing written)', () => {
    const w = new LzxBitWriter().bits(0, 1).bits(1, 3).bits(0, 16).bits(8, 8);
    const main = new Uint8Array(256 + 32 * 8);
    main[0x61] = 1;
    main[256] = 1; // slot 0 (R0), length 2
    writeFlatLengths(w, main, 0, 256);
    writeFlatLengths(w, main, 256, main.length);
    writeFlatLengths(w, new Uint8Array(249), 0, 249);
    const codes = canonicalCodes(main);
    w.bits(codes[256]!, 1).align();
    expectLzxError(() => decodeOne(w.bytes, 8), /match offset 1 at folder position 0/);
  });

  it('reading past the two words of zero look-ahead is "ends early", even if those zeros decode to a bad match', () => {
    // Main tree: slot 3 (offset 1) with length header 7 has the 1-bit code 0, 'a' and 'b' 2-bit codes; the
    // length tree gives symbol 0 (length 2 + 7 + 0 = 9) the code 0. So every 2 zero bits are a 9-byte match.
    const frame = (blockSize: number) => {
      const w = new LzxBitWriter().bits(0, 1).bits(1, 3).bits(blockSize >> 8, 16).bits(blockSize & 0xff, 8);
      const main = new Uint8Array(256 + 32 * 8);
      main[256 + 3 * 8 + 7] = 1;
      main[0x61] = 2;
      main[0x62] = 2;
      writeFlatLengths(w, main, 0, 256);
      writeFlatLengths(w, main, 256, main.length);
      const lengths = new Uint8Array(249);
      lengths[0] = 1;
      lengths[1] = 1;
      writeFlatLengths(w, lengths, 0, 249);
      w.bits(canonicalCodes(main)[0x61]!, 2).align(); // 'a', then zero padding: 9-byte matches up to the end
      return Uint8Array.from(w.bytes);
    };
    const input = frame(100);
    expect(input.length).toBe(416);
    // 'a' + 11 matches fill a 100-byte block: the last ones come from the zero look-ahead after the input, so
    // the frame is complete but needed more bytes than it has.
    expectLzxError(() => decodeOne(input, 100), /compressed data ends early: the frame needs 418 bytes, 416 given/);
    // A 12th match from the look-ahead does not fit a 104-byte block: corrupt data, reported as such.
    expectLzxError(() => decodeOne(frame(104), 104), /match of 9 bytes at folder position 100 runs past the end of the verbatim block/);
    // 12 matches fit a 112-byte block and a 13th would not, but decoding it needs a third word past the end:
    // the data ends early (the bogus match is not what is reported).
    expectLzxError(() => decodeOne(frame(112), 112), /compressed data ends early \(416 bytes\)$/);
  });

  it('reset() forgets everything: a reused decoder fails truncated frames exactly like a fresh one', () => {
    // Cuts near the end make the decoder read zeros past the input, which come from a scratch copy of each
    // frame's last bytes; the decoder first leaves other bytes there (an odd-length frame ending in 0xFF).
    const dec = new LzxDecoder(16);
    const first = lzxEncode(randomBytes(3000, 5), { windowBits: 16 })[0]!;
    const odd = concat([first.bytes, Uint8Array.of(0xff)]);
    const outcome = (d: LzxDecoder, bytes: Uint8Array, n: number) => {
      try {
        return sha256(d.decodeBlock(bytes, n));
      } catch (e) {
        return (e as Error).message;
      }
    };
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 20; seed++) {
      const c = lzxEncode(randomBytes(2000 + seed * 100, seed), { windowBits: 16 })[0]!;
      for (let cut = c.bytes.length - 16; cut < c.bytes.length; cut++) {
        const bytes = c.bytes.subarray(0, cut);
        const fresh = new LzxDecoder(16);
        fresh.reset();
        dec.reset();
        expect(sha256(dec.decodeBlock(odd, first.cbUncomp))).toBe(sha256(randomBytes(3000, 5)));
        dec.reset();
        const want = outcome(fresh, bytes, c.cbUncomp);
        expect(outcome(dec, bytes, c.cbUncomp), `seed ${seed}, cut ${cut}`).toBe(want);
        outcomes.add(want.replace(/\d+/g, 'N'));
      }
    }
    // Every cut fails, both ways: zeros read past the end, or bits of a missing byte consumed.
    expect([...outcomes].sort()).toEqual([
      'LZX frame N: compressed data ends early (N bytes)',
      'LZX frame N: compressed data ends early: the frame needs N bytes, N given',
    ]);
  });

  it('bytes after what a frame needs change nothing (they replace the zeros of the look-ahead)', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const data = structured(6000 + seed * 500, seed);
      const c = lzxEncode(data, { windowBits: 16, blocks: [{ type: seed % 2 ? 'aligned' : 'verbatim', size: data.length }] })[0]!;
      for (let extra = 0; extra <= 12; extra++) {
        const d = new LzxDecoder(16);
        d.reset();
        const input = concat([c.bytes, new Uint8Array(extra).fill(0xa5)]);
        expect(sha256(d.decodeBlock(input, c.cbUncomp)), `seed ${seed}, ${extra} extra bytes`).toBe(sha256(data.subarray(0, c.cbUncomp)));
      }
    }
  });

  it('a frame missing only its last byte is "ends early": that byte holds the first bits of the last word', () => {
    // The bit stream is 16-bit little-endian words, most significant bit first: a word's second byte is
    // read first. Cut one byte short, the last word's first bits come from the zero look-ahead; a check
    // in bytes would take the frame as complete and return wrong bytes.
    for (let seed = 1; seed <= 20; seed++) {
      const data = randomBytes(2000 + seed * 100, seed);
      const c = lzxEncode(data, { windowBits: 16 })[0]!;
      const n = c.bytes.length;
      expect(n % 2, `seed ${seed}`).toBe(0);
      const whole = new LzxDecoder(16);
      whole.reset();
      expect(sha256(whole.decodeBlock(c.bytes, c.cbUncomp))).toBe(sha256(data));
      const cut = new LzxDecoder(16);
      cut.reset();
      expectLzxError(() => cut.decodeBlock(c.bytes.subarray(0, n - 1), c.cbUncomp), new RegExp(`ends early: the frame needs ${n} bytes, ${n - 1} given`));
    }
  });

  it('a code the length tree does not have (empty length tree, long match)', () => {
    const w = new LzxBitWriter().bits(0, 1).bits(1, 3).bits(0, 16).bits(300, 8);
    const main = new Uint8Array(256 + 32 * 8);
    main[0x61] = 1;
    main[256 + 7] = 1; // slot 0, length header 7: needs the length tree
    writeFlatLengths(w, main, 0, 256);
    writeFlatLengths(w, main, 256, main.length);
    writeFlatLengths(w, new Uint8Array(249), 0, 249);
    const codes = canonicalCodes(main);
    w.bits(codes[0x61]!, 1).bits(codes[256 + 7]!, 1).bits(0, 16).align();
    expectLzxError(() => decodeOne(w.bytes, 300), /invalid length tree Huffman code/);
  });

  it('truncated frames: every cut of a valid stream fails cleanly and fast', () => {
    const data = structured(40_000, 8);
    const chunks = lzxEncode(data, {
      windowBits: 16,
      blocks: [
        { type: 'verbatim', size: 20_000 },
        { type: 'uncompressed', size: 5_000 },
        { type: 'aligned', size: 15_000 },
      ],
    });
    const first = chunks[0]!;
    const started = Date.now();
    let failures = 0;
    for (let cut = 0; cut < first.bytes.length; cut += Math.max(1, Math.floor(first.bytes.length / 300))) {
      let caught: unknown;
      try {
        decodeOne(first.bytes.subarray(0, cut), first.cbUncomp);
      } catch (e) {
        caught = e;
      }
      expect(caught, `cut at ${cut}`).toBeInstanceOf(LzxError);
      expect((caught as LzxError).message).toMatch(/^LZX frame 0: /);
      failures++;
    }
    expect(failures).toBeGreaterThan(250);
    expect(Date.now() - started).toBeLessThan(10_000);
    // A truncated uncompressed block names what is missing.
    const stored = lzxEncode(randomBytes(1000, 2), { windowBits: 16, blocks: [{ type: 'uncompressed', size: 1000 }] });
    expectLzxError(() => decodeOne(stored[0]!.bytes.subarray(0, 500), 1000), /uncompressed block truncated: 1000 bytes needed at offset 16, 484 left/);
    expectLzxError(() => decodeOne(stored[0]!.bytes.subarray(0, 10), 1000), /R0\.\.R2 need 12 bytes/);
  });

  it('garbage input never hangs and always gives LzxError', () => {
    const r = rng(12345);
    let errors = 0;
    for (let i = 0; i < 300; i++) {
      const junk = randomBytes(50 + (r() % 3000), r());
      try {
        decodeOne(junk, 1 + (r() % FRAME), 15 + (i % 7));
      } catch (e) {
        expect(e).toBeInstanceOf(LzxError);
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(290);
  });

  it('after an error the decoder refuses more frames until reset()', () => {
    const dec = new LzxDecoder(16);
    dec.reset();
    expect(() => dec.decodeBlock(Uint8Array.from([0, 0, 0, 0]), 10)).toThrow(/invalid block type 0/);
    expect(() => dec.decodeBlock(Uint8Array.from([0, 0, 0, 0]), 10)).toThrow(/decoder stopped after an earlier error/);
    dec.reset();
    const ok = lzxEncode(Uint8Array.from([1, 2, 3]), { windowBits: 16 });
    expect(Array.from(dec.decodeBlock(ok[0]!.bytes, 3))).toEqual([1, 2, 3]);
  });

  it('an impossible frame size', () => {
    expectLzxError(() => decodeOne([0, 0], FRAME + 1), /uncompressed size 32769 is outside 0\.\.32768/);
  });
});

/** Send lengths (deltas from all-zero previous lengths) one code per element: simple and always valid. */
function writeFlatLengths(w: LzxBitWriter, lens: Uint8Array, from: number, to: number): void {
  // A complete pretree: 12 codes of 4 bits and 8 of 5 bits.
  const pre = new Uint8Array(20);
  pre.fill(4, 0, 12);
  pre.fill(5, 12, 20);
  const codes = canonicalCodes(pre);
  for (const l of pre) w.bits(l, 4);
  for (let i = from; i < to; i++) {
    const code = (0 - lens[i]! + 17) % 17; // previous lengths are all 0 at folder start
    w.bits(codes[code]!, pre[code]!);
  }
}
