import { FormatError } from '../errors.js';
import { attr, childrenNamed, ownAttrs, parseXml, type XmlElement } from '../util/xml.js';
import { parsePackageId, type AssemblyIdentity } from './identity.js';

/**
 * `update.ses`: the servicing session a package asks for (docs/cbs.md). Evidence is thin, so
 * every attribute is kept; only `Tasks@operationMode` and `package@id/@targetState` are interpreted.
 */
export interface UpdateSession {
  /** `OfflineInstall` seen; open string. */
  operationMode?: string;
  /** All attributes of `Tasks`. */
  attrs: Record<string, string>;
  phases: SesPhase[];
}

export interface SesPhase {
  attrs: Record<string, string>;
  /** True for packages written directly under `Tasks` with no `Phase` around them. */
  implicit?: boolean;
  packages: SesPackage[];
}

export interface SesPackage {
  /** The id string as written. */
  id: string;
  identity: AssemblyIdentity;
  /** `Installed`, `Absent`… (open string). */
  targetState?: string;
  attrs: Record<string, string>;
}

function readPackages(parent: XmlElement, file: string | undefined, where: string): SesPackage[] {
  return childrenNamed(parent, 'package').map((p, i) => {
    const w = `${where}/package[${i}]`;
    const id = attr(p, 'id');
    if (id === undefined || id === '') throw new FormatError('E_CBS_SES', '<package> has no id attribute', { file, where: w });
    const out: SesPackage = { id, identity: parsePackageId(id, file, w), attrs: ownAttrs(p) };
    const ts = attr(p, 'targetState');
    if (ts !== undefined) out.targetState = ts;
    return out;
  });
}

/** Parse `update.ses`. XmlError/FormatError naming `file` on malformed input or a bad package id. */
export function parseUpdateSes(input: string | Uint8Array, file?: string): UpdateSession {
  const root = parseXml(input, file);
  if (root.name !== 'Tasks') {
    throw new FormatError('E_CBS_SES', `not an update.ses: root element is <${root.name}>, expected <Tasks>`, { file, where: root.name });
  }
  const out: UpdateSession = { attrs: ownAttrs(root), phases: [] };
  const mode = attr(root, 'operationMode');
  if (mode !== undefined) out.operationMode = mode;
  const loose = readPackages(root, file, 'Tasks');
  if (loose.length > 0) out.phases.push({ attrs: {}, implicit: true, packages: loose });
  childrenNamed(root, 'Phase').forEach((ph, i) => {
    out.phases.push({ attrs: ownAttrs(ph), packages: readPackages(ph, file, `Tasks/Phase[${i}]`) });
  });
  return out;
}
