/**
 * Writes extracted members. Extracting an LCU is thousands of small manifests, so the time
 * goes into creating files as much as into inflating: a small member is gathered and written
 * with one open, one write, one futimes and one close, whatever number of CFDATA blocks it
 * spans; a large member is streamed through one descriptor.
 *
 * Two implementations of one interface: `SyncMemberWriter` writes on the calling thread;
 * `ThreadedMemberWriter` hands batches of members to one worker thread, so file creation
 * runs on a second core while the main thread decodes. One thread and not libuv's pool:
 * measured on ext4, parallel creation in one directory costs more in lock contention than
 * it saves.
 */
import { closeSync, futimesSync, openSync, writeSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { IoError, ioError } from '../errors.js';
import { fsPath } from '../util/fsout.js';
import { runWriterThread, WRITER_OPS, type FromWriter, type ToWriter } from './member-writer-worker.js';

/** Members up to this size are written in one piece; larger ones stream. */
const SMALL = 64 << 10;

export interface OpenMember {
  /** A byte string (src/util/fsout.ts byteString): names that are not UTF-8 reach the disk as their bytes. */
  readonly path: string;
  readonly size: number;
  readonly mtime: Date | undefined;
  /** Small member: chunks gathered until complete. */
  chunks: Uint8Array[] | undefined;
  /** Large member: its descriptor (sync) or stream id (threaded), set at the first chunk. */
  fd: number | undefined;
  /** Threaded writer: a large member the calling thread writes itself (`fd` is then a descriptor). */
  local?: boolean;
}

export interface MemberWriter {
  /** Start a member; `mtime` undefined leaves the time the file system gives it. */
  begin(path: string, size: number, mtime?: Date): OpenMember;
  /**
   * Bytes of `m`, in order, only valid during the call: small members keep a copy, except
   * when `data` is the whole member, in which case the caller must call end() before the
   * bytes change.
   */
  data(m: OpenMember, data: Uint8Array): void;
  /** The member is complete. */
  end(m: OpenMember): void;
  /** A promise to await before producing more, when the writer is behind; throws a pending write error. */
  backpressure(): Promise<void> | undefined;
  /** Every member is on disk; throws the first write error. */
  finish(): Promise<void>;
  /** After an error elsewhere: stop, close whatever is open (the files are discarded by the caller). */
  abandon(): Promise<void>;
}

function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

function closeWithTime(fd: number, mtime: Date | number | undefined): void {
  try {
    if (mtime !== undefined) futimesSync(fd, mtime as Date, mtime as Date);
  } catch {
    // timestamps are best effort
  }
  closeSync(fd);
}

function gather(m: OpenMember, data: Uint8Array): void {
  // new Uint8Array(x) copies (Buffer#slice would not); a member inside one block is complete
  // now and end() follows before the decoder reuses the bytes, so it needs no copy
  m.chunks!.push(m.chunks!.length === 0 && data.length === m.size ? data : new Uint8Array(data));
}

function joined(chunks: Uint8Array[]): Uint8Array {
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

/** Staging paths are shown as the final paths they will have (the staging name means nothing to the user). */
export type ShowPath = (stagingPath: string) => string;

export class SyncMemberWriter implements MemberWriter {
  private readonly open = new Set<OpenMember>();
  constructor(private readonly show: ShowPath = (p) => p) {}

  begin(path: string, size: number, mtime?: Date): OpenMember {
    const m: OpenMember = { path, size, mtime, chunks: size <= SMALL ? [] : undefined, fd: undefined };
    this.open.add(m);
    return m;
  }

  data(m: OpenMember, data: Uint8Array): void {
    if (m.chunks) return gather(m, data);
    try {
      m.fd ??= openSync(fsPath(m.path), 'w');
      writeAll(m.fd, data);
    } catch (err) {
      throw ioError(err, this.show(m.path), 'write');
    }
  }

  end(m: OpenMember): void {
    try {
      this.endUnchecked(m);
    } catch (err) {
      throw ioError(err, this.show(m.path), 'write');
    }
  }

  private endUnchecked(m: OpenMember): void {
    this.open.delete(m);
    if (m.chunks) {
      const body = joined(m.chunks);
      m.chunks = undefined;
      m.fd = openSync(fsPath(m.path), 'w');
      try {
        writeAll(m.fd, body);
      } catch (e) {
        closeSync(m.fd);
        throw e;
      }
    }
    m.fd ??= openSync(fsPath(m.path), 'w');
    const fd = m.fd;
    m.fd = undefined;
    closeWithTime(fd, m.mtime);
  }

  backpressure(): undefined {
    return undefined;
  }

  async finish(): Promise<void> {}

  async abandon(): Promise<void> {
    for (const m of this.open) if (m.fd !== undefined) closeSync(m.fd);
    this.open.clear();
  }
}

// ---------------------------------------------------------------- threaded

/**
 * One batch for the worker: small files packed in `buf`, and the operations in order, as
 * rows of five numbers [kind, stream id, offset in buf, length, mtime ms or NaN] plus the
 * paths of `file` and `open` rows joined with NUL (names never hold one), as byte strings. Flat arrays clone
 * in one copy; 20,000 small objects would not.
 */
const { file: OP_FILE, open: OP_OPEN, write: OP_WRITE, close: OP_CLOSE } = WRITER_OPS;

/** The worker's source: see src/cab/member-writer-worker.ts for why it is eval'd. */
const WORKER_SOURCE = `(${runWriterThread.toString()})();`;

/** Batch limits, and how far the worker may fall behind before the decoder waits. */
const BATCH_BYTES = 2 << 20;
const BATCH_OPS = 512;
const MAX_BEHIND = 48 << 20;
/**
 * Batch buffers kept for reuse: as many as can be in flight, so that after the first round no
 * fresh (zero-filled, page-faulting) 2 MiB buffer is made per batch.
 */
const SPARE_MAX = MAX_BEHIND / BATCH_BYTES + 2;
/**
 * When the worker is this far behind, the calling thread writes the next member itself instead
 * of queueing it (and, for small members, instead of copying it into a batch): writing is then
 * shared between the two threads instead of the decoder waiting for the writer. Creating 20,000
 * files costs the worker more than inflating them costs the decoder (measured on tmpfs).
 */
const STEAL_BEHIND = 8 << 20;

export class ThreadedMemberWriter implements MemberWriter {
  private readonly show: ShowPath;
  private readonly worker = new Worker(WORKER_SOURCE, { eval: true, workerData: WRITER_OPS });
  private buf = new Uint8Array(BATCH_BYTES);
  private used = 0;
  private ops = new Float64Array(BATCH_OPS * 5);
  private nOps = 0;
  private paths: string[] = [];
  private nextId = 1;
  private behind = 0;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private readonly ended: Promise<void>;
  private closed = false;
  /** Batch buffers the worker has finished with. */
  private readonly spare: ArrayBuffer[] = [];
  /** Large members this thread is writing itself (see STEAL_BEHIND). */
  private readonly local = new Set<OpenMember>();
  /** Members written on the calling thread because the worker was behind. */
  localWrites = 0;

  constructor(show: ShowPath = (p) => p) {
    this.show = show;
    this.ended = new Promise<void>((resolve) => {
      this.worker.on('message', (msg: FromWriter) => {
        if (msg.k === 'done' || msg.k === 'error') {
          this.behind -= msg.bytes;
          if (msg.buf.byteLength === BATCH_BYTES && this.spare.length < SPARE_MAX) this.spare.push(msg.buf);
          if (msg.k === 'error' && !this.error) {
            this.error = ioError(Object.assign(new Error(msg.message), { code: msg.code }), this.show(msg.path), 'write');
          }
          if (this.wake && (this.error || this.behind < MAX_BEHIND / 2)) {
            const w = this.wake;
            this.wake = undefined;
            w();
          }
        } else if (msg.k === 'ended') resolve();
      });
      this.worker.on('error', (e) => {
        this.error ??= e;
        this.wake?.();
        resolve();
      });
      this.worker.on('exit', (code) => {
        // leaving before it was told to means some members were never written
        if (!this.closed) this.error ??= new IoError('E_IO_WRITER', `the writer thread stopped unexpectedly (exit code ${code})`);
        this.wake?.();
        resolve();
      });
    });
  }

  begin(path: string, size: number, mtime?: Date): OpenMember {
    return { path, size, mtime, chunks: size <= SMALL ? [] : undefined, fd: undefined };
  }

  data(m: OpenMember, data: Uint8Array): void {
    if (m.chunks) return gather(m, data);
    if (m.fd === undefined) {
      if (this.behind >= STEAL_BEHIND) {
        m.local = true;
        this.localWrites++;
        m.fd = this.here(m, () => openSync(fsPath(m.path), 'w'));
        this.local.add(m);
      } else {
        m.fd = this.nextId++;
        this.op(OP_OPEN, m.fd, 0, 0, NaN, m.path);
      }
    }
    if (m.local) return this.here(m, () => writeAll(m.fd!, data));
    const off = this.put(data);
    this.op(OP_WRITE, m.fd, off, data.length, NaN);
  }

  /** Run a write of `m` on this thread, errors named by the member's final path. */
  private here<T>(m: OpenMember, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw ioError(err, this.show(m.path), 'write');
    }
  }

  end(m: OpenMember): void {
    if (m.local) {
      this.local.delete(m);
      const fd = m.fd!;
      m.fd = undefined;
      return this.here(m, () => closeWithTime(fd, m.mtime));
    }
    if (m.chunks && this.behind >= STEAL_BEHIND) {
      const body = joined(m.chunks);
      m.chunks = undefined;
      this.localWrites++;
      return this.here(m, () => {
        const fd = openSync(fsPath(m.path), 'w');
        try {
          writeAll(fd, body);
        } catch (e) {
          closeSync(fd);
          throw e;
        }
        closeWithTime(fd, m.mtime);
      });
    }
    const mtime = m.mtime ? m.mtime.getTime() : NaN;
    if (m.chunks) {
      const chunks = m.chunks;
      m.chunks = undefined;
      const len = chunks.reduce((n, c) => n + c.length, 0);
      const off = this.reserve(len);
      let at = off;
      for (const c of chunks) {
        this.buf.set(c, at);
        at += c.length;
      }
      this.op(OP_FILE, 0, off, len, mtime, m.path);
      return;
    }
    if (m.fd === undefined) this.op(OP_OPEN, (m.fd = this.nextId++), 0, 0, NaN, m.path);
    this.op(OP_CLOSE, m.fd, 0, 0, mtime);
  }

  private op(kind: number, id: number, off: number, len: number, mtime: number, path?: string): void {
    const o = this.nOps * 5;
    this.ops[o] = kind;
    this.ops[o + 1] = id;
    this.ops[o + 2] = off;
    this.ops[o + 3] = len;
    this.ops[o + 4] = mtime;
    this.nOps++;
    if (path !== undefined) this.paths.push(path);
    if (this.nOps >= BATCH_OPS || this.used >= BATCH_BYTES) this.flush();
  }

  /** Room for `len` bytes in the batch buffer (flushing first when full); returns the offset. */
  private reserve(len: number): number {
    if (this.used + len > this.buf.length) this.flush();
    if (len > this.buf.length) this.buf = new Uint8Array(len);
    const off = this.used;
    this.used += len;
    return off;
  }

  /** Copy `data` into the batch buffer; returns its offset. */
  private put(data: Uint8Array): number {
    const off = this.reserve(data.length);
    this.buf.set(data, off);
    return off;
  }

  private flush(): void {
    if (this.nOps === 0) return;
    const bytes = this.used;
    const buf = this.buf.buffer as ArrayBuffer;
    const ops = this.ops.slice(0, this.nOps * 5).buffer;
    // the buffers move to the worker (no copy); a fresh data buffer takes its place
    const batch: ToWriter = { k: 'batch', ops, paths: this.paths.join('\0'), buf, bytes };
    this.worker.postMessage(batch, [buf, ops]);
    this.behind += bytes;
    this.nOps = 0;
    this.paths = [];
    this.used = 0;
    const reuse = this.spare.pop();
    this.buf = reuse ? new Uint8Array(reuse) : new Uint8Array(BATCH_BYTES);
  }

  backpressure(): Promise<void> | undefined {
    if (this.error) throw this.error;
    if (this.behind < MAX_BEHIND) return undefined;
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    }).then(() => {
      if (this.error) throw this.error;
    });
  }

  async finish(): Promise<void> {
    this.flush();
    await this.close('end');
    if (this.error) throw this.error;
  }

  async abandon(): Promise<void> {
    this.nOps = 0;
    this.paths = [];
    for (const m of this.local) {
      try {
        if (m.fd !== undefined) closeSync(m.fd);
      } catch {
        // closing what is discarded anyway
      }
    }
    this.local.clear();
    await this.close('abort');
  }

  private async close(how: 'end' | 'abort'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.worker.postMessage({ k: how } satisfies ToWriter);
    await this.ended;
    await this.worker.terminate();
  }
}

/** Below this many members a worker thread costs more to start than it saves. */
const THREAD_MIN_MEMBERS = 256;

export function memberWriterFor(members: number, show?: ShowPath): MemberWriter {
  return members >= THREAD_MIN_MEMBERS ? new ThreadedMemberWriter(show) : new SyncMemberWriter(show);
}
