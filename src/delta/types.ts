import type { DeltaHeader } from './header.js';

export type { DeltaHeader } from './header.js';

export interface ApplyOptions {
  /** Check the output against the header's TargetHash (default true). Off only for forensics. */
  checkHash?: boolean;
  /** Refuse a delta whose TargetSize exceeds this many bytes, before anything is allocated. */
  maxTargetSize?: number;
}

export interface ApplyResult {
  target: Uint8Array;
  header: DeltaHeader;
  /** True when the header carried a hash and it was compared (and matched). */
  hashChecked: boolean;
}

/** What wraps a delta: a CRC32 prefix, a WinSxS DC?\x01 signature, or nothing. */
export type DeltaWrapper = 'crc32' | 'dcm' | 'dcn' | 'dcd' | 'none';

export interface UnwrappedDelta {
  kind: DeltaWrapper;
  /** The bare delta, starting at its PA30/PA31/PA19 magic. */
  delta: Uint8Array;
}
