// Build only when dist/ is missing or older than a source: after `npm install` the `prepare`
// script has just built, and `npm run demo` should not pay for a second TypeScript build.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const marker = path.join(root, 'dist/package.json');

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const configs = ['tsconfig.json', 'tsconfig.build.json'].map((f) => statSync(path.join(root, f)).mtimeMs);
const sources = Math.max(newest(path.join(root, 'src')), ...configs);
const outputs = existsSync(marker) ? Math.min(statSync(marker).mtimeMs, statSync(path.join(root, 'dist/src/index.js')).mtimeMs) : 0;
if (outputs < sources) execFileSync(process.execPath, [path.join(root, 'scripts/build.mjs')], { stdio: 'inherit' });
