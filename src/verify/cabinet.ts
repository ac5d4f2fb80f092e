import { createHash, type Hash } from 'node:crypto';
import { FolderSlicer, type Cabinet, type CabEntry } from '../cab/cabinet.js';
import { decodeFolder } from '../cab/folder.js';
import { MsuError } from '../errors.js';
import type { CheckList } from './model.js';

/** How much decoded member data a scan may hold in memory. */
export interface KeepLimits {
  /** Largest folder whose members are all kept (default 256 MiB). */
  folderMax: number;
  /** Most member bytes kept for one cabinet (default 512 MiB): a multi-GB package keeps its first folders. */
  totalMax: number;
  /**
   * In a folder over `folderMax`: members up to this size (default 1 MiB) are still kept, within
   * `totalMax`, and so are the package's metadata of any size (catalogs, .mum, manifests, container
   * indexes, wcp.dll, null deltas); every other member is hashed as it is decoded, not kept.
   */
  memberMax: number;
}

export const DEFAULT_KEEP_LIMITS: KeepLimits = { folderMax: 256 * 1024 * 1024, totalMax: 512 * 1024 * 1024, memberMax: 1024 * 1024 };

/** CFDATA blocks hold at most 32 KiB uncompressed. */
const CFDATA_MAX = 32768;

/** Members the package checks read whole (not only hash): kept in a big folder whatever their size. */
const READ_WHOLE = /\.(cat|mum|manifest|xml|dat)$|(^|\\)wcp\.dll$|\\n\\[^\\]+$/i;

/** Size and digests of a member hashed while its folder was decoded (the algorithms CBS declares). */
export interface MemberDigest {
  size: number;
  sha1: string;
  sha256: string;
}

export interface CabinetScan {
  /** Member bytes decoded during the scan (see KeepLimits for which). */
  bytes: Map<CabEntry, Uint8Array>;
  /** Members of folders over the keep limits that were hashed instead of kept. */
  digests: Map<CabEntry, MemberDigest>;
  /** Members whose bytes could not be decoded (named by a cabinet-data mismatch or after one). */
  unreadable: Set<CabEntry>;
}

export interface ScanOptions {
  /** Keep (or hash) members for the package checks; false only checks the CFDATA checksums. */
  keep: boolean;
  /** With keep false: members whose bytes are kept all the same (within `limits.totalMax`), e.g. a bundle's inner cabinets. */
  want?: (e: CabEntry) => boolean;
  label?: string;
  limits?: KeepLimits;
  /** Called as folders are decoded: uncompressed bytes done of those the members need. */
  onBytes?: (done: number, total: number) => void;
}

/**
 * Decode every folder of a cabinet once with CFDATA checksums verified, so that flipped compressed
 * bytes are a mismatch naming the members of the damaged block rather than an abort, and (when
 * `keep`) hand the decoded members to the package checks so nothing is decoded twice: kept whole
 * when the folder fits the limits, else hashed as their pieces arrive (one pass over the folder,
 * however many members it holds).
 */
export async function scanCabinet(cab: Cabinet, list: CheckList, opts: ScanOptions): Promise<CabinetScan> {
  const limits = opts.limits ?? DEFAULT_KEEP_LIMITS;
  const out: CabinetScan = { bytes: new Map(), digests: new Map(), unreadable: new Set() };
  const label = opts.label ? `${opts.label} ` : '';
  let kept = 0;
  const byFolder = new Map<number, CabEntry[]>();
  for (const e of cab.entries) {
    const l = byFolder.get(e.folder);
    if (l) l.push(e);
    else byFolder.set(e.folder, [e]);
  }
  const folderEnd = (members: readonly CabEntry[]): number => members.reduce((m, e) => Math.max(m, e.uoffFolderStart + e.cbFile), 0);
  const total = [...byFolder.values()].reduce((n, l) => n + folderEnd(l), 0);
  let before = 0; // bytes of the folders already decoded
  for (const span of cab.folders) {
    const members = (byFolder.get(span.index) ?? []).sort((a, b) => a.uoffFolderStart - b.uoffFolderStart);
    const end = folderEnd(members);
    const whole = opts.keep && end <= limits.folderMax && kept + end <= limits.totalMax;
    if (whole) kept += end;
    const buffers = new Map<CabEntry, Uint8Array>();
    const hashes = new Map<CabEntry, [Hash, Hash]>();
    for (const e of members) {
      if (whole) buffers.set(e, new Uint8Array(e.cbFile));
      else if (opts.keep ? e.cbFile <= limits.memberMax || READ_WHOLE.test(e.name) : opts.want?.(e)) {
        if (kept + e.cbFile <= limits.totalMax) {
          kept += e.cbFile;
          buffers.set(e, new Uint8Array(e.cbFile));
        } else if (opts.keep) hashes.set(e, [createHash('sha1'), createHash('sha256')]);
      } else if (opts.keep) hashes.set(e, [createHash('sha1'), createHash('sha256')]);
    }
    const slicer = new FolderSlicer(members);
    const filled = new Map<CabEntry, number>();
    let at = 0;
    let blocks = 0;
    const where = `${label}folder ${span.index}`;
    const finish = (): void => {
      for (const [e, b] of buffers) out.bytes.set(e, b);
      for (const [e, [h1, h256]] of hashes) out.digests.set(e, { size: e.cbFile, sha1: h1.digest('hex'), sha256: h256.digest('hex') });
    };
    try {
      const produced = await decodeFolder(
        span,
        (block, pos) => {
          at = pos + block.length;
          blocks++;
          opts.onBytes?.(before + Math.min(at, end), total);
          if (buffers.size === 0 && hashes.size === 0) return;
          // pieces of a member arrive in order: each goes where the previous one ended
          slicer.slice(block, pos, (e, piece) => {
            const b = buffers.get(e);
            if (b) {
              const to = filled.get(e) ?? 0;
              b.set(piece, to);
              filled.set(e, to + piece.length);
              return;
            }
            const h = hashes.get(e);
            if (h) {
              h[0].update(piece);
              h[1].update(piece);
            }
          });
        },
        { verify: true, until: end, file: cab.name },
      );
      if (produced < end) throw new MsuError('E_CAB_SHORT_FOLDER', `folder ends at ${produced} bytes, its members need ${end}`, { file: cab.name });
      list.verified(`[${where}]`, 'cabinet-data', `${blocks} CFDATA block(s) decoded, checksums verified, ${members.length} member(s)`);
      finish();
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      // The bad block starts where the last good one ended; members overlapping it are named.
      const hit = members.filter((e) => e.uoffFolderStart + e.cbFile > at && e.uoffFolderStart < at + CFDATA_MAX);
      const what = `${err.message}${err.where ? ` (${err.where})` : ''}`;
      if (err.kind === 'unsupported') {
        // a format feature we do not decode (Quantum, say) says nothing about the package's integrity
        list.notChecked(`[${where}]`, 'cabinet-data', 'unsupported', `not checked: ${what}`);
      } else {
        if (hit.length === 0) list.mismatch(`[${where}]`, 'cabinet-data', what);
        for (const e of hit) list.mismatch(e.name, 'cabinet-data', `${where}: ${what}`);
      }
      for (const e of members) {
        if (e.uoffFolderStart + e.cbFile > at) {
          out.unreadable.add(e);
          buffers.delete(e);
          hashes.delete(e);
        }
      }
      finish();
    }
    before += end;
  }
  return out;
}
