import type { Writable } from 'node:stream';
import { Command, CommanderError } from 'commander';
import { exitCodeFor, EXIT, ioError, MsuError } from '../errors.js';
import { makeContext, type CliContext } from './context.js';
import { commandsFor, type Register } from './commands/index.js';
import { VERSION } from '../version.js';

/** The program with the given commands registered (`commandsFor()`: all of them). */
export function buildProgram(ctx: CliContext, commands: readonly Register[]): Command {
  const program = new Command();
  program
    .name('msu')
    .description('Offline servicing of Windows images from Linux: inspect, plan, verify and apply updates')
    .version(VERSION, '-V, --version')
    .option('--debug', 'print stack traces for errors')
    .showHelpAfterError(false)
    .configureOutput({
      writeOut: (s) => ctx.stdout.write(s),
      writeErr: (s) => ctx.stderr.write(s),
      outputError: (s, write) => write(s.startsWith('error:') ? `msu: ${s}` : s),
    })
    .exitOverride();
  program.hook('preAction', (cmd) => {
    ctx.debug = Boolean(cmd.optsWithGlobals().debug);
  });
  for (const register of commands) register(program, ctx);
  for (const sub of program.commands) sub.exitOverride();
  return program;
}

/** Run the CLI; returns the process exit code. Never throws. */
export async function main(
  argv: string[],
  stdout: NodeJS.WritableStream & Writable = process.stdout,
  stderr: NodeJS.WritableStream & Writable = process.stderr,
): Promise<number> {
  const ctx = makeContext(stdout, stderr);
  // A reader that stops early (`msu run dism --dry-run | head`) closes the pipe: EPIPE is its way of
  // saying "enough", not a failure, so output stops quietly; any other stdout error is an I/O error.
  let stdoutError: NodeJS.ErrnoException | undefined;
  stdout.on('error', (err: NodeJS.ErrnoException) => {
    ctx.stdoutClosed = true;
    if (err.code !== 'EPIPE') stdoutError ??= err;
  });
  try {
    const program = buildProgram(ctx, await commandsFor(argv.slice(2)));
    await program.parseAsync(argv);
    // a failed write reports its error on a later tick: let it arrive before deciding the exit code
    await new Promise((resolve) => setImmediate(resolve));
    if (stdoutError) {
      stderr.write(`msu: ${ioError(stdoutError, 'standard output', 'write').describe()}\n`);
      return EXIT.io;
    }
    return ctx.exitCode;
  } catch (err) {
    ctx.clearProgress();
    if (err instanceof CommanderError) {
      // --help and --version end up here with exit code 0
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const debug = ctx.debug || argv.includes('--debug');
    if (err instanceof MsuError) {
      stderr.write(`msu: ${err.describe()}\n`);
      if (debug && err.stack) stderr.write(err.stack + '\n');
    } else {
      stderr.write(`msu: internal error: ${(err as Error)?.message ?? String(err)} (please report; rerun with --debug for details)\n`);
      if (debug && (err as Error)?.stack) stderr.write((err as Error).stack + '\n');
    }
    return exitCodeFor(err);
  }
}
