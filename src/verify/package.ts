import { byCode as cmp } from '../util/compare.js';
import { createHash } from 'node:crypto';
import { catalogHasDigest, readCatalog, type Catalog } from '../cbs/catalog.js';
import { parseContainerIndex, type ContainerIndex } from '../cbs/container-index.js';
import { FILEHASHES_NAME, parseFileHashes } from '../cbs/filehashes.js';
import { keyform } from '../cbs/keyform.js';
import { parseComponentManifest, type ComponentManifest } from '../cbs/manifest.js';
import { parseMum, type MumPackage } from '../cbs/mum.js';
import { baseManifestFromWcp, decodeDcmManifest, isDcmManifest } from '../delta/index.js';
import { MsuError } from '../errors.js';
import { applyForCheck, checkContainerIndex, deltaPrecheck, type Rebuilt } from './index-check.js';
import { digestHex, nodeHash } from './digest.js';
import { REASON_TEXT, type CheckList } from './model.js';

/**
 * The files of one CBS package, wherever they live (a cabinet, an extracted WIM image): the checks
 * only need names and bytes.
 */
export interface PackageFiles<F extends { readonly name: string } = { readonly name: string }> {
  /** What holds the files, for messages ("cabinet", "payload WIM"). */
  container: string;
  /** Names are relative and backslash-separated, as CBS writes them. */
  files: readonly F[];
  /** The bytes, or undefined when they cannot be decoded (already reported as a mismatch). */
  read(f: F): Promise<Uint8Array | undefined>;
  /**
   * Size and digest (lowercase hex; `alg` as CBS spells it) when known without reading the bytes
   * again, e.g. hashed while a big folder was decoded; undefined: the checks hash `read`'s bytes.
   */
  digest?(f: F, alg: string): { size: number; hex: string } | undefined;
}

export interface PackageContext {
  /** The base manifest DCM-compressed component manifests are deltas against. */
  baseManifest?: Uint8Array;
  /** Where notes about the run go (e.g. where the base manifest came from). */
  notes?: string[];
}

const WCP = /(^|\\)wcp\.dll$/i;

/**
 * The base manifest from the package's own servicing stack: the first wcp.dll among `files` (by
 * name) that is a PE image carrying one. A wcp.dll shipped as a delta (f\\, r\\) is skipped.
 */
export async function baseManifestFromFiles<F extends { readonly name: string }>(
  files: readonly F[], read: (f: F) => Promise<Uint8Array | undefined>,
): Promise<{ bytes: Uint8Array; from: string } | undefined> {
  for (const f of files.filter((x) => WCP.test(x.name) && !/\\[fr]\\wcp\.dll$/i.test(x.name)).sort((a, b) => cmp(a.name, b.name))) {
    const data = await read(f);
    if (!data) continue;
    try {
      return { bytes: baseManifestFromWcp(data), from: f.name };
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
    }
  }
  return undefined;
}

export const normName = (n: string): string => n.replace(/\//g, '\\').toLowerCase();

export interface PackageStats {
  catalogs: number;
  catalogEntries: number;
  signatures: { intact: number; broken: number; unsigned: number };
}

/** Run every package-level check over the files of one package. */
export async function checkPackageFiles<F extends { readonly name: string }>(
  pkg: PackageFiles<F>, list: CheckList, ctx: PackageContext,
): Promise<PackageStats> {
  const stats: PackageStats = { catalogs: 0, catalogEntries: 0, signatures: { intact: 0, broken: 0, unsigned: 0 } };
  const before = list.checks.length;
  const byName = new Map<string, F>();
  for (const e of pkg.files) byName.set(normName(e.name), e);
  const entries = [...pkg.files].sort((a, b) => cmp(a.name, b.name));
  const cache = new Map<F, Uint8Array | undefined>();
  const read = async (e: F): Promise<Uint8Array | undefined> => {
    if (cache.has(e)) return cache.get(e);
    const b = await pkg.read(e);
    // Metadata is small and read more than once; payload is not kept.
    if (!b || b.length <= 1 << 20) cache.set(e, b);
    return b;
  };
  /** Size and digest of a member: from pkg.digest when it has them, else over the bytes. */
  const hashOf = async (e: F, alg: string): Promise<{ size: number; hex: string } | undefined> => {
    const known = pkg.digest?.(e, alg);
    if (known) return known;
    const b = await read(e);
    return b ? { size: b.length, hex: digestHex(alg, b)! } : undefined;
  };

  // Catalogs: their signatures, then every .mum/.manifest/.cat against them.
  const catalogs: Catalog[] = [];
  const catalogFiles: F[] = [];
  for (const e of entries.filter((x) => /\.cat$/i.test(x.name))) {
    const data = await read(e);
    if (!data) {
      list.notChecked(e.name, 'catalog-signature', 'data-unreadable');
      continue;
    }
    try {
      const { catalog: cat, signature: sig } = await readCatalog(data, e.name);
      catalogs.push(cat);
      catalogFiles.push(e);
      stats.catalogEntries += cat.entries.length;
      stats.signatures[sig.state]++;
      const signer = sig.signer ? ` of ${sig.signer}` : '';
      if (sig.state === 'intact') list.verified(e.name, 'catalog-signature', `signature${signer} verifies over the content (chain to a Microsoft root not checked offline)`);
      else if (sig.state === 'broken') list.mismatch(e.name, 'catalog-signature', `signature${signer} does not verify: ${sig.reason ?? 'unknown reason'}`);
      else list.notChecked(e.name, 'catalog-signature', 'catalog-unsigned', 'not checked: catalog unsigned (the catalog carries no signature)');
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      list.mismatch(e.name, 'catalog-unreadable', err.message);
    }
  }
  stats.catalogs = catalogs.length;
  const listed = (data: Uint8Array): boolean => {
    const sha1 = createHash('sha1').update(data).digest('hex');
    const sha256 = createHash('sha256').update(data).digest('hex');
    return catalogs.some((c) => catalogHasDigest(c, sha256) || catalogHasDigest(c, sha1));
  };

  // No base manifest given: the package's own servicing stack may carry wcp.dll.
  let baseManifest = ctx.baseManifest;
  if (!baseManifest) {
    const own = await baseManifestFromFiles(entries, read);
    if (own) {
      baseManifest = own.bytes;
      ctx.notes?.push(`${list.pkg === '.' ? '' : `${list.pkg}!`}${own.from}: base manifest for DCM manifests taken from this wcp.dll`);
    }
  }

  // Component manifests as XML (decoded when DCM), for the catalog check and the payload check.
  const decoded = new Map<F, Uint8Array>();
  const dcm = new Set<F>();
  const undecoded = new Map<F, { reason: 'no-base-manifest' | 'no-delta-engine' | 'unsupported' | 'data-unreadable'; detail?: string }>();
  for (const e of entries.filter((x) => /\.manifest$/i.test(x.name))) {
    const data = await read(e);
    if (!data) {
      undecoded.set(e, { reason: 'data-unreadable' });
      continue;
    }
    if (!isDcmManifest(data)) {
      decoded.set(e, data);
      continue;
    }
    if (!baseManifest) {
      undecoded.set(e, { reason: 'no-base-manifest' });
      list.notChecked(e.name, 'manifest-decode', 'no-base-manifest');
      continue;
    }
    try {
      decoded.set(e, decodeDcmManifest(data, baseManifest));
      dcm.add(e);
      list.verified(e.name, 'manifest-decode', 'DCM manifest decoded against the base manifest (the catalogs then vouch for the result)');
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      if (err.code === 'E_DELTA_NOT_IMPLEMENTED') {
        undecoded.set(e, { reason: 'no-delta-engine' });
        list.notChecked(e.name, 'manifest-decode', 'no-delta-engine');
      } else if (err.kind === 'unsupported') {
        undecoded.set(e, { reason: 'unsupported', detail: err.message });
        list.notChecked(e.name, 'manifest-decode', 'unsupported', `not checked: ${err.message}`);
      } else {
        undecoded.set(e, { reason: 'unsupported', detail: err.message });
        list.mismatch(e.name, 'manifest-decode', `DCM manifest does not decode against the base manifest: ${err.message}`);
      }
    }
  }

  for (const e of entries.filter((x) => /\.(mum|manifest|cat)$/i.test(x.name))) {
    const isCat = /\.cat$/i.test(e.name);
    const data = /\.manifest$/i.test(e.name) ? decoded.get(e) : await read(e);
    if (!data) {
      const u = undecoded.get(e);
      list.notChecked(e.name, 'catalog-member', u?.reason ?? 'data-unreadable');
      continue;
    }
    if (listed(data)) {
      list.verified(e.name, 'catalog-member', `listed in a catalog of the package${dcm.has(e) ? ' (decoded form)' : ''}`);
    } else if (isCat) {
      // A catalog is rarely listed by another: its own signature (checked above) covers it.
      continue;
    } else {
      const sha256 = createHash('sha256').update(data).digest('hex');
      const sha1 = createHash('sha1').update(data).digest('hex');
      list.mismatch(e.name, 'catalog-member', `neither its SHA-256 ${sha256} nor its SHA-1 ${sha1} is listed in the package's ${catalogs.length} catalog(s)`, { actual: sha256 });
    }
  }

  // Each component a .mum installs has its manifest in the package (`<keyform>.manifest`): a
  // package whose manifest and payload were both taken out leaves no other trace.
  for (const e of entries.filter((x) => /\.mum$/i.test(x.name) && !/[\\/]/.test(x.name))) {
    const data = await read(e);
    if (!data) continue; // reported as data-unreadable by the catalog check
    let mum: MumPackage;
    try {
      mum = parseMum(data, e.name);
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      list.notChecked(e.name, 'mum-components', 'unsupported', `not checked: the .mum does not parse here, so its components are not known: ${err.message}`);
      continue;
    }
    for (const u of mum.package?.updates ?? []) {
      if (u.kind !== 'component' || !u.identity) continue;
      const name = `${keyform(u.identity)}.manifest`;
      // not proof of tampering (a component may be delivered otherwise), but nothing of it is checked
      if (!byName.has(normName(name))) list.notChecked(name, 'mum-components', 'not-in-package', `not checked: ${e.name} installs this component; the ${pkg.container} does not hold its manifest`);
    }
  }

  /** Members that declare hashes (checked through what they declare) or are deltas a check used. */
  const declaring = new Set<string>();

  // $filehashes$.dat: every listed member, by size and hash as stored.
  const fh = byName.get(normName(FILEHASHES_NAME));
  if (fh) declaring.add(normName(fh.name));
  if (fh) {
    const data = await read(fh);
    let parsed;
    try {
      parsed = data ? parseFileHashes(data, fh.name) : undefined;
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      list.mismatch(fh.name, 'filehashes-unreadable', err.message);
    }
    if (!data) list.notChecked(fh.name, 'filehashes', 'data-unreadable');
    for (const h of parsed?.entries ?? []) {
      const m = byName.get(normName(h.name));
      if (!m) {
        list.mismatch(h.name, 'filehashes', `${FILEHASHES_NAME} line ${h.line} lists it, the ${pkg.container} does not hold it`);
        continue;
      }
      const b = await hashOf(m, h.alg);
      if (!b) {
        list.notChecked(m.name, 'filehashes', 'data-unreadable');
        continue;
      }
      if (b.size !== h.size) {
        list.mismatch(m.name, 'filehashes', `size differs from ${FILEHASHES_NAME} line ${h.line}`, { expected: String(h.size), actual: String(b.size) });
        continue;
      }
      list.compare(m.name, 'filehashes', h.digestHex, b.hex, `${h.alg} of the member against ${FILEHASHES_NAME} line ${h.line}`);
    }
  }

  // Container indexes: every File rebuilt as far as the delta engine allows.
  const targets = new Map<string, Rebuilt>();
  for (const e of entries.filter((x) => /\.cix\.xml$/i.test(x.name))) {
    const data = await read(e);
    if (!data) {
      list.notChecked(e.name, 'cix-unreadable', 'data-unreadable');
      continue;
    }
    let cix: ContainerIndex;
    try {
      cix = parseContainerIndex(data, e.name);
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      list.mismatch(e.name, 'cix-unreadable', err.message);
      continue;
    }
    declaring.add(normName(e.name));
    const got = await checkContainerIndex(cix, e.name, { container: pkg.container, member: (n) => byName.get(normName(n)), read }, list);
    for (const [name, r] of got) targets.set(normName(name), r);
  }

  // Component manifests declare the hash of each file they install.
  for (const e of entries.filter((x) => /\.manifest$/i.test(x.name) && !/[\\/]/.test(x.name))) {
    const xml = decoded.get(e);
    if (!xml) {
      const u = undecoded.get(e);
      list.notChecked(e.name, 'payload-hash', u?.reason ?? 'data-unreadable', `payload hashes not checked: ${u?.detail ?? (u ? `the manifest could not be decoded: ${u.reason}` : 'manifest unreadable')}`);
      continue;
    }
    let man: ComponentManifest;
    try {
      man = parseComponentManifest(xml, e.name);
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      list.mismatch(e.name, 'manifest-unreadable', err.message);
      continue;
    }
    const dir = e.name.replace(/\.manifest$/i, '');
    for (const f of man.files) {
      if (!f.hash) continue;
      const path = `${dir}\\${f.name}`;
      const member = byName.get(normName(path));
      const target = targets.get(normName(path));
      const what = `${f.hash.alg} declared by ${e.name}`;
      if (target) {
        // The container index rebuilds this file (from a RAW member, a delta or a copy).
        if (target.bytes) list.compare(path, 'payload-hash', f.hash.digestHex, digestHex(f.hash.alg, target.bytes)!, `${what} (file rebuilt from the container index)`);
        else {
          if (target.hash && nodeHash(target.hash.alg) === f.hash.alg) {
            list.compare(path, 'manifest-file-hash', f.hash.digestHex, target.hash.value, `${what} against the container index`);
          }
          list.notChecked(path, 'payload-hash', target.reason ?? 'unsupported', `not checked: ${target.detail ?? REASON_TEXT[target.reason ?? 'unsupported']}`);
        }
        continue;
      }
      if (member) {
        const b = await hashOf(member, f.hash.alg);
        if (!b) list.notChecked(path, 'payload-hash', 'data-unreadable');
        else list.compare(path, 'payload-hash', f.hash.digestHex, b.hex, what);
        continue;
      }
      // PSFX layout: n\ holds a delta against nothing (the whole file), f\ a forward delta against the target image's file.
      // Either is a member, or a File of the container index (expanded from the .psf).
      const nPath = `${dir}\\n\\${f.name}`;
      const nullDelta = byName.get(normName(nPath));
      const nTarget = targets.get(normName(nPath));
      if (nullDelta || nTarget) {
        declaring.add(normName(nPath));
        const d = nTarget ? nTarget.bytes : await read(nullDelta!);
        const r: Rebuilt = !d ? (nTarget && !nTarget.bytes ? nTarget : { reason: 'data-unreadable' })
          : (deltaPrecheck(d, nPath) ?? applyForCheck(d, null, undefined, nPath));
        if (r.bytes) list.compare(path, 'payload-hash', f.hash.digestHex, digestHex(f.hash.alg, r.bytes)!, `${what} (rebuilt from ${nPath})`);
        else if (r.error) list.mismatch(path, 'payload-hash', r.error);
        else list.notChecked(path, 'payload-hash', r.reason ?? 'unsupported', r.detail);
        continue;
      }
      if (byName.has(normName(`${dir}\\f\\${f.name}`)) || targets.has(normName(`${dir}\\f\\${f.name}`))) {
        declaring.add(normName(`${dir}\\f\\${f.name}`));
        list.notChecked(path, 'payload-hash', 'external-basis', 'not checked: shipped as a forward delta (f\\) against the file of the target image');
        continue;
      }
      list.notChecked(path, 'payload-hash', 'not-in-package', `not checked: ${e.name} declares it; the ${pkg.container} neither holds nor rebuilds it`);
    }
  }

  if (list.checks.length === before) {
    list.notChecked('.', 'package', 'nothing-declared', `not checked: nothing in this ${pkg.container} declares a hash (no catalog, .mum, manifest, container index or ${FILEHASHES_NAME})`);
    return stats;
  }
  // Every member no check above covered: a file added to the package, or one whose declaring
  // manifest was renamed or removed, must not pass unseen.
  const covered = new Set<string>(declaring);
  const prefix = list.pkg === '.' ? '' : `${list.pkg}!`;
  for (const c of list.checks.slice(before)) covered.add(normName(c.file.startsWith(prefix) ? c.file.slice(prefix.length) : c.file));
  for (const e of entries) {
    if (covered.has(normName(e.name))) continue;
    list.notChecked(e.name, 'undeclared', 'not-declared');
  }
  return stats;
}
