import { closeSync, fstatSync, openSync, promises as fsp, read, readSync } from 'node:fs';
import { FormatError, ioError, TruncatedError } from '../errors.js';

/**
 * Random access to bytes that may be far larger than memory (a 1 GB MSU), or a
 * window into another source (an inner cab stored uncompressed in an outer one):
 * parsers read only what they need, where they need it.
 */
export interface ByteSource {
  /** Name used in error messages (as the user gave it, or `outer.msu!inner.cab`). */
  readonly name: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`, or a TruncatedError naming `what`. */
  read(offset: number, length: number, what?: string): Promise<Uint8Array>;
  /** Count of bytes handed out so far (lets benchmarks and tests prove we read little). */
  readonly bytesRead: number;
  /** True when read() hands out a fresh buffer the caller may change; otherwise it may be a view of shared bytes. */
  readonly freshReads?: boolean;
  /**
   * Fill `dest` with the `dest.length` bytes at `offset`, errors as read(): for a reader that
   * recycles its buffers. Only sources that read a file have it; where the bytes are already in
   * memory, read() hands out views, which no copy beats.
   */
  readonly readInto?: (offset: number, dest: Uint8Array, what?: string) => Promise<void>;
  close(): Promise<void>;
}

function checkRange(src: { name: string; size: number }, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > src.size) {
    throw new TruncatedError(
      `truncated ${what}: needs ${length} bytes at offset ${offset}, file has ${src.size}`,
      { file: src.name, where: `offset ${offset}` },
    );
  }
}

/**
 * Reads up to this size are made synchronously. From the page cache they take microseconds,
 * less than a round trip through libuv's thread pool, and `inspect`/`list` (headers, CFFILE
 * tables, CFDATA walks to update.mum) then never sit idle waiting for one. Larger reads (the
 * read-ahead of an extraction, up to 4 MiB) stay asynchronous so decoding overlaps them.
 */
const SYNC_READ_MAX = 1 << 20;

const readAsync = (fd: number, buf: Uint8Array, off: number, len: number, pos: number): Promise<number> =>
  new Promise((resolve, reject) => read(fd, buf, off, len, pos, (err, n) => (err ? reject(err) : resolve(n))));

export class FileSource implements ByteSource {
  bytesRead = 0;
  readonly freshReads = true;
  private fd: number | undefined;
  private constructor(readonly name: string, readonly size: number, fd: number) {
    this.fd = fd;
  }

  /** Opens synchronously too: opening and fstat of a local file cost less than two thread-pool hops. */
  static async open(path: string, name = path): Promise<FileSource> {
    let fd: number | undefined;
    try {
      fd = openSync(path, 'r');
      const st = fstatSync(fd);
      if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      return new FileSource(name, st.size, fd);
    } catch (err) {
      if (fd !== undefined) closeSync(fd);
      throw ioError(err, name, 'open');
    }
  }

  async read(offset: number, length: number, what = 'data'): Promise<Uint8Array> {
    checkRange(this, offset, length, what);
    const buf = Buffer.allocUnsafe(length);
    await this.readInto(offset, buf, what);
    return buf;
  }

  readonly readInto = async (offset: number, dest: Uint8Array, what = 'data'): Promise<void> => {
    const length = dest.length;
    checkRange(this, offset, length, what);
    const fd = this.fd;
    if (fd === undefined) throw ioError(Object.assign(new Error('file is closed'), { code: 'EBADF' }), this.name, 'read');
    let done = 0;
    try {
      while (done < length) {
        const n = length <= SYNC_READ_MAX
          ? readSync(fd, dest, done, length - done, offset + done)
          : await readAsync(fd, dest, done, length - done, offset + done);
        if (n === 0) throw new TruncatedError(`file shrank while reading ${what}`, { file: this.name });
        done += n;
      }
    } catch (err) {
      if (err instanceof TruncatedError) throw err;
      throw ioError(err, this.name, 'read');
    }
    this.bytesRead += length;
  };

  async close(): Promise<void> {
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) closeSync(fd);
  }
}

export class BufferSource implements ByteSource {
  bytesRead = 0;
  constructor(readonly bytes: Uint8Array, readonly name = '<memory>') {}
  get size(): number {
    return this.bytes.length;
  }
  async read(offset: number, length: number, what = 'data'): Promise<Uint8Array> {
    checkRange(this, offset, length, what);
    this.bytesRead += length;
    return this.bytes.subarray(offset, offset + length);
  }
  async close(): Promise<void> {}
}

/** A window [offset, offset+size) of a parent source; closing it leaves the parent open. */
export class SliceSource implements ByteSource {
  constructor(
    private readonly parent: ByteSource,
    private readonly offset: number,
    readonly size: number,
    readonly name: string,
  ) {
    checkRange(parent, offset, size, `member ${name}`);
  }
  get bytesRead(): number {
    return this.parent.bytesRead;
  }
  async read(offset: number, length: number, what = 'data'): Promise<Uint8Array> {
    checkRange(this, offset, length, what);
    return this.parent.read(this.offset + offset, length, what);
  }

  /** The parent's readInto, shifted; absent when the parent has none. */
  get readInto(): ByteSource['readInto'] {
    const into = this.parent.readInto;
    return into && (async (offset: number, dest: Uint8Array, what = 'data') => {
      checkRange(this, offset, dest.length, what);
      return into(this.offset + offset, dest, what);
    });
  }
  async close(): Promise<void> {}
}

/** Node's limit for one Buffer read whole: no file this project reads whole may be larger. */
export const MAX_WHOLE_FILE = 2 ** 31 - 1;

/**
 * A file read whole (a delta, a base manifest, wcp.dll): a directory, a missing file or one over
 * `limit` bytes is one error naming the file and `what` it was meant to be.
 */
export async function readWholeFile(file: string, what: string, limit = MAX_WHOLE_FILE): Promise<Uint8Array> {
  try {
    const st = await fsp.stat(file);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st.size > limit) throw new FormatError('E_TOO_LARGE', `file is ${st.size} bytes, more than any ${what} (limit ${limit})`, { file });
    return await fsp.readFile(file);
  } catch (err) {
    throw ioError(err, file);
  }
}
