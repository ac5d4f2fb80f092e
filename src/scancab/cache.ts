import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../util/fsout.js';
import type { ScanSource } from './query.js';
import { buildScanIndex, sha256File } from './reader.js';
import { INDEX_VERSION, type ScanIndex, type ScanUpdate } from './types.js';

/**
 * Where built indexes are kept: --cache-dir, else $MSU_CACHE_DIR/scancab, else
 * $XDG_CACHE_HOME/msu-toolkit/scancab, else ~/.cache/msu-toolkit/scancab.
 *
 * Layout, per cabinet SHA-256: `<sha>.ndjson` (a header line, then one update a line,
 * by RevisionId, each with its payload URLs and the revisions it bundles),
 * `<sha>.keys.json` (RevisionIds, line offsets, KB → lines; written last, so its
 * presence means the index is complete) and `<sha>.uids.json` (UpdateId → lines).
 * A KB query reads the keys and a few lines, not the whole index.
 * `stat/<key>` remembers the SHA-256 of a file by path, size, mtime and inode,
 * so a query does not hash a large cabinet again.
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MSU_CACHE_DIR) return path.join(env.MSU_CACHE_DIR, 'scancab');
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'msu-toolkit', 'scancab');
}

/** The head of a cached index: the index's own fields without the per-update records. */
export interface ScanMeta extends Omit<ScanIndex, 'updates' | 'fileLocations'> {
  revisions: number;
  /** Category UpdateId → title. */
  names: Record<string, string>;
}

type CachedRecord = ScanUpdate & { urls: Record<string, string>; bundles: number[] };

interface Keys {
  revs: ArrayLike<number>;
  offsets: ArrayLike<number>;
  /** Sorted KB numbers and, parallel, their line numbers. */
  kb: { kb: string[]; line: number[] };
}

export interface LoadOptions {
  /** Directory for cached indexes; null disables the cache. */
  cacheDir?: string | null;
}

function metaOf(ix: ScanIndex): ScanMeta {
  const names: Record<string, string> = {};
  for (const u of ix.updates) if (u.updateType === 'Category' && u.title) names[u.updateId] = u.title;
  return {
    indexVersion: ix.indexVersion, sha256: ix.sha256, packageId: ix.packageId, protocolVersion: ix.protocolVersion,
    creationDate: ix.creationDate, form: ix.form, cabinets: ix.cabinets, revisions: ix.updates.length, names,
  };
}

/** Where the f64 offsets start in keys.bin: after the count and the RevisionIds, 8-aligned. */
const keysOffsetAt = (n: number): number => (4 + 4 * n + 7) & ~7;

async function writeCache(dir: string, ix: ScanIndex): Promise<void> {
  const bundled = new Map<number, number[]>();
  for (const u of ix.updates) for (const b of u.bundledBy) bundled.set(b, [...(bundled.get(b) ?? []), u.revisionId]);
  const n = ix.updates.length;
  // keys.bin: count (u32), RevisionIds (u32 × n), line offsets (f64 × n+1)
  const offAt = keysOffsetAt(n);
  const bin = new ArrayBuffer(offAt + 8 * (n + 1));
  const dv = new DataView(bin);
  dv.setUint32(0, n, true);
  const kb: Record<string, number[]> = {};
  const uids: Record<string, number[]> = {};
  const header = JSON.stringify(metaOf(ix)) + '\n';
  let pos = Buffer.byteLength(header);
  // lines are produced while the file is written: the index is never one string
  function* lines(): Generator<string> {
    yield header;
    let batch = '';
    for (let i = 0; i < n; i++) {
      const u = ix.updates[i]!;
      const urls: Record<string, string> = {};
      for (const id of u.payloadFiles) if (ix.fileLocations[id] !== undefined) urls[id] = ix.fileLocations[id]!;
      const line = JSON.stringify({ ...u, urls, bundles: bundled.get(u.revisionId) ?? [] }) + '\n';
      dv.setUint32(4 + 4 * i, u.revisionId, true);
      dv.setFloat64(offAt + 8 * i, pos, true);
      pos += Buffer.byteLength(line);
      if (u.kb) (kb[u.kb] ??= []).push(i);
      (uids[u.updateId] ??= []).push(i);
      batch += line;
      if (batch.length > 1 << 20) {
        yield batch;
        batch = '';
      }
    }
    if (batch) yield batch;
    dv.setFloat64(offAt + 8 * n, pos, true);
  }
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(path.join(dir, `${ix.sha256}.ndjson`), lines());
  await writeFileAtomic(path.join(dir, `${ix.sha256}.uids.json`), JSON.stringify(uids));
  // KB → lines as two parallel arrays sorted by KB (parses far faster than an object of 100,000 keys)
  const kbPairs = Object.entries(kb).flatMap(([k, ls]) => ls.map((l) => [k, l] as const)).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]));
  await writeFileAtomic(path.join(dir, `${ix.sha256}.kb.json`), JSON.stringify({ kb: kbPairs.map((p) => p[0]), line: kbPairs.map((p) => p[1]) }));
  await writeFileAtomic(path.join(dir, `${ix.sha256}.keys.bin`), new Uint8Array(bin));
}

/** A ScanSource reading the cached index line by line. */
class CachedSource implements ScanSource {
  private readonly memo = new Map<number, CachedRecord>();
  private readonly urls = new Map<string, string>();
  private uids?: Record<string, number[]>;
  private everything?: ScanUpdate[];

  constructor(private readonly base: string, readonly meta: ScanMeta, private readonly keys: Keys, private readonly fd: number) {}

  close(): void {
    closeSync(this.fd);
  }

  private line(i: number): CachedRecord {
    const hit = this.memo.get(i);
    if (hit) return hit;
    const start = this.keys.offsets[i]!, end = this.keys.offsets[i + 1]!;
    const buf = Buffer.alloc(end - start);
    readSync(this.fd, buf, 0, buf.length, start);
    const rec = JSON.parse(buf.toString('utf8')) as CachedRecord;
    if (rec.revisionId !== this.keys.revs[i]) throw new Error('cache index is inconsistent');
    for (const [id, url] of Object.entries(rec.urls)) this.urls.set(id, url);
    this.memo.set(i, rec);
    return rec;
  }

  private indexOf(rev: number): number {
    let lo = 0, hi = this.keys.revs.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const v = this.keys.revs[mid]!;
      if (v === rev) return mid;
      if (v < rev) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  get(rev: number): ScanUpdate | undefined {
    const i = this.indexOf(rev);
    return i < 0 ? undefined : this.line(i);
  }
  bundled(rev: number): number[] {
    const i = this.indexOf(rev);
    return i < 0 ? [] : this.line(i).bundles;
  }
  url(id: string): string | undefined { return this.urls.get(id); }
  categoryName(id: string): string | undefined { return this.meta.names[id]; }
  byKb(kb: string): ScanUpdate[] {
    const { kb: kbs, line } = this.keys.kb;
    let lo = 0, hi = kbs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (kbs[mid]! < kb) lo = mid + 1;
      else hi = mid;
    }
    const out: ScanUpdate[] = [];
    for (let i = lo; i < kbs.length && kbs[i] === kb; i++) out.push(this.line(line[i]!));
    return out;
  }
  byUpdateId(id: string): ScanUpdate[] {
    this.uids ??= JSON.parse(readSyncAll(`${this.base}.uids.json`)) as Record<string, number[]>;
    return (this.uids[id] ?? []).map((i) => this.line(i));
  }
  all(): ScanUpdate[] {
    this.everything ??= Array.from({ length: this.keys.revs.length }, (_r, i) => this.line(i));
    return this.everything;
  }
}

function readSyncAll(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    const b = Buffer.alloc(1 << 20);
    for (let n; (n = readSync(fd, b, 0, b.length, null)) > 0;) chunks.push(Buffer.from(b.subarray(0, n)));
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

async function openCached(dir: string, sha256: string): Promise<CachedSource | null> {
  const base = path.join(dir, sha256);
  try {
    const bin = await readFile(`${base}.keys.bin`);
    const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
    const n = dv.getUint32(0, true);
    const offAt = keysOffsetAt(n);
    if (bin.length !== offAt + 8 * (n + 1)) return null;
    // typed views over a copy (the file buffer may not be aligned); the cache is written little-endian
    const ab = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
    const revs = new Uint32Array(ab, 4, n);
    const offsets = new Float64Array(ab, offAt, n + 1);
    if (dv.getUint32(0, true) !== new Uint32Array(ab, 0, 1)[0]) return null; // a big-endian host: rebuild
    const kb = JSON.parse(await readFile(`${base}.kb.json`, 'utf8')) as { kb: string[]; line: number[] };
    if (!Array.isArray(kb.kb) || !Array.isArray(kb.line) || kb.kb.length !== kb.line.length) return null;
    const fd = openSync(`${base}.ndjson`, 'r');
    const head = Buffer.alloc(Math.min(offsets[0] ?? 0, 16 * 1024 * 1024));
    readSync(fd, head, 0, head.length, 0);
    let meta: ScanMeta;
    try {
      meta = JSON.parse(head.toString('utf8')) as ScanMeta;
    } catch {
      closeSync(fd);
      return null;
    }
    if (meta.indexVersion !== INDEX_VERSION || meta.sha256 !== sha256 || meta.revisions !== n) {
      closeSync(fd);
      return null;
    }
    return new CachedSource(base, meta, { revs, offsets, kb }, fd);
  } catch {
    return null; // absent or damaged: rebuilt (the cache is never trusted over the cabinet)
  }
}

/** The SHA-256 of a file, remembered in the cache by path, size, mtime and inode. */
async function cabinetHash(file: string, dir: string | null): Promise<string> {
  if (!dir) return sha256File(file);
  let memo: string | null = null;
  try {
    const st = await stat(file);
    const key = createHash('sha256').update(`${path.resolve(file)}\0${st.size}\0${st.mtimeMs}\0${st.ino}\0${st.dev}`).digest('hex');
    memo = path.join(dir, 'stat', key);
    const v = (await readFile(memo, 'utf8')).trim();
    if (/^[0-9a-f]{64}$/.test(v)) return v;
  } catch {
    // not remembered yet
  }
  const h = await sha256File(file);
  if (memo) {
    try {
      await mkdir(path.dirname(memo), { recursive: true });
      await writeFileAtomic(memo, h);
    } catch {
      // a read-only cache only costs the next run a hash
    }
  }
  return h;
}

export interface OpenedScan {
  meta: ScanMeta;
  source: ScanSource;
  fromCache: boolean;
  close(): void;
}

/**
 * The index of a scan cabinet for querying: the cached one when the cache holds
 * one for these exact bytes (read lazily), else built (and cached).
 */
export async function openScanIndex(file: string, opts: LoadOptions = {}): Promise<OpenedScan> {
  const dir = opts.cacheDir === undefined ? defaultCacheDir() : opts.cacheDir;
  const sha256 = await cabinetHash(file, dir);
  if (dir) {
    const c = await openCached(dir, sha256);
    if (c) return { meta: c.meta, source: c, fromCache: true, close: () => c.close() };
  }
  const ix = await buildScanIndex(file, sha256);
  if (dir) {
    try {
      await writeCache(dir, ix);
    } catch {
      // a read-only cache directory only costs the next run a rebuild
    }
  }
  const { MemorySource } = await import('./query.js');
  return { meta: metaOf(ix), source: new MemorySource(ix), fromCache: false, close: () => undefined };
}

/** The whole index in memory (from the cache when present). */
export async function loadScanIndex(file: string, opts: LoadOptions = {}): Promise<ScanIndex & { fromCache: boolean }> {
  const o = await openScanIndex(file, opts);
  try {
    const updates = o.source.all().map((u) => {
      const { urls: _u, bundles: _b, ...rest } = u as CachedRecord;
      return rest as ScanUpdate;
    });
    const fileLocations: Record<string, string> = {};
    if (o.fromCache) for (const u of o.source.all()) Object.assign(fileLocations, (u as CachedRecord).urls);
    else Object.assign(fileLocations, (o.source as unknown as { index: ScanIndex }).index.fileLocations);
    const { names: _n, revisions: _r, ...m } = o.meta;
    return { ...m, updates, fileLocations, fromCache: o.fromCache };
  } finally {
    o.close();
  }
}
