import { describe, expect, it } from 'vitest';
import { MsuError } from '../../src/errors.js';
import { effectiveTimeouts, SpecError, TIMEOUT_DEFAULTS, validateRunSpec } from '../../src/vm/spec.js';

const minimal = () => ({
  id: 'job-1',
  vm: { disks: [{ role: 'system', path: 'win.qcow2' }] },
});

function errorOf(input: unknown, file?: string): MsuError {
  try {
    validateRunSpec(input, file);
  } catch (e) {
    if (e instanceof MsuError) return e;
    throw e;
  }
  throw new Error('expected a SpecError');
}

describe('validateRunSpec', () => {
  it('fills in every default', () => {
    const s = validateRunSpec(minimal());
    expect(s).toEqual({
      id: 'job-1',
      kind: 'generic',
      vm: {
        accel: 'auto',
        machine: 'q35',
        cpus: 2,
        memMiB: 2048,
        firmware: { type: 'ovmf', secureBoot: false },
        pvpanic: true,
        disks: [{ role: 'system', path: 'win.qcow2', format: 'qcow2', bus: 'ahci' }],
        cdroms: [],
        net: { mode: 'none' },
        devices: [],
        rebootPolicy: 'restart-process',
      },
      inputs: [],
      expect: { outputs: [] },
      timeouts: { ...TIMEOUT_DEFAULTS },
    });
  });

  it('accepts minutes or seconds and converts minutes to seconds', () => {
    const s = validateRunSpec({ ...minimal(), timeouts: { bootMin: 2, heartbeatSec: 30, perBootMin: 10, totalMin: 60, maxBoots: 4, tcgFactor: 3, graceSec: 0 } });
    expect(s.timeouts).toEqual({ bootSec: 120, heartbeatSec: 30, perBootSec: 600, totalSec: 3600, maxBoots: 4, tcgFactor: 3, graceSec: 0 });
  });

  it('scales durations (not maxBoots or grace) by tcgFactor under TCG only', () => {
    const t = validateRunSpec({ ...minimal(), timeouts: { bootSec: 10, heartbeatSec: 5, perBootSec: 20, totalSec: 40, maxBoots: 3, tcgFactor: 4, graceSec: 2 } }).timeouts;
    expect(effectiveTimeouts(t, 'tcg')).toEqual({ bootSec: 40, heartbeatSec: 20, perBootSec: 80, totalSec: 160, maxBoots: 3, tcgFactor: 4, graceSec: 2 });
    expect(effectiveTimeouts(t, 'kvm')).toEqual(t);
  });

  it('keeps seabios firmware, overlays and status disk settings', () => {
    const s = validateRunSpec({
      id: 'x',
      kind: 'audit-wua',
      vm: {
        firmware: { type: 'seabios' },
        disks: [{ role: 'system', path: 'work.qcow2', overlayOf: 'base.qcow2', bus: 'virtio-blk' }],
        statusDisk: {},
        net: { mode: 'user' },
      },
      expect: { statusFile: 'status.json', outputs: [{ path: 'install.wim', kind: 'wim' }] },
      guest: { script: 'wua-runner', params: { maxRounds: 3 } },
    });
    expect(s.vm.firmware).toEqual({ type: 'seabios' });
    expect(s.vm.disks[0]).toEqual({ role: 'system', path: 'work.qcow2', format: 'qcow2', bus: 'virtio-blk', overlayOf: 'base.qcow2', overlayFormat: 'qcow2' });
    expect(s.vm.statusDisk).toEqual({ sizeMiB: 64, bus: 'ahci' });
    expect(s.vm.net).toEqual({ mode: 'user', model: 'e1000e' });
    expect(s.guest).toEqual({ script: 'wua-runner', params: { maxRounds: 3 } });
    expect(s.expect.statusFile).toBe('status.json');
  });

  it('vm.tpm: swtpm TPM 2.0 with the CRB device by default, TIS on request, with any firmware', () => {
    expect(validateRunSpec({ ...minimal(), vm: { ...minimal().vm, tpm: {} } }).vm.tpm).toEqual({ swtpm: true, model: 'tpm-crb' });
    expect(validateRunSpec({ ...minimal(), vm: { ...minimal().vm, tpm: { swtpm: true, model: 'tpm-tis' } } }).vm.tpm).toEqual({ swtpm: true, model: 'tpm-tis' });
    // SeaBIOS drives a TPM too (the end-to-end test boots a BIOS boot sector with one)
    expect(validateRunSpec({ id: 'a', vm: { firmware: { type: 'seabios' }, tpm: {}, disks: [{ role: 'system', path: 'a' }] } }).vm.tpm).toEqual({ swtpm: true, model: 'tpm-crb' });
    expect(validateRunSpec(minimal()).vm.tpm).toBeUndefined();
  });

  it('vm.pvpanic can be switched off, and then pvpanic may be given as a plain device', () => {
    const s = validateRunSpec({ ...minimal(), vm: { ...minimal().vm, pvpanic: false, devices: [{ qemu: 'pvpanic', props: { events: '1' } }] } });
    expect(s.vm.pvpanic).toBe(false);
    expect(s.vm.devices).toEqual([{ qemu: 'pvpanic', props: { events: '1' } }]);
  });

  const bad: Array<[string, unknown, string, string]> = [
    ['not an object', 42, '(root)', 'expected an object, got number'],
    ['unknown top-level key', { ...minimal(), timeout: {} }, 'timeout', 'unknown field'],
    ['bad id', { ...minimal(), id: '../x' }, 'id', 'must be 1-64 characters'],
    ['comma in a disk path', { id: 'a', vm: { disks: [{ role: 'system', path: 'a,b.img' }] } }, 'vm.disks[0].path', 'contains a comma'],
    ['unknown bus', { id: 'a', vm: { disks: [{ role: 'system', path: 'a', bus: 'floppy' }] } }, 'vm.disks[0].bus', 'expected one of ahci | virtio-blk | virtio-scsi, got "floppy"'],
    ['raw overlay', { id: 'a', vm: { disks: [{ role: 'system', path: 'a', format: 'raw', overlayOf: 'b' }] } }, 'vm.disks[0].format', 'an overlay (overlayOf) must be qcow2'],
    ['nothing to boot', { id: 'a', vm: { disks: [{ role: 'work', path: 'w' }] } }, 'vm', 'nothing to boot'],
    ['same disk twice', { id: 'a', vm: { disks: [{ role: 'system', path: 'a' }, { role: 'work', path: 'a' }] } }, 'vm.disks[1].path', 'attached twice'],
    ['both min and sec', { ...minimal(), timeouts: { bootMin: 1, bootSec: 60 } }, 'timeouts.bootSec', 'either bootMin or bootSec'],
    ['zero boot timeout', { ...minimal(), timeouts: { bootSec: 0 } }, 'timeouts.bootSec', '0 is out of range 1..604800'],
    ['fractional maxBoots', { ...minimal(), timeouts: { maxBoots: 2.5 } }, 'timeouts.maxBoots', 'expected an integer, got 2.5'],
    ['per-boot shorter than boot', { ...minimal(), timeouts: { bootSec: 100, perBootSec: 50 } }, 'timeouts.perBootSec', 'shorter than the boot deadline'],
    ['status file without disk', { ...minimal(), expect: { statusFile: 'status.json' } }, 'expect.statusFile', 'needs vm.statusDisk'],
    ['tpm without swtpm', { ...minimal(), vm: { ...minimal().vm, tpm: { swtpm: false } } }, 'vm.tpm.swtpm', 'must be true (swtpm is the only TPM backend)'],
    ['unknown tpm model', { ...minimal(), vm: { ...minimal().vm, tpm: { model: 'tpm-spapr' } } }, 'vm.tpm.model', 'expected one of tpm-crb | tpm-tis, got "tpm-spapr"'],
    ['unknown tpm field', { ...minimal(), vm: { ...minimal().vm, tpm: { version: '2.0' } } }, 'vm.tpm.version', 'unknown field (allowed: swtpm, model)'],
    ['a TPM device without vm.tpm', { ...minimal(), vm: { ...minimal().vm, devices: [{ qemu: 'tpm-tis' }] } }, 'vm.devices[0].qemu', 'use vm.tpm ({"model":"tpm-tis"}) for a TPM'],
    ['pvpanic twice', { ...minimal(), vm: { ...minimal().vm, devices: [{ qemu: 'pvpanic' }] } }, 'vm.devices[0].qemu', 'pvpanic is already attached by vm.pvpanic'],
    ['pvpanic not a boolean', { ...minimal(), vm: { ...minimal().vm, pvpanic: 'yes' } }, 'vm.pvpanic', 'expected true or false, got "yes"'],
    ['device prop with comma', { ...minimal(), vm: { ...minimal().vm, devices: [{ qemu: 'virtio-sound-pci', props: { x: 'a,b' } }] } }, 'vm.devices[0].props.x', 'must not contain commas'],
    ['input escaping', { ...minimal(), inputs: [{ src: 'a', dest: '../etc' }] }, 'inputs[0].dest', 'must be a relative path without ".."'],
  ];
  for (const [name, input, field, text] of bad) {
    it(`rejects ${name} naming ${field}`, () => {
      const e = errorOf(input, 'job.json');
      expect(e).toBeInstanceOf(SpecError);
      expect(e.code).toBe('E_VM_SPEC');
      expect(e.file).toBe('job.json');
      expect(e.where).toBe(field);
      expect(e.message).toContain(`run spec: ${field}: `);
      expect(e.message).toContain(text);
    });
  }
});
