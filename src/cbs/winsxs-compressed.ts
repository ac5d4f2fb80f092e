/**
 * WinSxS stores most component manifests compressed (docs/cbs.md, "Compressed manifests"). The first four bytes
 * say how: `DC` + a kind letter + 0x01. Manifests inside update packages are plain XML; these
 * forms only appear when reading a target image's WinSxS.
 */
export type CompressedManifestKind = 'DCM' | 'DCN' | 'DCD' | 'DCS' | 'DCH' | 'DCX';

export interface CompressedManifestInfo {
  kind: CompressedManifestKind;
  /** What the payload is, in words (for messages). */
  description: string;
  /** The delta magic found after the header (`PA30`, `PA31`), when the kind carries one and it is present. */
  deltaMagic?: string;
}

const KINDS: Record<CompressedManifestKind, { description: string; deltaAt?: number }> = {
  DCM: { description: 'PA30 delta against the base manifest embedded in wcp.dll', deltaAt: 4 },
  DCN: { description: 'PA30 delta against an empty source', deltaAt: 4 },
  DCD: { description: 'PA30 delta against an older version of the same file', deltaAt: 12 },
  DCS: { description: 'LZMS-compressed blocks' },
  DCH: { description: 'header-only form' },
  DCX: { description: 'undocumented form' },
};

/** The compressed form, or null when the bytes do not start with a `DC?\x01` signature. */
export function detectCompressedManifest(bytes: Uint8Array): CompressedManifestInfo | null {
  if (bytes.length < 4 || bytes[0] !== 0x44 || bytes[1] !== 0x43 || bytes[3] !== 0x01) return null;
  const kind = ('DC' + String.fromCharCode(bytes[2]!)) as CompressedManifestKind;
  const spec = KINDS[kind];
  if (!spec) return null;
  const info: CompressedManifestInfo = { kind, description: spec.description };
  if (spec.deltaAt !== undefined && bytes.length >= spec.deltaAt + 4) {
    const magic = String.fromCharCode(...bytes.subarray(spec.deltaAt, spec.deltaAt + 4));
    if (/^PA(19|30|31)$/.test(magic)) info.deltaMagic = magic;
  }
  return info;
}
