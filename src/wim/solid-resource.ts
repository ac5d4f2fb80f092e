/**
 * WIM solid resources (the packed streams of an LZMS-compressed solid WIM): a 16-byte header
 * [u64 uncompressed size][u32 chunk size][u32 compression format], a table of one u32 compressed size per
 * chunk, then the chunks (docs/lzms.md). Format 3 is LZMS; every chunk is an independent LZMS stream of
 * the chunk size (the last one of what is left), stored verbatim when its compressed size equals that.
 */
import { FormatError, TruncatedError, UnsupportedError } from '../errors.js';
import { ByteReader } from '../util/reader.js';
import { decompressLzms } from '../delta/lzms.js';

export const SOLID_FORMAT_LZMS = 3;
/** Largest chunk accepted, bounding one chunk's allocation. */
const MAX_SOLID_CHUNK = 1 << 30;

export interface SolidResourceHeader {
  uncompressedSize: number;
  chunkSize: number;
  format: number;
  /** Compressed size of each chunk, in order. */
  chunkSizes: number[];
  /** Offset of the first chunk's data. */
  dataOffset: number;
}

export function readSolidResourceHeader(data: Uint8Array): SolidResourceHeader {
  const r = new ByteReader(data);
  const lo = r.u32('solid resource size');
  const hi = r.u32('solid resource size');
  const uncompressedSize = hi * 2 ** 32 + lo;
  const chunkSize = r.u32('solid resource chunk size');
  const format = r.u32('solid resource compression format');
  if (chunkSize === 0 || chunkSize > MAX_SOLID_CHUNK) {
    throw new FormatError('E_WIM_SOLID', `solid resource chunk size ${chunkSize} is out of range`, { where: 'offset 8' });
  }
  if (format !== SOLID_FORMAT_LZMS) {
    throw new UnsupportedError('E_WIM_SOLID_FORMAT', `unsupported: solid resource compression format ${format}`, {
      where: 'offset 12',
    });
  }
  const chunks = Math.ceil(uncompressedSize / chunkSize);
  if (chunks * 4 > r.remaining) {
    throw new TruncatedError(`solid resource declares ${chunks} chunks, more than its chunk table can hold`, {
      where: 'offset 16',
    });
  }
  const chunkSizes: number[] = [];
  for (let c = 0; c < chunks; c++) chunkSizes.push(r.u32(`chunk ${c} size`));
  return { uncompressedSize, chunkSize, format, chunkSizes, dataOffset: r.pos };
}

/** Decode the chunks one by one (each at most the chunk size), so large resources need not be joined. */
export function* solidResourceChunks(data: Uint8Array, h = readSolidResourceHeader(data)): Generator<Uint8Array> {
  let at = h.dataOffset;
  let done = 0;
  for (let c = 0; c < h.chunkSizes.length; c++) {
    const size = h.chunkSizes[c]!;
    const plain = Math.min(h.chunkSize, h.uncompressedSize - done);
    if (at + size > data.length) {
      throw new TruncatedError(`solid resource chunk ${c} (${size} bytes at offset ${at}) runs past the end`, {
        where: `offset ${at}`,
      });
    }
    const body = data.subarray(at, at + size);
    if (size === plain) yield body;
    else if (size > plain) {
      throw new FormatError('E_WIM_SOLID', `chunk ${c} is ${size} bytes, larger than its ${plain} uncompressed bytes`, {
        where: `offset ${at}`,
      });
    } else yield decompressLzms(body, plain);
    at += size;
    done += plain;
  }
}

/** Decode a whole solid resource; its declared size must not exceed `maxSize`. */
export function decodeSolidResource(data: Uint8Array, opts: { maxSize?: number } = {}): Uint8Array {
  const h = readSolidResourceHeader(data);
  const maxSize = opts.maxSize ?? 2 ** 31 - 1;
  if (h.uncompressedSize > maxSize) {
    throw new FormatError('E_WIM_SOLID', `solid resource declares ${h.uncompressedSize} bytes, more than the ${maxSize} allowed`, {
      where: 'offset 0',
    });
  }
  const out = new Uint8Array(h.uncompressedSize);
  let done = 0;
  for (const chunk of solidResourceChunks(data, h)) {
    out.set(chunk, done);
    done += chunk.length;
  }
  return out;
}
