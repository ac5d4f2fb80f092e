import { FormatError } from '../errors.js';

/**
 * Assembly/package versions: up to four dot-separated parts (major.minor.build.revision),
 * each an unsigned 16-bit number as in the Windows ASSEMBLY_VERSION (4 x u16).
 * Fewer than four parts are tolerated (`6.1`); missing parts compare as 0.
 */
export interface Version {
  /** The parts as written (1 to 4 numbers). */
  parts: number[];
  /** The original text. */
  text: string;
}

const PART = /^[0-9]{1,5}$/;

/** True when `s` is a valid 1-to-4-part version string. */
export function isVersion(s: string): boolean {
  try {
    parseVersion(s);
    return true;
  } catch {
    return false;
  }
}

/** Parse `10.0.19041.1288`; FormatError (code E_CBS_VERSION) naming `file` on anything else. */
export function parseVersion(s: string, file?: string, where?: string): Version {
  const bad = (why: string): FormatError =>
    new FormatError('E_CBS_VERSION', `invalid version ${JSON.stringify(s.length > 64 ? s.slice(0, 64) + '…' : s)}: ${why}`, { file, where });
  if (typeof s !== 'string' || s.length === 0) throw bad('empty');
  const raw = s.split('.');
  if (raw.length > 4) throw bad('more than four parts');
  const parts: number[] = [];
  for (const p of raw) {
    if (!PART.test(p)) throw bad(p === '' ? 'empty part' : `part ${JSON.stringify(p)} is not a number`);
    const n = Number(p);
    if (n > 0xffff) throw bad(`part ${p} is larger than 65535`);
    parts.push(n);
  }
  return { parts, text: s };
}

/** Canonical four-part text (`6.1` -> `6.1.0.0`). */
export function formatVersion(v: Version | string): string {
  const parts = typeof v === 'string' ? parseVersion(v).parts : v.parts;
  const out = [...parts];
  while (out.length < 4) out.push(0);
  return out.join('.');
}

/** -1, 0 or 1, comparing part by part numerically (missing parts are 0). Strings are parsed (and may throw). */
export function compareVersions(a: Version | string, b: Version | string): -1 | 0 | 1 {
  const pa = typeof a === 'string' ? parseVersion(a).parts : a.parts;
  const pb = typeof b === 'string' ? parseVersion(b).parts : b.parts;
  for (let i = 0; i < 4; i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
