/** Container detection and nested-cabinet opening: light (CAB engine only), for list/extract/verify. */
import { Cabinet, type CabEntry } from '../cab/cabinet.js';
import { isCabinet } from '../cab/header.js';
import { MsuError } from '../errors.js';
import { BufferSource, type ByteSource } from '../util/source.js';
import { ByteReader } from '../util/reader.js';

const WIM_MAGIC = [0x4d, 0x53, 0x57, 0x49, 0x4d, 0x00, 0x00, 0x00]; // MSWIM\0\0\0

export function detectContainer(head: Uint8Array): 'cab' | 'wim' | 'unknown' {
  const r = new ByteReader(head);
  if (isCabinet(head)) return 'cab';
  if (r.startsWith(WIM_MAGIC)) return 'wim';
  return 'unknown';
}

/**
 * Open a member cabinet: in place when its folder is stored, else decoded into memory (or
 * from `bytes`, the member already read).
 */
export async function openMemberCab(outer: Cabinet, e: CabEntry, bytes?: Uint8Array): Promise<Cabinet> {
  const src: ByteSource = outer.storedSource(e) ?? new BufferSource(bytes ?? await outer.readFile(e), `${outer.name}!${e.name}`);
  try {
    return await Cabinet.open(src);
  } catch (err) {
    if (err instanceof MsuError) err.file ??= `${outer.name}!${e.name}`;
    throw err;
  }
}

