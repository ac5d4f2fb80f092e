import { UnsupportedError } from '../errors.js';

/** Windows Compression-API container magic (u32 LE), seen as a PA3x patch payload (docs/delta.md). */
export const COMPRESS_API_MAGIC = 0xc0e5510a;

/** Placeholder until the LZMS decoder lands: the contract applyDelta calls for Compression-API payloads. */
export function decodeCompressApiContainer(data: Uint8Array, opts?: { maxSize?: number }): Uint8Array {
  void data;
  void opts;
  throw new UnsupportedError('E_LZMS_UNSUPPORTED', 'LZMS payloads are not supported yet');
}
