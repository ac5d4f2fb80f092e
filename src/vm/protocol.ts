/**
 * Guest → host protocol over the serial port (COM1 → append-mode log file).
 *
 * One JSON object per line behind the fixed prefix `@@MSU `. Everything else on the
 * port (firmware, boot loader and kernel chatter) is noise and is skipped. Text before
 * the prefix on the same line is noise too (a guest may write without a leading newline).
 *
 *   @@MSU {"type":"boot","n":1}
 *   @@MSU {"type":"step","id":"install","name":"Install updates","state":"running"}
 *   @@MSU {"type":"progress","pct":42,"text":"3/7 updates"}
 *   @@MSU {"type":"heartbeat"}
 *   @@MSU {"type":"result","data":{...}}
 *   @@MSU {"type":"error","code":"search_failed","message":"..."}
 *   @@MSU {"type":"done"}
 *
 * Every event may carry `seq` (a non-negative integer, increasing within a boot; the
 * guest should persist it across reboots) and `ts` (guest clock, informational only).
 */
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { ioError } from '../errors.js';

export const PROTOCOL_PREFIX = '@@MSU ';
export const PROTOCOL_VERSION = 1;
/** A line longer than this is discarded with a warning (a runaway guest must not eat host memory). */
export const MAX_LINE_BYTES = 64 * 1024;

export type StepState = 'running' | 'ok' | 'failed' | 'skipped';

interface Common {
  seq?: number;
  ts?: string;
}

export type GuestEvent =
  | (Common & { type: 'boot'; n: number })
  | (Common & { type: 'step'; id: string; name: string; state: StepState; exitCode?: number })
  | (Common & { type: 'progress'; pct: number; text?: string })
  | (Common & { type: 'heartbeat'; data?: Record<string, unknown> })
  | (Common & { type: 'state'; data: Record<string, unknown> })
  | (Common & { type: 'log'; level: 'info' | 'warn' | 'error'; text: string })
  | (Common & { type: 'result'; data: Record<string, unknown> })
  | (Common & { type: 'error'; code: string; message: string })
  | (Common & { type: 'done'; ok?: boolean });

export type GuestEventType = GuestEvent['type'];
export const GUEST_EVENT_TYPES: readonly GuestEventType[] = ['boot', 'step', 'progress', 'heartbeat', 'state', 'log', 'result', 'error', 'done'];

/** What the parser yields for each line: a protocol event, a protocol warning (bad line), or nothing for noise. */
export type SerialItem =
  | { kind: 'event'; event: GuestEvent; line: number }
  | { kind: 'warning'; message: string; line: number };

/** Format one event as the exact serial line a guest writes (with CRLF, as Windows' COM port does). */
export function formatGuestLine(event: GuestEvent): string {
  return `${PROTOCOL_PREFIX}${JSON.stringify(event)}\r\n`;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Check the shape of a decoded JSON object; returns the event or the reason it is not one. */
export function toGuestEvent(v: unknown): GuestEvent | string {
  if (!isObj(v)) return 'not a JSON object';
  const t = v.type;
  if (!isStr(t)) return 'missing "type"';
  if (!(GUEST_EVENT_TYPES as readonly string[]).includes(t)) return `unknown type "${t.slice(0, 32)}"`;
  const common: Common = {};
  if (v.seq !== undefined) {
    if (!isInt(v.seq)) return `${t}: "seq" must be a non-negative integer`;
    common.seq = v.seq;
  }
  if (v.ts !== undefined) {
    if (!isStr(v.ts)) return `${t}: "ts" must be a string`;
    common.ts = v.ts;
  }
  switch (t) {
    case 'boot':
      if (!isInt(v.n)) return 'boot: "n" must be a non-negative integer';
      return { ...common, type: 'boot', n: v.n };
    case 'step': {
      if (!isStr(v.id) || !isStr(v.name)) return 'step: "id" and "name" must be strings';
      const states: StepState[] = ['running', 'ok', 'failed', 'skipped'];
      if (!states.includes(v.state as StepState)) return `step: "state" must be one of ${states.join(' | ')}`;
      const ev: GuestEvent = { ...common, type: 'step', id: v.id, name: v.name, state: v.state as StepState };
      if (v.exitCode !== undefined) {
        if (typeof v.exitCode !== 'number' || !Number.isInteger(v.exitCode)) return 'step: "exitCode" must be an integer';
        ev.exitCode = v.exitCode;
      }
      return ev;
    }
    case 'progress': {
      if (typeof v.pct !== 'number' || !(v.pct >= 0 && v.pct <= 100)) return 'progress: "pct" must be a number 0..100';
      const ev: GuestEvent = { ...common, type: 'progress', pct: v.pct };
      if (v.text !== undefined) {
        if (!isStr(v.text)) return 'progress: "text" must be a string';
        ev.text = v.text;
      }
      return ev;
    }
    case 'heartbeat': {
      const ev: GuestEvent = { ...common, type: 'heartbeat' };
      if (v.data !== undefined) {
        if (!isObj(v.data)) return 'heartbeat: "data" must be an object';
        ev.data = v.data;
      }
      return ev;
    }
    case 'state':
    case 'result':
      if (!isObj(v.data)) return `${t}: "data" must be an object`;
      return { ...common, type: t, data: v.data };
    case 'log':
      if (!['info', 'warn', 'error'].includes(v.level as string) || !isStr(v.text)) return 'log: needs "level" (info|warn|error) and "text"';
      return { ...common, type: 'log', level: v.level as 'info' | 'warn' | 'error', text: v.text };
    case 'error':
      if (!isStr(v.code) || !isStr(v.message)) return 'error: "code" and "message" must be strings';
      return { ...common, type: 'error', code: v.code, message: v.message };
    case 'done': {
      const ev: GuestEvent = { ...common, type: 'done' };
      if (v.ok !== undefined) {
        if (typeof v.ok !== 'boolean') return 'done: "ok" must be true or false';
        ev.ok = v.ok;
      }
      return ev;
    }
  }
  return `unknown type "${t}"`;
}

const PREFIX_BYTES = Buffer.from(PROTOCOL_PREFIX, 'latin1');

/**
 * Incremental line parser. Feed it byte chunks in any split; it yields the same items.
 * Lines are split on LF at the byte level (so a UTF-8 character split across chunks is
 * fine); a trailing CR is dropped.
 */
export class ProtocolParser {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private discarding = false;
  private lineNo = 0;
  /** Sequence numbers seen since the last `boot` event (duplicates are dropped). */
  private seenSeq = new Set<string>();
  noiseLines = 0;

  push(chunk: Uint8Array): SerialItem[] {
    const out: SerialItem[] = [];
    let start = 0;
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    for (;;) {
      const nl = buf.indexOf(0x0a, start);
      if (nl < 0) {
        this.append(buf.subarray(start), out);
        return out;
      }
      this.append(buf.subarray(start, nl), out);
      this.finishLine(out);
      start = nl + 1;
    }
  }

  /** End of stream: a final line without LF still counts (a guest may power off right after writing). */
  flush(): SerialItem[] {
    const out: SerialItem[] = [];
    if (this.pendingLen > 0 || this.discarding) this.finishLine(out);
    return out;
  }

  /** Start over (the log file was truncated or replaced): drop the partial line, keep the duplicate window. */
  resetStream(): void {
    this.pending = [];
    this.pendingLen = 0;
    this.discarding = false;
  }

  private append(part: Buffer, out: SerialItem[]): void {
    if (part.length === 0 || this.discarding) return;
    if (this.pendingLen + part.length > MAX_LINE_BYTES) {
      this.discarding = true;
      this.pending = [];
      this.pendingLen = 0;
      out.push({ kind: 'warning', message: `line longer than ${MAX_LINE_BYTES} bytes discarded`, line: this.lineNo + 1 });
      return;
    }
    // copy: the caller may reuse its buffer
    this.pending.push(Buffer.from(part));
    this.pendingLen += part.length;
  }

  private finishLine(out: SerialItem[]): void {
    this.lineNo++;
    if (this.discarding) {
      this.discarding = false;
      return;
    }
    let line = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
    const at = line.indexOf(PREFIX_BYTES);
    if (at < 0) {
      if (line.length > 0) this.noiseLines++;
      return;
    }
    const body = line.subarray(at + PREFIX_BYTES.length).toString('utf8').trim();
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      out.push({ kind: 'warning', message: `unparseable protocol line: ${JSON.stringify(body.slice(0, 80))}`, line: this.lineNo });
      return;
    }
    const ev = toGuestEvent(json);
    if (typeof ev === 'string') {
      out.push({ kind: 'warning', message: `bad protocol event: ${ev}`, line: this.lineNo });
      return;
    }
    if (ev.type === 'boot') this.seenSeq.clear();
    if (ev.seq !== undefined) {
      // a guest retrying a write to the exclusive COM port may emit the same event twice
      const key = `${ev.type}:${ev.seq}`;
      if (this.seenSeq.has(key)) {
        out.push({ kind: 'warning', message: `duplicate ${ev.type} event with seq ${ev.seq} ignored`, line: this.lineNo });
        return;
      }
      this.seenSeq.add(key);
    }
    out.push({ kind: 'event', event: ev, line: this.lineNo });
  }
}

/**
 * Follows the append-mode serial log of one run across QEMU restarts. `poll()` reads
 * whatever was appended since the last call. A file that shrank (truncated) or was
 * replaced (new inode) is read again from the start, with a warning.
 */
export class SerialTail {
  readonly parser = new ProtocolParser();
  private offset: number;
  private ino: number | undefined;
  private readonly buf = Buffer.alloc(64 * 1024);

  constructor(readonly file: string, startOffset = 0) {
    this.offset = startOffset;
  }

  get position(): number {
    return this.offset;
  }

  poll(): SerialItem[] {
    const out: SerialItem[] = [];
    let st;
    try {
      st = statSync(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return out; // QEMU has not created it yet
      throw ioError(err, this.file);
    }
    if (this.ino !== undefined && st.ino !== this.ino) {
      out.push({ kind: 'warning', message: 'serial log was replaced; reading the new file from the start', line: 0 });
      this.offset = 0;
      this.parser.resetStream();
    } else if (st.size < this.offset) {
      out.push({ kind: 'warning', message: `serial log shrank from ${this.offset} to ${st.size} bytes; reading again from the start`, line: 0 });
      this.offset = 0;
      this.parser.resetStream();
    }
    this.ino = st.ino;
    if (st.size === this.offset) return out;
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch (err) {
      throw ioError(err, this.file);
    }
    try {
      if (fstatSync(fd).ino !== this.ino) return out; // replaced between stat and open: next poll sees it
      for (;;) {
        const n = readSync(fd, this.buf, 0, this.buf.length, this.offset);
        if (n <= 0) break;
        this.offset += n;
        out.push(...this.parser.push(this.buf.subarray(0, n)));
      }
    } catch (err) {
      throw ioError(err, this.file);
    } finally {
      closeSync(fd);
    }
    return out;
  }

  /** Final read at the end of the run, including a last line without LF. */
  drain(): SerialItem[] {
    return [...this.poll(), ...this.parser.flush()];
  }
}
