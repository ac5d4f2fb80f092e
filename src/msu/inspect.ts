import path from 'node:path';
import { Cabinet, type CabEntry } from '../cab/cabinet.js';
import { cfhdrNEXT_CABINET, cfhdrPREV_CABINET } from '../cab/types.js';
import { FormatError, MsuError } from '../errors.js';
import { parsePkgProperties } from '../cbs/pkgprops.js';
import { BufferSource, FileSource, type ByteSource } from '../util/source.js';
export { detectContainer, openMemberCab } from './container.js';
import { classifyMember, kbFromName, PACKAGE_ROLES, type MemberRole } from './members.js';
import { detectContainer, openMemberCab } from './container.js';
import type { MemberCopyProgress } from './summary.js';

export {
  INSPECT_SCHEMA, countKinds, findPackageMum, summarizeMum, summarizePackageCab,
  type ContainerKind, type InspectMember, type MemberCopyProgress, type InspectReport, type PackageParent, type PackageSummary,
} from './summary.js';
import { INSPECT_SCHEMA, findPackageMum, summarizeMum, summarizePackageCab, type InspectMember, type InspectReport, type PackageSummary } from './summary.js';

export interface InspectOptions {
  /** The name the report and errors give the file (default: `file` as given). */
  displayName?: string;
  /** Called while (part of) the payload `.wim` of a WIM-based MSU is copied to a temp file for wimlib-imagex. */
  onProgress?: (p: MemberCopyProgress) => void;
}

/**
 * What is in an MSU or CAB package, from headers and a few small members only
 * (update.mum, pkgProperties.txt); payload data is never decompressed.
 */
export async function inspectFile(file: string, opts: InspectOptions = {}): Promise<InspectReport> {
  const name = opts.displayName ?? file;
  const src = await FileSource.open(file, name);
  try {
    const head = await src.read(0, Math.min(8, src.size), 'signature');
    const kind = detectContainer(head);
    if (kind === 'wim') {
      await src.close();
      // WIM MSUs need wimlib (execa); a cabinet MSU should not pay for loading that
      const { inspectWimMsu } = await import('./wim-msu.js');
      return await inspectWimMsu(file, name, src.size, opts.onProgress);
    }
    if (kind !== 'cab') {
      throw new FormatError('E_NOT_PACKAGE', 'not an MSU or CAB package (no MSCF or MSWIM signature)', { file: name });
    }
    const flags = src.size >= 32 ? (await src.read(30, 2, 'CFHEADER.flags')).reduce((v, b, i) => v | (b << (8 * i)), 0) : 0;
    if (flags & (cfhdrPREV_CABINET | cfhdrNEXT_CABINET)) {
      // one cabinet of a set: inspect the whole set (or say which cabinet is missing)
      const set = await Cabinet.openFile(file);
      try {
        return await inspectCabinet(set, name, src.size);
      } finally {
        await set.close();
      }
    }
    const cab = await Cabinet.open(src);
    return await inspectCabinet(cab, name, src.size);
  } finally {
    await src.close().catch(() => undefined);
  }
}

/** Above this, the compressed members inspect reads are read one by one (less held at once). */
const READ_TOGETHER_MAX = 64 << 20;

/**
 * The compressed members inspect reads (pkgProperties, package cabinets), in one decode of
 * their folders: an MSU keeps them in one MSZIP folder, and reading each on its own would
 * decode that folder again from its start.
 */
async function readTogether(cab: Cabinet): Promise<Map<CabEntry, Uint8Array>> {
  const wanted = cab.entries.filter((e) => {
    const role = classifyMember(e.name).role;
    return (role === 'pkg-properties' || PACKAGE_ROLES.has(role)) && !cab.storedSource(e);
  });
  if (wanted.length < 2 || wanted.reduce((n, e) => n + e.cbFile, 0) > READ_TOGETHER_MAX) return new Map();
  return cab.readFiles(wanted);
}

export async function inspectCabinet(cab: Cabinet, name: string, size: number): Promise<InspectReport> {
  const warnings: string[] = [];
  const members: InspectMember[] = cab.entries.map((e) => ({
    name: e.name, size: e.cbFile, role: classifyMember(e.name).role, compression: cab.folders[e.folder]?.compression.label,
  }));
  const isMsu = /\.msu$/i.test(name) || members.some((m) => m.role === 'lcu-payload' || m.role === 'ssu' || m.role === 'wsusscan');
  const directMum = findPackageMum(cab.entries);
  const report: InspectReport = {
    schema: INSPECT_SCHEMA, file: path.basename(name), size, container: 'cab', members: [], packages: [],
    ssu: { present: false, members: [] }, psf: [], warnings,
  };
  if (directMum || !isMsu) {
    // A bare CBS cabinet.
    report.members = members.map((m) => ({ ...m, role: 'other' as MemberRole }));
    report.packages.push(await summarizePackageCab(cab, '.', false));
  } else {
    report.container = 'cab-msu';
    report.members = members;
    report.psf = members.filter((m) => m.role === 'psf').map((m) => m.name);
    const read = await readTogether(cab);
    for (const e of cab.entries) {
      const role = classifyMember(e.name).role;
      if (role === 'pkg-properties') {
        try {
          const props = parsePkgProperties(read.get(e) ?? await cab.readFile(e), `${name}!${e.name}`);
          report.properties = Object.fromEntries(props.entries.map((p) => [p.key, p.value]));
        } catch (err) {
          if (!(err instanceof MsuError)) throw err;
          warnings.push(`${e.name}: ${err.message}`);
        }
      }
      if (!PACKAGE_ROLES.has(role)) continue;
      const inner = await openMemberCab(cab, e, read.get(e));
      const psfBeside = report.psf.some((p) => p.replace(/\.psf$/i, '').toLowerCase() === e.name.replace(/\.(cab|wim)$/i, '').toLowerCase());
      const summary = await summarizePackageCab(inner, e.name, psfBeside);
      if (role === 'ssu' || summary.class === 'ssu') report.ssu.members.push(e.name);
      if (summary.note && role !== 'package-cab') warnings.push(`${e.name}: ${summary.note}`);
      if (!summary.note || role !== 'package-cab') report.packages.push(summary);
    }
    if (!report.packages.some((p) => p.identity)) warnings.push('no CBS package found inside the bundle');
  }
  report.ssu.present = report.ssu.members.length > 0 || report.packages.some((p) => p.class === 'ssu');
  if (report.ssu.present && report.ssu.members.length === 0) {
    report.ssu.members = report.packages.filter((p) => p.class === 'ssu').map((p) => p.member);
  }
  const kbs = [...new Set(report.packages.filter((p) => p.class !== 'ssu').map((p) => p.kb).filter(Boolean))];
  report.kb = kbs[0] ?? kbFromName(name);
  if (report.packages.some((p) => p.class === 'hotpatch')) {
    warnings.push('hotpatch package: not supported for offline servicing');
  }
  return report;
}

