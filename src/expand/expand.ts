/**
 * Express (PSF) expansion: every File of a ContainerIndex rebuilt from its Delta (docs/cli.md `msu expand`).
 * - RAW Source: the byte range of the `.psf`, copied in pieces (the `.psf` is never read whole).
 * - PA30/PA31 (and PA19) Source: the blob applied to an empty source (no Basis: baseless containers), to an
 *   earlier File's output (`<Basis file=N/>`), or to a file found under the basis directory (Basis known by
 *   length and hash). A blob that is a Compression-API container decodes straight to the target.
 * - A Delta with a Basis and no Source copies the basis (same length and hash).
 * Every File's length and hash are checked, mtimes come from `time`. Output is staged in a private directory
 * and moved into place at the end: a corrupt input or a hash mismatch leaves nothing behind. Files the engine
 * cannot rebuild yet (PE transforms, reverse deltas, unknown Source types) are reported as not expanded.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, readFile, rm, stat, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { CixFile, CixHash, ContainerIndex } from '../cbs/container-index.js';
import { applyDelta } from '../delta/index.js';
import { decodeCompressApiContainer, isCompressApiContainer } from '../delta/compress-api.js';
import { FormatError, ioError, MismatchError, MsuError, UnsupportedError } from '../errors.js';
import { StagedDir } from '../util/fsout.js';
import type { ByteSource } from '../util/source.js';
import { listFiles } from '../util/walk.js';

/** Pieces in which RAW ranges are copied: bounds memory whatever the file size. */
const COPY_PIECE = 1 << 20;
/** A delta blob is read whole (the engine needs it so); above this it is refused. */
const MAX_BLOB = 2 ** 31 - 1;

export type ExpandSourceKind = 'RAW' | 'PA30' | 'PA31' | 'PA19' | 'LZMS' | 'copy';

export interface ExpandedFile {
  id: number;
  name: string;
  length: number;
  source: ExpandSourceKind;
  /** none (baseless), `file <id>` (an earlier output) or `basis-dir` (found under --basis-dir). */
  basis: string;
  /** The File's declared hash, checked. Absent when the index declares none (length checked only). */
  hash?: CixHash;
}

export interface NotExpandedFile {
  id: number;
  name: string;
  /** 'unsupported' (a phase-2 feature or unknown Source type) or 'input' (a Basis that cannot be found). */
  kind: 'unsupported' | 'input';
  code: string;
  reason: string;
}

export interface ExpandReport {
  cix: string;
  /** The `.psf` read, or null when the index addresses cabinet members instead. */
  psf: string | null;
  files: number;
  bytes: number;
  expanded: ExpandedFile[];
  notExpanded: NotExpandedFile[];
}

export interface ExpandOptions {
  /** Folder searched for external Basis files (by the File's relative name, then by base name). */
  basisDir?: string;
  /** Called as bytes are produced (for a progress line). */
  onProgress?: (doneBytes: number, totalBytes: number, name: string) => void;
  /** Reads a member of the cabinet holding the index, for Sources addressed by name (`type="CAB"` indexes). */
  readMember?: (name: string) => Promise<Uint8Array | undefined>;
  /** Replace regular files of the same name already in the target (without it they are refused). */
  overwrite?: boolean;
  /** Called with the staging directory and the report before the files are moved into place; a throw aborts. */
  beforeCommit?: (staged: StagedDir, report: ExpandReport) => Promise<void>;
}

const HASH_ALGS: Record<string, string> = { SHA256: 'sha256', 'SHA-256': 'sha256', SHA1: 'sha1', 'SHA-1': 'sha1', SHA: 'sha1', MD5: 'md5' };

function hasher(h: CixHash | undefined): Hash | null {
  if (!h) return null;
  const alg = HASH_ALGS[h.alg.toUpperCase()];
  if (!alg) throw new UnsupportedError('E_EXPAND_HASH_ALG', `unsupported: hash algorithm ${h.alg}`);
  return createHash(alg);
}

/** Not expanded, but not fatal: reported in the list. */
class Skip extends Error {
  constructor(readonly kind: 'unsupported' | 'input', readonly code: string, message: string) {
    super(message);
  }
}

/** The order Files are rebuilt in: every `<Basis file=N>` before the File that needs it. */
function buildOrder(cix: ContainerIndex, where: string): CixFile[] {
  const byId = new Map(cix.files.map((f) => [f.id, f]));
  const state = new Map<number, 1 | 2>();
  const order: CixFile[] = [];
  for (const start of cix.files) {
    // Iterative DFS: a hostile chain of 100,000 Files must not overflow the stack.
    const stack: { f: CixFile; expanded: boolean }[] = [{ f: start, expanded: false }];
    while (stack.length) {
      const top = stack.pop()!;
      const s = state.get(top.f.id);
      if (top.expanded) {
        state.set(top.f.id, 2);
        order.push(top.f);
        continue;
      }
      if (s === 2) continue;
      if (s === 1) throw new FormatError('E_CIX_CYCLE', `File ${top.f.id} is its own Basis through a chain of Files`, { file: where, where: `File id=${top.f.id}` });
      state.set(top.f.id, 1);
      stack.push({ f: top.f, expanded: true });
      const b = top.f.basis?.file;
      if (b !== undefined) {
        const dep = byId.get(b);
        if (!dep) throw new FormatError('E_CIX_BASIS', `Basis names File ${b}, which the index does not have`, { file: where, where: `File id=${top.f.id}` });
        if (state.get(b) === 1) throw new FormatError('E_CIX_CYCLE', `File ${top.f.id} is its own Basis through a chain of Files`, { file: where, where: `File id=${top.f.id}` });
        if (state.get(b) !== 2) stack.push({ f: dep, expanded: false });
      }
    }
  }
  return order;
}

function sourceKind(blob: Uint8Array): ExpandSourceKind | null {
  if (isCompressApiContainer(blob)) return 'LZMS';
  const magicAt = (at: number) => String.fromCharCode(...blob.subarray(at, at + 4));
  for (const at of [0, 4]) {
    const m = blob.length >= at + 4 ? magicAt(at) : '';
    if (m === 'PA30' || m === 'PA31' || m === 'PA19') return m;
  }
  return null;
}

/**
 * Expand the Files of `cix` from `psf` into `dest`. Throws (leaving `dest` as it was) on corrupt input or a
 * hash mismatch; Files that cannot be rebuilt yet are listed in `notExpanded` and the others are written.
 */
export async function expandExpress(
  cix: ContainerIndex,
  cixOrigin: string,
  psf: ByteSource | null,
  dest: string,
  opts: ExpandOptions = {},
): Promise<ExpandReport> {
  const order = buildOrder(cix, cixOrigin);
  // Names are checked (and clashes found, as Windows sees them) before anything is written.
  const seen = new Map<string, number>();
  const total = cix.files.reduce((n, f) => n + f.length, 0);
  const staged = await StagedDir.create(dest, { overwrite: opts.overwrite === true });
  const report: ExpandReport = { cix: cixOrigin, psf: psf?.name ?? null, files: cix.files.length, bytes: 0, expanded: [], notExpanded: [] };
  const outPath = new Map<number, string>();
  const skipped = new Set<number>();
  let done = 0;
  const progress = (name: string) => opts.onProgress?.(done, total, name);
  let basisIndex: Map<string, string[]> | undefined;
  let basisBySize: Map<number, string[]> | undefined;

  try {
    for (const f of cix.files) {
      const where = `File id=${f.id}`;
      const rel = (() => {
        try {
          return staged.pathForSync(f.name, cixOrigin);
        } catch (err) {
          if (err instanceof MsuError) err.where ??= where;
          throw err;
        }
      })();
      const key = f.name.replace(/\//g, '\\').toLowerCase();
      const other = seen.get(key);
      if (other !== undefined) throw new FormatError('E_CIX_DUPLICATE_NAME', `File ${f.id} has the same name as File ${other}: ${f.name}`, { file: cixOrigin, where });
      seen.set(key, f.id);
      outPath.set(f.id, rel);
    }

    const findExternal = async (f: CixFile): Promise<Uint8Array> => {
      const b = f.basis!;
      if (!opts.basisDir) throw new Skip('input', 'E_EXPAND_NO_BASIS', `needs an external Basis (${describeBasis(b.length, b.hash)}); pass --basis-dir`);
      const candidates: string[] = [];
      const rel = f.name.replace(/\\/g, '/');
      candidates.push(rel);
      if (!basisIndex) {
        basisIndex = new Map();
        for (const p of await listFiles(opts.basisDir, opts.basisDir)) {
          const k = path.posix.basename(p).toLowerCase();
          const list = basisIndex.get(k) ?? [];
          list.push(p);
          basisIndex.set(k, list);
        }
      }
      candidates.push(...(basisIndex.get(path.posix.basename(rel).toLowerCase()) ?? []));
      // Last resort: any file of the Basis length (the hash decides), e.g. a basis under another name.
      if (b.length !== undefined && b.hash) {
        if (!basisBySize) {
          basisBySize = new Map();
          for (const list of basisIndex.values()) {
            for (const c of list) {
              try {
                const size = (await stat(path.join(opts.basisDir, c))).size;
                basisBySize.set(size, [...(basisBySize.get(size) ?? []), c]);
              } catch {
                // vanished or unreadable: not a candidate
              }
            }
          }
          for (const list of basisBySize.values()) list.sort();
        }
        candidates.push(...(basisBySize.get(b.length) ?? []));
      }
      for (const c of [...new Set(candidates)]) {
        const full = path.join(opts.basisDir, ...c.split('/').filter((p) => p !== '..' && p !== '.'));
        let st;
        try {
          st = await stat(full);
        } catch {
          continue;
        }
        if (!st.isFile() || (b.length !== undefined && st.size !== b.length)) continue;
        const bytes = new Uint8Array(await readFile(full));
        if (b.hash) {
          const h = hasher(b.hash);
          if (h && h.update(bytes).digest('hex') !== b.hash.value) continue;
        }
        return bytes;
      }
      throw new Skip('input', 'E_EXPAND_NO_BASIS', `no file under the basis directory matches its Basis (${describeBasis(b.length, b.hash)})`);
    };

    const basisBytes = async (f: CixFile): Promise<{ bytes: Uint8Array; label: string }> => {
      const b = f.basis!;
      if (b.file !== undefined) {
        if (skipped.has(b.file)) throw new Skip('unsupported', 'E_EXPAND_BASIS_SKIPPED', `its Basis, File ${b.file}, was not expanded`);
        return { bytes: new Uint8Array(await readFile(outPath.get(b.file)!)), label: `file ${b.file}` };
      }
      if (b.loc !== undefined && b.length === undefined && b.hash === undefined) {
        throw new Skip('input', 'E_EXPAND_NO_BASIS', `needs a Basis from DeltaBasisSearch Location ${b.loc}, which names no file`);
      }
      return { bytes: await findExternal(f), label: 'basis-dir' };
    };

    const writeAll = async (p: string, data: Uint8Array) => {
      const fh = await open(p, 'w');
      try {
        for (let at = 0; at < data.length; at += COPY_PIECE) {
          await fh.write(data, at, Math.min(COPY_PIECE, data.length - at));
        }
      } finally {
        await fh.close();
      }
    };

    for (const f of order) {
      const where = `File id=${f.id} (${f.name})`;
      const p = outPath.get(f.id)!;
      progress(f.name);
      try {
        const h = hasher(f.hash);
        let kind: ExpandSourceKind;
        let basisLabel = 'none';
        // a delta applies to its Basis (an earlier File or one under --basis-dir), or to nothing
        const applyOnBasis = async (blob: Uint8Array, f: CixFile): Promise<Uint8Array> => {
          let source: Uint8Array | null = null;
          if (f.basis) {
            const b = await basisBytes(f);
            source = b.bytes;
            basisLabel = b.label;
          }
          return applyDelta(blob, source, { checkHash: true, maxTargetSize: f.length }).target;
        };
        let produced = 0;
        const s = f.source;
        if (!s) {
          if (!f.basis) throw new FormatError('E_CIX_NO_SOURCE', 'File has neither a Source nor a Basis', { file: cixOrigin, where });
          const { bytes, label } = await basisBytes(f);
          basisLabel = label;
          kind = 'copy';
          h?.update(bytes);
          produced = bytes.length;
          await writeAll(p, bytes);
        } else if (s.offset === undefined || s.length === undefined) {
          // A type="CAB" index: the Source is a member of the cabinet that holds the index.
          if (!opts.readMember) {
            throw new Skip('unsupported', 'E_EXPAND_SOURCE_NAME', `Source names a cabinet member (${s.name ?? '?'}) but the package is not a cabinet`);
          }
          const type = s.type.toUpperCase();
          if (type !== 'RAW' && type !== 'PA30' && type !== 'PA31' && type !== 'PA19') {
            throw new Skip('unsupported', 'E_EXPAND_SOURCE_TYPE', `unsupported: Source type ${s.type}`);
          }
          const blob = await opts.readMember(s.name!);
          if (!blob) throw new FormatError('E_EXPAND_NO_MEMBER', `Source names cabinet member ${s.name}, which the cabinet does not hold`, { file: cixOrigin, where });
          if (s.hash) {
            const sh = hasher(s.hash)!;
            if (sh.update(blob).digest('hex') !== s.hash.value) {
              throw new MismatchError('E_EXPAND_SOURCE_HASH', `cabinet member ${s.name} does not match its ${s.hash.alg}`, { file: cixOrigin, where });
            }
          }
          let target: Uint8Array;
          if (type === 'RAW') {
            kind = 'RAW';
            target = blob;
          } else {
            const k = sourceKind(blob);
            if (k === null || k === 'LZMS') throw new FormatError('E_EXPAND_BLOB', `cabinet member ${s.name} (type ${s.type}) is not a delta`, { file: cixOrigin, where });
            kind = k;
            target = await applyOnBasis(blob, f);
          }
          h?.update(target);
          produced = target.length;
          await writeAll(p, target);
        } else {
          if (!psf) throw new FormatError('E_EXPAND_NO_PSF', 'Source addresses a .psf range, but the package has no .psf', { file: cixOrigin, where });
          if (s.offset + s.length > psf.size) {
            throw new FormatError('E_EXPAND_RANGE', `Source range ${s.offset}+${s.length} runs past the end of the .psf (${psf.size} bytes)`, { file: cixOrigin, where });
          }
          const type = s.type.toUpperCase();
          if (type === 'RAW') {
            kind = 'RAW';
            if (s.length !== f.length) throw new FormatError('E_EXPAND_LENGTH', `RAW Source is ${s.length} bytes but the File is ${f.length}`, { file: cixOrigin, where });
            const sh = s.hash && s.hash.alg.toUpperCase() !== f.hash?.alg.toUpperCase() ? hasher(s.hash) : null;
            const fh = await open(p, 'w');
            try {
              for (let at = 0; at < s.length; at += COPY_PIECE) {
                const piece = await psf.read(s.offset + at, Math.min(COPY_PIECE, s.length - at), `Source of ${where}`);
                h?.update(piece);
                sh?.update(piece);
                await fh.write(piece);
                done += piece.length;
                progress(f.name);
              }
            } finally {
              await fh.close();
            }
            done -= s.length;
            produced = s.length;
            if (sh && sh.digest('hex') !== s.hash!.value) {
              throw new MismatchError('E_EXPAND_SOURCE_HASH', `the Source bytes do not match their ${s.hash!.alg} (the .psf is damaged)`, { file: psf.name, where });
            }
          } else if (type === 'PA30' || type === 'PA31' || type === 'PA19' || type === 'LZMS') {
            if (s.length > MAX_BLOB) throw new FormatError('E_EXPAND_BLOB', `Source blob of ${s.length} bytes is larger than any delta`, { file: cixOrigin, where });
            const blob = await psf.read(s.offset, s.length, `Source of ${where}`);
            if (s.hash) {
              const sh = hasher(s.hash)!;
              if (sh.update(blob).digest('hex') !== s.hash.value) {
                throw new MismatchError('E_EXPAND_SOURCE_HASH', `the Source bytes do not match their ${s.hash.alg} (the .psf is damaged)`, { file: psf.name, where });
              }
            }
            const k = sourceKind(blob);
            if (k === null) throw new FormatError('E_EXPAND_BLOB', `Source blob (type ${s.type}) is neither a delta nor a Compression-API container`, { file: psf.name, where });
            kind = k;
            let target: Uint8Array;
            if (k === 'LZMS') {
              target = decodeCompressApiContainer(blob, { maxSize: f.length });
            } else {
              target = await applyOnBasis(blob, f);
            }
            h?.update(target);
            produced = target.length;
            await writeAll(p, target);
          } else {
            throw new Skip('unsupported', 'E_EXPAND_SOURCE_TYPE', `unsupported: Source type ${s.type}`);
          }
        }
        if (produced !== f.length) {
          throw new MismatchError('E_EXPAND_LENGTH', `rebuilt ${produced} bytes, the index says ${f.length}`, { file: cixOrigin, where });
        }
        if (h && h.digest('hex') !== f.hash!.value) {
          throw new MismatchError('E_EXPAND_HASH', `the rebuilt file does not match its ${f.hash!.alg} ${f.hash!.value}`, { file: cixOrigin, where });
        }
        if (f.time !== undefined) {
          const ms = Number(BigInt(f.time) / 10000n) - 11644473600000;
          if (Number.isFinite(ms) && ms >= 0) await utimes(p, ms / 1000, ms / 1000);
        }
        done += f.length;
        report.bytes += f.length;
        report.expanded.push({ id: f.id, name: f.name, length: f.length, source: kind, basis: basisLabel, ...(f.hash ? { hash: f.hash } : {}) });
      } catch (err) {
        if (err instanceof Skip || err instanceof UnsupportedError) {
          const kind = err instanceof Skip ? err.kind : 'unsupported';
          const code = err.code;
          skipped.add(f.id);
          report.notExpanded.push({ id: f.id, name: f.name, kind, code, reason: err.message });
          await rm(p, { force: true });
          continue;
        }
        if (err instanceof MsuError) {
          err.where ??= where;
          err.file ??= cixOrigin;
          throw err;
        }
        throw ioError(err, p, 'write');
      }
    }
    // Report in index order, not rebuild order.
    const pos = new Map(cix.files.map((f, i) => [f.id, i]));
    report.expanded.sort((a, b) => pos.get(a.id)! - pos.get(b.id)!);
    report.notExpanded.sort((a, b) => pos.get(a.id)! - pos.get(b.id)!);
    await opts.beforeCommit?.(staged, report);
    await staged.commit();
    return report;
  } catch (err) {
    await staged.abort();
    throw err;
  }
}

function describeBasis(length: number | undefined, hash: CixHash | undefined): string {
  const parts = [];
  if (length !== undefined) parts.push(`${length} bytes`);
  if (hash) parts.push(`${hash.alg} ${hash.value}`);
  return parts.join(', ') || 'no length or hash';
}
