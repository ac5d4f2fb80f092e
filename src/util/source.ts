import { closeSync, constants as fsConstants, fstatSync, openSync, promises as fsp, read, readSync, statSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { FormatError, IoError, ioError, TruncatedError } from '../errors.js';

/**
 * Flags every input file is opened with. O_NONBLOCK: opening a FIFO would otherwise wait for a
 * writer, forever, before any check could refuse it; on a regular file it changes nothing.
 */
const INPUT_FLAGS = fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0);

/** A directory keeps its own message; a FIFO, socket or device is not a file this project reads. */
function requireRegular(st: Pick<Stats, 'isDirectory' | 'isFile'>): void {
  if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
  if (!st.isFile()) throw new IoError('E_IO_NOT_FILE', 'not a regular file');
}

/**
 * Opens a file the user named for reading, never blocking: the path is stat'ed first (a socket
 * or a device is refused without being opened), then opened with O_NONBLOCK and the descriptor
 * itself fstat'ed, so a path swapped in between is refused too. Symbolic links are followed.
 * Errors are raw (an fs error, or an IoError without a file): callers name the file with ioError().
 */
export function openInputSync(path: string): { fd: number; size: number } {
  requireRegular(statSync(path));
  const fd = openSync(path, INPUT_FLAGS);
  try {
    const st = fstatSync(fd);
    requireRegular(st);
    return { fd, size: st.size };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** openInputSync() through the promise API: for files read whole or streamed. */
export async function openInput(path: string): Promise<{ fh: FileHandle; size: number }> {
  requireRegular(await fsp.stat(path));
  const fh = await fsp.open(path, INPUT_FLAGS);
  try {
    const st = await fh.stat();
    requireRegular(st);
    return { fh, size: st.size };
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/**
 * The bytes of a file the user named, in chunks of up to `chunkSize` (update files of several
 * GB are hashed or copied this way), opened as openInput() does. Errors are raw, as there.
 */
export async function* inputChunks(path: string, chunkSize = 1 << 16): AsyncGenerator<Buffer> {
  const { fh } = await openInput(path);
  try {
    for await (const chunk of fh.createReadStream({ highWaterMark: chunkSize, autoClose: false })) yield chunk as Buffer;
  } finally {
    await fh.close();
  }
}

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

  /**
   * Opens synchronously too: opening and fstat of a local file cost less than two thread-pool
   * hops. Anything but a regular file (a FIFO, a device) is refused before a read (openInputSync).
   */
  static async open(path: string, name = path): Promise<FileSource> {
    let opened: { fd: number; size: number };
    try {
      opened = openInputSync(path);
    } catch (err) {
      throw ioError(err, name, 'open');
    }
    return new FileSource(name, opened.size, opened.fd);
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
 * A file read whole (a delta, a base manifest, wcp.dll, a JSON file): a directory, anything else
 * not a regular file (openInput), a missing file or one over `limit` bytes is one error naming
 * the file and `what` it was meant to be.
 */
export async function readWholeFile(file: string, what: string, limit = MAX_WHOLE_FILE): Promise<Uint8Array> {
  let fh: FileHandle | undefined;
  try {
    const opened = await openInput(file);
    fh = opened.fh;
    if (opened.size > limit) throw new FormatError('E_TOO_LARGE', `file is ${opened.size} bytes, more than any ${what} (limit ${limit})`, { file });
    return await fh.readFile();
  } catch (err) {
    throw ioError(err, file);
  } finally {
    await fh?.close();
  }
}
