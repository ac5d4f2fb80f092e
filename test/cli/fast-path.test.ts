// src/cli/fast-path.ts parses plain command lines without commander. Oracle: the full
// commander program, with every action replaced by one that records what it is called with.
// For every command the recorder models, a set of lines (each option in each spelling, all
// options at once, options before and after the arguments) must reach the action with the
// same arguments either way, and every line commander refuses must be left to commander.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { commandsFor } from '../../src/cli/commands/index.js';
import { makeContext } from '../../src/cli/context.js';
import { parseLine, recordCommands } from '../../src/cli/fast-path.js';
import { buildProgram } from '../../src/cli/program.js';
import { EXIT } from '../../src/errors.js';
import { buildSyntheticMsu, SAMPLE_OPTIONS } from '../../src/msu/synthetic.js';
import { runCli } from '../helpers/cli.js';
import { rng } from '../helpers/rng.js';

const sink = (): Writable => new Writable({ write: (_c, _e, cb) => cb() });
const commands = await commandsFor();
const root = recordCommands(commands, makeContext(sink(), sink()));

type Spec = ReturnType<typeof recordCommands>;

/** What commander calls the action with for `words` (without the trailing Command), or 'refused'. */
async function commanderParams(words: string[]): Promise<unknown[] | 'refused'> {
  const program = buildProgram(makeContext(sink(), sink()), commands);
  let seen: unknown[] | undefined;
  const capture = (c: Command): void => {
    for (const sub of c.commands) {
      sub.action((...a: unknown[]) => {
        seen = a.slice(0, -1);
      });
      capture(sub);
    }
  };
  capture(program);
  try {
    await program.parseAsync(words, { from: 'user' });
  } catch {
    return 'refused';
  }
  return seen ?? 'refused';
}

/** Every command the recorder models, with its words from the top ("driver check"). */
function modelled(c: Spec, prefix: string[] = []): { words: string[]; spec: Spec }[] {
  return c.subcommands.flatMap((s) => {
    const words = [...prefix, s.name];
    const here = !s.unsupported && s.action && s.subcommands.length === 0 ? [{ words, spec: s }] : [];
    return [...here, ...modelled(s, words)];
  });
}

/** Lines for one command: the arguments, then each option in each spelling, then all at once. */
function linesFor(words: string[], spec: Spec): string[][] {
  const positional = spec.args.flatMap((a, i) => (a.variadic ? [`v${i}a`, `v${i}b`] : a.required ? [`arg${i}`] : []));
  const withOptional = spec.args.flatMap((a, i) => (a.variadic ? [`v${i}a`] : [`arg${i}`]));
  const required = spec.options.filter((o) => o.required).flatMap((o) => [o.long, `req-${o.key}`]);
  const base = [...words, ...positional, ...required];
  const lines: string[][] = [base, [...words, ...withOptional, ...required]];
  const all: string[] = [];
  for (const o of spec.options) {
    if (o.required) continue;
    const spellings = o.value
      ? [[o.long, `val-${o.key}`], [`${o.long}=val-${o.key}`], ...(o.short ? [[o.short, `val-${o.key}`]] : [])]
      : [[o.long], ...(o.short ? [[o.short]] : [])];
    for (const s of spellings) lines.push([...base, ...s]);
    // options before the arguments, and the same option twice (the last one wins)
    lines.push([...words, ...spellings[0]!, ...positional, ...required]);
    lines.push([...base, ...spellings[0]!, ...spellings[spellings.length - 1]!]);
    all.push(...spellings[0]!);
  }
  lines.push([...base, ...all]);
  return lines;
}

const cases = modelled(root);

describe('the recorder', () => {
  it('models the everyday commands: their plain lines are parsed here', () => {
    for (const n of ['inspect', 'list', 'extract', 'cbs', 'deltas', 'wim info', 'verify', 'expand', 'scancab', 'delta apply']) {
      const c = cases.find((x) => x.words.join(' ') === n);
      expect(c, n).toBeDefined();
      expect(parseLine(root, linesFor(c!.words, c!.spec)[0]!), n).toBeDefined();
    }
  });

  it('leaves to commander a command that declares what it does not model (a repeatable option)', () => {
    const plan = root.subcommands.find((s) => s.name === 'plan')!;
    expect(plan.unsupported).toBe(true);
    expect(parseLine(root, ['plan', 'x.msu', '--json'])).toBeUndefined();
  });

  it('leaves to commander a subcommand whose parent has options (commander gives `plan diff A B --json` to plan)', () => {
    expect(parseLine(root, ['plan', 'diff', 'a.json', 'b.json'])).toBeUndefined();
  });
});

describe('the recorder with made-up commands', () => {
  const ctx = makeContext(sink(), sink());
  it('a builder method it does not model sends the command to commander', () => {
    const r = recordCommands([(program) => {
      program.command('probe').argument('<x>').option('--json').addHelpText('after', 'more').action(() => undefined);
    }], ctx);
    expect(r.subcommands[0]!.unsupported).toBe(true);
    expect(parseLine(r, ['probe', 'a'])).toBeUndefined();
  });

  it('an action that reaches for its command object fails loudly, never reads a stand-in', async () => {
    let seen: unknown = 'not called';
    const r = recordCommands([(program) => {
      const c = program.command('probe').argument('<x>').option('--json');
      c.action(() => {
        seen = (c as unknown as { opts?: unknown }).opts;
      });
    }], ctx);
    const line = parseLine(r, ['probe', 'a', '--json'])!;
    expect(line.params).toEqual(['a', { json: true }]);
    await line.action(...line.params);
    expect(seen).toBeUndefined();
  });
});

describe('a line parsed without commander reaches the action as commander would pass it', () => {
  for (const { words, spec } of cases) {
    it(`msu ${words.join(' ')}`, async () => {
      const lines = linesFor(words, spec);
      // where the bare line is plain, every spelling of every option is too
      const plain = parseLine(root, lines[0]!) !== undefined;
      for (const line of lines) {
        const ours = parseLine(root, line);
        expect(ours !== undefined, line.join(' ')).toBe(plain);
        if (ours === undefined) continue;
        const theirs = await commanderParams(line);
        expect(theirs, line.join(' ')).not.toBe('refused');
        expect(ours.params, line.join(' ')).toEqual(theirs);
      }
    });
  }
});

describe('random lines', () => {
  it('4,000 seeded lines of command words, options, values and odd tokens: whatever is parsed here, commander parses the same', async () => {
    // words from the real declarations plus tokens commander treats specially
    const optionWords = [...new Set(cases.flatMap((c) => c.spec.options.flatMap((o) => [o.long, ...(o.short ? [o.short] : [])])))];
    const vocab = [
      ...new Set(cases.flatMap((c) => c.words)), ...optionWords, ...optionWords.map((o) => `${o}=v`),
      'a.msu', 'b.cab', 'dir', '-', '--', '-x', '--nope', '--json=1', '', 'help', '-dX', '--dest=',
    ];
    const next = rng(14);
    let parsed = 0;
    for (let n = 0; n < 4000; n++) {
      const c = cases[next(cases.length)]!;
      const line = [...c.words];
      const extra = next(7);
      for (let k = 0; k < extra; k++) line.push(vocab[next(vocab.length)]!);
      const ours = parseLine(root, line);
      if (ours === undefined) continue;
      parsed++;
      const theirs = await commanderParams(line);
      expect(theirs, JSON.stringify(line)).not.toBe('refused');
      expect(ours.params, JSON.stringify(line)).toEqual(theirs);
    }
    expect(parsed).toBeGreaterThan(100);
  });
});

describe('lines that commander refuses or treats specially are left to it', () => {
  const inspect = ['inspect', 'a.msu'];
  const odd: string[][] = [
    ['inspect'], // a missing argument
    [...inspect, 'b.msu'], // an extra argument
    [...inspect, '--nope'], // an unknown option
    [...inspect, '--json=yes'], // a value for a flag
    [...inspect, '-j'], // an unknown short option
    ['extract', 'a.msu', 'm', '-d'], // an option without its value
    ['extract', 'a.msu', 'm', '-d', '-x'], // a value that looks like an option
    ['extract', 'a.msu', 'm', '--dest='], // an empty value
    [...inspect, '--', '--json'], // the end of options
    ['nosuch', 'a.msu'],
    ['driver'], // a command with subcommands only
    ['driver', 'nosuch'],
    ['fetch', 'list.json'], // a required option missing
  ];
  for (const line of odd) {
    it(`msu ${line.join(' ')}`, async () => {
      expect(parseLine(root, line)).toBeUndefined();
    });
  }

  it('every one of them that commander refuses is refused there, not run', async () => {
    expect(await commanderParams(['inspect'])).toBe('refused');
    expect(await commanderParams(['inspect', 'a.msu', 'b.msu'])).toBe('refused');
    expect(await commanderParams(['fetch', 'list.json'])).toBe('refused');
  });
});

describe('msu end to end on both paths', () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-fast-'));
  const sample = path.join(tmp, 'Windows10.0-KB5099999-x64.msu');
  writeFileSync(sample, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('prints the same report with and without commander (a trailing --debug forces commander)', async () => {
    const fast = await runCli('inspect', sample, '--json');
    const slow = await runCli('inspect', sample, '--json', '--debug');
    expect(fast.code).toBe(EXIT.ok);
    expect(JSON.parse(fast.stdout)).toMatchObject({ kb: 'KB5099999' });
    expect(fast.stdout).toBe(slow.stdout);
  });

  it('a leading --debug is honoured: a failure prints its stack', async () => {
    const bad = path.join(tmp, 'bad.msu');
    writeFileSync(bad, Buffer.from('MSCF but not really'));
    const plain = await runCli('inspect', bad);
    const debug = await runCli('--debug', 'inspect', bad);
    expect(plain.code).not.toBe(EXIT.ok);
    expect(debug.code).toBe(plain.code);
    expect(plain.stderr).toMatch(/^msu: .*bad\.msu/);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
