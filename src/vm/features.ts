/**
 * What the host's QEMU can do: version, device list, usable accelerator, OVMF files.
 * Parsing is pure (text in); the probes run the real binary.
 */
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { FormatError, ToolError, UnsupportedError } from '../errors.js';
import { runTool } from '../util/exec.js';
import type { OvmfPaths } from './qemu-args.js';
import type { RunSpec } from './spec.js';

export const QEMU_BINARY = 'qemu-system-x86_64';

export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
  /** As printed, e.g. "7.2.22". */
  text: string;
  /** Distribution suffix in parentheses, e.g. "Debian 1:7.2+dfsg-7+deb12u18+b3". */
  distro?: string;
}

export interface QemuFeatures {
  version: QemuVersion;
  devices: Set<string>;
}

/** Parse `qemu-system-x86_64 --version`: "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)". */
export function parseQemuVersion(text: string): QemuVersion {
  const m = /QEMU emulator version (\d+)\.(\d+)(?:\.(\d+))?(?:\s*\(([^)]*)\))?/.exec(text);
  if (!m) throw new FormatError('E_VM_QEMU_VERSION', `cannot read the QEMU version from ${JSON.stringify(text.slice(0, 80))}`);
  const v: QemuVersion = { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3] ?? 0), text: `${m[1]}.${m[2]}.${m[3] ?? 0}` };
  if (m[4]) v.distro = m[4];
  return v;
}

/** Parse `-device help`: lines like `name "virtio-blk-pci", bus PCI, alias "virtio-blk"`; aliases count as names. */
export function parseDeviceHelp(text: string): Set<string> {
  const out = new Set<string>();
  for (const line of text.split(/\r?\n/)) {
    const m = /^name "([^"]+)"/.exec(line);
    if (!m) continue;
    out.add(m[1]!);
    const alias = /alias "([^"]+)"/.exec(line);
    if (alias) out.add(alias[1]!);
  }
  return out;
}

/** QEMU versions compare like Windows ones: dotted numeric parts, missing parts are 0. */
import { compareVersions } from '../cbs/version.js';
export { compareVersions };

/** Known minimum QEMU versions for devices people ask for (used when the spec gives no minQemu). */
export const DEVICE_MIN_QEMU: Readonly<Record<string, string>> = { 'virtio-sound-pci': '8.2' };

/** What to do when an implied device is missing. */
const DEVICE_HINTS: Readonly<Record<string, string>> = {
  'tpm-crb': 'this QEMU was built without TPM support, or try vm.tpm.model "tpm-tis"',
  'tpm-tis': 'this QEMU was built without TPM support, or try vm.tpm.model "tpm-crb"',
  pvpanic: 'set vm.pvpanic to false to run without crash notification',
};

/** Devices every spec implicitly needs, per bus choice. */
function neededDevices(spec: RunSpec): Array<{ name: string; why: string; minQemu?: string }> {
  const need: Array<{ name: string; why: string; minQemu?: string }> = [];
  const bus = (b: string, why: string) => {
    if (b === 'ahci') need.push({ name: 'ide-hd', why });
    if (b === 'virtio-blk') need.push({ name: 'virtio-blk-pci', why });
    if (b === 'virtio-scsi') need.push({ name: 'virtio-scsi-pci', why }, { name: 'scsi-hd', why });
  };
  spec.vm.disks.forEach((d, i) => bus(d.bus, `vm.disks[${i}]`));
  if (spec.vm.statusDisk) bus(spec.vm.statusDisk.bus, 'vm.statusDisk');
  if (spec.vm.cdroms.length) need.push({ name: 'ide-cd', why: 'vm.cdroms' });
  if (spec.vm.net.mode === 'user') need.push({ name: spec.vm.net.model, why: 'vm.net.model' });
  if (spec.vm.tpm) need.push({ name: spec.vm.tpm.model, why: 'vm.tpm.model' });
  if (spec.vm.pvpanic) need.push({ name: 'pvpanic', why: 'vm.pvpanic' });
  spec.vm.devices.forEach((d, i) => {
    const min = d.minQemu ?? DEVICE_MIN_QEMU[d.qemu];
    need.push(min === undefined ? { name: d.qemu, why: `vm.devices[${i}]` } : { name: d.qemu, why: `vm.devices[${i}]`, minQemu: min });
  });
  need.push({ name: 'VGA', why: 'screendumps' });
  return need;
}

function hostDescription(f: QemuFeatures): string {
  const distro = f.version.distro ?? '';
  const debian = /deb12|bookworm/.test(distro) ? ' (Debian 12)' : /Debian/.test(distro) ? ' (Debian)' : '';
  return `this host has ${f.version.text}${debian}`;
}

/** Refuse a spec this QEMU cannot run, before QEMU gets the chance to crash on it. */
export function requireDevices(spec: RunSpec, features: QemuFeatures): void {
  for (const n of neededDevices(spec)) {
    const tooOld = n.minQemu !== undefined && compareVersions(features.version.text, n.minQemu) < 0;
    if (tooOld) {
      const backports = /deb12|bookworm/.test(features.version.distro ?? '') ? '; install qemu from bookworm-backports' : '';
      throw new UnsupportedError('E_VM_DEVICE', `${n.name} (${n.why}) needs QEMU ${n.minQemu}+, ${hostDescription(features)}${backports}`);
    }
    if (!features.devices.has(n.name)) {
      const hint = DEVICE_HINTS[n.name] ? `; ${DEVICE_HINTS[n.name]}` : '';
      throw new UnsupportedError('E_VM_DEVICE', `${n.name} (${n.why}) is not available in this QEMU (${features.version.text}): not listed by -device help${hint}`);
    }
  }
}

/** Run the binary and parse `--version` and `-device help`. */
export async function probeQemu(binary = QEMU_BINARY): Promise<QemuFeatures> {
  const ver = await runTool(binary, ['--version'], { timeoutMs: 20_000 });
  const dev = await runTool(binary, ['-machine', 'q35', '-device', 'help'], { timeoutMs: 20_000 });
  return { version: parseQemuVersion(ver.stdout), devices: parseDeviceHelp(dev.stdout) };
}

/** Debian's OVMF file names (package `ovmf`): 4 MiB builds, Secure Boot code + MS-enrolled vars. */
export const OVMF_CANDIDATES = {
  plain: { code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd' },
  secureBoot: { code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd' },
} as const;

export function ovmfPaths(secureBoot: boolean, exists: (p: string) => boolean = existsSync): OvmfPaths {
  const c = secureBoot ? OVMF_CANDIDATES.secureBoot : OVMF_CANDIDATES.plain;
  for (const f of [c.code, c.varsTemplate]) {
    if (!exists(f)) throw new ToolError('E_TOOL_MISSING', `OVMF firmware ${path.basename(f)} is not installed (Debian/Ubuntu: apt-get install ovmf)`, { file: f });
  }
  return { ...c };
}

export interface AccelProbe {
  accel: 'kvm' | 'tcg';
  /** Why KVM was not chosen (empty when it was). */
  warning?: string;
}

/**
 * Does KVM really run a guest? An existing /dev/kvm is not proof (some hosts expose a KVM
 * that runs real mode but dies entering long mode). Boot OVMF (which enters long mode) for a few
 * seconds and look for KVM errors; without OVMF, run SeaBIOS for a second.
 */
export async function probeAccel(binary = QEMU_BINARY): Promise<AccelProbe> {
  if (!existsSync('/dev/kvm')) return { accel: 'tcg', warning: '/dev/kvm does not exist; using TCG (slow; timeouts are scaled by tcgFactor)' };
  const dir = await mkdtemp(path.join(os.tmpdir(), 'msu-kvm-'));
  try {
    // A long-mode check needs firmware that enters 64-bit mode: OVMF does, SeaBIOS does not.
    const ovmf = existsSync(OVMF_CANDIDATES.plain.code) ? OVMF_CANDIDATES.plain.code : undefined;
    const vars = path.join(dir, 'vars.fd');
    const args = ['-no-user-config', '-nodefaults', '-machine', 'q35', '-accel', 'kvm', '-cpu', 'host', '-m', '128M', '-display', 'none'];
    if (ovmf) {
      await copyFile(OVMF_CANDIDATES.plain.varsTemplate, vars);
      args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${ovmf}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
    }
    const child = execa(binary, args, { reject: false, timeout: 15_000, stdin: 'ignore' });
    let stoppedByUs = false;
    const timer = setTimeout(() => {
      stoppedByUs = true;
      child.kill('SIGTERM');
    }, ovmf ? 3000 : 1000);
    const r = await child;
    clearTimeout(timer);
    if (r.code === 'ENOENT') throw new ToolError('E_TOOL_MISSING', `${binary} is not installed (Debian/Ubuntu: apt-get install qemu-system-x86)`);
    const out = String(r.stderr ?? '');
    const failure = /KVM internal error[^\n]*|failed to initialize kvm[^\n]*|Could not access KVM[^\n]*/i.exec(out);
    if (stoppedByUs && !failure) return { accel: 'kvm' };
    const why = failure ? failure[0].trim() : (out.split('\n').map((l) => l.trim()).filter(Boolean)[0] ?? `exit code ${r.exitCode}`);
    return { accel: 'tcg', warning: `KVM is present but did not run a test guest (${why}); using TCG (slow; timeouts are scaled by tcgFactor)` };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
