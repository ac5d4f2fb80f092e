import { mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../util/fsout.js';
import { buildScanIndex, sha256File } from './reader.js';
import { INDEX_VERSION, type ScanIndex } from './types.js';

/**
 * Where built indexes are kept: --cache-dir, else $MSU_CACHE_DIR, else
 * $XDG_CACHE_HOME/msu-toolkit/scancab, else ~/.cache/msu-toolkit/scancab.
 * One file per cabinet, named by its SHA-256: a changed cabinet is a new index.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MSU_CACHE_DIR) return path.join(env.MSU_CACHE_DIR, 'scancab');
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'msu-toolkit', 'scancab');
}

function looksLikeIndex(v: unknown, sha256: string): v is ScanIndex {
  if (!v || typeof v !== 'object') return false;
  const ix = v as Partial<ScanIndex>;
  return ix.indexVersion === INDEX_VERSION && ix.sha256 === sha256 && Array.isArray(ix.updates)
    && typeof ix.fileLocations === 'object' && ix.fileLocations !== null && Array.isArray(ix.cabinets);
}

export interface LoadOptions {
  /** Directory for cached indexes; null disables the cache. */
  cacheDir?: string | null;
}

/** The index of a scan cabinet: from the cache when it holds one for these exact bytes, else built and cached. */
export async function loadScanIndex(file: string, opts: LoadOptions = {}): Promise<ScanIndex & { fromCache: boolean }> {
  const sha256 = await sha256File(file);
  const dir = opts.cacheDir === undefined ? defaultCacheDir() : opts.cacheDir;
  const cached = dir ? path.join(dir, `${sha256}.json`) : null;
  if (cached) {
    try {
      const v: unknown = JSON.parse(await readFile(cached, 'utf8'));
      if (looksLikeIndex(v, sha256)) return { ...v, fromCache: true };
    } catch {
      // absent or unreadable: rebuilt below (the cache is never trusted over the cabinet)
    }
  }
  const ix = await buildScanIndex(file, sha256);
  if (cached) {
    try {
      await mkdir(dir!, { recursive: true });
      await writeFileAtomic(cached, JSON.stringify(ix));
    } catch {
      // a read-only cache directory only costs the next run a rebuild
    }
  }
  return { ...ix, fromCache: false };
}
