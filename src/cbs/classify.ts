import { versionlessKey, type AssemblyIdentity } from './identity.js';
import type { MumPackage } from './mum.js';
import { compareVersions } from './version.js';

/**
 * Package classification. The rules are data: an ordered table, first match wins. Each rule
 * tests facts pulled once from the .mum (names, releaseType, permanence, customInformation),
 * so a new package family is one row, not another regex hidden in control flow.
 */
export type PackageClass =
  | 'hotpatch' | 'ssu' | 'checkpoint-lcu' | 'lcu' | 'dotnet' | 'safeos-du' | 'setup-du' | 'enablement'
  | 'webview' | 'edge' | 'language-pack' | 'fod' | 'other';

export interface ClassifyHints {
  /** Name of the MSU/CAB member the package came from (`SSU-19041.4163-x64.cab`, `Windows11.0-KB…-x64.cab`). */
  memberName?: string;
}

export interface Classification {
  class: PackageClass;
  /** Why, in words that name the evidence. */
  reason: string;
  /** Id of the rule that matched. */
  rule: string;
}

/** What the rules look at, extracted once. */
export interface PackageFacts {
  /** assemblyIdentity@name of the package. */
  name: string;
  releaseType: string;
  permanence: string;
  /** Identity names of child packages, components and drivers in `update` elements, and identities in applicability blocks. */
  updateNames: string[];
  /** Every attribute name and value of `package` and `customInformation`, for marker searches. */
  markerText: string[];
  memberName: string;
}

export interface ClassRule {
  id: string;
  class: PackageClass;
  test: (f: PackageFacts) => boolean;
  reason: string;
}

const anyName = (f: PackageFacts, re: RegExp): boolean => re.test(f.name) || f.updateNames.some((n) => re.test(n));
const isRollupFix = (f: PackageFacts): boolean => /^Package_for_RollupFix$/i.test(f.name);

/**
 * The table. Order matters: hotpatch first (it must be refused before anything treats it as an LCU),
 * checkpoint before plain LCU. Sources: docs/cbs.md (package names, releaseType values),
 * W10UI behaviour (SSU first, `findstr Baseline update.mum`, HotpatchCompDB refusal).
 */
export const CLASS_RULES: readonly ClassRule[] = [
  { id: 'hotpatch-name', class: 'hotpatch', test: (f) => anyName(f, /hotpatch/i) || /hotpatch/i.test(f.memberName) || f.markerText.some((t) => /hotpatch/i.test(t)),
    reason: 'names a hotpatch package (hotpatch updates are not supported offline)' },
  { id: 'ssu-name', class: 'ssu', test: (f) => /^Package_for_ServicingStack/i.test(f.name), reason: 'package name Package_for_ServicingStack' },
  { id: 'ssu-permanent', class: 'ssu', test: (f) => /^permanent$/i.test(f.permanence) && anyName(f, /ServicingStack/i),
    reason: 'permanence="permanent" and it updates Microsoft-Windows-ServicingStack' },
  { id: 'ssu-member', class: 'ssu', test: (f) => /^ssu-\d+\.\d+-\w+\.cab$/i.test(f.memberName), reason: 'MSU member named SSU-<build>-<arch>.cab' },
  // W10UI detects checkpoint (baseline) LCUs by the word "Baseline" in update.mum [inferred: no public sample shows which attribute carries it].
  { id: 'lcu-checkpoint', class: 'checkpoint-lcu', test: (f) => isRollupFix(f) && f.markerText.some((t) => /baseline|checkpoint/i.test(t)),
    reason: 'Package_for_RollupFix whose package/customInformation attributes mention Baseline/Checkpoint' },
  { id: 'lcu-name', class: 'lcu', test: isRollupFix, reason: 'package name Package_for_RollupFix' },
  { id: 'dotnet-name', class: 'dotnet', test: (f) => /^Package_for_DotNetRollup/i.test(f.name), reason: 'package name Package_for_DotNetRollup' },
  { id: 'safeos-name', class: 'safeos-du', test: (f) => /^Package_for_SafeOSDU/i.test(f.name), reason: 'package name Package_for_SafeOSDU' },
  // Setup dynamic updates usually carry no CBS package at all; this only catches named ones [unverified].
  { id: 'setupdu-name', class: 'setup-du', test: (f) => anyName(f, /SetupDU|SetupDynamicUpdate/i), reason: 'package name mentions SetupDU' },
  { id: 'enablement-name', class: 'enablement', test: (f) => anyName(f, /Enablement-?Package/i),
    reason: 'installs a Microsoft-Windows-*Enablement-Package' },
  { id: 'webview-name', class: 'webview', test: (f) => anyName(f, /WebView2?/i), reason: 'package name mentions WebView' },
  { id: 'edge-name', class: 'edge', test: (f) => anyName(f, /EdgeChromium|Microsoft-Windows-Edge|^Package_for_Edge/i), reason: 'package name mentions Edge' },
  { id: 'lp-release', class: 'language-pack', test: (f) => /^Language Pack$/i.test(f.releaseType) || /LanguagePack/i.test(f.name),
    reason: 'releaseType "Language Pack" (or a LanguagePack package name)' },
  { id: 'fod-release', class: 'fod', test: (f) => /^(OnDemand Pack|Feature Pack)$/i.test(f.releaseType),
    reason: 'releaseType "OnDemand Pack" or "Feature Pack"' },
  // After fod: the NetFx3 on-demand package is a FoD first.
  { id: 'dotnet-netfx', class: 'dotnet', test: (f) => /NetFx/i.test(f.name), reason: 'a NetFx package' },
  { id: 'other', class: 'other', test: () => true, reason: 'no rule matched' },
];

export function packageFacts(mum: MumPackage, hints: ClassifyHints = {}): PackageFacts {
  const p = mum.package;
  const updateNames: string[] = [];
  const markerText: string[] = [];
  if (p) {
    for (const u of p.updates) {
      if (u.identity) updateNames.push(u.identity.name);
      for (const a of [u.applicable, u.detectUpdate, u.selectable]) for (const x of a?.identities ?? []) updateNames.push(x.identity.name);
    }
    const attrsOf = (r: Record<string, string> | undefined): void => {
      for (const [k, v] of Object.entries(r ?? {})) markerText.push(k, v);
    };
    const own: Record<string, string> = {};
    for (const k of Object.keys(p) as Array<keyof typeof p>) {
      const v = p[k];
      if (typeof v === 'string') own[k] = v;
    }
    attrsOf(own);
    attrsOf(p.extra);
    attrsOf(p.customInformation?.attrs);
  }
  return {
    name: mum.identity.name,
    releaseType: p?.releaseType ?? '',
    permanence: p?.permanence ?? '',
    updateNames,
    markerText,
    memberName: hints.memberName ?? '',
  };
}

/** Classify a package by the first matching rule of CLASS_RULES. */
export function classifyPackage(mum: MumPackage, hints: ClassifyHints = {}, rules: readonly ClassRule[] = CLASS_RULES): Classification {
  const facts = packageFacts(mum, hints);
  for (const r of rules) if (r.test(facts)) return { class: r.class, reason: r.reason, rule: r.id };
  return { class: 'other', reason: 'no rule matched', rule: 'other' };
}

/** Hotpatch packages need a running system with hotpatch support; callers refuse them with a clear message. */
export function isHotpatch(mum: MumPackage, hints: ClassifyHints = {}): boolean {
  return classifyPackage(mum, hints).class === 'hotpatch';
}

export interface Supersedence {
  supersedes: boolean;
  reason: string;
}

type Ident = Pick<AssemblyIdentity, 'name' | 'publicKeyToken' | 'processorArchitecture' | 'language' | 'version'>;

/**
 * CBS-style supersedence (docs/cbs.md): `a` supersedes `b` when both have the same name,
 * public key token, architecture and language, and `a` has the higher version.
 */
export function supersedes(a: MumPackage | Ident, b: MumPackage | Ident): Supersedence {
  const ia: Ident = 'identity' in a ? a.identity : a;
  const ib: Ident = 'identity' in b ? b.identity : b;
  if (versionlessKey(ia) !== versionlessKey(ib)) {
    const diff = (['name', 'publicKeyToken', 'processorArchitecture', 'language'] as const).find(
      (k) => versionlessKey({ ...ia, [k]: '' }) === versionlessKey({ ...ib, [k]: '' }),
    );
    return { supersedes: false, reason: diff ? `different ${diff} (${ia[diff] || '∅'} vs ${ib[diff] || '∅'})` : `different package (${ia.name} vs ${ib.name})` };
  }
  const c = compareVersions(ia.version, ib.version);
  if (c > 0) return { supersedes: true, reason: `same package ${ia.name}, version ${ia.version} > ${ib.version}` };
  if (c === 0) return { supersedes: false, reason: `same package ${ia.name}, same version ${ia.version}` };
  return { supersedes: false, reason: `same package ${ia.name}, version ${ia.version} < ${ib.version}` };
}
