import type * as Zlib from 'node:zlib';
import { FormatError } from '../errors.js';

/**
 * node:zlib, loaded with the first MSZIP decoder: a listing, or a cabinet that is stored or LZX,
 * does not need it or the 20 stream modules it pulls in.
 */
let zlibModule: typeof Zlib | undefined;
const zlib = (): typeof Zlib => (zlibModule ??= process.getBuiltinModule('node:zlib'));

export class MszipError extends FormatError {
  constructor(message: string) {
    super('E_MSZIP', message);
  }
}

const HISTORY = 32768;
/** CFDATA blocks hold at most 32 KiB of output. */
const MAX_BLOCK = 32768;

/**
 * The native inflate engine behind node:zlib, used directly so one engine and one output
 * buffer serve every block of a folder. `inflateRawSync` builds a stream object, a
 * dictionary and a fresh output buffer per call; for an LCU's thousands of 32 KiB blocks
 * that costs as much as the inflating itself. The handle is not a documented API, so it
 * is probed once and the public path is kept as the fallback.
 */
interface InflateHandle {
  reset(): void;
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  onerror: (message: string, errno: number) => void;
}

function openEngine(): { handle: InflateHandle; state: Uint32Array } | undefined {
  try {
    const eng = new (zlib().InflateRaw)() as unknown as { _handle?: InflateHandle; _writeState?: Uint32Array };
    const handle = eng._handle;
    const state = eng._writeState;
    if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array) || state.length < 2) return undefined;
    return { handle, state };
  } catch {
    return undefined;
  }
}

/**
 * MSZIP: each CFDATA block is 'CK' followed by raw deflate data that may refer back into
 * the previous block's 32 KiB of output. The history goes in front of the block as a
 * deflate stored block (non-final), so the engine sees it as its own earlier output: the
 * same result as a preset dictionary, without one.
 */
export class MszipDecoder {
  private engine = openEngine();
  private history = Buffer.alloc(HISTORY);
  private historyLen = 0;
  private input = Buffer.alloc(5 + HISTORY + MAX_BLOCK + 1024);
  /** History + block output, plus one byte to notice a block that expands past its size. */
  private readonly out = Buffer.alloc(HISTORY + MAX_BLOCK + 1);
  private error: string | undefined;

  constructor() {
    if (this.engine) this.engine.handle.onerror = (message: string) => {
      this.error = message;
    };
  }

  reset(): void {
    this.historyLen = 0;
  }

  /** Exactly outSize bytes, valid until the next decodeBlock or reset call. */
  decodeBlock(input: Uint8Array, outSize: number): Uint8Array {
    if (input.length < 2 || input[0] !== 0x43 || input[1] !== 0x4b) {
      throw new MszipError('MSZIP block does not start with the "CK" signature');
    }
    if (!Number.isInteger(outSize) || outSize < 0 || outSize > MAX_BLOCK) throw new MszipError(`MSZIP block size ${outSize} is outside 0..${MAX_BLOCK}`);
    const out = this.engine ? this.inflateWithEngine(input, outSize) : this.inflatePublic(input, outSize);
    if (out.length !== outSize) {
      throw new MszipError(`MSZIP block expanded to ${out.length} bytes, CFDATA.cbUncomp says ${outSize}`);
    }
    this.keepHistory(out);
    return out;
  }

  private inflateWithEngine(block: Uint8Array, outSize: number): Uint8Array {
    const { handle, state } = this.engine!;
    const h = this.historyLen;
    const need = 5 + h + block.length - 2;
    if (this.input.length < need) this.input = Buffer.alloc(need);
    const inp = this.input;
    let n = 0;
    if (h > 0) {
      // stored block: BFINAL=0 BTYPE=00, aligned LEN and its one's complement, then the bytes
      inp[0] = 0;
      inp.writeUInt16LE(h, 1);
      inp.writeUInt16LE(~h & 0xffff, 3);
      this.history.copy(inp, 5, 0, h);
      n = 5 + h;
    }
    inp.set(block.subarray(2), n);
    n += block.length - 2;
    this.error = undefined;
    handle.reset();
    const limit = h + outSize + 1;
    handle.writeSync(zlib().constants.Z_SYNC_FLUSH, inp, 0, n, this.out, 0, limit);
    if (this.error !== undefined) throw new MszipError(`corrupt MSZIP block: ${this.error}`);
    const produced = limit - state[0]!;
    if (produced > h + outSize) throw new MszipError('corrupt MSZIP block: expands past its declared size');
    // a plain Uint8Array view: Buffer#slice on it would alias, Uint8Array#slice copies
    return new Uint8Array(this.out.buffer, this.out.byteOffset + h, produced - h);
  }

  private inflatePublic(block: Uint8Array, outSize: number): Uint8Array {
    try {
      return zlib().inflateRawSync(block.subarray(2), {
        ...(this.historyLen > 0 ? { dictionary: this.history.subarray(0, this.historyLen) } : {}),
        finishFlush: zlib().constants.Z_SYNC_FLUSH,
        maxOutputLength: outSize + 1,
      });
    } catch (err) {
      const msg = (err as Error).message;
      throw new MszipError(`corrupt MSZIP block: ${/Cannot create a Buffer larger|maxOutputLength/.test(msg) ? 'expands past its declared size' : msg}`);
    }
  }

  /** The last 32 KiB of output, for the next block. `out` may alias this.out, never this.history. */
  private keepHistory(out: Uint8Array): void {
    if (out.length >= HISTORY) {
      this.history.set(out.subarray(out.length - HISTORY));
      this.historyLen = HISTORY;
      return;
    }
    const keep = Math.min(this.historyLen, HISTORY - out.length);
    this.history.copy(this.history, 0, this.historyLen - keep, this.historyLen);
    this.history.set(out, keep);
    this.historyLen = keep + out.length;
  }

  /** For tests: whether the reusable native engine is in use. */
  get usesEngine(): boolean {
    return this.engine !== undefined;
  }

  /** For tests: force the public zlib path. */
  disableEngine(): void {
    this.engine = undefined;
  }
}
