import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export type Register = (program: Command, ctx: CliContext) => void;

interface CommandModule {
  register: Register;
}

/**
 * Every command module, the top-level commands it registers, and how to load it; order is the
 * order shown in --help. A call like `msu inspect X` loads only the module that owns `inspect`
 * (start-up time is most of a small command's run time); help, an unknown command or no command
 * load them all, so what commander prints is the same as with every command registered.
 * test/cli/registry.test.ts checks `names` against what each module registers.
 */
export const commandModules: readonly { names: readonly string[]; load: () => Promise<CommandModule> }[] = [
  { names: ['inspect', 'list', 'extract'], load: () => import('./inspect.js') },
  { names: ['cbs'], load: () => import('./cbs.js') },
  { names: ['deltas', 'delta-header'], load: () => import('./deltas.js') },
  { names: ['driver'], load: () => import('./driver.js') },
  { names: ['image', 'wim'], load: () => import('./image.js') },
  { names: ['iso'], load: () => import('./iso.js') },
  { names: ['vm'], load: () => import('./vm.js') },
  { names: ['run'], load: () => import('./run.js') },
  { names: ['plan'], load: () => import('./plan.js') },
  { names: ['verify'], load: () => import('./verify.js') },
  { names: ['delta'], load: () => import('./delta.js') },
  { names: ['expand'], load: () => import('./expand.js') },
  { names: ['scancab'], load: () => import('./scancab.js') },
  { names: ['fetch'], load: () => import('./fetch.js') },
];

/** The global options (src/cli/main.ts): none takes a value, so the first other word names the command. */
const GLOBAL_FLAGS = new Set(['--debug', '-V', '--version', '-h', '--help']);

/**
 * The register functions a command line needs: the one module that owns the command it names,
 * none for a bare `--version`, and every module otherwise (help, `help X`, an unknown or
 * missing command, anything unusual before the command word).
 */
export async function commandsFor(args?: readonly string[]): Promise<Register[]> {
  const wanted = args === undefined ? undefined : pick(args);
  const mods = wanted === undefined ? commandModules : wanted;
  return Promise.all(mods.map(async (m) => (await m.load()).register));
}

/** `msu --version` (or -V), with nothing but global flags beside it: main prints the version without commander. */
export function isVersionLine(args: readonly string[]): boolean {
  return pick(args)?.length === 0;
}

function pick(args: readonly string[]): (typeof commandModules)[number][] | undefined {
  let version = false;
  for (const a of args) {
    if (a === '-V' || a === '--version') version = true;
    if (a === '-h' || a === '--help') return undefined;
    if (GLOBAL_FLAGS.has(a)) continue;
    if (a.startsWith('-')) return undefined;
    const owner = commandModules.find((m) => m.names.includes(a));
    return owner ? [owner] : undefined;
  }
  return version ? [] : undefined;
}
