/**
 * The built CLI (bin/msu.js on dist/) for tests that need a real child process: signals,
 * process exit, load order. `ensureBuilt()` runs the build (scripts/build.mjs) only when dist is missing or older than
 * a source file. tsc emits even when some file has a type error (that is for
 * `tsc --noEmit` to report), so only a build that leaves dist stale fails.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const msuBin = path.join(repoRoot, 'bin/msu.js');

/** src/**.ts files whose dist/src/**.js is missing or older than the source. */
export function staleOutputs(): string[] {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        const out = path.join(repoRoot, 'dist', path.relative(repoRoot, p)).replace(/\.ts$/, '.js');
        if (!existsSync(out) || statSync(out).mtimeMs < statSync(p).mtimeMs) stale.push(path.relative(repoRoot, p));
      }
    }
  };
  walk(path.join(repoRoot, 'src'));
  if (!existsSync(path.join(repoRoot, 'dist/package.json'))) stale.push('dist/package.json (scripts/build.mjs)');
  return stale;
}

export function ensureBuilt(): void {
  if (staleOutputs().length === 0) return;
  try {
    execFileSync(process.execPath, [path.join(repoRoot, 'scripts/build.mjs')], { cwd: repoRoot, stdio: 'pipe' });
  } catch (err) {
    const left = staleOutputs();
    if (left.length > 0) throw new Error(`build failed; dist is stale for ${left.slice(0, 5).join(', ')}: ${String((err as { stdout?: Buffer }).stdout ?? err)}`);
  }
}
