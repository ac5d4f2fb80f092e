// Writes the start-up bundle and records the V8 code cache of dist/src (src/cli/code-cache.ts).
// Run by scripts/build.mjs after tsc, in three steps:
// 1. `--sample`, in a child process: writes the demo's synthetic MSU to a temporary directory
//    (so that the code making it is in neither the bundle nor the cache);
// 2. `--modules`, in another: runs the commands people time (--version, inspect, list, and the
//    extract that feeds an inspect of a bare cabinet) on it and prints which dist/src modules they loaded; dist/src/bundle.js then gets the
//    bodies of those modules (not code-cache.js, which loads before the hook, nor a module with
//    import(), which Node must compile itself);
// 3. here: loads the CLI through the recording hook with that bundle, runs the same commands,
//    and writes one cache entry per script compiled (the bundle, and modules outside it) to
//    dist/code-cache. The bundle is written after dist/src, so its mtime is the newest.
// The sample lives in a temporary directory that is removed afterwards.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const distSrc = path.join(root, 'dist/src');
const cacheDir = path.join(root, 'dist/code-cache');
const bundleFile = path.join(distSrc, 'bundle.js');

/**
 * Runs the training commands through main on the sample MSU `msu`, then sets up an LZX decoder
 * (the sample has no LZX folder; Microsoft's packages mostly do); throws on a non-zero exit.
 * Only the commands whose start-up is timed (docs/performance.md): what a command loads beyond
 * them compiles as it would without the bundle, and the cache stays small.
 */
async function train(main, msu, kb, load) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-code-cache-'));
  const sink = { write: () => true, on() {}, off() {} };
  const errors = [];
  const errSink = { write: (s) => (errors.push(String(s)), true), on() {}, off() {} };
  try {
    const out = path.join(tmp, 'out');
    const lines = [
      ['--version'],
      ['inspect', msu], ['inspect', '--json', msu],
      ['list', msu], ['list', '--json', msu], ['list', '--inner', `${kb}.cab`, msu],
      ['extract', msu, '-d', out],
      ['inspect', path.join(out, `${kb}.cab`)],
    ];
    for (const line of lines) {
      const code = await main(['node', 'msu', ...line], sink, errSink);
      if (code !== 0) throw new Error(`msu ${line.join(' ')} exited ${code}: ${errors.join('')}`);
    }
    new (load(path.join(distSrc, 'cab/lzx.js')).LzxDecoder)(21).reset();
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

const mode = process.argv[2];
if (mode === '--sample') {
  // a process of its own, so that no other process here loads the code that makes the sample
  const { buildSyntheticMsu, SAMPLE_OPTIONS } = require('../dist/src/msu/synthetic.js');
  const kb = `Windows10.0-KB${SAMPLE_OPTIONS.kb}-x64`;
  const msu = path.join(process.argv[3], `${kb}.msu`);
  writeFileSync(msu, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
  process.stdout.write(JSON.stringify({ msu, kb }));
} else if (mode === '--modules') {
  const [msu, kb] = process.argv.slice(3);
  const { main } = require('../dist/src/cli/main.js');
  await train(main, msu, kb, require);
  const under = distSrc + path.sep;
  const loaded = Object.keys(require.cache).filter((f) => f.startsWith(under)).map((f) => f.slice(under.length).split(path.sep).join('/'));
  process.stdout.write(JSON.stringify(loaded));
} else {
  rmSync(cacheDir, { recursive: true, force: true });
  rmSync(bundleFile, { force: true });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-code-cache-sample-'));
  const step = (...args) => JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
  try {
    const { msu, kb } = step('--sample', dir);
    const loaded = step('--modules', msu, kb);
    const { bundleText, installCodeCache } = require('../dist/src/cli/code-cache.js');
    const modules = new Map();
    for (const rel of loaded) {
      if (rel === 'cli/code-cache.js') continue;
      const source = readFileSync(path.join(distSrc, rel), 'utf8');
      if (!source.includes('import(')) modules.set(rel, source);
    }
    writeFileSync(bundleFile, bundleText(modules));

    // installed first: a module loaded before the hook would be compiled without it and never recorded
    const cache = installCodeCache(distSrc, cacheDir, { record: true, bundle: bundleFile });
    try {
      const { main } = cache.load(path.join(distSrc, 'cli/main.js'));
      await train(main, msu, kb, (f) => cache.load(f));
      const n = await cache.save();
      console.error(`code cache: ${modules.size} modules bundled in ${path.relative(root, bundleFile)} (${cache.stats.bundled} run from it), ${n} scripts recorded in ${path.relative(root, cacheDir)}`);
    } finally {
      cache.uninstall();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
