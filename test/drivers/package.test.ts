import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { checkDriverPackage, type DriverCheckReport } from '../../src/drivers/package.js';
import { execFileSync } from 'node:child_process';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { cleanupPackages, makePackage, sndInf, utf16le } from './fixtures.js';

afterAll(cleanupPackages);

const codes = (r: DriverCheckReport, level?: string): string[] => r.findings.filter((f) => !level || f.level === level).map((f) => f.code);
const finding = (r: DriverCheckReport, code: string) => r.findings.find((f) => f.code === code);
const CAT = new Uint8Array([0x30, 0x82, 0x00, 0x00]);
const SYS = new Uint8Array([0x4d, 0x5a]);

describe('checkDriverPackage', () => {
  test('a good virtio-snd package passes for virtio-sound-pci on amd64', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf(), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const r = await checkDriverPackage(dir, { arch: 'amd64', device: 'virtio-sound-pci' });
    expect(r.errors).toBe(0);
    expect(r.warnings).toBe(0);
    expect(codes(r)).toEqual(['DRV_DEVICE_MATCH']);
    expect(r.matches).toEqual([
      { inf: 'vsnd.inf', line: 15, deviceId: 'PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01', infId: 'PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01', rank: 0, kind: 'hardware', transitional: false },
    ]);
    expect(r.infs).toEqual([
      {
        file: 'vsnd.inf',
        isTemplate: false,
        encoding: 'utf-8',
        class: 'MEDIA',
        provider: 'Example Audio',
        driverVer: '2024-03-15,1.2.3.4',
        catalog: 'vsnd.cat',
        catalogs: { amd64: 'vsnd.cat' },
        archs: ['amd64'],
        hardwareIds: ['PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01', 'PCI\\VEN_1AF4&DEV_1059'],
        services: [{ name: 'vsnd', startType: 3, serviceType: 1, serviceBinary: '%13%\\vsnd.sys' }],
        bootCritical: false,
      },
    ]);
  });

  test('x86-only INF (undecorated Models) for an amd64 target', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf({ decorations: '' }), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const r = await checkDriverPackage(dir, { arch: 'amd64', device: 'virtio-sound-pci' });
    expect(finding(r, 'DRV_ARCH_MISMATCH')).toEqual({
      level: 'error',
      code: 'DRV_ARCH_MISMATCH',
      message: 'INF has no Models section for amd64 (undecorated Models sections serve x86 only); a Windows amd64 image needs an NTamd64 decoration in [Manufacturer]',
      file: 'vsnd.inf',
      line: 12,
    });
    // The ID is right but only for x86: said so, and the device does not bind on amd64.
    expect(codes(r, 'error')).toEqual(['DRV_ARCH_MISMATCH', 'DRV_DEVICE_NO_MATCH']);
    expect(finding(r, 'DRV_ID_OTHER_ARCH')!.message).toContain('only in [Snd] (x86), not for amd64');
    // Same INF is fine for x86.
    const x86 = await checkDriverPackage(dir, { arch: 'x86', device: 'virtio-sound-pci' });
    expect(x86.errors).toBe(0);
  });

  test('INF that binds only DEV_1018 never matches virtio-sound-pci', async () => {
    const dir = await makePackage({
      'vsnd.inf': sndInf({ hardwareId: 'PCI\\VEN_1AF4&DEV_1018&SUBSYS_00191AF4&REV_00', compatibleIds: ['PCI\\VEN_1AF4&DEV_1018'] }),
      'vsnd.cat': CAT,
      'vsnd.sys': SYS,
    });
    const r = await checkDriverPackage(dir, { arch: 'amd64', device: 'virtio-sound-pci' });
    expect(codes(r, 'error')).toEqual(['DRV_DEVICE_NO_MATCH']);
    expect(finding(r, 'DRV_DEVICE_NO_MATCH')!.message).toBe(
      'no INF in the package binds QEMU virtio-sound-pci (modern-only) on amd64; it exposes DEV_1059 SUBSYS_11001AF4 REV_01',
    );
    expect(finding(r, 'DRV_ID_UNKNOWN_QEMU')).toMatchObject({
      level: 'warning',
      file: 'vsnd.inf',
      line: 15,
      message: 'INF binds DEV_1018 (no such QEMU device); QEMU virtio-sound-pci exposes DEV_1059 SUBSYS_11001AF4 REV_01',
    });
    expect(codes(r, 'warning')).toEqual(['DRV_ID_UNKNOWN_QEMU']);
    // Without a device the unknown virtio ID is still flagged.
    const plain = await checkDriverPackage(dir, { arch: 'amd64' });
    expect(codes(plain)).toEqual(['DRV_ID_UNKNOWN_QEMU']);
  });

  test('INF requiring REV_00 with a modern-only device', async () => {
    const dir = await makePackage({
      'vsnd.inf': sndInf({ hardwareId: 'PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_00', compatibleIds: [] }),
      'vsnd.cat': CAT,
      'vsnd.sys': SYS,
    });
    const r = await checkDriverPackage(dir, { arch: 'amd64', device: 'virtio-sound-pci' });
    expect(codes(r, 'error')).toEqual(['DRV_DEVICE_NO_MATCH']);
    expect(finding(r, 'DRV_ID_REV_MISMATCH')).toMatchObject({
      level: 'warning',
      message: 'INF requires REV_00 but modern virtio-sound-pci reports REV_01',
      line: 15,
    });
  });

  test('INF binding another QEMU device (transitional virtio-net) names it', async () => {
    const dir = await makePackage({ 'x.inf': sndInf({ hardwareId: 'PCI\\VEN_1AF4&DEV_1000', compatibleIds: [] }), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const r = await checkDriverPackage(dir, { arch: 'amd64', device: 'virtio-sound-pci' });
    expect(finding(r, 'DRV_ID_OTHER_DEVICE')!.message).toBe(
      'INF binds DEV_1000 (QEMU virtio-net-pci, transitional), not virtio-sound-pci, which exposes DEV_1059 SUBSYS_11001AF4 REV_01',
    );
  });

  test('transitional device: binding only the modern ID is a partial match', async () => {
    const dir = await makePackage({
      'blk.inf': sndInf({ hardwareId: 'PCI\\VEN_1AF4&DEV_1042&SUBSYS_11001AF4&REV_01', compatibleIds: [], startType: 0 }),
      'vsnd.cat': CAT,
      'vsnd.sys': SYS,
    });
    const r = await checkDriverPackage(dir, { arch: 'amd64', device: 'virtio-blk-pci' });
    expect(r.errors).toBe(0);
    expect(finding(r, 'DRV_DEVICE_PARTIAL_MATCH')!.message).toContain('transitional identity DEV_1001 SUBSYS_00021AF4 REV_00');
    expect(finding(r, 'DRV_BOOT_CRITICAL')).toMatchObject({ level: 'info', line: 33 });
    expect(r.infs[0]!.bootCritical).toBe(true);
    const modern = await checkDriverPackage(dir, { arch: 'amd64', device: 'virtio-blk-pci', disableLegacy: true });
    expect(codes(modern, 'warning')).toEqual([]);
  });

  test('missing catalog: not declared, and declared but absent', async () => {
    const undeclared = await makePackage({ 'vsnd.inf': sndInf({ catalog: null }), 'vsnd.sys': SYS });
    const r1 = await checkDriverPackage(undeclared, { arch: 'amd64' });
    expect(finding(r1, 'DRV_NO_CATALOG')).toMatchObject({ level: 'error', file: 'vsnd.inf' });
    expect(finding(r1, 'DRV_NO_CATALOG')!.message).toContain('Code 52');
    // On x86 an unsigned package is only a warning.
    const undeclaredX86 = await makePackage({ 'vsnd.inf': sndInf({ catalog: null, decorations: '' }), 'vsnd.sys': SYS });
    expect(finding(await checkDriverPackage(undeclaredX86, { arch: 'x86' }), 'DRV_NO_CATALOG')!.level).toBe('warning');
    const absent = await makePackage({ 'vsnd.inf': sndInf(), 'vsnd.sys': SYS });
    const r2 = await checkDriverPackage(absent, { arch: 'amd64' });
    expect(finding(r2, 'DRV_CATALOG_MISSING')).toMatchObject({ level: 'error', file: 'vsnd.inf', line: 8 });
  });

  test('missing file named in SourceDisksFiles; case differences are tolerated', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf(), 'vsnd.cat': CAT });
    const r = await checkDriverPackage(dir, { arch: 'amd64' });
    expect(finding(r, 'DRV_FILE_MISSING')).toEqual({
      level: 'error',
      code: 'DRV_FILE_MISSING',
      message: 'vsnd.sys (SourceDisksFiles) is not in the package at vsnd.sys',
      file: 'vsnd.inf',
      line: 21,
    });
    const upper = await makePackage({ 'vsnd.inf': sndInf(), 'VSND.CAT': CAT, 'VSnd.sys': SYS });
    expect((await checkDriverPackage(upper, { arch: 'amd64' })).errors).toBe(0);
  });

  test('SourceDisksNames path and subdir are honoured; paths leaving the package are refused', async () => {
    const inf = sndInf().replace('1=%Disk%,,,""', '1=%Disk%,,,\\amd64').replace('vsnd.sys=1', 'vsnd.sys=1,drv');
    const ok = await makePackage({ 'pkg/vsnd.inf': inf, 'pkg/vsnd.cat': CAT, 'pkg/amd64/drv/vsnd.sys': SYS });
    expect((await checkDriverPackage(ok, { arch: 'amd64' })).findings).toEqual([]);
    const bad = await makePackage({ 'vsnd.inf': sndInf().replace('vsnd.sys=1', 'vsnd.sys=1,..\\..\\etc'), 'vsnd.cat': CAT });
    expect(finding(await checkDriverPackage(bad, { arch: 'amd64' }), 'DRV_BAD_PATH')).toMatchObject({ level: 'error', line: 21 });
  });

  test('UTF-16LE INF with BOM is checked like any other', async () => {
    const dir = await makePackage({ 'vsnd.inf': utf16le(sndInf()), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const r = await checkDriverPackage(dir, { arch: 'amd64', device: 'virtio-sound-pci' });
    expect(r.errors).toBe(0);
    expect(r.infs[0]!.encoding).toBe('utf-16le');
    expect(r.matches[0]!.rank).toBe(0);
  });

  test('broken INF (unterminated section) is an error finding naming file and line', async () => {
    const dir = await makePackage({ 'sub/bad.inf': '[Version]\r\nClass=X\r\n[Manufacturer\r\n', 'vsnd.inf': sndInf(), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const r = await checkDriverPackage(dir, { arch: 'amd64' });
    expect(r.findings).toEqual([
      { level: 'error', code: 'DRV_INF_SYNTAX', message: 'unterminated section header "[Manufacturer"', file: 'sub/bad.inf', line: 3 },
    ]);
    expect(r.infs.map((i) => i.file)).toEqual(['vsnd.inf']);
  });

  test('unknown %strkey% is a warning with its line', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf({ extraLines: 'DisplayName=%Missing%' }), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const r = await checkDriverPackage(dir, { arch: 'amd64' });
    expect(r.findings).toEqual([
      { level: 'warning', code: 'INF_UNKNOWN_STRKEY', message: '%Missing% is not defined in [Strings]', file: 'vsnd.inf', line: 40 },
    ]);
  });

  test('an .inf that is a symlink to a device is refused, not read', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf(), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const { symlinkSync } = await import('node:fs');
    symlinkSync('/dev/zero', path.join(dir, 'zero.inf'));
    const r = await checkDriverPackage(dir, { arch: 'amd64' });
    expect(r.findings).toEqual([{ level: 'error', code: 'DRV_INF_NOT_FILE', message: 'INF is not a regular file', file: 'zero.inf' }]);
    expect(r.infs.map((i) => i.file)).toEqual(['vsnd.inf']);
  });

  test('empty folder and unknown device', async () => {
    const empty = await makePackage({ 'readme.txt': 'x' });
    expect(codes(await checkDriverPackage(empty))).toEqual(['DRV_NO_INF']);
    await expect(checkDriverPackage(empty, { device: 'virtio-foo-pci' })).rejects.toMatchObject({ code: 'E_USAGE' });
  });

  test.skipIf(!hasCorpus)('.inx templates are reported, not checked; .inf with tokens is an error', async () => {
    const dir = await makePackage({
      'viostor.inx': readFileSync(corpusPath('inf', 'viostor_viostor.inx')),
      'viocrypt.inf': readFileSync(corpusPath('inf', 'viocrypt_sys_viocrypt.inf')),
    });
    const r = await checkDriverPackage(dir, { arch: 'amd64' });
    expect(r.findings.map((f) => [f.level, f.code, f.file])).toEqual([
      ['error', 'DRV_INF_TEMPLATE', 'viocrypt.inf'],
      ['info', 'DRV_INF_TEMPLATE', 'viostor.inx'],
    ]);
    expect(r.infs.find((i) => i.file === 'viostor.inx')).toMatchObject({ isTemplate: true, bootCritical: true, class: 'SCSIAdapter' });
  });

  test.skipIf(!hasCorpus)('real non-template virtio-win INF: qemufwcfg.inf for amd64 and arm64', async () => {
    const dir = await makePackage({ 'qemufwcfg.inf': readFileSync(corpusPath('inf', 'fwcfg_qemufwcfg.inf')), 'qemufwcfg.cat': CAT });
    for (const arch of ['amd64', 'arm64'] as const) {
      const r = await checkDriverPackage(dir, { arch });
      expect(r.findings, arch).toEqual([]);
      expect(r.infs[0]!.hardwareIds).toEqual(['ACPI\\QEMU0002']);
    }
    // The rhel serial INF lists serial.sys/serenum.sys from "windows cd": not in the package.
    const serial = await makePackage({ 'qemupciserial.inf': readFileSync(corpusPath('inf', 'pciserial_rhel_qemupciserial.inf')), 'qemupciserial.cat': CAT });
    const rs = await checkDriverPackage(serial, { arch: 'amd64', device: 'pci-serial' });
    expect(rs.findings.filter((f) => f.code === 'DRV_FILE_MISSING').map((f) => f.line)).toEqual([34, 35]);
    expect(finding(rs, 'DRV_DEVICE_MATCH')!.message).toBe('pci-serial binds PCI\\VEN_1B36&DEV_0002&CC_0700 (hardware ID match, rank 0x0003)');
  });
});

describe('msu driver (CLI)', () => {
  test('check: exit 0 for a good package, JSON report', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf(), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const r = await runCli('driver', 'check', dir, '--arch', 'amd64', '--device', 'virtio-sound-pci', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as DriverCheckReport;
    expect(j.errors).toBe(0);
    expect(j.matches[0]!.infId).toBe('PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01');
    expect(j.device).toBe('virtio-sound-pci');
    const text = await runCli('driver', 'check', dir, '--arch', 'amd64', '--device', 'virtio-sound-pci');
    expect(text.stdout).toContain('inf vsnd.inf: class MEDIA, DriverVer 2024-03-15,1.2.3.4, catalog vsnd.cat, archs amd64');
    expect(text.stdout.trimEnd().split('\n').at(-1)).toBe('0 errors, 0 warnings');
  });

  test('check: exit 1 when the package has errors', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf({ decorations: 'NTx86' }), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const r = await runCli('driver', 'check', dir, '--arch', 'amd64');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('error   DRV_ARCH_MISMATCH vsnd.inf:12: INF has no Models section for amd64 (it installs on x86)');
  });

  test('check: exit 3 for an unreadable folder, 2 for bad usage', async () => {
    const missing = path.join(await makePackage({}), 'nope');
    const r = await runCli('driver', 'check', missing);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('no such file or directory');
    expect((await runCli('driver', 'check', missing, '--arch', 'mips')).code).toBe(2);
    expect((await runCli('driver', 'check', missing, '--index', '2')).code).toBe(2);
  });

  const haveWimlib = hasTool('wimlib-imagex');
  if (!haveWimlib) skipNote('msu driver check --image', 'wimlib-imagex (wimtools)');
  test.skipIf(!haveWimlib)('check --image/--index takes the architecture from the WIM', async () => {
    const dir = await makePackage({ 'vsnd.inf': sndInf({ decorations: 'NTx86' }), 'vsnd.cat': CAT, 'vsnd.sys': SYS });
    const work = await makePackage({ 'tree/a.txt': 'x' });
    const wim = path.join(work, 'install.wim');
    execFileSync('wimlib-imagex', ['capture', path.join(work, 'tree'), wim, 'one'], { stdio: 'ignore' });
    execFileSync('wimlib-imagex', ['append', path.join(work, 'tree'), wim, 'two'], { stdio: 'ignore' });
    execFileSync('wimlib-imagex', ['info', wim, '1', '--image-property', 'WINDOWS/ARCH=0'], { stdio: 'ignore' });
    execFileSync('wimlib-imagex', ['info', wim, '2', '--image-property', 'WINDOWS/ARCH=9'], { stdio: 'ignore' });
    const amd64 = await runCli('driver', 'check', dir, '--image', wim, '--index', '2', '--json');
    expect(amd64.code).toBe(1);
    const j = JSON.parse(amd64.stdout) as DriverCheckReport;
    expect(j.arch).toBe('amd64');
    expect(j.findings.map((f) => f.code)).toEqual(['DRV_ARCH_MISMATCH']);
    const x86 = await runCli('driver', 'check', dir, '--image', wim, '--index', '1');
    expect(x86.code).toBe(0);
    expect(x86.stdout.split('\n')[0]).toBe(`package ${dir} (arch x86)`);
    // Two images and no --index; --arch contradicting the image.
    expect((await runCli('driver', 'check', dir, '--image', wim)).code).toBe(2);
    const clash = await runCli('driver', 'check', dir, '--image', wim, '--index', '2', '--arch', 'x86');
    expect(clash.code).toBe(2);
    expect(clash.stderr).toContain('contradicts image');
  });

  test('devices: lists QEMU devices with their IDs', async () => {
    const r = await runCli('driver', 'devices', '--json');
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.stdout) as Array<{ name: string; modernOnly: boolean; identities: Array<{ transitional: boolean; hardwareIds: string[] }> }>;
    const snd = rows.find((x) => x.name === 'virtio-sound-pci')!;
    expect(snd.modernOnly).toBe(true);
    expect(snd.identities.map((i) => i.hardwareIds[0])).toEqual(['PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01']);
    const net = rows.find((x) => x.name === 'virtio-net-pci')!;
    expect(net.identities.map((i) => [i.transitional, i.hardwareIds[0]])).toEqual([
      [true, 'PCI\\VEN_1AF4&DEV_1000&SUBSYS_00011AF4&REV_00'],
      [false, 'PCI\\VEN_1AF4&DEV_1041&SUBSYS_11001AF4&REV_01'],
    ]);
    const text = await runCli('driver', 'devices');
    expect(text.stdout).toContain('virtio-sound-pci: virtio sound [modern-only, QEMU >= 8.2]');
    expect(text.stdout).toContain('  transitional PCI\\VEN_1AF4&DEV_1001&SUBSYS_00021AF4&REV_00  PCI\\VEN_1AF4&DEV_1001&CC_0100');
  });
});
