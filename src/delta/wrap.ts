import { FormatError } from '../errors.js';
import { crc32 } from '../util/crc32.js';
import type { UnwrappedDelta } from './types.js';

const isPaMagic = (b: Uint8Array, at: number): boolean =>
  b.length >= at + 4 && b[at] === 0x50 && b[at + 1] === 0x41 &&
  ((b[at + 2] === 0x33 && (b[at + 3] === 0x30 || b[at + 3] === 0x31)) || (b[at + 2] === 0x31 && b[at + 3] === 0x39));

const hasSignature = (b: Uint8Array, letter: number): boolean =>
  b.length >= 4 && b[0] === 0x44 && b[1] === 0x43 && b[2] === letter && b[3] === 0x01;

/** `DCM\x01` + PA30: a WinSxS manifest stored as a delta against the base manifest in wcp.dll. */
export function isDcmManifest(bytes: Uint8Array): boolean {
  return hasSignature(bytes, 0x4d) && isPaMagic(bytes, 4);
}

/**
 * Strip what wraps a delta, decided by content (docs/delta.md): `DCM\x01`, `DCN\x01` or `DCD\x01`
 * signatures, or a 4-byte CRC32 (IEEE, little-endian) of the rest before the PA magic, which must match.
 */
export function unwrapDelta(bytes: Uint8Array): UnwrappedDelta {
  if (isPaMagic(bytes, 0)) return { kind: 'none', delta: bytes };
  for (const [letter, kind] of [[0x4d, 'dcm'], [0x4e, 'dcn'], [0x44, 'dcd']] as const) {
    if (!hasSignature(bytes, letter)) continue;
    // DCD has been seen with 8 more bytes (the source's size) before the delta; accept either place.
    for (const at of kind === 'dcd' ? [4, 12] : [4]) if (isPaMagic(bytes, at)) return { kind, delta: bytes.subarray(at) };
    throw new FormatError('E_DELTA_WRAPPER', `${kind.toUpperCase()}\\x01 signature without a PA30/PA31 delta after it`);
  }
  if (isPaMagic(bytes, 4)) {
    const stored = (bytes[0]! | (bytes[1]! << 8) | (bytes[2]! << 16) | (bytes[3]! << 24)) >>> 0;
    const actual = crc32(bytes.subarray(4));
    if (stored !== actual) {
      throw new FormatError(
        'E_DELTA_CRC',
        `CRC32 prefix ${stored.toString(16).padStart(8, '0')} does not match the delta (computed ${actual.toString(16).padStart(8, '0')})`,
        { where: 'offset 0' },
      );
    }
    return { kind: 'crc32', delta: bytes.subarray(4) };
  }
  const shown = Buffer.from(bytes.subarray(0, 8)).toString('hex');
  throw new FormatError('E_DELTA_MAGIC', `not a delta: no PA30/PA31/PA19 magic, CRC32 prefix or DC?\\x01 signature (starts ${shown || 'empty'})`);
}
