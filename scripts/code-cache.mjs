// Records the V8 code cache of dist/src (src/cli/code-cache.ts): loads the CLI through the
// recording hook, runs the commands people time (--version, inspect, list, extract, cbs) on the
// demo's synthetic MSU in this process, then writes one entry per module it loaded to
// dist/code-cache. Run by scripts/build.mjs after tsc; the sample lives in a temporary
// directory that is removed afterwards.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const cacheDir = path.join(root, 'dist/code-cache');
rmSync(cacheDir, { recursive: true, force: true });

// installed first: a module loaded before the hook would be compiled without it and never recorded
const { installCodeCache } = require('../dist/src/cli/code-cache.js');
const cache = installCodeCache(path.join(root, 'dist/src'), cacheDir, { record: true });
const { main } = require('../dist/src/cli/main.js');
const { buildSyntheticMsu, SAMPLE_OPTIONS } = require('../dist/src/msu/synthetic.js');

const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-code-cache-'));
const sink = { write: () => true, on() {}, off() {} };
const errors = [];
const errSink = { write: (s) => (errors.push(String(s)), true), on() {}, off() {} };
try {
  const kb = `Windows10.0-KB${SAMPLE_OPTIONS.kb}-x64`;
  const msu = path.join(tmp, `${kb}.msu`);
  writeFileSync(msu, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
  const out = path.join(tmp, 'out');
  const inner = path.join(tmp, 'inner');
  const lines = [
    ['--version'],
    ['inspect', msu], ['inspect', '--json', msu],
    ['list', msu], ['list', '--json', msu], ['list', '--inner', `${kb}.cab`, msu],
    ['extract', msu, '-d', out],
    ['inspect', path.join(out, `${kb}.cab`)],
    ['extract', path.join(out, `${kb}.cab`), '-d', inner, 'update.mum'],
    ['cbs', path.join(inner, 'update.mum')],
  ];
  for (const line of lines) {
    const code = await main(['node', 'msu', ...line], sink, errSink);
    if (code !== 0) throw new Error(`msu ${line.join(' ')} exited ${code}: ${errors.join('')}`);
  }
  const n = await cache.save();
  console.error(`code cache: ${n} modules recorded in ${path.relative(root, cacheDir)}`);
} finally {
  cache.uninstall();
  rmSync(tmp, { recursive: true, force: true });
}
