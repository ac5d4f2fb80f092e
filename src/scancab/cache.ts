import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { access, mkdir, readFile, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../util/fsout.js';
import type { ScanSource } from './query.js';
import type { BuiltIndex, KeyTable } from './cache-writer.js';
import { ScanCabError } from './errors.js';
import { INDEX_VERSION, type ScanIndex, type ScanUpdate } from './types.js';

/**
 * Where built indexes are kept: --cache-dir, else $MSU_CACHE_DIR/scancab, else
 * $XDG_CACHE_HOME/msu-toolkit/scancab, else ~/.cache/msu-toolkit/scancab.
 *
 * Layout, per cabinet SHA-256 (INDEX_VERSION 2):
 * - `<sha>.ndjson`: a header line (ScanMeta), then one update a line, by RevisionId,
 *   each with its payload URLs (`urls`) and the revisions it bundles (`bundles`);
 * - `<sha>.keys.bin`, written last, so its presence means the index is complete;
 *   little-endian: "MSUSCKEY", u32 INDEX_VERSION, u32 n (lines), u32 KB entries,
 *   u32 UpdateId entries, zeros to byte 64; u32 RevisionId × n (sorted); zeros to a
 *   multiple of 8; f64 line offset × (n + 1) (the last is the end of the file); the KB
 *   table, then the UpdateId table, each entry three u32 (key offset in the pool, key
 *   length in bytes, line), sorted by key (JavaScript string order), then line; the
 *   pool of keys (UTF-8).
 * A KB query binary-searches keys.bin on disk (readSync of the entries it probes) and
 * reads a few lines, not the whole index.
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

export interface LoadOptions {
  /** Directory for cached indexes; null disables the cache. */
  cacheDir?: string | null;
  /** Called while an index is built (not when it comes from the cache): inner cabinets read of all. */
  onProgress?: (done: number, total: number, name: string) => void;
}

function metaOf(ix: ScanIndex): ScanMeta {
  const names: Record<string, string> = {};
  for (const u of ix.updates) if (u.updateType === 'Category' && u.title) names[u.updateId] = u.title;
  return {
    indexVersion: ix.indexVersion, sha256: ix.sha256, packageId: ix.packageId, protocolVersion: ix.protocolVersion,
    creationDate: ix.creationDate, form: ix.form, cabinets: ix.cabinets, revisions: ix.updates.length, names,
  };
}

/** keys.bin: magic, then the header fields below (little-endian), then the sections. */
const KEYS_MAGIC = 'MSUSCKEY';
const KEYS_HEADER = 64;
/** A KB or UpdateId table entry: key offset in the pool, key length, line (u32 each). */
const ENTRY = 12;

interface KeysLayout {
  n: number;
  nKb: number;
  nUid: number;
  revsAt: number;
  offsetsAt: number;
  kbAt: number;
  uidAt: number;
  poolAt: number;
}

function layout(n: number, nKb: number, nUid: number): KeysLayout {
  const revsAt = KEYS_HEADER;
  const offsetsAt = (revsAt + 4 * n + 7) & ~7;
  const kbAt = offsetsAt + 8 * (n + 1);
  const uidAt = kbAt + ENTRY * nKb;
  const poolAt = uidAt + ENTRY * nUid;
  return { n, nKb, nUid, revsAt, offsetsAt, kbAt, uidAt, poolAt };
}

/** keys.bin of a built index (layout in the module comment). */
function encodeKeys(b: BuiltIndex): Uint8Array {
  const L = layout(b.n, b.kb.keys.length, b.uid.keys.length);
  const pool: Buffer[] = [];
  let poolLen = 0;
  const entries = (t: KeyTable): Buffer => {
    const out = Buffer.alloc(ENTRY * t.keys.length);
    let prev: string | undefined, prevAt = 0, prevLen = 0;
    t.keys.forEach((k, i) => {
      if (k !== prev) {
        const bytes = Buffer.from(k, 'utf8');
        pool.push(bytes);
        prev = k;
        prevAt = poolLen;
        prevLen = bytes.length;
        poolLen += bytes.length;
      }
      out.writeUInt32LE(prevAt, ENTRY * i);
      out.writeUInt32LE(prevLen, ENTRY * i + 4);
      out.writeUInt32LE(t.lines[i]!, ENTRY * i + 8);
    });
    return out;
  };
  const kb = entries(b.kb);
  const uid = entries(b.uid);
  const out = Buffer.alloc(L.poolAt + poolLen);
  out.write(KEYS_MAGIC, 0, 'latin1');
  out.writeUInt32LE(INDEX_VERSION, 8);
  out.writeUInt32LE(L.n, 12);
  out.writeUInt32LE(L.nKb, 16);
  out.writeUInt32LE(L.nUid, 20);
  for (let i = 0; i < b.n; i++) out.writeUInt32LE(b.revs[i]!, L.revsAt + 4 * i);
  for (let i = 0; i <= b.n; i++) out.writeDoubleLE(b.offsets[i]!, L.offsetsAt + 8 * i);
  kb.copy(out, L.kbAt);
  uid.copy(out, L.uidAt);
  let at = L.poolAt;
  for (const p of pool) at += p.copy(out, at);
  return out;
}

/** keys.bin opened for reading the parts a query needs (readSync, no whole-file read). */
class KeysFile {
  private readonly scratch = Buffer.alloc(16);

  constructor(private readonly fd: number, readonly L: KeysLayout) {}

  static open(file: string): KeysFile | null {
    const fd = openSync(file, 'r');
    try {
      const h = Buffer.alloc(KEYS_HEADER);
      if (readSync(fd, h, 0, KEYS_HEADER, 0) !== KEYS_HEADER || h.toString('latin1', 0, 8) !== KEYS_MAGIC || h.readUInt32LE(8) !== INDEX_VERSION) {
        closeSync(fd);
        return null;
      }
      const L = layout(h.readUInt32LE(12), h.readUInt32LE(16), h.readUInt32LE(20));
      if (fstatSync(fd).size < L.poolAt) {
        closeSync(fd);
        return null;
      }
      return new KeysFile(fd, L);
    } catch {
      closeSync(fd);
      return null;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  private read(at: number, len: number): Buffer {
    const b = len <= 16 ? this.scratch : Buffer.alloc(len);
    if (readSync(this.fd, b, 0, len, at) !== len) throw new ScanCabError('the cached index is truncated');
    return b;
  }

  /** After this many lookups the RevisionIds and offsets are read whole (a walk over many revisions). */
  private static readonly PROBES = 256;
  private probes = 0;
  private whole?: { revs: Uint32Array; offsets: Float64Array };

  private loaded(): { revs: Uint32Array; offsets: Float64Array } | undefined {
    if (!this.whole && ++this.probes > KeysFile.PROBES) this.whole = this.all();
    return this.whole;
  }

  rev(i: number): number {
    const w = this.loaded();
    return w ? w.revs[i]! : this.read(this.L.revsAt + 4 * i, 4).readUInt32LE(0);
  }

  /** Where the last line ends: the size of the ndjson file. */
  end(): number {
    return this.read(this.L.offsetsAt + 8 * this.L.n, 8).readDoubleLE(0);
  }

  /** Start and end of line i. */
  line(i: number): [number, number] {
    const w = this.loaded();
    if (w) return [w.offsets[i]!, w.offsets[i + 1]!];
    const b = this.read(this.L.offsetsAt + 8 * i, 16);
    return [b.readDoubleLE(0), b.readDoubleLE(8)];
  }

  /** Every RevisionId and line offset (for reading the whole index). */
  all(): { revs: Uint32Array; offsets: Float64Array } {
    if (this.whole) return this.whole;
    const { n, revsAt, offsetsAt } = this.L;
    const b = Buffer.alloc(offsetsAt + 8 * (n + 1) - revsAt);
    if (readSync(this.fd, b, 0, b.length, revsAt) !== b.length) throw new ScanCabError('the cached index is truncated');
    const revs = new Uint32Array(n), offsets = new Float64Array(n + 1);
    for (let i = 0; i < n; i++) revs[i] = b.readUInt32LE(4 * i);
    for (let i = 0; i <= n; i++) offsets[i] = b.readDoubleLE(offsetsAt - revsAt + 8 * i);
    return (this.whole = { revs, offsets });
  }

  /** Index of `rev` among the sorted RevisionIds, or -1 (binary search on disk). */
  indexOf(rev: number): number {
    const w = this.loaded();
    let lo = 0, hi = this.L.n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = w ? w.revs[mid]! : this.read(this.L.revsAt + 4 * mid, 4).readUInt32LE(0);
      if (v === rev) return mid;
      if (v < rev) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Lines whose key (KB or UpdateId) is `key`: binary search over the sorted table on disk. */
  lines(which: 'kb' | 'uid', key: string): number[] {
    const at = which === 'kb' ? this.L.kbAt : this.L.uidAt;
    const count = which === 'kb' ? this.L.nKb : this.L.nUid;
    const keyAt = (i: number): [string, number] => {
      const e = this.read(at + ENTRY * i, ENTRY);
      const off = e.readUInt32LE(0), len = e.readUInt32LE(4), line = e.readUInt32LE(8);
      if (len > 16 << 20) throw new ScanCabError('the cached index is damaged (a key longer than a fragment can be)');
      return [this.read(this.L.poolAt + off, len).toString('utf8', 0, len), line];
    };
    let lo = 0, hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (keyAt(mid)[0] < key) lo = mid + 1;
      else hi = mid;
    }
    const out: number[] = [];
    for (let i = lo; i < count; i++) {
      const [k, line] = keyAt(i);
      if (k !== key) break;
      out.push(line);
    }
    return out;
  }
}

/** A ScanSource reading the cached index line by line. */
class CachedSource implements ScanSource {
  private readonly memo = new Map<number, CachedRecord>();
  private readonly urls = new Map<string, string>();
  private everything?: CachedRecord[];

  constructor(readonly meta: ScanMeta, private readonly keys: KeysFile, private readonly fd: number) {}

  close(): void {
    this.keys.close();
    closeSync(this.fd);
  }

  private parse(text: string, i: number, rev: number): CachedRecord {
    let rec: CachedRecord;
    try {
      rec = JSON.parse(text) as CachedRecord;
    } catch {
      throw new ScanCabError(`the cached index is damaged at line ${i + 2}; remove it to rebuild`);
    }
    if (rec?.revisionId !== rev) throw new ScanCabError(`the cached index is inconsistent at line ${i + 2}`);
    for (const [id, url] of Object.entries(rec.urls)) this.urls.set(id, url);
    return rec;
  }

  private line(i: number): CachedRecord {
    const hit = this.everything?.[i] ?? this.memo.get(i);
    if (hit) return hit;
    const [start, end] = this.keys.line(i);
    const buf = Buffer.alloc(end - start);
    readSync(this.fd, buf, 0, buf.length, start);
    const rec = this.parse(buf.toString('utf8'), i, this.keys.rev(i));
    this.memo.set(i, rec);
    return rec;
  }

  get(rev: number): ScanUpdate | undefined {
    const i = this.keys.indexOf(rev);
    return i < 0 ? undefined : this.line(i);
  }
  bundled(rev: number): number[] {
    const i = this.keys.indexOf(rev);
    return i < 0 ? [] : this.line(i).bundles;
  }
  url(id: string): string | undefined { return this.urls.get(id); }
  categoryName(id: string): string | undefined { return this.meta.names[id]; }
  byKb(kb: string): ScanUpdate[] {
    return this.keys.lines('kb', kb).map((i) => this.line(i));
  }
  byUpdateId(id: string): ScanUpdate[] {
    return this.keys.lines('uid', id).map((i) => this.line(i));
  }
  all(): ScanUpdate[] {
    if (this.everything) return this.everything;
    // one sequential read of the lines, in 8 MB pieces
    const { revs, offsets } = this.keys.all();
    const n = revs.length;
    const out: CachedRecord[] = new Array(n);
    let buf = Buffer.alloc(8 << 20);
    for (let i = 0; i < n;) {
      const from = offsets[i]!;
      let j = i;
      while (j < n && offsets[j + 1]! - from <= buf.length) j++;
      if (j === i) buf = Buffer.alloc(offsets[i + 1]! - from); // one line longer than the buffer
      else {
        const len = offsets[j]! - from;
        if (readSync(this.fd, buf, 0, len, from) !== len) throw new ScanCabError('the cached index is truncated');
        for (let k = i; k < j; k++) out[k] = this.memo.get(k) ?? this.parse(buf.toString('utf8', offsets[k]! - from, offsets[k + 1]! - from), k, revs[k]!);
        i = j;
      }
    }
    this.everything = out;
    return out;
  }
}

async function openCached(dir: string, sha256: string): Promise<CachedSource | null> {
  const base = path.join(dir, sha256);
  let keys: KeysFile | null = null;
  let fd: number | undefined;
  try {
    keys = KeysFile.open(`${base}.keys.bin`);
    if (!keys) return null;
    fd = openSync(`${base}.ndjson`, 'r');
    const [headEnd] = keys.line(0);
    // the lines end where keys.bin says (a truncated or replaced ndjson is rebuilt)
    if (fstatSync(fd).size !== keys.end()) throw new Error('another size');
    const head = Buffer.alloc(Math.min(headEnd, 16 * 1024 * 1024));
    readSync(fd, head, 0, head.length, 0);
    const meta = JSON.parse(head.toString('utf8')) as ScanMeta;
    if (meta.indexVersion !== INDEX_VERSION || meta.sha256 !== sha256 || meta.revisions !== keys.L.n) throw new Error('another index');
    return new CachedSource(meta, keys, fd);
  } catch {
    keys?.close();
    if (fd !== undefined) closeSync(fd);
    return null; // absent or damaged: rebuilt (the cache is never trusted over the cabinet)
  }
}

/** Build the index of `file` into the cache directory: the lines while the cabinet is read, then keys.bin. */
async function buildCached(file: string, dir: string, sha256: string, onProgress: LoadOptions['onProgress']): Promise<void> {
  const { writeScanLines } = await import('./cache-writer.js');
  const built = await writeScanLines(file, dir, sha256, (h, revisions, names): ScanMeta => ({
    indexVersion: INDEX_VERSION, sha256, packageId: h.packageId, protocolVersion: h.protocolVersion,
    creationDate: h.creationDate, form: h.form, cabinets: h.cabinets, revisions, names,
  }), onProgress);
  // written last: its presence means the index is complete
  await writeFileAtomic(path.join(dir, `${sha256}.keys.bin`), encodeKeys(built));
}

async function writableDir(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { recursive: true });
    await access(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** The SHA-256 of a file, remembered in the cache by path, size, mtime and inode. */
async function cabinetHash(file: string, dir: string | null): Promise<string> {
  // the cabinet reader is loaded only when a cabinet is hashed or read, not for a query on the cache
  const sha256File = async (f: string) => (await import('./reader.js')).sha256File(f);
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
    // built straight into the cache, with compact per-revision data (cache-writer.ts)
    if (await writableDir(dir)) {
      await buildCached(file, dir, sha256, opts.onProgress);
      const b = await openCached(dir, sha256);
      if (b) return { meta: b.meta, source: b, fromCache: false, close: () => b.close() };
    }
  }
  // no cache (or a read-only one): the whole index in memory
  const { buildScanIndex } = await import('./reader.js');
  const ix = await buildScanIndex(file, sha256, opts.onProgress);
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
    if (o.source instanceof CachedSource) for (const u of o.source.all()) Object.assign(fileLocations, (u as CachedRecord).urls);
    else Object.assign(fileLocations, (o.source as unknown as { index: ScanIndex }).index.fileLocations);
    const { names: _n, revisions: _r, ...m } = o.meta;
    return { ...m, updates, fileLocations, fromCache: o.fromCache };
  } finally {
    o.close();
  }
}
