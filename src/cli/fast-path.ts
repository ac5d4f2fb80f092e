import type { Command } from 'commander';
import type { CliContext } from './context.js';
import type { Register } from './commands/index.js';

/**
 * A plain command line (`msu inspect X --json`, `msu extract X -d DIR`) runs without loading
 * commander: commander and node:child_process, which it loads, are 15 ms of a start that is
 * 100 ms of Node and 30-100 ms of work (docs/performance.md). The command modules still
 * declare their commands once, through commander's builder methods; here a recorder stands in
 * for the program, and the line is parsed against what it recorded only when that is
 * unambiguous. Anything else (help, a version flag beside a command, an unknown or unusual
 * option, a missing or extra argument, `--`, a builder method the recorder does not know)
 * returns false, and commander parses the line, with its own messages (a version flag alone
 * never gets here: src/cli/main.ts prints it). test/cli/fast-path.test.ts checks that
 * both give an action the same arguments.
 */

interface OptionSpec {
  /** commander's attribute name: `--no-checksum` → checksum, `--base-dir` → baseDir. */
  key: string;
  long: string;
  short?: string;
  /** Takes a value (`<dir>`); an optional value (`[dir]`) is not handled here. */
  value: boolean;
  negate: boolean;
  required: boolean;
  default?: unknown;
}

interface CommandSpec {
  name: string;
  args: { required: boolean; variadic: boolean }[];
  options: OptionSpec[];
  action?: (...a: unknown[]) => unknown;
  subcommands: CommandSpec[];
  /** The recorder met something it does not model: commander parses this command. */
  unsupported: boolean;
}

const camel = (s: string): string => s.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());

function parseFlags(flags: string, required: boolean, def: unknown): OptionSpec | undefined {
  const m = /^(?:-([A-Za-z]), )?--([a-z][a-z0-9-]*)(?: <[^>]+>)?$/.exec(flags);
  if (!m) return undefined;
  const long = m[2]!;
  const negate = long.startsWith('no-');
  const spec: OptionSpec = {
    key: camel(negate ? long.slice(3) : long), long: `--${long}`, value: flags.includes('<'), negate, required,
  };
  if (m[1]) spec.short = `-${m[1]}`;
  if (def !== undefined) spec.default = def;
  return spec;
}

/** Stands in for a commander Command while a module registers, recording what it declares. */
class Recorder {
  constructor(readonly spec: CommandSpec) {}

  command(nameAndArgs: string): Recorder {
    const [name, ...rest] = nameAndArgs.split(' ');
    const sub: CommandSpec = { name: name!, args: [], options: [], subcommands: [], unsupported: false };
    this.spec.subcommands.push(sub);
    const r = new Recorder(sub);
    for (const a of rest) r.argument(a);
    return r;
  }

  description(): this {
    return this;
  }

  summary(): this {
    return this;
  }

  argument(name: string, _description?: string, ...more: unknown[]): this {
    // a default value or a parser for an argument is commander's business
    if (more.length > 0 || !/^(<[^>]+>|\[[^\]]+\])$/.test(name)) this.spec.unsupported = true;
    const variadic = name.endsWith('...>') || name.endsWith('...]');
    this.spec.args.push({ required: name.startsWith('<'), variadic });
    return this;
  }

  option(flags: string, _description?: string, ...more: unknown[]): this {
    return this.add(flags, false, more);
  }

  requiredOption(flags: string, _description?: string, ...more: unknown[]): this {
    return this.add(flags, true, more);
  }

  private add(flags: string, required: boolean, more: unknown[]): this {
    // a custom parser (`collect` for repeatable options) is commander's business
    const spec = more.length > 1 || typeof more[0] === 'function' ? undefined : parseFlags(flags, required, more[0]);
    if (spec) this.spec.options.push(spec);
    else this.spec.unsupported = true;
    return this;
  }

  action(fn: (...a: unknown[]) => unknown): this {
    this.spec.action = fn;
    return this;
  }
}

// every other builder method a module might call marks the command as not modelled; once
// recording is over (an action that reaches for its command object, `cmd.opts()`), an unknown
// property is undefined, as on any object, so such an action fails loudly instead of reading
// the recorder's stand-ins
const recorderProxy = (r: Recorder, recording: { done: boolean }): Command =>
  new Proxy(r, {
    get(target, prop, receiver) {
      if (prop in target) {
        const v = Reflect.get(target, prop, receiver) as unknown;
        if (prop === 'command') return (...a: [string]) => recorderProxy(target.command(...a), recording);
        return typeof v === 'function' ? (...a: unknown[]) => (v.apply(target, a), receiver) : v;
      }
      if (recording.done) return undefined;
      target.spec.unsupported = true;
      return () => receiver;
    },
  }) as unknown as Command;

/** What an action is called with, as commander would call it: the arguments, then the options. */
export function parseLine(root: CommandSpec, args: readonly string[]): { action: NonNullable<CommandSpec['action']>; params: unknown[] } | undefined {
  let cmd = root;
  let i = 0;
  // the command word, then subcommand words
  for (;;) {
    const word = args[i];
    const sub = word === undefined ? undefined : cmd.subcommands.find((s) => s.name === word);
    if (!sub) break;
    // a parent's options (`plan --json` over `plan diff`) are commander's business: it gives
    // them to the parent wherever they are written
    if (cmd !== root && (cmd.options.length > 0 || cmd.unsupported)) return undefined;
    cmd = sub;
    i++;
  }
  if (cmd === root || cmd.unsupported || !cmd.action || cmd.subcommands.length > 0) return undefined;
  const opts: Record<string, unknown> = {};
  for (const o of cmd.options) {
    if (o.negate) opts[o.key] = true;
    else if (o.default !== undefined) opts[o.key] = o.default;
  }
  const positional: string[] = [];
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (!a.startsWith('-') || a === '-') {
      positional.push(a);
      continue;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const o = cmd.options.find((x) => x.long === flag || x.short === flag);
    if (!o) return undefined;
    if (!o.value) {
      if (eq > 0) return undefined;
      opts[o.key] = !o.negate;
      continue;
    }
    const v = eq > 0 ? a.slice(eq + 1) : args[++i];
    if (v === undefined || v === '' || v.startsWith('-')) return undefined;
    opts[o.key] = v;
  }
  if (cmd.options.some((o) => o.required && opts[o.key] === undefined)) return undefined;
  const params: unknown[] = [];
  let p = 0;
  for (const spec of cmd.args) {
    if (spec.variadic) {
      params.push(positional.slice(p));
      p = positional.length;
    } else if (p < positional.length) params.push(positional[p++]);
    else if (spec.required) return undefined;
    else params.push(undefined);
  }
  if (p < positional.length) return undefined;
  // an action that also wants commander's Command object is left to commander
  if (cmd.action.length > params.length + 1) return undefined;
  params.push(opts);
  return { action: cmd.action, params };
}

/** The commands the given modules register, as the recorder saw them. */
export function recordCommands(commands: readonly Register[], ctx: CliContext): CommandSpec {
  const root: CommandSpec = { name: 'msu', args: [], options: [], subcommands: [], unsupported: false };
  const recording = { done: false };
  const program = recorderProxy(new Recorder(root), recording);
  for (const register of commands) register(program, ctx);
  recording.done = true;
  return root;
}

/**
 * Runs `args` (the words after `msu`) when the line is plain; false when commander must.
 * `--debug` is taken before the command word only, as the one global option with no value.
 */
export async function runPlainLine(args: readonly string[], commands: readonly Register[], ctx: CliContext): Promise<boolean> {
  let i = 0;
  let debug = false;
  while (args[i] === '--debug') {
    debug = true;
    i++;
  }
  if (args.slice(i).some((a) => a === '--' || a === '-h' || a === '--help' || a === '-V' || a === '--version' || a === '--debug')) return false;
  const line = parseLine(recordCommands(commands, ctx), args.slice(i));
  if (!line) return false;
  ctx.debug = debug;
  await line.action(...line.params);
  return true;
}
