/**
 * The planning rules as data: which image takes which package class, in which order and
 * why (Microsoft, "Update Windows installation media with Dynamic Update", the task table),
 * the checkpoint table, and the parent comparisons. docs/plan.md describes each rule.
 */
import { compareVersions, parseVersion } from '../cbs/version.js';
import { byCode } from '../util/compare.js';

export const DU_DOC = 'learn.microsoft.com "Update Windows installation media with Dynamic Update"';
export const CHECKPOINT_DOC = 'learn.microsoft.com "Checkpoint cumulative updates"';

export type ImageRole = 'install' | 'boot' | 'winre';

/** One servicing phase: lower runs first. Steps inside a phase are ordered by package identity. */
export interface Phase {
  order: number;
  roles: ImageRole[];
  reason: string;
}

/**
 * Dynamic Update task order per image (DU doc task table): WinRE 1 SSU, 2-5 language
 * resources, 6 Safe OS DU, 7 cleanup; install.wim 9 SSU, 10 language pack, 11 FODs,
 * 12 LCU, 13 cleanup, 15 .NET; boot.wim 17 SSU, 18-21 language resources, 23 LCU, 24 cleanup.
 */
export const PHASES = {
  ssu: { order: 0, roles: ['install', 'boot', 'winre'], reason: `servicing stack update first, so every later package installs with the new stack (${DU_DOC}: "Add servicing stack Dynamic Update" is the first task for WinRE, WinPE and the OS)` },
  'language-pack': { order: 1, roles: ['install'], reason: `language pack before Features on Demand and the cumulative update, so the LCU also services its components (${DU_DOC}: "Add language pack")` },
  'winpe-language': { order: 1, roles: ['boot', 'winre'], reason: `WinPE language resources before the cumulative update (${DU_DOC}: "Add language pack" / "Add localized optional packages" for WinRE and WinPE)` },
  fod: { order: 2, roles: ['install'], reason: `Features on Demand after language packs, before the cumulative update (${DU_DOC}: "Add Features on Demand")` },
  'safeos-du': { order: 3, roles: ['winre'], reason: `Safe OS dynamic update: WinRE only, after the SSU and language resources, before cleanup (${DU_DOC}: "Add Safe OS Dynamic Update")` },
  lcu: { order: 4, roles: ['install', 'boot'], reason: `latest cumulative update after the SSU, language packs and FODs (${DU_DOC}: "Add latest cumulative update", OS and WinPE)` },
  enablement: { order: 5, roles: ['install'], reason: 'enablement package after the cumulative update whose features it switches on' },
  other: { order: 6, roles: ['install'], reason: `no slot in the Dynamic Update order: after the cumulative update, before cleanup (${DU_DOC})` },
  cleanup: { order: 7, roles: ['install', 'boot', 'winre'], reason: `clean up the component store after the updates and before .NET (${DU_DOC}: "Clean up the image")` },
  dotnet: { order: 8, roles: ['install'], reason: `.NET cumulative update after cleanup (${DU_DOC}: "Add .NET and cumulative updates for .NET" follows "Clean up the image")` },
  driver: { order: 9, roles: ['install', 'boot'], reason: 'drivers last: staging a driver does not depend on the servicing order, and a driver problem cannot block the updates' },
} as const satisfies Record<string, Phase>;

export type PhaseName = keyof typeof PHASES;

/** Which phase a package class belongs to; undefined: never installed into an image (reason in UNSUPPORTED_CLASSES). */
export function phaseFor(cls: string, name: string): PhaseName | undefined {
  switch (cls) {
    case 'ssu': return 'ssu';
    case 'language-pack': return /winpe/i.test(name) ? 'winpe-language' : 'language-pack';
    case 'fod': return /winpe/i.test(name) ? 'winpe-language' : 'fod';
    case 'safeos-du': return 'safeos-du';
    case 'lcu': case 'checkpoint-lcu': return 'lcu';
    case 'enablement': return 'enablement';
    case 'dotnet': return 'dotnet';
    case 'other': case 'webview': case 'edge': return 'other';
    default: return undefined;
  }
}

/** Classes that are refused, and why. */
export const UNSUPPORTED_CLASSES: Record<string, string> = {
  hotpatch: 'hotpatch packages need a running system with hotpatch enabled; they cannot be added to an offline image',
  'setup-du': `Setup dynamic updates are copied into the media's sources folder, not added to an image (${DU_DOC}: "Add Setup Dynamic Update")`,
  unknown: 'not a CBS package (no update.mum)',
};

/**
 * Known checkpoint cumulative updates. An LCU for `build` whose revision (UBR) is above `ubr`
 * carries deltas against the checkpoint's binaries, so the checkpoint must be installed first
 * unless the image is already at `ubr` or later (docs/cbs.md, "MSU members").
 */
export interface Checkpoint {
  build: number;
  ubr: number;
  kb: string;
  release: string;
}

export const CHECKPOINTS: readonly Checkpoint[] = [
  { build: 26100, ubr: 1742, kb: 'KB5043080', release: 'Windows 11 24H2 / Windows Server 2025' },
];

/**
 * Builds that are an enablement package on top of another build: their Foundation package keeps
 * the base build's version (e.g. 21H2 19044 runs Foundation 10.0.19041.1) [inferred from servicing
 * practice: the enablement package only flips features].
 */
export const ENABLEMENT_BASE: Readonly<Record<number, number>> = {
  18363: 18362,
  19042: 19041, 19043: 19041, 19044: 19041, 19045: 19041,
  22631: 22621, 22635: 22621,
  26200: 26100,
};

/** OS build and UBR of a RollupFix-style version: `10.0.26100.1742` or `19041.1288.1.7`. */
export function buildAndUbr(version: string): { build: number; ubr: number } | undefined {
  let parts: number[];
  try {
    parts = parseVersion(version).parts;
  } catch {
    return undefined;
  }
  if (parts[0] === 10 || parts[0] === 6) return parts.length >= 4 ? { build: parts[2]!, ubr: parts[3]! } : undefined;
  return parts.length >= 2 ? { build: parts[0]!, ubr: parts[1]! } : undefined;
}

export function baseBuild(build: number): number {
  return ENABLEMENT_BASE[build] ?? build;
}

export function checkpointFor(build: number): Checkpoint | undefined {
  return CHECKPOINTS.find((c) => c.build === baseBuild(build));
}

/** A package that is itself a checkpoint LCU: classified so, or a RollupFix matching the table by KB or version. */
export function isCheckpointPackage(cls: string, name: string, kb: string | undefined, version: string): boolean {
  if (cls === 'checkpoint-lcu') return true;
  if (cls !== 'lcu' || !/^Package_for_RollupFix$/i.test(name)) return false;
  const bu = buildAndUbr(version);
  return CHECKPOINTS.some((c) => (kb !== undefined && kb.toUpperCase() === c.kb) || (bu !== undefined && bu.build === c.build && bu.ubr === c.ubr));
}

/** Architectures whose packages an image of `target` architecture takes. */
export function archAccepts(target: string, pkgArch: string): boolean {
  const t = normalizeArch(target);
  const p = pkgArch.toLowerCase();
  if (p === '' || p === 'neutral' || p === 'msil' || p === '*') return true;
  if (t === 'unknown') return true;
  if (p === t) return true;
  return t === 'amd64' && p === 'wow64';
}

export function normalizeArch(a: string): string {
  const l = a.toLowerCase();
  return l === 'x64' ? 'amd64' : l === 'aarch64' ? 'arm64' : l;
}

export type CompareOp = 'EQ' | 'GE' | 'GT' | 'LE' | 'LT' | 'NE';

function opHolds(op: string, c: number): boolean | undefined {
  switch (op.toUpperCase()) {
    case 'EQ': return c === 0;
    case 'GE': return c >= 0;
    case 'GT': return c > 0;
    case 'LE': return c <= 0;
    case 'LT': return c < 0;
    case 'NE': return c !== 0;
    default: return undefined;
  }
}

const cmpTuple = (a: number[], b: number[]): number => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0, y = b[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
};

export interface ParentCheck {
  result: 'applicable' | 'not-applicable' | 'unknown';
  detail: string;
}

/**
 * One `parent` check: the installed version of the parent package against the version the
 * parent names. buildCompare compares major.minor.build; serviceCompare and revisionCompare
 * compare the fourth part [inferred: CBS does not document how it splits a 4-part version;
 * this reading matches every LCU/ESU parent seen, e.g. Foundation 10.0.19041.1 EQ/GE/GE].
 * distributionCompare is not evaluated (noted in the detail).
 */
export function checkParent(
  parent: { identity: string; buildCompare?: string; serviceCompare?: string; revisionCompare?: string; distributionCompare?: string },
  parentName: string,
  parentVersion: string,
  installed: string,
): ParentCheck {
  let want: number[], have: number[];
  try {
    want = parseVersion(parentVersion).parts;
    have = parseVersion(installed).parts;
  } catch {
    return { result: 'unknown', detail: `parent ${parentName}: version ${parentVersion} or installed ${installed} is not a version` };
  }
  const checks: string[] = [];
  let ok = true;
  const one = (label: string, op: string | undefined, w: number[], h: number[]): boolean | undefined => {
    if (op === undefined) return true;
    const holds = opHolds(op, cmpTuple(h, w));
    if (holds === undefined) return undefined;
    checks.push(`${label} ${h.join('.')} ${op} ${w.join('.')} ${holds ? 'ok' : 'fails'}`);
    return holds;
  };
  const results = [
    one('build', parent.buildCompare, want.slice(0, 3), have.slice(0, 3)),
    one('service', parent.serviceCompare, want.slice(3, 4), have.slice(3, 4)),
    one('revision', parent.revisionCompare, want.slice(3, 4), have.slice(3, 4)),
  ];
  if (results.some((r) => r === undefined)) {
    return { result: 'unknown', detail: `parent ${parentName} ${parentVersion}: unknown comparison operator` };
  }
  ok = results.every((r) => r === true);
  const extra = parent.distributionCompare ? '; distributionCompare not evaluated' : '';
  const how = checks.length ? checks.join(', ') : 'no comparison attributes (any version)';
  return { result: ok ? 'applicable' : 'not-applicable', detail: `parent ${parentName} ${parentVersion} against installed ${installed}: ${how}${extra}` };
}

/** Stable string order (code units), the one order used everywhere in a plan (src/util/json.ts). */
export { byCode };

/** Input ids `in1`, `in2`, … in numeric order. */
export function byInputId(a: string, b: string): number {
  const na = Number(a.replace(/^\D+/, '')), nb = Number(b.replace(/^\D+/, ''));
  return na !== nb ? na - nb : byCode(a, b);
}

export { compareVersions };
