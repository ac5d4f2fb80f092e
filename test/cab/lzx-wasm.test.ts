// The WebAssembly half of the LZX decoder (src/cab/lzx-symbols.c, committed as src/cab/lzx-wasm.ts):
// every branch decodes right, decoders share no state, reset() forgets the code lengths, and a
// Node.js without WebAssembly gets one clear error. test/cab/wasm-build.test.ts checks the build.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LzxDecoder } from '../../src/cab/lzx.js';
import { ensureBuilt, repoRoot } from '../helpers/built-cli.js';
import { lzxBranchData } from '../helpers/lzx-branch-data.js';
import { lzxEncode, type LzxChunk } from '../helpers/lzx-encode.js';
import { rng } from '../helpers/rng.js';

const decodeAll = (d: LzxDecoder, chunks: LzxChunk[]): Buffer =>
  Buffer.concat(chunks.map((c) => Buffer.from(d.decodeBlock(c.bytes, c.cbUncomp))));

/** Text-like data with repeats, so that the encoder makes matches. */
function sample(seed: number, n: number): Uint8Array {
  const rnd = rng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = i > 64 && rnd(4) === 0 ? out[i - 1 - rnd(64)]! : 97 + rnd(20);
  return out;
}

describe('the WebAssembly half of the LZX decoder', () => {
  it('decodes a stream that takes every branch (verbatim, aligned, uncompressed, long codes, ring wrap, E8)', () => {
    const { data, options } = lzxBranchData();
    const chunks = lzxEncode(data, options);
    expect(chunks.length).toBeGreaterThan(1);
    expect(decodeAll(new LzxDecoder(options.windowBits), chunks).equals(Buffer.from(data))).toBe(true);
  });

  it('gives each decoder its own window, tables and code lengths (two streams decoded frame by frame in turn)', () => {
    const a = sample(1, 150_000), b = sample(2, 150_000);
    const ca = lzxEncode(a, { windowBits: 16, blocks: [{ type: 'verbatim', size: 70_000 }, { type: 'aligned', size: 80_000 }] });
    const cb = lzxEncode(b, { windowBits: 16, blocks: [{ type: 'aligned', size: 100_000 }, { type: 'verbatim', size: 50_000 }] });
    const da = new LzxDecoder(16), db = new LzxDecoder(16);
    const outA: Buffer[] = [], outB: Buffer[] = [];
    for (let i = 0; i < Math.max(ca.length, cb.length); i++) {
      if (ca[i]) outA.push(Buffer.from(da.decodeBlock(ca[i]!.bytes, ca[i]!.cbUncomp)));
      if (cb[i]) outB.push(Buffer.from(db.decodeBlock(cb[i]!.bytes, cb[i]!.cbUncomp)));
    }
    expect(Buffer.concat(outA).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.concat(outB).equals(Buffer.from(b))).toBe(true);
  });

  it('starts each folder from zero code lengths after reset()', () => {
    // code lengths are sent as deltas from the previous block's: stale lengths would decode garbage
    const a = sample(3, 80_000), b = sample(4, 80_000);
    const d = new LzxDecoder(17);
    expect(decodeAll(d, lzxEncode(a, { windowBits: 17 })).equals(Buffer.from(a))).toBe(true);
    d.reset();
    expect(decodeAll(d, lzxEncode(b, { windowBits: 17 })).equals(Buffer.from(b))).toBe(true);
  });

  it('says so, once, when Node.js runs without WebAssembly (--jitless)', () => {
    ensureBuilt();
    const lzx = path.join(repoRoot, 'dist/src/cab/lzx.js');
    const r = spawnSync(process.execPath, ['--jitless', '-e', `
      const { LzxDecoder } = require(${JSON.stringify(lzx)});
      try { new LzxDecoder(21); } catch (e) { console.log(e.code + ': ' + e.message); }`], { encoding: 'utf8' });
    expect(r.stdout.trim()).toBe('E_LZX_WASM: LZX decoding needs WebAssembly, which this Node.js process lacks (was it started with --jitless?)');
  }, 120_000);
});
