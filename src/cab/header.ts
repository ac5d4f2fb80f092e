import { FormatError, UnsupportedError } from '../errors.js';
import { showName } from '../util/display.js';
import { ByteReader } from '../util/reader.js';
import {
  CAB_SIGNATURE, cfhdrNEXT_CABINET, cfhdrPREV_CABINET, cfhdrRESERVE_PRESENT, MAX_CAB_SIZE,
  ifoldCONTINUED_FROM_PREV, ifoldCONTINUED_PREV_AND_NEXT, _A_NAME_IS_UTF,
  tcompTYPE_LZX, tcompTYPE_MSZIP, tcompTYPE_NONE, tcompTYPE_QUANTUM,
  type CfFile, type CfFolder, type CfHeader, type Compression,
} from './types.js';

export class CabError extends FormatError {
  constructor(message: string, file?: string, where?: string) {
    super('E_CAB', message, { file, where });
  }
}

/** Longest CFFILE.szName in the CAB specification, its NUL included. */
export const CB_MAX_FILENAME = 256;

/** Size of the fixed part of CFHEADER. */
export const CFHEADER_FIXED = 36;

export function isCabinet(bytes: Uint8Array): boolean {
  return new ByteReader(bytes).startsWith(CAB_SIGNATURE);
}

export function decodeCompression(typeCompress: number): Compression {
  const kind = typeCompress & 0x000f;
  const bits = (typeCompress >> 8) & 0x1f;
  switch (kind) {
    case tcompTYPE_NONE:
      return { method: 'none', windowBits: 0, raw: typeCompress, label: 'None' };
    case tcompTYPE_MSZIP:
      return { method: 'mszip', windowBits: 0, raw: typeCompress, label: 'MSZIP' };
    case tcompTYPE_QUANTUM:
      return { method: 'quantum', windowBits: bits, raw: typeCompress, label: `Quantum:${(typeCompress >> 4) & 0xf}` };
    case tcompTYPE_LZX:
      return { method: 'lzx', windowBits: bits, raw: typeCompress, label: `LZX:${bits}` };
    default:
      return { method: 'unknown', windowBits: 0, raw: typeCompress, label: `unknown(0x${typeCompress.toString(16)})` };
  }
}

/**
 * Parse CFHEADER (fixed part, reserve sizes, prev/next cabinet names).
 * `bytes` starts at the cabinet's first byte and holds at least the header.
 * `fileSize` is the size of the file (or window) the cabinet sits in.
 */
export function parseCfHeader(bytes: Uint8Array, fileSize: number, file?: string): CfHeader {
  const r = new ByteReader(bytes);
  if (!r.startsWith(CAB_SIGNATURE)) throw new CabError('not a cabinet (no MSCF signature)', file);
  r.skip(4, 'signature');
  r.u32('CFHEADER.reserved1');
  const cbCabinet = r.u32('CFHEADER.cbCabinet');
  r.u32('CFHEADER.reserved2');
  const coffFiles = r.u32('CFHEADER.coffFiles');
  r.u32('CFHEADER.reserved3');
  const versionMinor = r.u8('CFHEADER.versionMinor');
  const versionMajor = r.u8('CFHEADER.versionMajor');
  const cFolders = r.u16('CFHEADER.cFolders');
  const cFiles = r.u16('CFHEADER.cFiles');
  const flags = r.u16('CFHEADER.flags');
  const setID = r.u16('CFHEADER.setID');
  const iCabinet = r.u16('CFHEADER.iCabinet');
  if (versionMajor !== 1) {
    throw new UnsupportedError('E_CAB_VERSION', `unsupported cabinet format version ${versionMajor}.${versionMinor}`, { file });
  }
  let cbCFHeader = 0, cbCFFolder = 0, cbCFData = 0;
  let abReserve: Uint8Array = new Uint8Array(0);
  if (flags & cfhdrRESERVE_PRESENT) {
    cbCFHeader = r.u16('CFHEADER.cbCFHeader');
    cbCFFolder = r.u8('CFHEADER.cbCFFolder');
    cbCFData = r.u8('CFHEADER.cbCFData');
    if (cbCFHeader > 60000) throw new CabError(`CFHEADER reserve of ${cbCFHeader} bytes exceeds the format's 60000`, file);
    abReserve = r.take(cbCFHeader, 'CFHEADER.abReserve');
  }
  const h: CfHeader = {
    cbCabinet, coffFiles, versionMinor, versionMajor, cFolders, cFiles, flags, setID, iCabinet,
    cbCFHeader, cbCFFolder, cbCFData, abReserve, headerSize: 0,
  };
  if (flags & cfhdrPREV_CABINET) {
    h.szCabinetPrev = r.cstring(255, 'szCabinetPrev');
    h.szDiskPrev = r.cstring(255, 'szDiskPrev');
  }
  if (flags & cfhdrNEXT_CABINET) {
    h.szCabinetNext = r.cstring(255, 'szCabinetNext');
    h.szDiskNext = r.cstring(255, 'szDiskNext');
  }
  h.headerSize = r.pos;
  if (cbCabinet > MAX_CAB_SIZE) throw new CabError(`cbCabinet ${cbCabinet} exceeds the 2 GiB limit`, file);
  if (cbCabinet > fileSize) {
    throw new CabError(`file is truncated: header says ${cbCabinet} bytes, file has ${fileSize}`, file);
  }
  if (cbCabinet < h.headerSize) throw new CabError(`cbCabinet ${cbCabinet} is smaller than the header`, file);
  if (coffFiles < h.headerSize || coffFiles >= cbCabinet) {
    throw new CabError(`CFFILE table offset ${coffFiles} lies outside the cabinet`, file);
  }
  // Every CFFOLDER sits between the header and coffFiles; a count that cannot fit is hostile.
  const folderBytes = cFolders * (8 + cbCFFolder);
  if (h.headerSize + folderBytes > coffFiles) {
    throw new CabError(`${cFolders} CFFOLDER entries do not fit before the CFFILE table at ${coffFiles}`, file);
  }
  // cabextract reads the CFFILE table right after the CFFOLDER table, the specification at
  // coffFiles: a gap between the two could show one list to one tool and another list to
  // another (libmspack's hidden-files.cab), so it is refused
  if (coffFiles !== h.headerSize + folderBytes) {
    throw new CabError(`CFFILE table offset ${coffFiles} is not where the CFFOLDER table ends (${h.headerSize + folderBytes}): entries could be hidden in the gap`, file);
  }
  if (cFiles === 0) throw new CabError('the cabinet holds no files (CFHEADER.cFiles is 0)', file);
  if (coffFiles + cFiles * 17 > cbCabinet) {
    throw new CabError(`${cFiles} CFFILE entries cannot fit in a ${cbCabinet}-byte cabinet`, file);
  }
  return h;
}

/** Parse the CFFOLDER table; `bytes` is the same prefix buffer as for parseCfHeader. */
export function parseCfFolders(bytes: Uint8Array, h: CfHeader, file?: string): CfFolder[] {
  const r = new ByteReader(bytes);
  r.seek(h.headerSize, 'CFFOLDER table');
  const folders: CfFolder[] = [];
  for (let i = 0; i < h.cFolders; i++) {
    const coffCabStart = r.u32(`CFFOLDER[${i}].coffCabStart`);
    const cCFData = r.u16(`CFFOLDER[${i}].cCFData`);
    const typeCompress = r.u16(`CFFOLDER[${i}].typeCompress`);
    r.skip(h.cbCFFolder, `CFFOLDER[${i}].abReserve`);
    if (coffCabStart > h.cbCabinet || (cCFData > 0 && coffCabStart + cCFData * (8 + h.cbCFData) > h.cbCabinet)) {
      throw new CabError(`CFFOLDER ${i}: ${cCFData} data blocks at offset ${coffCabStart} do not fit in the cabinet`, file);
    }
    if (coffCabStart < h.coffFiles && cCFData > 0) {
      throw new CabError(`CFFOLDER ${i}: data offset ${coffCabStart} overlaps the header or CFFILE table`, file);
    }
    folders.push({ index: i, coffCabStart, cCFData, compression: decodeCompression(typeCompress) });
  }
  const sorted = [...folders].filter((f) => f.cCFData > 0).sort((a, b) => a.coffCabStart - b.coffCabStart);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1]!, cur = sorted[i]!;
    if (cur.coffCabStart === prev.coffCabStart) {
      throw new CabError(`CFFOLDER ${prev.index} and ${cur.index} start at the same offset ${cur.coffCabStart} (overlapping folders)`, file);
    }
  }
  return folders;
}

/** FAT date/time (local, no zone) to `YYYY-MM-DDTHH:MM:SS`, or null for impossible values. */
export function fatDateTime(date: number, time: number): string | null {
  const y = 1980 + (date >> 9), m = (date >> 5) & 0xf, d = date & 0x1f;
  const hh = time >> 11, mm = (time >> 5) & 0x3f, ss = (time & 0x1f) * 2;
  if (m < 1 || m > 12 || d < 1 || d > 31 || hh > 23 || mm > 59 || ss > 59) return null;
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(y, 4)}-${p(m)}-${p(d)}T${p(hh)}:${p(mm)}:${p(ss)}`;
}

/** Members of one package mostly share a few timestamps: format each once. */
function cachedFatDateTime(cache: Map<number, string | null>, date: number, time: number): string | null {
  const key = date * 65536 + time;
  let v = cache.get(key);
  if (v === undefined) {
    v = fatDateTime(date, time);
    cache.set(key, v);
  }
  return v;
}

// not fatal: a flagged name that is not UTF-8 gets U+FFFD for the bad bytes and the rest of the cabinet still reads
const utf8 = new TextDecoder('utf-8');

/** Display form of a name without the UTF-8 flag: its code page is unknown, so bytes over 0x7F show as `\xNN`. */
function escapeHigh(latin1: string): string {
  return latin1.replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * The CFFILE table as typed arrays over the raw header bytes: one row per CFFILE, names
 * decoded only when asked. An LCU payload lists 20,000+ members and `msu inspect` needs
 * only a few of them as objects; a table of numbers costs no garbage.
 */
export class CfFileTable {
  readonly cbFile: Uint32Array;
  readonly uoffFolderStart: Uint32Array;
  readonly iFolder: Uint16Array;
  readonly date: Uint16Array;
  readonly time: Uint16Array;
  readonly attribs: Uint16Array;
  /** Offset of each szName in `bytes`, and its length without the NUL. */
  readonly nameStart: Uint32Array;
  readonly nameLength: Uint16Array;
  private names: (string | undefined)[] | undefined;
  private times: Map<number, string | null> | undefined;

  /** Rows in `arrays` when given (each `count` long), else zeroed arrays to fill. */
  constructor(
    readonly bytes: Uint8Array,
    readonly count: number,
    arrays?: Pick<CfFileTable, 'cbFile' | 'uoffFolderStart' | 'iFolder' | 'date' | 'time' | 'attribs' | 'nameStart' | 'nameLength'>,
  ) {
    this.cbFile = arrays?.cbFile ?? new Uint32Array(count);
    this.uoffFolderStart = arrays?.uoffFolderStart ?? new Uint32Array(count);
    this.iFolder = arrays?.iFolder ?? new Uint16Array(count);
    this.date = arrays?.date ?? new Uint16Array(count);
    this.time = arrays?.time ?? new Uint16Array(count);
    this.attribs = arrays?.attribs ?? new Uint16Array(count);
    this.nameStart = arrays?.nameStart ?? new Uint32Array(count);
    this.nameLength = arrays?.nameLength ?? new Uint16Array(count);
  }

  /** The raw szName bytes of row `i` (a view, no copy). */
  nameBytesAt(i: number): Uint8Array {
    return this.bytes.subarray(this.nameStart[i]!, this.nameStart[i]! + this.nameLength[i]!);
  }

  /** True when row `i`'s name has bytes over 0x7F and no UTF-8 flag (its display form escapes them). */
  private highLatin1(i: number): boolean {
    if (this.attribs[i]! & _A_NAME_IS_UTF) return false;
    const b = this.bytes;
    for (let p = this.nameStart[i]!, end = p + this.nameLength[i]!; p < end; p++) if (b[p]! > 0x7f) return true;
    return false;
  }

  /** Row `i`'s name as CfFile.name shows it (decoded once, then cached). */
  nameAt(i: number): string {
    const names = (this.names ??= new Array<string | undefined>(this.count));
    let name = names[i];
    if (name === undefined) {
      const start = this.nameStart[i]!, end = start + this.nameLength[i]!;
      if (this.attribs[i]! & _A_NAME_IS_UTF) name = utf8.decode(this.bytes.subarray(start, end));
      else {
        // Buffer's latin1 decoding of a range is several times faster than TextDecoder on a view
        name = Buffer.from(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength).toString('latin1', start, end);
        if (this.highLatin1(i)) name = escapeHigh(name);
      }
      names[i] = name;
    }
    return name;
  }

  /**
   * For each row, the index of the first of `suffixes` (lower-case ASCII) its name ends with,
   * ignoring ASCII case, or `suffixes.length` for none; NAME_TAIL_NOT_ASCII when a byte over 0x7F
   * lies within the name's last (longest suffix) bytes, where only the decoded name can tell.
   * One loop over the raw table with no call per row: an LCU's 22,000 names take a few ms in a
   * fresh process, about half of what a callback per name costs before V8 optimizes it.
   */
  suffixIndex(suffixes: readonly Uint8Array[]): Uint8Array {
    if (suffixes.length >= NAME_TAIL_NOT_ASCII) throw new RangeError('too many suffixes');
    const out = new Uint8Array(this.count);
    const bytes = this.bytes, starts = this.nameStart, lengths = this.nameLength;
    const tail = suffixes.reduce((m, x) => Math.max(m, x.length), 0);
    for (let i = 0; i < this.count; i++) {
      const start = starts[i]!, end = start + lengths[i]!;
      let k = 0;
      for (let p = Math.max(start, end - tail); p < end; p++) {
        if (bytes[p]! > 0x7f) {
          k = NAME_TAIL_NOT_ASCII;
          break;
        }
      }
      if (k === 0) {
        for (; k < suffixes.length; k++) {
          const x = suffixes[k]!, n = x.length;
          if (end - start < n) continue;
          let j = 1;
          for (; j <= n; j++) {
            const c = bytes[end - j]!;
            if ((c >= 0x41 && c <= 0x5a ? c | 0x20 : c) !== x[n - j]) break;
          }
          if (j > n) break;
        }
      }
      out[i] = k;
    }
    return out;
  }

  /** Row `i` as a CfFile object. */
  entry(i: number): CfFile {
    const date = this.date[i]!, time = this.time[i]!;
    const entry: CfFile = {
      index: i, name: this.nameAt(i), cbFile: this.cbFile[i]!, uoffFolderStart: this.uoffFolderStart[i]!, iFolder: this.iFolder[i]!,
      date, time, attribs: this.attribs[i]!, modified: cachedFatDateTime((this.times ??= new Map()), date, time),
    };
    // kept as bytes for the disk, as cabextract writes them
    if (this.highLatin1(i)) entry.nameBytes = this.nameBytesAt(i).slice();
    return entry;
  }
}

const TYPED_INDEX_OF = Uint8Array.prototype.indexOf;

/** CfFileTable.suffixIndex for a name whose last bytes are not all ASCII. */
export const NAME_TAIL_NOT_ASCII = 255;

/**
 * Read and check the CFFILE table into a CfFileTable: every check parseCfFiles makes, in the
 * same order, with no per-entry objects. `bytes` holds the cabinet from offset `base` on.
 */
export function scanCfFiles(bytes: Uint8Array, base: number, h: CfHeader, folderCount: number, file?: string): CfFileTable {
  const r = new ByteReader(bytes, base);
  r.seek(h.coffFiles - base, 'CFFILE table');
  const t = new CfFileTable(bytes, h.cFiles);
  const dv = r.view;
  for (let i = 0; i < h.cFiles; i++) {
    // one bounds check for the fixed fields, then the fields read off the reader's view: an LCU's
    // 22,000 entries run once, mostly before V8 optimizes the loop, where six reader calls per
    // entry cost more than the rest of the scan; labels are built only when something fails
    if (r.remaining < 16) r.need(16, `CFFILE[${i}] fixed fields`);
    const p = r.pos;
    r.skip(16);
    const cbFile = dv.getUint32(p, true);
    const uoffFolderStart = dv.getUint32(p + 4, true);
    const iFolder = dv.getUint16(p + 8, true);
    t.date[i] = dv.getUint16(p + 10, true);
    t.time[i] = dv.getUint16(p + 12, true);
    t.attribs[i] = dv.getUint16(p + 14, true);
    // the NUL found in place (TypedArray#indexOf: on a Buffer, Buffer#indexOf goes through a
    // C++ call that costs more than these short searches); cstringBytes only reports what is wrong
    const start = r.pos;
    const nul = TYPED_INDEX_OF.call(bytes, 0, start);
    if (nul >= 0 && nul < Math.min(bytes.length, start + 1024)) r.seek(nul + 1);
    else {
      // no NUL where a name may end: over-long (the format's limit), not cut short, when that many bytes are there
      if (bytes.length - start >= CB_MAX_FILENAME && !bytes.subarray(start, start + CB_MAX_FILENAME).includes(0)) {
        throw new CabError(`CFFILE ${i}: the name is longer than ${CB_MAX_FILENAME - 1} bytes (no NUL in its first ${CB_MAX_FILENAME})`, file, `offset ${start}`);
      }
      try {
        r.cstringBytes(1023, 'CFFILE.szName');
      } catch (err) {
        if (err instanceof Error) err.message = err.message.replace('CFFILE.szName', `CFFILE[${i}].szName`);
        throw err;
      }
    }
    const length = nul - start;
    t.cbFile[i] = cbFile;
    t.uoffFolderStart[i] = uoffFolderStart;
    t.iFolder[i] = iFolder;
    t.nameStart[i] = start;
    t.nameLength[i] = length;
    // CB_MAX_FILENAME is 256 bytes with the NUL; cabextract refuses longer and empty names too
    if (length === 0 || length > CB_MAX_FILENAME - 1) {
      throw new CabError(`CFFILE ${i}: the name is ${length === 0 ? 'empty' : `${length} bytes long (at most ${CB_MAX_FILENAME - 1})`}`, file);
    }
    const special = iFolder >= ifoldCONTINUED_FROM_PREV && iFolder <= ifoldCONTINUED_PREV_AND_NEXT;
    if (!special && iFolder >= folderCount) {
      throw new CabError(`CFFILE ${i} ("${showName(t.nameAt(i))}") refers to folder ${iFolder}, but the cabinet has ${folderCount}`, file);
    }
    if (uoffFolderStart + cbFile > 0x7fffffff * 2) {
      throw new CabError(`CFFILE ${i} ("${showName(t.nameAt(i))}"): offset ${uoffFolderStart} + size ${cbFile} is absurd`, file);
    }
  }
  return t;
}

/** Parse the CFFILE table into objects. `bytes` holds the cabinet from offset `base` on. */
export function parseCfFiles(bytes: Uint8Array, base: number, h: CfHeader, folderCount: number, file?: string): CfFile[] {
  const t = scanCfFiles(bytes, base, h, folderCount, file);
  const files: CfFile[] = new Array(t.count);
  for (let i = 0; i < t.count; i++) files[i] = t.entry(i);
  return files;
}
