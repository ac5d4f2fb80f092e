import { FormatError } from '../errors.js';
import type { BitReader } from './bits.js';
import { HuffmanTable } from './huffman.js';

/**
 * Rift tables (docs/delta.md): a piecewise-constant map of positions, stored as (source, target)
 * pairs; a position x at or after entry.source (and before the next entry) maps to
 * x + (target - source). Values are read through an IntFormat, a Huffman code over 252 symbols
 * (0..125 non-negative magnitudes, 126..251 negative ones).
 */
export interface RiftEntry {
  source: number;
  target: number;
}

const INT_SYMBOLS = 252;
const HALF = 126;
/** Rift values beyond 2^52 do not occur in files of any size we can hold; refusing them keeps arithmetic exact. */
const MAX_MAGNITUDE_INDEX = 2 * (52 + 1) + 1;

export class IntFormat {
  private constructor(private readonly code: HuffmanTable) {}

  /** The unserialised default: length 7 for symbols 0..3, 8 for the other 248. */
  static default(): IntFormat {
    const lengths = new Uint8Array(INT_SYMBOLS).fill(8);
    lengths.fill(7, 0, 4);
    return new IntFormat(HuffmanTable.fromLengths(lengths, 'default IntFormat'));
  }

  /**
   * Serialised form: 8-bit counts npos, nneg, ndef; npos then nneg 4-bit lengths (value + 1) for the
   * first positive and negative symbols; one 4-bit default length d (value + 1). The remaining
   * positive, then negative, symbols take d while the ndef budget lasts, then d - 1.
   */
  static read(r: BitReader, what: string): IntFormat {
    const npos = r.bits(8, `${what} positive count`);
    const nneg = r.bits(8, `${what} negative count`);
    let ndef = r.bits(8, `${what} default count`);
    if (npos > HALF || nneg > HALF) {
      throw r.invalid('E_DELTA_RIFT', `${what}: ${npos} positive / ${nneg} negative lengths, at most ${HALF} each`);
    }
    const lengths = new Uint8Array(INT_SYMBOLS);
    for (let i = 0; i < npos; i++) lengths[i] = r.bits(4, `${what} lengths`) + 1;
    for (let i = 0; i < nneg; i++) lengths[HALF + i] = r.bits(4, `${what} lengths`) + 1;
    const d = r.bits(4, `${what} default length`) + 1;
    for (let i = npos; i < HALF; i++) lengths[i] = ndef-- > 0 ? d : d - 1;
    for (let i = HALF + nneg; i < INT_SYMBOLS; i++) lengths[i] = ndef-- > 0 ? d : d - 1;
    return new IntFormat(HuffmanTable.fromLengths(lengths, what));
  }

  /** One value: magnitude index m <= 3 is m; else ((2 + (m & 1)) << ((m >> 1) - 1)) | extra bits. Negative symbols give ~v. */
  value(r: BitReader, what: string): number {
    const s = this.code.decode(r);
    r.check(what);
    const neg = s >= HALF;
    const m = neg ? s - HALF : s;
    let v: number;
    if (m <= 3) v = m;
    else {
      if (m > MAX_MAGNITUDE_INDEX) throw r.invalid('E_DELTA_RIFT', `${what}: value too large (magnitude symbol ${m})`);
      const half = (m >> 1) - 1;
      v = (2 + (m & 1)) * 2 ** half + Number(r.bitsBig(half, what));
    }
    return neg ? -v - 1 : v;
  }
}

/** Read a rift table: a presence bit, then two IntFormats, a Number of entries and the delta-coded pairs. Sorted by source. */
export function readRiftTable(r: BitReader, what: string): RiftEntry[] {
  if (r.bit(`${what} presence bit`) === 0) return [];
  const sf = IntFormat.read(r, `${what} source IntFormat`);
  const tf = IntFormat.read(r, `${what} target IntFormat`);
  // Every pair costs at least two bits, so the bits left bound the count before anything is allocated.
  const n = r.number(`${what} entry count`, Math.max(0, r.bitsLeft >> 1));
  const out: RiftEntry[] = [];
  let src = 0;
  let dt = 0;
  for (let i = 0; i < n; i++) {
    src += sf.value(r, `${what} entry`);
    dt += tf.value(r, `${what} entry`);
    if (!Number.isSafeInteger(src) || !Number.isSafeInteger(src + dt)) {
      throw new FormatError('E_DELTA_RIFT', `${what}: entry ${i} is out of range`, { where: r.where() });
    }
    out.push({ source: src, target: src + dt });
  }
  return out.sort((a, b) => a.source - b.source);
}

/**
 * The decoder's view of a rift: offset(pos) is the offset of the last breakpoint at or before pos;
 * below the first breakpoint it wraps to the last entry's offset.
 */
export class OffsetRift {
  /** Breakpoint positions, ascending; positions[0] is -Infinity (the wrap entry). */
  private readonly positions: number[];
  private readonly offsets: number[];

  constructor(entries: RiftEntry[]) {
    const last = entries[entries.length - 1];
    this.positions = [-Infinity];
    this.offsets = [last ? last.target - last.source : 0];
    for (const e of entries) {
      this.positions.push(e.source);
      this.offsets.push(e.target - e.source);
    }
  }

  /** Index of the last breakpoint <= pos. */
  private index(pos: number): number {
    const p = this.positions;
    let lo = 0;
    let hi = p.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (p[mid]! <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  offset(pos: number): number {
    return this.offsets[this.index(pos)]!;
  }

  /** First breakpoint strictly after pos (Infinity when none). */
  nextBreak(pos: number): number {
    const p = this.positions;
    let i = this.index(pos) + 1;
    while (i < p.length && p[i]! <= pos) i++;
    return i < p.length ? p[i]! : Infinity;
  }
}
