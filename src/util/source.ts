import { open, type FileHandle } from 'node:fs/promises';
import { ioError, TruncatedError } from '../errors.js';

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

export class FileSource implements ByteSource {
  bytesRead = 0;
  private constructor(readonly name: string, readonly size: number, private readonly fh: FileHandle) {}

  static async open(path: string, name = path): Promise<FileSource> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
      const st = await fh.stat();
      if (st.isDirectory()) {
        await fh.close();
        throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      }
      return new FileSource(name, st.size, fh);
    } catch (err) {
      throw ioError(err, name, 'open');
    }
  }

  async read(offset: number, length: number, what = 'data'): Promise<Uint8Array> {
    checkRange(this, offset, length, what);
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new TruncatedError(`file shrank while reading ${what}`, { file: this.name });
      done += bytesRead;
    }
    this.bytesRead += length;
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close();
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
  async close(): Promise<void> {}
}
