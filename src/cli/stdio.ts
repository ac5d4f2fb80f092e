import { EventEmitter } from 'node:events';
import { fstatSync, statSync, writeSync } from 'node:fs';

/**
 * Where the CLI writes: Node's process.stdout/stderr, a stream a test passes in, or an FdOutput.
 * Only this much of a Writable is used.
 */
export interface Output {
  write(chunk: string | Uint8Array): boolean;
  on(event: 'drain' | 'error', listener: (err?: Error) => void): unknown;
  off(event: 'drain' | 'error', listener: (err?: Error) => void): unknown;
  /** Set on a terminal (Node's tty stream): progress is drawn as a live line. */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/**
 * A pipe, socket or regular file written with write(2) on its descriptor. Node writes to these
 * synchronously on Linux too, so nothing changes for the reader, but the first touch of
 * process.stdout on a pipe or socket loads Node's net and stream modules: 5-7 ms of every command
 * whose output is captured (docs/performance.md).
 */
export class FdOutput extends EventEmitter implements Output {
  /** Node's stream, once the descriptor turned out to be non-blocking (EAGAIN): it can wait. */
  private stream: Output | undefined;

  /** `nodeStream` gives Node's stream for the same descriptor; `writeTo` is write(2) (a test's stand-in). */
  constructor(
    readonly fd: number,
    private readonly nodeStream: () => Output,
    private readonly writeTo: (fd: number, bytes: Uint8Array) => number = writeSync,
  ) {
    super();
  }

  write(chunk: string | Uint8Array): boolean {
    if (this.stream) return this.stream.write(chunk);
    let buf = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    try {
      while (buf.length > 0) buf = buf.subarray(this.writeTo(this.fd, buf));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        // someone sharing the descriptor made it non-blocking: hand the rest, in order, to Node's stream
        this.stream = this.nodeStream();
        this.stream.on('error', (e) => this.report(e));
        this.stream.on('drain', () => this.emit('drain'));
        return this.stream.write(buf);
      }
      // as a stream reports it: an 'error' event on a later tick
      process.nextTick(() => this.report(err as Error));
      return false;
    }
    return true;
  }

  /**
   * An 'error' event for whoever listens (src/cli/main.ts does on stdout, for EPIPE); a failed
   * write to stderr, which nobody listens to, has nowhere to be reported and must not throw.
   */
  private report(err: Error | undefined): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/**
 * The process's stdout (fd 1) or stderr (fd 2): an FdOutput for a pipe, a socket (what a parent
 * process's spawn() gives as a pipe), a file or /dev/null (where scripts and benchmarks send what
 * they do not read); Node's own stream for anything else (a terminal, whose width and live line
 * need it; other devices).
 */
export function standardOutput(fd: 1 | 2): Output {
  const node = (): Output => (fd === 1 ? process.stdout : process.stderr);
  let direct = false;
  try {
    const st = fstatSync(fd);
    direct = st.isFIFO() || st.isSocket() || st.isFile() || (st.isCharacterDevice() && isDevNull(st.rdev));
  } catch {
    // a closed descriptor: Node's stream knows how to report that
  }
  return direct ? new FdOutput(fd, node) : node();
}

/** Whether a character device is /dev/null (the same device number), without Node's tty module. */
function isDevNull(rdev: number): boolean {
  try {
    return statSync('/dev/null').rdev === rdev;
  } catch {
    return false;
  }
}
