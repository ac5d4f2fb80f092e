import { FormatError, UnsupportedError } from '../errors.js';
import { attr, child, childrenNamed, descendants, ownAttrs, parseXml, type XmlElement } from '../util/xml.js';
import { identityFromElement, rootAssemblyIdentity, type AssemblyIdentity } from './identity.js';
import { keyform } from './keyform.js';
import { detectCompressedManifest } from './winsxs-compressed.js';

/** A component manifest (asm.v3 `assembly` describing one WinSxS component) (docs/cbs.md). */
export interface ComponentManifest {
  identity: AssemblyIdentity;
  /** WinSxS folder name computed from the identity. */
  keyform: string;
  /** Attributes of the root `assembly` element (manifestVersion, description, copyright…), namespace declarations excluded. */
  assembly: Record<string, string>;
  /** `<deployment/>` present: a package-facing deployment assembly. */
  deployment: boolean;
  files: ManifestFile[];
  directories: ManifestDirectory[];
  registryKeys: RegistryKey[];
  memberships: CategoryMembership[];
  dependencies: ManifestDependency[];
}

export interface FileHash {
  alg: 'sha256' | 'sha1';
  /** DigestValue as written (base64). */
  digestBase64: string;
  /** The same digest as lowercase hex. */
  digestHex: string;
}

export interface ManifestFile {
  name: string;
  destinationPath?: string;
  sourceName?: string;
  sourcePath?: string;
  importPath?: string;
  /** `securityDescriptor@name`. */
  securityDescriptor?: string;
  hash?: FileHash;
  /** All attributes of the `file` element. */
  attrs: Record<string, string>;
}

export interface ManifestDirectory {
  destinationPath: string;
  owner?: string;
  securityDescriptor?: string;
}

export interface RegistryValue {
  name: string;
  valueType?: string;
  value?: string;
  attrs: Record<string, string>;
}

export interface RegistryKey {
  keyName: string;
  values: RegistryValue[];
  securityDescriptor?: string;
  attrs: Record<string, string>;
}

export interface CategoryInstance {
  attrs: Record<string, string>;
  /** `serviceData` attributes, when the instance configures a service. */
  serviceData?: Record<string, string>;
}

export interface CategoryMembership {
  /** The category's identity (`id` element). */
  id: AssemblyIdentity;
  typeName?: string;
  instances: CategoryInstance[];
}

export interface ManifestDependency {
  discoverable?: string;
  resourceType?: string;
  /** `install`, `prerequisite`… (open string). */
  dependencyType?: string;
  identity: AssemblyIdentity;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function readHash(fileEl: XmlElement, file: string | undefined, where: string): FileHash | undefined {
  const hashEl = child(fileEl, 'hash');
  if (!hashEl) return undefined;
  const method = descendants(hashEl, 'DigestMethod')[0];
  const value = descendants(hashEl, 'DigestValue')[0];
  if (!method || !value) throw new FormatError('E_CBS_MANIFEST_HASH', 'file hash lacks DigestMethod or DigestValue', { file, where });
  const algUri = attr(method, 'Algorithm') ?? '';
  const m = /#sha(1|256)$/i.exec(algUri);
  if (!m) throw new FormatError('E_CBS_MANIFEST_HASH', `unknown digest algorithm ${JSON.stringify(algUri)}`, { file, where });
  const alg = m[1] === '1' ? 'sha1' : 'sha256';
  const b64 = value.text.replace(/\s+/g, '');
  if (!BASE64.test(b64) || b64.length % 4 !== 0) throw new FormatError('E_CBS_MANIFEST_HASH', 'DigestValue is not base64', { file, where });
  const digest = Buffer.from(b64, 'base64');
  const want = alg === 'sha1' ? 20 : 32;
  if (digest.length !== want) {
    throw new FormatError('E_CBS_MANIFEST_HASH', `${alg} DigestValue is ${digest.length} bytes, expected ${want}`, { file, where });
  }
  return { alg, digestBase64: b64, digestHex: digest.toString('hex') };
}

function isCompressedText(s: string): boolean {
  return s.length >= 4 && s[0] === 'D' && s[1] === 'C' && s.charCodeAt(3) === 1 && 'MNDSHX'.includes(s[2]!);
}

/**
 * Parse a component `.manifest`. WinSxS-compressed manifests (`DCM\x01`…) are recognised and
 * refused with UnsupportedError E_DCM_UNSUPPORTED; everything malformed is a FormatError naming `file`.
 */
export function parseComponentManifest(input: string | Uint8Array, file?: string): ComponentManifest {
  const compressed = typeof input === 'string'
    ? (isCompressedText(input) ? detectCompressedManifest(Buffer.from(input.slice(0, 16), 'latin1')) : null)
    : detectCompressedManifest(input);
  if (compressed) {
    throw new UnsupportedError(
      'E_DCM_UNSUPPORTED',
      `WinSxS-compressed manifest (${compressed.kind}\\x01: ${compressed.description}); ` +
        (compressed.kind === 'DCM'
          ? 'decode it first with its base manifest (decodeDcmManifest; msu cbs --base-manifest or --wcp)'
          : 'decompression is not yet supported'),
      { file },
    );
  }
  const root = parseXml(input, file);
  const identity = rootAssemblyIdentity(root, file, 'component manifest');

  const files: ManifestFile[] = childrenNamed(root, 'file').map((el, i) => {
    const where = `assembly/file[${i}]`;
    const name = attr(el, 'name');
    if (!name) throw new FormatError('E_CBS_MANIFEST_FILE', '<file> has no name attribute', { file, where });
    const f: ManifestFile = { name, attrs: ownAttrs(el) };
    for (const k of ['destinationPath', 'sourceName', 'sourcePath', 'importPath'] as const) {
      const v = attr(el, k);
      if (v !== undefined) f[k] = v;
    }
    const sd = child(el, 'securityDescriptor');
    if (sd && attr(sd, 'name') !== undefined) f.securityDescriptor = attr(sd, 'name');
    const hash = readHash(el, file, where);
    if (hash) f.hash = hash;
    return f;
  });

  const directories: ManifestDirectory[] = descendants(root, 'directory')
    .filter((d) => attr(d, 'destinationPath') !== undefined)
    .map((d) => {
      const out: ManifestDirectory = { destinationPath: attr(d, 'destinationPath')! };
      const owner = attr(d, 'owner');
      if (owner !== undefined) out.owner = owner;
      const sd = child(d, 'securityDescriptor');
      if (sd && attr(sd, 'name') !== undefined) out.securityDescriptor = attr(sd, 'name');
      return out;
    });

  const registryKeys: RegistryKey[] = [];
  for (const keys of childrenNamed(root, 'registryKeys')) {
    for (const k of childrenNamed(keys, 'registryKey')) {
      const key: RegistryKey = {
        keyName: attr(k, 'keyName') ?? '',
        values: childrenNamed(k, 'registryValue').map((v) => {
          const rv: RegistryValue = { name: attr(v, 'name') ?? '', attrs: ownAttrs(v) };
          const t = attr(v, 'valueType');
          if (t !== undefined) rv.valueType = t;
          const val = attr(v, 'value');
          if (val !== undefined) rv.value = val;
          return rv;
        }),
        attrs: ownAttrs(k),
      };
      const sd = child(k, 'securityDescriptor');
      if (sd && attr(sd, 'name') !== undefined) key.securityDescriptor = attr(sd, 'name');
      registryKeys.push(key);
    }
  }

  const memberships: CategoryMembership[] = [];
  for (const ms of childrenNamed(root, 'memberships')) {
    childrenNamed(ms, 'categoryMembership').forEach((cm, i) => {
      const idEls = childrenNamed(cm, 'id');
      if (idEls.length === 0) {
        throw new FormatError('E_CBS_MANIFEST_CATEGORY', '<categoryMembership> has no <id>', { file, where: `assembly/memberships/categoryMembership[${i}]` });
      }
      const instances = childrenNamed(cm, 'categoryInstance').map((ci) => {
        const inst: CategoryInstance = { attrs: ownAttrs(ci) };
        const sdata = child(ci, 'serviceData');
        if (sdata) inst.serviceData = ownAttrs(sdata);
        return inst;
      });
      // One entry per `id`: a membership element may name several categories sharing the instances.
      idEls.forEach((idEl, j) => {
        const m: CategoryMembership = { id: identityFromElement(idEl, { file, where: `assembly/memberships/categoryMembership[${i}]/id[${j}]` }), instances };
        const typeName = attr(idEl, 'typeName');
        if (typeName !== undefined) m.typeName = typeName;
        memberships.push(m);
      });
    });
  }

  const dependencies: ManifestDependency[] = [];
  childrenNamed(root, 'dependency').forEach((dep, i) => {
    childrenNamed(dep, 'dependentAssembly').forEach((da, j) => {
      const where = `assembly/dependency[${i}]/dependentAssembly[${j}]/assemblyIdentity`;
      const idEl = child(da, 'assemblyIdentity');
      if (!idEl) throw new FormatError('E_CBS_NO_IDENTITY', '<dependentAssembly> has no <assemblyIdentity>', { file, where });
      const d: ManifestDependency = { identity: identityFromElement(idEl, { file, where }) };
      const disc = attr(dep, 'discoverable');
      if (disc !== undefined) d.discoverable = disc;
      const rt = attr(dep, 'resourceType');
      if (rt !== undefined) d.resourceType = rt;
      const dt = attr(da, 'dependencyType');
      if (dt !== undefined) d.dependencyType = dt;
      dependencies.push(d);
    });
  });

  return {
    identity,
    keyform: keyform(identity),
    assembly: ownAttrs(root),
    deployment: child(root, 'deployment') !== undefined,
    files,
    directories,
    registryKeys,
    memberships,
    dependencies,
  };
}
