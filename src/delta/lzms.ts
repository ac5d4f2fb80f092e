/**
 * LZMS decompression: one independent LZMS stream (a Compression-API chunk, a WIM solid-resource chunk, a
 * PA31 payload). Clean-room, written from the format facts in docs/lzms.md (summarised below).
 *
 * - The compressed bytes are 16-bit little-endian words used from both ends: a range decoder consumes them
 *   from the front, a bitstream (most significant bit of each word first) consumes them from the back.
 * - The range decoder codes binary decisions with adaptive probabilities: each context remembers its last 64
 *   bits, and the probability of a 0 is the number of zeros among them (out of 64, clamped to 1..63).
 * - The bitstream carries five adaptive Huffman codes (literal, LZ offset slot, length slot, delta offset
 *   slot, delta power) and the extra bits of the slots. Each code starts from equal frequencies and is rebuilt
 *   from the accumulated frequencies every 512 or 1024 symbols; the frequencies are then halved.
 * - Items are literals, LZ matches (explicit offset, or one of 3 recent offsets) and delta matches (a power and
 *   an offset, or one of 3 recent pairs). A match enters its recent queue only after the following item.
 * - The output is finally run through the inverse of the x86 filter, which turned relative call/jump/load
 *   displacements into absolute ones where the data looked like x86 code.
 *
 * Work is bounded by outSize: every item produces at least one byte, and exhausted input reads as zeros.
 */
import { FormatError } from '../errors.js';

export class LzmsError extends FormatError {
  constructor(message: string) {
    super('E_LZMS', message);
  }
}

const NUM_LITERAL_SYMS = 256;
const NUM_LENGTH_SYMS = 54;
const NUM_DELTA_POWER_SYMS = 8;
const MAX_NUM_OFFSET_SYMS = 799;
const MAX_CODEWORD_LENGTH = 15;

const LITERAL_REBUILD = 1024;
const LZ_OFFSET_REBUILD = 1024;
const LENGTH_REBUILD = 512;
const DELTA_OFFSET_REBUILD = 1024;
const DELTA_POWER_REBUILD = 512;

const NUM_REPS = 3;

const MAIN_STATES = 16;
const MATCH_STATES = 32;
const LZ_STATES = 64;
const LZ_REP_STATES = 64;
const DELTA_STATES = 64;
const DELTA_REP_STATES = 64;

/** x86 filter: how far back a likely instruction keeps translation on, and the window that detects one. */
const X86_MAX_TRANSLATION_OFFSET = 1023;
const X86_ID_WINDOW_SIZE = 65535;
/** First bytes of the opcodes the x86 filter looks at (a fast skip for everything else). */
const X86_OPCODE = new Uint8Array(256);
for (const b of [0x48, 0x4c, 0xe8, 0xe9, 0xf0, 0xff]) X86_OPCODE[b] = 1;

/*
 * Slot tables. Consecutive slot bases differ by powers of two that never decrease; the format fixes how many
 * slots use each power (run lengths for 2^0, 2^1, ...). The last slot reaches up to a fixed limit.
 */
interface Slots {
  base: Uint32Array;
  extra: Uint8Array;
}

function makeSlots(runs: readonly number[], limit: number, count: number): Slots {
  const base = new Uint32Array(count);
  const extra = new Uint8Array(count);
  let n = 0;
  let value = 0;
  for (let order = 0; order < runs.length; order++) {
    for (let k = 0; k < runs[order]!; k++) {
      value += 2 ** order;
      if (n > 0) extra[n - 1] = order;
      base[n++] = value;
    }
  }
  extra[count - 1] = Math.floor(Math.log2(limit - base[count - 1]!));
  return { base, extra };
}

const OFFSET_SLOTS = makeSlots(
  [9, 0, 9, 7, 10, 15, 15, 20, 20, 30, 33, 40, 42, 45, 60, 73, 80, 85, 95, 105, 6],
  0x7fffffff,
  MAX_NUM_OFFSET_SYMS,
);
const LENGTH_SLOTS = makeSlots([27, 4, 6, 4, 5, 2, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 1], 0x400108ab, NUM_LENGTH_SYMS);

/** Offset slots a buffer of `size` bytes can use: enough to reach offset size - 1. */
export function lzmsNumOffsetSlots(size: number): number {
  if (size < 2) return 1;
  const b = OFFSET_SLOTS.base;
  let lo = 0;
  let hi = MAX_NUM_OFFSET_SYMS - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (b[mid]! <= size - 1) lo = mid;
    else hi = mid - 1;
  }
  return lo + 1;
}

/*
 * Huffman code lengths from frequencies: symbols ordered by (frequency, symbol); the tree built by always
 * joining the two lightest nodes, a leaf winning a tie with an internal node; lengths longer than the maximum
 * pushed up with the Kraft sum repaired; then the lengths handed out again in that order, longest first.
 */
const sortKeys = new Uint32Array(MAX_NUM_OFFSET_SYMS);

function buildLengths(freqs: Uint32Array, n: number, lens: Uint8Array, order: Uint16Array, work: Uint32Array): void {
  // Sort by (frequency, symbol) as one numeric key: frequencies stay far below 2^22, symbols below 2^10.
  const keys = sortKeys.subarray(0, n);
  for (let i = 0; i < n; i++) keys[i] = freqs[i]! * 1024 + i;
  keys.sort();
  for (let i = 0; i < n; i++) order[i] = keys[i]! & 1023;

  // work: [0, n) internal weights, [n, 2n) parent of internal node, [2n, 3n) parent of leaf (by order index)
  const intW = work;
  const intParent = work.subarray(n, 2 * n);
  const leafParent = work.subarray(2 * n, 3 * n);
  let leaf = 0;
  let head = 0;
  for (let k = 0; k < n - 1; k++) {
    let w = 0;
    for (let t = 0; t < 2; t++) {
      if (leaf < n && (head >= k || freqs[order[leaf]!]! <= intW[head]!)) {
        w += freqs[order[leaf]!]!;
        leafParent[leaf++] = k;
      } else {
        w += intW[head]!;
        intParent[head++] = k;
      }
    }
    intW[k] = w;
  }
  // Depths: the root is internal node n-2; children always have smaller indices than their parent.
  const depth = intW; // reuse: weights are no longer needed
  depth[n - 2] = 0;
  for (let k = n - 3; k >= 0; k--) depth[k] = depth[intParent[k]!]! + 1;
  const counts = new Uint32Array(MAX_CODEWORD_LENGTH + 1);
  for (let i = 0; i < n; i++) {
    const d = Math.min(depth[leafParent[i]!]! + 1, MAX_CODEWORD_LENGTH);
    counts[d]!++;
  }
  let kraft = 0;
  for (let l = 1; l <= MAX_CODEWORD_LENGTH; l++) kraft += counts[l]! * 2 ** (MAX_CODEWORD_LENGTH - l);
  while (kraft > 2 ** MAX_CODEWORD_LENGTH) {
    let l = MAX_CODEWORD_LENGTH - 1;
    while (counts[l] === 0) l--;
    counts[l]!--;
    counts[l + 1]! += 2;
    counts[MAX_CODEWORD_LENGTH]!--;
    kraft -= 1;
  }
  let i = 0;
  for (let l = MAX_CODEWORD_LENGTH; l >= 1; l--) {
    for (let c = counts[l]!; c > 0; c--) lens[order[i++]!] = l;
  }
}

/** Primary decode table width: codes up to this many bits decode with one lookup. */
const TABLE_BITS = 10;

/** An adaptive canonical Huffman code (shorter codewords first; same length by symbol). */
class AdaptiveCode {
  readonly n: number;
  private readonly rebuildEvery: number;
  private untilRebuild: number;
  readonly freqs: Uint32Array;
  private readonly lens: Uint8Array;
  private readonly order: Uint16Array;
  private readonly work: Uint32Array;
  /** (symbol << 4) | length for codes of <= TABLE_BITS bits; 0 means "longer code, walk the lengths". */
  readonly table = new Uint32Array(1 << TABLE_BITS);
  /** Canonical decode by length: first codeword, index of its symbol in `sorted`, number of codewords. */
  private readonly first = new Int32Array(MAX_CODEWORD_LENGTH + 2);
  private readonly index = new Int32Array(MAX_CODEWORD_LENGTH + 2);
  private readonly count = new Int32Array(MAX_CODEWORD_LENGTH + 2);
  private readonly sorted: Uint16Array;

  constructor(n: number, rebuildEvery: number) {
    this.n = n;
    this.rebuildEvery = rebuildEvery;
    this.untilRebuild = rebuildEvery;
    this.freqs = new Uint32Array(n).fill(1);
    this.lens = new Uint8Array(n);
    this.order = new Uint16Array(n);
    this.work = new Uint32Array(3 * n);
    this.sorted = new Uint16Array(n);
    this.rebuild();
  }

  private rebuild(): void {
    const { n, lens, freqs } = this;
    if (n === 1) lens[0] = 1;
    else buildLengths(freqs, n, lens, this.order, this.work);
    const count = this.count;
    count.fill(0);
    for (let s = 0; s < n; s++) count[lens[s]!]!++;
    let code = 0;
    let idx = 0;
    for (let l = 1; l <= MAX_CODEWORD_LENGTH; l++) {
      code = (code + (l > 1 ? count[l - 1]! : 0)) << (l > 1 ? 1 : 0);
      this.first[l] = code;
      this.index[l] = idx;
      idx += count[l]!;
    }
    const next = new Int32Array(MAX_CODEWORD_LENGTH + 1);
    for (let l = 1; l <= MAX_CODEWORD_LENGTH; l++) next[l] = this.index[l]!;
    for (let s = 0; s < n; s++) this.sorted[next[lens[s]!]!++] = s;
    const table = this.table;
    table.fill(0);
    for (let l = 1; l <= TABLE_BITS; l++) {
      for (let k = 0; k < count[l]!; k++) {
        const sym = this.sorted[this.index[l]! + k]!;
        const start = (this.first[l]! + k) << (TABLE_BITS - l);
        table.fill((sym << 4) | l, start, start + (1 << (TABLE_BITS - l)));
      }
    }
    for (let s = 0; s < n; s++) freqs[s] = (freqs[s]! >>> 1) + 1;
  }

  /** Symbol for a codeword longer than TABLE_BITS; `peek` holds the next 15 bits. Returns (sym << 4) | len. */
  slowDecode(peek: number): number {
    for (let l = TABLE_BITS + 1; l <= MAX_CODEWORD_LENGTH; l++) {
      const code = peek >>> (MAX_CODEWORD_LENGTH - l);
      const k = code - this.first[l]!;
      if (k < this.count[l]!) return (this.sorted[this.index[l]! + k]! << 4) | l;
    }
    // The codes are built complete, so every 15-bit pattern decodes; reaching here is a bug, not bad input.
    throw new LzmsError('internal error: incomplete adaptive Huffman code');
  }

  /** Count a decoded symbol; rebuild the code when its period is over. */
  used(sym: number): void {
    this.freqs[sym]!++;
    if (--this.untilRebuild === 0) {
      this.rebuild();
      this.untilRebuild = this.rebuildEvery;
    }
  }
}

/** Adaptive probability contexts for one kind of decision: 64-bit histories as two 32-bit halves. */
class Probs {
  readonly zeros: Uint8Array;
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
  state = 0;
  readonly mask: number;
  constructor(n: number) {
    this.mask = n - 1;
    this.zeros = new Uint8Array(n).fill(48);
    this.hi = new Uint32Array(n);
    this.lo = new Uint32Array(n).fill(0x55555555);
  }
}

class LzmsDecoder {
  private readonly data: Uint8Array;
  // range decoder (front)
  private rdPos = 0;
  private range = 0xffffffff;
  private code = 0;
  // bitstream (back)
  private bsPos: number;
  private bitbuf = 0;
  private bitcount = 0;

  constructor(data: Uint8Array) {
    this.data = data;
    this.code = ((data[1]! << 24) | (data[0]! << 16) | (data[3]! << 8) | data[2]!) >>> 0;
    this.rdPos = 4;
    this.bsPos = data.length;
  }

  bit(p: Probs): number {
    if (this.range <= 0xffff) {
      this.range = (this.range << 16) >>> 0;
      let w = 0;
      if (this.rdPos + 2 <= this.data.length) {
        w = this.data[this.rdPos]! | (this.data[this.rdPos + 1]! << 8);
        this.rdPos += 2;
      }
      this.code = ((this.code << 16) | w) >>> 0;
    }
    const s = p.state;
    let prob = p.zeros[s]!;
    if (prob === 0) prob = 1;
    else if (prob === 64) prob = 63;
    const bound = (this.range >>> 6) * prob;
    let bit: number;
    if (this.code < bound) {
      this.range = bound;
      bit = 0;
    } else {
      this.range -= bound;
      this.code -= bound;
      bit = 1;
    }
    const oldest = p.hi[s]! >>> 31;
    p.zeros[s] = p.zeros[s]! + oldest - bit;
    p.hi[s] = ((p.hi[s]! << 1) | (p.lo[s]! >>> 31)) >>> 0;
    p.lo[s] = ((p.lo[s]! << 1) | bit) >>> 0;
    p.state = ((s << 1) | bit) & p.mask;
    return bit;
  }

  /** Make sure at least 16 bits are buffered (zeros past the start of the input). */
  private fill(): void {
    if (this.bitcount < 16) {
      let w = 0;
      if (this.bsPos >= 2) {
        this.bsPos -= 2;
        w = this.data[this.bsPos]! | (this.data[this.bsPos + 1]! << 8);
      }
      this.bitbuf = (this.bitbuf | (w << (16 - this.bitcount))) >>> 0;
      this.bitcount += 16;
    }
  }

  bits(n: number): number {
    if (n === 0) return 0;
    if (n > 16) {
      const high = this.bits(n - 16);
      return high * 65536 + this.bits(16);
    }
    this.fill();
    const v = this.bitbuf >>> (32 - n);
    this.bitbuf = (this.bitbuf << n) >>> 0;
    this.bitcount -= n;
    return v;
  }

  sym(c: AdaptiveCode): number {
    this.fill();
    let e = c.table[this.bitbuf >>> (32 - TABLE_BITS)]!;
    if (e === 0) e = c.slowDecode(this.bitbuf >>> (32 - MAX_CODEWORD_LENGTH));
    const len = e & 15;
    this.bitbuf = (this.bitbuf << len) >>> 0;
    this.bitcount -= len;
    const s = e >>> 4;
    c.used(s);
    return s;
  }
}

/** Decompress one LZMS stream of exactly `outSize` bytes. Corrupt input is an LzmsError, never a hang. */
export function decompressLzms(input: Uint8Array, outSize: number): Uint8Array {
  if (!Number.isSafeInteger(outSize) || outSize < 0) throw new LzmsError(`invalid LZMS output size ${outSize}`);
  const out = new Uint8Array(outSize);
  if (outSize === 0) return out;
  if (input.length < 4 || input.length % 2 !== 0) {
    throw new LzmsError(`LZMS stream of ${input.length} bytes is not a whole number of 16-bit words (at least 2)`);
  }
  const d = new LzmsDecoder(input);
  const numOffsetSyms = lzmsNumOffsetSlots(outSize);
  const literal = new AdaptiveCode(NUM_LITERAL_SYMS, LITERAL_REBUILD);
  const lzOffset = new AdaptiveCode(numOffsetSyms, LZ_OFFSET_REBUILD);
  const length = new AdaptiveCode(NUM_LENGTH_SYMS, LENGTH_REBUILD);
  const deltaOffset = new AdaptiveCode(numOffsetSyms, DELTA_OFFSET_REBUILD);
  const deltaPower = new AdaptiveCode(NUM_DELTA_POWER_SYMS, DELTA_POWER_REBUILD);

  const main = new Probs(MAIN_STATES);
  const match = new Probs(MATCH_STATES);
  const lz = new Probs(LZ_STATES);
  const lzRep = [new Probs(LZ_REP_STATES), new Probs(LZ_REP_STATES)];
  const delta = new Probs(DELTA_STATES);
  const deltaRep = [new Probs(DELTA_REP_STATES), new Probs(DELTA_REP_STATES)];

  // Recent queues hold one entry more than a rep index reaches: a rep match removes its entry at once but
  // re-enters it (at the front) only after the next item.
  const lzQ = [1, 2, 3, 4];
  const dPowQ = [0, 0, 0, 0];
  const dOffQ = [1, 2, 3, 4];
  let pendingLz = 0;
  let pendingDelta = false;
  let pendingPow = 0;
  let pendingOff = 0;

  const readOffset = (c: AdaptiveCode): number => {
    const slot = d.sym(c);
    return OFFSET_SLOTS.base[slot]! + d.bits(OFFSET_SLOTS.extra[slot]!);
  };
  const readLength = (): number => {
    const slot = d.sym(length);
    return LENGTH_SLOTS.base[slot]! + d.bits(LENGTH_SLOTS.extra[slot]!);
  };
  const repIndex = (probs: Probs[]): number => {
    let idx = 0;
    while (idx < NUM_REPS - 1 && d.bit(probs[idx]!) === 1) idx++;
    return idx;
  };

  let pos = 0;
  while (pos < outSize) {
    let newLz = 0;
    let newDelta = false;
    let newPow = 0;
    let newOff = 0;
    if (d.bit(main) === 0) {
      out[pos++] = d.sym(literal);
    } else if (d.bit(match) === 0) {
      let offset: number;
      if (d.bit(lz) === 0) {
        offset = readOffset(lzOffset);
      } else {
        const i = repIndex(lzRep);
        offset = lzQ[i]!;
        for (let j = i; j < NUM_REPS; j++) lzQ[j] = lzQ[j + 1]!;
      }
      const len = readLength();
      if (offset > pos) throw new LzmsError(`LZ match offset ${offset} reaches before the start of the output (at ${pos})`);
      if (len > outSize - pos) throw new LzmsError(`LZ match of ${len} bytes runs past the end of the output (at ${pos})`);
      if (offset >= len) {
        out.copyWithin(pos, pos - offset, pos - offset + len);
      } else if (offset === 1) {
        out.fill(out[pos - 1]!, pos, pos + len);
      } else {
        // Overlapping copy of a period-`offset` pattern: each block copies what is already written, doubling.
        for (let done = 0; done < len; ) {
          const n = Math.min(len - done, done + offset);
          out.copyWithin(pos + done, pos - offset, pos - offset + n);
          done += n;
        }
      }
      pos += len;
      newLz = offset;
    } else {
      let power: number;
      let raw: number;
      if (d.bit(delta) === 0) {
        power = d.sym(deltaPower);
        raw = readOffset(deltaOffset);
      } else {
        const i = repIndex(deltaRep);
        power = dPowQ[i]!;
        raw = dOffQ[i]!;
        for (let j = i; j < NUM_REPS; j++) {
          dPowQ[j] = dPowQ[j + 1]!;
          dOffQ[j] = dOffQ[j + 1]!;
        }
      }
      const len = readLength();
      const span = 2 ** power;
      const offset = raw * span;
      if (offset + span > pos) {
        throw new LzmsError(`delta match (offset ${offset}, span ${span}) reaches before the start of the output (at ${pos})`);
      }
      if (len > outSize - pos) throw new LzmsError(`delta match of ${len} bytes runs past the end of the output (at ${pos})`);
      for (let k = 0; k < len; k++) {
        const p = pos + k;
        out[p] = out[p - span]! + out[p - offset]! - out[p - offset - span]!;
      }
      pos += len;
      newDelta = true;
      newPow = power;
      newOff = raw;
    }
    // The previous item's match enters its queue now, after this item was decoded.
    if (pendingLz !== 0) {
      for (let j = NUM_REPS; j > 0; j--) lzQ[j] = lzQ[j - 1]!;
      lzQ[0] = pendingLz;
    }
    if (pendingDelta) {
      for (let j = NUM_REPS; j > 0; j--) {
        dPowQ[j] = dPowQ[j - 1]!;
        dOffQ[j] = dOffQ[j - 1]!;
      }
      dPowQ[0] = pendingPow;
      dOffQ[0] = pendingOff;
    }
    pendingLz = newLz;
    pendingDelta = newDelta;
    pendingPow = newPow;
    pendingOff = newOff;
  }
  lzmsX86Filter(out, true);
  return out;
}

/*
 * The x86 filter. Scanning from byte 1 to 16 bytes before the end, it recognises opcodes whose 32-bit operand
 * is relative to the instruction: E8 (call), FF 15 (call indirect), 48 8B 05/0D and 48/4C 8D with rm=101
 * (RIP-relative loads and LEA in x86-64), F0 83 05 (lock add). E9 (jmp) is skipped with its operand but never
 * translated. The compressor added the opcode's position to the operand (relative to absolute) when the last
 * "likely x86" position is near enough (1023 bytes, half that for E8); here it is subtracted again. A position
 * is "likely x86" when the low 16 bits of the operand's target were also targeted less than 64 KiB earlier.
 * Targets are computed from the relative (original) operand on both sides, so both see the same history.
 * `undo` false is the compressor's direction (used by tests to build inputs).
 */
export function lzmsX86Filter(data: Uint8Array, undo: boolean): void {
  const size = data.length;
  if (size <= 17) return;
  const lastUse = new Int32Array(65536).fill(-X86_ID_WINDOW_SIZE - 1);
  const end = size - 16;
  let lastX86 = -X86_MAX_TRANSLATION_OFFSET - 1;
  for (let i = 1; i < end; i++) {
    while (i < end && X86_OPCODE[data[i]!] === 0) i++;
    if (i >= end) break;
    let opLen: number;
    let maxOffset = X86_MAX_TRANSLATION_OFFSET;
    switch (data[i]) {
      case 0x48: {
        const b1 = data[i + 1]!;
        const b2 = data[i + 2]!;
        if (b1 === 0x8b ? b2 === 0x05 || b2 === 0x0d : b1 === 0x8d && (b2 & 7) === 5) opLen = 3;
        else continue;
        break;
      }
      case 0x4c:
        if (data[i + 1] === 0x8d && (data[i + 2]! & 7) === 5) opLen = 3;
        else continue;
        break;
      case 0xe8:
        opLen = 1;
        maxOffset >>= 1;
        break;
      case 0xe9:
        i += 4;
        continue;
      case 0xf0:
        if (data[i + 1] === 0x83 && data[i + 2] === 0x05) opLen = 3;
        else continue;
        break;
      case 0xff:
        if (data[i + 1] === 0x15) opLen = 2;
        else continue;
        break;
      default:
        continue;
    }
    const p = i + opLen;
    let target = 0;
    if (!undo) target = (i + (data[p]! | (data[p + 1]! << 8))) & 0xffff;
    if (i - lastX86 <= maxOffset) {
      const v = (data[p]! | (data[p + 1]! << 8) | (data[p + 2]! << 16) | (data[p + 3]! << 24)) + (undo ? -i : i);
      data[p] = v & 0xff;
      data[p + 1] = (v >>> 8) & 0xff;
      data[p + 2] = (v >>> 16) & 0xff;
      data[p + 3] = (v >>> 24) & 0xff;
    }
    if (undo) target = (i + (data[p]! | (data[p + 1]! << 8))) & 0xffff;
    i += opLen + 3;
    if (i - lastUse[target]! <= X86_ID_WINDOW_SIZE) lastX86 = i;
    lastUse[target] = i;
  }
}
