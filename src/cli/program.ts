import { Command } from 'commander';
import type { CliContext } from './context.js';
import type { Register } from './commands/index.js';
import { VERSION } from '../version.js';
import { terminalText } from '../util/display.js';

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
      writeErr: (s) => ctx.stderr.write(terminalText(s)),
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
