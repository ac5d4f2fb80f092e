/**
 * docs/cli.md must describe the CLI the code builds: every command and subcommand has a
 * "`msu …`" heading, every option of a command has a row in the option table under that
 * heading (short flag, "required" and default included), and the exit codes named in the doc
 * exist in src/errors.ts. The checker is run on the real doc, and on doctored copies to show it
 * catches what it claims to.
 */
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import { makeContext } from '../../src/cli/context.js';
import { commandsFor } from '../../src/cli/commands/index.js';
import { EXIT } from '../../src/errors.js';

const DOC = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');

const everyCommand = await commandsFor();

function program(): Command {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  return buildProgram(makeContext(sink, sink), everyCommand);
}

interface CommandEntry {
  /** "driver check" */
  path: string;
  cmd: Command;
}

function allCommands(root: Command): CommandEntry[] {
  const out: CommandEntry[] = [];
  const walk = (c: Command, prefix: string): void => {
    for (const sub of c.commands) {
      const path = prefix ? `${prefix} ${sub.name()}` : sub.name();
      out.push({ path, cmd: sub });
      walk(sub, path);
    }
  };
  walk(root, '');
  return out;
}

/** A group only dispatches to subcommands; everything else runs and needs exit codes and an example. */
function isRunnable(c: Command): boolean {
  return c.commands.length === 0 || c.registeredArguments.length > 0 || c.options.length > 0;
}

/** Heading text → the lines under it, up to the next heading of any level (fenced code is not scanned for headings). */
function sections(doc: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  let body: string[] = [];
  let fenced = false;
  const flush = (): void => {
    if (current !== undefined) out.set(current, body.join('\n'));
  };
  for (const line of doc.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const h = fenced ? null : /^#{1,6}\s+(.*?)\s*$/.exec(line);
    if (h) {
      flush();
      current = h[1]!;
      body = [];
    } else body.push(line);
  }
  flush();
  return out;
}

const commandHeading = (path: string): string => `\`msu ${path}\``;
const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The flag as a whole word: `--index` must not be satisfied by `--index-file`. */
const flagRe = (flag: string): RegExp => new RegExp(`(?<![\\w-])${escapeRe(flag)}(?![\\w-])`);

/** Table rows of a section whose first cell documents an option (starts with `-…). */
function optionRows(section: string): string[] {
  return section.split('\n').filter((l) => /^\|\s*`-/.test(l));
}
const firstCell = (row: string): string => row.split('|')[1] ?? '';

function checkOptions(where: string, section: string, options: readonly Option[], problems: string[]): void {
  const rows = optionRows(section);
  for (const o of options) {
    const flag = o.long ?? o.short!;
    const row = rows.find((r) => flagRe(flag).test(firstCell(r)));
    if (!row) {
      problems.push(`${where}: option ${flag} has no row in the option table`);
      continue;
    }
    if (o.short && o.long && !flagRe(o.short).test(firstCell(row))) problems.push(`${where}: ${o.long} row does not name its short form ${o.short}`);
    if (o.mandatory && !/\brequired\b/.test(row)) problems.push(`${where}: ${flag} is required but its row does not say so`);
    if (typeof o.defaultValue === 'string' && !row.includes(`\`${o.defaultValue}\``)) {
      problems.push(`${where}: ${flag} defaults to ${JSON.stringify(o.defaultValue)} but its row does not show it`);
    }
  }
  // The other way round: a documented option the command does not have is stale.
  const known = new Set(options.flatMap((o) => [o.long, o.short].filter((f): f is string => Boolean(f))));
  for (const row of rows) {
    const documented = firstCell(row).match(/(?<![\w-])--?[A-Za-z][\w-]*/g) ?? [];
    for (const f of documented) if (!known.has(f)) problems.push(`${where}: documents ${f}, which the command does not have`);
  }
}

/** Every way docs/cli.md and the program disagree; empty when they match. */
function docProblems(root: Command, doc: string): string[] {
  const problems: string[] = [];
  const secs = sections(doc);
  const entries = allCommands(root);

  for (const { path, cmd } of entries) {
    const where = `msu ${path}`;
    const section = secs.get(commandHeading(path));
    if (section === undefined) {
      problems.push(`${where}: no heading ${commandHeading(path)}`);
      continue;
    }
    if (!isRunnable(cmd)) {
      for (const sub of cmd.commands) {
        if (!flagRe(sub.name()).test(section)) problems.push(`${where}: the group's text does not mention its subcommand ${sub.name()}`);
      }
      continue;
    }
    checkOptions(where, section, cmd.options, problems);
    const exitLine = section.split('\n').find((l) => l.startsWith('Exit codes:'));
    // An "Exit codes:" paragraph may wrap; read it up to the blank line.
    const exitText = exitLine === undefined ? undefined : section.slice(section.indexOf(exitLine)).split('\n\n')[0]!;
    if (exitText === undefined) problems.push(`${where}: no "Exit codes:" paragraph`);
    else {
      const codes = [...exitText.matchAll(/\*\*(\d+)\*\*/g)].map((m) => Number(m[1]));
      const valid = new Set<number>(Object.values(EXIT));
      for (const c of codes) if (!valid.has(c)) problems.push(`${where}: exit code ${c} is not in src/errors.ts EXIT`);
      for (const c of [EXIT.ok, EXIT.usage]) if (!codes.includes(c)) problems.push(`${where}: exit codes do not list ${c}`);
    }
    if (!new RegExp('```sh\\n(?:[^`]*\\n)?msu ' + escapeRe(path) + '(?![\\w-])').test(section)) {
      problems.push(`${where}: no \`\`\`sh example running msu ${path}`);
    }
  }

  // Headings for commands that do not exist are stale.
  const paths = new Set(entries.map((e) => e.path));
  for (const heading of secs.keys()) {
    const m = /^`msu ([^`]+)`$/.exec(heading);
    if (m && !paths.has(m[1]!)) problems.push(`heading ${heading}: no such command`);
  }

  const global = secs.get('Global options');
  if (global === undefined) problems.push('no "Global options" section');
  else checkOptions('global options', global, [...root.options, root.createHelp().visibleOptions(root).find((o) => o.long === '--help')!], problems);

  // The exit code table lists exactly the codes the CLI can return.
  const table = secs.get('Exit codes');
  if (table === undefined) problems.push('no "Exit codes" section');
  else {
    const documented = [...table.matchAll(/^\|\s*(\d+)\s*\|/gm)].map((m) => Number(m[1])).sort((a, b) => a - b);
    const actual = [...new Set<number>(Object.values(EXIT))].sort((a, b) => a - b);
    if (JSON.stringify(documented) !== JSON.stringify(actual)) {
      problems.push(`exit code table lists ${documented.join(', ')}; src/errors.ts has ${actual.join(', ')}`);
    }
  }
  return problems;
}

/** The doc with the first line matching `re` removed (the test's stand-in for a forgotten line). */
function without(doc: string, re: RegExp): string {
  const lines = doc.split('\n');
  const i = lines.findIndex((l) => re.test(l));
  expect(i, `no line matches ${re}`).toBeGreaterThanOrEqual(0);
  lines.splice(i, 1);
  return lines.join('\n');
}

/** Problems in `doc` that the real doc does not have, so these tests stay quiet while the first one fails on drift. */
function added(doc: string, root: Command = program()): string[] {
  const before = new Set(docProblems(program(), DOC));
  return docProblems(root, doc).filter((p) => !before.has(p));
}

describe('docs/cli.md', () => {
  it('documents every command, subcommand and option the CLI has, and nothing it lacks', () => {
    expect(docProblems(program(), DOC)).toEqual([]);
  });

  it('covers the commands this test knows about (the walk really reaches subcommands)', () => {
    const paths = allCommands(program()).map((e) => e.path);
    for (const p of ['inspect', 'extract', 'driver check', 'iso rebuild', 'vm run', 'run dism', 'run wua', 'plan diff', 'verify']) {
      expect(paths).toContain(p);
    }
  });

  it('reports an option whose table row is missing', () => {
    const doc = without(DOC, /^\| `--inner MEMBER` \| list a cabinet/);
    expect(added(doc)).toEqual(['msu list: option --inner has no row in the option table']);
  });

  it('reports an option documented only under another command', () => {
    // `driver check` and `plan` also have an --index row; that must not count for `msu image`.
    const doc = without(DOC, /^\| `--index N` \| only this image/);
    expect(added(doc)).toEqual(['msu image: option --index has no row in the option table']);
  });

  it('reports a missing command heading, a lost default and a lost "required"', () => {
    const noHeading = DOC.replace('### `msu iso info`', '### iso info');
    expect(added(noHeading)).toContain('msu iso info: no heading `msu iso info`');
    const noDefault = DOC.replace('| `boot/etfsboot.com` |', '| the usual one |');
    expect(added(noDefault)).toEqual([
      'msu iso rebuild: --bios-boot defaults to "boot/etfsboot.com" but its row does not show it',
    ]);
    const notRequired = DOC.replace(/(\| `-d, --dest DIR` \|[^\n]*\| )required \|/, '$1none |');
    expect(added(notRequired)).toEqual(['msu extract: --dest is required but its row does not say so']);
  });

  it('reports stale documentation: an option or command the CLI does not have', () => {
    const staleOption = DOC.replace('| `--overwrite` | replace regular files of the same name already in DIR | refuse conflicts |\n| `--json` | print `{file,', '| `--overwrite`, `--strict` | replace regular files of the same name already in DIR | refuse conflicts |\n| `--json` | print `{file,');
    expect(added(staleOption)).toEqual(['msu extract: documents --strict, which the command does not have']);
    const staleCommand = `${DOC}\n### \`msu wim capture\`\n\nCaptures a directory.\n`;
    expect(added(staleCommand)).toEqual(['heading `msu wim capture`: no such command']);
  });

  it('reports exit codes that src/errors.ts does not have', () => {
    const doc = DOC.replace('Exit codes: **0** every check made and verified, **1** a mismatch', 'Exit codes: **0** every check made and verified, **9** a mismatch');
    expect(added(doc)).toEqual(['msu verify: exit code 9 is not in src/errors.ts EXIT']);
    const table = without(DOC, /^\| 7 \| a VM run failed/);
    expect(added(table)).toEqual(['exit code table lists 0, 1, 2, 3, 4, 5, 6, 8, 70, 130; src/errors.ts has 0, 1, 2, 3, 4, 5, 6, 7, 8, 70, 130']);
  });

  it('reports an undocumented option added to the program', () => {
    const p = program();
    p.commands.find((c) => c.name() === 'verify')!.option('--strict', 'fail on warnings too');
    expect(added(DOC, p)).toEqual(['msu verify: option --strict has no row in the option table']);
  });
});
