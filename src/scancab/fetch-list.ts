import type { ScanQuery } from './query.js';
import type { RuleDecision } from './rules.js';

/** A payload to download, with the update it belongs to. */
export interface ScanDownload {
  name: string;
  sha1: string;
  url: string;
  size: number | null;
  updateId: string;
  kb: string | null;
}

/**
 * The payload files of the updates the rules selected, one entry per file (a
 * file shared by two updates is listed once, for the first), sorted by name.
 * Files without a FileLocation URL cannot be fetched and are returned apart.
 */
export function downloadsFor(q: ScanQuery, decisions: RuleDecision[]): { files: ScanDownload[]; noUrl: ScanDownload[] } {
  const files = new Map<string, ScanDownload>();
  const noUrl: ScanDownload[] = [];
  for (const d of decisions) {
    if (!d.selected) continue;
    const u = q.get(d.revisionId)!;
    for (const p of q.payload(u)) {
      const e = { name: p.name, sha1: p.sha1, url: p.url ?? '', size: p.size, updateId: u.updateId, kb: u.kb ?? null };
      if (!p.url) noUrl.push(e);
      else if (!files.has(p.sha1)) files.set(p.sha1, e);
    }
  }
  const byName = (a: ScanDownload, b: ScanDownload) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.sha1 < b.sha1 ? -1 : 1);
  return { files: [...files.values()].sort(byName), noUrl: noUrl.sort(byName) };
}
