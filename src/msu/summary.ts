import { type Cabinet, type CabEntry } from '../cab/cabinet.js';
import { NAME_TAIL_NOT_ASCII } from '../cab/header.js';
import { parseMum, type MumPackage } from '../cbs/mum.js';
import { classifyPackage } from '../cbs/classify.js';
import { kbFromName, type MemberRole } from './members.js';

/** The inspect report's model and the per-package summary, shared by cabinet and WIM MSUs. */
export const INSPECT_SCHEMA = 'msu-toolkit/inspect@1';

/**
 * Copying (part of) a WIM-based MSU's payload `.wim` to a temp file, which wimlib-imagex needs:
 * `done` of `total` bytes of one copy (src/msu/payload-wim.ts: the WIM's structures, then the
 * resources of the files read; the whole member where that view does not apply).
 */
export interface MemberCopyProgress {
  member: string;
  done: number;
  total: number;
}

/** wim-package: a CBS package stored in a WIM/ESD (update.mum at the image root). */
export type ContainerKind = 'cab-msu' | 'wim-msu' | 'cab' | 'wim-package';

export interface InspectMember {
  name: string;
  size: number;
  role: MemberRole;
  /** Compression of the folder holding the member (`None`, `MSZIP`, `LZX:21`), for cabinets. */
  compression?: string;
}

export interface PackageParent {
  identity: string;
  buildCompare?: string;
  serviceCompare?: string;
  revisionCompare?: string;
  distributionCompare?: string;
  disposition?: string;
  integrate?: string;
}

export interface PackageSummary {
  /** Member of the bundle this package came from (`.` for a bare cab). */
  member: string;
  identity: string;
  name: string;
  version: string;
  arch: string;
  language: string;
  kb?: string;
  releaseType?: string;
  restart?: string;
  class: string;
  classReason: string;
  psfx?: { packageFormat?: string; psfxVersion?: string; deltaFormat?: string; version?: string };
  psfName?: string;
  appliesTo: PackageParent[];
  /** Express/PSF payload: a cix index inside, or a psf beside it. */
  express: boolean;
  counts: { files: number; mum: number; manifests: number; catalogs: number; cix: number; other: number };
  compression: string[];
  /** Why details are missing (e.g. update.mum not found), if any. */
  note?: string;
}

export interface InspectReport {
  schema: typeof INSPECT_SCHEMA;
  file: string;
  size: number;
  container: ContainerKind;
  kb?: string;
  members: InspectMember[];
  packages: PackageSummary[];
  ssu: { present: boolean; members: string[] };
  psf: string[];
  properties?: Record<string, string>;
  warnings: string[];
}

export function countKinds(entries: { name: string }[]): PackageSummary['counts'] {
  const c = { files: entries.length, mum: 0, manifests: 0, catalogs: 0, cix: 0, other: 0 };
  for (const e of entries) {
    const n = e.name.toLowerCase();
    if (n.endsWith('.mum')) c.mum++;
    else if (n.endsWith('.manifest')) c.manifests++;
    else if (n.endsWith('.cat')) c.catalogs++;
    else if (n.endsWith('.cix.xml')) c.cix++;
    else c.other++;
  }
  return c;
}

/** ASCII bytes of the suffixes countKinds looks for. */
const KIND_SUFFIXES: readonly [keyof PackageSummary['counts'], Uint8Array][] = [
  ['mum', new TextEncoder().encode('.mum')],
  ['manifests', new TextEncoder().encode('.manifest')],
  ['catalogs', new TextEncoder().encode('.cat')],
  ['cix', new TextEncoder().encode('.cix.xml')],
];

const KIND_BYTES = KIND_SUFFIXES.map(([, b]) => b);

/**
 * countKinds and findPackageMum over a cabinet's raw name bytes, in one pass that makes no
 * string or object per member. When a name's last 9 bytes are ASCII they are the last
 * characters of its decoded name in either encoding (UTF-8 decodes ASCII bytes to themselves,
 * and escaped high bytes come before them), and no non-ASCII character lower-cases into these
 * suffixes; other names take the string path.
 */
export function kindsOf(cab: Cabinet): { counts: PackageSummary['counts']; mum: CabEntry | undefined } {
  const c = { files: cab.entryCount, mum: 0, manifests: 0, catalogs: 0, cix: 0, other: 0 };
  const mums: CabEntry[] = [];
  const kinds = cab.suffixIndex(KIND_BYTES);
  for (let i = 0; i < kinds.length; i++) {
    const k = kinds[i]!;
    if (k === NAME_TAIL_NOT_ASCII) {
      const e = cab.entry(i);
      const one = countKinds([e]);
      for (const key of ['mum', 'manifests', 'catalogs', 'cix', 'other'] as const) c[key] += one[key];
      if (one.mum) mums.push(e);
    } else if (k < KIND_SUFFIXES.length) {
      c[KIND_SUFFIXES[k]![0]]++;
      if (k === 0) mums.push(cab.entry(i));
    } else c.other++;
  }
  return { counts: c, mum: findPackageMum(mums) };
}

/** The package manifest of a CBS cab: update.mum, else the only top-level .mum. */
export function findPackageMum(entries: CabEntry[]): CabEntry | undefined {
  const top = entries.filter((e) => !/[\\/]/.test(e.name));
  return top.find((e) => e.name.toLowerCase() === 'update.mum') ?? (top.filter((e) => e.name.toLowerCase().endsWith('.mum')).length === 1 ? top.find((e) => e.name.toLowerCase().endsWith('.mum')) : undefined);
}

export function summarizeMum(mum: MumPackage, member: string): Omit<PackageSummary, 'express' | 'counts' | 'compression'> {
  const pkg = mum.package;
  const cls = classifyPackage(mum, { memberName: member });
  const ci = pkg?.customInformation;
  const s: Omit<PackageSummary, 'express' | 'counts' | 'compression'> = {
    member,
    identity: mum.packageId,
    name: mum.identity.name,
    version: mum.identity.version,
    arch: mum.identity.processorArchitecture,
    language: mum.identity.language || 'neutral',
    class: cls.class,
    classReason: cls.reason,
    appliesTo: (pkg?.parents ?? []).map((p) => ({
      identity: [p.identity.name, p.identity.publicKeyToken, p.identity.processorArchitecture, p.identity.language === 'neutral' ? '' : p.identity.language, p.identity.version].join('~'),
      ...(p.buildCompare ? { buildCompare: p.buildCompare } : {}),
      ...(p.serviceCompare ? { serviceCompare: p.serviceCompare } : {}),
      ...(p.revisionCompare ? { revisionCompare: p.revisionCompare } : {}),
      ...(p.distributionCompare ? { distributionCompare: p.distributionCompare } : {}),
      ...(p.disposition ? { disposition: p.disposition } : {}),
      ...(p.integrate ? { integrate: p.integrate } : {}),
    })),
  };
  const kb = pkg?.identifier && /^kb\d+$/i.test(pkg.identifier) ? pkg.identifier.toUpperCase() : kbFromName(mum.identity.name) ?? kbFromName(member);
  if (kb) s.kb = kb;
  if (pkg?.releaseType) s.releaseType = pkg.releaseType;
  if (pkg?.restart) s.restart = pkg.restart;
  if (pkg?.psfName) s.psfName = pkg.psfName;
  if (ci) {
    // <customInformation> is common (plain KB packages carry one too): only its PSFX fields make a psfx entry
    const psfx: NonNullable<PackageSummary['psfx']> = {};
    if (ci.PackageFormat) psfx.packageFormat = ci.PackageFormat;
    if (ci.PSFXVersion) psfx.psfxVersion = ci.PSFXVersion;
    if (ci.PSFXDeltaFormat) psfx.deltaFormat = ci.PSFXDeltaFormat;
    if (ci.Version) psfx.version = ci.Version;
    if (Object.keys(psfx).length > 0) s.psfx = psfx;
  }
  return s;
}

/** Summarise a CBS package cabinet (the payload of an MSU, or a bare .cab). */
export async function summarizePackageCab(cab: Cabinet, member: string, psfBeside: boolean): Promise<PackageSummary> {
  // an LCU payload lists 20,000+ members: counted and searched over the raw CFFILE table
  const { counts, mum: mumEntry } = kindsOf(cab);
  const compression = [...new Set(cab.folders.map((f) => f.compression.label))].sort();
  const hasCix = counts.cix > 0;
  if (!mumEntry) {
    return {
      member, identity: '', name: '', version: '', arch: '', language: '', class: 'unknown', classReason: 'no update.mum',
      appliesTo: [], express: hasCix || psfBeside, counts, compression,
      note: 'no update.mum (or single top-level .mum) in this cabinet: not a CBS package',
    };
  }
  const mum = parseMum(await cab.readFile(mumEntry), `${cab.name}!${mumEntry.name}`);
  const s = summarizeMum(mum, member);
  return { ...s, express: hasCix || psfBeside || Boolean(s.psfName) || s.psfx?.packageFormat === 'PSFX', counts, compression };
}
