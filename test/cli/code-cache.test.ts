// The V8 code cache of the built CLI (src/cli/code-cache.ts): entries are used only for the
// source they were recorded from, anything else compiles from source, and the build's cache
// matches the build's JavaScript. The hook runs in child processes (it patches Node's loader).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry } from '../../src/cli/code-cache.js';
import { buildSyntheticMsu, SAMPLE_OPTIONS } from '../../src/msu/synthetic.js';
import { ensureBuilt, msuBin, repoRoot } from '../helpers/built-cli.js';

const hookJs = path.join(repoRoot, 'dist/src/cli/code-cache.js');
let tmp: string;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-code-cache-test-'));
}, 600_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('cache entries', () => {
  const data = Buffer.from([1, 2, 3, 4, 5]);

  it('an entry gives back its data for the source it was made from', () => {
    const source = 'module.exports = "é→";\n';
    expect(decodeEntry(encodeEntry(source, data), source)).toEqual(data);
  });

  it('is not used for other source text of the same length, nor when cut short or foreign', () => {
    const entry = encodeEntry('module.exports = "AAAA";', data);
    expect(decodeEntry(entry, 'module.exports = "BBBB";')).toBeNull();
    expect(decodeEntry(entry.subarray(0, 20), 'module.exports = "AAAA";')).toBeNull();
    const foreign = Buffer.from(entry);
    foreign[3] ^= 0xff;
    expect(decodeEntry(foreign, 'module.exports = "AAAA";')).toBeNull();
    expect(decodeEntry(Buffer.alloc(0), '')).toBeNull();
  });
});

describe('the hook in a process', () => {
  /** Runs `main` under the hook over `root` (record mode when asked); returns its output and the stats. */
  const runUnder = (root: string, cacheDir: string, record: boolean, nodeFlags: string[] = []) => {
    const script =
      `const c = require(${JSON.stringify(hookJs)}).installCodeCache(${JSON.stringify(root)}, ${JSON.stringify(cacheDir)}, { record: ${record} });` +
      `const out = require(${JSON.stringify(path.join(root, 'main.js'))})();` +
      `(${record} ? c.save() : Promise.resolve(0)).then((n) => process.stdout.write(JSON.stringify({ out, saved: n, stats: c.stats })));`;
    const r = spawnSync(process.execPath, [...nodeFlags, '-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { out: string; saved: number; stats: { hits: number; misses: number; rejected: number } };
  };

  it('records, then serves every module; a module whose text changed (same length) compiles from its new text', () => {
    const root = path.join(tmp, 'pkg');
    const cacheDir = path.join(tmp, 'pkg-cache');
    mkdirSync(path.join(root, 'lib'), { recursive: true });
    writeFileSync(path.join(root, 'main.js'), `module.exports = () => require('./lib/word.js').word() + require('node:path').sep;\n`);
    writeFileSync(path.join(root, 'lib/word.js'), `exports.word = () => 'AAAA';\n`);

    const first = runUnder(root, cacheDir, true);
    expect(first).toEqual({ out: 'AAAA/', saved: 2, stats: { hits: 0, misses: 2, rejected: 0 } });
    expect(readFileSync(path.join(cacheDir, 'lib/word.js.v8c')).subarray(0, 8).toString('latin1')).toBe('MSUV8C2\0');

    expect(runUnder(root, cacheDir, false)).toEqual({ out: 'AAAA/', saved: 0, stats: { hits: 2, misses: 0, rejected: 0 } });

    // V8 itself checks only the length of the source: without the text check this would print AAAA
    writeFileSync(path.join(root, 'lib/word.js'), `exports.word = () => 'BBBB';\n`);
    expect(runUnder(root, cacheDir, false)).toEqual({ out: 'BBBB/', saved: 0, stats: { hits: 1, misses: 1, rejected: 0 } });
  });

  it('an entry V8 refuses (recorded under other V8 flags) is counted and the module compiles from source', () => {
    const root = path.join(tmp, 'flags');
    const cacheDir = path.join(tmp, 'flags-cache');
    mkdirSync(root, { recursive: true });
    writeFileSync(path.join(root, 'main.js'), `module.exports = () => 'flags ' + [3, 1, 2].sort().join();\n`);
    runUnder(root, cacheDir, true, ['--no-lazy']);
    expect(runUnder(root, cacheDir, false)).toEqual({ out: 'flags 1,2,3', saved: 0, stats: { hits: 0, misses: 0, rejected: 1 } });
  });
});

describe('the build', () => {
  it('writes a cache entry for each module `msu inspect` loads, made from the JavaScript now in dist', () => {
    const log = path.join(tmp, 'loads.txt');
    const sample = path.join(tmp, 'Windows10.0-KB5099999-x64.msu');
    writeFileSync(sample, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
    const preload = path.join(tmp, 'loads.cjs');
    writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(log)}, Object.keys(require.cache).join('\\n')));`);
    execFileSync(process.execPath, ['-r', preload, msuBin, 'inspect', sample], { encoding: 'utf8' });
    const distSrc = path.join(repoRoot, 'dist/src') + path.sep;
    const modules = readFileSync(log, 'utf8').split('\n').filter((f) => f.startsWith(distSrc));
    expect(modules).toContain(path.join(distSrc, 'cli/main.js'));
    const stale = modules.filter((f) => {
      const source = readFileSync(f, 'utf8');
      // a module with import() is left to Node (src/cli/code-cache.ts)
      if (source.includes('import(')) return false;
      try {
        return decodeEntry(readFileSync(path.join(repoRoot, 'dist/code-cache', f.slice(distSrc.length) + '.v8c')), source) === null;
      } catch {
        return true;
      }
    });
    expect(stale).toEqual([]);
  });

  it('`msu inspect --json` prints the same bytes with the cache and with MSU_CODE_CACHE=off', () => {
    const sample = path.join(tmp, 'same.msu');
    writeFileSync(sample, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
    const run = (env: NodeJS.ProcessEnv) => execFileSync(process.execPath, [msuBin, 'inspect', '--json', sample], { env: { ...process.env, ...env }, encoding: 'utf8' });
    const cached = run({});
    expect(JSON.parse(cached).kb).toBe(`KB${SAMPLE_OPTIONS.kb}`);
    expect(run({ MSU_CODE_CACHE: 'off' })).toBe(cached);
  });
});
