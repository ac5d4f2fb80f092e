/**
 * MSDelta engine (docs/delta.md): PA30/PA31 headers, wrappers (CRC32 prefix, DCM/DCN/DCD), RAW apply
 * through the PseudoLzx decoder, E8 post-processing, target hash check, DCM manifests.
 */
import { parseDeltaHeader, type DeltaHeader } from './header.js';

export * from './header.js';
export * from './types.js';
export { COMPRESS_API_MAGIC, decodeCompressApiContainer } from './compress-api.js';
export { applyDelta, DEFAULT_MAX_TARGET_SIZE } from './apply.js';
export { unwrapDelta, isDcmManifest } from './wrap.js';
export { decodeDcmManifest, baseManifestFromWcp, BASE_MANIFEST_RESOURCE_TYPE } from './dcm.js';
export { decodePseudoLzx } from './pseudolzx.js';
export { undoE8 } from './e8.js';
export { hashForAlgId } from './hash.js';

/** Header of a PA30/PA31/PA19 delta (CRC32 prefix allowed). */
export function readDeltaHeader(bytes: Uint8Array): DeltaHeader {
  return parseDeltaHeader(bytes);
}
