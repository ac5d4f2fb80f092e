import { constants, deflateRawSync } from 'node:zlib';
import { UsageError } from '../errors.js';
import { cfdataChecksum } from './checksum.js';
import {
  cfhdrNEXT_CABINET, cfhdrPREV_CABINET, cfhdrRESERVE_PRESENT, CFDATA_MAX_UNCOMP,
  ifoldCONTINUED_FROM_PREV, ifoldCONTINUED_PREV_AND_NEXT, ifoldCONTINUED_TO_NEXT, _A_ARCH, _A_NAME_IS_UTF,
  tcompTYPE_MSZIP, tcompTYPE_NONE,
} from './types.js';

/**
 * A small cabinet writer (stored and MSZIP), used to build test fixtures, the demo
 * sample and benchmark inputs, and usable to repack packages. It writes what
 * makecab writes: full 32 KiB CFDATA blocks, MSZIP blocks that use the previous
 * block as history, optional reserve areas, checksums, and cabinet sets.
 */
export interface CabWriteFile {
  name: string;
  data: Uint8Array;
  /** Local time as `YYYY-MM-DDTHH:MM:SS`; default 2020-01-01T00:00:00. */
  modified?: string;
  attribs?: number;
}

export interface CabWriteFolder {
  compression: 'none' | 'mszip';
  files: CabWriteFile[];
}

export interface CabWriteOptions {
  folders: CabWriteFolder[];
  /** Reserve areas (RESERVE_PRESENT): bytes per CFHEADER, CFFOLDER, CFDATA. */
  reserve?: { header?: number; folder?: number; data?: number };
  /** Compute CFDATA checksums (default true). */
  checksums?: boolean;
  setID?: number;
}

export interface Block {
  data: Uint8Array;
  cbUncomp: number;
}

interface FolderOut {
  typeCompress: number;
  blocks: Block[];
  files: { f: CabWriteFile; offset: number }[];
}

function fatDate(s: string): { date: number; time: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/.exec(s);
  if (!m) throw new UsageError(`bad member time ${JSON.stringify(s)}`);
  const [y, mo, d, h, mi, se] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  return { date: ((y - 1980) << 9) | (mo << 5) | d, time: (h << 11) | (mi << 5) | (se >> 1) };
}

function encodeFolder(folder: CabWriteFolder): FolderOut {
  const total = folder.files.reduce((n, f) => n + f.data.length, 0);
  const stream = new Uint8Array(total);
  const files: FolderOut['files'] = [];
  let at = 0;
  for (const f of folder.files) {
    stream.set(f.data, at);
    files.push({ f, offset: at });
    at += f.data.length;
  }
  const blocks: Block[] = [];
  let prev: Uint8Array | null = null;
  for (let off = 0; off < total; off += CFDATA_MAX_UNCOMP) {
    const chunk = stream.subarray(off, Math.min(total, off + CFDATA_MAX_UNCOMP));
    if (folder.compression === 'none') {
      blocks.push({ data: chunk, cbUncomp: chunk.length });
    } else {
      const body = deflateRawSync(chunk, {
        ...(prev ? { dictionary: prev } : {}),
        finishFlush: constants.Z_FINISH,
        level: 6,
      });
      const data = new Uint8Array(2 + body.length);
      data[0] = 0x43; // 'C'
      data[1] = 0x4b; // 'K'
      data.set(body, 2);
      blocks.push({ data, cbUncomp: chunk.length });
      prev = chunk;
    }
  }
  return { typeCompress: folder.compression === 'none' ? tcompTYPE_NONE : tcompTYPE_MSZIP, blocks, files };
}

class Out {
  private chunks: Uint8Array[] = [];
  length = 0;
  u8(v: number) { this.push(Uint8Array.of(v & 0xff)); }
  u16(v: number) { this.push(Uint8Array.of(v & 0xff, (v >> 8) & 0xff)); }
  u32(v: number) { this.push(Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff)); }
  bytes(b: Uint8Array) { this.push(b); }
  zstr(s: string) { this.push(Buffer.from(s + '\0', /[^\x00-\x7f]/.test(s) ? 'utf8' : 'latin1')); }
  private push(b: Uint8Array) { this.chunks.push(b); this.length += b.length; }
  done(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) { out.set(c, at); at += c.length; }
    return out;
  }
}

/**
 * Lay out one cabinet from already-encoded CFDATA blocks: `folders` carry the blocks,
 * `rows` the CFFILE entries. Lets benchmarks re-pack real compressed folders.
 */
export function layout(
  folders: { typeCompress: number; blocks: Block[] }[],
  rows: { name: string; size: number; offset: number; iFolder: number; modified: string; attribs: number }[],
  o: { reserve: { header: number; folder: number; data: number }; checksums: boolean; setID: number; iCabinet: number; prev?: string; next?: string },
): Uint8Array {
  const hasReserve = o.reserve.header + o.reserve.folder + o.reserve.data > 0;
  let flags = 0;
  if (o.prev) flags |= cfhdrPREV_CABINET;
  if (o.next) flags |= cfhdrNEXT_CABINET;
  if (hasReserve) flags |= cfhdrRESERVE_PRESENT;
  const strLen = (s?: string) => (s ? Buffer.byteLength(s) + 1 + 1 : 0); // name + empty disk label
  let headerSize = 36 + (hasReserve ? 4 + o.reserve.header : 0) + strLen(o.prev) + strLen(o.next);
  const folderTable = folders.length * (8 + o.reserve.folder);
  const coffFiles = headerSize + folderTable;
  const fileTable = rows.reduce((n, r) => n + 16 + Buffer.byteLength(r.name, /[^\x00-\x7f]/.test(r.name) ? 'utf8' : 'latin1') + 1, 0);
  let dataAt = coffFiles + fileTable;
  const starts: number[] = [];
  for (const f of folders) {
    starts.push(dataAt);
    for (const b of f.blocks) dataAt += 8 + o.reserve.data + b.data.length;
  }
  const cbCabinet = dataAt;
  const out = new Out();
  out.bytes(Uint8Array.of(0x4d, 0x53, 0x43, 0x46));
  out.u32(0); out.u32(cbCabinet); out.u32(0); out.u32(coffFiles); out.u32(0);
  out.u8(3); out.u8(1); out.u16(folders.length); out.u16(rows.length); out.u16(flags); out.u16(o.setID); out.u16(o.iCabinet);
  if (hasReserve) {
    out.u16(o.reserve.header); out.u8(o.reserve.folder); out.u8(o.reserve.data);
    out.bytes(new Uint8Array(o.reserve.header));
  }
  if (o.prev) { out.zstr(o.prev); out.zstr(''); }
  if (o.next) { out.zstr(o.next); out.zstr(''); }
  headerSize = out.length;
  folders.forEach((f, i) => {
    out.u32(starts[i]!); out.u16(f.blocks.length); out.u16(f.typeCompress);
    out.bytes(new Uint8Array(o.reserve.folder));
  });
  for (const r of rows) {
    const { date, time } = fatDate(r.modified);
    const utf = /[^\x00-\x7f]/.test(r.name);
    out.u32(r.size); out.u32(r.offset); out.u16(r.iFolder); out.u16(date); out.u16(time);
    out.u16(r.attribs | (utf ? _A_NAME_IS_UTF : 0));
    out.zstr(r.name);
  }
  for (const f of folders) {
    for (const b of f.blocks) {
      const hdr = new Uint8Array(4 + o.reserve.data);
      hdr[0] = b.data.length & 0xff; hdr[1] = b.data.length >> 8;
      hdr[2] = b.cbUncomp & 0xff; hdr[3] = b.cbUncomp >> 8;
      out.u32(o.checksums ? cfdataChecksum(hdr, b.data) : 0);
      out.bytes(hdr);
      out.bytes(b.data);
    }
  }
  return out.done();
}

function normalise(opts: CabWriteOptions) {
  return {
    reserve: { header: opts.reserve?.header ?? 0, folder: opts.reserve?.folder ?? 0, data: opts.reserve?.data ?? 0 },
    checksums: opts.checksums ?? true,
    setID: opts.setID ?? 0x1234,
  };
}

/** Build one cabinet in memory. */
export function buildCabinet(opts: CabWriteOptions): Uint8Array {
  const enc = opts.folders.map(encodeFolder);
  const rows = enc.flatMap((f, i) => f.files.map(({ f: file, offset }) => ({
    name: file.name, size: file.data.length, offset, iFolder: i,
    modified: file.modified ?? '2020-01-01T00:00:00', attribs: file.attribs ?? _A_ARCH,
  })));
  return layout(enc, rows, { ...normalise(opts), iCabinet: 0 });
}

/**
 * Build a cabinet set the way Microsoft's tools split one (the CAB specification's
 * convention, which cabextract and 7-Zip follow): CFDATA blocks are laid out until a cabinet
 * holds `cabinetDataSize` bytes of CFDATA (headers included); the block that does not fit is
 * split at the boundary, its first piece with cbUncomp 0 ("continued in the next cabinet")
 * and the rest at the start of the next cabinet, where the folder goes on as that cabinet's
 * first folder. A file of a folder that spans cabinets is listed in each cabinet from the
 * folder's first to the one holding its last byte: CONTINUED_TO_NEXT in the first,
 * CONTINUED_FROM_PREV in the last, CONTINUED_PREV_AND_NEXT in between. A folder only ever
 * continues through a split block, so some file always crosses the boundary and says that
 * the folder goes on.
 */
export function buildCabinetSet(opts: CabWriteOptions & { cabinetDataSize: number; names: string[] }): Uint8Array[] {
  const n = normalise(opts);
  const hdr = 8 + n.reserve.data;
  if (!Number.isSafeInteger(opts.cabinetDataSize) || opts.cabinetDataSize < 2 * (hdr + 1)) {
    throw new UsageError(`cabinetDataSize ${opts.cabinetDataSize} is too small (at least ${2 * (hdr + 1)} bytes)`);
  }
  /** One folder's blocks (or pieces of blocks) in one cabinet; `first`..`last` index the folder's blocks touched. */
  type Piece = { folder: number; blocks: Block[]; first: number; last: number };
  const cabs: Piece[][] = [[]];
  let room = opts.cabinetDataSize;
  const enc = opts.folders.map(encodeFolder);
  enc.forEach((f, fi) => {
    if (room < hdr + 1) { cabs.push([]); room = opts.cabinetDataSize; }
    let piece: Piece = { folder: fi, blocks: [], first: 0, last: -1 };
    cabs[cabs.length - 1]!.push(piece);
    f.blocks.forEach((b, bi) => {
      let data = b.data;
      const more = bi < f.blocks.length - 1;
      for (;;) {
        // a whole block must leave room for a piece of the next one, so that the folder
        // never continues at a block boundary, where no file would say it goes on
        if (hdr + data.length + (more ? hdr + 1 : 0) <= room || data.length < 2) {
          piece.blocks.push({ data, cbUncomp: b.cbUncomp });
          piece.last = bi;
          room -= hdr + data.length;
          break;
        }
        const take = Math.min(data.length - 1, room - hdr);
        if (take >= 1) {
          piece.blocks.push({ data: data.subarray(0, take), cbUncomp: 0 });
          piece.last = bi;
          data = data.subarray(take);
        }
        cabs.push([]);
        room = opts.cabinetDataSize;
        piece = { folder: fi, blocks: [], first: bi, last: bi };
        cabs[cabs.length - 1]!.push(piece);
      }
    });
  });
  if (cabs.length > opts.names.length) throw new UsageError(`cabinet set needs ${cabs.length} names, got ${opts.names.length}`);
  // uncompressed start of each block, per folder
  const starts = enc.map((f) => {
    const out = [0];
    for (const b of f.blocks) out.push(out[out.length - 1]! + b.cbUncomp);
    return out;
  });
  // A file is listed from the cabinet its folder starts in to the one holding its last byte:
  // cabextract takes the files of a folder that spans cabinets from the cabinet where the
  // folder starts, and ignores ones first listed later (libmspack's multi-part test cabinets
  // list every file of a spanning folder in every cabinet of it).
  const folderFrom = new Map<number, number>();
  const spans = new Map<CabWriteFile, { from: number; to: number }>();
  cabs.forEach((pieces, ci) => {
    for (const p of pieces) {
      if (!folderFrom.has(p.folder)) folderFrom.set(p.folder, ci);
      const st = starts[p.folder]!;
      const lo = st[p.first]!, hi = st[p.last + 1] ?? lo;
      const lastPiece = p.last === enc[p.folder]!.blocks.length - 1;
      for (const { f, offset } of enc[p.folder]!.files) {
        const end = offset + f.data.length;
        const inside = f.data.length === 0 ? offset >= lo && (offset < hi || (offset === hi && lastPiece)) : offset < hi && end > lo;
        if (!inside) continue;
        const s = spans.get(f);
        if (!s) spans.set(f, { from: folderFrom.get(p.folder)!, to: ci });
        else if (f.data.length > 0) s.to = ci;
      }
    }
  });
  return cabs.map((pieces, ci) => {
    const rows: Parameters<typeof layout>[1] = [];
    pieces.forEach((p, li) => {
      for (const { f, offset } of enc[p.folder]!.files) {
        const s = spans.get(f);
        if (!s || ci < s.from || ci > s.to) continue;
        const fromPrev = ci > s.from, toNext = ci < s.to;
        const iFolder = fromPrev && toNext ? ifoldCONTINUED_PREV_AND_NEXT : fromPrev ? ifoldCONTINUED_FROM_PREV : toNext ? ifoldCONTINUED_TO_NEXT : li;
        rows.push({ name: f.name, size: f.data.length, offset, iFolder, modified: f.modified ?? '2020-01-01T00:00:00', attribs: f.attribs ?? _A_ARCH });
      }
    });
    return layout(
      pieces.map((p) => ({ typeCompress: enc[p.folder]!.typeCompress, blocks: p.blocks })),
      rows,
      { ...n, iCabinet: ci, prev: ci > 0 ? opts.names[ci - 1] : undefined, next: ci < cabs.length - 1 ? opts.names[ci + 1] : undefined },
    );
  });
}
