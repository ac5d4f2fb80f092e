import { FormatError, MismatchError, UnsupportedError } from '../errors.js';
import { COMPRESS_API_MAGIC, decodeCompressApiContainer } from './compress-api.js';
import { undoE8 } from './e8.js';
import { hashForAlgId } from './hash.js';
import { parseDeltaStream } from './header.js';
import { decodePseudoLzx } from './pseudolzx.js';
import type { ApplyOptions, ApplyResult } from './types.js';
import { unwrapDelta } from './wrap.js';

/** Default cap on TargetSize: the largest buffer a Node process reliably allocates. */
export const DEFAULT_MAX_TARGET_SIZE = 0x7fffffff;

const FILE_TYPE_RAW = 1;
const FLAG_E8 = 1;

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/**
 * Apply a PA30/PA31 delta (any wrapper) to `source` (null: the empty source). The order follows
 * docs/delta.md: unwrap, header, refuse what phase 1 does not do (PA19, reverse, PE transforms),
 * decode the payload (Compression-API container or PseudoLzx), undo E8 when flagged, check the hash.
 * Nothing is returned unless the whole target was produced and, by default, matched its hash.
 */
export function applyDelta(delta: Uint8Array, source: Uint8Array | null, opts: ApplyOptions = {}): ApplyResult {
  const { delta: bare } = unwrapDelta(delta);
  const stream = parseDeltaStream(bare);
  const header = stream.header;
  if (header.format === 'PA19') {
    throw new UnsupportedError('E_DELTA_PA19', 'unsupported: PA19 (PatchAPI) deltas');
  }
  if (header.reverse) throw new UnsupportedError('E_DELTA_REVERSE', 'unsupported: reverse delta');
  if (header.fileType !== FILE_TYPE_RAW && (stream.preprocess?.length ?? 0) > 0) {
    throw new UnsupportedError('E_DELTA_PE', 'unsupported: PE transforms', {
      where: `FileType ${header.fileTypeName}, flags 0x${header.flags!.toString(16)}`,
    });
  }
  const targetSize = header.targetSize!;
  const max = opts.maxTargetSize ?? DEFAULT_MAX_TARGET_SIZE;
  if (targetSize > max) {
    throw new FormatError('E_DELTA_TOO_LARGE', `TargetSize ${targetSize} is more than the ${max} bytes allowed`);
  }
  const reference = source ?? new Uint8Array(0);
  let patch = stream.patch!;
  const base = stream.patchOffset ?? 0;
  let target: Uint8Array | undefined;
  if (patch.length >= 4 && new DataView(patch.buffer, patch.byteOffset, 4).getUint32(0, true) === COMPRESS_API_MAGIC) {
    const plain = decodeCompressApiContainer(patch, { maxSize: Math.min(max, targetSize + patch.length * 64 + 0x10000) });
    // A container whose plain size is TargetSize is the target itself; otherwise it wraps the PseudoLzx stream.
    if (plain.length === targetSize) target = plain;
    else patch = plain;
  }
  target ??= decodePseudoLzx(patch, reference, targetSize, { base });
  if (header.flags! & FLAG_E8) undoE8(target);

  let hashChecked = false;
  if (opts.checkHash !== false && header.hashAlgId !== 0) {
    const got = hashForAlgId(header.hashAlgId!, target);
    if (!got) throw new UnsupportedError('E_DELTA_HASH_ALG', `unsupported target hash algorithm ${header.hashAlgName}`);
    if (hex(got) !== header.targetHash) {
      throw new MismatchError(
        'E_DELTA_HASH',
        `target ${header.hashAlgName} mismatch: the delta says ${header.targetHash}, the output hashes to ${hex(got)}` +
          (source ? ' (wrong source file?)' : ''),
      );
    }
    hashChecked = true;
  }
  return { target, header, hashChecked };
}
