import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Cabinet, type CabEntry } from '../cab/cabinet.js';
import { FormatError, ioError, MsuError } from '../errors.js';
import { detectContainer, findPackageMum, openMemberCab } from '../msu/inspect.js';
import { classifyMember, PACKAGE_ROLES } from '../msu/members.js';
import { copyWimMsuMember } from '../msu/wim-msu.js';
import { BufferSource, FileSource, SliceSource, type ByteSource } from '../util/source.js';
import { wimDirDetailed, wimReadFile, type WimStreamEntry } from '../wim/streams.js';
import { wimExtract } from '../wim/wimlib.js';
import { catalogHasDigest, readCatalog, type Catalog } from '../cbs/catalog.js';
import { parseContainerIndex, type CixHash, type ContainerIndex } from '../cbs/cix.js';
import { parseComponentManifest } from '../cbs/manifest.js';
import { byCode } from '../cbs/plan-rules.js';

/**
 * Offline integrity check of an update package: every hash the package itself declares is
 * recomputed over the bytes it ships, and each catalog's signature is checked over the
 * catalog's content. The signing certificate is not chained to a Microsoft root (no trust
 * store offline): a pass means "as its signer signed it", not "signed by Microsoft".
 */
export const VERIFY_SCHEMA = 'msu-toolkit/verify@1';

export type VerifyCheck =
  | 'catalog-member'      // a .mum/.manifest whose SHA-1 and SHA-256 are in no catalog of the package
  | 'catalog-unreadable'
  | 'catalog-signature'   // the catalog's signature does not verify over its content (chain not checked)
  | 'cix-unreadable'
  | 'cix-source-missing'  // a Source name that is not a member of the cab
  | 'cix-source-hash'     // stored member bytes differ from Source/Hash
  | 'cix-file-hash'       // RAW source: the member is the target file, so File/Hash must match too
  | 'cix-length'          // RAW source: member size differs from File@length
  | 'manifest-file-hash'; // a component manifest's file hash differs from the cix hash of that file (same algorithm)

export interface VerifyMismatch {
  /** `member!path` inside the package (member is `.` for a bare cab). */
  file: string;
  check: VerifyCheck;
  detail: string;
  expected?: string;
  actual?: string;
}

export interface VerifyPackageCounts {
  /** Member of the bundle (`.` for a bare cab). */
  member: string;
  catalogs: number;
  catalogEntries: number;
  /** Catalog signatures: intact (verifies over the content, chain not checked), broken, or absent. */
  signatures: { intact: number; broken: number; unsigned: number };
  /** .mum and .manifest files checked against the catalogs, and how many were found. */
  signed: { checked: number; found: number };
  cix: {
    indexes: number;
    files: number;
    /** RAW sources whose member hash, target hash and length were recomputed. */
    rawChecked: number;
    /** Delta (PA30/PA31/PA19) members whose Source hash was recomputed. */
    deltaSourcesChecked: number;
    /** Target hashes of delta files (need the delta applied) and PSF-addressed sources (bytes outside the package). */
    notChecked: number;
  };
  /** Component manifest file hashes compared with the cix hash of the same file. */
  manifestFiles: { checked: number; notChecked: number };
}

export interface VerifyReport {
  schema: typeof VERIFY_SCHEMA;
  file: string;
  ok: boolean;
  packages: VerifyPackageCounts[];
  mismatches: VerifyMismatch[];
  notes: string[];
}

const ALGS: Record<string, string> = { SHA1: 'sha1', SHA256: 'sha256', SHA384: 'sha384', SHA512: 'sha512', MD5: 'md5' };

function digest(alg: string, data: Uint8Array): string | undefined {
  const a = ALGS[alg.toUpperCase().replace(/-/g, '')];
  return a ? createHash(a).update(data).digest('hex') : undefined;
}

const norm = (n: string): string => n.replace(/\//g, '\\').toLowerCase();

/**
 * The files of one CBS package, wherever they live (a cabinet, an extracted payload WIM):
 * the checks below only need names and bytes.
 */
export interface PackageFiles<F extends { readonly name: string } = { readonly name: string }> {
  /** What holds the files, for messages ("cabinet", "payload WIM"). */
  container: string;
  /** Names are relative and backslash-separated, as CBS writes them. */
  files: readonly F[];
  read(f: F): Promise<Uint8Array>;
}

function cabinetFiles(cab: Cabinet): PackageFiles<CabEntry> {
  return { container: 'cabinet', files: cab.entries, read: (e) => cab.readFile(e) };
}

async function verifyFiles<F extends { readonly name: string }>(pkg: PackageFiles<F>, member: string, mismatches: VerifyMismatch[], notes: string[]): Promise<VerifyPackageCounts> {
  const prefix = member === '.' ? '' : `${member}!`;
  const counts: VerifyPackageCounts = {
    member, catalogs: 0, catalogEntries: 0, signatures: { intact: 0, broken: 0, unsigned: 0 }, signed: { checked: 0, found: 0 },
    cix: { indexes: 0, files: 0, rawChecked: 0, deltaSourcesChecked: 0, notChecked: 0 },
    manifestFiles: { checked: 0, notChecked: 0 },
  };
  const byName = new Map<string, F>();
  for (const e of pkg.files) byName.set(norm(e.name), e);
  const entries = [...pkg.files].sort((a, b) => byCode(a.name, b.name));
  const cache = new Map<F, Uint8Array>();
  const read = async (e: F): Promise<Uint8Array> => {
    let b = cache.get(e);
    if (!b) {
      b = await pkg.read(e);
      // Metadata is small and read twice (catalog and cix checks); payload is not kept.
      if (b.length <= 1 << 20) cache.set(e, b);
    }
    return b;
  };

  const catalogs: Catalog[] = [];
  for (const e of entries.filter((x) => /\.cat$/i.test(x.name))) {
    try {
      const { catalog: cat, signature: sig } = await readCatalog(await read(e), `${prefix}${e.name}`);
      catalogs.push(cat);
      counts.catalogEntries += cat.entries.length;
      counts.signatures[sig.state]++;
      if (sig.state === 'broken') {
        mismatches.push({ file: `${prefix}${e.name}`, check: 'catalog-signature', detail: `signature${sig.signer ? ` of ${sig.signer}` : ''} does not verify: ${sig.reason ?? 'unknown reason'}` });
      } else if (sig.state === 'unsigned') {
        notes.push(`${prefix}${e.name}: the catalog carries no signature`);
      }
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      mismatches.push({ file: `${prefix}${e.name}`, check: 'catalog-unreadable', detail: err.message });
    }
  }
  counts.catalogs = catalogs.length;

  for (const e of entries.filter((x) => /\.(mum|manifest)$/i.test(x.name))) {
    const data = await read(e);
    const sha1 = createHash('sha1').update(data).digest('hex');
    const sha256 = createHash('sha256').update(data).digest('hex');
    counts.signed.checked++;
    if (catalogs.some((c) => catalogHasDigest(c, sha256) || catalogHasDigest(c, sha1))) counts.signed.found++;
    else {
      mismatches.push({
        file: `${prefix}${e.name}`, check: 'catalog-member', actual: sha256,
        detail: `neither its SHA-256 ${sha256} nor its SHA-1 ${sha1} is listed in the package's ${catalogs.length} catalog(s)`,
      });
    }
  }

  const cixFiles = new Map<string, CixHash>();
  for (const e of entries.filter((x) => /\.cix\.xml$/i.test(x.name))) {
    let cix: ContainerIndex;
    try {
      cix = parseContainerIndex(await read(e), `${prefix}${e.name}`);
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      mismatches.push({ file: `${prefix}${e.name}`, check: 'cix-unreadable', detail: err.message });
      continue;
    }
    counts.cix.indexes++;
    for (const f of cix.files) {
      counts.cix.files++;
      if (f.hash) cixFiles.set(norm(f.name), f.hash);
      const src = f.source;
      const where = `${prefix}${f.name}`;
      if (!src || src.name === undefined) {
        counts.cix.notChecked++;
        continue;
      }
      const m = byName.get(norm(src.name));
      if (!m) {
        mismatches.push({ file: where, check: 'cix-source-missing', detail: `${e.name} names source member ${JSON.stringify(src.name)}, which the ${pkg.container} does not hold` });
        continue;
      }
      const data = await read(m);
      const raw = src.type.toUpperCase() === 'RAW';
      if (src.hash) {
        const got = digest(src.hash.alg, data);
        if (got === undefined) notes.push(`${where}: hash algorithm ${src.hash.alg} not supported, source not checked`);
        else if (got !== src.hash.value) {
          mismatches.push({ file: `${prefix}${m.name}`, check: 'cix-source-hash', expected: src.hash.value, actual: got, detail: `${src.hash.alg} of the stored ${src.type} source of ${f.name} differs from ${e.name}` });
        }
      }
      if (raw) {
        counts.cix.rawChecked++;
        if (data.length !== f.length) {
          mismatches.push({ file: `${prefix}${m.name}`, check: 'cix-length', expected: String(f.length), actual: String(data.length), detail: `RAW source of ${f.name} has ${data.length} bytes, ${e.name} says ${f.length}` });
        }
        if (f.hash) {
          const got = digest(f.hash.alg, data);
          if (got !== undefined && got !== f.hash.value) {
            mismatches.push({ file: `${prefix}${m.name}`, check: 'cix-file-hash', expected: f.hash.value, actual: got, detail: `${f.hash.alg} of ${f.name} (stored RAW) differs from ${e.name}` });
          }
        }
      } else {
        if (src.hash) counts.cix.deltaSourcesChecked++;
        counts.cix.notChecked++;
      }
    }
  }

  // Component manifests hash the files as installed; the cix hashes the same target files.
  for (const e of entries.filter((x) => /\.manifest$/i.test(x.name) && !/[\\/]/.test(x.name))) {
    let man;
    try {
      man = parseComponentManifest(await read(e), `${prefix}${e.name}`);
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      notes.push(`${prefix}${e.name}: file hashes not checked: ${err.message}`);
      continue;
    }
    const dir = e.name.replace(/\.manifest$/i, '');
    for (const f of man.files) {
      if (!f.hash) continue;
      const cixHash = cixFiles.get(norm(`${dir}\\${f.name}`));
      if (!cixHash || cixHash.alg.toLowerCase().replace(/-/g, '') !== f.hash.alg) {
        counts.manifestFiles.notChecked++;
        continue;
      }
      counts.manifestFiles.checked++;
      if (cixHash.value !== f.hash.digestHex) {
        mismatches.push({ file: `${prefix}${e.name}`, check: 'manifest-file-hash', expected: f.hash.digestHex, actual: cixHash.value, detail: `hash of ${f.name} differs from the container index` });
      }
    }
  }
  return counts;
}

export interface VerifyOptions {
  /** Name used in the report and in errors (default: `file`). */
  displayName?: string;
  /** Where a WIM MSU's payload .wim is copied and extracted (default: os.tmpdir()); always cleaned up. */
  tempRoot?: string;
}

/** Verify a .cab, a cabinet-based .msu or a WIM-based .msu. */
export async function verifyPackage(file: string, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const name = opts.displayName ?? file;
  const mismatches: VerifyMismatch[] = [];
  const notes: string[] = [];
  const packages: VerifyPackageCounts[] = [];
  const src = await FileSource.open(file, name);
  try {
    const kind = detectContainer(await src.read(0, Math.min(8, src.size), 'signature'));
    if (kind === 'wim') {
      packages.push(...await verifyWimMsu(file, src, opts.tempRoot ?? os.tmpdir(), mismatches, notes));
    } else if (kind !== 'cab') {
      throw new FormatError('E_NOT_PACKAGE', 'not an MSU or CAB package (no MSCF or MSWIM signature)', { file: name });
    } else {
      const cab = await Cabinet.open(src);
      const bundleMembers = cab.entries.filter((e) => PACKAGE_ROLES.has(classifyMember(e.name).role) && /\.cab$/i.test(e.name));
      if (findPackageMum(cab.entries) || bundleMembers.length === 0) {
        packages.push(await verifyFiles(cabinetFiles(cab), '.', mismatches, notes));
      } else {
        for (const e of [...bundleMembers].sort((a, b) => byCode(a.name, b.name))) {
          const inner = await openMemberCab(cab, e);
          packages.push(await verifyFiles(cabinetFiles(inner), e.name, mismatches, notes));
        }
      }
    }
  } finally {
    await src.close().catch(() => undefined);
  }
  mismatches.sort((a, b) => byCode(a.file, b.file) || byCode(a.check, b.check));
  return { schema: VERIFY_SCHEMA, file: path.basename(name), ok: mismatches.length === 0, packages, mismatches, notes };
}

/** Put `where` on a failure from a step that only knew a path (wimlib runs on temp copies). */
function naming<T>(where: string): (err: unknown) => T {
  return (err) => {
    if (err instanceof MsuError) err.file = where;
    throw err;
  };
}

/**
 * WIM-based MSU (Windows 11 build 25336+): each package member is verified like a package cab.
 * `.cab` members are opened as cabinets (in place when stored as-is); the LCU payload `.wim`
 * is extracted (image 1) into a private temp directory and its files are verified. The `.psf`
 * beside it is not read: container index sources that point into it are counted notChecked.
 */
async function verifyWimMsu(file: string, outer: FileSource, tempRoot: string, mismatches: VerifyMismatch[], notes: string[]): Promise<VerifyPackageCounts[]> {
  const name = outer.name;
  const entries = (await wimDirDetailed(file, 1).catch(naming<WimStreamEntry[]>(name))).filter((e) => !e.isDirectory);
  const out: VerifyPackageCounts[] = [];
  for (const e of entries.map((x) => ({ e: x, member: x.path.replace(/^\//, '') })).sort((a, b) => byCode(a.member, b.member))) {
    const { member } = e;
    const role = classifyMember(member).role;
    if (role === 'psf') notes.push(`${member}: not read; container index sources addressed by PSF byte range are counted as not checked`);
    if (!PACKAGE_ROLES.has(role)) continue;
    const where = `${name}!${member}`;
    if (/\.wim$/i.test(member)) {
      out.push(await verifyPayloadWim(file, outer, e.e, member, tempRoot, mismatches, notes));
    } else if (/\.cab$/i.test(member)) {
      const bytes: ByteSource = e.e.storedInPlace
        ? new SliceSource(outer, e.e.offset, e.e.size, where)
        : new BufferSource(await wimReadFile(file, 1, e.e.path).catch(naming<Uint8Array>(where)), where);
      out.push(await verifyFiles(cabinetFiles(await Cabinet.open(bytes)), member, mismatches, notes));
    } else {
      notes.push(`${member}: package member that is neither a .cab nor a .wim, not verified`);
    }
  }
  if (out.length === 0) notes.push('no package member (.cab or payload .wim) in this WIM MSU');
  return out;
}

/** A file of an extracted payload WIM: its package-relative name and where it was extracted. */
interface TreeFile {
  readonly name: string;
  readonly path: string;
}

async function verifyPayloadWim(
  file: string, outer: FileSource, e: WimStreamEntry, member: string, tempRoot: string, mismatches: VerifyMismatch[], notes: string[],
): Promise<VerifyPackageCounts> {
  const where = `${outer.name}!${member}`;
  let dir: string;
  try {
    dir = await mkdtemp(path.join(tempRoot, 'msu-verify-wim-'));
  } catch (err) {
    throw ioError(err, tempRoot, 'create a temp directory');
  }
  try {
    const tree = path.join(dir, 'tree');
    const extracted = await (async () => {
      // wimlib reads a WIM only from a file: copy the member out, extract image 1, drop the copy.
      const copy = await copyWimMsuMember(file, outer, e, dir);
      const r = await wimExtract(copy, 1, ['/'], tree, { noGlobs: true, strict: true });
      await rm(copy, { force: true });
      return r.files;
    })().catch(naming<string[]>(where));
    const pkg: PackageFiles<TreeFile> = {
      container: 'payload WIM',
      files: extracted.map((rel) => ({ name: rel.split('/').join('\\'), path: path.join(tree, ...rel.split('/')) })),
      read: async (f) => {
        try {
          return await readFile(f.path);
        } catch (err) {
          throw ioError(err, `${where}!${f.name}`);
        }
      },
    };
    return await verifyFiles(pkg, member, mismatches, notes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Human text for a verify report. */
export function formatVerifyReport(r: VerifyReport): string {
  const lines = [`${r.file}: ${r.ok ? 'OK' : `${r.mismatches.length} mismatch(es)`}`];
  for (const p of r.packages) {
    lines.push(`  ${p.member}: ${p.catalogs} catalog(s), ${p.signatures.intact} with an intact signature; ${p.signed.found}/${p.signed.checked} .mum/.manifest listed in them; cix ${p.cix.files} file(s): ${p.cix.rawChecked} RAW checked, ${p.cix.deltaSourcesChecked} delta sources checked, ${p.cix.notChecked} not checkable; manifest file hashes ${p.manifestFiles.checked} checked`);
  }
  for (const m of r.mismatches) lines.push(`  MISMATCH ${m.check}: ${m.file}: ${m.detail}${m.expected !== undefined ? ` (expected ${m.expected}, got ${m.actual})` : ''}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  lines.push('  (catalog signatures are checked over the content, not chained to a Microsoft root: a pass means the package is as its signer signed it)');
  return lines.join('\n') + '\n';
}
