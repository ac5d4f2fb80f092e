import { Cabinet, type CabEntry, type ExtractResult } from '../cab/cabinet.js';
import { FormatError, UsageError } from '../errors.js';
import type { WimStreamEntry } from '../wim/streams.js';
import type { PayloadWim } from './payload-wim.js';
import { BufferSource, FileSource, SliceSource, type ByteSource } from '../util/source.js';
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
    if (!inner) {
      await src.close();
      throw new UsageError('this is a WIM-based MSU, not a cabinet: use listWimMsu/extractWimMsu, or --inner for a cabinet inside it', { file });
    }
    // a cabinet member of a WIM MSU (the SSU): in place when stored uncompressed, as Microsoft stores them
    try {
      const { wimReadFile } = await import('../wim/streams.js');
      const e = await wimMsuMember(file, inner);
      const name = `${file}!${e.path.slice(1)}`;
      const memberSrc: ByteSource = e.storedInPlace ? new SliceSource(src, e.offset, e.size, name) : new BufferSource(await wimReadFile(file, 1, e.path), name);
      const cab = await Cabinet.open(memberSrc);
      return { cab, close: () => src.close() };
    } catch (err) {
      await src.close();
      throw err;
    }
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

/** The member `inner` of the WIM-based MSU `file` (a file of its image; any case, `\\` or `/`). */
async function wimMsuMember(file: string, inner: string): Promise<WimStreamEntry> {
  const { wimDirDetailed } = await import('../wim/streams.js');
  const want = inner.replace(/\\/g, '/').toLowerCase();
  const e = (await wimDirDetailed(file, 1)).find((x) => !x.isDirectory && x.path.slice(1).toLowerCase() === want);
  if (!e) throw new UsageError(`no member named ${JSON.stringify(inner)}`, { file });
  return e;
}

/** Files of a WIM image as `msu list` shows them, sorted by name. */
function listedOf(entries: WimStreamEntry[]): ListedMember[] {
  return entries
    .filter((e) => !e.isDirectory)
    .map((e) => ({ name: e.path.slice(1), size: e.size, modified: null, compression: e.storedInPlace ? 'None' : 'WIM', folder: 0 }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** The members of a WIM-based MSU (image 1 of the outer WIM), as `msu list` shows them. */
async function listWimMsu(file: string): Promise<ListedMember[]> {
  const { wimDirDetailed } = await import('../wim/streams.js');
  return listedOf(await wimDirDetailed(file, 1));
}

/**
 * With `inner` naming the payload `.wim` (or an `.esd`) of a WIM-based MSU: run `work` on it,
 * read through wimlib-imagex from a private temp dir (src/msu/payload-wim.ts) removed afterwards.
 * Undefined when `file` is not a WIM MSU or `inner` is not such a member (a cabinet member).
 */
async function withInnerWim<T>(file: string, inner: string, work: (payload: PayloadWim) => Promise<T>): Promise<T | undefined> {
  if (!/\.(wim|esd)$/i.test(inner) || (await containerOf(file)) !== 'wim') return undefined;
  const e = await wimMsuMember(file, inner);
  const [{ openPayloadWim }, { mkdtemp, rm }, os, path] = await Promise.all([
    import('./payload-wim.js'), import('node:fs/promises'), import('node:os'), import('node:path'),
  ]);
  const outer = await FileSource.open(file);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msu-inner-wim-'));
  try {
    return await work(await openPayloadWim(file, outer, e, dir));
  } finally {
    await outer.close();
    await rm(dir, { recursive: true, force: true });
  }
}

async function containerOf(file: string): Promise<'cab' | 'wim' | 'unknown'> {
  const src = await FileSource.open(file);
  try {
    return detectContainer(await src.read(0, Math.min(8, src.size)));
  } finally {
    await src.close();
  }
}

export async function listCabinet(file: string, inner?: string): Promise<ListedMember[]> {
  if (!inner && (await containerOf(file)) === 'wim') return listWimMsu(file);
  const payload = inner ? await withInnerWim(file, inner, async (p) => listedOf(p.entries)) : undefined;
  if (payload) return payload;
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

/**
 * Extract the files of a WIM image (`entries`) that `opts.members` chooses, with `write` (wimlib:
 * staged, all or nothing); no file chosen is a usage error.
 */
async function extractWimFiles(
  file: string, entries: WimStreamEntry[], opts: { members?: string[]; onProgress?: (done: number, total: number, name: string) => void },
  write: (chosen: WimStreamEntry[]) => Promise<void>,
): Promise<ExtractResult> {
  const match = memberMatcher(opts.members ?? []);
  const chosen = entries.filter((x) => !x.isDirectory && match({ name: x.path.slice(1) }));
  if (chosen.length === 0) throw new UsageError(`no member matches ${(opts.members ?? []).map((m) => JSON.stringify(m)).join(', ')}`, { file });
  await write(chosen);
  const files = listedOf(chosen);
  files.forEach((m, i) => opts.onProgress?.(i + 1, files.length, m.name));
  // paths of one image tree: no two members share one
  return { files: files.map((m) => ({ name: m.name, size: m.size })), bytes: files.reduce((n, m) => n + m.size, 0), duplicates: [] };
}

export async function extractCabinet(
  file: string,
  dest: string,
  opts: {
    inner?: string;
    members?: string[];
    /** Check CFDATA checksums (default true). */
    verify?: boolean;
    /** Replace regular files of the same name already in dest (default: refuse). */
    overwrite?: boolean;
    onProgress?: (done: number, total: number, name: string) => void;
  } = {},
): Promise<ExtractResult> {
  if (!opts.inner && (await containerOf(file)) === 'wim') {
    // a WIM MSU's members are files of its image
    const [{ wimDirDetailed }, { wimExtract }] = await Promise.all([import('../wim/streams.js'), import('../wim/wimlib.js')]);
    return extractWimFiles(file, await wimDirDetailed(file, 1), opts, async (chosen) => {
      await wimExtract(file, 1, chosen.map((x) => x.path), dest, { noGlobs: true, strict: true, overwrite: opts.overwrite });
    });
  }
  // the files of its payload .wim, through the view that copies only what they need
  const fromPayload = opts.inner
    ? await withInnerWim(file, opts.inner, (p) => extractWimFiles(file, p.entries, opts, (chosen) => p.extract(chosen, dest, { overwrite: opts.overwrite })))
    : undefined;
  if (fromPayload) return fromPayload;
  const { cab, close } = await openCabinet(file, opts.inner);
  try {
    const match = memberMatcher(opts.members ?? []);
    if ((opts.members?.length ?? 0) > 0 && !cab.entries.some(match)) {
      throw new UsageError(`no member matches ${opts.members!.map((m) => JSON.stringify(m)).join(', ')}`, { file });
    }
    return await cab.extract(dest, { filter: match, verifyChecksums: opts.verify ?? true, overwrite: opts.overwrite, onProgress: opts.onProgress });
  } finally {
    await close();
  }
}
