/**
 * Finding an express payload: the ContainerIndex (`*.psf.cix.xml`) and the `.psf` it indexes, in
 * - a folder holding both (and, usually, the rest of the package);
 * - a cix XML file, with the `.psf` beside it;
 * - a cabinet holding the cix (the LCU payload cab), with the `.psf` inside it or beside it on disk;
 * - a cabinet-based MSU (cix in the payload cab, `.psf` a member of the MSU);
 * - a WIM-based MSU (cix in the payload `.wim`, `.psf` a member stored in place).
 * The `.psf` is always opened as a ByteSource and read in ranges, never whole.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { Cabinet, type CabEntry } from '../cab/cabinet.js';
import type { ContainerIndex } from '../cbs/container-index.js';
import { FormatError, ioError, UnsupportedError } from '../errors.js';
import { classifyMember, detectContainer, loadContainerIndex, openMemberCab, type MemberCopyProgress } from '../msu/index.js';
import { FileSource, readWholeFile, SliceSource, type ByteSource } from '../util/source.js';
import { listFiles } from '../util/walk.js';

/** One member of the package besides the `.psf` and its cix (what a repacked cabinet carries along). */
export interface PackageMember {
  /** Backslash-separated, as in a cabinet. */
  name: string;
  read(): Promise<Uint8Array>;
}

export interface ExpressPackage {
  /** Where the cix came from, e.g. `KB.msu!Windows11.0-KB…-x64.cab!express.psf.cix.xml`. */
  cixOrigin: string;
  cix: ContainerIndex;
  /** The `.psf`, or null when the package has none (a `type="CAB"` index addresses cabinet members). */
  psf: ByteSource | null;
  /** Reads a member of the cabinet that holds the cix, for Sources addressed by name; undefined if absent. */
  readMember?: (name: string) => Promise<Uint8Array | undefined>;
  /** The rest of the package, or null when this kind of package cannot list it (WIM-based MSU). */
  members: PackageMember[] | null;
  close(): Promise<void>;
}

const isCixName = (name: string) => /\.cix\.xml$/i.test(name);
const isPsfName = (name: string) => /\.psf$/i.test(name);
const baseName = (name: string) => name.split(/[\\/]/).pop() ?? name;

/**
 * A member of a cabinet as a ByteSource: in place when stored, otherwise decoded into memory
 * (compressed `.psf` members are not seen in real packages; they are bounded by the cabinet's limits).
 */
async function memberSource(cab: Cabinet, e: CabEntry): Promise<ByteSource> {
  const stored = cab.storedSource(e);
  if (stored) return stored;
  const { BufferSource } = await import('../util/source.js');
  return new BufferSource(await cab.readFile(e), `${cab.name}!${e.name}`);
}

async function siblingPsf(file: string, cix: ContainerIndex): Promise<FileSource | null> {
  const dir = path.dirname(file);
  const candidates = [];
  if (cix.name && isPsfName(cix.name)) candidates.push(baseName(cix.name));
  candidates.push(`${path.basename(file).replace(/\.(cab|psf\.cix\.xml|cix\.xml)$/i, '')}.psf`);
  for (const c of candidates) {
    const p = path.join(dir, c);
    try {
      if ((await stat(p)).isFile()) return await FileSource.open(p, path.join(path.dirname(file), c));
    } catch {
      // try the next name
    }
  }
  return null;
}

/** Sources by name read members of `cab` (exact name first, then as Windows compares names). */
function memberReader(cab: Cabinet): (name: string) => Promise<Uint8Array | undefined> {
  return async (name) => {
    const e = cab.entries.find((x) => x.name === name) ?? cab.entries.find((x) => x.name.toLowerCase() === name.toLowerCase());
    return e ? cab.readFile(e) : undefined;
  };
}

/** Members a `type="CAB"` index uses as delta Sources: blobs, not package files. */
function sourceNames(cix: ContainerIndex): Set<string> {
  const out = new Set<string>();
  for (const f of cix.files) if (f.source?.name !== undefined && f.source.name !== f.name) out.add(f.source.name.toLowerCase());
  return out;
}

async function fromFolder(dir: string): Promise<ExpressPackage> {
  const files = await listFiles(dir, dir);
  const top = files.filter((f) => !f.includes('/'));
  const cixes = top.filter(isCixName);
  if (cixes.length === 0) throw new FormatError('E_NO_CIX', 'the folder holds no *.psf.cix.xml', { file: dir });
  if (cixes.length > 1) {
    throw new FormatError('E_EXPAND_AMBIGUOUS', `the folder holds ${cixes.length} container indexes (${cixes.join(', ')}); expand one package per folder`, { file: dir });
  }
  const loaded = await loadContainerIndex(path.join(dir, cixes[0]!));
  const psfs = top.filter(isPsfName);
  const wanted = loaded.cix.name ? psfs.find((p) => p.toLowerCase() === baseName(loaded.cix.name).toLowerCase()) : undefined;
  const psfName = wanted ?? (psfs.length === 1 ? psfs[0] : undefined);
  if (!psfName && psfs.length > 1) {
    throw new FormatError('E_EXPAND_NO_PSF', 'the folder holds several .psf files and the index names none of them', { file: dir });
  }
  // No .psf: a type="CAB" index (an extracted cabinet) whose Sources are files of the folder by name.
  const psf = psfName ? await FileSource.open(path.join(dir, psfName), path.join(dir, psfName)) : null;
  const blobs = sourceNames(loaded.cix);
  const byLower = new Map(top.map((f) => [f.toLowerCase(), f]));
  const readMember = async (name: string): Promise<Uint8Array | undefined> => {
    const f = byLower.get(name.replace(/\\/g, '/').toLowerCase());
    if (f === undefined) return undefined;
    return readWholeFile(path.join(dir, f), 'member');
  };
  const members: PackageMember[] = files
    .filter((f) => f !== psfName && f !== cixes[0] && !blobs.has(f.toLowerCase()))
    .map((f) => ({
      name: f.split('/').join('\\'),
      read: () => readWholeFile(path.join(dir, f), 'member'),
    }));
  return { cixOrigin: loaded.origin, cix: loaded.cix, psf, readMember, members, close: async () => psf?.close() };
}

function cabMembers(cab: Cabinet, skip: (e: CabEntry) => boolean): PackageMember[] {
  return cab.entries.filter((e) => !skip(e)).map((e) => ({ name: e.name, read: () => cab.readFile(e) }));
}

async function fromCabinet(file: string): Promise<ExpressPackage> {
  const loaded = await loadContainerIndex(file);
  const outer = await Cabinet.openFile(file);
  const closers: (() => Promise<void>)[] = [() => outer.close()];
  const close = async () => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const own = outer.entries.find((e) => isCixName(e.name));
    const blobs = sourceNames(loaded.cix);
    if (own) {
      // The payload cab itself: the .psf is a member, or a file beside it (none for a type="CAB" index).
      const member = outer.entries.find((e) => isPsfName(e.name));
      const psf = member ? await memberSource(outer, member) : await siblingPsf(file, loaded.cix);
      if (!member && psf) closers.push(() => psf.close());
      const members = cabMembers(outer, (e) => e === own || e === member || blobs.has(e.name.toLowerCase()));
      return { cixOrigin: loaded.origin, cix: loaded.cix, psf, readMember: memberReader(outer), members, close };
    }
    // A cabinet-based MSU: the .psf is a member of the MSU, the cix in its payload cab.
    const psfEntry = outer.entries.find((e) => classifyMember(e.name).role === 'psf') ?? outer.entries.find((e) => isPsfName(e.name));
    const psf = psfEntry ? await memberSource(outer, psfEntry) : null;
    let members: PackageMember[] | null = null;
    let readMember: ExpressPackage['readMember'];
    for (const e of outer.entries) {
      if (classifyMember(e.name).role !== 'lcu-payload' || !/\.cab$/i.test(e.name)) continue;
      const inner = await openMemberCab(outer, e);
      closers.push(() => inner.close());
      if (inner.entries.some((x) => isCixName(x.name))) {
        members = cabMembers(inner, (x) => isCixName(x.name) || blobs.has(x.name.toLowerCase()));
        readMember = memberReader(inner);
        break;
      }
    }
    return { cixOrigin: loaded.origin, cix: loaded.cix, psf, ...(readMember ? { readMember } : {}), members, close };
  } catch (err) {
    await close();
    throw err;
  }
}

async function fromWimMsu(file: string, onCopyProgress?: (p: MemberCopyProgress) => void): Promise<ExpressPackage> {
  const loaded = await loadContainerIndex(file, { onProgress: onCopyProgress });
  const { wimDirDetailed } = await import('../wim/streams.js');
  const entries = (await wimDirDetailed(file, 1)).filter((e) => !e.isDirectory).sort((a, b) => (a.path < b.path ? -1 : 1));
  const e = entries.find((x) => classifyMember(x.path.slice(1)).role === 'psf') ?? entries.find((x) => isPsfName(x.path));
  if (!e) throw new FormatError('E_EXPAND_NO_PSF', 'this MSU carries a container index but no .psf', { file });
  if (!e.storedInPlace) {
    throw new UnsupportedError('E_EXPAND_PSF_COMPRESSED', `the .psf member ${e.path.slice(1)} is compressed inside the WIM; only stored members are streamed`, { file });
  }
  const outer = await FileSource.open(file);
  const psf = new SliceSource(outer, e.offset, e.size, `${file}!${e.path.slice(1)}`);
  return { cixOrigin: loaded.origin, cix: loaded.cix, psf, members: null, close: () => outer.close() };
}

/** Open an express package in any of the forms above (`onCopyProgress`: see loadContainerIndex). */
export async function openExpressPackage(file: string, onCopyProgress?: (p: MemberCopyProgress) => void): Promise<ExpressPackage> {
  let isDir: boolean;
  try {
    isDir = (await stat(file)).isDirectory();
  } catch (err) {
    throw ioError(err, file);
  }
  if (isDir) return fromFolder(file);
  const src = await FileSource.open(file);
  let kind: ReturnType<typeof detectContainer>;
  try {
    kind = detectContainer(await src.read(0, Math.min(src.size, 8)));
  } finally {
    await src.close();
  }
  if (kind === 'cab') return fromCabinet(file);
  if (kind === 'wim') return fromWimMsu(file, onCopyProgress);
  // Otherwise it should be the cix XML itself, with the .psf beside it.
  const loaded = await loadContainerIndex(file);
  const psf = await siblingPsf(file, loaded.cix);
  return { cixOrigin: loaded.origin, cix: loaded.cix, psf, members: null, close: async () => psf?.close() };
}
