import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Test WIMs captured with wimlib-imagex itself (not through src/wim), so the code under test
 * reads a WIM it did not write: WIM-based MSUs (one image holding the members) and the
 * payload `.wim` inside them (one image holding the CBS package files).
 */

export type TreeFiles = Record<string, Uint8Array | string>;

/**
 * Capture `files` (names relative, `\` or `/` separated) as image 1 of a new WIM at `out`.
 * `compress: 'none'` (the default) stores every file as-is, as Microsoft's WIM MSUs do.
 */
export async function captureWim(out: string, files: TreeFiles, opts: { compress?: 'none' | 'LZX' | 'XPRESS'; solid?: boolean; solidChunkSize?: number; name?: string } = {}): Promise<void> {
  const src = await mkdtemp(`${out}.src-`);
  try {
    for (const [rel, data] of Object.entries(files)) {
      const p = path.join(src, ...rel.split(/[\\/]/));
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, data);
    }
    // --solid: one LZMS solid resource for the file data, as in an ESD
    const how = opts.solid ? ['--solid', ...(opts.solidChunkSize ? [`--solid-chunk-size=${opts.solidChunkSize}`] : [])] : [`--compress=${opts.compress ?? 'none'}`];
    execFileSync('wimlib-imagex', ['capture', src, out, opts.name ?? 'content', ...how], { stdio: 'pipe' });
  } finally {
    await rm(src, { recursive: true, force: true });
  }
}

/** The bytes of a WIM holding `files` (for a payload `.wim` member). */
export async function wimBytes(dir: string, files: TreeFiles, opts: { compress?: 'none' | 'LZX' | 'XPRESS'; solid?: boolean; solidChunkSize?: number } = {}): Promise<Uint8Array> {
  const out = await mkdtemp(path.join(dir, 'wim-'));
  try {
    await captureWim(path.join(out, 'x.wim'), files, { ...opts, name: 'payload' });
    return await readFile(path.join(out, 'x.wim'));
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}
