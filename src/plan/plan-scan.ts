/**
 * Plan inputs against an offline-scan cabinet (docs/plan.md, "Scan cabinet and rules"):
 * which update of the cabinet an input is, and whether a rules file keeps it.
 * Pure: the cabinet comes in as a ScanQuery, the input as its digests and KB numbers.
 */
import type { ScanQuery } from '../scancab/query.js';
import { decide, type ScanRules } from '../scancab/rules.js';
import type { ScanUpdate } from '../scancab/types.js';
import type { PlanInputScan } from './plan-types.js';

export interface ScanInputFacts {
  /** SHA-1 of the input file (hex). */
  sha1: string;
  /** KB numbers of the input's packages, digits only. */
  kbs: string[];
  /** File names that may appear as payload names: the input's own and its members'. */
  names: string[];
}

const deployable = (u: ScanUpdate): boolean => u.updateType !== 'Category' && u.updateType !== 'Detectoid';

/** The updates that deploy `u`: itself when no bundle holds it, else the outermost bundles (cycle-safe). */
function roots(q: ScanQuery, u: ScanUpdate): ScanUpdate[] {
  const out = new Map<number, ScanUpdate>();
  const seen = new Set<number>();
  const stack = [u];
  while (stack.length) {
    const x = stack.pop()!;
    if (seen.has(x.revisionId)) continue;
    seen.add(x.revisionId);
    const up = x.bundledBy.map((r) => q.get(r)).filter((y): y is ScanUpdate => y !== undefined);
    if (up.length === 0) out.set(x.revisionId, x);
    else stack.push(...up);
  }
  return [...out.values()].filter(deployable);
}

const stem = (name: string): string => name.toLowerCase().replace(/_[0-9a-f]{40}(?=\.[a-z]+$)/, '');

/** Payload file Id (base64 SHA-1) → the revisions that list it: one pass over the cabinet, reused for every input. */
export function payloadOwners(q: ScanQuery): Map<string, ScanUpdate[]> {
  const m = new Map<string, ScanUpdate[]>();
  for (const u of q.source.all()) {
    for (const id of u.payloadFiles) {
      const l = m.get(id);
      if (l) l.push(u);
      else m.set(id, [u]);
    }
  }
  return m;
}

/**
 * The cabinet's update for an input, or undefined. An exact payload match (a payload file whose
 * SHA-1 is the input's) wins over a KB match. Among several updates with the KB, those whose
 * payload names the input or one of its members are preferred, then those not superseded, then
 * the highest RevisionId, so the choice is stable.
 */
export function matchInput(q: ScanQuery, f: ScanInputFacts, owners: Map<string, ScanUpdate[]> = payloadOwners(q)): PlanInputScan | undefined {
  const id = Buffer.from(f.sha1, 'hex').toString('base64');
  const bySha = new Map<number, ScanUpdate>();
  for (const u of owners.get(id) ?? []) for (const r of roots(q, u)) bySha.set(r.revisionId, r);
  let pool = [...bySha.values()];
  let matchedBy: PlanInputScan['matchedBy'] = 'sha1';
  if (pool.length === 0) {
    matchedBy = 'kb';
    const byKb = new Map<number, ScanUpdate>();
    for (const kb of [...new Set(f.kbs)]) for (const u of q.source.byKb(kb)) for (const r of roots(q, u)) if (r.kb === kb) byKb.set(r.revisionId, r);
    pool = [...byKb.values()];
  }
  if (pool.length === 0) return undefined;
  const names = new Set(f.names.map(stem));
  const named = (u: ScanUpdate): number => (q.payload(u).some((p) => names.has(stem(p.name))) ? 0 : 1);
  pool.sort((a, b) => named(a) - named(b) || Number(q.isSuperseded(a)) - Number(q.isSuperseded(b)) || b.revisionId - a.revisionId);
  const u = pool[0]!;
  const m: PlanInputScan = { updateId: u.updateId, revisionId: u.revisionId, matchedBy };
  if (u.kb) m.kb = u.kb;
  return m;
}

/** Why the rules drop an input (reason and detail of a plan skip), or undefined when it stays. */
export function judgeInput(q: ScanQuery, rules: ScanRules, match: PlanInputScan | undefined, kbs: string[]): { reason: string; detail: string } | undefined {
  if (match) {
    const u = q.get(match.revisionId);
    if (!u) return undefined;
    const d = decide(q, rules, u);
    if (d.selected) return undefined;
    const name = `${u.kb ? `KB${u.kb} ` : ''}${u.updateId}`;
    if (d.reason.startsWith('superseded')) return { reason: 'superseded', detail: `scan cabinet: ${name} is ${d.reason}` };
    return { reason: 'forbidden', detail: `rules: ${name}: ${d.reason}` };
  }
  // Not in the cabinet: only the allow/forbid lists (by the packages' KB) and defaultAllow can speak for it.
  const keys = [...new Set(kbs)].map((k) => `KB${k}`);
  const f = keys.find((k) => rules.forbid.includes(k));
  if (f) return { reason: 'forbidden', detail: `rules: forbid ${f} (the input is not in the scan cabinet)` };
  if (keys.some((k) => rules.allow.includes(k)) || rules.defaultAllow) return undefined;
  return { reason: 'forbidden', detail: 'rules: not in the scan cabinet and not allowed (defaultAllow is false)' };
}
