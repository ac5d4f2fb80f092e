import { FormatError } from '../errors.js';
import { attr, child, childrenNamed, ownAttrs, parseXml, type XmlElement } from '../util/xml.js';
import { formatPackageId, identityFromElement, rootAssemblyIdentity, type AssemblyIdentity } from './identity.js';

/** A package manifest (`update.mum`, `Package_*.mum`) (docs/cbs.md). Enumerated values are kept as open strings. */
export interface MumPackage {
  identity: AssemblyIdentity;
  /** `Name~PKT~arch~lang~version`. */
  packageId: string;
  assembly: MumAssemblyAttrs;
  /** The `package` element; absent in some non-update manifests. */
  package?: MumPackageElement;
}

export interface MumAssemblyAttrs {
  manifestVersion?: string;
  description?: string;
  displayName?: string;
  company?: string;
  copyright?: string;
  supportInformation?: string;
  creationTimeStamp?: string;
  lastUpdateTimeStamp?: string;
  /** Every attribute of `assembly`, namespace declarations excluded. */
  attrs: Record<string, string>;
}

export const PACKAGE_ATTRS = [
  'identifier', 'releaseType', 'restart', 'psfName', 'permanence', 'applicabilityEvaluation', 'integrate',
  'targetPartition', 'binaryPartition', 'selfUpdate', 'contained', 'name',
] as const;
export type PackageAttr = (typeof PACKAGE_ATTRS)[number];

export type MumPackageElement = { [K in PackageAttr]?: string } & {
  /** Attributes not in PACKAGE_ATTRS. */
  extra: Record<string, string>;
  customInformation?: MumCustomInformation;
  parents: MumParent[];
  updates: MumUpdate[];
  applicable?: MumApplicability;
  detectUpdate?: MumApplicability;
  selectable?: MumApplicability;
  installerAssembly?: AssemblyIdentity;
  /** `packageExtended` attributes (packageSize, allowedOffline…), when present. */
  packageExtended?: Record<string, string>;
};

export interface MumCustomInformation {
  PackageFormat?: string;
  PSFXVersion?: string;
  PSFXDeltaFormat?: string;
  Version?: string;
  /** All attributes as written. */
  attrs: Record<string, string>;
}

export interface MumParent {
  identity: AssemblyIdentity;
  buildCompare?: string;
  serviceCompare?: string;
  revisionCompare?: string;
  distributionCompare?: string;
  integrate?: string;
  disposition?: string;
  set?: string;
  attrs: Record<string, string>;
}

export type MumUpdateKind = 'package' | 'component' | 'driver' | 'other';

export interface MumUpdate {
  name: string;
  kind: MumUpdateKind;
  /** Identity of the package/component/driver the update installs. */
  identity?: AssemblyIdentity;
  /** `package@integrate` (`hidden`, `visible`…). */
  integrate?: string;
  /** `driver@inf`, `driver@ranking`. */
  inf?: string;
  ranking?: string;
  /** Attributes of the package/component/driver element. */
  targetAttrs: Record<string, string>;
  applicable?: MumApplicability;
  detectUpdate?: MumApplicability;
  selectable?: MumApplicability;
  /** Attributes of `update`. */
  attrs: Record<string, string>;
}

/** `applicable` / `detectUpdate` / `selectable`: the disposition and every identity named inside. */
export interface MumApplicability {
  disposition?: string;
  attrs: Record<string, string>;
  identities: Array<{
    /** Element that holds the identity (`updateComponent`, `detectUpdate`…). */
    element: string;
    elementAttrs: Record<string, string>;
    identity: AssemblyIdentity;
  }>;
}

function pick<K extends string>(el: XmlElement, keys: readonly K[]): { [P in K]?: string } {
  const out: { [P in K]?: string } = {};
  for (const k of keys) {
    const v = attr(el, k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

function readApplicability(el: XmlElement | undefined, file: string | undefined, where: string): MumApplicability | undefined {
  if (!el) return undefined;
  const out: MumApplicability = { attrs: ownAttrs(el), identities: [] };
  const disposition = attr(el, 'disposition');
  if (disposition !== undefined) out.disposition = disposition;
  const walk = (e: XmlElement, path: string): void => {
    e.children.forEach((c, i) => {
      const p = `${path}/${c.name}[${i}]`;
      if (c.name === 'assemblyIdentity') {
        out.identities.push({ element: e.name, elementAttrs: ownAttrs(e), identity: identityFromElement(c, { file, where: p }) });
      } else {
        walk(c, p);
      }
    });
  };
  walk(el, where);
  return out;
}

/** `installerAssembly` carries the identity attributes itself (or, in some files, a nested assemblyIdentity). */
function readInstallerAssembly(el: XmlElement, file: string | undefined, where: string): AssemblyIdentity {
  const nested = child(el, 'assemblyIdentity');
  return nested ? identityFromElement(nested, { file, where: `${where}/assemblyIdentity` }) : identityFromElement(el, { file, where });
}

function readCustomInformation(el: XmlElement): MumCustomInformation {
  return { ...pick(el, ['PackageFormat', 'PSFXVersion', 'PSFXDeltaFormat', 'Version'] as const), attrs: ownAttrs(el) };
}

function readUpdate(el: XmlElement, file: string | undefined, where: string): MumUpdate {
  const name = attr(el, 'name');
  if (name === undefined) throw new FormatError('E_CBS_MUM', '<update> has no name attribute', { file, where });
  const target = el.children.find((c) => c.name === 'package' || c.name === 'component' || c.name === 'driver');
  const u: MumUpdate = { name, kind: target ? (target.name as MumUpdateKind) : 'other', targetAttrs: target ? ownAttrs(target) : {}, attrs: ownAttrs(el) };
  if (target) {
    const idEl = child(target, 'assemblyIdentity');
    const tWhere = `${where}/${target.name}/assemblyIdentity`;
    if (!idEl) throw new FormatError('E_CBS_NO_IDENTITY', `<${target.name}> in update ${JSON.stringify(name)} has no <assemblyIdentity>`, { file, where: tWhere });
    u.identity = identityFromElement(idEl, { file, where: tWhere });
    if (target.name === 'package') {
      const integrate = attr(target, 'integrate');
      if (integrate !== undefined) u.integrate = integrate;
    } else if (target.name === 'driver') {
      const inf = attr(target, 'inf');
      if (inf !== undefined) u.inf = inf;
      const ranking = attr(target, 'ranking');
      if (ranking !== undefined) u.ranking = ranking;
    }
  }
  for (const k of ['applicable', 'detectUpdate', 'selectable'] as const) {
    const a = readApplicability(child(el, k), file, `${where}/${k}`);
    if (a) u[k] = a;
  }
  return u;
}

function readPackage(el: XmlElement, root: XmlElement, file: string | undefined): MumPackageElement {
  const where = 'assembly/package';
  const known = new Set<string>(PACKAGE_ATTRS.map((k) => k.toLowerCase()));
  const extra: Record<string, string> = {};
  for (const [k, v] of Object.entries(ownAttrs(el))) if (!known.has(k.toLowerCase())) extra[k] = v;
  const p: MumPackageElement = { ...pick(el, PACKAGE_ATTRS), extra, parents: [], updates: [] };

  // customInformation is a child of package; look at the root too for older layouts.
  const ci = child(el, 'customInformation') ?? child(root, 'customInformation');
  if (ci) p.customInformation = readCustomInformation(ci);

  childrenNamed(el, 'parent').forEach((par, i) => {
    const pw = `${where}/parent[${i}]/assemblyIdentity`;
    const idEl = child(par, 'assemblyIdentity');
    if (!idEl) throw new FormatError('E_CBS_NO_IDENTITY', '<parent> has no <assemblyIdentity>', { file, where: pw });
    p.parents.push({
      identity: identityFromElement(idEl, { file, where: pw }),
      ...pick(par, ['buildCompare', 'serviceCompare', 'revisionCompare', 'distributionCompare', 'integrate', 'disposition', 'set'] as const),
      attrs: ownAttrs(par),
    });
  });
  childrenNamed(el, 'update').forEach((u, i) => p.updates.push(readUpdate(u, file, `${where}/update[${i}]`)));
  for (const k of ['applicable', 'detectUpdate', 'selectable'] as const) {
    const a = readApplicability(child(el, k), file, `${where}/${k}`);
    if (a) p[k] = a;
  }
  const ia = child(el, 'installerAssembly') ?? child(root, 'installerAssembly');
  if (ia) p.installerAssembly = readInstallerAssembly(ia, file, `${ia === child(el, 'installerAssembly') ? where : 'assembly'}/installerAssembly`);
  const ext = child(el, 'packageExtended');
  if (ext) p.packageExtended = ownAttrs(ext);
  return p;
}

/** Parse a `.mum` package manifest. XmlError/FormatError naming `file` on malformed or incomplete input. */
export function parseMum(input: string | Uint8Array, file?: string): MumPackage {
  const root = parseXml(input, file);
  const identity = rootAssemblyIdentity(root, file, 'package manifest (.mum)');
  const assembly: MumAssemblyAttrs = {
    ...pick(root, ['manifestVersion', 'description', 'displayName', 'company', 'copyright', 'supportInformation', 'creationTimeStamp', 'lastUpdateTimeStamp'] as const),
    attrs: ownAttrs(root),
  };
  const pkgs = childrenNamed(root, 'package');
  if (pkgs.length > 1) throw new FormatError('E_CBS_MUM', `package manifest has ${pkgs.length} <package> elements, expected one`, { file, where: 'assembly/package' });
  const out: MumPackage = { identity, packageId: formatPackageId(identity), assembly };
  if (pkgs[0]) out.package = readPackage(pkgs[0], root, file);
  return out;
}

/** Every identity a package names in its updates (child packages, components, drivers). */
export function mumUpdateIdentities(mum: MumPackage): AssemblyIdentity[] {
  return (mum.package?.updates ?? []).flatMap((u) => (u.identity ? [u.identity] : []));
}

