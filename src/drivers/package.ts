/**
 * Offline check of a driver package folder: the failures that otherwise show up only
 * after a VM boots (wrong architecture, IDs QEMU never exposes, missing catalog or files).
 * Finding codes are documented in docs/drivers.md and must stay stable.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { ioError, MsuError, UsageError } from '../errors.js';
import { listFiles } from '../util/walk.js';
import type { WindowsArch } from '../cbs/identity.js';
import { allExposedIds, findQemuDevice, QEMU_DEVICES, qemuDeviceIds, type ExposedIds, type QemuDevice } from './devices.js';
import { matchHardwareIds, normalizeHardwareId, parsePciId, type HardwareIdMatch, type PciId } from './hwid.js';
import { catalogFor, InfError, infArchs, MAX_INF_BYTES, modelArchs, parseInf, type Inf, type InfArch, type InfDdInstall, type InfModel, type InfSourceFile } from './inf.js';

export type FindingLevel = 'error' | 'warning' | 'info';

export interface DriverFinding {
  level: FindingLevel;
  code: string;
  message: string;
  /** Path relative to the package folder. */
  file?: string;
  line?: number;
}

export interface InfServiceSummary {
  name: string;
  startType?: number;
  serviceType?: number;
  serviceBinary?: string;
}

export interface InfSummary {
  file: string;
  isTemplate: boolean;
  encoding?: string;
  class?: string;
  provider?: string;
  driverVer?: string;
  /** Catalog for the architecture asked for (or amd64 / the INF's first architecture). */
  catalog?: string;
  /** Catalog per architecture checked: CatalogFile.NT<arch>, else .NT, else undecorated. */
  catalogs: Partial<Record<InfArch, string>>;
  archs: InfArch[];
  hardwareIds: string[];
  services: InfServiceSummary[];
  bootCritical: boolean;
}

export interface DeviceMatch {
  inf: string;
  line: number;
  deviceId: string;
  infId: string;
  rank: number;
  kind: 'hardware' | 'compatible';
  transitional: boolean;
}

export interface DriverCheckReport {
  /** As the user named it. */
  dir: string;
  arch?: InfArch;
  device?: string;
  infs: InfSummary[];
  /** Best match per exposed identity of the device, when a device was given. */
  matches: DeviceMatch[];
  findings: DriverFinding[];
  errors: number;
  warnings: number;
}

export interface DriverCheckOptions {
  arch?: WindowsArch;
  /** QEMU `-device` name, e.g. virtio-sound-pci. */
  device?: string;
  /** Only the modern identity of a transitional device (QEMU disable-legacy=on or a PCIe port). */
  disableLegacy?: boolean;
}

const MAX_FILES = 200_000;

/** Case-insensitive listing of the package (Windows file names are case-insensitive). */
interface Listing {
  files: Map<string, string>;
  infs: string[];
}

async function listPackage(root: string, display: string): Promise<Listing> {
  const files = new Map<string, string>();
  const infs: string[] = [];
  for (const r of await listFiles(root, display, { links: true, max: MAX_FILES })) {
    files.set(r.toLowerCase(), r);
    if (/\.(inf|inx)$/i.test(r)) infs.push(r);
  }
  return { files, infs };
}

function toInfArch(a: WindowsArch | undefined): InfArch | undefined {
  return a === undefined || a === 'unknown' ? undefined : a;
}

const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
const hex2 = (n: number): string => n.toString(16).toUpperCase().padStart(2, '0');

function describeIdentity(x: ExposedIds): string {
  return `DEV_${hex4(x.identity.deviceId)} SUBSYS_${hex4(x.identity.subsystemId)}${hex4(x.identity.subsystemVendorId)} REV_${hex2(x.identity.revision)}`;
}

/** Models lines Windows would consider on an architecture (all lines when none is given). */
function modelsFor(inf: Inf, arch: InfArch | undefined): InfModel[] {
  return arch ? inf.models.filter((m) => modelArchs(m).includes(arch)) : inf.models;
}

function modelIds(m: InfModel): string[] {
  return [...(m.hardwareId ? [m.hardwareId] : []), ...m.compatibleIds];
}

/** Every QEMU identity (any device, transitional or modern) whose device ID equals this one. */
function identitiesWithDevice(vendor: string, device: string): Array<{ dev: QemuDevice; ids: ExposedIds }> {
  const out: Array<{ dev: QemuDevice; ids: ExposedIds }> = [];
  for (const dev of QEMU_DEVICES) {
    for (const ids of allExposedIds(dev)) {
      if (hex4(ids.identity.vendorId) === vendor && hex4(ids.identity.deviceId) === device) out.push({ dev, ids });
    }
  }
  return out;
}

/** Why one INF PCI ID does not bind an exposed identity whose DEV it names. */
function componentMismatch(id: PciId, x: ExposedIds): { code: string; text: string } | undefined {
  const rev = hex2(x.identity.revision);
  const subsys = `${hex4(x.identity.subsystemId)}${hex4(x.identity.subsystemVendorId)}`;
  const kind = x.transitional ? 'transitional' : 'modern';
  if (id.rev !== undefined && id.rev !== rev) {
    return { code: 'DRV_ID_REV_MISMATCH', text: `INF requires REV_${id.rev} but ${kind} ${x.device} reports REV_${rev}` };
  }
  // Build-time tokens in SUBSYS (.inx) cannot be judged.
  if (id.subsys !== undefined && /^[0-9A-F]{8}$/.test(id.subsys) && id.subsys !== subsys) {
    return { code: 'DRV_ID_SUBSYS_MISMATCH', text: `INF requires SUBSYS_${id.subsys} but ${kind} ${x.device} reports SUBSYS_${subsys}` };
  }
  if (id.cc !== undefined) {
    const cc4 = hex4(x.identity.classCode);
    const cc6 = cc4 + hex2(x.identity.progIf);
    if (id.cc !== cc4 && id.cc !== cc6) {
      return { code: 'DRV_ID_CLASS_MISMATCH', text: `INF requires CC_${id.cc} but ${x.device} reports CC_${cc6}` };
    }
  }
  return undefined;
}

export async function checkDriverPackage(dir: string, opts: DriverCheckOptions = {}): Promise<DriverCheckReport> {
  const arch = toInfArch(opts.arch);
  const device = opts.device !== undefined ? findQemuDevice(opts.device) : undefined;
  if (opts.device !== undefined && !device) {
    throw new UsageError(`unknown QEMU device ${JSON.stringify(opts.device)} (see: msu driver devices)`);
  }
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    // The package itself cannot be read: bad input (exit 3), not a failed write.
    const e = ioError(err, dir);
    throw new MsuError(e.code, e.message, { file: dir, cause: err }, 'input');
  }
  // A single INF file is checked against the folder it sits in.
  const root = st.isDirectory() ? dir : path.dirname(dir);
  const listing = await listPackage(root, dir);
  if (!st.isDirectory()) {
    const only = path.basename(dir);
    listing.infs.splice(0, listing.infs.length, ...(listing.files.has(only.toLowerCase()) ? [listing.files.get(only.toLowerCase())!] : []));
  }

  const findings: DriverFinding[] = [];
  const add = (level: FindingLevel, code: string, message: string, file?: string, line?: number): void => {
    findings.push({ level, code, message, ...(file !== undefined ? { file } : {}), ...(line !== undefined ? { line } : {}) });
  };
  const infs: InfSummary[] = [];
  const parsed: Array<{ rel: string; inf: Inf }> = [];

  if (!st.isDirectory() && !/\.(inf|inx)$/i.test(dir)) {
    // A file named directly that is not an INF: one finding, and it is not parsed as one.
    listing.infs.splice(0);
    add('error', 'DRV_NO_INF', `${path.basename(dir)} is not an .inf file: DISM and pnputil install only .inf files (name the INF or its folder)`);
  } else if (listing.infs.filter((f) => /\.inf$/i.test(f)).length === 0) {
    add('error', 'DRV_NO_INF', 'no .inf file in the package: DISM and pnputil have nothing to install');
  }

  for (const rel of listing.infs) {
    const full = path.join(root, rel);
    let bytes: Buffer;
    try {
      const s = await stat(full);
      if (!s.isFile()) {
        // A symlink to a device or FIFO would never end.
        add('error', 'DRV_INF_NOT_FILE', 'INF is not a regular file', rel);
        continue;
      }
      if (s.size > MAX_INF_BYTES) {
        add('error', 'DRV_INF_TOO_LARGE', `INF is ${s.size} bytes; refusing anything over ${MAX_INF_BYTES}`, rel);
        continue;
      }
      bytes = await readFile(full);
    } catch (err) {
      throw ioError(err, rel);
    }
    let inf: Inf;
    try {
      inf = parseInf(bytes, rel);
    } catch (err) {
      if (err instanceof InfError) {
        add('error', 'DRV_INF_SYNTAX', err.message, rel, err.line);
        continue;
      }
      // Anything else is a parser bug, but one INF must not stop the check of the package.
      add('error', 'DRV_INF_UNREADABLE', `INF could not be parsed (${err instanceof Error ? err.message : String(err)})`, rel);
      continue;
    }
    for (const i of inf.issues) add(i.level, i.code, i.message, rel, i.line);
    const services = installsFor(inf, arch).flatMap((d) => d.services).filter((s) => s.name !== '');
    const catalogs = catalogsFor(inf, arch);
    const catalog = catalogFor(inf, arch ?? primaryArch(inf));
    const summary: InfSummary = {
      file: rel,
      isTemplate: inf.isTemplate,
      encoding: inf.encoding,
      ...(inf.version.class ? { class: inf.version.class } : {}),
      ...(inf.version.provider ? { provider: inf.version.provider } : {}),
      ...(inf.version.driverVer
        ? { driverVer: [inf.version.driverVer.date ?? inf.version.driverVer.rawDate, inf.version.driverVer.version].filter(Boolean).join(',') }
        : {}),
      ...(catalog ? { catalog } : {}),
      catalogs,
      archs: infArchs(inf),
      hardwareIds: [...new Set(modelsFor(inf, arch).flatMap(modelIds))],
      services: dedupeServices(services),
      bootCritical: services.some((s) => s.startType === 0),
    };
    infs.push(summary);

    if (inf.isTemplate) {
      if (/\.inx$/i.test(rel)) {
        add('info', 'DRV_INF_TEMPLATE', `INF template (build-time tokens: ${inf.templateTokens.join(' ') || 'none'}); Windows ignores .inx files, so it is not checked`, rel);
      } else {
        add('error', 'DRV_INF_TEMPLATE', `INF still contains build-time tokens (${inf.templateTokens.join(' ')}); run it through the driver build (stampinf/INX processing) first`, rel);
      }
      continue;
    }
    parsed.push({ rel, inf });
    checkOneInf(rel, inf, arch, listing, add);
  }

  const matches = device ? checkDevice(device, opts, arch, parsed, add) : [];
  if (!device) for (const { rel, inf } of parsed) checkIdsAgainstQemu(rel, inf, arch, add);

  return {
    dir,
    ...(arch ? { arch } : {}),
    ...(device ? { device: device.name } : {}),
    infs,
    matches,
    findings,
    errors: findings.filter((f) => f.level === 'error').length,
    warnings: findings.filter((f) => f.level === 'warning').length,
  };
}

/** CatalogFile per architecture checked (decorated forms first). */
function catalogsFor(inf: Inf, arch: InfArch | undefined): Partial<Record<InfArch, string>> {
  const out: Partial<Record<InfArch, string>> = {};
  for (const a of checkedArchs(inf, arch)) {
    const c = catalogFor(inf, a);
    if (c) out[a] = c;
  }
  return out;
}

/** Architecture shown in the one-line summary when none was asked for: amd64 if served, else the first. */
function primaryArch(inf: Inf): InfArch {
  const archs = infArchs(inf);
  return archs.includes('amd64') || archs.length === 0 ? 'amd64' : archs[0]!;
}

function dedupeServices(list: Array<{ name: string; startType?: number; serviceType?: number; serviceBinary?: string }>): InfServiceSummary[] {
  const seen = new Map<string, InfServiceSummary>();
  for (const s of list) {
    const k = s.name.toLowerCase();
    if (seen.has(k)) continue;
    seen.set(k, {
      name: s.name,
      ...(s.startType !== undefined ? { startType: s.startType } : {}),
      ...(s.serviceType !== undefined ? { serviceType: s.serviceType } : {}),
      ...(s.serviceBinary !== undefined ? { serviceBinary: s.serviceBinary } : {}),
    });
  }
  return [...seen.values()];
}

type Add = (level: FindingLevel, code: string, message: string, file?: string, line?: number) => void;

function checkOneInf(rel: string, inf: Inf, arch: InfArch | undefined, listing: Listing, add: Add): void {
  const archs = infArchs(inf);
  if (inf.manufacturers.length === 0) {
    add('warning', 'DRV_NO_MODELS', 'no [Manufacturer] section: the INF installs no device (not a PnP driver package)', rel);
  } else if (inf.models.length === 0) {
    add('error', 'DRV_NO_MODELS', '[Manufacturer] names no Models lines: the INF matches no device', rel);
  }
  if (arch && inf.models.length > 0 && !archs.includes(arch)) {
    const why = archs.length === 1 && archs[0] === 'x86' && inf.manufacturers.every((m) => m.targets.every((t) => !t.arch))
      ? 'undecorated Models sections serve x86 only'
      : `it installs on ${archs.join(', ')}`;
    add('error', 'DRV_ARCH_MISMATCH', `INF has no Models section for ${arch} (${why}); a Windows ${arch} image needs an NT${arch} decoration in [Manufacturer]`, rel, inf.manufacturers[0]?.line);
  }

  const infDir = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
  const have = (name: string): boolean => listing.files.has(name.toLowerCase());
  // Windows reads only the sections decorated for its own architecture: an INF that does not
  // install on the target is reported once (DRV_ARCH_MISMATCH) and not checked further for it.
  const archsToCheck: InfArch[] = checkedArchs(inf, arch);
  const catalogLine = inf.sections.find((s) => s.name.toLowerCase() === 'version')?.entries.find((e) => e.key?.toLowerCase().startsWith('catalogfile'))?.line;
  for (const a of archsToCheck) {
    // x64 and ARM Windows enforce kernel-mode code signing; 32-bit x86 only warns.
    const level: FindingLevel = a === 'x86' ? 'warning' : 'error';
    const cat = catalogFor(inf, a);
    if (!cat) {
      add(level, 'DRV_NO_CATALOG', `no CatalogFile for ${a} in [Version]: the package is unsigned; on ${a} it may stage but will not load (Code 52)`, rel);
    } else {
      const p = joinRel(infDir, cat);
      if (p === undefined || !have(p)) {
        add(level, 'DRV_CATALOG_MISSING', `catalog ${cat} named by [Version] is not in the package: unsigned on ${a} (Code 52)`, rel, catalogLine);
      }
    }
  }

  // Files, per architecture: [SourceDisksNames/Files] plus their .<arch> forms (which win for
  // the same disk or file) must all be present; CopyFiles of the install sections reached on
  // that architecture should be listed there. The same finding for several archs is kept once.
  const said = new Set<string>();
  const once: Add = (level, code, message, file, line) => {
    const k = `${code}\0${message}\0${line ?? ''}`;
    if (said.has(k)) return;
    said.add(k);
    add(level, code, message, file, line);
  };
  for (const a of archsToCheck) {
    const diskPath = new Map<string, string>();
    for (const d of inf.sourceDisksNames) if (d.arch === undefined) diskPath.set(d.diskId, d.path ?? '');
    for (const d of inf.sourceDisksNames) if (d.arch === a) diskPath.set(d.diskId, d.path ?? '');
    const sdf = new Map<string, InfSourceFile>();
    for (const f of inf.sourceDisksFiles) if (f.arch === undefined) sdf.set(f.fileName.toLowerCase(), f);
    for (const f of inf.sourceDisksFiles) if (f.arch === a) sdf.set(f.fileName.toLowerCase(), f);
    for (const f of sdf.values()) {
      const p = joinRel(infDir, diskPath.get(f.diskId) ?? '', f.subdir ?? '', f.fileName);
      if (p === undefined) once('error', 'DRV_BAD_PATH', `SourceDisksFiles entry ${f.fileName} points outside the package`, rel, f.line);
      else if (!have(p)) once('error', 'DRV_FILE_MISSING', `${f.fileName} (SourceDisksFiles) is not in the package at ${p}`, rel, f.line);
    }
    for (const dd of inf.installs) {
      if (!dd.archs.includes(a) && inf.models.length > 0) continue;
      for (const cf of [...dd.copyFiles, ...dd.coInstallerFiles]) {
        if (sdf.has(cf.source.toLowerCase())) continue;
        once('warning', 'DRV_FILE_NOT_IN_SOURCEDISKSFILES', `${cf.source} is copied by [${cf.section ?? dd.section}] but not listed in [SourceDisksFiles]`, rel, cf.line);
        const p = joinRel(infDir, cf.source);
        if (p !== undefined && !have(p)) once('error', 'DRV_FILE_MISSING', `${cf.source} (CopyFiles) is not in the package`, rel, cf.line);
      }
      for (const s of dd.services) {
        if (s.startType === 0) {
          once('info', 'DRV_BOOT_CRITICAL', `service ${s.name} has StartType 0 (boot start): a boot disk behind it needs this driver injected into the image offline`, rel, s.line);
        }
      }
    }
  }
}

/**
 * Architectures whose sections are checked: the one asked for when the INF installs on it
 * (none when it does not), else every architecture the INF installs on. An INF without
 * Models lines (not a PnP package) is checked for the asked architecture, or x86.
 */
function checkedArchs(inf: Inf, arch: InfArch | undefined): InfArch[] {
  const archs = infArchs(inf);
  if (inf.models.length === 0) return [arch ?? 'x86'];
  if (arch) return archs.includes(arch) ? [arch] : [];
  return archs;
}

/** Install sections (and so services) Windows uses on the checked architectures. */
function installsFor(inf: Inf, arch: InfArch | undefined): InfDdInstall[] {
  const archs = checkedArchs(inf, arch);
  return inf.installs.filter((d) => d.archs.some((a) => archs.includes(a)));
}

/** Join INF-relative pieces (backslashes allowed); undefined when the result leaves the package. */
function joinRel(...parts: string[]): string | undefined {
  const joined = path.posix.normalize(parts.map((p) => p.replace(/\\/g, '/').replace(/^\/+/, '')).filter((p) => p !== '').join('/'));
  if (joined === '..' || joined.startsWith('../') || path.posix.isAbsolute(joined)) return undefined;
  return joined;
}

/** Without a device: flag virtio IDs that no QEMU device can ever present. */
function checkIdsAgainstQemu(rel: string, inf: Inf, arch: InfArch | undefined, add: Add): void {
  const done = new Set<string>();
  for (const m of modelsFor(inf, arch)) {
    for (const raw of modelIds(m)) {
      const id = parsePciId(raw);
      if (!id || !id.vendor || !id.device || done.has(id.normalized)) continue;
      done.add(id.normalized);
      const devKey = `${id.vendor}&${id.device}`;
      const cands = identitiesWithDevice(id.vendor, id.device);
      const devNum = parseInt(id.device, 16);
      if (cands.length === 0) {
        if (id.vendor === '1AF4' && devNum >= 0x1000 && devNum <= 0x107f && !done.has(devKey)) {
          done.add(devKey);
          add('warning', 'DRV_ID_UNKNOWN_QEMU', `INF binds DEV_${id.device}, which no QEMU device exposes (modern virtio IDs are 1040 + virtio device type)`, rel, m.line);
        }
        continue;
      }
      const mism = cands.map((c) => componentMismatch(id, c.ids));
      if (mism.every((x) => x !== undefined)) add('warning', mism[0]!.code, mism[0]!.text, rel, m.line);
    }
  }
}

function checkDevice(device: QemuDevice, opts: DriverCheckOptions, arch: InfArch | undefined, parsed: Array<{ rel: string; inf: Inf }>, add: Add): DeviceMatch[] {
  const identities = opts.disableLegacy ? [qemuDeviceIds(device, { disableLegacy: true })] : allExposedIds(device);
  const best: DeviceMatch[] = [];
  for (const x of identities) {
    const all = [...x.hardwareIds, ...x.compatibleIds];
    let top: DeviceMatch | undefined;
    for (const { rel, inf } of parsed) {
      for (const m of modelsFor(inf, arch)) {
        const hits: HardwareIdMatch[] = matchHardwareIds(all, modelIds(m), {
          deviceHardwareIdCount: x.hardwareIds.length,
          infHardwareIdCount: m.hardwareId ? 1 : 0,
        });
        const h = hits[0];
        if (h && (!top || h.rank < top.rank)) {
          top = { inf: rel, line: m.line, deviceId: h.deviceId, infId: normalizeHardwareId(h.infId), rank: h.rank, kind: h.deviceIdKind === 'hardware' && h.infIdKind === 'hardware' ? 'hardware' : 'compatible', transitional: x.transitional };
        }
      }
    }
    if (top) best.push(top);
  }

  const exposed = identities.map(describeIdentity).join(' or ');
  const label = `${device.name}${device.modernOnly ? ' (modern-only)' : ''}`;
  if (best.length === 0) {
    add('error', 'DRV_DEVICE_NO_MATCH', `no INF in the package binds QEMU ${label}${arch ? ` on ${arch}` : ''}; it exposes ${exposed}`);
    explainMismatch(device, identities, arch, parsed, add);
  } else {
    for (const b of best) {
      add('info', 'DRV_DEVICE_MATCH', `${device.name}${identities.length > 1 ? (b.transitional ? ' (transitional)' : ' (modern)') : ''} binds ${b.infId} (${b.kind} ID match, rank 0x${b.rank.toString(16).padStart(4, '0')})`, b.inf, b.line);
    }
    if (best.length < identities.length) {
      const missing = identities.filter((x) => !best.some((b) => b.transitional === x.transitional));
      add('warning', 'DRV_DEVICE_PARTIAL_MATCH', `no INF binds the ${missing.map((x) => `${x.transitional ? 'transitional' : 'modern'} identity ${describeIdentity(x)}`).join(', ')} of ${device.name}; QEMU uses it ${missing[0]?.transitional ? 'on the q35 root bus (disable-legacy=auto)' : 'behind a PCIe port or with disable-legacy=on'}`);
    }
  }
  return best;
}

function explainMismatch(device: QemuDevice, identities: ExposedIds[], arch: InfArch | undefined, parsed: Array<{ rel: string; inf: Inf }>, add: Add): void {
  const vendor = hex4(device.vendorId);
  const done = new Set<string>();
  for (const { rel, inf } of parsed) {
    // IDs present only for another architecture explain a miss too.
    if (arch) {
      for (const m of inf.models) {
        if (modelArchs(m).includes(arch)) continue;
        for (const raw of modelIds(m)) {
          const hit = identities.some((x) => [...x.hardwareIds, ...x.compatibleIds].includes(normalizeHardwareId(raw)));
          if (hit && !done.has(`arch:${rel}`)) {
            done.add(`arch:${rel}`);
            add('warning', 'DRV_ID_OTHER_ARCH', `${normalizeHardwareId(raw)} would bind ${device.name} but only in [${m.modelsSection}] (${modelArchs(m).join(', ')}), not for ${arch}`, rel, m.line);
          }
        }
      }
    }
    for (const m of modelsFor(inf, arch)) {
      for (const raw of modelIds(m)) {
        const id = parsePciId(raw);
        if (!id || id.vendor !== vendor || !id.device || done.has(`${rel}:${id.normalized}`)) continue;
        done.add(`${rel}:${id.normalized}`);
        const same = identities.filter((x) => hex4(x.identity.deviceId) === id.device);
        if (same.length > 0) {
          const why = same.map((x) => componentMismatch(id, x)).find((w) => w !== undefined);
          if (why) add('warning', why.code, why.text, rel, m.line);
          continue;
        }
        if (done.has(`${rel}:dev:${id.device}`)) continue;
        done.add(`${rel}:dev:${id.device}`);
        const others = identitiesWithDevice(id.vendor, id.device).filter((o) => o.dev.name !== device.name);
        const want = identities.map(describeIdentity).join(' or ');
        if (others.length > 0) {
          const o = others[0]!;
          add('warning', 'DRV_ID_OTHER_DEVICE', `INF binds DEV_${id.device} (QEMU ${o.dev.name}${o.ids.transitional ? ', transitional' : ''}), not ${device.name}, which exposes ${want}`, rel, m.line);
        } else {
          const legacyOf = QEMU_DEVICES.find((d) => d.legacyDeviceId !== undefined && hex4(d.legacyDeviceId) === id.device && d.modernOnly);
          const extra = legacyOf ? `; it is the legacy ID of ${legacyOf.name}, which QEMU exposes only as modern` : '';
          add('warning', 'DRV_ID_UNKNOWN_QEMU', `INF binds DEV_${id.device} (no such QEMU device${extra}); QEMU ${device.name} exposes ${want}`, rel, m.line);
        }
      }
    }
  }
}
