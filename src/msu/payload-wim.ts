/**
 * The payload `.wim` of a WIM-based MSU (a WIM inside the WIM), handed to wimlib-imagex, which
 * reads a WIM only from a file.
 *
 * Listing it and reading a few files (update.mum, the cix) needs only the WIM's own structures
 * (header, blob table, XML data, metadata resources) and the resources of those files: a payload
 * of gigabytes is then copied as a sparse file holding a few megabytes. Anything this view does
 * not understand (a compressed member, a spanned or unusual WIM, a wimlib failure on the view)
 * falls back to copying the whole member, and wimlib judges the bytes as before.
 */
import { open as openFile, rm, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { ioError, MsuError } from '../errors.js';
import { ByteReader } from '../util/reader.js';
import type { ByteSource } from '../util/source.js';
import {
  parseBlobTable, parseWimHeader, RESHDR_FLAG_COMPRESSED, RESHDR_FLAG_METADATA, RESHDR_FLAG_SOLID, SOLID_RESOURCE_MAGIC,
  WIM_HEADER_SIZE, type ResourceHeader,
} from '../wim/header.js';
import { wimDirDetailed, wimReadFile, type WimStreamEntry } from '../wim/streams.js';
import { wimExtract, type WimProgress } from '../wim/wimlib.js';
import type { MemberCopyProgress } from './summary.js';

const COPY_CHUNK = 8 << 20;
/** A solid resource starts with [u64 uncompressed size][u32 chunk size][u32 format], which wimlib reads on open. */
const SOLID_HEADER_SIZE = 16;

type OnCopy = ((p: MemberCopyProgress) => void) | undefined;

/** A payload `.wim` wimlib-imagex can read: its files, and a reader for any of them. */
export interface PayloadWim {
  /** The files of image 1 (directories left out). */
  entries: WimStreamEntry[];
  /** The bytes of one of `entries` (wimlib checks them against the blob's SHA-1). */
  read(entry: WimStreamEntry): Promise<Uint8Array>;
  /** Extract some of `entries` under `destDir` with their paths (wimExtract: staged, all or nothing). */
  extract(files: WimStreamEntry[], destDir: string, opts?: { overwrite?: boolean }): Promise<void>;
}

/** What a PayloadWim does, given a way to make `files` readable in a WIM file wimlib can open. */
function payloadOver(entries: WimStreamEntry[], using: <T>(files: WimStreamEntry[], work: (wim: string) => Promise<T>) => Promise<T>): PayloadWim {
  return {
    entries,
    read: (x) => using([x], (wim) => wimReadFile(wim, 1, x.path)),
    extract: async (files, destDir, opts = {}) => {
      await using(files, (wim) => wimExtract(wim, 1, files.map((f) => f.path), destDir, { noGlobs: true, strict: true, overwrite: opts.overwrite }));
    },
  };
}

/** Copy [from, from+length) of `src` to `fh` at `at`, in chunks (never the whole range in memory). */
async function copyRange(src: ByteSource, from: number, length: number, fh: FileHandle, at: number, dest: string, what: string, onBytes?: (n: number) => void): Promise<void> {
  for (let done = 0; done < length;) {
    const chunk = await src.read(from + done, Math.min(COPY_CHUNK, length - done), what);
    for (let w = 0; w < chunk.length;) {
      try {
        w += (await fh.write(chunk, w, chunk.length - w, at + done + w)).bytesWritten;
      } catch (err) {
        throw ioError(err, dest, 'write the temp copy');
      }
    }
    done += chunk.length;
    onBytes?.(done);
  }
}

/** Run `work` on the temp file `dest` opened with `flags` (`wx`: a new file), closed afterwards. */
async function withTempFile(dest: string, flags: 'wx' | 'r+', work: (fh: FileHandle) => Promise<void>): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await openFile(dest, flags);
  } catch (err) {
    throw ioError(err, dest, 'write the temp copy');
  }
  try {
    await work(fh);
  } finally {
    await fh.close();
  }
}

/**
 * Copy one member of a WIM MSU (`file`, open as `outer`) to a new file in `dir`, whole. A member
 * stored as-is is copied from `outer` in chunks (a payload .wim can be gigabytes; it is never held
 * in memory whole); a compressed one is extracted by wimlib. `onProgress` hears how far the copy
 * is, from 0 to the member's size. Returns the path of the copy.
 */
export async function copyWimMsuMember(file: string, outer: ByteSource, e: WimStreamEntry, dir: string, onProgress?: OnCopy): Promise<string> {
  const member = e.path.replace(/^\//, '');
  const total = e.size;
  onProgress?.({ member, done: 0, total });
  if (!e.storedInPlace) {
    const r = await wimExtract(file, 1, [e.path], dir, {
      noGlobs: true, strict: true,
      ...(onProgress ? { onProgress: (p: WimProgress) => onProgress({ member, done: Math.min(total, Math.floor((total * p.percent) / 100)), total }) } : {}),
    });
    onProgress?.({ member, done: total, total });
    return path.join(dir, ...r.files[0]!.split('/'));
  }
  const dest = path.join(dir, 'member.bin');
  await withTempFile(dest, 'wx', (fh) => copyRange(outer, e.offset, e.size, fh, 0, dest, `member ${member}`, (done) => onProgress?.({ member, done, total })));
  return dest;
}

/** The payload copied whole: what every reader of it did before the sparse view. */
async function wholePayload(file: string, outer: ByteSource, e: WimStreamEntry, dir: string, onProgress: OnCopy): Promise<{ path: string; entries: WimStreamEntry[] }> {
  const copy = await copyWimMsuMember(file, outer, e, dir, onProgress);
  return { path: copy, entries: (await wimDirDetailed(copy, 1)).filter((x) => !x.isDirectory) };
}

/**
 * The regions of a WIM wimlib-imagex reads to open it and list its images, or null when the
 * WIM is not one this view handles (then the whole member is copied). `size` bounds them.
 */
async function skeletonRegions(src: ByteSource, base: number, size: number): Promise<{ regions: [number, number][]; resources: Map<number, number> } | null> {
  if (size < WIM_HEADER_SIZE) return null;
  let h;
  try {
    h = parseWimHeader(await src.read(base, WIM_HEADER_SIZE, 'WIM header'));
  } catch {
    return null;
  }
  const inside = (r: { offset: number; size: number }): boolean => r.offset >= WIM_HEADER_SIZE && r.offset + r.size <= size;
  if (h.totalParts !== 1 || h.blobTable.flags & RESHDR_FLAG_COMPRESSED || !inside(h.blobTable) || !inside(h.xmlData)) return null;
  let table: ResourceHeader[];
  try {
    table = parseBlobTable(await src.read(base + h.blobTable.offset, h.blobTable.size, 'WIM blob table'));
  } catch {
    return null;
  }
  const regions: [number, number][] = [[0, WIM_HEADER_SIZE], [h.blobTable.offset, h.blobTable.size], [h.xmlData.offset, h.xmlData.size]];
  if (h.bootMetadata.size > 0) {
    if (!inside(h.bootMetadata)) return null;
    regions.push([h.bootMetadata.offset, h.bootMetadata.size]);
  }
  // on-disk size of each resource by its offset: how much to copy for a file read later
  const resources = new Map<number, number>();
  for (const r of table) {
    const ownResource = !(r.flags & RESHDR_FLAG_SOLID) || r.originalSize === SOLID_RESOURCE_MAGIC;
    if (!ownResource) continue;
    if (!inside(r)) return null;
    resources.set(r.offset, r.size);
    if (r.flags & RESHDR_FLAG_METADATA) regions.push([r.offset, r.size]);
    else if (r.flags & RESHDR_FLAG_SOLID) regions.push([r.offset, Math.min(r.size, SOLID_HEADER_SIZE)]);
  }
  return { regions, resources };
}

/**
 * What wimlib reads of the WIM at `base` in `src` to give the stream `x`: its resource; for a
 * stream inside a solid resource, the resource's header and chunk table and the chunks that hold
 * the stream (chunks are independent, wimlib decodes only those). Null when `x` has no resource
 * this view knows. Offsets are in the WIM.
 */
async function resourceRegions(src: ByteSource, base: number, x: WimStreamEntry, resources: Map<number, number>): Promise<[number, number][] | null> {
  if (!x.solid) {
    const len = resources.get(x.offset);
    return len === undefined ? null : [[x.offset, len]];
  }
  const { resource, at } = x.solid;
  const len = resources.get(resource);
  if (len === undefined) return null;
  try {
    const head = new ByteReader(await src.read(base + resource, SOLID_HEADER_SIZE, 'solid resource header'));
    const uncompressed = head.u64n('solid resource size');
    const chunkSize = head.u32('solid resource chunk size');
    const tableEnd = SOLID_HEADER_SIZE + 4 * Math.ceil(uncompressed / Math.max(chunkSize, 1));
    if (chunkSize === 0 || tableEnd > len) return [[resource, len]];
    // loaded here: it brings the LZMS decoder, which no other payload needs
    const { readSolidResourceHeader } = await import('../wim/solid-resource.js');
    const h = readSolidResourceHeader(await src.read(base + resource, tableEnd, 'solid resource chunk table'));
    const first = Math.floor(at / h.chunkSize), last = Math.floor((at + x.size - 1) / h.chunkSize);
    if (last >= h.chunkSizes.length) return [[resource, len]];
    let from = h.dataOffset;
    for (let c = 0; c < first; c++) from += h.chunkSizes[c]!;
    let span = 0;
    for (let c = first; c <= last; c++) span += h.chunkSizes[c]!;
    if (from + span > len) return [[resource, len]];
    return [[resource, h.dataOffset], [resource + from, span]];
  } catch {
    // a format this reader does not take (a solid resource in XPRESS or LZX): the whole resource
    return [[resource, len]];
  }
}

/**
 * The payload `.wim` member `e` of the WIM MSU `file` (open as `outer`), readable by wimlib-imagex
 * through a copy in `dir` (the caller removes `dir`). A member stored in place becomes a sparse
 * file holding only the WIM's structures, and the resources of the files read; otherwise, or when
 * wimlib cannot use that view, the member is copied whole. `onProgress` hears each copy, from 0 to
 * the bytes it copies.
 */
export async function openPayloadWim(file: string, outer: ByteSource, e: WimStreamEntry, dir: string, onProgress?: OnCopy): Promise<PayloadWim> {
  // wimlib's errors name the temp copy: they are about the member, `MSU!payload.wim`
  const named = <T>(p: Promise<T>): Promise<T> => p.catch((err: unknown) => {
    if (err instanceof MsuError && err.file !== undefined && err.file.startsWith(dir)) err.file = `${outer.name}!${e.path.replace(/^\//, '')}`;
    throw err;
  });
  const p = await named(openView(file, outer, e, dir, onProgress));
  return { entries: p.entries, read: (x) => named(p.read(x)), extract: (files, destDir, opts) => named(p.extract(files, destDir, opts)) };
}

async function openView(file: string, outer: ByteSource, e: WimStreamEntry, dir: string, onProgress?: OnCopy): Promise<PayloadWim> {
  const skeleton = e.storedInPlace ? await skeletonRegions(outer, e.offset, e.size) : null;
  if (!skeleton) {
    const whole = await wholePayload(file, outer, e, dir, onProgress);
    return payloadOver(whole.entries, (_files, work) => work(whole.path));
  }
  const member = e.path.replace(/^\//, '');
  const dest = path.join(dir, 'payload.wim');
  // regions copied so far, as `offset:length`
  const copied = new Set<string>();
  /** Copy the regions (offsets in the member) not copied yet into the sparse file, reporting their sum. */
  const fill = async (fh: FileHandle, regions: [number, number][]): Promise<void> => {
    const todo = [...new Map(regions.map((r) => [`${r[0]}:${r[1]}`, r])).entries()].filter(([k]) => !copied.has(k)).map(([, r]) => r);
    const total = todo.reduce((n, [, len]) => n + len, 0);
    let done = 0;
    onProgress?.({ member, done, total });
    for (const [at, len] of todo) {
      await copyRange(outer, e.offset + at, len, fh, at, dest, `member ${member}`, (n) => onProgress?.({ member, done: done + n, total }));
      done += len;
      copied.add(`${at}:${len}`);
    }
  };
  await withTempFile(dest, 'wx', async (fh) => {
    try {
      await fh.truncate(e.size);
    } catch (err) {
      throw ioError(err, dest, 'write the temp copy');
    }
    await fill(fh, skeleton.regions);
  });
  let whole: { path: string; entries: WimStreamEntry[] } | undefined;
  /**
   * wimlib refused the view: the whole member decides (a damaged payload then fails as it always
   * did). A missing tool, an I/O error or a timeout is not the view's doing and is thrown as is.
   * Returns the path of the whole copy.
   */
  const fallBack = async (err: unknown): Promise<{ path: string; entries: WimStreamEntry[] }> => {
    if (!(err instanceof MsuError) || !(err.kind === 'input' || err.code === 'E_TOOL_FAILED')) throw err;
    if (whole === undefined) {
      await rm(dest, { force: true });
      whole = await wholePayload(file, outer, e, dir, onProgress);
    }
    return whole;
  };
  let entries: WimStreamEntry[];
  try {
    entries = (await wimDirDetailed(dest, 1)).filter((x) => !x.isDirectory);
  } catch (err) {
    const copy = await fallBack(err);
    return payloadOver(copy.entries, (_files, work) => work(copy.path));
  }
  /** Copy in the resources of `files`, then run `work` on the view; on the whole copy if wimlib refuses it. */
  const using = async <T>(files: WimStreamEntry[], work: (wim: string) => Promise<T>): Promise<T> => {
    if (whole !== undefined) return work(whole.path);
    const regions: [number, number][] = [];
    for (const x of files) {
      if (x.size === 0) continue;
      const r = await resourceRegions(outer, e.offset, x, skeleton.resources);
      if (!r) return work((await fallBack(new MsuError('E_WIM_VIEW', `no resource for ${x.path} in the blob table`))).path);
      regions.push(...r);
    }
    if (regions.length > 0) await withTempFile(dest, 'r+', (fh) => fill(fh, regions));
    try {
      return await work(dest);
    } catch (err) {
      return work((await fallBack(err)).path);
    }
  };
  return payloadOver(entries, using);
}
