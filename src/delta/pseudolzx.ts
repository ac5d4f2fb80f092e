import { FormatError } from '../errors.js';
import { BitReader } from './bits.js';
import { HuffmanTable, flatLengths } from './huffman.js';
import { OffsetRift, readRiftTable, type RiftEntry } from './rift.js';

/**
 * The PseudoLzx payload of PA30/PA31 deltas (docs/delta.md): LZ77 over one virtual address space in
 * which the reference occupies [0, R) and the output [R, R + TargetSize), with canonical Huffman
 * codes that may change per segment, a 3-entry LRU of distances, and "source copies" that read the
 * reference at the rift-mapped position.
 *
 * Work is bounded by TargetSize: every token produces at least one byte, every read is bounded by the
 * patch buffer, and the only allocation sized by the input is the output the caller allowed.
 */

const LITERALS = 256;
const MAIN_SYMBOLS = 600;
const LENGTH_SYMBOLS = 256;
const ALIGNED_SYMBOLS = 16;
const ALL_LENGTHS = MAIN_SYMBOLS + LENGTH_SYMBOLS + ALIGNED_SYMBOLS;
const PRETREE_SYMBOLS = 39;
/** More segments than this is taken as hostile (no real delta comes near it). */
export const MAX_SEGMENTS = 1024;

const SLOT_SOURCE_COPY = 3;
const SLOT_LRU0 = 4;
const SLOT_EXTENDED = 7;

interface Segment {
  /** Virtual position at which this segment's codes take effect. */
  start: number;
  lengths: Uint8Array;
  codes?: { main: HuffmanTable; length: HuffmanTable; aligned: HuffmanTable };
}

function codesOf(seg: Segment, k: number): NonNullable<Segment['codes']> {
  if (!seg.codes) {
    const l = seg.lengths;
    const name = `segment ${k}`;
    seg.codes = {
      main: HuffmanTable.fromLengths(l.subarray(0, MAIN_SYMBOLS), `${name} main tree`),
      length: HuffmanTable.fromLengths(l.subarray(MAIN_SYMBOLS, MAIN_SYMBOLS + LENGTH_SYMBOLS), `${name} length tree`),
      aligned: HuffmanTable.fromLengths(l.subarray(MAIN_SYMBOLS + LENGTH_SYMBOLS), `${name} aligned-offset tree`),
    };
  }
  return seg.codes;
}

function simpleLengths(): Uint8Array {
  const out = new Uint8Array(ALL_LENGTHS);
  out.set(flatLengths(MAIN_SYMBOLS), 0);
  out.set(flatLengths(LENGTH_SYMBOLS), MAIN_SYMBOLS);
  out.set(flatLengths(ALIGNED_SYMBOLS), MAIN_SYMBOLS + LENGTH_SYMBOLS);
  return out;
}

/** One segment's 872 lengths, pretree-coded and delta-coded against the previous segment's. */
function readSegmentLengths(r: BitReader, pretree: HuffmanTable, prev: Uint8Array, k: number): Uint8Array {
  const what = `segment ${k} code lengths`;
  const out = new Uint8Array(ALL_LENGTHS);
  let last = 0;
  let i = 0;
  const bad = (m: string): FormatError => r.invalid('E_DELTA_LENGTHS', `${what}: ${m}`);
  while (i < ALL_LENGTHS) {
    const s = pretree.decode(r);
    r.check(what);
    if (s <= 16) {
      out[i++] = last = s;
    } else if (s <= 22) {
      const v = s <= 19 ? prev[i]! + (s - 16) : prev[i]! - (s - 19);
      if (v < 0 || v > 16) throw bad(`length ${v} at symbol ${i} is out of range`);
      out[i++] = last = v;
    } else {
      const c = (s - 23) & 7;
      const count = c < 3 ? c + 1 : (1 << (c - 1)) | r.bits(c - 1, what);
      if (i + count > ALL_LENGTHS) throw bad(`a run of ${count} passes the end of the ${ALL_LENGTHS} lengths`);
      if (s <= 30) {
        out.fill(last, i, i + count);
      } else {
        out.set(prev.subarray(i, i + count), i);
        last = out[i + count - 1]!;
      }
      i += count;
    }
  }
  return out;
}

export interface PseudoLzxOptions {
  /** Rift supplied by the caller (PE preprocessing); empty for RAW deltas. */
  callerRift?: RiftEntry[];
  /** Offset of the patch buffer in the delta file, for messages. */
  base?: number;
}

/** Decode a PseudoLzx patch buffer against `reference` into exactly `targetSize` bytes. */
export function decodePseudoLzx(
  patch: Uint8Array,
  reference: Uint8Array,
  targetSize: number,
  opts: PseudoLzxOptions = {},
): Uint8Array {
  const r = new BitReader(patch, 'patch buffer', opts.base ?? 0);
  const R = reference.length;

  const patchRift = readRiftTable(r, 'patch rift table');
  const entries = [...(opts.callerRift ?? []), ...patchRift].sort((a, b) => a.source - b.source);
  entries.push({ source: R, target: 0 });
  const rift = new OffsetRift(entries);

  const segments: Segment[] = [];
  if (r.bit('format bit') === 1) {
    segments.push({ start: R, lengths: simpleLengths() });
  } else {
    const nseg = r.number('segment count', MAX_SEGMENTS);
    if (nseg === 0) throw r.invalid('E_DELTA_SEGMENTS', 'composite format with no segment');
    let start = 0;
    const starts: number[] = [];
    for (let k = 0; k < nseg; k++) {
      start += r.number('segment start');
      if (!Number.isSafeInteger(start)) throw r.invalid('E_DELTA_SEGMENTS', `segment ${k} start is out of range`);
      starts.push(start);
    }
    const pl = new Uint8Array(PRETREE_SYMBOLS);
    for (let i = 0; i < PRETREE_SYMBOLS; i++) pl[i] = r.bits(4, 'pretree lengths');
    const pretree = HuffmanTable.fromLengths(pl, 'pretree');
    let prev: Uint8Array = new Uint8Array(ALL_LENGTHS);
    for (let k = 0; k < nseg; k++) {
      prev = readSegmentLengths(r, pretree, prev, k);
      segments.push({ start: starts[k]!, lengths: prev });
    }
  }

  const out = new Uint8Array(targetSize);
  const end = R + targetSize;
  let pos = R;
  let seg = 0;
  let { main, length: lengthTree, aligned } = codesOf(segments[0]!, 0);
  let nextSegment = segments.length > 1 ? segments[1]!.start : Infinity;
  let lru0 = 0;
  let lru1 = 0;
  let lru2 = 0;

  /** Copy len bytes from virtual address src to the output at pos; src may straddle R and overlap. */
  const copy = (src: number, len: number, at: number): void => {
    if (src < 0 || src >= at || !Number.isSafeInteger(src)) {
      throw new FormatError('E_DELTA_MATCH', `match at output byte ${at - R} reads virtual address ${src}, outside [0, ${at})`, {
        where: r.where(),
      });
    }
    let d = at - R;
    if (src >= R) {
      const s = src - R;
      if (s + len <= d && len > 32) out.copyWithin(d, s, s + len);
      else for (let k = 0; k < len; k++) out[d + k] = out[s + k]!;
      return;
    }
    const fromRef = Math.min(len, R - src);
    if (fromRef > 32) out.set(reference.subarray(src, src + fromRef), d);
    else for (let k = 0; k < fromRef; k++) out[d + k] = reference[src + k]!;
    d += fromRef;
    // The rest reads output from its start, byte by byte (it may overlap what it writes).
    for (let k = 0; k < len - fromRef; k++) out[d + k] = out[k]!;
  };

  while (pos < end) {
    while (pos >= nextSegment) {
      seg++;
      nextSegment = seg + 1 < segments.length ? segments[seg + 1]!.start : Infinity;
      if (pos < nextSegment) ({ main, length: lengthTree, aligned } = codesOf(segments[seg]!, seg));
    }
    const sym = main.decode(r);
    if (sym < LITERALS) {
      r.check('literal');
      out[pos - R] = sym;
      pos++;
      continue;
    }
    const s = sym - LITERALS;
    const lenSlot = s & 7;
    const offSlot = s >> 3;
    let distance: number;
    let sourceCopy = false;
    if (offSlot < SLOT_SOURCE_COPY) {
      let d: number;
      if (offSlot === 0) {
        d = r.bits(14, 'displacement') - 0x2000;
      } else if (offSlot === 1) {
        const v = r.bits(16, 'displacement');
        d = v < 0x8000 ? v - 0xa000 : v - 0x6000;
      } else {
        const v = r.bits(18, 'displacement');
        d = v >= 0x20000 ? v - 0x16000 : v - 0x2a000;
      }
      distance = d - rift.offset(pos);
    } else if (offSlot === SLOT_SOURCE_COPY) {
      distance = -rift.offset(pos);
      sourceCopy = true;
    } else if (offSlot < SLOT_EXTENDED) {
      distance = offSlot === SLOT_LRU0 ? lru0 : offSlot === SLOT_LRU0 + 1 ? lru1 : lru2;
    } else {
      let x: number;
      if (offSlot === SLOT_EXTENDED) {
        if (r.bit('extended slot') === 0) x = 36 + r.bits(2, 'extended slot');
        else if (r.bit('extended slot') === 0) x = 40 + r.bits(3, 'extended slot');
        else x = 48 + r.bits(4, 'extended slot');
      } else {
        x = offSlot - SLOT_EXTENDED;
      }
      if (x <= 3) distance = x;
      else {
        const base = 2 + (x & 1);
        const h = (x >> 1) - 1;
        // h <= 30, so base << (h - 4) stays below 2^31; the final * 16 is done in doubles.
        if (h < 4) distance = (base << h) + r.bits(h, 'distance');
        else distance = ((base << (h - 4)) + r.bits(h - 4, 'distance')) * 16 + aligned.decode(r);
      }
    }

    let len: number;
    if (lenSlot !== 0) len = lenSlot + 1;
    else {
      const t = lengthTree.decode(r);
      r.check('match length');
      len = t >= 1 ? t + 8 : r.longNumber('long match length') + 8;
    }
    r.check('match');
    if (len > end - pos) len = end - pos;

    // Full LRU of distances, updated after every match (source copies and LRU hits included).
    if (lru0 !== distance) {
      const old1 = lru1;
      lru1 = lru0;
      lru0 = distance;
      if (old1 !== distance) lru2 = old1;
    }

    if (sourceCopy) {
      // Re-anchor at every rift breakpoint inside the copy.
      let p = pos;
      const stop = pos + len;
      while (p < stop) {
        const run = Math.min(stop, rift.nextBreak(p)) - p;
        copy(p + rift.offset(p), run, p);
        p += run;
      }
    } else {
      copy(pos - distance, len, pos);
    }
    pos += len;
  }
  return out;
}
