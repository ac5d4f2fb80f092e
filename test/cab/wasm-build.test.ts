// The committed WebAssembly modules (src/cab/lzx-wasm.ts, checksum-wasm.ts, cffile-wasm.ts) are what their
// C sources compile to (scripts/build-wasm.mjs --check), where this machine has the compiler they
// name; elsewhere one SKIPPED line says why.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/built-cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const modules = ['src/cab/lzx-wasm.ts', 'src/cab/checksum-wasm.ts', 'src/cab/cffile-wasm.ts'];
const compilers = modules.map((m) => /^\/\/ Compiler: (.*)$/m.exec(readFileSync(path.join(repoRoot, m), 'utf8'))?.[1]);
const tools = hasTool('clang') && hasTool('wasm-ld');
const local = tools ? execFileSync('clang', ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim() : undefined;
const same = compilers.every((c) => c === local);
if (!tools) skipNote('rebuilding the WebAssembly modules from src/cab/*.c', 'clang or wasm-ld (Debian: clang, lld)');
else if (!same) console.warn(`SKIPPED: rebuilding the WebAssembly modules: they were built with ${[...new Set(compilers)].join(', ')}, this machine has ${local}`);

describe('the WebAssembly modules', () => {
  it('each names the compiler it was built with, the same one', () => {
    for (const c of compilers) expect(c).toMatch(/clang version \d+/);
    expect(new Set(compilers).size).toBe(1);
  });

  it.skipIf(!tools || !same)('are what their C sources compile to (scripts/build-wasm.mjs --check)', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/build-wasm.mjs'), '--check'], { encoding: 'utf8' });
    for (const m of modules) expect(r.stderr).toContain(`${m} matches`);
    expect(r.status).toBe(0);
  }, 60_000);
});
