import { describe, expect, it } from 'vitest';
import { UnsupportedError } from '../../src/errors.js';
import { qemuArgs, type QemuEnv } from '../../src/vm/qemu-args.js';
import { validateRunSpec } from '../../src/vm/spec.js';

const env = (over: Partial<QemuEnv> = {}): QemuEnv => ({
  accel: 'tcg',
  qemuVersion: '7.2.22',
  devices: new Set(['ide-hd']),
  ovmf: { code: '/fw/CODE.fd', varsTemplate: '/fw/VARS.fd' },
  runDir: '/r',
  qmpSocket: '/r/qmp.sock',
  ...over,
});

const TAIL_RESTART = ['-device', 'pvpanic', '-display', 'none', '-vga', 'std', '-chardev', 'file,id=ser0,path=/r/serial.log,append=on', '-serial', 'chardev:ser0', '-qmp', 'unix:/r/qmp.sock,server=on,wait=off', '-action', 'reboot=shutdown', '-action', 'panic=pause', '-S'];

describe('qemuArgs golden argv', () => {
  it('SeaBIOS boot-sector guest on AHCI, TCG, restart-process', () => {
    const spec = validateRunSpec({ id: 't', vm: { firmware: { type: 'seabios' }, cpus: 1, memMiB: 64, disks: [{ role: 'system', path: '/d/boot.img', format: 'raw' }] } });
    expect(qemuArgs(spec, env())).toEqual([
      '-name', 'msu-t', '-no-user-config', '-nodefaults',
      '-machine', 'q35,smm=off', '-accel', 'tcg', '-cpu', 'max', '-smp', '1', '-m', '64M', '-rtc', 'base=utc',
      '-drive', 'if=none,id=disk0,format=raw,file=/d/boot.img',
      '-device', 'ide-hd,bus=ide.0,drive=disk0,bootindex=0',
      ...TAIL_RESTART,
    ]);
  });

  it('Windows audit run: OVMF Secure Boot, KVM with Hyper-V flags, virtio-blk overlay, status disk, user net, in-place reboots', () => {
    const spec = validateRunSpec({
      id: 'wu',
      kind: 'audit-wua',
      vm: {
        accel: 'kvm',
        cpus: 4,
        memMiB: 8192,
        firmware: { type: 'ovmf', secureBoot: true },
        disks: [{ role: 'system', path: '/img/work.qcow2', overlayOf: '/img/base.qcow2', bus: 'virtio-blk' }],
        statusDisk: { sizeMiB: 64 },
        net: { mode: 'user', model: 'virtio-net-pci' },
        rebootPolicy: 'in-place',
      },
    });
    expect(qemuArgs(spec, env({ accel: 'kvm' }))).toEqual([
      '-name', 'msu-wu', '-no-user-config', '-nodefaults',
      '-machine', 'q35,smm=on', '-accel', 'kvm', '-cpu', 'host,hv_relaxed,hv_vapic,hv_spinlocks=0x1fff,hv_time,hv_crash', '-smp', '4', '-m', '8192M', '-rtc', 'base=localtime',
      '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd',
      '-drive', 'if=pflash,format=raw,unit=1,file=/r/OVMF_VARS.fd',
      '-global', 'driver=cfi.pflash01,property=secure,value=on',
      '-drive', 'if=none,id=disk0,format=qcow2,file=/img/work.qcow2,discard=unmap,detect-zeroes=unmap',
      '-device', 'virtio-blk-pci,drive=disk0,bootindex=0',
      '-drive', 'if=none,id=status,format=raw,file=/r/status.img',
      '-device', 'ide-hd,bus=ide.0,drive=status',
      '-nic', 'user,model=virtio-net-pci',
      '-device', 'pvpanic',
      '-display', 'none', '-vga', 'std', '-chardev', 'file,id=ser0,path=/r/serial.log,append=on', '-serial', 'chardev:ser0', '-qmp', 'unix:/r/qmp.sock,server=on,wait=off',
      '-action', 'panic=pause',
      '-S',
    ]);
  });

  it('DISM worker: WinPE ISO boots first, original ISO and disks share AHCI ports, virtio-scsi controller added once, audio device gets an audiodev', () => {
    const spec = validateRunSpec({
      id: 'dism',
      kind: 'dism-worker',
      vm: {
        firmware: { type: 'ovmf', secureBoot: false },
        cdroms: [{ role: 'boot', path: '/i/winpe.iso' }, { role: 'original-iso', path: '/i/win.iso' }],
        disks: [
          { role: 'work', path: '/w/work.qcow2', bus: 'ahci' },
          { role: 'output', path: '/w/out.img', format: 'raw', bus: 'virtio-scsi' },
          { role: 'data', path: '/w/data.img', format: 'raw', bus: 'virtio-scsi', readonly: true },
        ],
        devices: [{ qemu: 'ich9-intel-hda' }, { qemu: 'hda-duplex' }],
      },
    });
    expect(qemuArgs(spec, env())).toEqual([
      '-name', 'msu-dism', '-no-user-config', '-nodefaults',
      '-machine', 'q35,smm=off', '-accel', 'tcg', '-cpu', 'max', '-smp', '2', '-m', '2048M', '-rtc', 'base=localtime',
      '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd',
      '-drive', 'if=pflash,format=raw,unit=1,file=/r/OVMF_VARS.fd',
      '-drive', 'if=none,id=cd0,media=cdrom,readonly=on,format=raw,file=/i/winpe.iso',
      '-device', 'ide-cd,bus=ide.0,drive=cd0,bootindex=0',
      '-drive', 'if=none,id=cd1,media=cdrom,readonly=on,format=raw,file=/i/win.iso',
      '-device', 'ide-cd,bus=ide.1,drive=cd1',
      '-drive', 'if=none,id=disk0,format=qcow2,file=/w/work.qcow2,discard=unmap,detect-zeroes=unmap',
      '-device', 'ide-hd,bus=ide.2,drive=disk0',
      '-drive', 'if=none,id=disk1,format=raw,file=/w/out.img',
      '-device', 'virtio-scsi-pci,id=scsi0',
      '-device', 'scsi-hd,bus=scsi0.0,drive=disk1',
      '-drive', 'if=none,id=disk2,format=raw,file=/w/data.img,readonly=on',
      '-device', 'scsi-hd,bus=scsi0.0,drive=disk2',
      '-device', 'ich9-intel-hda',
      '-audiodev', 'none,id=snd0',
      '-device', 'hda-duplex,audiodev=snd0',
      ...TAIL_RESTART,
    ]);
  });

  it('a system disk boots after a boot CD', () => {
    const spec = validateRunSpec({ id: 'i', vm: { firmware: { type: 'seabios' }, cdroms: [{ role: 'boot', path: '/c.iso' }], disks: [{ role: 'system', path: '/s.qcow2' }] } });
    const a = qemuArgs(spec, env());
    expect(a).toContain('ide-cd,bus=ide.0,drive=cd0,bootindex=0');
    expect(a).toContain('ide-hd,bus=ide.1,drive=disk0,bootindex=1');
  });

  it('refuses more AHCI devices than q35 has ports', () => {
    const disks = Array.from({ length: 7 }, (_, i) => ({ role: i === 0 ? 'system' : 'data', path: `/d${i}.img`, format: 'raw' }));
    const spec = validateRunSpec({ id: 'many', vm: { firmware: { type: 'seabios' }, disks } });
    expect(() => qemuArgs(spec, env())).toThrow(UnsupportedError);
    expect(() => qemuArgs(spec, env())).toThrow('disk disk6 would need port 6, q35 has 6');
  });

  it('refuses OVMF specs when no OVMF was found', () => {
    const spec = validateRunSpec({ id: 'o', vm: { disks: [{ role: 'system', path: '/s.qcow2' }] } });
    const { ovmf: _omit, ...noOvmf } = env();
    expect(() => qemuArgs(spec, noOvmf)).toThrow('apt-get install ovmf');
  });

  it('TPM 2.0: swtpm socket chardev, emulator tpmdev and the CRB device right after the firmware', () => {
    const spec = validateRunSpec({ id: 'w11', kind: 'audit-wua', vm: { firmware: { type: 'ovmf', secureBoot: true }, tpm: {}, disks: [{ role: 'system', path: '/s.qcow2' }] } });
    expect(qemuArgs(spec, env({ tpmSocket: '/tmp/msu-qmp-x/swtpm.sock' }))).toEqual([
      '-name', 'msu-w11', '-no-user-config', '-nodefaults',
      '-machine', 'q35,smm=on', '-accel', 'tcg', '-cpu', 'max', '-smp', '2', '-m', '2048M', '-rtc', 'base=localtime',
      '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd',
      '-drive', 'if=pflash,format=raw,unit=1,file=/r/OVMF_VARS.fd',
      '-global', 'driver=cfi.pflash01,property=secure,value=on',
      '-chardev', 'socket,id=chrtpm,path=/tmp/msu-qmp-x/swtpm.sock',
      '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm',
      '-device', 'tpm-crb,tpmdev=tpm0',
      '-drive', 'if=none,id=disk0,format=qcow2,file=/s.qcow2,discard=unmap,detect-zeroes=unmap',
      '-device', 'ide-hd,bus=ide.0,drive=disk0,bootindex=0',
      ...TAIL_RESTART,
    ]);
  });

  it('TPM TIS model, socket defaulting to the run directory', () => {
    const spec = validateRunSpec({ id: 't', vm: { firmware: { type: 'seabios' }, tpm: { swtpm: true, model: 'tpm-tis' }, disks: [{ role: 'system', path: '/s.img', format: 'raw' }] } });
    const a = qemuArgs(spec, env());
    const i = a.indexOf('-tpmdev');
    expect(a.slice(i - 2, i + 4)).toEqual(['-chardev', 'socket,id=chrtpm,path=/r/swtpm.sock', '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-tis,tpmdev=tpm0']);
  });

  it('no TPM args without vm.tpm, and no pvpanic when vm.pvpanic is false (panic=pause stays)', () => {
    const spec = validateRunSpec({ id: 't', vm: { firmware: { type: 'seabios' }, pvpanic: false, disks: [{ role: 'system', path: '/s.img', format: 'raw' }] } });
    const a = qemuArgs(spec, env());
    expect(a.join(' ')).not.toMatch(/tpm|pvpanic/);
    expect(a.slice(-5)).toEqual(['-action', 'reboot=shutdown', '-action', 'panic=pause', '-S']);
  });
});
