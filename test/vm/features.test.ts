import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ToolError, UnsupportedError, UsageError } from '../../src/errors.js';
import { compareVersions, ovmfPaths, parseDeviceHelp, parseQemuVersion, probeQemu, requireDevices, type QemuFeatures } from '../../src/vm/features.js';
import { validateRunSpec } from '../../src/vm/spec.js';
import { checkSwtpm, parseSwtpmCapabilities, swtpmArgs } from '../../src/vm/tpm.js';
import { hasTool, skipNote } from '../helpers/tools.js';

/** Captured from `qemu-system-x86_64 -machine q35 -device help` (Debian 12, QEMU 7.2.22): the sections the runner cares about. */
const DEVICE_HELP_7_2 = `Storage devices:
name "ich9-ahci", bus PCI, alias "ahci"
name "ide-cd", bus IDE, desc "virtual IDE CD-ROM"
name "ide-hd", bus IDE, desc "virtual IDE disk"
name "scsi-cd", bus SCSI, desc "virtual SCSI CD-ROM"
name "scsi-hd", bus SCSI, desc "virtual SCSI disk"
name "virtio-blk-pci", bus PCI, alias "virtio-blk"
name "virtio-scsi-pci", bus PCI, alias "virtio-scsi"

Network devices:
name "e1000e", bus PCI, desc "Intel 82574L GbE Controller"
name "virtio-net-pci", bus PCI, alias "virtio-net"

Display devices:
name "VGA", bus PCI
name "virtio-vga", bus PCI

Sound devices:
name "AC97", bus PCI, alias "ac97", desc "Intel 82801AA AC97 Audio"
name "adlib", bus ISA, desc "Yamaha YM3812 (OPL2)"
name "cs4231a", bus ISA, desc "Crystal Semiconductor CS4231A"
name "ES1370", bus PCI, alias "es1370", desc "ENSONIQ AudioPCI ES1370"
name "gus", bus ISA, desc "Gravis Ultrasound GF1"
name "hda-duplex", bus HDA, desc "HDA Audio Codec, duplex (line-out, line-in)"
name "hda-micro", bus HDA, desc "HDA Audio Codec, duplex (speaker, microphone)"
name "hda-output", bus HDA, desc "HDA Audio Codec, output-only (line-out)"
name "ich9-intel-hda", bus PCI, desc "Intel HD Audio Controller (ich9)"
name "intel-hda", bus PCI, desc "Intel HD Audio Controller (ich6)"
name "sb16", bus ISA, desc "Creative Sound Blaster 16"
name "usb-audio", bus usb-bus

Misc devices:
name "pvpanic", bus ISA
name "pvpanic-pci", bus PCI
name "tpm-crb"
name "tpm-tis", bus ISA
`;
const VERSION_7_2 = `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)
Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers
`;

const host72 = (): QemuFeatures => ({ version: parseQemuVersion(VERSION_7_2), devices: parseDeviceHelp(DEVICE_HELP_7_2) });

describe('feature parsing', () => {
  it('reads the version and the Debian suffix', () => {
    expect(parseQemuVersion(VERSION_7_2)).toEqual({ major: 7, minor: 2, micro: 22, text: '7.2.22', distro: 'Debian 1:7.2+dfsg-7+deb12u18+b3' });
    expect(parseQemuVersion('QEMU emulator version 10.0.2\n')).toEqual({ major: 10, minor: 0, micro: 2, text: '10.0.2' });
    expect(parseQemuVersion('QEMU emulator version 8.2 (x)')).toMatchObject({ text: '8.2.0', distro: 'x' });
  });

  it('refuses text that is not a QEMU version banner', () => {
    expect(() => parseQemuVersion('bash: qemu: command not found')).toThrow('cannot read the QEMU version from "bash: qemu: command not found"');
  });

  it('collects device names and aliases, skipping headers and blank lines', () => {
    const d = parseDeviceHelp(DEVICE_HELP_7_2);
    expect(d.size).toBe(33);
    for (const n of ['ide-hd', 'ahci', 'virtio-blk', 'virtio-scsi-pci', 'e1000e', 'VGA', 'tpm-crb', 'ich9-intel-hda', 'hda-duplex', 'ac97']) expect(d.has(n)).toBe(true);
    expect(d.has('virtio-sound-pci')).toBe(false);
    expect(d.has('Storage devices:')).toBe(false);
  });

  it('compares versions numerically', () => {
    expect(compareVersions('7.2.22', '8.2')).toBe(-1);
    expect(compareVersions('10.0.2', '8.2')).toBe(1);
    expect(compareVersions('8.2', '8.2.0')).toBe(0);
  });
});

describe('requireDevices', () => {
  const spec = (devices: unknown[], extra: Record<string, unknown> = {}) =>
    validateRunSpec({ id: 'x', vm: { firmware: { type: 'seabios' }, disks: [{ role: 'system', path: 's.img', format: 'raw' }], devices, ...extra } });

  it('refuses virtio-sound-pci on Debian 12 QEMU 7.2 with a way out', () => {
    const run = () => requireDevices(spec([{ qemu: 'virtio-sound-pci' }]), host72());
    expect(run).toThrow(UnsupportedError);
    expect(run).toThrow('virtio-sound-pci (vm.devices[0]) needs QEMU 8.2+, this host has 7.2.22 (Debian 12); install qemu from bookworm-backports');
  });

  it('accepts virtio-sound-pci on a QEMU that is new enough and lists it', () => {
    const f: QemuFeatures = { version: parseQemuVersion('QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)'), devices: new Set([...parseDeviceHelp(DEVICE_HELP_7_2), 'virtio-sound-pci']) };
    expect(() => requireDevices(spec([{ qemu: 'virtio-sound-pci' }]), f)).not.toThrow();
  });

  it('refuses a device the binary does not list, and one implied by the spec (virtio-scsi without scsi-hd)', () => {
    expect(() => requireDevices(spec([{ qemu: 'no-such-dev' }]), host72())).toThrow('no-such-dev (vm.devices[0]) is not available in this QEMU (7.2.22)');
    const f = host72();
    f.devices.delete('scsi-hd');
    const s = validateRunSpec({ id: 'x', vm: { firmware: { type: 'seabios' }, disks: [{ role: 'system', path: 's.img', bus: 'virtio-scsi' }] } });
    expect(() => requireDevices(s, f)).toThrow('scsi-hd (vm.disks[0]) is not available');
  });

  it('vm.tpm needs its TPM model, vm.pvpanic needs pvpanic, each with a way out', () => {
    const f = host72();
    expect(() => requireDevices(spec([], { tpm: {} }), f)).not.toThrow();
    f.devices.delete('tpm-crb');
    expect(() => requireDevices(spec([], { tpm: {} }), f)).toThrow('tpm-crb (vm.tpm.model) is not available in this QEMU (7.2.22): not listed by -device help; this QEMU was built without TPM support, or try vm.tpm.model "tpm-tis"');
    expect(() => requireDevices(spec([], { tpm: { model: 'tpm-tis' } }), f)).not.toThrow();
    f.devices.delete('pvpanic');
    expect(() => requireDevices(spec([], { tpm: { model: 'tpm-tis' } }), f)).toThrow('pvpanic (vm.pvpanic) is not available in this QEMU (7.2.22): not listed by -device help; set vm.pvpanic to false to run without crash notification');
    expect(() => requireDevices(spec([], { tpm: { model: 'tpm-tis' }, pvpanic: false }), f)).not.toThrow();
  });

  it('honours an explicit minQemu', () => {
    expect(() => requireDevices(spec([{ qemu: 'e1000e', minQemu: '9.0' }]), host72())).toThrow('e1000e (vm.devices[0]) needs QEMU 9.0+');
  });
});

describe('OVMF lookup', () => {
  it('picks the Debian 4M Secure Boot pair with MS keys, or the plain pair', () => {
    expect(ovmfPaths(true, () => true)).toEqual({ code: '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.ms.fd' });
    expect(ovmfPaths(false, () => true)).toEqual({ code: '/usr/share/OVMF/OVMF_CODE_4M.fd', varsTemplate: '/usr/share/OVMF/OVMF_VARS_4M.fd' });
    expect(() => ovmfPaths(false, () => false)).toThrow('OVMF firmware OVMF_CODE_4M.fd is not installed (Debian/Ubuntu: apt-get install ovmf)');
  });
});

describe('probe the real binary', () => {
  const has = hasTool('qemu-system-x86_64');
  if (!has) skipNote('QEMU feature probe', 'qemu-system-x86_64');
  it.skipIf(!has)('reads version and devices from qemu-system-x86_64', async () => {
    const f = await probeQemu();
    expect(f.version.text).toMatch(/^\d+\.\d+\.\d+$/);
    expect(f.version.major).toBeGreaterThanOrEqual(6); // -action needs 6.0
    for (const n of ['ide-hd', 'ide-cd', 'VGA', 'virtio-blk-pci', 'pvpanic']) expect(f.devices.has(n)).toBe(true);
  });
});

/** `swtpm socket --print-capabilities` of Debian 12's swtpm 0.7.1. */
const SWTPM_CAPS_071 = '{ "type": "swtpm", "features": [ "tpm-1.2", "tpm-2.0", "tpm-send-command-header", "flags-opt-startup", "cmdarg-seccomp", "cmdarg-key-fd", "cmdarg-pwd-fd", "cmdarg-print-states", "nvram-backend-dir", "nvram-backend-file", "rsa-keysize-1024", "rsa-keysize-2048", "rsa-keysize-3072" ], "version": "0.7.1" }\n';

describe('swtpm', () => {
  it('argv: TPM 2.0, state dir, unix control socket, log file, exit with QEMU', () => {
    expect(swtpmArgs({ stateDir: '/r/tpm', socket: '/r/swtpm.sock', log: '/r/swtpm.log' })).toEqual([
      'socket', '--tpm2', '--tpmstate', 'dir=/r/tpm', '--ctrl', 'type=unixio,path=/r/swtpm.sock', '--log', 'file=/r/swtpm.log', '--terminate',
    ]);
    expect(() => swtpmArgs({ stateDir: '/r,x/tpm', socket: '/s', log: '/l' })).toThrow(UsageError);
    expect(() => swtpmArgs({ stateDir: '/r,x/tpm', socket: '/s', log: '/l' })).toThrow('the swtpm stateDir path contains a comma');
  });

  it('reads the capability list', () => {
    const c = parseSwtpmCapabilities(SWTPM_CAPS_071);
    expect(c.version).toBe('0.7.1');
    expect(c.features).toContain('tpm-2.0');
    expect(c.features).toHaveLength(13);
    expect(() => parseSwtpmCapabilities('Usage: swtpm socket [options]')).toThrow(ToolError);
    expect(() => parseSwtpmCapabilities('{"type":"swtpm"}')).toThrow("swtpm's capabilities have no feature list");
  });

  it('checkSwtpm: a missing swtpm names the Debian package; one without TPM 2.0 is refused', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-swtpm-'));
    const oldPath = process.env.PATH;
    try {
      process.env.PATH = dir; // nothing on PATH: runTool's tool-missing path
      await expect(checkSwtpm()).rejects.toMatchObject({ code: 'E_TOOL_MISSING', kind: 'tool', message: 'swtpm is not installed (Debian/Ubuntu: apt-get install swtpm)' });
    } finally {
      process.env.PATH = oldPath;
    }
    try {
      const old = path.join(dir, 'swtpm-12');
      writeFileSync(old, `#!/bin/sh\necho '{"type":"swtpm","features":["tpm-1.2","cmdarg-seccomp"],"version":"0.1.0"}'\n`, { mode: 0o755 });
      const e = await checkSwtpm(old).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(UnsupportedError);
      expect((e as UnsupportedError).message).toBe("swtpm 0.1.0 cannot emulate a TPM 2.0 (its libtpms lacks it; features: tpm-1.2, cmdarg-seccomp)");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const has = hasTool('swtpm');
  if (!has) skipNote('swtpm capability probe', 'swtpm');
  it.skipIf(!has)('the installed swtpm emulates TPM 2.0', async () => {
    expect((await checkSwtpm()).version).toMatch(/^\d+\.\d+/);
  });
});
