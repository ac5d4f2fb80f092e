import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { FormatError, ioError, MsuError } from '../errors.js';
import { byCode } from '../util/compare.js';
import { showName } from '../util/display.js';
import { FileSource, type ByteSource } from '../util/source.js';
import { readCfFiles } from './cffile-scan.js';
import { CabError, CFHEADER_FIXED, parseCfFolders, parseCfHeader, type CfFileTable } from './header.js';
import type { OpenMember } from './member-writer.js';
import { DecodeContext, decodeFolder, StoredFolderSource, type CabPart, type FolderSpan } from './folder.js';
import {
  _A_NAME_IS_UTF, cfhdrNEXT_CABINET, cfhdrPREV_CABINET, ifoldCONTINUED_FROM_PREV, ifoldCONTINUED_PREV_AND_NEXT, ifoldCONTINUED_TO_NEXT,
  type CfFile, type CfHeader,
} from './types.js';

/** More parts than any real set has (the format's iCabinet is 16 bits; Windows media never split cabinets): a loop guard. */
const MAX_SET_PARTS = 1000;

/** A member as the set presents it: folder indexes are global across the cabinets of a set. */
export interface CabEntry extends CfFile {
  /** Index into Cabinet.folders (the logical, set-wide folder). */
  folder: number;
}

export interface ExtractOptions {
  /** Only members for which this returns true. */
  filter?: (e: CabEntry) => boolean;
  /** Check every non-zero CFDATA csum (default true): a mismatch is a CabError and nothing is written. */
  verifyChecksums?: boolean;
  /** Replace regular files of the same name already in `dest` (default: refuse, naming them). */
  overwrite?: boolean;
  /** Called after each member is written. */
  onProgress?: (done: number, total: number, name: string) => void;
}

export interface ExtractResult {
  /** The members written, sorted by name. */
  files: { name: string; size: number }[];
  bytes: number;
  /**
   * Paths more than one chosen member maps to (the same name, byte for byte, once `\` is `/`):
   * the last of them is written, as cabextract does. `name` is that member's name, `count` how
   * many members share the path; sorted by name, empty when there are none. Names differing only
   * in case are different files on Linux: both are written, and are not listed here.
   */
  duplicates: { name: string; count: number }[];
}

/**
 * Read the header region in one or two reads: CFHEADER + CFFOLDER table first,
 * then the CFFILE table, which ends before the first CFDATA block.
 */
async function readPart(source: ByteSource): Promise<{ part: CabPart; files: CfFileTable }> {
  try {
    return await readPartOf(source);
  } catch (err) {
    // the bounds-checked reader does not know the file: every header error names it here
    if (err instanceof MsuError) err.inFile(source.name);
    throw err;
  }
}

async function readPartOf(source: ByteSource): Promise<{ part: CabPart; files: CfFileTable }> {
  const name = source.name;
  const firstLen = Math.min(source.size, 64 * 1024);
  if (source.size < CFHEADER_FIXED) {
    throw new CabError(`file is too small to be a cabinet (${source.size} bytes)`, name);
  }
  const head = await source.read(0, firstLen, 'CFHEADER');
  const header: CfHeader = parseCfHeader(head, source.size, name);
  const folders = parseCfFolders(head.length >= header.coffFiles ? head : await source.read(0, header.coffFiles, 'CFFOLDER table'), header, name);
  // The CFFILE table ends before the first data block (or at most ~1 KiB a file).
  const dataStarts = folders.filter((f) => f.cCFData > 0).map((f) => f.coffCabStart);
  const firstData = dataStarts.length ? Math.min(...dataStarts) : header.cbCabinet;
  let end = firstData > header.coffFiles ? firstData : Math.min(header.cbCabinet, header.coffFiles + header.cFiles * 1040);
  end = Math.min(end, header.cbCabinet, header.coffFiles + header.cFiles * 1040);
  const files = await readCfFiles(source, head, end, header, folders.length);
  return { part: { source, header, folders }, files };
}

/**
 * The members of a cabinet (set) as rows over the parts' CFFILE tables: row `i` is CFFILE
 * `row[i]` of part `part[i]`, in set-wide folder `folder[i]`. Objects are made on demand.
 */
interface EntryRows {
  tables: CfFileTable[];
  part: Uint16Array;
  row: Uint32Array;
  folder: Uint32Array;
}

export class Cabinet {
  private all: CabEntry[] | undefined;
  private constructor(
    readonly parts: CabPart[],
    readonly folders: FolderSpan[],
    private readonly rows: EntryRows,
  ) {}

  /** Every member, in CFFILE order (objects made on first use, then kept). */
  get entries(): CabEntry[] {
    if (this.all === undefined) {
      const all: CabEntry[] = new Array(this.entryCount);
      for (let i = 0; i < all.length; i++) all[i] = this.makeEntry(i);
      this.all = all;
    }
    return this.all;
  }

  get entryCount(): number {
    return this.rows.row.length;
  }

  /** Member `i` (0 ≤ i < entryCount) without making the others. */
  entry(i: number): CabEntry {
    return this.all?.[i] ?? this.makeEntry(i);
  }

  /** CfFileTable.suffixIndex for every member, in entry order. */
  suffixIndex(suffixes: readonly Uint8Array[]): Uint8Array {
    const per = this.rows.tables.map((t) => t.suffixIndex(suffixes));
    if (per.length === 1 && per[0]!.length === this.entryCount) return per[0]!;
    const out = new Uint8Array(this.entryCount);
    for (let i = 0; i < out.length; i++) out[i] = per[this.rows.part[i]!]![this.rows.row[i]!]!;
    return out;
  }

  /** Whether member `i`'s name is UTF-8 (_A_NAME_IS_UTF) rather than code-page bytes. */
  nameIsUtf8(i: number): boolean {
    return (this.rows.tables[this.rows.part[i]!]!.attribs[this.rows.row[i]!]! & _A_NAME_IS_UTF) !== 0;
  }

  private makeEntry(i: number): CabEntry {
    // a fresh object: set-wide index and folder go straight onto it
    const e = this.rows.tables[this.rows.part[i]!]!.entry(this.rows.row[i]!) as CabEntry;
    e.index = i;
    e.folder = this.rows.folder[i]!;
    return e;
  }

  get name(): string {
    return this.parts[0]!.source.name;
  }

  get header(): CfHeader {
    return this.parts[0]!.header;
  }

  /**
   * Open one cabinet from a source. A cabinet that is part of a set (PREV_CABINET or
   * NEXT_CABINET) is refused as incomplete: a source has no directory to find the others in.
   */
  static async open(source: ByteSource): Promise<Cabinet> {
    const { part, files } = await readPart(source);
    return Cabinet.assemble([{ part, files }]);
  }

  /**
   * Open a cabinet file and, when it is part of a set, every cabinet of the set: back through
   * szCabinetPrev and on through szCabinetNext, each found in the same directory, by exact
   * name or else case-insensitively (as cabextract finds them). Any cabinet of a set opens
   * the whole set; a missing one is an error (E_CAB_SET_INCOMPLETE), never a partial listing.
   */
  static async openFile(file: string): Promise<Cabinet> {
    const parts: { part: CabPart; files: CfFileTable }[] = [];
    const dir = path.dirname(file);
    let listing: string[] | undefined;
    const seen = new Set<string>();
    const load = async (p: string): Promise<{ part: CabPart; files: CfFileTable }> => {
      if (seen.has(p) || seen.size >= MAX_SET_PARTS) throw new CabError('the cabinet set names a cabinet twice (a loop) or has too many parts', p);
      seen.add(p);
      const src = await FileSource.open(p);
      try {
        return await readPart(src);
      } catch (err) {
        await src.close();
        throw err;
      }
    };
    /** The file of the set's cabinet `name`, named by `from`: exact name first, else the one name that matches ignoring case. */
    const locate = async (name: string, from: string, which: 'next' | 'previous'): Promise<string> => {
      if (name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..') {
        throw new CabError(`${which} cabinet name ${JSON.stringify(name)} is not a plain file name`, from);
      }
      try {
        listing ??= (await fsp.readdir(dir)).sort();
      } catch (err) {
        throw ioError(err, dir, 'list');
      }
      const hit = listing.includes(name) ? name : listing.find((n) => n.toLowerCase() === name.toLowerCase());
      if (hit === undefined) {
        throw new FormatError(
          'E_CAB_SET_INCOMPLETE',
          `incomplete cabinet set: the ${which} cabinet ${JSON.stringify(name)} is not in the same directory`,
          { file: from },
        );
      }
      return path.join(dir, hit);
    };
    try {
      parts.push(await load(file));
      for (let first = parts[0]!; first.part.header.flags & cfhdrPREV_CABINET; first = parts[0]!) {
        parts.unshift(await load(await locate(first.part.header.szCabinetPrev ?? '', first.part.source.name, 'previous')));
      }
      for (let last = parts[parts.length - 1]!; last.part.header.flags & cfhdrNEXT_CABINET; last = parts[parts.length - 1]!) {
        parts.push(await load(await locate(last.part.header.szCabinetNext ?? '', last.part.source.name, 'next')));
      }
      for (const p of parts) {
        if (p.part.header.setID !== parts[0]!.part.header.setID) {
          throw new CabError(`cabinet is not part of the same set as ${parts[0]!.part.source.name} (setID ${p.part.header.setID}, not ${parts[0]!.part.header.setID})`, p.part.source.name);
        }
      }
      return Cabinet.assemble(parts);
    } catch (err) {
      for (const p of parts) await p.part.source.close();
      throw err;
    }
  }

  private static assemble(parts: { part: CabPart; files: CfFileTable }[]): Cabinet {
    const first = parts[0]!.part, last = parts[parts.length - 1]!.part;
    const incomplete = (msg: string, file: string): never => {
      throw new FormatError('E_CAB_SET_INCOMPLETE', `incomplete cabinet set: ${msg}`, { file });
    };
    if (first.header.flags & cfhdrPREV_CABINET) incomplete(`it continues a previous cabinet ${JSON.stringify(first.header.szCabinetPrev ?? '')}, which was not opened`, first.source.name);
    // includes(): a builtin search, where a callback per row runs interpreted on an LCU's 22,000
    const firstFolders = parts[0]!.files.iFolder, lastFolders = parts[parts.length - 1]!.files.iFolder;
    if (firstFolders.includes(ifoldCONTINUED_FROM_PREV) || firstFolders.includes(ifoldCONTINUED_PREV_AND_NEXT)) {
      incomplete('files continue from a previous cabinet, which was not opened', first.source.name);
    }
    if (last.header.flags & cfhdrNEXT_CABINET) incomplete(`it continues in the next cabinet ${JSON.stringify(last.header.szCabinetNext ?? '')}, which was not opened`, last.source.name);
    if (lastFolders.includes(ifoldCONTINUED_TO_NEXT) || lastFolders.includes(ifoldCONTINUED_PREV_AND_NEXT)) {
      incomplete('files continue in a next cabinet, which was not opened', last.source.name);
    }
    if (parts.length === 1) return Cabinet.single(parts[0]!.part, parts[0]!.files);
    const spans: FolderSpan[] = [];
    const total = parts.reduce((n, p) => n + p.files.count, 0);
    const rows: EntryRows = { tables: parts.map((p) => p.files), part: new Uint16Array(total), row: new Uint32Array(total), folder: new Uint32Array(total) };
    let count = 0;
    // A folder spans cabinets when a file crosses the boundary (CONTINUED_TO_NEXT in
    // cabinet N, CONTINUED_FROM_PREV in N+1): the last CFFOLDER of N and the first of
    // N+1 are then one folder, and offsets are relative to its start.
    let continuing = false;
    for (const [partIndex, { part, files }] of parts.entries()) {
      const base = continuing ? spans.length - 1 : spans.length;
      part.folders.forEach((f, i) => {
        if (i === 0 && continuing) spans[spans.length - 1]!.segments.push({ part, folder: f });
        else spans.push({ index: spans.length, compression: f.compression, segments: [{ part, folder: f }] });
      });
      continuing = false;
      for (let i = 0; i < files.count; i++) {
        const iFolder = files.iFolder[i]!;
        if (iFolder === ifoldCONTINUED_PREV_AND_NEXT) continuing = true;
        // Listed in full by the cabinet the file starts in.
        if (iFolder === ifoldCONTINUED_FROM_PREV || iFolder === ifoldCONTINUED_PREV_AND_NEXT) continue;
        let local = iFolder;
        if (iFolder === ifoldCONTINUED_TO_NEXT) {
          local = part.folders.length - 1;
          continuing = true;
        }
        rows.part[count] = partIndex;
        rows.row[count] = i;
        rows.folder[count] = base + local;
        count++;
      }
    }
    for (const s of spans) {
      const c = s.segments[0]!.folder.compression;
      for (const seg of s.segments) {
        if (seg.folder.compression.raw !== c.raw) {
          throw new CabError(`folder ${s.index} changes compression between cabinets`, seg.part.source.name);
        }
      }
    }
    return new Cabinet(parts.map((p) => p.part), spans, {
      tables: rows.tables, part: rows.part.subarray(0, count), row: rows.row.subarray(0, count), folder: rows.folder.subarray(0, count),
    });
  }

  /**
   * A cabinet on its own (checked above: no file continues to or from another): its rows are
   * its CFFILE rows and its folders its CFFOLDERs, so the row map is filled without a walk.
   */
  private static single(part: CabPart, files: CfFileTable): Cabinet {
    const n = files.count;
    const row = new Uint32Array(n);
    for (let i = 0; i < n; i++) row[i] = i;
    const folder = new Uint32Array(n);
    folder.set(files.iFolder);
    const spans = part.folders.map((f, index): FolderSpan => ({ index, compression: f.compression, segments: [{ part, folder: f }] }));
    return new Cabinet([part], spans, { tables: [files], part: new Uint16Array(n), row, folder });
  }

  async close(): Promise<void> {
    for (const p of this.parts) await p.source.close();
  }

  find(name: string): CabEntry | undefined {
    const lower = name.toLowerCase().replace(/\//g, '\\');
    return this.entries.find((e) => e.name.toLowerCase() === lower);
  }

  /**
   * Bytes of one member: decodes its folder from the start and stops as soon as
   * the member is complete (folders reset only at their start, so that is the least work).
   */
  async readFile(entry: CabEntry, opts: { /** default true */ verifyChecksums?: boolean } = {}): Promise<Uint8Array> {
    const span = this.folders[entry.folder];
    if (!span) throw new CabError(`member ${entry.name} refers to a missing folder`, this.name);
    if (entry.cbFile === 0) return new Uint8Array(0);
    const stored = this.storedSource(entry);
    if (stored) {
      if (opts.verifyChecksums ?? true) await stored.verify(0, entry.cbFile);
      return stored.read(0, entry.cbFile, entry.name);
    }
    const out = new Uint8Array(entry.cbFile);
    const start = entry.uoffFolderStart, end = start + entry.cbFile;
    const produced = await decodeFolder(
      span,
      (block, at) => {
        const lo = Math.max(start, at), hi = Math.min(end, at + block.length);
        if (lo < hi) out.set(block.subarray(lo - at, hi - at), lo - start);
      },
      { from: start, until: end, verify: opts.verifyChecksums ?? true, file: this.name },
    );
    if (produced < end) {
      throw new CabError(`member ${entry.name} ends at ${end} but folder ${span.index} holds only ${produced} bytes`, this.name);
    }
    return out;
  }

  /**
   * Several whole members, each folder decoded once: reading them one by one with readFile
   * decodes a folder again from its start for each. All of them are held in memory at once.
   */
  async readFiles(chosen: CabEntry[], opts: { verifyChecksums?: boolean } = {}): Promise<Map<CabEntry, Uint8Array>> {
    const out = new Map<CabEntry, Uint8Array>();
    const filled = new Map<CabEntry, number>();
    for (const e of chosen) out.set(e, new Uint8Array(e.cbFile));
    await this.streamMembers([...out.keys()], (e, chunk) => {
      const at = filled.get(e) ?? 0;
      out.get(e)!.set(chunk, at);
      filled.set(e, at + chunk.length);
    }, opts);
    return out;
  }

  /**
   * Stream the bytes of several members, decoding each folder once (reading
   * members one by one re-decodes a folder from its start each time). `onData`
   * gets each member's bytes in order, in pieces; `last` marks its final piece
   * (an empty member gets one empty, last piece).
   */
  async streamMembers(
    chosen: CabEntry[],
    onData: (e: CabEntry, chunk: Uint8Array, last: boolean) => void | Promise<void>,
    opts: { verifyChecksums?: boolean } = {},
  ): Promise<void> {
    const context = new DecodeContext();
    for (const [folderIndex, members] of membersByFolder(chosen)) {
      const span = this.folders[folderIndex];
      if (!span) throw new CabError(`a member refers to missing folder ${folderIndex}`, this.name);
      for (const e of members) if (e.cbFile === 0) await onData(e, new Uint8Array(0), true);
      const slicer = new FolderSlicer(members);
      const produced = slicer.need === 0 ? 0 : await decodeFolder(
        span,
        async (block, at) => {
          const pieces: [CabEntry, Uint8Array, boolean][] = [];
          slicer.slice(block, at, (e, piece, last) => pieces.push([e, piece, last]));
          for (const [e, piece, last] of pieces) await onData(e, piece, last);
        },
        { from: slicer.from, until: slicer.need, verify: opts.verifyChecksums ?? true, file: this.name, context },
      );
      slicer.checkProduced(produced, span.index, this.name);
    }
  }

  /**
   * A member of a stored (uncompressed) folder as an in-place ByteSource, or null
   * when the member is compressed or its folder spans cabinets.
   */
  storedSource(entry: CabEntry): StoredFolderSource | null {
    const span = this.folders[entry.folder];
    if (!span || span.compression.method !== 'none' || span.segments.length !== 1) return null;
    const { part, folder } = span.segments[0]!;
    return new StoredFolderSource(part, folder, entry.uoffFolderStart, entry.cbFile, `${this.name}!${entry.name}`);
  }

  /**
   * The output path of each member to write, keyed by path (`rel` gives a member's checked
   * relative path as a byte string). Members that map to the same path: the last one is kept,
   * as cabextract writes them in order and the last one stays, and the path is reported in
   * `duplicates`. A path that one member needs as a directory (`x\y`) while another is a file
   * there (`x`) is bad input (E_NAME_CONFLICT), whichever comes first: no order of writing
   * gives both.
   */
  private outputPaths(chosen: CabEntry[], rel: (e: CabEntry) => string): { rels: Map<string, CabEntry>; duplicates: ExtractResult['duplicates'] } {
    const rels = new Map<string, CabEntry>();
    const counts = new Map<string, number>();
    for (const e of chosen) {
      const r = rel(e);
      if (rels.has(r)) counts.set(r, (counts.get(r) ?? 1) + 1);
      rels.set(r, e);
    }
    for (const [r, e] of rels) {
      for (let i = r.indexOf('/'); i !== -1; i = r.indexOf('/', i + 1)) {
        const file = rels.get(r.slice(0, i));
        if (file !== undefined) {
          throw new FormatError(
            'E_NAME_CONFLICT',
            `member ${showName(e.name)} needs ${showName(file.name)} to be a directory, but member ${showName(file.name)} is a file`,
            { file: this.name },
          );
        }
      }
    }
    const duplicates = [...counts].map(([r, count]) => ({ name: rels.get(r)!.name, count }));
    duplicates.sort((a, b) => byCode(a.name, b.name));
    return { rels, duplicates };
  }

  /**
   * Extract members under `dest`. All output goes to a staging directory inside
   * `dest` and is moved into place only when every member succeeded.
   */
  async extract(dest: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
    const chosen = this.entries.filter((e) => (opts.filter ? opts.filter(e) : true));
    // loaded here, not with the module: listing and inspecting a cabinet write nothing
    const [{ byteString, safeRelativePath, showPath, StagedDir }, { memberWriterFor }] = await Promise.all([
      import('../util/fsout.js'), import('./member-writer.js'),
    ]);
    // Resolve every output path before anything is created: a hostile name, or two names that
    // need one path to be both a file and a directory, fail here with nothing written.
    // Paths are byte strings (see byteString): a name without the UTF-8 flag goes to disk as its bytes.
    const { rels, duplicates } = this.outputPaths(chosen, (e) => (e.nameBytes
      ? safeRelativePath(Buffer.from(e.nameBytes).toString('latin1'), this.name, true)
      : byteString(safeRelativePath(e.name, this.name))));
    const staged = await StagedDir.create(dest, { overwrite: opts.overwrite });
    const result: ExtractResult = { files: [], bytes: 0, duplicates };
    try {
      const stagingLen = staged.stagingBytes.length + 1;
      const total = rels.size;
      // made first: a writer thread starts up while the staging directories are made
      const writer = memberWriterFor(total, (p) => path.join(dest, showPath(p.slice(stagingLen))));
      const paths = new Map<CabEntry, string>();
      let done = 0;
      const context = new DecodeContext();
      try {
        for (const [rel, e] of rels) paths.set(e, staged.pathForBytesSync(rel));
        for (const [folderIndex, all] of membersByFolder(chosen)) {
          const span = this.folders[folderIndex]!;
          const members = all.filter((e) => paths.has(e));
          const open = new Map<CabEntry, OpenMember>();
          const finished = (e: CabEntry): void => {
            done++;
            opts.onProgress?.(done, total, e.name);
          };
          for (const e of members) if (e.cbFile === 0) {
            writer.end(writer.begin(paths.get(e)!, 0, mtimeOf(e)));
            finished(e);
          }
          const slicer = new FolderSlicer(members);
          const produced = slicer.need === 0 ? 0 : await decodeFolder(
            span,
            (block, at) => {
              slicer.slice(block, at, (e, piece, last) => {
                let m = open.get(e);
                if (m === undefined) {
                  m = writer.begin(paths.get(e)!, e.cbFile, mtimeOf(e));
                  open.set(e, m);
                }
                writer.data(m, piece);
                if (last) {
                  writer.end(m);
                  open.delete(e);
                  finished(e);
                }
              });
              return writer.backpressure();
            },
            { from: slicer.from, until: slicer.need, verify: opts.verifyChecksums ?? true, file: this.name, context },
          );
          slicer.checkProduced(produced, span.index, this.name);
          for (const e of members) {
            result.files.push({ name: e.name, size: e.cbFile });
            result.bytes += e.cbFile;
          }
        }
        await writer.finish();
      } catch (err) {
        await writer.abandon();
        throw err;
      }
      await staged.commit();
      result.files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      return result;
    } catch (err) {
      await staged.abort();
      if (err instanceof MsuError) throw err.inFile(this.name);
      throw ioError(err, dest, 'extract into');
    }
  }
}

/** FAT times carry no zone: written as UTC so the result does not depend on the machine's zone. */
const mtimes = new Map<string, Date | undefined>();
function mtimeOf(e: CabEntry): Date | undefined {
  if (!e.modified) return undefined;
  // members share a few timestamps; the Date is only read, never changed
  let t = mtimes.get(e.modified);
  if (t === undefined && !mtimes.has(e.modified)) {
    const d = new Date(e.modified + 'Z');
    t = Number.isNaN(d.getTime()) ? undefined : d;
    if (mtimes.size > 4096) mtimes.clear();
    mtimes.set(e.modified, t);
  }
  return t;
}

/** Chosen members grouped by folder: folders in order, members by their offset in the folder. */
function membersByFolder(chosen: readonly CabEntry[]): [number, CabEntry[]][] {
  const byFolder = new Map<number, CabEntry[]>();
  for (const e of chosen) {
    const list = byFolder.get(e.folder);
    if (list) list.push(e);
    else byFolder.set(e.folder, [e]);
  }
  return [...byFolder.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([f, list]) => [f, list.sort((a, b) => a.uoffFolderStart - b.uoffFolderStart)]);
}

/**
 * One pass over a folder's decoded blocks, for several members at once: each block is cut
 * into the pieces the members (sorted by offset) own. Empty members get no piece here.
 */
export class FolderSlicer {
  /** Uncompressed bytes of the folder the members need. */
  readonly need: number;
  /** Where the first member with bytes starts: the folder before it is decoded but not read. */
  readonly from: number;
  /** First member not yet finished. */
  private next = 0;

  constructor(private readonly members: readonly CabEntry[]) {
    this.need = members.reduce((m, e) => Math.max(m, e.uoffFolderStart + e.cbFile), 0);
    this.from = members.reduce((m, e) => (e.cbFile > 0 ? Math.min(m, e.uoffFolderStart) : m), this.need);
  }

  slice(block: Uint8Array, at: number, piece: (e: CabEntry, bytes: Uint8Array, last: boolean) => void): void {
    const blockEnd = at + block.length;
    const members = this.members;
    for (let i = this.next; i < members.length; i++) {
      const e = members[i]!;
      if (e.uoffFolderStart >= blockEnd) break;
      const mEnd = e.uoffFolderStart + e.cbFile;
      if (e.cbFile === 0 || mEnd <= at) continue;
      const lo = Math.max(e.uoffFolderStart, at), hi = Math.min(mEnd, blockEnd);
      piece(e, block.subarray(lo - at, hi - at), hi === mEnd);
    }
    while (this.next < members.length && members[this.next]!.uoffFolderStart + members[this.next]!.cbFile <= blockEnd) this.next++;
  }

  /** A folder that ends before its members do is damaged. */
  checkProduced(produced: number, folder: number, file: string): void {
    if (produced >= this.need) return;
    const short = this.members.find((e) => e.uoffFolderStart + e.cbFile > produced)!;
    throw new CabError(`member ${short.name} ends at ${short.uoffFolderStart + short.cbFile} but folder ${folder} holds only ${produced} bytes`, file);
  }
}
