import { canonicalJson } from '../util/json.js';
import type { Output } from './stdio.js';
import { terminalText } from '../util/display.js';

/** What every command gets: where to print, and the global flags. Commands stay thin. */
export interface CliContext {
  stdout: Output;
  stderr: Output;
  /** Global --debug: stack traces on errors. */
  debug: boolean;
  /** stderr is a terminal: progress is one live line there, not a line per event. */
  readonly live: boolean;
  /** Exit code a command wants when it did not throw (e.g. 1 for "plans differ"). */
  exitCode: number;
  /** Set when stdout was closed by its reader (`msu … | head`): further output is dropped (src/cli/main.ts). */
  stdoutClosed: boolean;
  print(text: string): void;
  printJson(value: unknown): void;
  /**
   * Output given in pieces (e.g. src/util/json.ts canonicalJsonChunks), written as they come, in
   * writes of a few hundred kilobytes, waiting for a slow reader (`| less`) instead of buffering.
   */
  printChunks(chunks: Iterable<string>): Promise<void>;
  /** Progress line on stderr, only when stderr is a TTY (never pollutes --json or pipes). */
  progress(text: string): void;
  /**
   * Something happened that is worth a line: on a TTY it replaces the live line (not
   * throttled), without one it is printed as a plain line on stderr (CI logs, pipes).
   */
  event(text: string): void;
  /** Remove the live line, if one is shown. print, printJson, info and warn do it themselves. */
  clearProgress(): void;
  /** A note on stderr (`msu: TEXT`), e.g. the deadlines a run starts with. */
  info(text: string): void;
  warn(text: string): void;
}

export function makeContext(stdout: Output, stderr: Output): CliContext {
  const isTty = Boolean(stderr.isTTY);
  let lastProgress = 0;
  // the one place that knows whether a live line is on screen: everything that prints clears it
  // first, so a progress line never runs into the output ("…k4_f99.txtextracted 600 file(s)")
  let shown = false;
  const clear = (): void => {
    if (!shown) return;
    shown = false;
    stderr.write('\r\x1b[2K');
  };
  const show = (raw: string): void => {
    const text = terminalText(raw);
    // a line wider than the terminal wraps, and \r then only returns to its last row
    // a pseudo-terminal not yet sized reports 0 columns: assume 80 rather than print only '…'
    const width = (stderr.columns || 80) - 1;
    const line = text.length > width ? text.slice(0, Math.max(0, width - 1)) + '…' : text;
    stderr.write(`\r\x1b[2K${line}`);
    shown = line.length > 0;
  };
  const ctx: CliContext = {
    stdout,
    stderr,
    debug: false,
    live: isTty,
    exitCode: 0,
    stdoutClosed: false,
    print(text) {
      if (ctx.stdoutClosed) return;
      clear();
      const safe = terminalText(text);
      stdout.write(safe.endsWith('\n') ? safe : safe + '\n');
    },
    async printChunks(chunks) {
      if (ctx.stdoutClosed) return;
      clear();
      let buf = '';
      const flush = async (): Promise<void> => {
        const more = stdout.write(buf);
        buf = '';
        if (more || ctx.stdoutClosed) return;
        await new Promise<void>((resolve) => {
          const done = (): void => {
            stdout.off('drain', done);
            stdout.off('error', done);
            resolve();
          };
          stdout.on('drain', done);
          stdout.on('error', done);
        });
      };
      for (const c of chunks) {
        if (ctx.stdoutClosed) return;
        buf += terminalText(c);
        if (buf.length >= 1 << 18) await flush();
      }
      if (buf && !ctx.stdoutClosed) await flush();
    },
    printJson(value) {
      if (ctx.stdoutClosed) return;
      clear();
      stdout.write(canonicalJson(value));
    },
    progress(text) {
      if (!isTty) return;
      const now = Date.now();
      if (now - lastProgress < 100) return;
      lastProgress = now;
      show(text);
    },
    event(text) {
      if (isTty) show(text);
      else stderr.write(terminalText(text) + '\n');
    },
    clearProgress: clear,
    info(text) {
      clear();
      stderr.write(`msu: ${terminalText(text)}\n`);
    },
    warn(text) {
      clear();
      stderr.write(`msu: warning: ${terminalText(text)}\n`);
    },
  };
  return ctx;
}
