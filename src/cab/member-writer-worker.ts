/**
 * The member writer's thread (src/cab/member-writer.ts): it creates, writes and closes the
 * files of an extraction while the calling thread decodes.
 *
 * It runs as eval'd source, `(${runWriterThread})()`, so that the same code runs from src/
 * under the test runner and from dist/: the body must use nothing from outside itself but
 * require() and workerData. It stops at the first error and reports it; on `abort` or `end`
 * it closes its descriptors (they belong to the process, not the thread) and leaves.
 */

/** The kinds of operation in a batch: one row of five numbers each (member-writer.ts). */
export const WRITER_OPS = { file: 0, open: 1, write: 2, close: 3 } as const;
export type WriterOps = typeof WRITER_OPS;

/** Messages from the calling thread. */
export type ToWriter =
  | { k: 'batch'; buf: ArrayBuffer; ops: ArrayBuffer; paths: string; bytes: number }
  | { k: 'abort' | 'end' };

/** Messages back; `buf` returns the batch buffer for reuse. */
export type FromWriter =
  | { k: 'done'; bytes: number; buf: ArrayBuffer }
  | { k: 'error'; path: string; code: string | undefined; message: string; bytes: number; buf: ArrayBuffer }
  | { k: 'ended' };

export function runWriterThread(): void {
  const { parentPort, workerData } = require('node:worker_threads') as typeof import('node:worker_threads');
  const fs = require('node:fs') as typeof import('node:fs');
  const OP = workerData as WriterOps;
  const port = parentPort!;
  const fds = new Map<number, number>();
  const names = new Map<number, string>();
  let failed = false;
  const writeAll = (fd: number, buf: Uint8Array, off: number, len: number): void => {
    while (len > 0) {
      const n = fs.writeSync(fd, buf, off, len);
      off += n;
      len -= n;
    }
  };
  const done = (fd: number, mtime: number | null): void => {
    try {
      if (mtime !== null) fs.futimesSync(fd, mtime / 1000, mtime / 1000);
    } catch {
      // a time that cannot be set leaves the file's own
    }
    fs.closeSync(fd);
  };
  const reply = (msg: FromWriter, buf?: ArrayBuffer): void => port.postMessage(msg, buf ? [buf] : []);
  port.on('message', (msg: ToWriter) => {
    if (msg.k !== 'batch') {
      for (const fd of fds.values()) {
        try {
          fs.closeSync(fd);
        } catch {
          // already gone: nothing left to release
        }
      }
      fds.clear();
      reply({ k: 'ended' });
      port.close();
      return;
    }
    if (failed) return reply({ k: 'done', bytes: msg.bytes, buf: msg.buf }, msg.buf);
    const buf = new Uint8Array(msg.buf);
    const ops = new Float64Array(msg.ops);
    const paths = msg.paths.split('\0');
    let p = 0;
    let path = '';
    try {
      for (let i = 0; i < ops.length; i += 5) {
        const kind = ops[i]!, id = ops[i + 1]!, off = ops[i + 2]!, len = ops[i + 3]!;
        const mtime = Number.isNaN(ops[i + 4]) ? null : ops[i + 4]!;
        path = kind === OP.file || kind === OP.open ? paths[p++]! : names.get(id)!;
        if (kind === OP.file) {
          const fd = fs.openSync(Buffer.from(path, 'latin1'), 'w');
          try {
            writeAll(fd, buf, off, len);
          } catch (e) {
            fs.closeSync(fd);
            throw e;
          }
          done(fd, mtime);
        } else if (kind === OP.open) {
          fds.set(id, fs.openSync(Buffer.from(path, 'latin1'), 'w'));
          names.set(id, path);
        } else if (kind === OP.write) {
          writeAll(fds.get(id)!, buf, off, len);
        } else {
          const fd = fds.get(id)!;
          fds.delete(id);
          names.delete(id);
          done(fd, mtime);
        }
      }
      reply({ k: 'done', bytes: msg.bytes, buf: msg.buf }, msg.buf);
    } catch (e) {
      failed = true;
      const err = e as NodeJS.ErrnoException;
      reply({ k: 'error', path, code: err.code, message: err.message, bytes: msg.bytes, buf: msg.buf }, msg.buf);
    }
  });
}
