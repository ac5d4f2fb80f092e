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
 * Speed notes (measured on real Microsoft LZX:21 data; keep them true when editing): the frames are
 * WebAssembly (src/cab/lzx-symbols.c) working in place on the window and decode tables, which live in
 * its memory; the symbol loop reads the input with no end-of-input test per refill; a run of frames
 * nobody reads is one call (skipRun); E8 translation finds 0xE8 bytes with Buffer#indexOf.
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

const NUM_CHARS = 256;

/** E8 translation only covers the first 2^30 bytes of a folder. */
const E8_MAX_OFFSET = 0x40000000;

/** Position slots per window size 2^15..2^21. */
const POSITION_SLOTS: Record<number, number> = { 15: 30, 16: 32, 17: 34, 18: 36, 19: 38, 20: 42, 21: 50 };

/*
 * The decoder is WebAssembly (src/cab/lzx-symbols.c), with the decode tables and code lengths in
 * its own data. After the module's data and stack (__heap_base) the decoder lays out the state
 * block the two share (fields as in the C State), a frame table, a frame's input (cbData is 16
 * bits) followed by INPUT_PAD zeros, the frame handed out, the window, and the area for a run of
 * raw CFDATA blocks. One instance per decoder: decoders share nothing.
 */
const S_BLOCK_TYPE = 6, S_E8_SIZE = 11, S_FRAME_INDEX = 12, S_FRAME_OFFSET = 13;
const S_ERR = 14, S_ERR_A = 15, S_ERR_B = 16, S_ERR_TREE = 17, S_WINDOW = 18, S_WINDOW_SIZE = 19, S_INPUT = 20, S_OUT = 21;
const S_MAIN_ELEMENTS = 22, S_FAST_MARGIN = 23, S_FIELDS = 24;
const ERR_MAIN_CODE = 1, ERR_LENGTH_CODE = 2, ERR_ALIGNED_CODE = 3, ERR_OFFSET = 4, ERR_MATCH_PAST_BLOCK = 5, ERR_INPUT_ENDS = 6;
const ERR_OVERSUBSCRIBED = 7, ERR_PRETREE_CODE = 8, ERR_ZERO_RUN = 9, ERR_EQUAL_RUN = 10, ERR_RUN_DELTA = 11;
const ERR_BLOCK_TYPE = 12, ERR_UNCOMPRESSED_HEADER = 13, ERR_UNCOMPRESSED_DATA = 14, ERR_FRAME_SHORT = 15, ERR_CHECKSUM = 16;
/** State.errTree: 1 aligned offset, 2 main, 3 length; 4 more for that tree's pretree. */
const TREE_NAMES = ['', 'aligned offset tree', 'main tree', 'length tree'];
/** As the C's: zeros after a frame's input for the symbol loop's look-ahead, and the ring's bytes past the window. */
const INPUT_PAD = 16;
const RING_SLACK = 64;
/** cbData is a 16-bit field. */
const INPUT_SIZE = 65536 + INPUT_PAD;
/** Frames one skipRun call takes at most, and the bytes of raw CFDATA blocks its area holds. */
export const LZX_RUN_FRAMES = 4096;
const LZX_RUN_BYTES = 1 << 20;
/** A frame table entry: input address, cbData, cbUncomp, checksum to verify (0: none). */
const FRAME_FIELDS = 4;
interface LzxWasm {
  lzx_frames(state: number, frames: number, n: number, headerLen: number, copyOut: number): number;
  lzx_reset(state: number): void;
}

const BLOCK_NAMES = ['invalid', 'verbatim', 'aligned offset', 'uncompressed'];

/** How a run of frames went (skipRun): frames finished, then what stopped it, if anything. */
export interface FrameRun {
  done: number;
  /** The frame after the last one finished failed to decode (the decoder now refuses frames until reset()). */
  error?: LzxError;
  /** The frame after the last one finished has a CFDATA checksum other than its csum: this is the one computed. */
  badChecksum?: number;
}

export class LzxDecoder {
  readonly windowBits: number;
  private readonly wasm: LzxWasm & WasmExports;
  private readonly state: Int32Array;
  private readonly stateAddr: number;
  private readonly frames: Int32Array;
  private readonly framesAddr: number;
  private readonly inputArea: Uint8Array;
  private readonly inputAddr: number;
  /** The frame decodeBlock returns (E8 translation changes it, not the window). */
  private readonly out: Uint8Array;
  /** `out` as a Buffer, made once, for undoE8Translation's byte search. */
  private readonly outSearch: Buffer;
  private readonly runAddr: number;
  /** Memory of the decoder's own for the raw CFDATA blocks of a skipRun: reading them straight into it saves a copy. */
  readonly runArea: Uint8Array;
  private broken: LzxError | undefined;

  constructor(windowBits: number) {
    const slots = POSITION_SLOTS[windowBits];
    if (!Number.isInteger(windowBits) || slots === undefined) {
      throw new UnsupportedError('E_LZX_WINDOW', `LZX window of 2^${windowBits} bytes is not supported (15..21 are valid)`);
    }
    this.windowBits = windowBits;
    const windowSize = 1 << windowBits;
    // the window's ring, and past it the end of a frame decoded linearly (a match may run past the
    // frame's end, and a match copy 15 bytes past the match)
    const inst = instantiateWasm<LzxWasm>(LZX_WASM, [
      S_FIELDS * 4, LZX_RUN_FRAMES * FRAME_FIELDS * 4, INPUT_SIZE, LZX_FRAME_SIZE, windowSize + RING_SLACK + LZX_FRAME_SIZE + 512, LZX_RUN_BYTES,
    ]);
    if ('unavailable' in inst) throw new UnsupportedError('E_LZX_WASM', `LZX decoding needs WebAssembly, ${inst.unavailable}`);
    this.wasm = inst.exports;
    const [stateAddr, framesAddr, inputAddr, outAddr, windowAddr, runAddr] = inst.addrs as [number, number, number, number, number, number];
    const buf = this.wasm.memory.buffer;
    this.stateAddr = stateAddr;
    this.state = new Int32Array(buf, stateAddr, S_FIELDS);
    this.framesAddr = framesAddr;
    this.frames = new Int32Array(buf, framesAddr, LZX_RUN_FRAMES * FRAME_FIELDS);
    this.inputAddr = inputAddr;
    this.inputArea = new Uint8Array(buf, inputAddr, INPUT_SIZE);
    this.out = new Uint8Array(buf, outAddr, LZX_FRAME_SIZE);
    this.outSearch = Buffer.from(buf, outAddr, LZX_FRAME_SIZE);
    this.runAddr = runAddr;
    this.runArea = new Uint8Array(buf, runAddr, LZX_RUN_BYTES);
    // the window is not cleared: a byte is only read after it was written in this folder
    // (back-references are bounded by the bytes decoded), and filling 2 MB per folder is measurable
    this.state[S_WINDOW] = windowAddr;
    this.state[S_WINDOW_SIZE] = windowSize;
    this.state[S_INPUT] = inputAddr;
    this.state[S_OUT] = outAddr;
    this.state[S_MAIN_ELEMENTS] = NUM_CHARS + slots * 8;
    this.state[S_FAST_MARGIN] = 8;
    this.reset();
  }

  /** Start of a CFFOLDER: forget all state (window, trees, R0-R2, E8 header). */
  reset(): void {
    this.broken = undefined;
    this.wasm.lzx_reset(this.stateAddr);
  }

  /**
   * Decode one CFDATA block: `input` is its compressed payload (cbData bytes), `outSize` its cbUncomp
   * (<= 32768). Returns exactly outSize bytes, valid until the next decodeBlock or reset call (as
   * MszipDecoder's): one buffer serves every frame, because on a fresh page the first write costs
   * about as much as decoding into it (docs/performance.md).
   * After an LzxError the decoder refuses further frames until reset().
   */
  decodeBlock(input: Uint8Array, outSize: number): Uint8Array {
    const frameOffset = this.state[S_FRAME_OFFSET]! >>> 0;
    this.oneFrame(input, outSize, true);
    const out = this.out.subarray(0, outSize);
    const e8Size = this.state[S_E8_SIZE]! >>> 0;
    if (e8Size !== 0) undoE8Translation(out, frameOffset, e8Size, this.outSearch);
    return out;
  }

  /**
   * Decode one CFDATA block into the window only, as decodeBlock does, for a frame whose bytes
   * nobody reads: neither copied out nor E8-translated (which changes the output, not the window).
   */
  skipBlock(input: Uint8Array, outSize: number): void {
    this.oneFrame(input, outSize, false);
  }

  /**
   * skipBlock for a run of frames in one call, their raw CFDATA blocks in runArea: `entries` holds
   * four numbers per frame, the offset of its data in runArea, cbData, cbUncomp (1..32768, as
   * the folder checked) and the csum to verify (0: none), which covers the `headerLen` bytes
   * before the data. Stops at the first frame that fails, and says why.
   */
  skipRun(entries: Int32Array, n: number, headerLen: number): FrameRun {
    if (this.broken) return { done: 0, error: this.fail(`decoder stopped after an earlier error (${this.broken.message})`) };
    if (n > LZX_RUN_FRAMES) throw new RangeError(`a run of ${n} frames is more than ${LZX_RUN_FRAMES}`);
    const t = this.frames;
    for (let i = 0, k = 0; i < n; i++, k += FRAME_FIELDS) {
      const at = entries[k]!, len = entries[k + 1]!;
      if (at < headerLen || at + len > LZX_RUN_BYTES) throw new RangeError(`frame ${i} of a run lies outside the run area`);
      t[k] = this.runAddr + at;
      t[k + 1] = len;
      t[k + 2] = entries[k + 2]!;
      t[k + 3] = entries[k + 3]!;
    }
    const done = this.wasm.lzx_frames(this.stateAddr, this.framesAddr, n, headerLen, 0);
    if (done === n) return { done };
    const err = this.state[S_ERR]!;
    if (err === ERR_CHECKSUM) return { done, badChecksum: this.state[S_ERR_A]! >>> 0 };
    return { done, error: this.failed(err, entries[done * FRAME_FIELDS + 1]!) };
  }

  /**
   * For tests: decode with the 16-bit reader alone, which the 64-bit one hands over to 8 bytes
   * before a frame's input ends (src/cab/lzx-symbols.c), so the two can be compared.
   */
  exactReaderOnly(): void {
    this.state[S_FAST_MARGIN] = INPUT_SIZE;
  }

  /** One frame from `input`, its bytes copied to `out` when asked. */
  private oneFrame(input: Uint8Array, outSize: number, copyOut: boolean): void {
    if (this.broken) throw this.fail(`decoder stopped after an earlier error (${this.broken.message})`);
    if (!Number.isInteger(outSize) || outSize < 0 || outSize > LZX_FRAME_SIZE) {
      throw this.fail(`uncompressed size ${outSize} is outside 0..${LZX_FRAME_SIZE}`);
    }
    if (input.length > INPUT_SIZE - INPUT_PAD) throw this.fail(`compressed frame of ${input.length} bytes is larger than a CFDATA block can be`);
    this.inputArea.set(input);
    const t = this.frames;
    t[0] = this.inputAddr;
    t[1] = input.length;
    t[2] = outSize;
    t[3] = 0;
    if (this.wasm.lzx_frames(this.stateAddr, this.framesAddr, 1, 0, copyOut ? 1 : 0) !== 1) throw this.failed(this.state[S_ERR]!, input.length);
  }

  private fail(what: string): LzxError {
    return new LzxError(`LZX frame ${this.state[S_FRAME_INDEX]!}: ${what}`);
  }

  /** The error of a frame of `len` input bytes that stopped with State.err `err`; the decoder is broken from now on. */
  private failed(err: number, len: number): LzxError {
    const e = this.fail(this.words(err, len));
    this.broken = e;
    return e;
  }

  /** The words for an error of the WebAssembly half. */
  private words(err: number, len: number): string {
    const st = this.state;
    const a = st[S_ERR_A]!, b = st[S_ERR_B]!;
    const t = st[S_ERR_TREE]!;
    const tree = `${TREE_NAMES[t & 3]}${t & 4 ? ' pretree' : ''}`;
    switch (err) {
      case ERR_MAIN_CODE: return 'invalid main tree Huffman code';
      case ERR_LENGTH_CODE: return 'invalid length tree Huffman code';
      case ERR_ALIGNED_CODE: return 'invalid aligned offset tree Huffman code';
      case ERR_OFFSET:
        return `match offset ${a >>> 0} at folder position ${b >>> 0} reaches before the start of the data or beyond the window`;
      case ERR_MATCH_PAST_BLOCK:
        return `match of ${b} bytes at folder position ${a >>> 0} runs past the end of the ${BLOCK_NAMES[st[S_BLOCK_TYPE]!]} block`;
      case ERR_INPUT_ENDS: return `compressed data ends early (${len} bytes)`;
      case ERR_OVERSUBSCRIBED: return `${tree}: over-subscribed Huffman code lengths`;
      case ERR_PRETREE_CODE: return `invalid ${tree} Huffman code`;
      case ERR_ZERO_RUN: return `${tree}: a run of ${a} zero lengths overruns the tree (${b} left)`;
      case ERR_EQUAL_RUN: return `${tree}: a run of ${a} equal lengths overruns the tree (${b} left)`;
      case ERR_RUN_DELTA: return `${tree}: pretree code ${b} cannot follow a run code`;
      case ERR_BLOCK_TYPE: return `invalid block type ${a}`;
      case ERR_UNCOMPRESSED_HEADER: return `uncompressed block header truncated: R0..R2 need 12 bytes at offset ${a}, ${Math.max(0, len - a)} left`;
      case ERR_UNCOMPRESSED_DATA: return `uncompressed block truncated: ${a} bytes needed at offset ${b}, ${Math.max(0, len - b)} left`;
      case ERR_FRAME_SHORT: return `compressed data ends early: the frame needs ${a} bytes, ${len} given`;
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
