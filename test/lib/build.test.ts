// The build (scripts/build.mjs) compiles src/ to CommonJS: the CLI and library in dist/ must
// type-check in that form and offer an ES module importer the same names as src/index.ts.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import { ensureBuilt, repoRoot } from '../helpers/built-cli.js';

beforeAll(() => ensureBuilt(), 600_000);

describe('the CommonJS build', () => {
  it('src/ compiles as CommonJS without errors (no import.meta, no top-level await)', () => {
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    let out = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', path.join(repoRoot, 'tsconfig.build.json'), '--noEmit'], { encoding: 'utf8', stdio: 'pipe' });
    } catch (err) {
      out = String((err as { stdout?: string }).stdout ?? err);
    }
    expect(out).toBe('');
  }, 120_000);

  it('an ES module importing dist/src/index.js sees every name src/index.ts exports', () => {
    const url = pathToFileURL(path.join(repoRoot, 'dist/src/index.js')).href;
    const names = execFileSync(process.execPath, ['--input-type=module', '-e', `import * as m from ${JSON.stringify(url)}; console.log(JSON.stringify(Object.keys(m)))`], { encoding: 'utf8' });
    const seen = (JSON.parse(names) as string[]).filter((n) => n !== 'default' && n !== '__esModule').sort();
    expect(seen).toEqual(Object.keys(api).sort());
  });

  it('require() of dist/src/index.js offers the same names', () => {
    const names = execFileSync(process.execPath, ['-e', `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(path.join(repoRoot, 'dist/src/index.js'))}))))`], { encoding: 'utf8' });
    expect((JSON.parse(names) as string[]).filter((n) => n !== '__esModule').sort()).toEqual(Object.keys(api).sort());
  });
});
