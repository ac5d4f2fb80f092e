/**
 * docs/cli.md: --json carries no absolute paths. Paths the user names absolutely are shown
 * relative to the working directory; relative ones as named.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { rm } from 'node:fs/promises';
import { shownPath } from '../../src/cli/paths.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { cleanupPackages, makePackage, sndInf } from '../drivers/fixtures.js';
import { buildTestWim, tempDir } from '../wim/fixture.js';

const HAVE_WIMLIB = hasTool('wimlib-imagex');
if (!HAVE_WIMLIB) skipNote('wim info / image --json path checks', 'wimlib-imagex');

/** Every string anywhere in a JSON value. */
function strings(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(strings);
  if (v && typeof v === 'object') return Object.values(v).flatMap(strings);
  return [];
}

const absolute = (out: string): string[] => strings(JSON.parse(out)).filter((s) => path.isAbsolute(s) || s.includes(process.cwd()));

afterAll(cleanupPackages);

test('shownPath keeps relative paths and makes absolute ones relative to the working directory', () => {
  // a working directory two levels below some root, built here: no machine path in the test
  const root = path.parse(process.cwd()).root;
  const cwd = path.join(root, 'w', 'a');
  expect(shownPath('pkg/x', cwd)).toBe('pkg/x');
  expect(shownPath(path.join(cwd, 'pkg'), cwd)).toBe('pkg');
  expect(shownPath(path.join(root, 'elsewhere', 'p'), cwd)).toBe(path.join('..', '..', 'elsewhere', 'p'));
  expect(shownPath(cwd, cwd)).toBe('.');
});

describe('driver check --json', () => {
  test('an absolute package folder is shown relative', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf(), 'vsnd.cat': 'c', 'vsnd.sys': 's' });
    const r = await runCli('driver', 'check', dir, '--arch', 'amd64', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).dir).toBe(path.relative(process.cwd(), dir));
    expect(absolute(r.stdout)).toEqual([]);
  });

  test('a file that is not an INF: one clear error, not also a syntax error', async () => {
    const dir = await makePackage({ 'readme.txt': 'Driver notes\nsee below\n[unterminated\n', 'vsnd.inf': sndInf(), 'vsnd.cat': 'c', 'vsnd.sys': 's' });
    const r = await runCli('driver', 'check', path.join(dir, 'readme.txt'), '--json');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.findings).toEqual([
      { level: 'error', code: 'DRV_NO_INF', message: 'readme.txt is not an .inf file: DISM and pnputil install only .inf files (name the INF or its folder)' },
    ]);
    expect(report.infs).toEqual([]);
    // The INF beside it, named directly, is checked as before.
    expect((await runCli('driver', 'check', path.join(dir, 'vsnd.inf'), '--arch', 'amd64')).code).toBe(0);
  });
});

describe.skipIf(!HAVE_WIMLIB)('wim info / image --json', () => {
  let dir: string;
  let wim: string;
  beforeAll(async () => {
    dir = await tempDir();
    wim = await buildTestWim(dir);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('wim info names the WIM relative to the working directory', async () => {
    const r = await runCli('wim', 'info', wim, '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).file).toBe(path.relative(process.cwd(), wim));
    expect(absolute(r.stdout)).toEqual([]);
    // Named relatively, it stays as named.
    const rel = path.relative(process.cwd(), wim);
    expect(JSON.parse((await runCli('wim', 'info', rel, '--json')).stdout).file).toBe(rel);
  });

  test('image names the WIM relative to the working directory', async () => {
    const r = await runCli('image', wim, '--index', '1', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).file).toBe(path.relative(process.cwd(), wim));
    expect(absolute(r.stdout)).toEqual([]);
  }, 60_000);
});
