import { describe, expect, test } from 'vitest';
import { matchHardwareIds, normalizeHardwareId, parsePciId, pciDeviceIds } from '../../src/drivers/hwid.js';
import { allExposedIds, findQemuDevice, QEMU_DEVICES, qemuDeviceIds } from '../../src/drivers/devices.js';

describe('PCI hardware IDs', () => {
  test('parse the full form and shorter forms, case-insensitively', () => {
    expect(parsePciId('pci\\ven_1af4&dev_1059&subsys_11001af4&rev_01')).toEqual({
      raw: 'pci\\ven_1af4&dev_1059&subsys_11001af4&rev_01',
      normalized: 'PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01',
      vendor: '1AF4',
      device: '1059',
      subsys: '11001AF4',
      rev: '01',
      other: [],
    });
    expect(parsePciId('PCI\\VEN_1AF4&DEV_1059')).toMatchObject({ vendor: '1AF4', device: '1059', other: [] });
    expect(parsePciId('PCI\\CC_0401')).toMatchObject({ cc: '0401', other: [] });
    expect(parsePciId('PCI\\CC_0401')!.vendor).toBeUndefined();
    expect(parsePciId('PCI\\VEN_1AF4&DEV_1002&SUBSYS_0005_INX_SUBSYS_VENDOR_ID&REV_00')!.subsys).toBe('0005_INX_SUBSYS_VENDOR_ID');
    expect(parsePciId('ACPI\\QEMU0002')).toBeUndefined();
    expect(normalizeHardwareId('  pci\\ven_1b36&dev_0002 ')).toBe('PCI\\VEN_1B36&DEV_0002');
  });

  test('IDs Windows builds for virtio-sound-pci (1af4:1059 sub 1af4:1100 rev 1, class 0401)', () => {
    const ids = pciDeviceIds({ vendorId: 0x1af4, deviceId: 0x1059, subsystemVendorId: 0x1af4, subsystemId: 0x1100, revision: 1, classCode: 0x0401, progIf: 0 });
    expect(ids.hardwareIds).toEqual([
      'PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01',
      'PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4',
      'PCI\\VEN_1AF4&DEV_1059&CC_040100',
      'PCI\\VEN_1AF4&DEV_1059&CC_0401',
    ]);
    expect(ids.compatibleIds).toEqual([
      'PCI\\VEN_1AF4&DEV_1059&REV_01',
      'PCI\\VEN_1AF4&DEV_1059',
      'PCI\\VEN_1AF4&CC_040100',
      'PCI\\VEN_1AF4&CC_0401',
      'PCI\\VEN_1AF4',
      'PCI\\CC_040100',
      'PCI\\CC_0401',
    ]);
  });

  test('matching ranks hardware-ID matches before compatible-ID matches, specific before generic', () => {
    const dev = qemuDeviceIds(findQemuDevice('virtio-sound-pci')!);
    const all = [...dev.hardwareIds, ...dev.compatibleIds];
    const opts = { deviceHardwareIdCount: dev.hardwareIds.length };
    // INF hardware ID = device hardware ID #0
    expect(matchHardwareIds(all, ['pci\\ven_1af4&dev_1059&subsys_11001af4&rev_01'], opts)[0]).toMatchObject({ rank: 0, deviceIdKind: 'hardware', infIdKind: 'hardware' });
    // INF hardware ID = device hardware ID #1 (no REV)
    expect(matchHardwareIds(all, ['PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4'], opts)[0]!.rank).toBe(1);
    // INF compatible ID = device hardware ID #3
    expect(matchHardwareIds(all, ['PCI\\VEN_0000&DEV_0000', 'PCI\\VEN_1AF4&DEV_1059&CC_0401'], opts)[0]).toMatchObject({ rank: 0x1003, infIdKind: 'compatible' });
    // INF hardware ID = device compatible ID #1 (bare DEV)
    expect(matchHardwareIds(all, ['PCI\\VEN_1AF4&DEV_1059'], opts)[0]).toMatchObject({ rank: 0x2001, deviceIdKind: 'compatible' });
    // Best of several: the class-code compatible ID loses to the exact ID.
    const both = matchHardwareIds(all, ['PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01', 'PCI\\CC_0401'], opts);
    expect(both.map((m) => m.rank)).toEqual([0, 0x3006]);
    // No match at all
    expect(matchHardwareIds(all, ['PCI\\VEN_1AF4&DEV_1018'], opts)).toEqual([]);
    expect(matchHardwareIds(all, ['PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_00'], opts)).toEqual([]);
  });
});

describe('QEMU device table', () => {
  test('every modern virtio device is DEV_(1040 + virtio ID), SUBSYS_11001AF4, REV_01', () => {
    const virtio = QEMU_DEVICES.filter((d) => d.virtioId !== undefined);
    expect(virtio.length).toBeGreaterThanOrEqual(17);
    for (const d of virtio) {
      const m = qemuDeviceIds(d, { disableLegacy: true });
      expect(m.transitional, d.name).toBe(false);
      expect(m.hardwareIds[0], d.name).toBe(`PCI\\VEN_1AF4&DEV_${(0x1040 + d.virtioId!).toString(16).toUpperCase()}&SUBSYS_11001AF4&REV_01`);
    }
  });

  test('specific devices: sound, input, gpu, vsock, fs, mem, crypto', () => {
    const first = (n: string): string => qemuDeviceIds(findQemuDevice(n)!).hardwareIds[0]!;
    expect(first('virtio-sound-pci')).toBe('PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01');
    expect(qemuDeviceIds(findQemuDevice('virtio-sound-pci')!).hardwareIds[3]).toBe('PCI\\VEN_1AF4&DEV_1059&CC_0401');
    expect(first('virtio-keyboard-pci')).toBe('PCI\\VEN_1AF4&DEV_1052&SUBSYS_11001AF4&REV_01');
    expect(first('virtio-input-host-pci')).toBe('PCI\\VEN_1AF4&DEV_1052&SUBSYS_11001AF4&REV_01');
    expect(first('virtio-gpu-pci')).toBe('PCI\\VEN_1AF4&DEV_1050&SUBSYS_11001AF4&REV_01');
    expect(first('vhost-vsock-pci')).toBe('PCI\\VEN_1AF4&DEV_1053&SUBSYS_11001AF4&REV_01');
    expect(first('vhost-user-fs-pci')).toBe('PCI\\VEN_1AF4&DEV_105A&SUBSYS_11001AF4&REV_01');
    expect(first('virtio-mem-pci')).toBe('PCI\\VEN_1AF4&DEV_1058&SUBSYS_11001AF4&REV_01');
    expect(first('virtio-crypto-pci')).toBe('PCI\\VEN_1AF4&DEV_1054&SUBSYS_11001AF4&REV_01');
    expect(first('pvpanic-pci')).toBe('PCI\\VEN_1B36&DEV_0011&SUBSYS_11001AF4&REV_01');
    expect(qemuDeviceIds(findQemuDevice('pci-serial')!).hardwareIds[2]).toBe('PCI\\VEN_1B36&DEV_0002&CC_070002');
    expect(first('ivshmem-plain')).toBe('PCI\\VEN_1AF4&DEV_1110&SUBSYS_11001AF4&REV_01');
    expect(findQemuDevice('virtio-sound-pci')).toMatchObject({ modernOnly: true, minQemu: '8.2', classCode: 0x0401 });
    expect(findQemuDevice('no-such-device')).toBeUndefined();
  });

  test('transitional devices use legacy DEV_100x, SUBSYS_000x1AF4, REV_00 unless disableLegacy', () => {
    const cases: Array<[string, string, string]> = [
      ['virtio-net-pci', '1000', '0001'],
      ['virtio-blk-pci', '1001', '0002'],
      ['virtio-balloon-pci', '1002', '0005'],
      ['virtio-serial-pci', '1003', '0003'],
      ['virtio-scsi-pci', '1004', '0008'],
      ['virtio-rng-pci', '1005', '0004'],
      ['virtio-9p-pci', '1009', '0009'],
    ];
    for (const [name, dev, sub] of cases) {
      const d = findQemuDevice(name)!;
      expect(d.modernOnly, name).toBe(false);
      const t = qemuDeviceIds(d);
      expect(t.transitional, name).toBe(true);
      expect(t.hardwareIds[0], name).toBe(`PCI\\VEN_1AF4&DEV_${dev}&SUBSYS_${sub}1AF4&REV_00`);
      expect(allExposedIds(d).map((x) => x.transitional), name).toEqual([true, false]);
    }
    expect(qemuDeviceIds(findQemuDevice('virtio-blk-pci')!, { disableLegacy: true }).hardwareIds[0]).toBe('PCI\\VEN_1AF4&DEV_1042&SUBSYS_11001AF4&REV_01');
    // No transitional sound device exists (docs/drivers.md: no DEV_1018).
    expect(allExposedIds(findQemuDevice('virtio-sound-pci')!)).toHaveLength(1);
    expect(QEMU_DEVICES.some((d) => allExposedIds(d).some((x) => x.identity.deviceId === 0x1018))).toBe(false);
  });
});

describe('match order', () => {
  test('equal ranks are ordered by code unit, not by the locale: PCI before pci', () => {
    // ICU's collation puts lower case first; the order must not depend on LANG
    const dev = ['PCI\\VEN_1AF4&DEV_1059'];
    const inf = ['ACPI\\X', 'pci\\ven_1af4&dev_1059', 'PCI\\VEN_1AF4&DEV_1059'];
    const m = matchHardwareIds(dev, inf, { deviceHardwareIdCount: 1, infHardwareIdCount: 1 });
    expect(m.map((x) => [x.rank, x.infId])).toEqual([
      [0x1000, 'PCI\\VEN_1AF4&DEV_1059'],
      [0x1000, 'pci\\ven_1af4&dev_1059'],
    ]);
    expect('pci'.localeCompare('PCI')).toBeLessThan(0); // the order the old comparator gave
  });
});
