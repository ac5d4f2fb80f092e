/**
 * What `msu verify` reports: one entry per check, each with one of three outcomes. A check that
 * could not be made says why (a fixed reason code plus words), so "nothing mismatched" is never
 * confused with "everything was checked".
 */
import { byCode as cmp } from '../util/compare.js';
export const VERIFY_SCHEMA = 'msu-toolkit/verify@2';

export type VerifyOutcome = 'verified' | 'mismatch' | 'not-checked';

export type VerifyCheckKind =
  | 'cabinet-data'        // CFDATA checksums and decoding of one cabinet folder
  | 'wim-integrity'       // the WIM's blob hashes and integrity table (wimlib-imagex verify)
  | 'catalog-signature'   // the catalog's signature over its content (chain not checked)
  | 'catalog-unreadable'
  | 'catalog-member'      // a .mum/.manifest/.cat whose SHA-1 or SHA-256 must be in a catalog of the package
  | 'manifest-decode'     // a DCM-compressed component manifest decoded against the base manifest
  | 'manifest-unreadable'
  | 'payload-hash'        // a file against the hash its component manifest declares
  | 'filehashes'          // a member against $filehashes$.dat
  | 'filehashes-unreadable'
  | 'cix-unreadable'
  | 'cix-source-missing'  // a Source name that is not a member of the package
  | 'cix-source-hash'     // stored member bytes against Source/Hash
  | 'cix-file-hash'       // the rebuilt target (RAW member, delta output, copy of its Basis) against File/Hash
  | 'cix-length'          // the rebuilt target's length against File@length
  | 'cix-basis'           // a copy entry's length and hash against its Basis File
  | 'manifest-file-hash'  // a component manifest's file hash against the cix hash of that file (same algorithm)
  | 'mum-components'      // each component a .mum installs has its manifest in the package
  | 'undeclared'          // a member that nothing in the package declares a hash for
  | 'package';            // a package in which nothing declares a hash

/** Why a check could not be made. */
export type NotCheckedReason =
  | 'pe-transforms'       // PE-aware delta: needs the PE transforms (phase 2)
  | 'reverse-delta'
  | 'no-delta-engine'
  | 'no-base-manifest'    // DCM manifest and no base manifest given
  | 'catalog-unsigned'
  | 'basis-not-rebuilt'   // a chained delta whose Basis File could not be rebuilt
  | 'external-basis'      // a delta on a file of the target image
  | 'psf-not-read'        // a Source addressed by PSF byte range
  | 'data-unreadable'     // the bytes could not be read (see the cabinet-data check)
  | 'not-in-package'      // a file a component manifest declares that the package neither holds nor rebuilds
  | 'unsupported'         // a hash algorithm or format feature not implemented
  | 'not-declared'        // a member no catalog, manifest, container index or $filehashes$.dat covers
  | 'nothing-declared';

export const REASON_TEXT: Record<NotCheckedReason, string> = {
  'pe-transforms': 'PE transforms (phase 2)',
  'reverse-delta': 'reverse delta (not implemented)',
  'no-delta-engine': 'no delta engine',
  'no-base-manifest': 'no base manifest given (--base-manifest, --wcp or MSU_BASE_MANIFEST)',
  'catalog-unsigned': 'catalog unsigned',
  'basis-not-rebuilt': 'its Basis file could not be rebuilt',
  'external-basis': 'needs a basis file from the target image',
  'psf-not-read': 'source lies in the .psf, which is not read',
  'data-unreadable': 'bytes unreadable (see the cabinet-data check)',
  'not-in-package': 'the package neither holds nor rebuilds the file',
  unsupported: 'not supported',
  'not-declared': 'no hash in the package covers this file',
  'nothing-declared': 'nothing in it declares a hash',
};

export interface VerifyCheck {
  /** Package member of the bundle (`.` for a bare cab or a WIM-packaged package). */
  package: string;
  /** What was checked: `member!path` inside the package (no `member!` for `.`). */
  file: string;
  check: VerifyCheckKind;
  outcome: VerifyOutcome;
  detail: string;
  expected?: string;
  actual?: string;
  reason?: NotCheckedReason;
}

export interface OutcomeCounts {
  verified: number;
  mismatch: number;
  notChecked: number;
}

export interface VerifyPackageSummary {
  /** Member of the bundle (`.` for a bare cab). */
  member: string;
  /** cabinet, payload WIM, WIM image. */
  container: string;
  catalogs: number;
  catalogEntries: number;
  /** Catalog signatures: intact (verifies over the content, chain not checked), broken, or absent. */
  signatures: { intact: number; broken: number; unsigned: number };
  counts: OutcomeCounts;
}

export interface VerifyReport {
  schema: typeof VERIFY_SCHEMA;
  file: string;
  /** verified: everything checked and matched; mismatch: at least one; not-checked: none, but something could not be checked. */
  outcome: VerifyOutcome;
  /** outcome === 'verified'. */
  ok: boolean;
  counts: OutcomeCounts;
  packages: VerifyPackageSummary[];
  /** Every check, sorted by file, check, outcome, detail. */
  checks: VerifyCheck[];
  /** The checks whose outcome is mismatch (also in `checks`). */
  mismatches: VerifyCheck[];
  notes: string[];
}

export function countOutcomes(checks: readonly VerifyCheck[]): OutcomeCounts {
  const c: OutcomeCounts = { verified: 0, mismatch: 0, notChecked: 0 };
  for (const k of checks) {
    if (k.outcome === 'verified') c.verified++;
    else if (k.outcome === 'mismatch') c.mismatch++;
    else c.notChecked++;
  }
  return c;
}

export function overallOutcome(c: OutcomeCounts): VerifyOutcome {
  return c.mismatch > 0 ? 'mismatch' : c.notChecked > 0 ? 'not-checked' : 'verified';
}


export function compareChecks(a: VerifyCheck, b: VerifyCheck): number {
  return cmp(a.package, b.package) || cmp(a.file, b.file) || cmp(a.check, b.check) || cmp(a.outcome, b.outcome) || cmp(a.detail, b.detail);
}

/** Collects the checks of one package; `file` names are prefixed with the member. */
export class CheckList {
  readonly checks: VerifyCheck[] = [];
  constructor(readonly pkg: string) {}

  private where(name: string): string {
    return this.pkg === '.' ? name : `${this.pkg}!${name}`;
  }

  verified(file: string, check: VerifyCheckKind, detail: string, extra: { expected?: string; actual?: string } = {}): void {
    this.checks.push({ package: this.pkg, file: this.where(file), check, outcome: 'verified', detail, ...extra });
  }

  mismatch(file: string, check: VerifyCheckKind, detail: string, extra: { expected?: string; actual?: string } = {}): void {
    this.checks.push({ package: this.pkg, file: this.where(file), check, outcome: 'mismatch', detail, ...extra });
  }

  notChecked(file: string, check: VerifyCheckKind, reason: NotCheckedReason, detail?: string): void {
    this.checks.push({ package: this.pkg, file: this.where(file), check, outcome: 'not-checked', reason, detail: detail ?? `not checked: ${REASON_TEXT[reason]}` });
  }

  /** verified or mismatch by comparing two lowercase hex digests. */
  compare(file: string, check: VerifyCheckKind, expected: string, actual: string, what: string): boolean {
    if (expected === actual) this.verified(file, check, what);
    else this.mismatch(file, check, `${what} differs`, { expected, actual });
    return expected === actual;
  }
}
