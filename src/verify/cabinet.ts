import { FolderSlicer, type Cabinet, type CabEntry } from '../cab/cabinet.js';
import { decodeFolder } from '../cab/folder.js';
import { MsuError } from '../errors.js';
import type { CheckList } from './model.js';

/** Largest folder whose members are kept in memory during the scan (larger ones are read again on demand). */
const KEEP_FOLDER_MAX = 256 * 1024 * 1024;
/** Most member bytes kept for one cabinet: a multi-GB package keeps its first folders, reads the rest again. */
const KEEP_TOTAL_MAX = 512 * 1024 * 1024;
/** CFDATA blocks hold at most 32 KiB uncompressed. */
const CFDATA_MAX = 32768;

export interface CabinetScan {
  /** Member bytes decoded during the scan (only when `keep` and the folder is small enough). */
  bytes: Map<CabEntry, Uint8Array>;
  /** Members whose bytes could not be decoded (named by a cabinet-data mismatch or after one). */
  unreadable: Set<CabEntry>;
}

/**
 * Decode every folder of a cabinet once with CFDATA checksums verified, so that flipped compressed
 * bytes are a mismatch naming the members of the damaged block rather than an abort, and (when
 * `keep`) hand the decoded members to the package checks so nothing is decoded twice.
 */
export async function scanCabinet(cab: Cabinet, list: CheckList, opts: { keep: boolean; label?: string }): Promise<CabinetScan> {
  const out: CabinetScan = { bytes: new Map(), unreadable: new Set() };
  const label = opts.label ? `${opts.label} ` : '';
  let kept = 0;
  for (const span of cab.folders) {
    const members = cab.entries.filter((e) => e.folder === span.index).sort((a, b) => a.uoffFolderStart - b.uoffFolderStart);
    const end = members.reduce((m, e) => Math.max(m, e.uoffFolderStart + e.cbFile), 0);
    const keep = opts.keep && end <= KEEP_FOLDER_MAX && kept + end <= KEEP_TOTAL_MAX;
    if (keep) kept += end;
    const buffers = new Map<CabEntry, Uint8Array>();
    if (keep) for (const e of members) buffers.set(e, new Uint8Array(e.cbFile));
    const slicer = new FolderSlicer(members);
    const filled = new Map<CabEntry, number>();
    let at = 0;
    let blocks = 0;
    const where = `${label}folder ${span.index}`;
    try {
      const produced = await decodeFolder(
        span,
        (block, pos) => {
          at = pos + block.length;
          blocks++;
          if (!keep) return;
          // pieces of a member arrive in order: each goes where the previous one ended
          slicer.slice(block, pos, (e, piece) => {
            const to = filled.get(e) ?? 0;
            buffers.get(e)!.set(piece, to);
            filled.set(e, to + piece.length);
          });
        },
        { verify: true, until: end, file: cab.name },
      );
      if (produced < end) throw new MsuError('E_CAB_SHORT_FOLDER', `folder ends at ${produced} bytes, its members need ${end}`, { file: cab.name });
      list.verified(`[${where}]`, 'cabinet-data', `${blocks} CFDATA block(s) decoded, checksums verified, ${members.length} member(s)`);
      for (const [e, b] of buffers) out.bytes.set(e, b);
    } catch (err) {
      if (!(err instanceof MsuError) || err.kind === 'io') throw err;
      // The bad block starts where the last good one ended; members overlapping it are named.
      const hit = members.filter((e) => e.uoffFolderStart + e.cbFile > at && e.uoffFolderStart < at + CFDATA_MAX);
      const what = `${err.message}${err.where ? ` (${err.where})` : ''}`;
      if (hit.length === 0) list.mismatch(`[${where}]`, 'cabinet-data', what);
      for (const e of hit) list.mismatch(e.name, 'cabinet-data', `${where}: ${what}`);
      for (const e of members) {
        if (e.uoffFolderStart + e.cbFile > at) out.unreadable.add(e);
        else if (keep) out.bytes.set(e, buffers.get(e)!);
      }
    }
  }
  return out;
}
