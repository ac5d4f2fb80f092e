/** CBS package model: versions, identities, keyforms, .mum, component .manifest, update.ses, pkgProperties.txt, classification. */
import { FormatError } from '../errors.js';
import { decodeText } from '../util/xml.js';
import { parseComponentManifest, type ComponentManifest } from './manifest.js';
import { parseMum, type MumPackage } from './mum.js';
import { parsePkgProperties, type PkgProperties } from './pkgprops.js';
import { parseUpdateSes, type UpdateSession } from './ses.js';
import { detectCompressedManifest } from './winsxs-compressed.js';

export * from './version.js';
export * from './identity.js';
export * from './keyform.js';
export * from './winsxs-compressed.js';
export * from './manifest.js';
export * from './mum.js';
export * from './ses.js';
export * from './pkgprops.js';
export * from './classify.js';
export * from './container-index.js';
export * from './chains.js';
export * from './catalog.js';
export * from './catalog-writer.js';
export * from './filehashes.js';

export type CbsFileKind = 'mum' | 'manifest' | 'ses' | 'pkgprops';

export type CbsFile =
  | { kind: 'mum'; mum: MumPackage }
  | { kind: 'manifest'; manifest: ComponentManifest }
  | { kind: 'ses'; ses: UpdateSession }
  | { kind: 'pkgprops'; props: PkgProperties };

/** Which CBS format a file is: by content first (compressed-manifest signature, XML root), then by name. Null when neither tells. */
export function detectCbsFileKind(bytes: Uint8Array, name = ''): CbsFileKind | null {
  if (detectCompressedManifest(bytes)) return 'manifest';
  const head = decodeText(bytes.subarray(0, 4096)).replace(/^\uFEFF/, '');
  const root = /<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)[\s>/]/.exec(head.replace(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g, ''));
  const lower = name.toLowerCase();
  if (head.trimStart().startsWith('<') && root) {
    if (root[1] === 'Tasks') return 'ses';
    if (root[1] === 'assembly') {
      if (lower.endsWith('.mum')) return 'mum';
      if (lower.endsWith('.manifest')) return 'manifest';
      return /<(?:[\w.-]+:)?package[\s>/]/.test(decodeText(bytes)) ? 'mum' : 'manifest';
    }
  }
  if (lower.endsWith('.mum')) return 'mum';
  if (lower.endsWith('.manifest')) return 'manifest';
  if (lower.endsWith('.ses')) return 'ses';
  if (lower.endsWith('pkgproperties.txt') || /^\s*[^=<"\s][^=<"]*=\s*"/.test(head)) return 'pkgprops';
  return null;
}

/** Detect and parse one CBS file. FormatError when the kind cannot be told; parser errors name `file`. */
export function parseCbsFile(bytes: Uint8Array, file: string, kind?: CbsFileKind): CbsFile {
  const k = kind ?? detectCbsFileKind(bytes, file.split(/[\\/]/).pop() ?? file);
  switch (k) {
    case 'mum':
      return { kind: 'mum', mum: parseMum(bytes, file) };
    case 'manifest':
      return { kind: 'manifest', manifest: parseComponentManifest(bytes, file) };
    case 'ses':
      return { kind: 'ses', ses: parseUpdateSes(bytes, file) };
    case 'pkgprops':
      return { kind: 'pkgprops', props: parsePkgProperties(bytes, file) };
    default:
      if (bytes.length === 0) throw new FormatError('E_CBS_EMPTY', 'file is empty', { file });
      throw new FormatError('E_CBS_UNKNOWN_KIND', 'not a recognised CBS file (.mum, .manifest, update.ses or pkgProperties.txt)', { file });
  }
}
