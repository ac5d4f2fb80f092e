/**
 * MSDelta engine (docs/delta.md): PA30/PA31 headers, wrappers (CRC32 prefix, DCM/DCN/DCD), RAW apply
 * through the PseudoLzx decoder, E8 post-processing, target hash check, DCM manifests.
 */
import { UnsupportedError } from '../errors.js';
import { parseDeltaHeader, type DeltaHeader } from './header.js';
import type { ApplyOptions, ApplyResult, UnwrappedDelta } from './types.js';

export * from './header.js';
export * from './types.js';
export { COMPRESS_API_MAGIC, decodeCompressApiContainer } from './compress-api.js';

/** Header of a PA30/PA31/PA19 delta (CRC32 prefix allowed). */
export function readDeltaHeader(bytes: Uint8Array): DeltaHeader {
  return parseDeltaHeader(bytes);
}

export function applyDelta(delta: Uint8Array, source: Uint8Array | null, opts: ApplyOptions = {}): ApplyResult {
  void delta; void source; void opts;
  throw new UnsupportedError('E_DELTA_NOT_IMPLEMENTED', 'delta apply is not implemented yet');
}

export function unwrapDelta(bytes: Uint8Array): UnwrappedDelta {
  void bytes;
  throw new UnsupportedError('E_DELTA_NOT_IMPLEMENTED', 'delta apply is not implemented yet');
}

export function isDcmManifest(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && bytes[0] === 0x44 && bytes[1] === 0x43 && bytes[2] === 0x4d && bytes[3] === 0x01;
}

export function decodeDcmManifest(bytes: Uint8Array, baseManifest: Uint8Array): Uint8Array {
  void bytes; void baseManifest;
  throw new UnsupportedError('E_DELTA_NOT_IMPLEMENTED', 'delta apply is not implemented yet');
}
