import type { CixFile, CixHash, ContainerIndex } from '../cbs/container-index.js';
import { applyDelta, readDeltaHeader } from '../delta/index.js';
import { MsuError } from '../errors.js';
import { REASON_TEXT, type CheckList, type NotCheckedReason } from './model.js';
import { digestHex, nodeHash } from './digest.js';

/** A File of a container index as far as it could be rebuilt. */
export interface Rebuilt {
  /** The target bytes (RAW member, delta output, or the bytes of the Basis a copy entry repeats). */
  bytes?: Uint8Array;
  /** Why there are no bytes. */
  reason?: NotCheckedReason;
  detail?: string;
  /** The delta could not be applied to bytes that should fit it: a mismatch. */
  error?: string;
  /** File/Hash as the index declares it. */
  hash?: CixHash;
}

export interface CixMembers<F> {
  container: string;
  member(name: string): F | undefined;
  read(f: F): Promise<Uint8Array | undefined>;
}

const RAW = 1;

/** What the header says before anything is applied: PE-aware and reverse deltas are not checked (phase 2). */
export function deltaPrecheck(data: Uint8Array, what: string): Rebuilt | undefined {
  let header;
  try {
    header = readDeltaHeader(data);
  } catch (err) {
    if (!(err instanceof MsuError) || err.kind === 'io') throw err;
    return { error: `${what} is not a readable delta: ${err.message}` };
  }
  if (header.reverse) return fail('reverse-delta');
  if (header.fileType !== undefined && header.fileType !== RAW) {
    const flags = header.flags !== undefined ? `, flags 0x${header.flags.toString(16)}` : '';
    return fail('pe-transforms', `not checked: PE transforms (phase 2): PE-aware delta (FileType ${header.fileTypeName ?? header.fileType}${flags})`);
  }
  return undefined;
}

/** Apply a delta for a check: the bytes, or why not (not checked), or a mismatch when it does not apply. */
export function applyForCheck(data: Uint8Array, basis: Uint8Array | null, maxTargetSize: number | undefined, what: string): Rebuilt {
  try {
    return { bytes: applyDelta(data, basis, maxTargetSize === undefined ? {} : { maxTargetSize }).target };
  } catch (err) {
    if (!(err instanceof MsuError) || err.kind === 'io') throw err;
    if (err.code === 'E_DELTA_PE') return fail('pe-transforms');
    if (err.code === 'E_DELTA_REVERSE') return fail('reverse-delta');
    if (err.code === 'E_DELTA_NOT_IMPLEMENTED') return fail('no-delta-engine');
    if (err.kind === 'unsupported') return fail('unsupported', `not checked: ${err.message}`);
    return { error: `${what} does not apply: ${err.message}` };
  }
}

function fail(reason: NotCheckedReason, detail?: string): Rebuilt {
  return detail === undefined ? { reason } : { reason, detail };
}

/**
 * Check one container index against the package: each Source's member and hash, each copy entry
 * (a Delta with only a Basis: the File repeats its Basis File), and each target rebuilt as far as
 * the delta engine allows (RAW members as they are; PA30/PA31 deltas applied to nothing or to
 * their rebuilt Basis), against File@length and File/Hash. Returns what was rebuilt, by File name.
 */
export async function checkContainerIndex<F extends { readonly name: string }>(
  cix: ContainerIndex, cixName: string, pkg: CixMembers<F>, list: CheckList,
): Promise<Map<string, Rebuilt>> {
  const byId = new Map<number, CixFile>(cix.files.map((f) => [f.id, f]));
  const memo = new Map<number, Rebuilt>();

  const rebuild = async (id: number, path: Set<number>): Promise<Rebuilt> => {
    const done = memo.get(id);
    if (done) return done;
    const f = byId.get(id);
    if (!f) return fail('basis-not-rebuilt', `Basis File ${id} is not in ${cixName}`);
    if (path.has(id)) return fail('basis-not-rebuilt', `Basis cycle through File ${id}`);
    path.add(id);
    const r = { ...(await rebuildOne(f, path)), ...(f.hash ? { hash: f.hash } : {}) };
    path.delete(id);
    memo.set(id, r);
    return r;
  };

  const fromBasis = async (f: CixFile, path: Set<number>): Promise<Rebuilt | Uint8Array | null> => {
    const b = f.basis;
    if (!b) return null;
    if (b.file === undefined) return fail('external-basis', `not checked: the delta applies to a file of the target image${b.hash ? ` (${b.hash.alg} ${b.hash.value})` : ''}`);
    const got = await rebuild(b.file, path);
    if (got.bytes) return got.bytes;
    const why = got.error ? `it does not rebuild: ${got.error}` : (got.detail ?? REASON_TEXT[got.reason ?? 'basis-not-rebuilt']);
    return fail(got.error ? 'basis-not-rebuilt' : (got.reason ?? 'basis-not-rebuilt'), `not checked: Basis File ${b.file}: ${why.replace(/^not checked: /, '')}`);
  };

  const rebuildOne = async (f: CixFile, path: Set<number>): Promise<Rebuilt> => {
    const src = f.source;
    if (!src) {
      // Copy entry: <Delta><Basis file="N"/></Delta>, the File is its Basis File again.
      const b = await fromBasis(f, path);
      if (b === null) return fail('unsupported', 'not checked: the File has neither a Source nor a Basis');
      return b instanceof Uint8Array ? { bytes: b } : b;
    }
    if (src.name === undefined) return fail('psf-not-read');
    const m = pkg.member(src.name);
    if (!m) return fail('data-unreadable', `not checked: source member ${JSON.stringify(src.name)} is missing`);
    const data = await pkg.read(m);
    if (!data) return fail('data-unreadable');
    if (src.type.toUpperCase() === 'RAW') return { bytes: data };
    const pre = deltaPrecheck(data, `${src.type} source ${src.name}`);
    if (pre) return pre;
    const basis = await fromBasis(f, path);
    if (basis !== null && !(basis instanceof Uint8Array)) return basis;
    return applyForCheck(data, basis, f.length, `${src.type} delta ${src.name}`);
  };

  const out = new Map<string, Rebuilt>();
  for (const f of cix.files) {
    const src = f.source;
    // The stored source: present, and as the index hashes it.
    if (src?.name !== undefined) {
      const m = pkg.member(src.name);
      if (!m) list.mismatch(f.name, 'cix-source-missing', `${cixName} names source member ${JSON.stringify(src.name)}, which the ${pkg.container} does not hold`);
      else if (src.hash) {
        const data = await pkg.read(m);
        const got = data && digestHex(src.hash.alg, data);
        if (!data) list.notChecked(m.name, 'cix-source-hash', 'data-unreadable');
        else if (got === undefined) list.notChecked(m.name, 'cix-source-hash', 'unsupported', `not checked: hash algorithm ${src.hash.alg} not supported`);
        else list.compare(m.name, 'cix-source-hash', src.hash.value, got, `${src.hash.alg} of the stored ${src.type} source of ${f.name} against ${cixName}`);
      }
    }
    // A copy entry must repeat its Basis exactly.
    if (!src && f.basis?.file !== undefined) {
      const b = byId.get(f.basis.file);
      if (!b) list.mismatch(f.name, 'cix-basis', `copy of Basis File ${f.basis.file}, which is not in ${cixName}`);
      else {
        const same = b.length === f.length && (!f.hash || !b.hash || (nodeHash(f.hash.alg) === nodeHash(b.hash.alg) && f.hash.value === b.hash.value));
        if (same) list.verified(f.name, 'cix-basis', `copy of File ${b.id} (${b.name}): length and hash equal its Basis`);
        else list.mismatch(f.name, 'cix-basis', `copy of File ${b.id} (${b.name}) but its length or hash differs from that File`, { expected: `${b.length} ${b.hash?.value ?? ''}`.trim(), actual: `${f.length} ${f.hash?.value ?? ''}`.trim() });
      }
    }
    const r = await rebuild(f.id, new Set());
    out.set(f.name, r);
    if (r.error) list.mismatch(f.name, 'cix-file-hash', r.error);
    else if (!r.bytes) list.notChecked(f.name, 'cix-file-hash', r.reason ?? 'unsupported', r.detail);
    else {
      if (r.bytes.length !== f.length) {
        list.mismatch(f.name, 'cix-length', `rebuilt ${r.bytes.length} bytes, ${cixName} says ${f.length}`, { expected: String(f.length), actual: String(r.bytes.length) });
      }
      if (!f.hash) continue;
      const got = digestHex(f.hash.alg, r.bytes);
      if (got === undefined) list.notChecked(f.name, 'cix-file-hash', 'unsupported', `not checked: hash algorithm ${f.hash.alg} not supported`);
      else list.compare(f.name, 'cix-file-hash', f.hash.value, got, `${f.hash.alg} of the rebuilt file against ${cixName}`);
    }
  }
  return out;
}
