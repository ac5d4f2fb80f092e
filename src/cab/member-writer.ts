/**
 * Writes extracted members with as few system calls as the data allows. Extracting an LCU
 * is thousands of small manifests, so the time goes into creating files, not into inflate:
 * a small member is gathered in memory and written with one open, one write, one futimes
 * and one close, whatever number of CFDATA blocks it spans; a large member is streamed
 * through one descriptor. Synchronous on purpose: measured on ext4, parallel creation from
 * libuv's thread pool in one directory costs more in lock contention than it saves.
 */
import { closeSync, futimesSync, openSync, writeSync } from 'node:fs';

/** Members up to this size are written in one piece. */
const SMALL = 64 << 10;

export interface OpenMember {
  readonly path: string;
  readonly size: number;
  readonly mtime: Date | undefined;
  /** Small member: chunks gathered until complete. */
  chunks: Uint8Array[] | undefined;
  /** Large member: its descriptor, opened at the first chunk. */
  fd: number | undefined;
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

function finishFd(fd: number, mtime: Date | undefined): void {
  try {
    if (mtime) futimesSync(fd, mtime, mtime);
  } catch {
    // timestamps are best effort
  }
  closeSync(fd);
}

export class MemberWriter {
  private readonly open = new Set<OpenMember>();

  /** Start a member; `mtime` undefined leaves the time the file system gives it. */
  begin(path: string, size: number, mtime?: Date): OpenMember {
    const m: OpenMember = { path, size, mtime, chunks: size <= SMALL ? [] : undefined, fd: undefined };
    this.open.add(m);
    return m;
  }

  /**
   * Bytes of `m`, in order. Small members keep a copy (the decoder reuses its buffers), except
   * when `data` is the whole member: then the caller must call end() before the bytes change.
   */
  data(m: OpenMember, data: Uint8Array): void {
    if (m.chunks) {
      // new Uint8Array(x) copies (Buffer#slice would not); a member inside one block is complete now, and end() follows before the decoder
      // reuses the bytes: no copy needed (most manifests are smaller than a block)
      m.chunks.push(m.chunks.length === 0 && data.length === m.size ? data : new Uint8Array(data));
      return;
    }
    m.fd ??= openSync(m.path, 'w');
    writeAll(m.fd, data);
  }

  /** The member is complete: write it out (small) or close it (large). */
  end(m: OpenMember): void {
    this.open.delete(m);
    if (m.chunks) {
      const body = m.chunks.length === 1 ? m.chunks[0]! : Buffer.concat(m.chunks);
      m.chunks = undefined;
      m.fd = openSync(m.path, 'w');
      try {
        writeAll(m.fd, body);
      } catch (e) {
        closeSync(m.fd);
        throw e;
      }
    }
    m.fd ??= openSync(m.path, 'w');
    const fd = m.fd;
    m.fd = undefined;
    finishFd(fd, m.mtime);
  }

  /** Close whatever is still open (after an error); the files are incomplete and the caller discards them. */
  abandon(): void {
    for (const m of this.open) if (m.fd !== undefined) closeSync(m.fd);
    this.open.clear();
  }
}
