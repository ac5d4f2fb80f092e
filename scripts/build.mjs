// The one build: src/ compiled to CommonJS in dist/src (tsconfig.build.json). CommonJS because
// Node 20 starts a CommonJS program 10-30 ms sooner than the same code as ES modules (no ES
// module loader, and `node:fs` does not drag in fs/promises and readline); docs/performance.md.
// Type checking against the ES module view stays with `tsc -p tsconfig.json --noEmit` (npm test).
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// the package is "type": "module"; this marks dist's .js files as CommonJS (written first:
// tsc emits even when a type error makes it exit non-zero)
mkdirSync(path.join(root, 'dist'), { recursive: true });
writeFileSync(path.join(root, 'dist/package.json'), '{ "type": "commonjs" }\n');
execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
// then the V8 code cache the CLI starts from (src/cli/code-cache.ts), recorded against this build
execFileSync(process.execPath, [path.join(root, 'scripts/code-cache.mjs')], { stdio: 'inherit' });
