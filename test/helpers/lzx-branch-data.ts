/**
 * About 37 KB of data and how to encode it so that one decode takes every branch of the LZX decoder except
 * its error exits: verbatim, aligned-offset and uncompressed blocks, short, long and repeated matches, near
 * and far offsets, matches across the ring start, E8 call sites (test/cab/lzx-wasm.test.ts decodes it).
 */
import type { LzxEncodeOptions } from './lzx-encode.js';
import { rng } from './rng.js';

const E8_TRANSLATION_SIZE = 12_000_000;

/** Text-like bytes with matches at near, repeated and far distances, short and long, and E8 call sites. */
function mixed(n: number, rnd: (n: number) => number): number[] {
  // the generator's low bits repeat with a short period: choose with its higher bits
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd(xs.length << 10) / 1024)]!;
  const d: number[] = [];
  const distances = [1, 2, 3, 7, 14, 17, 29, 33, 200, 260, 1000, 2500];
  const lengths = [2, 3, 5, 8, 9, 12, 40, 120, 257];
  while (d.length < n) {
    const k = pick([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    if (k < 4 && d.length > 300) {
      const dist = pick(distances);
      const len = pick(lengths);
      for (let j = 0; j < len; j++) d.push(d[d.length - dist]!);
    } else if (k === 4) {
      // call targets that the translation maps forward, backward, past the translation size, or not at all
      const kinds = [rnd(5000), -rnd(200), E8_TRANSLATION_SIZE - rnd(100), 0x7fff0000 + rnd(65536)];
      const v = pick(kinds) | 0;
      d.push(0xe8, v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255);
    } else {
      const len = 1 + rnd(6);
      for (let j = 0; j < len; j++) d.push(32 + rnd(90));
    }
  }
  return d.slice(0, n);
}

export function lzxBranchData(): { data: Uint8Array; options: LzxEncodeOptions } {
  const rnd = rng(1);
  const a = mixed(3000, rnd);
  const b = mixed(3000, rnd);
  const c = mixed(501, rnd);
  // Long repeats up to and past the end of the 32 KB window, so the second frame's matches reach back
  // across the start of the ring and a match crosses the frame boundary.
  const fillerSize = 32768 - 6501 + 2000;
  // (no 0xE8 in it: E8 translation would make every copy differ)
  const unit = a.slice(0, 257).map((x) => (x === 0xe8 ? 0x20 : x));
  const filler: number[] = [];
  while (filler.length < fillerSize) filler.push(...unit);
  const data = Uint8Array.from([...a, ...b, ...c, ...filler.slice(0, fillerSize)]);
  return {
    data,
    options: {
      windowBits: 15,
      e8TranslationSize: E8_TRANSLATION_SIZE,
      blocks: [
        { type: 'verbatim', size: 3000 },
        { type: 'aligned', size: 3000 },
        { type: 'uncompressed', size: 501 },
        { type: 'verbatim', size: data.length - 6501 },
      ],
      crossFrames: true,
      // longer than the decoder's primary tables (11, 12 and 8 bits)
      longestCode: { main: 14, length: 15, pretree: 10 },
    },
  };
}
