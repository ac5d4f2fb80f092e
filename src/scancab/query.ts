import type { ScanIndex, ScanUpdate } from './types.js';

/** A payload file as a download: name, size, SHA-1 (hex), URL. */
export interface PayloadFile {
  name: string;
  size: number | null;
  sha1: string;
  /** The FileLocation Id: base64 of the SHA-1. */
  id: string;
  url: string | null;
}

/** What `msu scancab` reports for one update. */
export interface UpdateView {
  updateId: string;
  revisionNumber: number;
  revisionId: number;
  kb: string | null;
  title: string | null;
  updateType: string | null;
  msrcSeverity: string | null;
  isBundle: boolean;
  products: string[];
  classifications: string[];
  /**
   * Revisions that supersede this one, transitively, nearest first (cycle-safe); at most the
   * view's chain limit of them (see ScanQuery.view).
   */
  supersededBy: { revisionId: number; updateId: string; kb: string | null }[];
  /** The chain goes on past the limit: supersededBy holds only its nearest revisions. */
  supersededByTruncated: boolean;
  /** Revisions of this package bundled in this one. */
  bundles: number[];
  payload: PayloadFile[];
}

export function base64ToHex(id: string): string {
  return Buffer.from(id, 'base64').toString('hex');
}

/**
 * Where a query reads updates from: the whole index in memory, or the cached
 * index on disk read record by record (a KB query then touches a few records).
 */
export interface ScanSource {
  get(rev: number): ScanUpdate | undefined;
  /** Revisions whose BundledBy names `rev`. */
  bundled(rev: number): number[];
  url(fileId: string): string | undefined;
  categoryName(id: string): string | undefined;
  byKb(kb: string): ScanUpdate[];
  byUpdateId(id: string): ScanUpdate[];
  /** Every update, by RevisionId. */
  all(): ScanUpdate[];
}

/** A ScanSource over a whole index in memory. */
export class MemorySource implements ScanSource {
  private readonly byRev = new Map<number, ScanUpdate>();
  private readonly byUid = new Map<string, ScanUpdate[]>();
  private readonly kbs = new Map<string, ScanUpdate[]>();
  private readonly bundledMap = new Map<number, number[]>();
  private readonly names = new Map<string, string>();

  constructor(readonly index: ScanIndex) {
    for (const u of index.updates) {
      this.byRev.set(u.revisionId, u);
      const l = this.byUid.get(u.updateId) ?? [];
      l.push(u);
      this.byUid.set(u.updateId, l);
      if (u.kb) {
        const k = this.kbs.get(u.kb) ?? [];
        k.push(u);
        this.kbs.set(u.kb, k);
      }
      for (const b of u.bundledBy) {
        const k = this.bundledMap.get(b) ?? [];
        k.push(u.revisionId);
        this.bundledMap.set(b, k);
      }
      if (u.updateType === 'Category' && u.title) this.names.set(u.updateId, u.title);
    }
  }

  get(rev: number): ScanUpdate | undefined { return this.byRev.get(rev); }
  bundled(rev: number): number[] { return this.bundledMap.get(rev) ?? []; }
  url(id: string): string | undefined { return this.index.fileLocations[id]; }
  categoryName(id: string): string | undefined { return this.names.get(id); }
  byKb(kb: string): ScanUpdate[] { return this.kbs.get(kb) ?? []; }
  byUpdateId(id: string): ScanUpdate[] { return this.byUid.get(id) ?? []; }
  all(): ScanUpdate[] { return this.index.updates; }
}

/** Lookups over an index (in memory or cached on disk). */
export class ScanQuery {
  readonly source: ScanSource;

  constructor(from: ScanIndex | ScanSource) {
    this.source = 'updates' in from ? new MemorySource(from) : from;
  }

  get(rev: number): ScanUpdate | undefined {
    return this.source.get(rev);
  }

  /** Category title (e.g. "Security Updates", "Windows 7") or its UpdateId when the package lacks it. */
  categoryName(id: string): string {
    return this.source.categoryName(id) ?? id;
  }

  categoryNames(u: ScanUpdate, type: 'Product' | 'UpdateClassification'): string[] {
    return u.categories.filter((c) => c.type === type).map((c) => this.categoryName(c.id));
  }

  byUpdate(id: string): ScanUpdate[] {
    return this.source.byUpdateId(id.toLowerCase());
  }

  /**
   * Superseding revisions, transitively, breadth first; a cycle ends the walk instead of looping.
   * With a limit the walk stops after limit + 1 revisions, so a caller can tell a cut chain.
   */
  supersedingChain(u: ScanUpdate, limit = Infinity): ScanUpdate[] {
    const seen = new Set<number>([u.revisionId]);
    const out: ScanUpdate[] = [];
    let frontier = [...u.supersededBy];
    while (frontier.length) {
      const next: number[] = [];
      for (const r of frontier) {
        if (seen.has(r)) continue;
        seen.add(r);
        const s = this.source.get(r);
        if (!s) continue;
        out.push(s);
        if (out.length > limit) return out;
        next.push(...s.supersededBy);
      }
      frontier = next;
    }
    return out;
  }

  /** The first revision of supersedingChain(u), found without walking the chain. */
  nearestSuperseding(u: ScanUpdate): ScanUpdate | undefined {
    for (const r of u.supersededBy) {
      if (r === u.revisionId) continue;
      const s = this.source.get(r);
      if (s) return s;
    }
    return undefined;
  }

  /** Whether a revision in this package supersedes it. */
  isSuperseded(u: ScanUpdate): boolean {
    return u.supersededBy.some((r) => r !== u.revisionId && this.source.get(r) !== undefined);
  }

  /** Revisions bundled in this one, transitively (bundles of bundles), cycle-safe. */
  bundledRevisions(u: ScanUpdate): number[] {
    const seen = new Set<number>([u.revisionId]);
    const out: number[] = [];
    const stack = [...this.source.bundled(u.revisionId)];
    while (stack.length) {
      const r = stack.pop()!;
      if (seen.has(r)) continue;
      seen.add(r);
      out.push(r);
      stack.push(...this.source.bundled(r));
    }
    return out.sort((a, b) => a - b);
  }

  /** The update's payload files and those of the revisions it bundles. */
  payload(u: ScanUpdate): PayloadFile[] {
    const out = new Map<string, PayloadFile>();
    for (const x of [u, ...this.bundledRevisions(u).map((r) => this.source.get(r)).filter((x): x is ScanUpdate => !!x)]) {
      for (const id of x.payloadFiles) {
        if (out.has(id)) continue;
        const f = x.files.find((g) => g.digest === id);
        const url = this.source.url(id) ?? null;
        out.set(id, {
          id,
          sha1: base64ToHex(id),
          name: f?.name || (url ? decodeURIComponent(url.split('/').pop() ?? '') : '') || base64ToHex(id),
          size: f ? f.size : null,
          url,
        });
      }
    }
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.sha1 < b.sha1 ? -1 : 1));
  }

  /**
   * What `msu scancab` reports for one update. chainLimit bounds supersededBy: a listing of many
   * updates whose chains run thousands long would otherwise grow with the square of the package.
   */
  view(u: ScanUpdate, chainLimit = Infinity): UpdateView {
    const chain = this.supersedingChain(u, chainLimit);
    const truncated = chain.length > chainLimit;
    if (truncated) chain.length = chainLimit;
    return {
      updateId: u.updateId,
      revisionNumber: u.revisionNumber,
      revisionId: u.revisionId,
      kb: u.kb ?? null,
      title: u.title ?? null,
      updateType: u.updateType ?? null,
      msrcSeverity: u.msrcSeverity ?? null,
      isBundle: u.isBundle,
      products: this.categoryNames(u, 'Product'),
      classifications: this.categoryNames(u, 'UpdateClassification'),
      supersededBy: chain.map((s) => ({ revisionId: s.revisionId, updateId: s.updateId, kb: s.kb ?? null })),
      supersededByTruncated: truncated,
      bundles: this.bundledRevisions(u),
      payload: this.payload(u),
    };
  }
}

export interface UpdateFilter {
  kb?: string;
  update?: string;
  /** Case-insensitive substring of a product name. */
  product?: string;
  /** Case-insensitive substring of a classification name. */
  classification?: string;
  /** Include superseded updates (hidden by default). */
  superseded?: boolean;
}

/**
 * Updates a person would pick: software and driver revisions that are not part of a
 * bundle (the bundle is what is deployed), or that match --kb/--update exactly.
 */
export function selectUpdates(q: ScanQuery, f: UpdateFilter): ScanUpdate[] {
  const kb = f.kb?.replace(/^KB/i, '');
  const uid = f.update?.toLowerCase();
  const has = (names: string[], needle: string) => names.some((n) => n.toLowerCase().includes(needle.toLowerCase()));
  const pool = uid !== undefined ? q.source.byUpdateId(uid) : kb !== undefined ? q.source.byKb(kb) : q.source.all();
  return pool.filter((u) => {
    if (uid !== undefined) return u.updateId === uid;
    if (u.updateType === 'Category' || u.updateType === 'Detectoid') return false;
    if (u.bundledBy.length && kb === undefined) return false;
    if (kb !== undefined && u.kb !== kb) return false;
    if (f.product && !has(q.categoryNames(u, 'Product'), f.product)) return false;
    if (f.classification && !has(q.categoryNames(u, 'UpdateClassification'), f.classification)) return false;
    if (!f.superseded && q.isSuperseded(u)) return false;
    return true;
  });
}
