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
 * Speed notes (measured on real Microsoft LZX:21 data; keep them true when editing): the symbol loop is
 * WebAssembly (src/cab/lzx-symbols.c) working in place on the window and decode tables, which live in
 * its memory; it reads the input with no end-of-input test per refill while enough bytes remain (see
 * decodeSymbols); E8 translation finds 0xE8 bytes with Buffer#indexOf.
 */
import { FormatError, UnsupportedError } from '../errors.js';
import { LZX_WASM } from './lzx-wasm.js';
import { instantiateWasm, type WasmExports } from './wasm.js';

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
const NUM_CHARS = 256;

/** E8 translation only covers the first 2^30 bytes of a folder. */
const E8_MAX_OFFSET = 0x40000000;

/** Position slots per window size 2^15..2^21. */
const POSITION_SLOTS: Record<number, number> = { 15: 30, 16: 32, 17: 34, 18: 36, 19: 38, 20: 42, 21: 50 };

/*
 * The symbol loop reads at most IN_SLACK input bytes per symbol: up to two 16-bit words before the main
 * code, then at most one each before the length code, the position footer and the aligned offset code.
 * It may start a symbol up to 4 bytes past the end of a frame's input (look-ahead the bit reader may
 * legitimately take), so that many zeros follow the input in its memory.
 */
const IN_SLACK = 10;
const INPUT_PAD = 4 + IN_SLACK + 2;

/** A plain Uint8Array with its own ArrayBuffer, not zero-filled: only for bytes written before they are read. */
function uninitialized(n: number): Uint8Array {
  const b = Buffer.allocUnsafeSlow(n);
  return new Uint8Array(b.buffer, b.byteOffset, n);
}

/*
 * The WebAssembly half of the decoder (src/cab/lzx-symbols.c): the symbol loop and the trees of a block
 * header, with the decode tables and code lengths in its own data. After the module's data and stack
 * (__heap_base) the decoder lays out the state block the two share (fields as in the C State), the frame's
 * input (cbData is 16 bits) and the window. One instance per decoder: decoders share nothing.
 */
const S_BITBUF = 0, S_BITSLEFT = 1, S_R0 = 2, S_R1 = 3, S_R2 = 4, S_W = 5, S_BLOCKEND = 6, S_HISTORYBASE = 7;
const S_ALIGNED = 8, S_ERR = 9, S_ERR_A = 10, S_ERR_B = 11, S_WINDOW = 12, S_WINDOW_SIZE = 13, S_IN_POS = 14;
const S_MAIN_ELEMENTS = 15, S_ERR_TREE = 16, S_FIELDS = 17;
const ERR_MAIN_CODE = 1, ERR_LENGTH_CODE = 2, ERR_ALIGNED_CODE = 3, ERR_OFFSET = 4, ERR_MATCH_PAST_BLOCK = 5, ERR_INPUT_ENDS = 6;
const ERR_OVERSUBSCRIBED = 7, ERR_PRETREE_CODE = 8, ERR_ZERO_RUN = 9, ERR_EQUAL_RUN = 10, ERR_RUN_DELTA = 11;
/** State.errTree: 1 aligned offset, 2 main, 3 length; 4 more for that tree's pretree. */
const TREE_NAMES = ['', 'aligned offset tree', 'main tree', 'length tree'];
/** cbData is a 16-bit field; INPUT_PAD zeros follow a frame's input. */
const INPUT_SIZE = 65536 + INPUT_PAD;
interface LzxWasm {
  lzx_run_symbols(state: number, input: number, inPos: number, limit: number, inEnd: number, end: number): number;
  lzx_read_trees(state: number, input: number, len: number, aligned: number): number;
  lzx_reset(): void;
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

  // the window, the state block and the input live in the WebAssembly instance's memory
  private readonly wasm: LzxWasm & WasmExports;
  private readonly state: Int32Array;
  private readonly stateAddr: number;
  private readonly inputArea: Uint8Array;
  /** The frame decodeBlock returns (E8 translation changes it, not the window). */
  private readonly out = uninitialized(LZX_FRAME_SIZE);
  /** `out` as a Buffer, made once, for undoE8Translation's byte search. */
  private readonly outSearch = Buffer.from(this.out.buffer, this.out.byteOffset, this.out.length);

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
    const inst = instantiateWasm<LzxWasm>(LZX_WASM, [S_FIELDS * 4, INPUT_SIZE, this.windowSize + LZX_FRAME_SIZE + 512]);
    if ('unavailable' in inst) throw new UnsupportedError('E_LZX_WASM', `LZX decoding needs WebAssembly, ${inst.unavailable}`);
    this.wasm = inst.exports;
    const [stateAddr, inputAddr, windowAddr] = inst.addrs as [number, number, number];
    const buf = this.wasm.memory.buffer;
    this.stateAddr = stateAddr;
    this.state = new Int32Array(buf, stateAddr, S_FIELDS);
    this.inputArea = new Uint8Array(buf, inputAddr, INPUT_SIZE);
    this.window = new Uint8Array(buf, windowAddr, this.windowSize + LZX_FRAME_SIZE + 512);
    this.state[S_WINDOW] = windowAddr;
    this.state[S_WINDOW_SIZE] = this.windowSize;
    this.state[S_MAIN_ELEMENTS] = NUM_CHARS + slots * 8;
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
    this.wasm.lzx_reset();
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
    const frameEnd = this.decodeFrame(input, outSize);
    const out = this.out.subarray(0, outSize);
    out.set(this.window.subarray(this.frameStart, frameEnd));
    if (this.e8TranslationSize !== 0) undoE8Translation(out, this.frameOffset, this.e8TranslationSize, this.outSearch);
    this.finishFrame(outSize, frameEnd);
    return out;
  }

  /**
   * Decode one CFDATA block into the window only, as decodeBlock does, for a frame whose bytes
   * nobody reads: neither copied out nor E8-translated (which changes the output, not the window).
   */
  skipBlock(input: Uint8Array, outSize: number): void {
    this.finishFrame(outSize, this.decodeFrame(input, outSize));
  }

  /** The symbols of one frame into the window; returns the window position where the frame ends. */
  private decodeFrame(input: Uint8Array, outSize: number): number {
    if (this.broken) throw new LzxError(`LZX frame ${this.frameIndex}: decoder stopped after an earlier error (${this.broken.message})`);
    if (!Number.isInteger(outSize) || outSize < 0 || outSize > LZX_FRAME_SIZE) {
      throw this.fail(`uncompressed size ${outSize} is outside 0..${LZX_FRAME_SIZE}`);
    }
    if (input.length > INPUT_SIZE - INPUT_PAD) throw this.fail(`compressed frame of ${input.length} bytes is larger than a CFDATA block can be`);
    // into the symbol loop's memory, followed by zeros (what the bit reader yields past the end)
    this.inputArea.set(input);
    this.inputArea.fill(0, input.length, input.length + INPUT_PAD);
    this.input = this.inputArea.subarray(0, input.length);
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
      // whole 16-bit words: a word's second byte holds its first bits, so a word the frame has only
      // the first byte of was read as zeros where its bits were needed
      const needed = this.inPos - 2 * (this.bitsLeft >> 4);
      if (needed > input.length) {
        throw this.fail(`compressed data ends early: the frame needs ${needed} bytes, ${input.length} given`);
      }
    } catch (err) {
      const e = err instanceof LzxError ? err : this.fail(`internal decoder error: ${(err as Error)?.message ?? String(err)}`);
      this.broken = e;
      throw e;
    }
    return frameEnd;
  }

  /**
   * The window is used linearly within a frame; bytes written past windowSize are mirrored to the ring start
   * so later back-references (which wrap modulo windowSize) see them, and positions are rebased once the
   * next frame starts past the end of the ring.
   */
  private finishFrame(outSize: number, frameEnd: number): void {
    this.frameOffset += outSize;
    this.frameIndex++;
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
    // the trees: in the WebAssembly half, from the bit reader's state
    const st = this.state;
    st[S_BITBUF] = this.bitbuf;
    st[S_BITSLEFT] = this.bitsLeft;
    st[S_IN_POS] = this.inPos;
    const err = this.wasm.lzx_read_trees(this.stateAddr, this.input.byteOffset, this.input.length, type === BLOCKTYPE_ALIGNED ? 1 : 0);
    this.bitbuf = st[S_BITBUF]!;
    this.bitsLeft = st[S_BITSLEFT]!;
    this.inPos = st[S_IN_POS]!;
    if (err !== 0) throw this.fail(this.wasmError(err, 0));
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
   * The symbol loop does not test for the end of its input on each refill: the zeros after the frame's
   * input in its memory are exactly what the bit reader yields past the end. Up to two words of
   * look-ahead past the end are legitimate (refills starting at most 2 bytes past it); a symbol starting
   * further out can only be reached by reading beyond that, which runSymbols reports.
   */
  private decodeSymbols(frameEnd: number): void {
    const inLen = this.input.length;
    const end = Math.min(frameEnd, this.windowPos + this.blockRemaining);
    this.inPos = this.runSymbols(this.inPos, inLen + 4, inLen, end);
  }

  /**
   * The symbol loop (src/cab/lzx-symbols.c): decode symbols into the window from the frame's input (in the
   * loop's memory) starting at `inPos` while the window position is below `end` and a symbol starts at or
   * before `limit`; returns the new input position. `inEnd` is where the real input ends (bytes after it
   * are zeros): a refill that started more than 2 bytes past it, visible as a
   * position more than 4 bytes past it, means the compressed data ended early, which takes precedence over
   * any error found after it (the bits it decoded were not real).
   */
  private runSymbols(inPos: number, limit: number, inEnd: number, end: number): number {
    const st = this.state;
    const w = this.windowPos;
    st[S_BITBUF] = this.bitbuf;
    st[S_BITSLEFT] = this.bitsLeft;
    st[S_R0] = this.R0;
    st[S_R1] = this.R1;
    st[S_R2] = this.R2;
    st[S_W] = w;
    st[S_BLOCKEND] = w + this.blockRemaining;
    // back-references may not reach before the folder's first byte
    st[S_HISTORYBASE] = this.decoded - w;
    st[S_ALIGNED] = this.blockType === BLOCKTYPE_ALIGNED ? 1 : 0;
    const next = this.wasm.lzx_run_symbols(this.stateAddr, this.input.byteOffset, inPos, limit, inEnd, end);
    this.bitbuf = st[S_BITBUF]!;
    this.bitsLeft = st[S_BITSLEFT]!;
    this.R0 = st[S_R0]! >>> 0;
    this.R1 = st[S_R1]! >>> 0;
    this.R2 = st[S_R2]! >>> 0;
    const w2 = st[S_W]!;
    this.blockRemaining -= w2 - w;
    this.decoded += w2 - w;
    this.windowPos = w2;
    const err = st[S_ERR]!;
    if (err !== 0) throw this.fail(this.wasmError(err, w2 + st[S_HISTORYBASE]!));
    return next;
  }

  /** The words for an error of the WebAssembly half; `at` is the folder position of a symbol loop error. */
  private wasmError(err: number, at: number): string {
    const st = this.state;
    const t = st[S_ERR_TREE]!;
    const tree = `${TREE_NAMES[t & 3]}${t & 4 ? ' pretree' : ''}`;
    switch (err) {
      case ERR_MAIN_CODE: return 'invalid main tree Huffman code';
      case ERR_LENGTH_CODE: return 'invalid length tree Huffman code';
      case ERR_ALIGNED_CODE: return 'invalid aligned offset tree Huffman code';
      case ERR_OFFSET:
        return `match offset ${st[S_ERR_A]! >>> 0} at folder position ${at} reaches before the start of the data or beyond the window`;
      case ERR_MATCH_PAST_BLOCK:
        return `match of ${st[S_ERR_B]!} bytes at folder position ${at} runs past the end of the ${BLOCK_NAMES[this.blockType]} block`;
      case ERR_INPUT_ENDS: return `compressed data ends early (${this.input.length} bytes)`;
      case ERR_OVERSUBSCRIBED: return `${tree}: over-subscribed Huffman code lengths`;
      case ERR_PRETREE_CODE: return `invalid ${tree} Huffman code`;
      case ERR_ZERO_RUN: return `${tree}: a run of ${st[S_ERR_A]!} zero lengths overruns the tree (${st[S_ERR_B]!} left)`;
      case ERR_EQUAL_RUN: return `${tree}: a run of ${st[S_ERR_A]!} equal lengths overruns the tree (${st[S_ERR_B]!} left)`;
      case ERR_RUN_DELTA: return `${tree}: pretree code ${st[S_ERR_B]!} cannot follow a run code`;
      default: return `decoder error ${err}`;
    }
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
