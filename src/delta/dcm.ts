import { FormatError } from '../errors.js';
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
