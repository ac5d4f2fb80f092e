// The command registry (src/cli/commands/index.ts) loads only the module of the command a
// call names. These tests check that the table matches what the modules register, and that
// the help and error output of the lazily built program is what the full program prints.
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { commandModules, commandsFor } from '../../src/cli/commands/index.js';
import { makeContext } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/program.js';
import { EXIT } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';

const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
const full = buildProgram(makeContext(sink(), sink()), await commandsFor());

/** Every command of the full program with its path from the top ("driver check"). */
function walk(c: Command, prefix: string[] = []): { path: string[]; cmd: Command }[] {
  return c.commands.flatMap((sub) => {
    const path = [...prefix, sub.name()];
    return [{ path, cmd: sub }, ...walk(sub, path)];
  });
}

describe('the command table', () => {
  it('names, for each module, exactly the top-level commands it registers, in order', async () => {
    for (const m of commandModules) {
      const p = buildProgram(makeContext(sink(), sink()), [(await m.load()).register]);
      expect(p.commands.map((c) => c.name())).toEqual(m.names);
    }
  });

  it('lists every top-level command once, in the order of the full program', () => {
    const names = commandModules.flatMap((m) => m.names);
    expect(new Set(names).size).toBe(names.length);
    expect(full.commands.map((c) => c.name())).toEqual(names);
    expect(names.length).toBeGreaterThanOrEqual(18);
  });
});

describe('commandsFor picks the modules a command line needs', () => {
  const inspectModule = commandModules.find((m) => m.names.includes('inspect'))!;
  const planModule = commandModules.find((m) => m.names.includes('plan'))!;

  it('one module for a known command, wherever the global options are', async () => {
    const inspect = (await inspectModule.load()).register;
    expect(await commandsFor(['inspect', 'x.msu'])).toEqual([inspect]);
    expect(await commandsFor(['--debug', 'list', '--json', 'x.msu'])).toEqual([inspect]);
    expect(await commandsFor(['extract', '--help'])).toEqual([inspect]);
    expect(await commandsFor(['plan', '-o', 'p.json'])).toEqual([(await planModule.load()).register]);
  });

  it('none for a bare --version', async () => {
    expect(await commandsFor(['--version'])).toEqual([]);
    expect(await commandsFor(['-V', '--debug'])).toEqual([]);
  });

  it('all of them for help, an unknown or missing command, or an unknown option first', async () => {
    for (const args of [[], ['--help'], ['-h', 'inspect'], ['help', 'inspect'], ['inspec', 'x'], ['--debug'], ['--bogus', 'inspect']]) {
      expect((await commandsFor(args)).length, args.join(' ')).toBe(commandModules.length);
    }
  });
});

describe('the CLI built per call prints what the full program prints', () => {
  it('msu --help and msu help list every command', async () => {
    for (const args of [['--help'], ['help']]) {
      const r = await runCli(...args);
      expect(r.code).toBe(EXIT.ok);
      expect(r.stdout).toBe(full.helpInformation());
      for (const c of full.commands) expect(r.stdout).toMatch(new RegExp(`^  ${c.name()}\\b`, 'm'));
    }
  });

  it('every command and subcommand has --help, listing each of its options', async () => {
    const all = walk(full);
    expect(all.length).toBeGreaterThan(full.commands.length); // subcommands are walked too
    for (const { path, cmd } of all) {
      const r = await runCli(...path, '--help');
      expect(r.code, path.join(' ')).toBe(EXIT.ok);
      expect(r.stdout, path.join(' ')).toBe(cmd.helpInformation());
      expect(r.stdout).toContain(`Usage: msu ${path.join(' ')} `);
      for (const o of cmd.options) expect(r.stdout).toContain(o.flags);
    }
  });

  it('an unknown command is exit 2 with the message and the suggestion', async () => {
    const r = await runCli('inspec', 'x.msu');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("msu: error: unknown command 'inspec'\n(Did you mean inspect?)\n");
    const s = await runCli('nosuch');
    expect(s.code).toBe(EXIT.usage);
    expect(s.stderr).toBe("msu: error: unknown command 'nosuch'\n");
  });

  it('a usage error inside a lazily loaded command is exit 2 with the message', async () => {
    const r = await runCli('list');
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toBe("msu: error: missing required argument 'file'\n");
  });
});
