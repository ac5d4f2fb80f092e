/**
 * The WIM header (WIMHEADER_V1_PACKED, 208 bytes at offset 0) and the blob table it points at
 * (one 50-byte entry per resource: RESHDR_DISK_SHORT, part number, reference count, SHA-1).
 * Read here only to know where a WIM's own structures lie (src/msu/payload-wim.ts hands
 * wimlib-imagex just those); resource data is always decoded by wimlib. Pure.
 */
import { FormatError } from '../errors.js';
import { ByteReader } from '../util/reader.js';

export const WIM_HEADER_SIZE = 208;
export const WIM_BLOB_ENTRY_SIZE = 50;
const MSWIM = [0x4d, 0x53, 0x57, 0x49, 0x4d, 0, 0, 0];

/** RESHDR flags. */
export const RESHDR_FLAG_METADATA = 0x02;
export const RESHDR_FLAG_COMPRESSED = 0x04;
export const RESHDR_FLAG_SOLID = 0x10;
/** The original-size value that marks a blob-table entry as a solid resource itself (not a blob inside one). */
export const SOLID_RESOURCE_MAGIC = 2 ** 32;

/** RESHDR_DISK_SHORT: where a resource lies in the file and how large it is there and unpacked. */
export interface ResourceHeader {
  /** Bytes on disk (the low 56 bits of the first u64). */
  size: number;
  /** RESHDR_FLAG_* (the high byte of the first u64). */
  flags: number;
  offset: number;
  originalSize: number;
}

export interface WimHeader {
  version: number;
  flags: number;
  chunkSize: number;
  partNumber: number;
  totalParts: number;
  imageCount: number;
  blobTable: ResourceHeader;
  xmlData: ResourceHeader;
  bootMetadata: ResourceHeader;
  bootIndex: number;
  integrity: ResourceHeader;
}

/** A u64 as two u32s (a blob table has thousands of entries: no BigInt per field); over 2^53 is damage. */
function u64(r: ByteReader, what: string): number {
  const lo = r.u32(what), hi = r.u32(what);
  if (hi > 0x1fffff) throw new FormatError('E_WIM_HEADER', `${what} is absurdly large`, { where: `offset ${r.base + r.pos - 8}` });
  return hi * 2 ** 32 + lo;
}

function resourceHeader(r: ByteReader, what: string): ResourceHeader {
  const lo = r.u32(`${what} size`), hi = r.u32(`${what} size`);
  if ((hi & 0xffffff) > 0x1fffff) throw new FormatError('E_WIM_HEADER', `${what} size is absurdly large`, { where: `offset ${r.base + r.pos - 8}` });
  const offset = u64(r, `${what} offset`);
  const originalSize = u64(r, `${what} original size`);
  return { size: (hi & 0xffffff) * 2 ** 32 + lo, flags: hi >>> 24, offset, originalSize };
}

/** Parse the header of a WIM (`MSWIM\0\0\0`, header size 208); `file` names it in errors. */
export function parseWimHeader(bytes: Uint8Array, file?: string): WimHeader {
  const r = new ByteReader(bytes);
  if (!r.startsWith(MSWIM)) throw new FormatError('E_WIM_HEADER', 'not a WIM (no MSWIM signature)', { file });
  r.skip(8, 'WIM signature');
  const headerSize = r.u32('WIM header size');
  if (headerSize !== WIM_HEADER_SIZE) throw new FormatError('E_WIM_HEADER', `WIM header size is ${headerSize}, expected ${WIM_HEADER_SIZE}`, { file });
  const version = r.u32('WIM version');
  const flags = r.u32('WIM flags');
  const chunkSize = r.u32('WIM chunk size');
  r.skip(16, 'WIM GUID');
  const partNumber = r.u16('WIM part number');
  const totalParts = r.u16('WIM part count');
  const imageCount = r.u32('WIM image count');
  const blobTable = resourceHeader(r, 'blob table');
  const xmlData = resourceHeader(r, 'XML data');
  const bootMetadata = resourceHeader(r, 'boot metadata');
  const bootIndex = r.u32('boot index');
  const integrity = resourceHeader(r, 'integrity table');
  r.need(60, 'WIM header reserved bytes');
  return { version, flags, chunkSize, partNumber, totalParts, imageCount, blobTable, xmlData, bootMetadata, bootIndex, integrity };
}

/** The resource headers of a blob table (its bytes as stored: blob tables are never compressed). */
export function parseBlobTable(bytes: Uint8Array, file?: string): ResourceHeader[] {
  if (bytes.length % WIM_BLOB_ENTRY_SIZE !== 0) {
    throw new FormatError('E_WIM_BLOB_TABLE', `blob table of ${bytes.length} bytes is not a whole number of ${WIM_BLOB_ENTRY_SIZE}-byte entries`, { file });
  }
  const r = new ByteReader(bytes);
  const out: ResourceHeader[] = [];
  while (r.remaining > 0) {
    out.push(resourceHeader(r, `blob table entry ${out.length}`));
    r.skip(WIM_BLOB_ENTRY_SIZE - 24, 'blob table entry');
  }
  return out;
}
