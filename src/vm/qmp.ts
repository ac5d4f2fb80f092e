/**
 * QMP (QEMU Machine Protocol) client over a unix socket: JSON objects separated by CRLF.
 * Server greets with {"QMP":{version,capabilities}}; the client must send
 * qmp_capabilities before anything else. Replies carry the request's "id";
 * asynchronous events ({"event","data","timestamp"}) arrive in between.
 */
import net from 'node:net';
import { ToolError } from '../errors.js';

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package?: string };
  capabilities: string[];
}

export interface QmpEvent {
  event: string;
  data: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

/** The events the runner acts on (QAPI names). */
export const QMP_EVENTS = ['SHUTDOWN', 'RESET', 'STOP', 'RESUME', 'GUEST_PANICKED', 'BLOCK_IO_ERROR', 'SUSPEND', 'POWERDOWN'] as const;

export class QmpError extends ToolError {
  constructor(code: string, message: string, readonly errorClass?: string) {
    super(code, `QMP: ${message}`);
  }
}

export interface QmpConnectOptions {
  /** Give up connecting (socket missing or refusing) after this long. Default 10 s. */
  connectTimeoutMs?: number;
  /** Default per-command timeout. Default 10 s. */
  commandTimeoutMs?: number;
  /** Sees every line in and out (for qmp.log). */
  log?: (direction: 'in' | 'out', line: string) => void;
  /** Stop retrying the connection (e.g. the QEMU process already exited). */
  signal?: AbortSignal;
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  command: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function connectOnce(socketPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection({ path: socketPath });
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => {
      s.destroy();
      reject(e);
    });
  });
}

export class QmpClient {
  greeting!: QmpGreeting;
  private buf = '';
  private nextId = 1;
  private pending = new Map<string, Pending>();
  private listeners: Array<(e: QmpEvent) => void> = [];
  private greetingWaiter: ((g: QmpGreeting) => void) | undefined;
  private isClosed = false;
  private closeReason = 'connection closed';
  /** Resolves when the connection is gone (QEMU exited or closed the socket). */
  readonly closed: Promise<void>;
  private markClosed!: () => void;

  private constructor(private readonly sock: net.Socket, private readonly opts: QmpConnectOptions) {
    this.closed = new Promise((r) => (this.markClosed = r));
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    sock.on('error', (e) => this.shutdown(`socket error: ${e.message}`));
    sock.on('close', () => this.shutdown('connection closed by QEMU'));
  }

  /** Connect (retrying while the socket does not exist yet), read the greeting, negotiate capabilities. */
  static async connect(socketPath: string, opts: QmpConnectOptions = {}): Promise<QmpClient> {
    const deadline = Date.now() + (opts.connectTimeoutMs ?? 10_000);
    let lastErr = '';
    for (;;) {
      if (opts.signal?.aborted) throw new QmpError('E_QMP_CONNECT', `gave up connecting to ${socketPath}: ${String(opts.signal.reason ?? 'aborted')}`);
      try {
        const sock = await connectOnce(socketPath);
        const c = new QmpClient(sock, opts);
        await c.handshake(Math.max(1000, deadline - Date.now()));
        return c;
      } catch (e) {
        if (e instanceof QmpError) throw e;
        lastErr = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      }
      if (Date.now() >= deadline) throw new QmpError('E_QMP_CONNECT', `cannot connect to ${socketPath} (${lastErr})`);
      await sleep(50);
    }
  }

  private async handshake(timeoutMs: number): Promise<void> {
    const g = await new Promise<QmpGreeting>((resolve, reject) => {
      const t = setTimeout(() => {
        this.sock.destroy();
        reject(new QmpError('E_QMP_GREETING', `no greeting within ${timeoutMs} ms`));
      }, timeoutMs);
      this.greetingWaiter = (gr) => {
        clearTimeout(t);
        resolve(gr);
      };
      void this.closed.then(() => {
        clearTimeout(t);
        reject(new QmpError('E_QMP_GREETING', `${this.closeReason} before the greeting`));
      });
    });
    this.greeting = g;
    await this.execute('qmp_capabilities');
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  onEvent(cb: (e: QmpEvent) => void): () => void {
    this.listeners.push(cb);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== cb);
    };
  }

  /** Run a command; resolves with its "return" value, rejects with QmpError on "error", timeout or disconnect. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = this.opts.commandTimeoutMs ?? 10_000): Promise<T> {
    if (this.isClosed) return Promise.reject(new QmpError('E_QMP_CLOSED', `cannot run ${command}: ${this.closeReason}`));
    const id = `msu-${this.nextId++}`;
    const msg: Record<string, unknown> = { execute: command, id };
    if (args !== undefined) msg.arguments = args;
    const line = JSON.stringify(msg);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpError('E_QMP_TIMEOUT', `${command} got no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer, command });
      this.opts.log?.('out', line);
      this.sock.write(line + '\r\n');
    });
  }

  cont(): Promise<unknown> {
    return this.execute('cont');
  }

  /** ACPI power button: a cooperative guest shuts down; a hung one ignores it. */
  systemPowerdown(): Promise<unknown> {
    return this.execute('system_powerdown');
  }

  /** QEMU may close the socket before replying; a disconnect counts as success here. */
  async quit(timeoutMs = 5000): Promise<void> {
    try {
      await this.execute('quit', undefined, timeoutMs);
    } catch (e) {
      if (e instanceof QmpError && (e.code === 'E_QMP_DISCONNECTED' || e.code === 'E_QMP_CLOSED')) return;
      throw e;
    }
  }

  /**
   * Save the display. QEMU 7.1+ takes `format: "png"`; older ones write PPM only.
   * Returns the format used.
   */
  async screendump(filename: string, png: boolean, timeoutMs = 10_000): Promise<'png' | 'ppm'> {
    if (png) {
      await this.execute('screendump', { filename, format: 'png' }, timeoutMs);
      return 'png';
    }
    await this.execute('screendump', { filename }, timeoutMs);
    return 'ppm';
  }

  close(): void {
    this.sock.destroy();
    this.shutdown('connection closed by the client');
  }

  private onData(d: string): void {
    this.buf += d;
    if (this.buf.length > 16 * 1024 * 1024) {
      this.sock.destroy();
      this.shutdown('QMP message larger than 16 MiB');
      return;
    }
    for (;;) {
      const nl = this.buf.indexOf('\n');
      if (nl < 0) break;
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line.length > 0) this.onLine(line);
    }
  }

  private onLine(line: string): void {
    let msg: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse(line);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      msg = v as Record<string, unknown>;
    } catch {
      this.opts.log?.('in', line);
      return; // a line we cannot read cannot be matched to anything; the command timeout covers it
    }
    if ('event' in msg) {
      // timestamps would make qmp.log differ between identical runs
      const { timestamp: _t, ...rest } = msg;
      this.opts.log?.('in', JSON.stringify(rest));
    } else {
      this.opts.log?.('in', line);
    }
    if ('QMP' in msg) {
      this.greetingWaiter?.(msg.QMP as QmpGreeting);
      this.greetingWaiter = undefined;
      return;
    }
    if (typeof msg.event === 'string') {
      const ev: QmpEvent = { event: msg.event, data: (msg.data as Record<string, unknown>) ?? {} };
      if (msg.timestamp) ev.timestamp = msg.timestamp as QmpEvent['timestamp'] & object;
      for (const l of [...this.listeners]) l(ev);
      return;
    }
    const id = typeof msg.id === 'string' ? msg.id : undefined;
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p || id === undefined) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if ('error' in msg) {
      const err = msg.error as { class?: string; desc?: string };
      p.reject(new QmpError('E_QMP_COMMAND', `${p.command} failed: ${err?.desc ?? 'unknown error'}`, err?.class));
    } else {
      p.resolve(msg.return);
    }
  }

  private shutdown(reason: string): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = reason;
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new QmpError('E_QMP_DISCONNECTED', `${p.command} interrupted: ${reason}`));
    }
    this.pending.clear();
    this.markClosed();
  }
}
