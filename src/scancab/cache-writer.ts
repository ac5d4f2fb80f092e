import path from 'node:path';
import { writeFileAtomic } from '../util/fsout.js';
import type { CoreFragment, ExtendedFragment, LocalizedFragment } from './fragments.js';
import { walkScanCabinet, type ScanHead, type ScanProgress, type ScanSink } from './reader.js';
import { type ScanCategory, type ScanUpdate } from './types.js';

/**
 * Builds the cached index of a scan cabinet while the cabinet is read (layout in
 * cache.ts). A wsusscn2.cab has some 300,000 revisions: as objects they cost GBs of
 * heap, so each revision's package.xml fields and fragment fields are kept as compact
 * JSON bytes in an arena, with per-revision typed columns pointing into it, and the
 * index lines are composed from those in one last pass by RevisionId.
 */

/** Append-only bytes in 16 MB chunks; an address is chunk × 2^32 + offset. */
class Arena {
  private static readonly CHUNK = 16 << 20;
  private readonly chunks: Buffer[] = [];
  private used = Arena.CHUNK;

  /** Store `s` (UTF-8); returns [address, byte length]. */
  put(s: string): [number, number] {
    const len = Buffer.byteLength(s);
    if (this.used + len > (this.chunks.at(-1)?.length ?? 0)) {
      this.chunks.push(Buffer.allocUnsafe(Math.max(Arena.CHUNK, len)));
      this.used = 0;
    }
    const c = this.chunks.length - 1;
    this.chunks[c]!.write(s, this.used, 'utf8');
    const at = c * 2 ** 32 + this.used;
    this.used += len;
    return [at, len];
  }

  get(at: number, len: number): string {
    const c = Math.floor(at / 2 ** 32);
    const off = at - c * 2 ** 32;
    return this.chunks[c]!.toString('utf8', off, off + len);
  }
}

/** A growable typed array (a column of per-revision values). */
class Column<T extends Float64Array | Int32Array | Uint32Array | Uint8Array> {
  length = 0;
  constructor(private data: T) {}
  push(v: number): number {
    if (this.length === this.data.length) {
      const next = new (this.data.constructor as new (n: number) => T)(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length] = v;
    return this.length++;
  }
  get(i: number): number {
    return this.data[i]!;
  }
  set(i: number, v: number): void {
    this.data[i] = v;
  }
}

// package.xml fields of an update, positional (the arena form, never written to disk)
type PkgTuple = [
  updateId: string, revisionNumber: number, revisionId: number, isBundle: 0 | 1, isLeaf: 0 | 1, deploymentAction: string,
  categories: [string, string][], prerequisites: string[][], bundledBy: number[], supersededBy: number[], payloadFiles: string[],
];
type ExtTuple = [kb: string | null, msrcSeverity: string | null, files: [string, number, string][]];
type LocTuple = [title: string, description: string];

/** A copy of a string that does not keep the (large) text it was sliced from alive. */
const own = (s: string): string => (s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8'));

/** The ScanSink that keeps compact per-revision data (see the module comment). */
class CompactSink implements ScanSink {
  readonly arena = new Arena();
  private readonly slotOf = new Map<number, number>();
  readonly rev = new Column(new Int32Array(1024));
  readonly pkgAt = new Column(new Float64Array(1024));
  readonly pkgLen = new Column(new Uint32Array(1024));
  readonly extAt = new Column(new Float64Array(1024));
  readonly extLen = new Column(new Uint32Array(1024));
  readonly locAt = new Column(new Float64Array(1024));
  readonly locLen = new Column(new Uint32Array(1024));
  /** 0: no core fragment; k: types[k - 1]. */
  readonly type = new Column(new Uint32Array(1024));
  readonly rules = new Column(new Uint8Array(1024));
  readonly types: string[] = [];
  private readonly typeCode = new Map<string, number>();
  /** BundledBy edges: revision `bundleChild[k]` is bundled by `bundleParent[k]`. */
  readonly bundleChild = new Column(new Int32Array(1024));
  readonly bundleParent = new Column(new Int32Array(1024));
  readonly fileLocations = new Map<string, string>();
  info?: ScanHead;

  head(h: ScanHead): void {
    this.info = h;
  }

  has(rev: number): boolean {
    return this.slotOf.has(rev);
  }
  slot(rev: number): number {
    return this.slotOf.get(rev)!;
  }
  update(u: ScanUpdate): void {
    const t: PkgTuple = [
      u.updateId, u.revisionNumber, u.revisionId, u.isBundle ? 1 : 0, u.isLeaf ? 1 : 0, u.deploymentAction,
      u.categories.map((c) => [c.type, c.id]), u.prerequisites, u.bundledBy, u.supersededBy, u.payloadFiles,
    ];
    const [at, len] = this.arena.put(JSON.stringify(t));
    const s = this.rev.push(u.revisionId);
    this.slotOf.set(u.revisionId, s);
    this.pkgAt.push(at);
    this.pkgLen.push(len);
    this.extAt.push(0);
    this.extLen.push(0);
    this.locAt.push(0);
    this.locLen.push(0);
    this.type.push(0);
    this.rules.push(0);
    for (const b of u.bundledBy) {
      this.bundleChild.push(u.revisionId);
      this.bundleParent.push(b);
    }
  }
  fileLocation(id: string, url: string): void {
    this.fileLocations.set(own(id), own(url));
  }
  core(rev: number, c: CoreFragment): void {
    const s = this.slot(rev);
    let code = this.typeCode.get(c.updateType);
    if (code === undefined) this.typeCode.set(c.updateType, (code = this.types.push(own(c.updateType))));
    this.type.set(s, code);
    this.rules.set(s, c.hasApplicabilityRules ? 1 : 0);
  }
  extended(rev: number, x: ExtendedFragment): void {
    const s = this.slot(rev);
    const t: ExtTuple = [x.kb ?? null, x.msrcSeverity ?? null, x.files.map((f) => [f.name, f.size, f.digest])];
    const [at, len] = this.arena.put(JSON.stringify(t));
    this.extAt.set(s, at);
    this.extLen.set(s, len);
  }
  localized(rev: number, l: LocalizedFragment): void {
    const s = this.slot(rev);
    const t: LocTuple = [l.title, l.description];
    const [at, len] = this.arena.put(JSON.stringify(t));
    this.locAt.set(s, at);
    this.locLen.set(s, len);
  }

  /** The update of slot `s` as the cache holds it (ScanUpdate plus urls and bundles). */
  record(s: number, bundles: number[]): ScanUpdate & { urls: Record<string, string>; bundles: number[] } {
    const p = JSON.parse(this.arena.get(this.pkgAt.get(s), this.pkgLen.get(s))) as PkgTuple;
    const u: ScanUpdate & { urls: Record<string, string>; bundles: number[] } = {
      updateId: p[0], revisionNumber: p[1], revisionId: p[2], isBundle: p[3] === 1, isLeaf: p[4] === 1, deploymentAction: p[5],
      categories: p[6].map(([type, id]): ScanCategory => ({ type, id })), prerequisites: p[7], bundledBy: p[8], supersededBy: p[9],
      payloadFiles: p[10], files: [], hasApplicabilityRules: this.rules.get(s) === 1, urls: {}, bundles,
    };
    const type = this.type.get(s);
    if (type) u.updateType = this.types[type - 1]!;
    if (this.extLen.get(s)) {
      const x = JSON.parse(this.arena.get(this.extAt.get(s), this.extLen.get(s))) as ExtTuple;
      if (x[0]) u.kb = x[0];
      if (x[1]) u.msrcSeverity = x[1];
      u.files = x[2].map(([name, size, digest]) => ({ name, size, digest }));
    }
    if (this.locLen.get(s)) {
      const l = JSON.parse(this.arena.get(this.locAt.get(s), this.locLen.get(s))) as LocTuple;
      u.title = l[0];
      if (l[1]) u.description = l[1];
    }
    for (const id of u.payloadFiles) {
      const url = this.fileLocations.get(id);
      if (url !== undefined) u.urls[id] = url;
    }
    return u;
  }
}

/** A string → line numbers table of keys.bin: entries sorted by key (JavaScript string order), then line. */
export interface KeyTable {
  keys: string[];
  lines: number[];
}

/** What the cache reader needs to lay out keys.bin (cache.ts writes it). */
export interface BuiltIndex {
  sha256: string;
  /** Number of update lines. */
  n: number;
  revs: Uint32Array;
  /** Byte offset of each line in the ndjson file, and its end (n + 1 values). */
  offsets: Float64Array;
  kb: KeyTable;
  uid: KeyTable;
}

/**
 * Walk the cabinet and write `<sha>.ndjson` in `dir` (atomically); returns the keys
 * for keys.bin. `meta` turns the head and category names into the header line.
 */
export async function writeScanLines(
  file: string,
  dir: string,
  sha256: string,
  meta: (head: ScanHead, revisions: number, names: Record<string, string>) => object,
  onProgress?: ScanProgress,
): Promise<BuiltIndex> {
  const sink = new CompactSink();
  await walkScanCabinet(file, sink, onProgress);
  const n = sink.rev.length;
  // slots by RevisionId
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort((a, b) => sink.rev.get(a) - sink.rev.get(b));
  // revisions each bundle holds, from the BundledBy edges, grouped by bundle
  const edges = new Uint32Array(sink.bundleChild.length);
  for (let k = 0; k < edges.length; k++) edges[k] = k;
  edges.sort((a, b) => sink.bundleParent.get(a) - sink.bundleParent.get(b) || sink.bundleChild.get(a) - sink.bundleChild.get(b));
  let e = 0;
  // category names for the header (category revisions are few)
  const names: Record<string, string> = {};
  const category = sink.types.indexOf('Category') + 1;
  if (category) {
    for (let i = 0; i < n; i++) {
      const s = order[i]!;
      if (sink.type.get(s) !== category || !sink.locLen.get(s)) continue;
      const u = sink.record(s, []);
      if (u.title) names[u.updateId] = u.title;
    }
  }
  const header = JSON.stringify(meta(sink.info!, n, names)) + '\n';
  const revs = new Uint32Array(n);
  const offsets = new Float64Array(n + 1);
  const kb: [string, number][] = [];
  const uid: [string, number][] = [];
  let pos = Buffer.byteLength(header);
  function* lines(): Generator<string> {
    yield header;
    let batch = '';
    for (let i = 0; i < n; i++) {
      const s = order[i]!;
      const rev = sink.rev.get(s);
      while (e < edges.length && sink.bundleParent.get(edges[e]!) < rev) e++;
      const bundles: number[] = [];
      for (; e < edges.length && sink.bundleParent.get(edges[e]!) === rev; e++) bundles.push(sink.bundleChild.get(edges[e]!));
      const u = sink.record(s, bundles);
      const line = JSON.stringify(u) + '\n';
      revs[i] = rev;
      offsets[i] = pos;
      pos += Buffer.byteLength(line);
      if (u.kb) kb.push([u.kb, i]);
      uid.push([u.updateId, i]);
      batch += line;
      if (batch.length > 1 << 20) {
        yield batch;
        batch = '';
      }
    }
    if (batch) yield batch;
    offsets[n] = pos;
  }
  await writeFileAtomic(path.join(dir, `${sha256}.ndjson`), lines());
  return { sha256, n, revs, offsets, kb: table(kb), uid: table(uid) };
}

function table(pairs: [string, number][]): KeyTable {
  pairs.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] - y[1]));
  return { keys: pairs.map((p) => p[0]), lines: pairs.map((p) => p[1]) };
}
