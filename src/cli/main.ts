import { exitCodeFor, EXIT, ioError, MsuError } from '../errors.js';
import { makeContext } from './context.js';
import { commandsFor, isVersionLine } from './commands/index.js';
import { runPlainLine } from './fast-path.js';
import { type Output, standardOutput } from './stdio.js';
import { showName, terminalText } from '../util/display.js';
import { VERSION } from '../version.js';

/** Run the CLI; returns the process exit code. Never throws. */
export async function main(
  argv: string[],
  stdout: Output = standardOutput(1),
  stderr: Output = standardOutput(2),
): Promise<number> {
  const ctx = makeContext(stdout, stderr);
  // A reader that stops early (`msu run dism --dry-run | head`) closes the pipe: EPIPE is its way of
  // saying "enough", not a failure, so output stops quietly; any other stdout error is an I/O error.
  let stdoutError: NodeJS.ErrnoException | undefined;
  stdout.on('error', (err?: NodeJS.ErrnoException) => {
    ctx.stdoutClosed = true;
    if (err?.code !== 'EPIPE') stdoutError ??= err;
  });
  /** `code`, unless writing stdout failed: a failed write reports its error on a later tick. */
  const unlessStdoutFailed = async (code: number): Promise<number> => {
    await new Promise((resolve) => setImmediate(resolve));
    if (!stdoutError) return code;
    stderr.write(`msu: ${ioError(stdoutError, 'standard output', 'write').describe()}\n`);
    return EXIT.io;
  };
  try {
    // what commander would print, without loading it (15 ms of a 75 ms start)
    if (isVersionLine(argv.slice(2))) {
      stdout.write(`${VERSION}\n`);
      return await unlessStdoutFailed(EXIT.ok);
    }
    const commands = await commandsFor(argv.slice(2));
    // a plain line runs without commander (src/cli/fast-path.ts); commander parses the rest
    if (!(await runPlainLine(argv.slice(2), commands, ctx))) {
      const { buildProgram } = await import('./program.js');
      await buildProgram(ctx, commands).parseAsync(argv);
    }
    return await unlessStdoutFailed(ctx.exitCode);
  } catch (err) {
    ctx.clearProgress();
    if (isCommanderError(err)) {
      // --help and --version end up here with exit code 0
      return err.exitCode === 0 ? await unlessStdoutFailed(EXIT.ok) : EXIT.usage;
    }
    const debug = ctx.debug || argv.includes('--debug');
    if (err instanceof MsuError) {
      // a file named after a member (`outer.msu!inner.cab`) is shown as member names are listed
      if (err.file !== undefined) err.file = showName(err.file);
      stderr.write(`msu: ${terminalText(err.describe())}\n`);
      if (debug && err.stack) stderr.write(err.stack + '\n');
    } else {
      stderr.write(`msu: internal error: ${terminalText((err as Error)?.message ?? String(err))} (please report; rerun with --debug for details)\n`);
      if (debug && (err as Error)?.stack) stderr.write((err as Error).stack + '\n');
    }
    return exitCodeFor(err);
  }
}

/** commander's own errors (usage, --help, --version) carry its `commander.` codes. */
function isCommanderError(err: unknown): err is { exitCode: number } {
  const e = err as { code?: unknown; exitCode?: unknown } | null;
  return err instanceof Error && typeof e?.code === 'string' && e.code.startsWith('commander.') && typeof e.exitCode === 'number';
}
