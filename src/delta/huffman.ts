import { FormatError } from '../errors.js';
import type { BitReader } from './bits.js';

/** Longest code the delta format allows. */
export const MAX_CODE_LENGTH = 16;
const PRIMARY_BITS = 10;

/**
 * A decoding table for the delta format's canonical Huffman code (docs/delta.md): "left-leaning",
 * i.e. code values are assigned from the longest length up, so longer codes are numerically smaller;
 * within a length, symbols take consecutive values in increasing order. Codes are sent top bit first
 * inside the LSB-first stream, so the table is indexed by the bit-reversed code (as for DEFLATE).
 *
 * Two levels: a 2^10 primary table; longer codes go through a per-prefix subtable. Entries are
 * `symbol << 5 | length`; a negative primary entry is `~(subtableOffset << 5 | subtableBits)`;
 * 0 means "no code" (only in an empty table).
 */
export class HuffmanTable {
  private constructor(
    private readonly table: Int32Array,
    /** No symbol has a non-zero length: any decode is an error. */
    readonly empty: boolean,
    private readonly name: string,
  ) {}

  /**
   * Build from code lengths (0 = unused). The code must be complete (Kraft sum exactly 1) or empty;
   * an incomplete or oversubscribed code is a FormatError, as msdelta refuses them.
   */
  static fromLengths(lengths: ArrayLike<number>, name: string): HuffmanTable {
    const n = lengths.length;
    const count = new Int32Array(MAX_CODE_LENGTH + 1);
    let maxLen = 0;
    for (let s = 0; s < n; s++) {
      const l = lengths[s]!;
      if (l > MAX_CODE_LENGTH || l < 0) throw new FormatError('E_DELTA_HUFFMAN', `${name}: code length ${l} is out of range`);
      count[l]!++;
      if (l > maxLen) maxLen = l;
    }
    if (maxLen === 0) return new HuffmanTable(new Int32Array(1 << PRIMARY_BITS), true, name);

    // Left-leaning bases, from the longest length down; every level must pair up exactly.
    const base = new Int32Array(MAX_CODE_LENGTH + 2);
    let acc = 0;
    for (let l = maxLen; l >= 1; l--) {
      base[l] = acc;
      const used = acc + count[l]!;
      if (l > 1 && (used & 1) !== 0) throw new FormatError('E_DELTA_HUFFMAN', `${name}: the code lengths do not form a complete code`);
      acc = used >> 1;
      if (l === 1 && used !== 2) throw new FormatError('E_DELTA_HUFFMAN', `${name}: the code lengths do not form a complete code`);
    }

    // Assign codes and their bit-reversed table index.
    const next = base.slice();
    const codes = new Int32Array(n);
    for (let s = 0; s < n; s++) {
      const l = lengths[s]!;
      if (l) codes[s] = reverse(next[l]!++, l);
    }

    const primaryBits = Math.min(PRIMARY_BITS, maxLen);
    const pmask = (1 << primaryBits) - 1;
    // Size subtables: longest code under each primary prefix.
    const subBits = new Int32Array(1 << primaryBits);
    for (let s = 0; s < n; s++) {
      const l = lengths[s]!;
      if (l > primaryBits) {
        const p = codes[s]! & pmask;
        if (l - primaryBits > subBits[p]!) subBits[p] = l - primaryBits;
      }
    }
    let size = 1 << primaryBits;
    const subOffset = new Int32Array(1 << primaryBits);
    for (let p = 0; p <= pmask; p++) {
      if (subBits[p]!) {
        subOffset[p] = size;
        size += 1 << subBits[p]!;
      }
    }
    // Pad to PRIMARY_BITS so decode can always mask with the full primary width.
    const table = new Int32Array(Math.max(size, 1 << PRIMARY_BITS) + (1 << PRIMARY_BITS));
    for (let p = 0; p <= pmask; p++) if (subBits[p]!) table[p] = ~((subOffset[p]! << 5) | subBits[p]!);
    for (let s = 0; s < n; s++) {
      const l = lengths[s]!;
      if (!l) continue;
      const c = codes[s]!;
      const entry = (s << 5) | l;
      if (l <= primaryBits) {
        for (let i = c; i <= pmask; i += 1 << l) table[i] = entry;
      } else {
        const p = c & pmask;
        const sb = subBits[p]!;
        const off = subOffset[p]!;
        for (let i = c >>> primaryBits; i < 1 << sb; i += 1 << (l - primaryBits)) table[off + i] = entry;
      }
    }
    if (primaryBits < PRIMARY_BITS) {
      // Replicate so an index with higher bits set still lands on the entry for its low bits.
      for (let i = 1 << primaryBits; i < 1 << PRIMARY_BITS; i++) table[i] = table[i & pmask]!;
    }
    return new HuffmanTable(table, false, name);
  }

  /** Decode one symbol; the caller checks the reader's bound (r.check) once per token. */
  decode(r: BitReader): number {
    const v = r.peek24();
    const t = this.table;
    let e = t[v & ((1 << PRIMARY_BITS) - 1)]!;
    if (e < 0) {
      const link = ~e;
      e = t[(link >>> 5) + ((v >>> PRIMARY_BITS) & ((1 << (link & 31)) - 1))]!;
    }
    if (e === 0) throw r.invalid('E_DELTA_HUFFMAN', `${this.name}: no code for the next bits (the table is empty)`);
    r.consume(e & 31);
    return e >>> 5;
  }
}

const REV8 = Uint8Array.from({ length: 256 }, (_, b) => {
  let r = 0;
  for (let i = 0; i < 8; i++) r |= ((b >> i) & 1) << (7 - i);
  return r;
});

/** The low `len` (<= 16) bits of `code`, reversed. */
function reverse(code: number, len: number): number {
  return ((REV8[code & 0xff]! << 8) | REV8[(code >>> 8) & 0xff]!) >>> (16 - len);
}

/** Flat code lengths for an alphabet of n symbols: b = bitlength(n-1); the first 2^b - n get b-1, the rest b. */
export function flatLengths(n: number): Uint8Array {
  const b = 32 - Math.clz32(n - 1);
  const short = (1 << b) - n;
  const out = new Uint8Array(n);
  for (let s = 0; s < n; s++) out[s] = s < short ? b - 1 : b;
  return out;
}
