/**
 * RunSpec → qemu-system-x86_64 argv. Pure: no file system, no probing; the caller
 * passes what it found out about the host in `QemuEnv`.
 */
import path from 'node:path';
import { UnsupportedError } from '../errors.js';
import type { DiskBus, DiskSpec, RunSpec } from './spec.js';

export interface OvmfPaths {
  /** Read-only firmware code (pflash unit 0). */
  code: string;
  /** Template the per-run writable vars copy is made from. */
  varsTemplate: string;
}

export interface QemuEnv {
  accel: 'kvm' | 'tcg';
  qemuVersion: string;
  devices: ReadonlySet<string>;
  /** Required when the spec uses OVMF (see `ovmfPaths()` in features.ts). */
  ovmf?: OvmfPaths;
  runDir: string;
  /** The QMP unix socket; kept separate because socket paths are limited to ~107 bytes. */
  qmpSocket: string;
  /** swtpm's control socket (spec.vm.tpm); same length limit. Default: RUNDIR/swtpm.sock. */
  tpmSocket?: string;
}

/** File names inside a run directory (shared by the argv builder and the runner). */
export function runPaths(runDir: string) {
  return {
    spec: path.join(runDir, 'spec.json'),
    serialLog: path.join(runDir, 'serial.log'),
    qmpLog: path.join(runDir, 'qmp.log'),
    events: path.join(runDir, 'events.jsonl'),
    result: path.join(runDir, 'result.json'),
    screendumps: path.join(runDir, 'screendumps'),
    ovmfVars: path.join(runDir, 'OVMF_VARS.fd'),
    statusDisk: path.join(runDir, 'status.img'),
    /** swtpm's state directory: kept for the whole run, so a guest reboot (a new QEMU) keeps its TPM. */
    tpmDir: path.join(runDir, 'tpm'),
    tpmSocket: path.join(runDir, 'swtpm.sock'),
    tpmLog: path.join(runDir, 'swtpm.log'),
    qemuStderr: path.join(runDir, 'qemu-stderr.log'),
  };
}

/** q35's built-in AHCI controller has six ports, ide.0 … ide.5. */
const AHCI_PORTS = 6;
const AUDIO_DEVICES = new Set(['virtio-sound-pci', 'hda-duplex', 'hda-output', 'hda-micro']);
const WINDOWS_KINDS = new Set(['dism-worker', 'audit-wua']);

export function qemuArgs(spec: RunSpec, env: QemuEnv): string[] {
  const vm = spec.vm;
  const p = runPaths(env.runDir);
  const a: string[] = ['-name', `msu-${spec.id}`, '-no-user-config', '-nodefaults'];

  const sb = vm.firmware.type === 'ovmf' && vm.firmware.secureBoot;
  a.push('-machine', `q35,smm=${sb ? 'on' : 'off'}`, '-accel', env.accel);
  const windows = WINDOWS_KINDS.has(spec.kind);
  // hv_crash: Windows reports a bugcheck to the hypervisor, so QEMU raises GUEST_PANICKED without a pvpanic driver
  if (env.accel === 'kvm') a.push('-cpu', windows ? 'host,hv_relaxed,hv_vapic,hv_spinlocks=0x1fff,hv_time,hv_crash' : 'host');
  else a.push('-cpu', 'max');
  a.push('-smp', String(vm.cpus), '-m', `${vm.memMiB}M`);
  // Windows keeps the RTC in local time
  a.push('-rtc', windows ? 'base=localtime' : 'base=utc');

  if (vm.firmware.type === 'ovmf') {
    if (!env.ovmf) throw new UnsupportedError('E_VM_OVMF', 'the spec needs OVMF but no OVMF firmware was found (Debian/Ubuntu: apt-get install ovmf)');
    a.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${env.ovmf.code}`);
    a.push('-drive', `if=pflash,format=raw,unit=1,file=${p.ovmfVars}`);
    if (sb) a.push('-global', 'driver=cfi.pflash01,property=secure,value=on');
  }

  if (vm.tpm) {
    // swtpm listens on this socket before QEMU starts (the runner starts one swtpm per QEMU process)
    a.push('-chardev', `socket,id=chrtpm,path=${env.tpmSocket ?? p.tpmSocket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', `${vm.tpm.model},tpmdev=tpm0`);
  }

  // Storage: boot CD first (installers), then the system disk.
  let ahciPort = 0;
  const nextAhci = (what: string): string => {
    if (ahciPort >= AHCI_PORTS) throw new UnsupportedError('E_VM_AHCI_PORTS', `too many AHCI devices: ${what} would need port ${ahciPort}, q35 has ${AHCI_PORTS}`);
    return `ide.${ahciPort++}`;
  };
  let scsi = false;
  const busDevice = (bus: DiskBus, drive: string, what: string, boot?: number): string[] => {
    const bi = boot === undefined ? '' : `,bootindex=${boot}`;
    switch (bus) {
      case 'ahci':
        return ['-device', `ide-hd,bus=${nextAhci(what)},drive=${drive}${bi}`];
      case 'virtio-blk':
        return ['-device', `virtio-blk-pci,drive=${drive}${bi}`];
      case 'virtio-scsi': {
        const ctl = scsi ? [] : ['-device', 'virtio-scsi-pci,id=scsi0'];
        scsi = true;
        return [...ctl, '-device', `scsi-hd,bus=scsi0.0,drive=${drive}${bi}`];
      }
    }
  };

  const hasBootCd = vm.cdroms.some((c) => c.role === 'boot');
  vm.cdroms.forEach((c, i) => {
    const id = `cd${i}`;
    a.push('-drive', `if=none,id=${id},media=cdrom,readonly=on,format=raw,file=${c.path}`);
    a.push('-device', `ide-cd,bus=${nextAhci(`cdrom ${i}`)},drive=${id}${c.role === 'boot' ? ',bootindex=0' : ''}`);
  });

  const disks: Array<DiskSpec & { id: string }> = vm.disks.map((d, i) => ({ ...d, id: `disk${i}` }));
  for (const d of disks) {
    const ro = d.readonly ? ',readonly=on' : '';
    // discard+detect-zeroes keep the qcow2 small when the guest trims or zero-fills
    const thin = d.format === 'qcow2' && !d.readonly ? ',discard=unmap,detect-zeroes=unmap' : '';
    a.push('-drive', `if=none,id=${d.id},format=${d.format},file=${d.path}${ro}${thin}`);
    a.push(...busDevice(d.bus, d.id, `disk ${d.id}`, d.role === 'system' ? (hasBootCd ? 1 : 0) : undefined));
  }
  if (vm.statusDisk) {
    a.push('-drive', `if=none,id=status,format=raw,file=${p.statusDisk}`);
    a.push(...busDevice(vm.statusDisk.bus, 'status', 'the status disk'));
  }

  if (vm.net.mode === 'user') a.push('-nic', `user,model=${vm.net.model}`);

  let audio = false;
  for (const dev of vm.devices) {
    const props = { ...dev.props };
    if (AUDIO_DEVICES.has(dev.qemu) && props.audiodev === undefined) {
      if (!audio) a.push('-audiodev', 'none,id=snd0');
      audio = true;
      props.audiodev = 'snd0';
    }
    const extra = Object.keys(props).sort().map((k) => `,${k}=${props[k]}`).join('');
    a.push('-device', `${dev.qemu}${extra}`);
  }

  // ISA pvpanic at port 0x505: a guest crash becomes the QMP event GUEST_PANICKED
  if (vm.pvpanic) a.push('-device', 'pvpanic');

  // Headless, but with a framebuffer so screendump shows what the guest shows.
  a.push('-display', 'none', '-vga', 'std');
  a.push('-chardev', `file,id=ser0,path=${p.serialLog},append=on`, '-serial', 'chardev:ser0');
  a.push('-qmp', `unix:${env.qmpSocket},server=on,wait=off`);
  if (vm.rebootPolicy === 'restart-process') a.push('-action', 'reboot=shutdown');
  // QEMU's default panic action powers the VM off, and the crash screen goes with it; paused,
  // the runner can still take a screendump before it quits QEMU
  a.push('-action', 'panic=pause');
  // Start paused: the runner attaches QMP first so no early event is missed, then sends `cont`.
  a.push('-S');
  return a;
}
