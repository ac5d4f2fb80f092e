/**
 * The Windows Compression-API container (compressapi.h buffers made by cabinet.dll), seen as a PA3x patch
 * payload (docs/delta.md; layout in docs/lzms.md). Little-endian:
 *
 *   0x00 u32 magic 0xC0E5510A    0x04 u16 header size (0x18)    0x06 u8 header CRC    0x07 u8 algorithm
 *   0x08 u64 uncompressed size   0x10 u32 chunk size            0x14 u32 flags
 *   then per chunk: u32 compressed size and the chunk's bytes.
 *
 * The header CRC is the low byte of the CRC-32 of the header without that byte. A chunk decodes to the chunk
 * size (the last one to what is left); one whose compressed size equals that is stored verbatim. Only LZMS
 * (algorithm 5) is implemented; MSZIP, XPRESS and XPRESS-Huffman are refused as unsupported.
 */
import { FormatError, TruncatedError, UnsupportedError } from '../errors.js';
import { crc32 } from '../util/crc32.js';
import { ByteReader } from '../util/reader.js';
import { decompressLzms } from './lzms.js';

/** Windows Compression-API container magic (u32 LE), seen as a PA3x patch payload (docs/delta.md). */
export const COMPRESS_API_MAGIC = 0xc0e5510a;

export const COMPRESS_ALGORITHM = { MSZIP: 2, XPRESS: 3, XPRESS_HUFF: 4, LZMS: 5 } as const;

const MIN_HEADER_SIZE = 0x18;
/** Largest chunk accepted: bounds one chunk's allocation whatever the header says. */
const MAX_CHUNK_SIZE = 1 << 30;
/** Default ceiling on the declared uncompressed size when the caller does not pass one. */
const DEFAULT_MAX_SIZE = 2 ** 31 - 1;

export interface CompressApiHeader {
  headerSize: number;
  algorithm: number;
  uncompressedSize: number;
  chunkSize: number;
  flags: number;
}

/** True when `data` starts with the Compression-API magic. */
export function isCompressApiContainer(data: Uint8Array): boolean {
  return data.length >= 4 && data[0] === 0x0a && data[1] === 0x51 && data[2] === 0xe5 && data[3] === 0xc0;
}

/** Read and check the container header (magic, size, CRC, chunk size). */
export function readCompressApiHeader(data: Uint8Array): CompressApiHeader {
  const r = new ByteReader(data);
  const magic = r.u32('Compression-API magic');
  if (magic !== COMPRESS_API_MAGIC) {
    throw new FormatError('E_COMPRESS_API', `not a Compression-API container (magic 0x${magic.toString(16)})`, {
      where: 'offset 0',
    });
  }
  const headerSize = r.u16('Compression-API header size');
  if (headerSize < MIN_HEADER_SIZE) {
    throw new FormatError('E_COMPRESS_API', `Compression-API header size ${headerSize} is below ${MIN_HEADER_SIZE}`, {
      where: 'offset 4',
    });
  }
  r.need(headerSize, 'Compression-API header', 0);
  const stored = r.u8('header CRC');
  const algorithm = r.u8('algorithm');
  const crc = crc32(data.subarray(7, headerSize), crc32(data.subarray(0, 6))) & 0xff;
  if (crc !== stored) {
    throw new FormatError(
      'E_COMPRESS_API',
      `Compression-API header CRC mismatch (stored 0x${stored.toString(16)}, computed 0x${crc.toString(16)})`,
      { where: 'offset 6' },
    );
  }
  const lo = r.u32('uncompressed size');
  const hi = r.u32('uncompressed size');
  const uncompressedSize = hi * 2 ** 32 + lo;
  const chunkSize = r.u32('chunk size');
  const flags = r.u32('flags');
  if (chunkSize === 0 || chunkSize > MAX_CHUNK_SIZE) {
    throw new FormatError('E_COMPRESS_API', `Compression-API chunk size ${chunkSize} is out of range`, {
      where: 'offset 16',
    });
  }
  return { headerSize, algorithm, uncompressedSize, chunkSize, flags };
}

/**
 * Decode a whole container to its uncompressed bytes. The declared size must not exceed `maxSize`; every
 * chunk must be present and decode to exactly its size; trailing bytes are refused.
 */
export function decodeCompressApiContainer(data: Uint8Array, opts: { maxSize?: number } = {}): Uint8Array {
  const h = readCompressApiHeader(data);
  if (h.algorithm !== COMPRESS_ALGORITHM.LZMS) {
    const name = Object.entries(COMPRESS_ALGORITHM).find(([, v]) => v === h.algorithm)?.[0];
    const what = name ? `${name} (algorithm ${h.algorithm})` : `algorithm ${h.algorithm}`;
    if (name) throw new UnsupportedError('E_COMPRESS_API_ALGORITHM', `unsupported: Compression-API ${what}`);
    throw new FormatError('E_COMPRESS_API', `unknown Compression-API ${what}`, { where: 'offset 7' });
  }
  const maxSize = opts.maxSize ?? DEFAULT_MAX_SIZE;
  if (h.uncompressedSize > maxSize) {
    throw new FormatError(
      'E_COMPRESS_API_SIZE',
      `Compression-API container declares ${h.uncompressedSize} bytes, more than the ${maxSize} allowed`,
      { where: 'offset 8' },
    );
  }
  const chunks = Math.ceil(h.uncompressedSize / h.chunkSize);
  // Every chunk needs at least its 4-byte size: check before allocating the declared size.
  if (chunks * 4 > data.length - h.headerSize) {
    throw new TruncatedError(
      `Compression-API container declares ${chunks} chunks but holds only ${data.length - h.headerSize} bytes after its header`,
      { where: `offset ${h.headerSize}` },
    );
  }
  const out = new Uint8Array(h.uncompressedSize);
  const r = new ByteReader(data).seek(h.headerSize);
  for (let c = 0, done = 0; c < chunks; c++) {
    const plain = Math.min(h.chunkSize, h.uncompressedSize - done);
    const at = r.pos;
    const size = r.u32(`chunk ${c} size`);
    r.need(size, `chunk ${c} (${size} bytes)`);
    const body = data.subarray(r.pos, r.pos + size);
    r.pos += size;
    if (size === plain) {
      out.set(body, done);
    } else if (size > plain) {
      throw new FormatError('E_COMPRESS_API', `chunk ${c} is ${size} bytes, larger than its ${plain} uncompressed bytes`, {
        where: `offset ${at}`,
      });
    } else {
      try {
        out.set(decompressLzms(body, plain), done);
      } catch (e) {
        if (e instanceof FormatError && e.where === undefined) e.where = `chunk ${c} at offset ${at}`;
        throw e;
      }
    }
    done += plain;
  }
  if (r.remaining !== 0) {
    throw new FormatError('E_COMPRESS_API', `${r.remaining} trailing bytes after the last chunk`, {
      where: `offset ${r.pos}`,
    });
  }
  return out;
}
