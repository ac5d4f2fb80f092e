import { byCode as cmp } from '../util/compare.js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Cabinet, type CabEntry } from '../cab/cabinet.js';
import { EXIT, FormatError, ioError, MsuError } from '../errors.js';
import { detectContainer, findPackageMum, openMemberCab } from '../msu/inspect.js';
import { classifyMember, PACKAGE_ROLES } from '../msu/members.js';
import { copyWimMsuMember } from '../msu/payload-wim.js';
import { BufferSource, FileSource, SliceSource } from '../util/source.js';
import { wimDirDetailed, wimReadFile, type WimStreamEntry } from '../wim/streams.js';
import { wimExtract, wimVerify } from '../wim/wimlib.js';
import { DEFAULT_KEEP_LIMITS, scanCabinet, type KeepLimits } from './cabinet.js';
import { nodeHash } from './digest.js';
import {
  CheckList, compareChecks, countOutcomes, overallOutcome, REASON_TEXT, VERIFY_SCHEMA,
  type VerifyCheck, type VerifyOutcome, type VerifyPackageSummary, type VerifyReport,
} from './model.js';
import { baseManifestFromFiles, checkPackageFiles, type PackageContext, type PackageFiles } from './package.js';

/**
 * Offline integrity check of an update package: every hash the package itself declares is
 * recomputed over the bytes it ships (or rebuilds), and each catalog's signature is checked over
 * the catalog's content. Each check ends verified, mismatch or not checked (with the reason). The
 * signing certificate is not chained to a Microsoft root (no trust store offline): a pass means
 * "as its signer signed it", not "signed by Microsoft".
 */
export * from './model.js';
export { type PackageFiles } from './package.js';

export interface VerifyOptions {
  /** Name used in the report and in errors (default: `file`). */
  displayName?: string;
  /** Where WIM members are copied and extracted (default: os.tmpdir()); always cleaned up. */
  tempRoot?: string;
  /** The base manifest DCM-compressed component manifests are deltas against (from wcp.dll). */
  baseManifest?: Uint8Array;
  /**
   * How much decoded member data is held in memory (defaults: DEFAULT_KEEP_LIMITS). Members over
   * the limits are hashed while their folder is decoded, never decoded a second time per member.
   */
  keepLimits?: Partial<KeepLimits>;
  /** Called as the work goes on, for a progress line (each member's folders, then its checks). */
  onProgress?: (p: VerifyProgress) => void;
}

/**
 * Where verifyPackage is: `member` is the package member ('.' for the package itself);
 * `decode` counts the uncompressed bytes of its cabinet folders (done of total); `copy` the bytes
 * of a payload `.wim` copied to a temp file for wimlib-imagex; `check` is the hashing of the files
 * it declares (0 of 0); `wim` a wimlib-imagex verify (0 of 0) or extraction (percent, of 100).
 */
export interface VerifyProgress {
  member: string;
  step: 'decode' | 'copy' | 'check' | 'wim';
  done: number;
  total: number;
}

interface Run {
  ctx: PackageContext & { notes: string[] };
  tempRoot: string;
  limits: KeepLimits;
  checks: VerifyCheck[];
  packages: VerifyPackageSummary[];
  notes: string[];
  progress: (member: string, step: VerifyProgress['step'], done?: number, total?: number) => void;
}


/** Verify a .cab, a cabinet-based .msu, a WIM-based .msu, or a CBS package stored in a WIM/ESD. */
export async function verifyPackage(file: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const name = opts.displayName ?? file;
  const run: Run = {
    ctx: { notes: [], ...(opts.baseManifest ? { baseManifest: opts.baseManifest } : {}) },
    tempRoot: opts.tempRoot ?? os.tmpdir(), limits: { ...DEFAULT_KEEP_LIMITS, ...opts.keepLimits }, checks: [], packages: [], notes: [],
    progress: (member, step, done = 0, total = 0) => opts.onProgress?.({ member, step, done, total }),
  };
  const src = await FileSource.open(file, name);
  try {
    const kind = detectContainer(await src.read(0, Math.min(8, src.size), 'signature'));
    if (kind === 'wim') await verifyWim(file, src, run);
    else if (kind !== 'cab') throw new FormatError('E_NOT_PACKAGE', 'not an MSU or CAB package (no MSCF or MSWIM signature)', { file: name });
    else {
      const cab = await Cabinet.open(src);
      const bundleMembers = cab.entries.filter((e) => PACKAGE_ROLES.has(classifyMember(e.name).role) && /\.cab$/i.test(e.name));
      if (findPackageMum(cab.entries) || bundleMembers.length === 0) {
        await verifyCabinet(cab, '.', run);
      } else {
        // The outer cabinet's own CFDATA checksums first, in the same pass keeping the inner
        // cabinets of compressed folders (decoded once); those of stored folders are read in place.
        const outer = new CheckList('.');
        const bundle = new Set(bundleMembers);
        const scan = await scanCabinet(cab, outer, {
          keep: false, want: (e) => bundle.has(e) && cab.storedSource(e) === null, label: path.basename(name), limits: run.limits,
          onBytes: (done, total) => run.progress('.', 'decode', done, total),
        });
        run.checks.push(...outer.checks);
        const open = async (e: CabEntry): Promise<Cabinet> => {
          const bytes = scan.bytes.get(e);
          return bytes ? openCabBytes(bytes, `${cab.name}!${e.name}`) : openMemberCab(cab, e);
        };
        const sorted = [...bundleMembers].sort((a, b) => cmp(a.name, b.name));
        await baseFromServicingStack(sorted.filter((e) => classifyMember(e.name).role === 'ssu').map((e) => ({ member: e.name, open: () => open(e) })), run);
        for (const e of sorted) {
          await verifyCabinet(await open(e), e.name, run);
        }
      }
    }
  } finally {
    await src.close().catch(() => undefined);
  }
  run.notes.push(...run.ctx.notes);
  const checks = run.checks.sort(compareChecks);
  const counts = countOutcomes(checks);
  const outcome = overallOutcome(counts);
  return {
    schema: VERIFY_SCHEMA, file: path.basename(name), outcome, ok: outcome === 'verified', counts,
    packages: run.packages, checks, mismatches: checks.filter((c) => c.outcome === 'mismatch'), notes: run.notes,
  };
}

async function verifyFiles<F extends { readonly name: string }>(pkg: PackageFiles<F>, member: string, list: CheckList, run: Run): Promise<void> {
  run.progress(member, 'check');
  const stats = await checkPackageFiles(pkg, list, run.ctx);
  run.checks.push(...list.checks);
  run.packages.push({ member, container: pkg.container, ...stats, counts: countOutcomes(list.checks) });
}

/** A cabinet held in memory (a bundle member decoded by the outer scan). */
async function openCabBytes(bytes: Uint8Array, where: string): Promise<Cabinet> {
  try {
    return await Cabinet.open(new BufferSource(bytes, where));
  } catch (err) {
    if (err instanceof MsuError) err.file ??= where;
    throw err;
  }
}

async function verifyCabinet(cab: Cabinet, member: string, run: Run): Promise<void> {
  const list = new CheckList(member);
  const scan = await scanCabinet(cab, list, { keep: true, limits: run.limits, onBytes: (done, total) => run.progress(member, 'decode', done, total) });
  const pkg: PackageFiles<CabEntry> = {
    container: 'cabinet',
    files: cab.entries,
    read: async (e) => {
      if (scan.unreadable.has(e)) return undefined;
      // a member of a folder over the keep limits that was only hashed, read whole after all
      // (rare: a big delta or container-index source): one decode up to it
      return scan.bytes.get(e) ?? cab.readFile(e);
    },
    digest: (e, alg) => {
      const d = scan.digests.get(e);
      const a = nodeHash(alg);
      if (!d || (a !== 'sha1' && a !== 'sha256')) return undefined;
      return { size: d.size, hex: d[a] };
    },
  };
  await verifyFiles(pkg, member, list, run);
}

/** No base manifest given: take it from wcp.dll in the bundle's servicing stack cab, when it ships one as a plain file. */
async function baseFromServicingStack(ssus: Array<{ member: string; open: () => Promise<Cabinet> }>, run: Run): Promise<void> {
  if (run.ctx.baseManifest) return;
  for (const s of ssus) {
    const cab = await s.open();
    const got = await baseManifestFromFiles(cab.entries, (e) => cab.readFile(e));
    if (got) {
      run.ctx.baseManifest = got.bytes;
      run.ctx.notes.push(`${s.member}!${got.from}: base manifest for DCM manifests taken from this wcp.dll`);
      return;
    }
  }
}

/** Put `where` on a failure from a step that only knew a path (wimlib runs on temp copies). */
function naming<T>(where: string): (err: unknown) => T {
  return (err) => {
    if (err instanceof MsuError) err.file = where;
    throw err;
  };
}

/** `wimlib-imagex verify`: every blob's SHA-1 and the integrity table when the WIM has one. */
async function checkWimIntegrity(wim: string, list: CheckList, label: string): Promise<boolean> {
  try {
    await wimVerify(wim);
    list.verified(label, 'wim-integrity', 'wimlib-imagex verify: blob hashes (and the integrity table, when present) match');
    return true;
  } catch (err) {
    if (!(err instanceof MsuError) || err.kind !== 'input') throw err;
    list.mismatch(label, 'wim-integrity', `wimlib-imagex verify: ${err.message}`);
    return false;
  }
}

/**
 * A WIM: either a CBS package stored in a WIM/ESD (update.mum at the image root), verified like a
 * package cab after extracting image 1, or a WIM-based MSU (Windows 11 build 25336+), whose package
 * members are each verified like a package cab (`.cab`) or an extracted payload WIM (`.wim`).
 */
async function verifyWim(file: string, outer: FileSource, run: Run): Promise<void> {
  const name = outer.name;
  const entries = (await wimDirDetailed(file, 1).catch(naming<WimStreamEntry[]>(name))).filter((e) => !e.isDirectory);
  const top = new CheckList('.');
  run.progress('.', 'wim');
  const intact = await checkWimIntegrity(file, top, `[${path.basename(name)}]`);
  run.checks.push(...top.checks);
  if (!intact) return;
  if (entries.some((e) => e.path.toLowerCase() === '/update.mum')) {
    await verifyWimImage(file, name, '.', 'WIM image', run);
    return;
  }
  let found = 0;
  const members = entries.map((x) => ({ e: x, member: x.path.replace(/^\//, '') })).sort((a, b) => cmp(a.member, b.member));
  const openCab = async (e: WimStreamEntry, where: string): Promise<Cabinet> => Cabinet.open(e.storedInPlace
    ? new SliceSource(outer, e.offset, e.size, where)
    : new BufferSource(await wimReadFile(file, 1, e.path).catch(naming<Uint8Array>(where)), where));
  await baseFromServicingStack(members.filter((m) => /\.cab$/i.test(m.member) && classifyMember(m.member).role === 'ssu')
    .map((m) => ({ member: m.member, open: () => openCab(m.e, `${name}!${m.member}`) })), run);
  for (const e of members) {
    const { member } = e;
    const role = classifyMember(member).role;
    if (role === 'psf') run.notes.push(`${member}: not read; container index sources addressed by PSF byte range are not checked`);
    if (!PACKAGE_ROLES.has(role)) continue;
    const where = `${name}!${member}`;
    if (/\.wim$/i.test(member)) {
      found++;
      await verifyPayloadWim(file, outer, e.e, member, run);
    } else if (/\.cab$/i.test(member)) {
      found++;
      await verifyCabinet(await openCab(e.e, where), member, run);
    } else {
      run.notes.push(`${member}: package member that is neither a .cab nor a .wim, not verified`);
    }
  }
  if (found === 0) {
    const list = new CheckList('.');
    list.notChecked('.', 'package', 'nothing-declared', 'not checked: no update.mum at the image root and no package member (.cab or payload .wim)');
    run.checks.push(...list.checks);
  }
}

/** A file of an extracted WIM image: its package-relative name and where it was extracted. */
interface TreeFile {
  readonly name: string;
  readonly path: string;
}

async function tempDir(root: string): Promise<string> {
  try {
    return await mkdtemp(path.join(root, 'msu-verify-wim-'));
  } catch (err) {
    throw ioError(err, root, 'create a temp directory');
  }
}

/** Extract image 1 of `wim` into a private temp directory and verify its files as one package. */
async function verifyWimImage(wim: string, where: string, member: string, container: string, run: Run, dir?: string): Promise<void> {
  const own = dir === undefined;
  const base = dir ?? await tempDir(run.tempRoot);
  try {
    const tree = path.join(base, 'tree');
    run.progress(member, 'wim');
    const extracted = (await wimExtract(wim, 1, ['/'], tree, { noGlobs: true, strict: true, onProgress: (p) => run.progress(member, 'wim', p.percent, 100) }).catch(naming<{ files: string[] }>(where))).files;
    const pkg: PackageFiles<TreeFile> = {
      container,
      files: extracted.map((rel) => ({ name: rel.split('/').join('\\'), path: path.join(tree, ...rel.split('/')) })),
      read: async (f) => {
        try {
          return await readFile(f.path);
        } catch (err) {
          throw ioError(err, `${where}!${f.name}`);
        }
      },
    };
    await verifyFiles(pkg, member, new CheckList(member), run);
  } finally {
    if (own) await rm(base, { recursive: true, force: true });
  }
}

/**
 * The LCU payload `.wim` of a WIM MSU: wimlib reads a WIM only from a file, so the member is
 * copied into a private temp directory, checked (`wimlib-imagex verify`), its image 1 extracted
 * there and verified; the directory is removed afterwards, also on failure.
 */
async function verifyPayloadWim(file: string, outer: FileSource, e: WimStreamEntry, member: string, run: Run): Promise<void> {
  const where = `${outer.name}!${member}`;
  const dir = await tempDir(run.tempRoot);
  try {
    const copy = await copyWimMsuMember(file, outer, e, dir, (p) => run.progress(member, 'copy', p.done, p.total)).catch(naming<string>(where));
    const list = new CheckList(member);
    run.progress(member, 'wim');
    const intact = await checkWimIntegrity(copy, list, '[WIM]');
    run.checks.push(...list.checks);
    if (intact) {
      await verifyWimImage(copy, where, member, 'payload WIM', run, dir);
    }
    await rm(copy, { force: true });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Exit code for a report: 0 all verified, 1 any mismatch, EXIT.unchecked when something was not checked (0 with allowUnchecked). */
export function verifyExitCode(r: Pick<VerifyReport, 'outcome'>, opts: { allowUnchecked?: boolean } = {}): number {
  if (r.outcome === 'mismatch') return EXIT.mismatch;
  if (r.outcome === 'not-checked' && !opts.allowUnchecked) return EXIT.unchecked;
  return EXIT.ok;
}

const OUTCOME_TEXT: Record<VerifyOutcome, string> = { verified: 'OK', mismatch: 'MISMATCH', 'not-checked': 'NOT CHECKED' };

/** Human text for a verify report: packages, every mismatch and not-checked item, then one line of counts. */
export function formatVerifyReport(r: VerifyReport): string {
  const lines = [`${r.file}: ${OUTCOME_TEXT[r.outcome]}`];
  for (const p of r.packages) {
    lines.push(`  ${p.member} (${p.container}): ${p.catalogs} catalog(s), ${p.signatures.intact} with an intact signature; ${p.counts.verified} verified, ${p.counts.mismatch} mismatch, ${p.counts.notChecked} not checked`);
  }
  for (const m of r.checks.filter((c) => c.outcome === 'mismatch')) {
    lines.push(`  MISMATCH ${m.check}: ${m.file}: ${m.detail}${m.expected !== undefined ? ` (expected ${m.expected}, got ${m.actual})` : ''}`);
  }
  // Not-checked items grouped by reason, so a package with hundreds of deltas stays readable.
  const byReason = new Map<string, VerifyCheck[]>();
  for (const c of r.checks.filter((x) => x.outcome === 'not-checked')) {
    const k = c.reason ?? 'unsupported';
    byReason.set(k, [...(byReason.get(k) ?? []), c]);
  }
  for (const [reason, cs] of [...byReason].sort((a, b) => cmp(a[0], b[0]))) {
    lines.push(`  NOT CHECKED (${REASON_TEXT[reason as keyof typeof REASON_TEXT] ?? reason}): ${cs.length} check(s)`);
    for (const c of cs.slice(0, 20)) lines.push(`    ${c.check}: ${c.file}`);
    if (cs.length > 20) lines.push(`    … and ${cs.length - 20} more (--json lists every check)`);
  }
  for (const n of r.notes) lines.push(`  note: ${n}`);
  lines.push('  (catalog signatures are checked over the content, not chained to a Microsoft root: a pass means the package is as its signer signed it)');
  lines.push(`verified ${r.counts.verified}, mismatch ${r.counts.mismatch}, not checked ${r.counts.notChecked}`);
  return lines.join('\n') + '\n';
}
