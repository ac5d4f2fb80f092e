/**
 * LZX decompression for cabinet folders (CFFOLDER typeCompress 3, window 2^15..2^21).
 *
 * Written from the format facts in [MS-PATCH] "LZX DELTA Compression and Decompression" and the
 * Microsoft Cabinet/LZX documentation:
 * - the bitstream is a sequence of 16-bit little-endian words whose bits are read most significant first;
 * - a folder starts with one E8-translation bit (then a 32-bit translation size, high 16 bits first);
 * - each block is a 3-bit type (1 verbatim, 2 aligned offset, 3 uncompressed) and a 24-bit size;
 * - Huffman code lengths are sent through a 20-symbol pretree as deltas from the previous block's lengths;
 * - uncompressed blocks realign with 1..16 bits of padding, store R0..R2 as bytes, pad odd data with a byte;
 * - every 32 KB of output ("frame", one CFDATA in a cabinet) the bitstream is realigned to 16 bits.
 *
 * Speed notes (measured on real Microsoft LZX:21 data; keep them true when editing): the symbol loop keeps
 * its state in locals and reads the input with no end-of-input test per refill while enough bytes remain
 * (see decodeSymbols); buffers whose every byte is written before it is read are not zero-filled; E8
 * translation finds 0xE8 bytes with Buffer#indexOf.
 */
import { FormatError, UnsupportedError } from '../errors.js';

export class LzxError extends FormatError {
  constructor(message: string) {
    super('E_LZX', message);
  }
}

/** Output frame size: one CFDATA block decodes to at most this many bytes. */
export const LZX_FRAME_SIZE = 32768;

const BLOCKTYPE_VERBATIM = 1;
const BLOCKTYPE_ALIGNED = 2;
const BLOCKTYPE_UNCOMPRESSED = 3;
const MIN_MATCH = 2;
const NUM_CHARS = 256;
const PRETREE_NUM_ELEMENTS = 20;
const ALIGNED_NUM_ELEMENTS = 8;
const NUM_PRIMARY_LENGTHS = 7;
const NUM_SECONDARY_LENGTHS = 249;
const MAX_CODE_LENGTH = 16;

/** E8 translation only covers the first 2^30 bytes of a folder. */
const E8_MAX_OFFSET = 0x40000000;

/** Position slots per window size 2^15..2^21. */
const POSITION_SLOTS: Record<number, number> = { 15: 30, 16: 32, 17: 34, 18: 36, 19: 38, 20: 42, 21: 50 };
const MAX_POSITION_SLOTS = 50;

/** Footer bits and base of each position slot: slots 0..3 have none, then pairs grow by one bit, capped at 17. */
const FOOTER_BITS = new Uint8Array(MAX_POSITION_SLOTS);
const POSITION_BASE = new Uint32Array(MAX_POSITION_SLOTS);
for (let slot = 0, base = 0; slot < MAX_POSITION_SLOTS; slot++) {
  const bits = slot < 4 ? 0 : Math.min((slot - 2) >> 1, 17);
  FOOTER_BITS[slot] = bits;
  POSITION_BASE[slot] = base;
  base += 1 << bits;
}

/*
 * Decode tables. A primary table indexed by the next TB bits holds, per entry, (symbol << 5) | codeLength
 * for codes of at most TB bits. For longer codes the primary entry is (subtableOffset << 5) (low bits 0,
 * never 0 itself); the subtable is indexed by the following (16 - TB) bits. An entry of 0 is a code the
 * tree does not assign (an incomplete tree, or an empty one): hitting it is corrupt input.
 */
const MAIN_TB = 11;
const LENGTH_TB = 12;
const PRETREE_TB = 8;
const ALIGNED_TB = 7;

function tableSize(tb: number, maxSymbols: number): number {
  return (1 << tb) + maxSymbols * (1 << (MAX_CODE_LENGTH - tb));
}

/*
 * The symbol loop reads at most IN_SLACK input bytes per symbol: up to two 16-bit words before the main
 * code, then at most one each before the length code, the position footer and the aligned offset code.
 */
const IN_SLACK = 10;
/** Holds the < IN_SLACK bytes left at the end of a frame plus the zeros the loop may read after them. */
const TAIL_SIZE = 32;

/** A plain Uint8Array with its own ArrayBuffer, not zero-filled: only for bytes written before they are read. */
function uninitialized(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

const BLOCK_NAMES = ['invalid', 'verbatim', 'aligned offset', 'uncompressed'];

export class LzxDecoder {
  readonly windowBits: number;
  private readonly windowSize: number;
  /**
   * The sliding window plus slack: a frame is decoded linearly and may run past windowSize (see finishFrame).
   * Not zero-filled: a byte is only read after it was written in this folder (back-references are bounded by
   * `decoded`; the output is [frameStart, frameEnd) once decoded), and filling 2 MB per folder is measurable.
   */
  private readonly window: Uint8Array;
  private readonly mainElements: number;

  private readonly mainLengths: Uint8Array;
  private readonly lengthLengths = new Uint8Array(NUM_SECONDARY_LENGTHS);
  private readonly alignedLengths = new Uint8Array(ALIGNED_NUM_ELEMENTS);
  private readonly pretreeLengths = new Uint8Array(PRETREE_NUM_ELEMENTS);
  private readonly mainTable: Int32Array;
  private readonly lengthTable = new Int32Array(tableSize(LENGTH_TB, NUM_SECONDARY_LENGTHS));
  private readonly alignedTable = new Int32Array(tableSize(ALIGNED_TB, ALIGNED_NUM_ELEMENTS));
  private readonly pretreeTable = new Int32Array(tableSize(PRETREE_TB, PRETREE_NUM_ELEMENTS));
  private readonly codeCount = new Uint16Array(MAX_CODE_LENGTH + 1);
  private readonly nextCode = new Int32Array(MAX_CODE_LENGTH + 1);
  /** The frame decodeBlock returns (E8 translation changes it, not the window). */
  private readonly out = uninitialized(LZX_FRAME_SIZE);
  /** `out` as a Buffer, made once, for undoE8Translation's byte search. */
  private readonly outSearch = Buffer.from(this.out.buffer, this.out.byteOffset, this.out.length);
  /** The last bytes of a frame's input followed by zeros, for the end of decodeSymbols. */
  private readonly tail = new Uint8Array(TAIL_SIZE);

  // Folder state.
  private R0 = 1;
  private R1 = 1;
  private R2 = 1;
  private headerRead = false;
  private e8TranslationSize = 0;
  private blockType = 0;
  private blockSize = 0;
  private blockRemaining = 0;
  /** An odd-sized uncompressed block ended exactly at the end of a frame's input: skip its pad byte next frame. */
  private pendingPad = false;
  /** Linear window position of the next byte to decode (may exceed windowSize by less than a frame). */
  private windowPos = 0;
  /** Linear window position of the current frame's first byte (< windowSize). */
  private frameStart = 0;
  /** Bytes decoded in this folder so far (bounds back-references at the folder start). */
  private decoded = 0;
  private frameIndex = 0;
  private frameOffset = 0;
  private broken: LzxError | undefined;

  // Bit reader over the current frame's input.
  private input: Uint8Array = new Uint8Array(0);
  private inPos = 0;
  private bitbuf = 0;
  private bitsLeft = 0;

  constructor(windowBits: number) {
    const slots = POSITION_SLOTS[windowBits];
    if (!Number.isInteger(windowBits) || slots === undefined) {
      throw new UnsupportedError('E_LZX_WINDOW', `LZX window of 2^${windowBits} bytes is not supported (15..21 are valid)`);
    }
    this.windowBits = windowBits;
    this.windowSize = 1 << windowBits;
    this.window = uninitialized(this.windowSize + LZX_FRAME_SIZE + 512);
    this.mainElements = NUM_CHARS + slots * 8;
    this.mainLengths = new Uint8Array(this.mainElements);
    this.mainTable = new Int32Array(tableSize(MAIN_TB, this.mainElements));
  }

  /** Start of a CFFOLDER: forget all state (window, trees, R0-R2, E8 header). */
  reset(): void {
    this.R0 = this.R1 = this.R2 = 1;
    this.headerRead = false;
    this.e8TranslationSize = 0;
    this.blockType = 0;
    this.blockSize = 0;
    this.blockRemaining = 0;
    this.pendingPad = false;
    this.windowPos = 0;
    this.frameStart = 0;
    this.decoded = 0;
    this.frameIndex = 0;
    this.frameOffset = 0;
    this.broken = undefined;
    this.mainLengths.fill(0);
    this.lengthLengths.fill(0);
    // Stale history is unreachable (back-references are bounded by `decoded`), so the window is not cleared.
  }

  /**
   * Decode one CFDATA block: `input` is its compressed payload (cbData bytes), `outSize` its cbUncomp
   * (<= 32768). Returns exactly outSize bytes, valid until the next decodeBlock or reset call (as
   * MszipDecoder's): one buffer serves every frame, because on a fresh page the first write costs
   * about as much as decoding into it (docs/performance.md).
   * After an LzxError the decoder refuses further frames until reset().
   */
  decodeBlock(input: Uint8Array, outSize: number): Uint8Array {
    if (this.broken) throw new LzxError(`LZX frame ${this.frameIndex}: decoder stopped after an earlier error (${this.broken.message})`);
    if (!Number.isInteger(outSize) || outSize < 0 || outSize > LZX_FRAME_SIZE) {
      throw this.fail(`uncompressed size ${outSize} is outside 0..${LZX_FRAME_SIZE}`);
    }
    // A plain Uint8Array view (callers often pass Buffers) keeps the symbol loop's reads monomorphic.
    this.input = new Uint8Array(input.buffer, input.byteOffset, input.length);
    this.inPos = 0;
    this.bitbuf = 0;
    this.bitsLeft = 0;
    if (this.pendingPad) {
      this.pendingPad = false;
      if (input.length > 0) this.inPos = 1;
    }
    const frameEnd = this.frameStart + outSize;
    try {
      if (!this.headerRead && outSize > 0) {
        if (this.readBits(1)) {
          const high = this.readBits(16);
          const low = this.readBits(16);
          this.e8TranslationSize = high * 65536 + low;
        }
        this.headerRead = true;
      }
      while (this.windowPos < frameEnd) {
        if (this.blockRemaining === 0) this.readBlockHeader();
        if (this.blockType === BLOCKTYPE_UNCOMPRESSED) this.copyUncompressed(frameEnd);
        else this.decodeSymbols(frameEnd);
      }
      const consumedBits = this.inPos * 8 - this.bitsLeft;
      if (consumedBits > input.length * 8) {
        throw this.fail(`compressed data ends early: the frame needs ${Math.ceil(consumedBits / 8)} bytes, ${input.length} given`);
      }
    } catch (err) {
      const e = err instanceof LzxError ? err : this.fail(`internal decoder error: ${(err as Error)?.message ?? String(err)}`);
      this.broken = e;
      throw e;
    }
    const out = this.out.subarray(0, outSize);
    out.set(this.window.subarray(this.frameStart, frameEnd));
    if (this.e8TranslationSize !== 0) undoE8Translation(out, this.frameOffset, this.e8TranslationSize, this.outSearch);
    this.frameOffset += outSize;
    this.frameIndex++;
    this.finishFrame(frameEnd);
    return out;
  }

  /**
   * The window is used linearly within a frame; bytes written past windowSize are mirrored to the ring start
   * so later back-references (which wrap modulo windowSize) see them, and positions are rebased once the
   * next frame starts past the end of the ring.
   */
  private finishFrame(frameEnd: number): void {
    const ws = this.windowSize;
    if (this.windowPos > ws) this.window.copyWithin(0, ws, this.windowPos);
    this.frameStart = frameEnd;
    if (this.frameStart >= ws) {
      this.frameStart -= ws;
      this.windowPos -= ws;
    }
  }

  private fail(what: string): LzxError {
    return new LzxError(`LZX frame ${this.frameIndex}: ${what}`);
  }

  // ---- bit reader (cold paths; decodeSymbols keeps its own copy in locals) ----

  private refill(): void {
    const input = this.input;
    const pos = this.inPos;
    let word: number;
    if (pos + 1 < input.length) {
      word = input[pos]! | (input[pos + 1]! << 8);
    } else {
      // Past the end: zeros, but only a couple of words of look-ahead are legitimate.
      if (pos > input.length + 2) throw this.fail(`compressed data ends early (${input.length} bytes)`);
      word = pos < input.length ? input[pos]! : 0;
    }
    this.inPos = pos + 2;
    this.bitbuf |= word << (16 - this.bitsLeft);
    this.bitsLeft += 16;
  }

  /** Read n (0..17) bits. */
  private readBits(n: number): number {
    if (n === 0) return 0;
    while (this.bitsLeft < n) this.refill();
    const v = this.bitbuf >>> (32 - n);
    this.bitbuf <<= n;
    this.bitsLeft -= n;
    return v;
  }

  private readSymbol(table: Int32Array, tb: number, tree: string): number {
    while (this.bitsLeft < MAX_CODE_LENGTH) this.refill();
    let e = table[this.bitbuf >>> (32 - tb)]!;
    if ((e & 31) === 0) {
      if (e !== 0) e = table[(e >>> 5) + ((this.bitbuf >>> 16) & ((1 << (MAX_CODE_LENGTH - tb)) - 1))]!;
      if (e === 0) throw this.fail(`invalid ${tree} Huffman code`);
    }
    const len = e & 31;
    this.bitbuf <<= len;
    this.bitsLeft -= len;
    return e >>> 5;
  }

  // ---- blocks and trees ----

  private readBlockHeader(): void {
    if (this.blockType === BLOCKTYPE_UNCOMPRESSED) {
      // Coming back from byte mode: the bitstream resumes at the current byte.
      this.bitbuf = 0;
      this.bitsLeft = 0;
    }
    const type = this.readBits(3);
    const size = (this.readBits(16) << 8) | this.readBits(8);
    if (type !== BLOCKTYPE_VERBATIM && type !== BLOCKTYPE_ALIGNED && type !== BLOCKTYPE_UNCOMPRESSED) {
      throw this.fail(`invalid block type ${type}`);
    }
    this.blockType = type;
    this.blockSize = size;
    this.blockRemaining = size;
    if (type === BLOCKTYPE_UNCOMPRESSED) {
      this.startUncompressed();
      return;
    }
    if (type === BLOCKTYPE_ALIGNED) {
      for (let i = 0; i < ALIGNED_NUM_ELEMENTS; i++) this.alignedLengths[i] = this.readBits(3);
      this.buildTable(this.alignedTable, ALIGNED_TB, this.alignedLengths, ALIGNED_NUM_ELEMENTS, 'aligned offset tree');
    }
    this.readLengths(this.mainLengths, 0, NUM_CHARS, 'main tree');
    this.readLengths(this.mainLengths, NUM_CHARS, this.mainElements, 'main tree');
    this.buildTable(this.mainTable, MAIN_TB, this.mainLengths, this.mainElements, 'main tree');
    this.readLengths(this.lengthLengths, 0, NUM_SECONDARY_LENGTHS, 'length tree');
    this.buildTable(this.lengthTable, LENGTH_TB, this.lengthLengths, NUM_SECONDARY_LENGTHS, 'length tree');
  }

  /** Code lengths lens[from..to) through a fresh pretree; values are deltas (mod 17) from the previous lengths. */
  private readLengths(lens: Uint8Array, from: number, to: number, tree: string): void {
    for (let i = 0; i < PRETREE_NUM_ELEMENTS; i++) this.pretreeLengths[i] = this.readBits(4);
    this.buildTable(this.pretreeTable, PRETREE_TB, this.pretreeLengths, PRETREE_NUM_ELEMENTS, `${tree} pretree`);
    let i = from;
    while (i < to) {
      const code = this.readSymbol(this.pretreeTable, PRETREE_TB, `${tree} pretree`);
      if (code <= 16) {
        lens[i] = (lens[i]! + 17 - code) % 17;
        i++;
      } else if (code === 17 || code === 18) {
        const run = code === 17 ? 4 + this.readBits(4) : 20 + this.readBits(5);
        if (i + run > to) throw this.fail(`${tree}: a run of ${run} zero lengths overruns the tree (${to - i} left)`);
        lens.fill(0, i, i + run);
        i += run;
      } else {
        const run = 4 + this.readBits(1);
        if (i + run > to) throw this.fail(`${tree}: a run of ${run} equal lengths overruns the tree (${to - i} left)`);
        const delta = this.readSymbol(this.pretreeTable, PRETREE_TB, `${tree} pretree`);
        if (delta > 16) throw this.fail(`${tree}: pretree code ${delta} cannot follow a run code`);
        lens.fill((lens[i]! + 17 - delta) % 17, i, i + run);
        i += run;
      }
    }
  }

  /** Canonical Huffman decode table; over-subscribed code lengths are corrupt input, incomplete ones are allowed. */
  private buildTable(table: Int32Array, tb: number, lens: Uint8Array, n: number, tree: string): void {
    const count = this.codeCount;
    const next = this.nextCode;
    count.fill(0);
    for (let s = 0; s < n; s++) count[lens[s]!]!++;
    let left = 1;
    for (let len = 1; len <= MAX_CODE_LENGTH; len++) {
      left = left * 2 - count[len]!;
      if (left < 0) throw this.fail(`${tree}: over-subscribed Huffman code lengths`);
    }
    let code = 0;
    count[0] = 0;
    for (let len = 1; len <= MAX_CODE_LENGTH; len++) {
      code = (code + count[len - 1]!) << 1;
      next[len] = code;
    }
    // Only the primary table and the subtables handed out below are ever read: clear just those.
    table.fill(0, 0, 1 << tb);
    const subBits = MAX_CODE_LENGTH - tb;
    let subNext = 1 << tb;
    for (let s = 0; s < n; s++) {
      const len = lens[s]!;
      if (len === 0) continue;
      const c = next[len]!++;
      const entry = (s << 5) | len;
      let start: number;
      if (len <= tb) {
        start = c << (tb - len);
      } else {
        const prefix = c >>> (len - tb);
        let p = table[prefix]!;
        if (p === 0) {
          p = subNext << 5;
          table[prefix] = p;
          table.fill(0, subNext, subNext + (1 << subBits));
          subNext += 1 << subBits;
        }
        start = (p >>> 5) + ((c & ((1 << (len - tb)) - 1)) << (MAX_CODE_LENGTH - len));
      }
      // Usually a handful of entries: a loop is cheaper than a call to fill.
      const stop = start + (1 << ((len <= tb ? tb : MAX_CODE_LENGTH) - len));
      for (let k = start; k < stop; k++) table[k] = entry;
    }
  }

  private startUncompressed(): void {
    // 1..16 bits of padding up to the next 16-bit boundary, then the byte stream begins.
    const partial = this.bitsLeft & 15;
    if (partial !== 0) {
      this.bitbuf <<= partial;
      this.bitsLeft -= partial;
    } else {
      this.readBits(16);
    }
    this.inPos -= this.bitsLeft >>> 3;
    this.bitbuf = 0;
    this.bitsLeft = 0;
    const input = this.input;
    const p = this.inPos;
    if (p + 12 > input.length) {
      throw this.fail(`uncompressed block header truncated: R0..R2 need 12 bytes at offset ${p}, ${Math.max(0, input.length - p)} left`);
    }
    const dv = new DataView(input.buffer, input.byteOffset, input.byteLength);
    this.R0 = dv.getUint32(p, true);
    this.R1 = dv.getUint32(p + 4, true);
    this.R2 = dv.getUint32(p + 8, true);
    this.inPos = p + 12;
    if (this.blockSize === 0) this.endUncompressed();
  }

  private copyUncompressed(frameEnd: number): void {
    const n = Math.min(this.blockRemaining, frameEnd - this.windowPos);
    const input = this.input;
    if (this.inPos + n > input.length) {
      throw this.fail(
        `uncompressed block truncated: ${n} bytes needed at offset ${this.inPos}, ${Math.max(0, input.length - this.inPos)} left`,
      );
    }
    this.window.set(input.subarray(this.inPos, this.inPos + n), this.windowPos);
    this.inPos += n;
    this.windowPos += n;
    this.decoded += n;
    this.blockRemaining -= n;
    if (this.blockRemaining === 0) this.endUncompressed();
  }

  private endUncompressed(): void {
    if (this.blockSize & 1) {
      if (this.inPos < this.input.length) this.inPos++;
      else this.pendingPad = true;
    }
  }

  /**
   * Literals and matches of a verbatim or aligned-offset block until the frame or the block ends. A match may
   * run past the frame end (into the next frame's bytes) but never past the block end.
   *
   * The symbol loop does not test for the end of its input on each refill, so it runs on the frame's input
   * only while IN_SLACK bytes are left; the few bytes after that are copied into `tail` followed by zeros,
   * which is exactly what the bit reader yields past the end of the input, and the same loop finishes on
   * that copy. (A loop with an end-of-input test per refill was slower, and that test's rare branch, first
   * taken in optimized code at the end of the first frame, cost a deoptimization in every process.)
   */
  private decodeSymbols(frameEnd: number): void {
    const input = this.input;
    const inLen = input.length;
    const end = Math.min(frameEnd, this.windowPos + this.blockRemaining);
    if (this.inPos + IN_SLACK <= inLen) {
      this.inPos = this.runSymbols(input, this.inPos, inLen - IN_SLACK, inLen, end);
      if (this.windowPos >= end) return;
    }
    const from = this.inPos;
    const tail = this.tail;
    tail.fill(0);
    if (from < inLen) tail.set(input.subarray(from, inLen));
    // Up to two words of look-ahead past the end are legitimate (refills starting at most 2 bytes past it);
    // a symbol starting further out can only be reached by reading beyond that, which runSymbols reports.
    this.inPos = from + this.runSymbols(tail, 0, inLen - from + 4, inLen - from, end);
  }

  /**
   * The hot loop: decode symbols into the window from `input` starting at `inPos` while the window position
   * is below `end` and a symbol starts at or before `limit`; returns the new input position. `inEnd` is
   * where the real input ends in `input` (bytes after it are zeros): a refill that started more than 2 bytes
   * past it, visible as a position more than 4 bytes past it, means the compressed data ended early, which
   * takes precedence over any error found after it (the bits it decoded were not real).
   */
  private runSymbols(input: Uint8Array, inPos: number, limit: number, inEnd: number, end: number): number {
    const win = this.window;
    const ws = this.windowSize;
    const mainTable = this.mainTable;
    const lengthTable = this.lengthTable;
    const alignedTable = this.alignedTable;
    const aligned = this.blockType === BLOCKTYPE_ALIGNED;
    let bitbuf = this.bitbuf;
    let bitsLeft = this.bitsLeft;
    let R0 = this.R0;
    let R1 = this.R1;
    let R2 = this.R2;
    let w = this.windowPos;
    const blockEnd = w + this.blockRemaining;
    // Back-references may not reach before the folder's first byte.
    const historyBase = this.decoded - w;
    let bad = '';

    // Refills add one 16-bit little-endian word below the bits left. At the top of the loop bitsLeft may be
    // 0 (two words needed: a loop, because a separate rarely taken second refill costs a deoptimization the
    // first time it runs); after any code of at most 16 bits at least 1 bit is left and one word is enough.
    while (w < end && inPos <= limit) {
      while (bitsLeft < 17) {
        bitbuf |= (input[inPos]! | (input[inPos + 1]! << 8)) << (16 - bitsLeft);
        inPos += 2;
        bitsLeft += 16;
      }
      let e = mainTable[bitbuf >>> (32 - MAIN_TB)]!;
      if ((e & 31) === 0) {
        if (e !== 0) e = mainTable[(e >>> 5) + ((bitbuf >>> 16) & ((1 << (MAX_CODE_LENGTH - MAIN_TB)) - 1))]!;
        if (e === 0) {
          bad = 'invalid main tree Huffman code';
          break;
        }
      }
      let n = e & 31;
      bitbuf <<= n;
      bitsLeft -= n;
      const sym = e >>> 5;
      if (sym < NUM_CHARS) {
        win[w++] = sym;
        continue;
      }

      // Match: main element = 256 + positionSlot * 8 + lengthHeader.
      const m = sym - NUM_CHARS;
      let matchLength = m & 7;
      if (matchLength === NUM_PRIMARY_LENGTHS) {
        if (bitsLeft < 17) {
          bitbuf |= (input[inPos]! | (input[inPos + 1]! << 8)) << (16 - bitsLeft);
          inPos += 2;
          bitsLeft += 16;
        }
        e = lengthTable[bitbuf >>> (32 - LENGTH_TB)]!;
        if ((e & 31) === 0) {
          if (e !== 0) e = lengthTable[(e >>> 5) + ((bitbuf >>> 16) & ((1 << (MAX_CODE_LENGTH - LENGTH_TB)) - 1))]!;
          if (e === 0) {
            bad = 'invalid length tree Huffman code';
            break;
          }
        }
        n = e & 31;
        bitbuf <<= n;
        bitsLeft -= n;
        matchLength += e >>> 5;
      }
      matchLength += MIN_MATCH;

      const slot = m >>> 3;
      let offset: number;
      if (slot === 0) {
        offset = R0;
      } else if (slot === 1) {
        offset = R1;
        R1 = R0;
        R0 = offset;
      } else if (slot === 2) {
        offset = R2;
        R2 = R0;
        R0 = offset;
      } else {
        const footer = FOOTER_BITS[slot]!;
        if (bitsLeft < 17) {
          bitbuf |= (input[inPos]! | (input[inPos + 1]! << 8)) << (16 - bitsLeft);
          inPos += 2;
          bitsLeft += 16;
        }
        offset = POSITION_BASE[slot]! - 2;
        if (aligned && footer >= 3) {
          if (footer > 3) {
            // At most 14 verbatim bits, so at least 3 are left before this refill.
            const v = footer - 3;
            offset += (bitbuf >>> (32 - v)) << 3;
            bitbuf <<= v;
            bitsLeft -= v;
            if (bitsLeft < 17) {
              bitbuf |= (input[inPos]! | (input[inPos + 1]! << 8)) << (16 - bitsLeft);
              inPos += 2;
              bitsLeft += 16;
            }
          }
          e = alignedTable[bitbuf >>> (32 - ALIGNED_TB)]!;
          if (e === 0) {
            bad = 'invalid aligned offset tree Huffman code';
            break;
          }
          n = e & 31;
          bitbuf <<= n;
          bitsLeft -= n;
          offset += e >>> 5;
        } else if (footer > 0) {
          offset += bitbuf >>> (32 - footer);
          bitbuf <<= footer;
          bitsLeft -= footer;
        }
        R2 = R1;
        R1 = R0;
        R0 = offset;
      }

      if (offset < 1 || offset > w + historyBase || offset > ws) {
        bad = `match offset ${offset} at folder position ${w + historyBase} reaches before the start of the data or beyond the window`;
        break;
      }
      if (w + matchLength > blockEnd) {
        bad = `match of ${matchLength} bytes at folder position ${w + historyBase} runs past the end of the ${BLOCK_NAMES[this.blockType]} block`;
        break;
      }
      let src = w - offset;
      if (src >= 0) {
        if (matchLength > 32 && offset >= matchLength) {
          win.copyWithin(w, src, src + matchLength);
          w += matchLength;
        } else {
          // Forward byte copy: correct for overlapping (run-length) matches.
          const stop = w + matchLength;
          while (w < stop) win[w++] = win[src++]!;
        }
      } else {
        // The source wraps around the ring: copy its tail, then continue from the ring start.
        src += ws;
        let k = Math.min(matchLength, ws - src);
        matchLength -= k;
        while (k-- > 0) win[w++] = win[src++]!;
        src = 0;
        while (matchLength-- > 0) win[w++] = win[src++]!;
      }
    }
    if (inPos > inEnd + 4) bad = `compressed data ends early (${this.input.length} bytes)`;

    this.bitbuf = bitbuf;
    this.bitsLeft = bitsLeft;
    this.R0 = R0;
    this.R1 = R1;
    this.R2 = R2;
    this.blockRemaining = blockEnd - w;
    this.decoded += w - this.windowPos;
    this.windowPos = w;
    if (bad) throw this.fail(bad);
    return inPos;
  }
}

/**
 * Reverse the encoder's E8 call translation in one output frame (`frameOffset`: bytes of the folder before
 * it; frames past the first 2^30 bytes and frames of 10 bytes or less are left alone): each 0xE8 byte before the last 10 is
 * followed by an absolute 32-bit target that becomes relative again; translated or not, the 4 bytes after
 * an 0xE8 are skipped. `search` is a Buffer over the same bytes from frame[0] on (it may run on past the
 * frame's end); the decoder passes one it made once, so that no call precedes the loop here: a call site
 * that V8 has no feedback for when it optimizes the loop costs a deoptimization.
 */
export function undoE8Translation(
  frame: Uint8Array, frameOffset: number, translationSize: number,
  search: Buffer = Buffer.from(frame.buffer, frame.byteOffset, frame.length),
): void {
  if (frameOffset >= E8_MAX_OFFSET || frame.length <= 10) return;
  const limit = frame.length - 10;
  // Buffer#indexOf is a native byte search: on real x86 code (an 0xE8 every few hundred bytes) several
  // times faster than Uint8Array#indexOf or a scan in JS.
  let i = -5;
  while ((i = search.indexOf(0xe8, i + 5)) >= 0 && i < limit) {
    const value = frame[i + 1]! | (frame[i + 2]! << 8) | (frame[i + 3]! << 16) | (frame[i + 4]! << 24);
    const current = frameOffset + i;
    if (value >= -current && value < translationSize) {
      const rel = value >= 0 ? value - current : value + translationSize;
      frame[i + 1] = rel;
      frame[i + 2] = rel >>> 8;
      frame[i + 3] = rel >>> 16;
      frame[i + 4] = rel >>> 24;
    }
  }
}
