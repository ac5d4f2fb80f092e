import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, lstat, mkdir, open, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { IoError, MismatchError, MsuError, UsageError, ioError } from '../errors.js';
import { resolveUnder, writeFileAtomic } from './fsout.js';
import { canonicalJson } from './json.js';

/**
 * Verified downloads into one directory: bounded parallelism, resume from a
 * partial file (HTTP Range), SHA-1 checked before a file gets its name (wrong
 * bytes are deleted, never kept), atomic renames, and a manifest of the directory.
 * Partial files live in DIR/.msu-partial/<sha1>.part; nothing is written elsewhere.
 */
export interface DownloadItem {
  /** Plain file name inside DIR. */
  name: string;
  /** Expected SHA-1, hex. */
  sha1: string;
  url: string;
  size?: number | null;
}

export interface DownloadOptions {
  /** Parallel downloads (default 4). */
  concurrency?: number;
  /** No byte for this long aborts the attempt (default 30 s). */
  idleTimeoutMs?: number;
  /** Attempts per file after the first, each resuming (default 2). */
  retries?: number;
  onProgress?: (doneBytes: number, totalBytes: number, doneFiles: number, totalFiles: number) => void;
}

export type DownloadStatus = 'downloaded' | 'present' | 'failed';

export interface DownloadResult {
  name: string;
  sha1: string;
  status: DownloadStatus;
  size: number;
  error?: string;
  /**
   * Why it failed: E_FETCH_SHA1 (the downloaded bytes were wrong, and deleted), E_FETCH_EXISTS
   * (another file has its name in DIR, left as it is), or the code of the last transfer error
   * (E_FETCH_HTTP, E_FETCH_TRUNCATED, E_FETCH_TIMEOUT, E_FETCH_NET, an I/O error's code).
   */
  code?: string;
}

export const MANIFEST = 'manifest.json';
const PARTIAL = '.msu-partial';

export function validateItems(items: DownloadItem[], file?: string): void {
  const names = new Map<string, string>();
  for (const it of items) {
    if (!/^[0-9a-f]{40}$/.test(it.sha1)) throw new UsageError(`${JSON.stringify(it.name)}: sha1 must be 40 hex digits`, { file });
    if (!/^https?:\/\//i.test(it.url)) throw new UsageError(`${JSON.stringify(it.name)}: only http and https URLs are fetched`, { file });
    if (it.name.includes('/') || it.name.includes('\\') || it.name === MANIFEST || it.name.startsWith('.')) {
      throw new UsageError(`file name ${JSON.stringify(it.name)} is not a plain file name`, { file });
    }
    const key = it.name.toLowerCase();
    const prev = names.get(key);
    if (prev !== undefined && prev !== it.sha1) throw new UsageError(`two different files are both named ${JSON.stringify(it.name)}`, { file });
    names.set(key, it.sha1);
  }
}

async function sha1Of(file: string): Promise<string> {
  const h = createHash('sha1');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

async function isRegularOrAbsent(p: string): Promise<'file' | 'absent'> {
  try {
    const st = await lstat(p);
    if (st.isSymbolicLink() || !st.isFile()) throw new IoError('E_FETCH_TARGET', 'exists and is not a regular file (a symlink is never followed)', { file: p });
    return 'file';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
}

/**
 * Give the verified `part` its final name, unless a file took that name meanwhile (the check
 * before the download is not enough: a rename would replace what the user put there). A hard
 * link fails on an existing name; where the file system has none, a rename it is.
 */
async function commitNoClobber(part: string, dest: string): Promise<boolean> {
  try {
    await link(part, dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw err;
    await rename(part, dest);
    return true;
  }
  // the file is in place; a partial file left behind is harmless
  await rm(part, { force: true }).catch(() => undefined);
  return true;
}

/** One HTTP GET from `offset`, appended to `part`. Resolves with the bytes now in `part`. */
function getInto(url: string, part: string, offset: number, idleMs: number, onBytes: (n: number) => void, redirects = 5): Promise<number> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.get(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {}, timeout: idleMs }, (res) => {
      const code = res.statusCode ?? 0;
      if (code >= 300 && code < 400 && res.headers.location) {
        res.resume();
        if (redirects <= 0) return reject(new IoError('E_FETCH_HTTP', 'too many redirects', { file: url }));
        return resolve(getInto(new URL(res.headers.location, url).toString(), part, offset, idleMs, onBytes, redirects - 1));
      }
      let start: number;
      if (code === 206 && offset > 0) {
        const m = /^bytes (\d+)-/.exec(String(res.headers['content-range'] ?? ''));
        if (!m || Number(m[1]) !== offset) {
          res.resume();
          return reject(new IoError('E_FETCH_HTTP', `server answered a range request from ${offset} with ${res.headers['content-range'] ?? 'no Content-Range'}`, { file: url }));
        }
        start = offset;
      } else if (code === 200) start = 0;
      else {
        res.resume();
        return reject(new IoError('E_FETCH_HTTP', `HTTP ${code}`, { file: url }));
      }
      const expected = res.headers['content-length'] !== undefined ? start + Number(res.headers['content-length']) : null;
      void (async () => {
        const fh = await open(part, start === 0 ? 'w' : 'a');
        let have = start;
        try {
          for await (const chunk of res) {
            await fh.write(chunk as Buffer);
            have += (chunk as Buffer).length;
            onBytes((chunk as Buffer).length);
          }
        } finally {
          await fh.close();
        }
        if (expected !== null && have < expected) throw new IoError('E_FETCH_TRUNCATED', `connection ended after ${have} of ${expected} bytes`, { file: url });
        return have;
      })().then(resolve, reject);
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new IoError('E_FETCH_TIMEOUT', `no data for ${idleMs} ms`, { file: url })));
    req.on('error', (e) => reject(e instanceof MsuError ? e : new IoError('E_FETCH_NET', e.message, { file: url })));
  });
}

async function fetchOne(dir: string, it: DownloadItem, o: Required<Omit<DownloadOptions, 'onProgress'>>, onBytes: (n: number) => void): Promise<DownloadResult> {
  const dest = resolveUnder(dir, it.name);
  if ((await isRegularOrAbsent(dest)) === 'file') {
    const have = await sha1Of(dest);
    if (have === it.sha1) return { name: it.name, sha1: it.sha1, status: 'present', size: (await stat(dest)).size };
    // the user's own file: never replaced or removed
    return { name: it.name, sha1: it.sha1, status: 'failed', size: 0, code: 'E_FETCH_EXISTS', error: `${it.name} already exists with SHA-1 ${have}, not ${it.sha1}; left as it is` };
  }
  const part = path.join(dir, PARTIAL, `${it.sha1}.part`);
  let lastErr = '';
  let lastCode = 'E_FETCH';
  for (let attempt = 0; attempt <= o.retries; attempt++) {
    if ((await isRegularOrAbsent(part)) === 'absent') await (await open(part, 'w')).close();
    let offset = (await stat(part)).size;
    if (it.size != null && offset > it.size) offset = 0; // more than the file can be: start over
    try {
      const got = await getInto(it.url, part, offset, o.idleTimeoutMs, onBytes);
      const sum = await sha1Of(part);
      if (sum !== it.sha1) {
        await rm(part, { force: true });
        throw new MismatchError('E_FETCH_SHA1', `${it.name}: downloaded ${got} bytes with SHA-1 ${sum}, expected ${it.sha1}; deleted`, { file: it.url });
      }
      if (!(await commitNoClobber(part, dest))) {
        await rm(part, { force: true });
        return { name: it.name, sha1: it.sha1, status: 'failed', size: 0, code: 'E_FETCH_EXISTS', error: `${it.name} appeared in the directory while it was downloading; left as it is` };
      }
      return { name: it.name, sha1: it.sha1, status: 'downloaded', size: got };
    } catch (err) {
      lastErr = err instanceof MsuError ? err.describe() : String(err);
      lastCode = err instanceof MsuError ? err.code : 'E_FETCH';
      // wrong bytes were deleted above: the next attempt starts from zero
    }
  }
  return { name: it.name, sha1: it.sha1, status: 'failed', size: 0, code: lastCode, error: lastErr };
}

export interface ManifestEntry {
  name: string;
  sha1: string;
  size: number;
  url: string;
}

async function readManifest(file: string): Promise<ManifestEntry[]> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as { files?: unknown };
    if (!Array.isArray(v.files)) return [];
    return v.files.filter((e): e is ManifestEntry =>
      !!e && typeof e === 'object' && typeof (e as ManifestEntry).name === 'string' && typeof (e as ManifestEntry).sha1 === 'string');
  } catch {
    return [];
  }
}

/**
 * Download every item into `dir` (created when missing). Every result is
 * returned, failed ones with their error; DIR/manifest.json lists the verified files.
 */
export async function downloadAll(items: DownloadItem[], dir: string, opts: DownloadOptions = {}): Promise<DownloadResult[]> {
  validateItems(items);
  const o = { concurrency: opts.concurrency ?? 4, idleTimeoutMs: opts.idleTimeoutMs ?? 30_000, retries: opts.retries ?? 2 };
  try {
    await mkdir(dir, { recursive: true });
    const pd = path.join(dir, PARTIAL);
    await mkdir(pd, { recursive: true });
    const st = await lstat(pd);
    if (!st.isDirectory()) throw new IoError('E_FETCH_TARGET', `${PARTIAL} is not a directory`, { file: dir });
  } catch (err) {
    throw ioError(err, dir, 'create');
  }
  const unique = [...new Map(items.map((i) => [i.name.toLowerCase(), i])).values()];
  const total = unique.reduce((n, i) => n + (i.size ?? 0), 0);
  let done = 0, files = 0;
  const results: DownloadResult[] = new Array(unique.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < unique.length) {
      const k = next++;
      results[k] = await fetchOne(dir, unique[k]!, o, (n) => {
        done += n;
        opts.onProgress?.(done, total, files, unique.length);
      });
      files++;
      opts.onProgress?.(done, total, files, unique.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(o.concurrency, unique.length)) }, worker));
  await rmdir(path.join(dir, PARTIAL)).catch(() => undefined); // only when empty: partial files stay for a resume

  const manifestPath = path.join(dir, MANIFEST);
  const byName = new Map<string, ManifestEntry>();
  for (const e of await readManifest(manifestPath)) {
    // earlier entries stay while their file is still there
    if (!e.name.includes('/') && (await isRegularOrAbsent(resolveUnder(dir, e.name)).catch(() => 'absent')) === 'file') byName.set(e.name, e);
  }
  for (const [k, r] of results.entries()) {
    if (r.status !== 'failed') byName.set(r.name, { name: r.name, sha1: r.sha1, size: r.size, url: unique[k]!.url });
  }
  const entries = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  await writeFileAtomic(manifestPath, canonicalJson({ files: entries }));
  return results.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A download list (LIST.json): an array of {name, sha1, url, size?}, or {files: [...]}. Untrusted input. */
export function parseDownloadList(v: unknown, file?: string): DownloadItem[] {
  const arr = Array.isArray(v) ? v : v && typeof v === 'object' && Array.isArray((v as { files?: unknown }).files) ? (v as { files: unknown[] }).files : null;
  if (!arr) throw new UsageError('a download list is an array of {name, sha1, url} (or {"files": [...]})', { file });
  const items = arr.map((e, i) => {
    const o = e as Record<string, unknown>;
    if (!o || typeof o !== 'object' || typeof o.name !== 'string' || typeof o.sha1 !== 'string' || typeof o.url !== 'string') {
      throw new UsageError(`entry ${i} needs string name, sha1 and url`, { file });
    }
    // optional, but when given it must be a size: a wrong one would silently be ignored
    if (o.size !== undefined && o.size !== null && !(typeof o.size === 'number' && Number.isSafeInteger(o.size) && o.size >= 0)) {
      throw new UsageError(`entry ${i}: size must be a whole number of bytes, not ${JSON.stringify(o.size)}`, { file });
    }
    const size = typeof o.size === 'number' ? o.size : null;
    return { name: o.name, sha1: o.sha1.toLowerCase(), url: o.url, size };
  });
  validateItems(items, file);
  return items;
}
