import { FormatError, TruncatedError } from '../errors.js';

/**
 * The one bit reader of the delta engine: LSB-first (byte 0 bit 0 comes first), over one bitstream
 * whose first 3 bits give the number of unused bits at the top of its last byte (docs/delta.md).
 *
 * Reads past the usable bits never index outside the data: `peek` reads zeros there, and every
 * consuming read checks the bound.
 * Hot loops (the PseudoLzx decoder) peek and `consume`, then call `check()` once per token.
 */
export class BitReader {
  private readonly buf: Uint8Array;
  /** Bytes from which a 32-bit window is read without looking past the array. */
  private readonly safeEnd: number;
  /** Bit position of the next read, counted from the start of the stream (bit 0 of byte 0). */
  pos: number;
  /** Number of usable bits: 8 * length - padding. */
  readonly end: number;

  constructor(
    bytes: Uint8Array,
    /** What this stream is, for messages ("patch buffer"). */
    readonly what: string,
    /** Offset of bytes[0] in the enclosing file, for messages. */
    readonly base = 0,
  ) {
    if (bytes.length === 0) throw new TruncatedError(`${what} is empty`, { where: `offset ${base}` });
    this.buf = bytes;
    this.safeEnd = bytes.length - 4;
    const pad = bytes[0]! & 7;
    this.end = bytes.length * 8 - pad;
    if (this.end < 3) throw new TruncatedError(`${what} is shorter than its own padding header`, { where: `offset ${base}` });
    this.pos = 3;
  }

  get bitsLeft(): number {
    return this.end - this.pos;
  }

  where(): string {
    return `offset ${this.base + (this.pos >>> 3)}`;
  }

  truncated(what: string): TruncatedError {
    return new TruncatedError(`truncated ${what}: ${this.what} ended`, { where: this.where() });
  }

  invalid(code: string, message: string): FormatError {
    return new FormatError(code, message, { where: this.where() });
  }

  /** The next 24 bits (LSB-first) without consuming them; bits past the end read as 0. */
  peek24(): number {
    const p = this.pos;
    const i = p >>> 3;
    const b = this.buf;
    if (i <= this.safeEnd) return ((b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24)) >>> (p & 7)) & 0xffffff;
    return this.peekTail(i, p & 7);
  }

  /** peek24 within the last 4 bytes: bytes past the data read as 0, never indexing outside it. */
  private peekTail(i: number, shift: number): number {
    const b = this.buf;
    let v = 0;
    for (let k = 0; k < 4; k++) if (i + k < b.length) v |= b[i + k]! << (8 * k);
    return (v >>> shift) & 0xffffff;
  }

  /** Advance without a bound check; callers check() before trusting what they read. */
  consume(n: number): void {
    this.pos += n;
  }

  /** Throws when a sequence of consume() calls went past the usable bits. */
  check(what: string): void {
    if (this.pos > this.end) throw this.truncated(what);
  }

  bit(what: string): number {
    if (this.pos >= this.end) throw this.truncated(what);
    const p = this.pos++;
    return (this.buf[p >>> 3]! >>> (p & 7)) & 1;
  }

  /** `n` raw bits (0..32), LSB-first, as an unsigned number. */
  bits(n: number, what: string): number {
    if (n === 0) return 0;
    if (this.pos + n > this.end) throw this.truncated(what);
    if (n <= 24) {
      const v = this.peek24() & ((1 << n) - 1);
      this.pos += n;
      return v;
    }
    const lo = this.peek24();
    this.pos += 24;
    const hi = this.peek24() & ((1 << (n - 24)) - 1);
    this.pos += n - 24;
    return lo + hi * 0x1000000;
  }

  /** `n` raw bits (0..64) as a bigint. */
  bitsBig(n: number, what: string): bigint {
    let v = 0n;
    let shift = 0n;
    while (n > 0) {
      const k = Math.min(n, 24);
      v |= BigInt(this.bits(k, what)) << shift;
      shift += BigInt(k);
      n -= k;
    }
    return v;
  }

  /** "Number": z zero bits and a one bit (z < 16), then 4*(z+1) value bits LSB-first; up to 64 bits. */
  numberBig(what: string): bigint {
    let zeros = 0;
    while (this.bit(what) === 0) {
      if (++zeros >= 16) throw this.invalid('E_DELTA_NUMBER', `invalid ${what}: length prefix longer than 16 bits`);
    }
    return this.bitsBig((zeros + 1) * 4, what);
  }

  /** A Number that must fit in [0, max]. */
  number(what: string, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.numberBig(what);
    if (v > BigInt(max)) throw this.invalid('E_DELTA_NUMBER', `${what} is too large (0x${v.toString(16)}, at most ${max})`);
    return Number(v);
  }

  /** "Long number" for long match lengths: z zero bits and a one (z <= 23), then z+8 bits v; value (1 << (z+8)) | v. */
  longNumber(what: string): number {
    let zeros = 0;
    while (this.bit(what) === 0) {
      if (++zeros > 23) throw this.invalid('E_DELTA_NUMBER', `invalid ${what}: long number prefix longer than 24 bits`);
    }
    const n = zeros + 8;
    return 2 ** n + this.bits(n, what);
  }

  /** Buffer: a Number (the size), skip to the next byte boundary, then that many raw bytes. */
  buffer(what: string, max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const len = this.numberBig(`${what} length`);
    const aligned = (this.pos + 7) & ~7;
    const start = aligned >>> 3;
    const avail = Math.max(0, Math.floor((this.end - aligned) / 8));
    if (len > BigInt(max)) throw this.invalid('E_DELTA_BUFFER', `${what} is ${len} bytes, more than the ${max} allowed`);
    if (len > BigInt(avail)) {
      throw new TruncatedError(`truncated ${what}: ${len} bytes declared, ${avail} left`, { where: `offset ${this.base + start}` });
    }
    const n = Number(len);
    this.pos = (start + n) * 8;
    return this.buf.subarray(start, start + n);
  }

  /** Offset in the enclosing file of the byte at `pos` (for buffers returned by buffer()). */
  fileOffsetOf(sub: Uint8Array): number {
    return this.base + (sub.byteOffset - this.buf.byteOffset);
  }

  /** Whole bytes not yet consumed (a final partial byte is padding). */
  bytesLeft(): number {
    return Math.max(0, Math.floor((this.end - this.pos) / 8));
  }
}
