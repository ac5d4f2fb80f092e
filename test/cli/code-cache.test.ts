// The V8 code cache of the built CLI (src/cli/code-cache.ts): entries are used only for the
// source they were recorded from, anything else compiles from source, and the build's cache
// matches the build's JavaScript. The hook runs in child processes (it patches Node's loader).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleBody, bundleText, decodeEntry, encodeEntry } from '../../src/cli/code-cache.js';
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
    return JSON.parse(r.stdout) as { out: string; saved: number; stats: { bundled: number; hits: number; misses: number; rejected: number } };
  };

  it('records, then serves every module; a module whose text changed (same length) compiles from its new text', () => {
    const root = path.join(tmp, 'pkg');
    const cacheDir = path.join(tmp, 'pkg-cache');
    mkdirSync(path.join(root, 'lib'), { recursive: true });
    writeFileSync(path.join(root, 'main.js'), `module.exports = () => require('./lib/word.js').word() + require('node:path').sep;\n`);
    writeFileSync(path.join(root, 'lib/word.js'), `exports.word = () => 'AAAA';\n`);

    const first = runUnder(root, cacheDir, true);
    expect(first).toEqual({ out: 'AAAA/', saved: 2, stats: { bundled: 0, hits: 0, misses: 2, rejected: 0 } });
    expect(readFileSync(path.join(cacheDir, 'lib/word.js.v8c')).subarray(0, 8).toString('latin1')).toBe('MSUV8C2\0');

    expect(runUnder(root, cacheDir, false)).toEqual({ out: 'AAAA/', saved: 0, stats: { bundled: 0, hits: 2, misses: 0, rejected: 0 } });

    // V8 itself checks only the length of the source: without the text check this would print AAAA
    writeFileSync(path.join(root, 'lib/word.js'), `exports.word = () => 'BBBB';\n`);
    expect(runUnder(root, cacheDir, false)).toEqual({ out: 'BBBB/', saved: 0, stats: { bundled: 0, hits: 1, misses: 1, rejected: 0 } });
  });

  it('an entry V8 refuses (recorded under other V8 flags) is counted and the module compiles from source', () => {
    const root = path.join(tmp, 'flags');
    const cacheDir = path.join(tmp, 'flags-cache');
    mkdirSync(root, { recursive: true });
    writeFileSync(path.join(root, 'main.js'), `module.exports = () => 'flags ' + [3, 1, 2].sort().join();\n`);
    runUnder(root, cacheDir, true, ['--no-lazy']);
    expect(runUnder(root, cacheDir, false)).toEqual({ out: 'flags 1,2,3', saved: 0, stats: { bundled: 0, hits: 0, misses: 0, rejected: 1 } });
  });
});

describe('the bundle', () => {
  /** Loads root/main.js through the hook with root/bundle.js; returns what main() gives and the stats. */
  const runBundled = (root: string) => {
    const script =
      `const c = require(${JSON.stringify(hookJs)}).installCodeCache(${JSON.stringify(root)}, ${JSON.stringify(path.join(root, '..', 'cache'))}, { bundle: ${JSON.stringify(path.join(root, 'bundle.js'))} });` +
      `const out = c.load(${JSON.stringify(path.join(root, 'main.js'))})();` +
      `process.stdout.write(JSON.stringify({ out, bundled: c.stats.bundled }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout) as { out: unknown; bundled: number };
  };
  const files: Record<string, string> = {
    'main.js': `module.exports = () => { const w = require('./lib/word.js'); const o = require('./outside.js'); return [w.word(), o.word === w, require('node:path').sep]; };\n`,
    'lib/word.js': `exports.word = () => 'AAAA';\n`,
    // not in the bundle: Node loads it, and the module it requires is the bundled one
    'outside.js': `module.exports = { word: require('./lib/word.js') };\n`,
  };
  const setUp = (name: string): string => {
    const root = path.join(tmp, name, 'src');
    mkdirSync(path.join(root, 'lib'), { recursive: true });
    for (const [rel, text] of Object.entries(files)) writeFileSync(path.join(root, rel), text);
    const bundled = new Map([['main.js', files['main.js']!], ['lib/word.js', files['lib/word.js']!]]);
    writeFileSync(path.join(root, 'bundle.js'), bundleText(bundled));
    return root;
  };

  it('runs the modules it holds, as the same module objects Node gives the modules outside it', () => {
    const root = setUp('b1');
    expect(runBundled(root)).toEqual({ out: ['AAAA', true, '/'], bundled: 2 });
  });

  it('is ASCII, and a module with other characters (strings, templates, regexps, identifiers, comments) gives the same from it', () => {
    const root = path.join(tmp, 'b-ascii', 'src');
    mkdirSync(root, { recursive: true });
    // the module's size is its UTF-8 byte length, as the bundle records it
    // (in the module: '\→' is an escaped '→', '\\→' a backslash and '→')
    const text = `// ≤ 5 µs → fine…\nconst µ = 'a→b';\nmodule.exports = () => [µ, \`x \${µ.length} ∅\`, /^[≤→]+$/.test('→≤'), /\\u2192/u.test('→'), 'é'.normalize('NFD').length, '😀'.length, '\\→', '\\\\→', /\\→/.test('→')];\n`;
    writeFileSync(path.join(root, 'main.js'), text);
    const bundle = bundleText(new Map([['main.js', text]]));
    expect(/^[\x00-\x7f]*$/.test(bundle)).toBe(true);
    expect(bundle).toContain(`[${Buffer.byteLength(text, 'utf8')}, function`);
    writeFileSync(path.join(root, 'bundle.js'), bundle);
    const direct = spawnSync(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(root, 'main.js'))})()))`], { encoding: 'utf8' });
    expect(JSON.parse(direct.stdout)).toEqual(['a→b', 'x 3 ∅', true, true, 2, 2, '→', '\\→', true]);
    expect(runBundled(root)).toEqual({ out: JSON.parse(direct.stdout), bundled: 1 });

    // U+2028 ends a // comment: what follows it on the line is code, in the bundle too
    const root2 = path.join(tmp, 'b-ascii2', 'src');
    mkdirSync(root2, { recursive: true });
    const text2 = `// a line separator ends this comment:\u2028module.exports = () => 'after it';\n`;
    writeFileSync(path.join(root2, 'main.js'), text2);
    writeFileSync(path.join(root2, 'bundle.js'), bundleText(new Map([['main.js', text2]])));
    expect(runBundled(root2)).toEqual({ out: 'after it', bundled: 1 });
  });

  it('a module file newer than the bundle, or of another size, is loaded from the file', () => {
    const root = setUp('b2');
    const word = path.join(root, 'lib/word.js');
    const bundleMs = statSync(path.join(root, 'bundle.js')).mtimeMs;
    // a second before: utimes rounds to whole microseconds
    const earlier = new Date(bundleMs - 1000);
    // same size, not newer: the bundle's body runs (the file is not read)
    writeFileSync(word, `exports.word = () => 'BBBB';\n`);
    utimesSync(word, earlier, earlier);
    expect(runBundled(root)).toEqual({ out: ['AAAA', true, '/'], bundled: 2 });
    // newer than the bundle
    const later = new Date(bundleMs + 5000);
    utimesSync(word, later, later);
    expect(runBundled(root)).toEqual({ out: ['BBBB', true, '/'], bundled: 1 });
    // another size, not newer
    writeFileSync(word, `exports.word = () => 'CCCCC';\n`);
    utimesSync(word, earlier, earlier);
    expect(runBundled(root)).toEqual({ out: ['CCCCC', true, '/'], bundled: 1 });
  });

  it('a module that throws is not left in the module cache; no bundle file means no bundle', () => {
    const root = setUp('b3');
    const script =
      `const p = require('path'); const root = ${JSON.stringify(root)};` +
      `require('fs').writeFileSync(p.join(root, 'bad.js'), 'throw new Error(\\'bad\\');\\n');` +
      `require('fs').writeFileSync(p.join(root, 'bundle.js'), require(${JSON.stringify(hookJs)}).bundleText(new Map([['bad.js', 'throw new Error(\\'bad\\');\\n']])));` +
      `const c = require(${JSON.stringify(hookJs)}).installCodeCache(root, p.join(root, '..', 'cache'), { bundle: p.join(root, 'bundle.js') });` +
      `let e1; try { c.load(p.join(root, 'bad.js')); } catch (e) { e1 = e.message; }` +
      `const left = Object.keys(require.cache).includes(p.join(root, 'bad.js'));` +
      `const d = require(${JSON.stringify(hookJs)}).installCodeCache(root, p.join(root, '..', 'cache2'), { bundle: p.join(root, 'none.js') });` +
      `process.stdout.write(JSON.stringify({ e1, left, word: d.load(p.join(root, 'lib/word.js')).word(), bundled: d.stats.bundled }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ e1: 'bad', left: false, word: 'AAAA', bundled: 0 });
  });
});

describe('the build', () => {
  it('every dist module `msu inspect` runs comes from the bundle or a cache entry, each made from the JavaScript now in dist', () => {
    const log = path.join(tmp, 'loads.txt');
    const sample = path.join(tmp, 'Windows10.0-KB5099999-x64.msu');
    writeFileSync(sample, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
    const preload = path.join(tmp, 'loads.cjs');
    writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(log)}, Object.keys(require.cache).join('\\n')));`);
    execFileSync(process.execPath, ['-r', preload, msuBin, 'inspect', sample], { encoding: 'utf8' });
    const distSrc = path.join(repoRoot, 'dist/src') + path.sep;
    const modules = readFileSync(log, 'utf8').split('\n').filter((f) => f.startsWith(distSrc));
    expect(modules).toContain(path.join(distSrc, 'cli/main.js'));
    const bundleFile = path.join(distSrc, 'bundle.js');
    const bundle = readFileSync(bundleFile, 'utf8');
    const bundleTime = statSync(bundleFile).mtimeMs;
    const entry = (f: string) => {
      try {
        return decodeEntry(readFileSync(path.join(repoRoot, 'dist/code-cache', f.slice(distSrc.length) + '.v8c')), readFileSync(f, 'utf8'));
      } catch {
        return null;
      }
    };
    const from = (f: string): string => {
      const source = readFileSync(f, 'utf8');
      const rel = f.slice(distSrc.length).split(path.sep).join('/');
      if (bundle.includes(bundleBody(rel, source)) && statSync(f).mtimeMs <= bundleTime) return 'bundle';
      // a module with import() is left to Node (src/cli/code-cache.ts)
      if (f === bundleFile || f.endsWith(`${path.sep}code-cache.js`) || source.includes('import(')) return entry(f) ? 'cache' : 'node';
      return entry(f) ? 'cache' : 'neither';
    };
    const origins = new Map(modules.map((f) => [f.slice(distSrc.length), from(f)]));
    expect([...origins].filter(([, o]) => o === 'neither')).toEqual([]);
    expect(origins.get(path.join('cli', 'main.js'))).toBe('bundle');
    expect(origins.get(path.join('cab', 'cabinet.js'))).toBe('bundle');
    expect(origins.get('bundle.js')).toBe('cache');
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
