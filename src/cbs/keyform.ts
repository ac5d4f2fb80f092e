import type { AssemblyIdentity } from './identity.js';
import { isNeutralLanguage } from './identity.js';

/**
 * WinSxS component keys ("keyforms"): the folder name `arch_name_pkt_version_culture_hash`
 * under %windir%\WinSxS and the key of COMPONENTS\DerivedData\Components. The 64-bit hash
 * is computed over the identity attributes (docs/cbs.md, "Keyform"; checked against real folder names).
 */

const MASK64 = 0xffffffffffffffffn;
const MASK32 = 0xffffffffn;

/** Per-string hash: four interleaved 32-bit accumulators over the lowercased UTF-16 code units, then mixed into 64 bits. */
export function keyformStringHash(s: string): bigint {
  const g = [0n, 0n, 0n, 0n];
  const lower = s.toLowerCase();
  for (let i = 0; i < lower.length; i++) {
    const lane = i % 4;
    g[lane] = (g[lane]! * 0x1003fn + BigInt(lower.charCodeAt(i))) & MASK32;
  }
  return (g[0]! * 0x1e5fffffd27n + g[1]! * 0xffffffdc00000051n + g[2]! * 0x1fffffff7n + g[3]!) & MASK64;
}

export type KeyformIdentity = Pick<AssemblyIdentity, 'name' | 'version' | 'processorArchitecture' | 'language' | 'publicKeyToken'> &
  Partial<Pick<AssemblyIdentity, 'type' | 'versionScope'>>;

export interface KeyformHashOptions {
  /** Leave `version` out: the key CBS uses for Winners and policy lookups. */
  versionless?: boolean;
}

/** The 64-bit identity hash. Attributes are folded in this fixed order; absent/empty (and neutral culture) ones are skipped. */
export function keyformHash(id: KeyformIdentity, opts: KeyformHashOptions = {}): bigint {
  const pairs: Array<[string, string | undefined]> = [
    ['name', id.name],
    ['culture', isNeutralLanguage(id.language) ? undefined : id.language],
    ['type', id.type],
    ['version', opts.versionless ? undefined : id.version],
    ['publicKeyToken', id.publicKeyToken],
    ['processorArchitecture', id.processorArchitecture],
    ['versionScope', id.versionScope],
  ];
  let key = 0n;
  for (const [attrName, value] of pairs) {
    if (value === undefined || value === '') continue;
    const attrHash = (keyformStringHash(attrName) * 0x1fffffff7n + keyformStringHash(value)) & MASK64;
    key = (key * 0x1fffffff7n + attrHash) & MASK64;
  }
  return key;
}

/** 16 lowercase hex digits. */
export function keyformHashHex(id: KeyformIdentity, opts: KeyformHashOptions = {}): string {
  return keyformHash(id, opts).toString(16).padStart(16, '0');
}

// Folder names keep only [a-z0-9._-]; other characters are dropped [inferred from haveSxS-derived tools; unverified on real data].
const UNSAFE = /[^a-z0-9._\-]/g;

/** Lowercased, unsafe characters dropped, and shortened to first 19 + `..` + last 19 when longer than 40 characters. */
export function keyformName(name: string): string {
  const n = name.toLowerCase().replace(UNSAFE, '');
  return n.length > 40 ? `${n.slice(0, 19)}..${n.slice(-19)}` : n;
}

/** The full folder name, e.g. `amd64_microsoft-windows-directcomposition_31bf3856ad364e35_10.0.26100.8972_none_3907531ff1ec3e71`. */
export function keyform(id: KeyformIdentity): string {
  const arch = (id.processorArchitecture || 'none').toLowerCase();
  const pkt = (id.publicKeyToken || 'none').toLowerCase();
  const culture = isNeutralLanguage(id.language) ? 'none' : id.language.toLowerCase();
  const version = id.version || 'none';
  return [arch, keyformName(id.name), pkt, version, culture, keyformHashHex(id)].join('_');
}

export interface ParsedKeyform {
  processorArchitecture: string;
  /** Possibly shortened (`..`) and lowercased: not always the full identity name. */
  name: string;
  shortened: boolean;
  publicKeyToken: string;
  version: string;
  culture: string;
  hash: string;
}

/**
 * Split a folder name back into its parts. The name may itself contain `_`, so fields are taken
 * from both ends. Returns null when it does not look like a keyform.
 */
export function parseKeyform(folder: string): ParsedKeyform | null {
  const base = folder.replace(/\.manifest$/i, '');
  const parts = base.split('_');
  if (parts.length < 6) return null;
  const hash = parts[parts.length - 1]!;
  const culture = parts[parts.length - 2]!;
  const version = parts[parts.length - 3]!;
  const pkt = parts[parts.length - 4]!;
  const arch = parts[0]!;
  const name = parts.slice(1, parts.length - 4).join('_');
  if (!/^[0-9a-f]{16}$/.test(hash) || name === '' || !/^[0-9.]+$/.test(version)) return null;
  return { processorArchitecture: arch, name, shortened: name.includes('..'), publicKeyToken: pkt, version, culture, hash };
}
