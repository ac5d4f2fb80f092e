/**
 * PCI hardware IDs as Windows' PCI bus driver reports them, and INF matching.
 *
 * Facts (Microsoft "Identifiers for PCI devices"): hardware IDs, most specific first:
 *   PCI\VEN_v&DEV_d&SUBSYS_sn&REV_r, PCI\VEN_v&DEV_d&SUBSYS_sn,
 *   PCI\VEN_v&DEV_d&CC_ccsspp, PCI\VEN_v&DEV_d&CC_ccss
 * compatible IDs, decreasing compatibility:
 *   PCI\VEN_v&DEV_d&REV_r, PCI\VEN_v&DEV_d, PCI\VEN_v&CC_ccsspp, PCI\VEN_v&CC_ccss,
 *   PCI\VEN_v, PCI\CC_ccsspp, PCI\CC_ccss
 * (Windows 10 moved the DEV&REV and bare DEV forms from the hardware to the compatible list.)
 * SUBSYS is the subsystem ID followed by the subsystem vendor ID (`SUBSYS_11001AF4`).
 * Comparison is case-insensitive.
 */
import { byCode } from '../util/compare.js';

export interface PciId {
  raw: string;
  /** Upper-cased, trimmed: the form used for comparison. */
  normalized: string;
  vendor?: string;
  device?: string;
  /** Subsystem ID + subsystem vendor ID, 8 hex digits (or a template token). */
  subsys?: string;
  rev?: string;
  /** Class code: base class + subclass (4 digits) or + programming interface (6 digits). */
  cc?: string;
  /** Parts this parser does not know, kept in order. */
  other: string[];
}

export interface PciIdentity {
  vendorId: number;
  deviceId: number;
  subsystemVendorId: number;
  subsystemId: number;
  revision: number;
  /** Base class << 8 | subclass, e.g. 0x0401. */
  classCode: number;
  progIf: number;
}

export function normalizeHardwareId(id: string): string {
  return id.trim().toUpperCase();
}

/** Parse `PCI\...`; undefined for other buses (ACPI\, VIOINPUT\, *PNP0501...). */
export function parsePciId(id: string): PciId | undefined {
  const normalized = normalizeHardwareId(id);
  if (!normalized.startsWith('PCI\\')) return undefined;
  const out: PciId = { raw: id, normalized, other: [] };
  for (const part of normalized.slice(4).split('&')) {
    const m = /^(VEN|DEV|SUBSYS|REV|CC)_(.*)$/.exec(part);
    if (!m) {
      out.other.push(part);
      continue;
    }
    const v = m[2]!;
    if (m[1] === 'VEN') out.vendor = v;
    else if (m[1] === 'DEV') out.device = v;
    else if (m[1] === 'SUBSYS') out.subsys = v;
    else if (m[1] === 'REV') out.rev = v;
    else out.cc = v;
  }
  return out;
}

const hex = (n: number, width: number): string => n.toString(16).toUpperCase().padStart(width, '0');

/** The IDs Windows builds for a PCI function, in the documented order. */
export function pciDeviceIds(d: PciIdentity): { hardwareIds: string[]; compatibleIds: string[] } {
  const ven = `PCI\\VEN_${hex(d.vendorId, 4)}`;
  const dev = `${ven}&DEV_${hex(d.deviceId, 4)}`;
  const subsys = `SUBSYS_${hex(d.subsystemId, 4)}${hex(d.subsystemVendorId, 4)}`;
  const rev = `REV_${hex(d.revision, 2)}`;
  const cc4 = `CC_${hex(d.classCode, 4)}`;
  const cc6 = `${cc4}${hex(d.progIf, 2)}`;
  return {
    hardwareIds: [`${dev}&${subsys}&${rev}`, `${dev}&${subsys}`, `${dev}&${cc6}`, `${dev}&${cc4}`],
    compatibleIds: [`${dev}&${rev}`, dev, `${ven}&${cc6}`, `${ven}&${cc4}`, ven, `PCI\\${cc6}`, `PCI\\${cc4}`],
  };
}

export interface HardwareIdMatch {
  deviceId: string;
  infId: string;
  deviceIdKind: 'hardware' | 'compatible';
  infIdKind: 'hardware' | 'compatible';
  /** Identifier score: lower is better (see matchHardwareIds). */
  rank: number;
}

export interface MatchOptions {
  /** How many leading deviceIds are hardware IDs (the rest are compatible IDs). Default: all. */
  deviceHardwareIdCount?: number;
  /** How many leading infIds are the Models line's hardware ID (the rest compatible IDs). Default: 1. */
  infHardwareIdCount?: number;
}

/**
 * Every pair of equal IDs, best first. The score follows the identifier part of Windows'
 * driver rank ("How Windows ranks drivers"): INF hardware ID = device hardware ID scores
 * 0x0000-0x0FFF, INF compatible ID = device hardware ID 0x1000-0x1FFF, INF hardware ID =
 * device compatible ID 0x2000-0x2FFF, compatible = compatible 0x3000-0x3FFF; within a
 * range an earlier (more specific) device ID scores lower.
 */
export function matchHardwareIds(deviceIds: string[], infIds: string[], opts: MatchOptions = {}): HardwareIdMatch[] {
  const devHw = opts.deviceHardwareIdCount ?? deviceIds.length;
  const infHw = opts.infHardwareIdCount ?? 1;
  const out: HardwareIdMatch[] = [];
  deviceIds.forEach((d, di) => {
    const dn = normalizeHardwareId(d);
    infIds.forEach((i, ii) => {
      if (normalizeHardwareId(i) !== dn) return;
      const deviceIdKind = di < devHw ? 'hardware' : 'compatible';
      const infIdKind = ii < infHw ? 'hardware' : 'compatible';
      const base = (deviceIdKind === 'hardware' ? 0 : 0x2000) + (infIdKind === 'hardware' ? 0 : 0x1000);
      const pos = deviceIdKind === 'hardware' ? di : di - devHw;
      out.push({ deviceId: d, infId: i, deviceIdKind, infIdKind, rank: base + pos });
    });
  });
  return out.sort((a, b) => a.rank - b.rank || byCode(a.infId, b.infId));
}
