import { constants, inflateRawSync } from 'node:zlib';
import { FormatError } from '../errors.js';

export class MszipError extends FormatError {
  constructor(message: string) {
    super('E_MSZIP', message);
  }
}

const HISTORY = 32768;

/**
 * MSZIP: each CFDATA block is 'CK' followed by raw deflate data that may refer
 * back into the previous block's 32 KiB of output. zlib's preset dictionary
 * gives exactly that history, so every block inflates independently.
 */
export class MszipDecoder {
  private history: Buffer | null = null;

  reset(): void {
    this.history = null;
  }

  /** Returns a fresh buffer of exactly outSize bytes. */
  decodeBlock(input: Uint8Array, outSize: number): Uint8Array {
    if (input.length < 2 || input[0] !== 0x43 || input[1] !== 0x4b) {
      throw new MszipError('MSZIP block does not start with the "CK" signature');
    }
    let out: Buffer;
    try {
      out = inflateRawSync(input.subarray(2), {
        ...(this.history ? { dictionary: this.history } : {}),
        finishFlush: constants.Z_SYNC_FLUSH,
        maxOutputLength: outSize + 1,
      });
    } catch (err) {
      const msg = (err as Error).message;
      throw new MszipError(`corrupt MSZIP block: ${/Cannot create a Buffer larger|maxOutputLength/.test(msg) ? 'expands past its declared size' : msg}`);
    }
    if (out.length !== outSize) {
      throw new MszipError(`MSZIP block expanded to ${out.length} bytes, CFDATA.cbUncomp says ${outSize}`);
    }
    if (out.length >= HISTORY || !this.history) {
      this.history = out.length > HISTORY ? out.subarray(out.length - HISTORY) : out;
    } else {
      const joined = Buffer.concat([this.history, out]);
      this.history = joined.subarray(Math.max(0, joined.length - HISTORY));
    }
    return out;
  }
}
