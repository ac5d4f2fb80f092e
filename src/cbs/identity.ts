import { FormatError } from '../errors.js';
import { attr, type XmlElement } from '../util/xml.js';
import { parseVersion } from './version.js';

/**
 * An `assemblyIdentity` as written in .mum and .manifest files. The five core attributes
 * are always present in the model: an attribute absent from the XML is the empty string
 * (so `language: ''` means "not stated", `'neutral'` means neutral).
 */
export interface AssemblyIdentity {
  name: string;
  version: string;
  processorArchitecture: string;
  language: string;
  publicKeyToken: string;
  buildType?: string;
  versionScope?: string;
  type?: string;
  /** Every other attribute (typeName on category ids, etc.), namespace declarations excluded. */
  extra: Record<string, string>;
}

const KNOWN = ['name', 'version', 'processorArchitecture', 'language', 'publicKeyToken', 'buildType', 'versionScope', 'type'] as const;
const KNOWN_LOWER = new Set(KNOWN.map((k) => k.toLowerCase()));

export interface IdentityOptions {
  file?: string;
  /** Element path for error messages, e.g. `assembly/package/parent/assemblyIdentity`. */
  where?: string;
}

/** Read an `assemblyIdentity` (or category `id`) element. FormatError when `name` is missing or `version` is garbage. */
export function identityFromElement(el: XmlElement, opts: IdentityOptions = {}): AssemblyIdentity {
  const where = opts.where ?? el.name;
  const name = attr(el, 'name');
  if (name === undefined || name === '') {
    throw new FormatError('E_CBS_IDENTITY', `<${el.name}> has no name attribute`, { file: opts.file, where });
  }
  const version = attr(el, 'version') ?? '';
  if (version !== '') parseVersion(version, opts.file, where);
  const id: AssemblyIdentity = {
    name,
    version,
    processorArchitecture: attr(el, 'processorArchitecture') ?? '',
    language: attr(el, 'language') ?? '',
    publicKeyToken: attr(el, 'publicKeyToken') ?? '',
    extra: {},
  };
  const buildType = attr(el, 'buildType');
  if (buildType !== undefined) id.buildType = buildType;
  const versionScope = attr(el, 'versionScope');
  if (versionScope !== undefined) id.versionScope = versionScope;
  const type = attr(el, 'type');
  if (type !== undefined) id.type = type;
  for (const [k, v] of Object.entries(el.attrs)) {
    const lower = k.toLowerCase();
    if (KNOWN_LOWER.has(lower) || lower === 'xmlns' || lower.startsWith('xmlns:')) continue;
    id.extra[k] = v;
  }
  return id;
}

/** True for the culture values that mean "no culture" (`neutral`, `none`, empty). */
export function isNeutralLanguage(lang: string): boolean {
  const l = lang.toLowerCase();
  return l === '' || l === 'neutral' || l === 'none';
}

/** Package identity string `Name~PublicKeyToken~Arch~Culture~Version`, culture empty when neutral. */
export function formatPackageId(id: Pick<AssemblyIdentity, 'name' | 'publicKeyToken' | 'processorArchitecture' | 'language' | 'version'>): string {
  const lang = isNeutralLanguage(id.language) ? '' : id.language;
  return [id.name, id.publicKeyToken, id.processorArchitecture, lang, id.version].join('~');
}

/**
 * Parse `Package_for_RollupFix~31bf3856ad364e35~amd64~~17134.345.1.5`. An empty culture becomes
 * `neutral`. FormatError (E_CBS_PACKAGE_ID) on anything that is not five `~` fields with a name and a valid version.
 */
export function parsePackageId(s: string, file?: string, where?: string): AssemblyIdentity {
  const fields = s.split('~');
  const shown = JSON.stringify(s.length > 200 ? s.slice(0, 200) + '…' : s);
  if (fields.length !== 5) {
    throw new FormatError('E_CBS_PACKAGE_ID', `invalid package identity ${shown}: expected 5 fields separated by ~, found ${fields.length}`, { file, where });
  }
  const [name, publicKeyToken, processorArchitecture, language, version] = fields as [string, string, string, string, string];
  if (name === '') throw new FormatError('E_CBS_PACKAGE_ID', `invalid package identity ${shown}: empty name`, { file, where });
  if (version === '') throw new FormatError('E_CBS_PACKAGE_ID', `invalid package identity ${shown}: empty version`, { file, where });
  parseVersion(version, file, where);
  return { name, version, processorArchitecture, language: language === '' ? 'neutral' : language, publicKeyToken, extra: {} };
}

/**
 * Identity of a package "line" regardless of version: what CBS compares to decide that one
 * package supersedes another. Lowercased (CBS names are case-insensitive).
 */
export function versionlessKey(id: Pick<AssemblyIdentity, 'name' | 'publicKeyToken' | 'processorArchitecture' | 'language'>): string {
  const lang = isNeutralLanguage(id.language) ? '' : id.language;
  return [id.name, id.publicKeyToken, id.processorArchitecture, lang].join('~').toLowerCase();
}

/**
 * The `assemblyIdentity` directly under an `assembly` root (.mum and .manifest). FormatError naming
 * the file when the root is not `assembly` or the identity is missing.
 */
export function rootAssemblyIdentity(root: XmlElement, file: string | undefined, what: string): AssemblyIdentity {
  if (root.name !== 'assembly') {
    throw new FormatError('E_CBS_NOT_ASSEMBLY', `not a ${what}: root element is <${root.name}>, expected <assembly>`, { file, where: root.name });
  }
  const el = root.children.find((c) => c.name === 'assemblyIdentity');
  if (!el) {
    throw new FormatError('E_CBS_NO_IDENTITY', `${what} has no <assemblyIdentity> under <assembly>`, { file, where: 'assembly/assemblyIdentity' });
  }
  return identityFromElement(el, { file, where: 'assembly/assemblyIdentity' });
}

/** A Windows processor architecture as images and packages name it (processorArchitecture, the WIM's ARCH). */
export type WindowsArch = 'x86' | 'amd64' | 'arm64' | 'arm' | 'ia64' | 'unknown';
