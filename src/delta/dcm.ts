import { FormatError } from '../errors.js';
import { listResources, parsePe, resourceData } from '../pe/index.js';
import { applyDelta } from './apply.js';
import { isDcmManifest } from './wrap.js';

/**
 * Decode a `DCM\x01` WinSxS manifest: a RAW PA30 delta against the base manifest that wcp.dll of the
 * same servicing build carries (resource type 0x266; see src/pe). The base must match the build:
 * with another one the output is garbage or the decoder fails.
 */
export function decodeDcmManifest(bytes: Uint8Array, baseManifest: Uint8Array): Uint8Array {
  if (!isDcmManifest(bytes)) throw new FormatError('E_DCM_MAGIC', 'not a DCM manifest (no DCM\\x01 + PA30 signature)');
  return applyDelta(bytes, baseManifest).target;
}

/** Resource type under which wcp.dll stores the base manifest (docs/delta.md). */
export const BASE_MANIFEST_RESOURCE_TYPE = 0x266;

/** Take the base manifest out of a wcp.dll image (the resource of type 0x266). */
export function baseManifestFromWcp(bytes: Uint8Array): Uint8Array {
  const pe = parsePe(bytes);
  const found = listResources(pe, bytes).filter((r) => r.type === BASE_MANIFEST_RESOURCE_TYPE);
  if (found.length === 0) {
    throw new FormatError('E_WCP_NO_BASE_MANIFEST', 'no base manifest in this PE image (no resource of type 0x266): is it wcp.dll?');
  }
  // One is expected; with several, the first in directory order (lowest name/language id) is the base.
  return resourceData(pe, bytes, found[0]!);
}
