import { Cabinet, type CabEntry, type ExtractResult } from '../cab/cabinet.js';
import { FormatError, UsageError } from '../errors.js';
import { FileSource } from '../util/source.js';
import { detectContainer, openMemberCab } from './container.js';

export interface ListedMember {
  name: string;
  size: number;
  modified: string | null;
  compression: string;
  folder: number;
}

function listOf(cab: Cabinet): ListedMember[] {
  return cab.entries.map((e) => ({
    name: e.name, size: e.cbFile, modified: e.modified, compression: cab.folders[e.folder]?.compression.label ?? '', folder: e.folder,
  }));
}

/** Open a cabinet file, or with `inner`, a cabinet member of it (an MSU's payload cab), in place where possible. */
export async function openCabinet(file: string, inner?: string): Promise<{ cab: Cabinet; close: () => Promise<void> }> {
  const src = await FileSource.open(file);
  const head = await src.read(0, Math.min(8, src.size));
  const kind = detectContainer(head);
  if (kind === 'wim') {
    await src.close();
    throw new UsageError('this is a WIM-based MSU: list or extract it with `wimlib-imagex`, or use `msu inspect` for a summary', { file });
  }
  if (kind !== 'cab') {
    await src.close();
    throw new FormatError('E_NOT_PACKAGE', 'not a cabinet (no MSCF signature)', { file });
  }
  await src.close();
  const outer = await Cabinet.openFile(file);
  if (!inner) return { cab: outer, close: () => outer.close() };
  const e: CabEntry | undefined = outer.find(inner);
  if (!e) {
    await outer.close();
    throw new UsageError(`no member named ${JSON.stringify(inner)}`, { file });
  }
  const cab = await openMemberCab(outer, e);
  return { cab, close: () => outer.close() };
}

export async function listCabinet(file: string, inner?: string): Promise<ListedMember[]> {
  const { cab, close } = await openCabinet(file, inner);
  try {
    return listOf(cab);
  } finally {
    await close();
  }
}

/** Match members by exact name (case-insensitive, `/` or `\\`) or by a `*`/`?` glob. */
export function memberMatcher(patterns: string[]): (e: { name: string }) => boolean {
  if (patterns.length === 0) return () => true;
  const res = patterns.map((p) => {
    const norm = p.replace(/\//g, '\\').toLowerCase();
    const re = '^' + norm.replace(/[.+^${}()|[\]\\]/g, (c) => '\\' + c).replace(/\*/g, '.*').replace(/\?/g, '.') + '$';
    return new RegExp(re);
  });
  return (e) => {
    const n = e.name.replace(/\//g, '\\').toLowerCase();
    return res.some((r) => r.test(n));
  };
}

export async function extractCabinet(
  file: string,
  dest: string,
  opts: { inner?: string; members?: string[]; verify?: boolean; onProgress?: (done: number, total: number, name: string) => void } = {},
): Promise<ExtractResult> {
  const { cab, close } = await openCabinet(file, opts.inner);
  try {
    const match = memberMatcher(opts.members ?? []);
    if ((opts.members?.length ?? 0) > 0 && !cab.entries.some(match)) {
      throw new UsageError(`no member matches ${opts.members!.map((m) => JSON.stringify(m)).join(', ')}`, { file });
    }
    return await cab.extract(dest, { filter: match, verifyChecksums: opts.verify, onProgress: opts.onProgress });
  } finally {
    await close();
  }
}
