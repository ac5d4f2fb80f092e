import type { Writable } from 'node:stream';
import { canonicalJson } from '../util/json.js';

/** What every command gets: where to print, and the global flags. Commands stay thin. */
export interface CliContext {
  stdout: Writable;
  stderr: Writable;
  /** Global --debug: stack traces on errors. */
  debug: boolean;
  /** Exit code a command wants when it did not throw (e.g. 1 for "plans differ"). */
  exitCode: number;
  /** Set when stdout was closed by its reader (`msu … | head`): further output is dropped (src/cli/main.ts). */
  stdoutClosed: boolean;
  print(text: string): void;
  printJson(value: unknown): void;
  /** Progress line on stderr, only when stderr is a TTY (never pollutes --json or pipes). */
  progress(text: string): void;
  warn(text: string): void;
}

export function makeContext(stdout: Writable, stderr: Writable): CliContext {
  const isTty = Boolean((stderr as NodeJS.WriteStream).isTTY);
  let lastProgress = 0;
  const ctx: CliContext = {
    stdout,
    stderr,
    debug: false,
    exitCode: 0,
    stdoutClosed: false,
    print(text) {
      if (ctx.stdoutClosed) return;
      stdout.write(text.endsWith('\n') ? text : text + '\n');
    },
    printJson(value) {
      if (ctx.stdoutClosed) return;
      stdout.write(canonicalJson(value));
    },
    progress(text) {
      if (!isTty) return;
      const now = Date.now();
      if (now - lastProgress < 100) return;
      lastProgress = now;
      stderr.write(`\r\x1b[2K${text}`);
    },
    warn(text) {
      if (isTty) stderr.write('\r\x1b[2K');
      stderr.write(`msu: warning: ${text}\n`);
    },
  };
  return ctx;
}
