import { ScanRulesError } from './errors.js';
import type { ScanQuery } from './query.js';
import type { ScanUpdate } from './types.js';

/**
 * Rules file (JSON, docs/scancab.md). Order of decision, first match wins:
 * forbid, allow, superseded (unless includeSuperseded), product / classification /
 * severity filters, then defaultAllow.
 */
export interface ScanRules {
  defaultAllow: boolean;
  /** KB numbers ("KB5034441" or "5034441") or UpdateIds. */
  allow: string[];
  forbid: string[];
  /** MSRC severities accepted for updates not named in `allow`; empty means any. An update without one is "Unspecified". */
  allowedSeverities: string[];
  includeSuperseded: boolean;
  /** Case-insensitive substrings of product names; empty means any. */
  products: string[];
  classifications: string[];
}

const KEYS = new Set(['defaultAllow', 'allow', 'forbid', 'allowedSeverities', 'includeSuperseded', 'products', 'classifications']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** MsrcSeverity values, and Unspecified for an update without one. */
const SEVERITIES = ['Critical', 'Important', 'Moderate', 'Low', 'Unspecified'];

/** Validate a parsed rules document (untrusted input). */
export function parseScanRules(v: unknown, file?: string): ScanRules {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new ScanRulesError('rules must be a JSON object', file);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) throw new ScanRulesError(`unknown rules key ${JSON.stringify(k)} (known: ${[...KEYS].join(', ')})`, file);
  const bool = (k: string, d: boolean): boolean => {
    if (o[k] === undefined) return d;
    if (typeof o[k] !== 'boolean') throw new ScanRulesError(`${k} must be true or false`, file);
    return o[k] as boolean;
  };
  const list = (k: string): string[] => {
    if (o[k] === undefined) return [];
    if (!Array.isArray(o[k]) || !(o[k] as unknown[]).every((x) => typeof x === 'string' && x.length > 0 && x.length < 200)) {
      throw new ScanRulesError(`${k} must be a list of non-empty strings`, file);
    }
    return o[k] as string[];
  };
  const ids = (k: string): string[] =>
    list(k).map((s) => {
      const t = s.trim();
      if (GUID.test(t)) return t.toLowerCase();
      const m = /^(?:KB)?(\d{1,10})$/i.exec(t);
      if (!m) throw new ScanRulesError(`${k}: ${JSON.stringify(s)} is neither a KB number nor an UpdateId`, file);
      return `KB${m[1]}`;
    });
  return {
    defaultAllow: bool('defaultAllow', false),
    allow: ids('allow'),
    forbid: ids('forbid'),
    allowedSeverities: list('allowedSeverities').map((s) => {
      // a misspelt severity would silently reject every update
      const known = SEVERITIES.find((k) => k.toLowerCase() === s.trim().toLowerCase());
      if (!known) throw new ScanRulesError(`allowedSeverities: ${JSON.stringify(s)} is not an MSRC severity (${SEVERITIES.join(', ')})`, file);
      return known;
    }),
    includeSuperseded: bool('includeSuperseded', false),
    products: list('products'),
    classifications: list('classifications'),
  };
}

export interface RuleDecision {
  revisionId: number;
  updateId: string;
  kb: string | null;
  selected: boolean;
  /** The rule that decided, e.g. "forbid KB123", "superseded by KB456", "defaultAllow". */
  reason: string;
}

/** The updates a rules file is judged on: deployable software, not the leaves inside a bundle. */
export function candidates(q: ScanQuery): ScanUpdate[] {
  return q.source.all().filter((u) => u.updateType !== 'Category' && u.updateType !== 'Detectoid' && u.bundledBy.length === 0);
}

export function decide(q: ScanQuery, rules: ScanRules, u: ScanUpdate): RuleDecision {
  const keys = [u.updateId, ...(u.kb ? [`KB${u.kb}`] : [])];
  const base = { revisionId: u.revisionId, updateId: u.updateId, kb: u.kb ?? null };
  const hit = (l: string[]): string | undefined => keys.find((k) => l.includes(k));
  const f = hit(rules.forbid);
  if (f) return { ...base, selected: false, reason: `forbid ${f}` };
  const a = hit(rules.allow);
  if (a) return { ...base, selected: true, reason: `allow ${a}` };
  if (!rules.includeSuperseded && q.isSuperseded(u)) {
    // the nearest superseding revision (the chain's first), without walking the whole chain
    const by = q.nearestSuperseding(u)!;
    return { ...base, selected: false, reason: `superseded by ${by.kb ? `KB${by.kb}` : by.updateId} (revision ${by.revisionId})` };
  }
  const any = (names: string[], wanted: string[]) => names.some((n) => wanted.some((w) => n.toLowerCase().includes(w.toLowerCase())));
  if (rules.products.length && !any(q.categoryNames(u, 'Product'), rules.products)) {
    return { ...base, selected: false, reason: 'product not in products' };
  }
  if (rules.classifications.length && !any(q.categoryNames(u, 'UpdateClassification'), rules.classifications)) {
    return { ...base, selected: false, reason: 'classification not in classifications' };
  }
  const sev = u.msrcSeverity ?? 'Unspecified';
  if (rules.allowedSeverities.length && !rules.allowedSeverities.some((s) => s.toLowerCase() === sev.toLowerCase())) {
    return { ...base, selected: false, reason: `severity ${sev} not in allowedSeverities` };
  }
  return { ...base, selected: rules.defaultAllow, reason: rules.defaultAllow ? 'defaultAllow' : 'not allowed (defaultAllow is false)' };
}

export function applyRules(q: ScanQuery, rules: ScanRules): RuleDecision[] {
  return candidates(q).map((u) => decide(q, rules, u));
}
