/** Typed model of a Microsoft cabinet, named after the structures in the CAB format specification. */

export const CAB_SIGNATURE = [0x4d, 0x53, 0x43, 0x46] as const; // 'MSCF'

/** CFHEADER.flags */
export const cfhdrPREV_CABINET = 0x0001;
export const cfhdrNEXT_CABINET = 0x0002;
export const cfhdrRESERVE_PRESENT = 0x0004;

/** CFFILE.iFolder special values for files that span cabinets. */
export const ifoldCONTINUED_FROM_PREV = 0xfffd;
export const ifoldCONTINUED_TO_NEXT = 0xfffe;
export const ifoldCONTINUED_PREV_AND_NEXT = 0xffff;

/** CFFILE.attribs */
export const _A_RDONLY = 0x01;
export const _A_HIDDEN = 0x02;
export const _A_SYSTEM = 0x04;
export const _A_ARCH = 0x20;
export const _A_EXEC = 0x40;
export const _A_NAME_IS_UTF = 0x80;

/** CFFOLDER.typeCompress low nibble */
export const tcompTYPE_NONE = 0;
export const tcompTYPE_MSZIP = 1;
export const tcompTYPE_QUANTUM = 2;
export const tcompTYPE_LZX = 3;

/** Limits from the format: a CFDATA block expands to at most 32 KiB. */
export const CFDATA_MAX_UNCOMP = 0x8000;
export const MAX_CAB_SIZE = 0x7fffffff;

export type CompressionMethod = 'none' | 'mszip' | 'quantum' | 'lzx' | 'unknown';

export interface Compression {
  method: CompressionMethod;
  /** LZX window exponent (15..21) or Quantum level/memory; 0 otherwise. */
  windowBits: number;
  /** Raw typeCompress value. */
  raw: number;
  /** Human form as 7-Zip and cabarc show it: `None`, `MSZIP`, `LZX:21`, `Quantum:7`. */
  label: string;
}

export interface CfHeader {
  cbCabinet: number;
  coffFiles: number;
  versionMinor: number;
  versionMajor: number;
  cFolders: number;
  cFiles: number;
  flags: number;
  setID: number;
  iCabinet: number;
  /** Per-structure reserve sizes (0 when RESERVE_PRESENT is clear). */
  cbCFHeader: number;
  cbCFFolder: number;
  cbCFData: number;
  /** CFHEADER.abReserve (used by signed cabinets to locate the signature). */
  abReserve: Uint8Array;
  szCabinetPrev?: string;
  szDiskPrev?: string;
  szCabinetNext?: string;
  szDiskNext?: string;
  /** Bytes occupied by CFHEADER including reserve and the prev/next strings. */
  headerSize: number;
}

export interface CfFolder {
  index: number;
  /** Offset of the first CFDATA block in this cabinet file. */
  coffCabStart: number;
  cCFData: number;
  compression: Compression;
}

export interface CfFile {
  /** Position in the CFFILE table. */
  index: number;
  /**
   * The name as text: decoded UTF-8 when flagged _A_NAME_IS_UTF (invalid sequences become
   * U+FFFD, as cabextract does); otherwise the bytes, with each byte over 0x7F shown as `\xNN`.
   */
  name: string;
  /** The name's raw bytes when it has the UTF-8 flag clear and bytes over 0x7F: what is written to disk. */
  nameBytes?: Uint8Array;
  cbFile: number;
  uoffFolderStart: number;
  iFolder: number;
  date: number;
  time: number;
  attribs: number;
  /** FAT date/time decoded as local time without zone, `YYYY-MM-DDTHH:MM:SS`, or null when invalid. */
  modified: string | null;
}

export interface CfData {
  csum: number;
  cbData: number;
  cbUncomp: number;
  /** Offset of the compressed bytes in the cabinet file. */
  dataOffset: number;
  /** Offset of the CFDATA header (for checksum and error messages). */
  headerOffset: number;
}
