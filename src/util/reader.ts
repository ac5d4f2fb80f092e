import { TruncatedError } from '../errors.js';

/**
 * The one bounds-checked little-endian reader all binary parsers go through.
 * Every read checks that the bytes exist; a short read is a TruncatedError that
 * names the structure being read, never an `undefined` or a silent zero.
 */
export class ByteReader {
  readonly bytes: Uint8Array;
  /**
   * The bytes as a DataView, for a table read field by field in a hot loop: the caller checks a
   * whole record with need() and skip()s it, then reads its fields at the old position.
   */
  readonly view: DataView;
  /** Offset of bytes[0] in the enclosing file, for error messages. */
  readonly base: number;
  pos = 0;

  constructor(bytes: Uint8Array, base = 0) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.base = base;
  }

  get length(): number {
    return this.bytes.length;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  /** Throws unless `n` bytes are available at the cursor (or at `at`). */
  need(n: number, what: string, at = this.pos): void {
    if (!Number.isInteger(n) || n < 0 || at < 0 || at + n > this.bytes.length) {
      throw new TruncatedError(
        `truncated ${what}: needs ${n} bytes at offset ${this.base + at}, ${Math.max(0, this.bytes.length - at)} available`,
        { where: `offset ${this.base + at}` },
      );
    }
  }

  seek(pos: number, what = 'seek target'): this {
    if (!Number.isInteger(pos) || pos < 0 || pos > this.bytes.length) {
      throw new TruncatedError(`${what} at offset ${this.base + pos} is outside the data (${this.bytes.length} bytes)`, {
        where: `offset ${this.base + pos}`,
      });
    }
    this.pos = pos;
    return this;
  }

  skip(n: number, what = 'reserved bytes'): this {
    this.need(n, what);
    this.pos += n;
    return this;
  }

  u8(what = 'byte'): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }

  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }

  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  u64(what = 'u64'): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return v;
  }

  /** u64 that must fit a JS number (file sizes, offsets). */
  u64n(what = 'u64'): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new TruncatedError(`${what} is absurdly large (${v})`, { where: `offset ${this.base + this.pos - 8}` });
    }
    return Number(v);
  }

  /** A view (not a copy) of the next n bytes. */
  take(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A view of [at, at+n) without moving the cursor. */
  slice(at: number, n: number, what = 'bytes'): Uint8Array {
    this.need(n, what, at);
    return this.bytes.subarray(at, at + n);
  }

  /** NUL-terminated string of at most `max` bytes (terminator excluded), decoded as latin1 or utf8. */
  cstring(max: number, what = 'string', encoding: 'latin1' | 'utf8' = 'latin1'): string {
    const raw = this.cstringBytes(max, what);
    return Buffer.from(raw.buffer, raw.byteOffset, raw.length).toString(encoding);
  }

  /** The bytes of a NUL-terminated string of at most `max` bytes, undecoded (a view; the terminator is consumed). */
  cstringBytes(max: number, what = 'string'): Uint8Array {
    const start = this.pos;
    const limit = Math.min(this.bytes.length, start + max + 1);
    const at = this.bytes.indexOf(0, start);
    if (at >= 0 && at < limit) {
      this.pos = at + 1;
      return this.bytes.subarray(start, at);
    }
    if (limit === this.bytes.length) {
      throw new TruncatedError(`truncated ${what}: no terminating NUL before end of data`, {
        where: `offset ${this.base + start}`,
      });
    }
    throw new TruncatedError(`${what} is longer than ${max} bytes`, { where: `offset ${this.base + start}` });
  }

  /** Peek without moving: true when the bytes at `at` equal `sig`. */
  startsWith(sig: ArrayLike<number>, at = this.pos): boolean {
    if (at < 0 || at + sig.length > this.bytes.length) return false;
    for (let i = 0; i < sig.length; i++) if (this.bytes[at + i] !== sig[i]) return false;
    return true;
  }
}
