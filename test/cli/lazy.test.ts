// Which modules a CLI command loads. Every `msu` call registers all commands, so a
// command module that imported its library code statically would make every call
// pay for pkijs, execa, the VM runner… These tests run the built CLI (bin/msu.js on
// dist/, CommonJS) in a child process with a preload that logs every file it requires.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSyntheticMsu, SAMPLE_OPTIONS } from '../../src/msu/synthetic.js';
import { VERSION } from '../../src/version.js';
import { ensureBuilt, msuBin, repoRoot } from '../helpers/built-cli.js';

const root = repoRoot;
const bin = msuBin;
const hook = path.join(root, 'test/helpers/load-recorder.cjs');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Loaded modules: repo-relative paths (dist/src/cab/cabinet.js) and package names (pkijs). */
  files: string[];
  packages: string[];
}

let tmp: string;
let sample: string;
let runs = 0;

function run(...args: string[]): Run {
  const log = path.join(tmp, `loads-${runs++}.txt`);
  const env: NodeJS.ProcessEnv = { ...process.env, MSU_LOAD_LOG: log };
  delete env.NODE_OPTIONS; // the hook goes on the command line; nothing else may preload code
  const r = spawnSync(process.execPath, ['--require', hook, bin, ...args], { cwd: tmp, env, encoding: 'utf8' });
  const urls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
  const files = new Set<string>();
  const packages = new Set<string>();
  for (const u of urls) {
    if (!u.startsWith('file:')) continue; // node: built-ins
    const rel = path.relative(root, fileURLToPath(u)).split(path.sep).join('/');
    files.add(rel);
    const m = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*\/node_modules\/)/.exec(rel);
    if (m) packages.add(m[1]!);
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, files: [...files].sort(), packages: [...packages].sort() };
}

const under = (r: Run, dir: string): string[] => r.files.filter((f) => f.startsWith(dir));

beforeAll(() => {
  // The CLI under test is the built one (test/helpers/built-cli.ts).
  ensureBuilt();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-lazy-'));
  sample = path.join(tmp, 'Windows10.0-KB5099999-x64.msu');
  writeFileSync(sample, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
  // a fresh clone has no dist: the full tsc build takes over a minute on a busy 2-core machine
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('CLI start-up loads only what the command needs', () => {
  it('the recorder sees package entries: msu verify loads pkijs and asn1js', () => {
    // Control for the "does not load" checks below: they would pass vacuously if the
    // hook missed packages.
    const r = run('verify', sample);
    expect(r.packages).toContain('pkijs');
    expect(r.packages).toContain('asn1js');
    expect(r.files).toContain('dist/src/cbs/catalog.js');
  });

  it('the recorder sees an ES module package required from CommonJS: msu wim info loads execa', () => {
    // execa is ESM only; dist/ requires it (require(esm), Node >= 20.19). Control for the
    // "does not load execa" checks below.
    const r = run('wim', 'info', sample);
    expect(r.packages).toContain('execa');
    expect(r.files).toContain('dist/src/util/exec.js');
  });

  for (const line of [['--version'], ['-V'], ['--debug', '--version']]) {
    it(`msu ${line.join(' ')} prints the version from the CLI shell alone: no commander, no command module, no library code`, () => {
      const r = run(...line);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${VERSION}\n`);
      expect(r.stderr).toBe('');
      expect(r.files).toContain('dist/src/cli/main.js');
      expect(under(r, 'dist/src/cli/commands/')).toEqual(['dist/src/cli/commands/index.js']);
      expect(r.packages).toEqual([]);
      for (const dir of ['cab', 'cbs', 'msu', 'wim', 'vm', 'drivers']) expect(under(r, `dist/src/${dir}/`)).toEqual([]);
    });
  }

  it('msu --version with a command or --help still goes to commander (it decides what those mean)', () => {
    const r = run('--version', '--help');
    expect(r.code).toBe(0);
    expect(r.packages).toEqual(['commander']);
  });

  it('msu --help lists every command without loading library code', () => {
    const r = run('--help');
    expect(r.code).toBe(0);
    for (const c of ['inspect', 'list', 'extract', 'cbs', 'deltas', 'driver', 'image', 'wim', 'iso', 'vm', 'run', 'plan', 'verify']) {
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    }
    expect(r.packages).toEqual(['commander']);
    // the start-up bundle (src/cli/code-cache.ts) is loaded by every command; what counts is which modules run
    expect(r.files.filter((f) => f.startsWith('dist/src/') && !f.startsWith('dist/src/cli/') && f !== 'dist/src/bundle.js')).toEqual(
      ['dist/src/errors.js', 'dist/src/util/display.js', 'dist/src/util/fsout.js', 'dist/src/util/json.js', 'dist/src/version.js'],
    );
  });

  const cabCommands: [string, () => string[], (r: Run) => void][] = [
    ['inspect --json', () => ['inspect', '--json', sample], (r) => expect(JSON.parse(r.stdout)).toMatchObject({ container: 'cab-msu', kb: 'KB5099999' })],
    ['list', () => ['list', sample], (r) => expect(r.stdout).toMatch(/\.cab$/m)],
    ['extract', () => ['extract', sample, '-d', path.join(tmp, `x${runs}`)], (r) => expect(r.stdout).toMatch(/^extracted \d+ file\(s\)/)],
  ];

  for (const [name, args, check] of cabCommands) {
    it(`msu ${name} on a cabinet MSU loads neither pkijs/asn1js nor the VM, driver or catalog code`, () => {
      const r = run(...args());
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      check(r);
      // only the command module that owns the command (src/cli/commands/index.ts)
      expect(under(r, 'dist/src/cli/commands/')).toEqual(['dist/src/cli/commands/index.js', 'dist/src/cli/commands/inspect.js']);
      expect(r.files).toContain('dist/src/cab/cabinet.js');
      expect(r.packages).not.toContain('pkijs');
      expect(r.packages).not.toContain('asn1js');
      expect(under(r, 'dist/src/vm/')).toEqual([]);
      expect(under(r, 'dist/src/drivers/')).toEqual([]);
      expect(r.files).not.toContain('dist/src/cbs/catalog.js');
      expect(r.files).not.toContain('dist/src/cbs/index.js');
    });

    // a plain line is parsed without commander (src/cli/fast-path.ts)
    it(`msu ${name} on a cabinet MSU does not load commander; with --help it does`, () => {
      const r = run(...args());
      expect(r.code).toBe(0);
      expect(r.packages).not.toContain('commander');
      expect(r.files).not.toContain('dist/src/cli/program.js');
      const help = run(args()[0]!, '--help');
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(new RegExp(`^Usage: msu ${args()[0]} `));
      expect(help.packages).toContain('commander');
    });

    // src/msu/inspect.ts loads ./wim-msu.js (wimlib wrapper, execa) only for a WIM MSU
    it(`msu ${name} on a cabinet MSU does not load the WIM code or execa`, () => {
      const r = run(...args());
      expect(r.code).toBe(0);
      expect(under(r, 'dist/src/wim/')).toEqual([]);
      expect(r.packages).not.toContain('execa');
    });
  }
});
