/**
 * CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF): the
 * checksum MSU/PSF delta records prepend to PA30 blobs, and the one PA19 uses for its file CRCs.
 * node:zlib computes it natively (Node >= 20.15; package.json requires >= 20.19).
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 of `bytes`; pass a previous result as `crc` to continue over more data. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return zlibCrc32(bytes, crc) >>> 0;
}
