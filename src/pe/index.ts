import { FormatError } from '../errors.js';
import { ByteReader } from '../util/reader.js';

/**
 * A minimal, bounds-checked PE/COFF reader (Microsoft "PE Format" specification): DOS stub pointer,
 * COFF file header, the optional-header fields servicing needs, data directories, section table,
 * and the resource directory tree. Enough to find a resource (the base manifest in wcp.dll) and to
 * describe an image; no relocation, import or export parsing.
 */

export interface PeSection {
  /** Up to 8 bytes, NULs dropped. */
  name: string;
  virtualSize: number;
  virtualAddress: number;
  sizeOfRawData: number;
  pointerToRawData: number;
  characteristics: number;
}

export interface PeDataDirectory {
  virtualAddress: number;
  size: number;
}

export interface PeImage {
  machine: number;
  timeDateStamp: number;
  characteristics: number;
  /** 0x10B PE32, 0x20B PE32+. */
  magic: number;
  /** Exact for PE32+ images up to 2^53. */
  imageBase: number;
  sectionAlignment: number;
  fileAlignment: number;
  sizeOfImage: number;
  sizeOfHeaders: number;
  checkSum: number;
  subsystem: number;
  dataDirectories: PeDataDirectory[];
  sections: PeSection[];
}

export interface PeResource {
  /** Numeric ID, or the name string, at each level: type, name, language. */
  type: number | string;
  name: number | string;
  language: number | string;
  rva: number;
  size: number;
  codePage: number;
}

export class PeError extends FormatError {
  constructor(message: string, where?: string) {
    super('E_PE', message, { where });
  }
}

/** IMAGE_DIRECTORY_ENTRY_RESOURCE */
const DIR_RESOURCE = 2;
const MAX_SECTIONS = 96;
const MAX_DIRECTORIES = 16;

export function isPeImage(bytes: Uint8Array): boolean {
  if (bytes.length < 0x40 || bytes[0] !== 0x4d || bytes[1] !== 0x5a) return false;
  const lfanew = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0x3c, true);
  return lfanew + 4 <= bytes.length && bytes[lfanew] === 0x50 && bytes[lfanew + 1] === 0x45 && bytes[lfanew + 2] === 0 && bytes[lfanew + 3] === 0;
}

export function parsePe(bytes: Uint8Array): PeImage {
  const r = new ByteReader(bytes);
  if (r.u16('DOS signature') !== 0x5a4d) throw new PeError('not a PE image: no MZ signature', 'offset 0');
  r.seek(0x3c, 'e_lfanew');
  const lfanew = r.u32('e_lfanew');
  r.seek(lfanew, 'PE header');
  if (r.u32('PE signature') !== 0x4550) throw new PeError('not a PE image: no PE\\0\\0 signature', `offset ${lfanew}`);
  const machine = r.u16('Machine');
  const nsec = r.u16('NumberOfSections');
  const timeDateStamp = r.u32('TimeDateStamp');
  r.skip(8, 'symbol table fields');
  const sizeOfOptional = r.u16('SizeOfOptionalHeader');
  const characteristics = r.u16('Characteristics');
  const opt = r.pos;
  r.need(sizeOfOptional, 'optional header');
  if (nsec > MAX_SECTIONS) throw new PeError(`${nsec} sections, more than the ${MAX_SECTIONS} the format allows`, `offset ${lfanew + 6}`);

  const o = new ByteReader(bytes.subarray(opt, opt + sizeOfOptional), opt);
  const magic = o.u16('optional header Magic');
  if (magic !== 0x10b && magic !== 0x20b) throw new PeError(`unknown optional header Magic 0x${magic.toString(16)}`, `offset ${opt}`);
  const plus = magic === 0x20b;
  o.seek(plus ? 24 : 28, 'ImageBase');
  const imageBase = plus ? Number(o.u64('ImageBase')) : o.u32('ImageBase');
  const sectionAlignment = o.u32('SectionAlignment');
  const fileAlignment = o.u32('FileAlignment');
  o.seek(56, 'SizeOfImage');
  const sizeOfImage = o.u32('SizeOfImage');
  const sizeOfHeaders = o.u32('SizeOfHeaders');
  const checkSum = o.u32('CheckSum');
  const subsystem = o.u16('Subsystem');
  o.seek(plus ? 108 : 92, 'NumberOfRvaAndSizes');
  const ndir = Math.min(o.u32('NumberOfRvaAndSizes'), MAX_DIRECTORIES);
  const dataDirectories: PeDataDirectory[] = [];
  for (let i = 0; i < ndir; i++) dataDirectories.push({ virtualAddress: o.u32('data directory'), size: o.u32('data directory') });

  r.seek(opt + sizeOfOptional, 'section table');
  const sections: PeSection[] = [];
  for (let i = 0; i < nsec; i++) {
    const raw = r.bytes.subarray(r.pos, r.pos + 8);
    r.skip(8, 'section name');
    const name = String.fromCharCode(...raw).replace(/\0.*$/s, '');
    const virtualSize = r.u32('VirtualSize');
    const virtualAddress = r.u32('VirtualAddress');
    const sizeOfRawData = r.u32('SizeOfRawData');
    const pointerToRawData = r.u32('PointerToRawData');
    r.skip(12, 'section relocation fields');
    const sc = r.u32('section Characteristics');
    sections.push({ name, virtualSize, virtualAddress, sizeOfRawData, pointerToRawData, characteristics: sc });
  }
  return {
    machine, timeDateStamp, characteristics, magic, imageBase, sectionAlignment, fileAlignment, sizeOfImage,
    sizeOfHeaders, checkSum, subsystem, dataDirectories, sections,
  };
}

/** File offset of `size` bytes at `rva`, which must lie in the headers or in one section's raw data. */
export function rvaToOffset(pe: PeImage, bytes: Uint8Array, rva: number, size: number, what: string): number {
  let off: number | undefined;
  if (rva + size <= pe.sizeOfHeaders) off = rva;
  else {
    for (const s of pe.sections) {
      if (rva >= s.virtualAddress && rva + size <= s.virtualAddress + s.sizeOfRawData) {
        off = s.pointerToRawData + (rva - s.virtualAddress);
        break;
      }
    }
  }
  if (off === undefined || off + size > bytes.length) {
    throw new PeError(`${what} (RVA 0x${rva.toString(16)}, ${size} bytes) is not inside the file's sections`);
  }
  return off;
}

/**
 * Every leaf of the resource directory (type / name / language), in directory order. Offsets are
 * checked, directories visited once (a loop in a hostile file ends), and the depth is the format's 3.
 */
export function listResources(pe: PeImage, bytes: Uint8Array): PeResource[] {
  const dir = pe.dataDirectories[DIR_RESOURCE];
  if (!dir || dir.virtualAddress === 0 || dir.size === 0) return [];
  const base = rvaToOffset(pe, bytes, dir.virtualAddress, Math.min(dir.size, 16), 'resource directory');
  // The tree lives in the section that holds the directory; offsets inside it are relative to base.
  const sec = pe.sections.find((s) => dir.virtualAddress >= s.virtualAddress && dir.virtualAddress < s.virtualAddress + s.sizeOfRawData);
  const limit = sec ? Math.min(bytes.length, sec.pointerToRawData + sec.sizeOfRawData) : Math.min(bytes.length, base + dir.size);
  const r = new ByteReader(bytes.subarray(base, limit), base);
  const out: PeResource[] = [];
  const seen = new Set<number>();

  const nameAt = (off: number): string => {
    r.seek(off, 'resource name');
    const n = r.u16('resource name length');
    const chars = r.bytes.subarray(r.pos, r.pos + n * 2);
    r.need(n * 2, 'resource name');
    return Buffer.from(chars).toString('utf16le');
  };

  const walk = (off: number, path: (number | string)[]): void => {
    if (seen.has(off)) throw new PeError('the resource directory refers to itself', `offset ${base + off}`);
    seen.add(off);
    r.seek(off, 'resource directory');
    r.skip(12, 'resource directory header');
    const count = r.u16('NumberOfNamedEntries') + r.u16('NumberOfIdEntries');
    r.need(count * 8, 'resource directory entries');
    const entries: [number, number][] = [];
    for (let i = 0; i < count; i++) entries.push([r.u32('resource entry name'), r.u32('resource entry offset')]);
    for (const [nameField, offField] of entries) {
      const id = nameField & 0x80000000 ? nameAt(nameField & 0x7fffffff) : nameField;
      const child = offField & 0x7fffffff;
      if (offField & 0x80000000) {
        if (path.length >= 2) throw new PeError('the resource directory is deeper than type/name/language', `offset ${base + child}`);
        walk(child, [...path, id]);
      } else {
        if (path.length !== 2) throw new PeError('a resource data entry outside the type/name/language levels', `offset ${base + child}`);
        r.seek(child, 'resource data entry');
        const rva = r.u32('resource data RVA');
        const size = r.u32('resource data size');
        const codePage = r.u32('resource code page');
        out.push({ type: path[0]!, name: path[1]!, language: id, rva, size, codePage });
      }
    }
  };
  walk(0, []);
  return out;
}

/** The bytes of one resource (bounds-checked against the sections). */
export function resourceData(pe: PeImage, bytes: Uint8Array, res: PeResource): Uint8Array {
  const off = rvaToOffset(pe, bytes, res.rva, res.size, `resource ${String(res.type)}/${String(res.name)}`);
  return bytes.subarray(off, off + res.size);
}
