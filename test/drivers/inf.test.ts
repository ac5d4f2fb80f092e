import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { MsuError } from '../../src/errors.js';
import { catalogFor, findSection, InfError, infArchs, parseInf, parseTargetOs, resolveDdInstall, type Inf } from '../../src/drivers/inf.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { sndInf, utf16le } from './fixtures.js';

const enc = (s: string): Uint8Array => Buffer.from(s, 'utf8');

function corpusInf(name: string): Inf {
  return parseInf(readFileSync(corpusPath('inf', name)), name);
}

const hwids = (inf: Inf): string[] => inf.models.map((m) => m.hardwareId ?? '');
const svc = (inf: Inf, name: string) => inf.installs.flatMap((d) => d.services).find((s) => s.name === name);

describe.skipIf(!hasCorpus)('virtio-win corpus', () => {
  test('every INF/INX in the corpus parses without a syntax error or a warning', () => {
    const names = readdirSync(corpusPath('inf')).filter((n) => /\.(inf|inx)$/i.test(n)).sort();
    expect(names).toHaveLength(21);
    for (const n of names) {
      const inf = corpusInf(n);
      expect(inf.issues, n).toEqual([]);
      expect(inf.version.signature?.toUpperCase(), n).toMatch(/^\$(WINDOWS NT|CHICAGO)\$$/);
      expect(inf.models.length, n).toBeGreaterThan(0);
      expect(inf.version.catalogFile, n).toMatch(/\.cat$/);
    }
  });

  test('viostor.inx: template, SCSIAdapter, boot-start service, legacy and modern IDs', () => {
    const inf = corpusInf('viostor_viostor.inx');
    expect(inf.isTemplate).toBe(true);
    expect(inf.templateTokens).toEqual(expect.arrayContaining(['$ARCH$', '_INX_SUBSYS_VENDOR_ID', 'INX_PLATFORM_DRIVERS_DIR', 'INX_COMPANY']));
    expect(inf.version.class).toBe('SCSIAdapter');
    expect(inf.version.classGuid).toBe('{4D36E97B-E325-11CE-BFC1-08002BE10318}');
    expect(inf.version.driverVer).toMatchObject({ rawDate: '01/01/2008', date: '2008-01-01', version: '0.0.0.1', line: 22 });
    expect(inf.version.catalogFile).toBe('viostor.cat');
    expect(inf.version.pnpLockdown).toBe(1);
    expect(inf.manufacturers).toEqual([{ name: 'INX_COMPANY', modelsSection: 'VioStor', targets: [{ decoration: 'NT$ARCH$', archToken: '$ARCH$' }], line: 49 }]);
    expect(hwids(inf)).toEqual([
      'PCI\\VEN_1AF4&DEV_1001&SUBSYS_0002_INX_SUBSYS_VENDOR_ID&REV_00',
      'PCI\\VEN_1AF4&DEV_1042&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01',
    ]);
    expect(inf.models[1]!.compatibleIds).toEqual(['PCI\\VEN_1AF4&DEV_1042']);
    // %SERVICE_BOOT_START% comes from [Strings] = 0: boot critical.
    expect(svc(inf, 'viostor')).toMatchObject({ flags: 2, section: 'scsi_Service_Inst', serviceType: 1, startType: 0, errorControl: 1, loadOrderGroup: 'SCSI miniport' });
    // Template tokens are kept verbatim.
    expect(svc(inf, 'viostor')!.serviceBinary).toBe('%INX_PLATFORM_DRIVERS_DIR%\\viostor.sys');
    expect(inf.installs[0]!.copyFiles).toEqual([{ destination: 'viostor.sys', source: 'viostor.sys', section: 'viostor_Files_Driver', line: 60 }]);
    expect(inf.destinationDirs['viostor_files_driver']!.dirid).toBe('INX_PLATFORM_DRIVERS_DIR');
  });

  test('vioscsi.inx: boot start too, DEV_1004/DEV_1048', () => {
    const inf = corpusInf('vioscsi_vioscsi.inx');
    expect(hwids(inf).map((h) => h.slice(0, 25))).toEqual(['PCI\\VEN_1AF4&DEV_1004&SUB', 'PCI\\VEN_1AF4&DEV_1048&SUB']);
    expect(svc(inf, 'vioscsi')).toMatchObject({ startType: 0, serviceType: 1, errorControl: 1 });
    expect(svc(inf, 'vioscsi')!.displayName).toBe('INX_PREFIX_VENDORVirtIO SCSI pass-through Service');
  });

  test('Balloon.inx: %strkey% flags, %% escapes inside quotes, DriverPackageType lines ignored', () => {
    const inf = corpusInf('Balloon_sys_balloon.inx');
    expect(svc(inf, 'BALLOON')).toMatchObject({ flags: 2, startType: 3, serviceType: 1 });
    const addReg = findSection(inf, 'BALLOON_Logging_Inst_AddReg')!;
    expect(addReg.entries[0]!.fields[4]).toBe('%SystemRoot%\\System32\\IoLogMsg.dll;INX_BASE_ON_SYSTEM_ROOT_DRIVER_DIR\\balloon.sys');
    expect(inf.strings['balloon.devicedesc']).toBe('INX_PREFIX_VIRTIOVirtIO Balloon Driver');
    expect(inf.models[0]!.description).toBe('INX_PREFIX_VIRTIOVirtIO Balloon Driver');
    expect(hwids(inf)).toEqual([
      'PCI\\VEN_1AF4&DEV_1002&SUBSYS_0005_INX_SUBSYS_VENDOR_ID&REV_00',
      'PCI\\VEN_1AF4&DEV_1045&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01',
    ]);
  });

  test('qemufwcfg.inf: three architecture decorations, null service, ACPI ID', () => {
    const inf = corpusInf('fwcfg_qemufwcfg.inf');
    expect(inf.isTemplate).toBe(false);
    expect(inf.manufacturers[0]!.targets).toEqual([
      { decoration: 'NTx86', arch: 'x86' },
      { decoration: 'NTAMD64', arch: 'amd64' },
      { decoration: 'NTARM64', arch: 'arm64' },
    ]);
    expect(infArchs(inf)).toEqual(['x86', 'amd64', 'arm64']);
    expect(inf.models.map((m) => [m.modelsSection, m.hardwareId])).toEqual([
      ['QEMU.NTx86', 'ACPI\\QEMU0002'],
      ['QEMU.NTAMD64', 'ACPI\\QEMU0002'],
      ['QEMU.NTARM64', 'ACPI\\QEMU0002'],
    ]);
    expect(inf.version.driverVer).toMatchObject({ date: '2022-05-21', version: '100.90.104.22100' });
    expect(inf.installs[0]!.services).toEqual([{ name: '', flags: 2, line: 41 }]);
    expect(catalogFor(inf, 'arm64')).toBe('qemufwcfg.cat');
  });

  test('smbus.inf: undecorated Models (x86) plus NTamd64', () => {
    const inf = corpusInf('Q35_SMBus_smbus.inf');
    expect(infArchs(inf)).toEqual(['x86', 'amd64']);
    expect(inf.models.filter((m) => m.target?.arch === 'amd64').map((m) => m.hardwareId)).toEqual([
      'PCI\\VEN_8086&DEV_2930&SUBSYS_11001AF4',
      'PCI\\VEN_8086&CC_0C0500',
      'PCI\\VEN_8086&CC_0C05',
    ]);
    expect(inf.models.filter((m) => m.target === undefined)).toHaveLength(3);
    expect(inf.version.driverVer?.version).toBe('100.0.0.0');
    expect(inf.manufacturers[0]!.name).toBe('Red Hat Q35 SM Bus driver');
  });

  test('rhel qemupciserial.inf: $CHICAGO$ is a signature, quoted hardware ID, two services, StartType 1', () => {
    const inf = corpusInf('pciserial_rhel_qemupciserial.inf');
    expect(inf.isTemplate).toBe(false);
    expect(inf.version.signature).toBe('$CHICAGO$');
    expect(inf.version.class).toBe('Ports');
    expect(inf.models[0]!.hardwareId).toBe('PCI\\VEN_1b36&DEV_0002&CC_0700');
    expect(resolveDdInstall(inf, 'ComPort', 'amd64')).toBe('ComPort.NT');
    expect(svc(inf, 'Serial')).toMatchObject({ flags: 2, startType: 1, errorControl: 0, serviceBinary: '%12%\\serial.sys', loadOrderGroup: 'Extended base' });
    expect(svc(inf, 'Serenum')).toMatchObject({ startType: 3, section: 'Serenum_Service_Inst' });
    expect(svc(inf, 'Serenum')!.flags).toBeUndefined();
    expect(inf.sourceDisksFiles.map((f) => [f.fileName, f.diskId])).toEqual([['serial.sys', '3426'], ['serenum.sys', '3426']]);
    expect(inf.sourceDisksNames[0]).toMatchObject({ diskId: '3426', description: 'windows cd' });
    expect(inf.destinationDirs['serialenumerator.nt.copy']).toMatchObject({ dirid: '12' });
  });

  test('qemupciserial.inf: three PCI serial cards, Include=mf.inf', () => {
    const inf = corpusInf('pciserial_qemupciserial.inf');
    expect(inf.version.class).toBe('MultiFunction');
    expect([...new Set(hwids(inf))]).toEqual(['PCI\\VEN_1B36&DEV_0002', 'PCI\\VEN_1B36&DEV_0003', 'PCI\\VEN_1B36&DEV_0004']);
    expect(inf.installs.map((d) => d.section)).toEqual(['ComPort_inst1', 'ComPort_inst2', 'ComPort_inst4']);
    expect(inf.installs[0]!.includes).toEqual(['mf.inf']);
  });

  test('viocrypt.inf: .inf with build tokens is a template; coinstaller CopyFiles', () => {
    const inf = corpusInf('viocrypt_sys_viocrypt.inf');
    expect(inf.isTemplate).toBe(true);
    expect(inf.templateTokens).toContain('$KMDFCOINSTALLERVERSION$');
    expect(inf.version.driverVer?.date).toBe('2018-01-01');
    expect(hwids(inf)).toEqual(['PCI\\VEN_1AF4&DEV_1054&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01']);
    expect(inf.installs[0]!.coInstallerFiles.map((f) => f.source)).toEqual(['WdfCoInstaller$KMDFCOINSTALLERVERSION$.dll']);
    expect(svc(inf, 'viocrypt')!.serviceBinary).toBe('%12%\\viocrypt.sys');
  });

  test('viosock_wow.inx: WOW64 copy list with renamed sources, auto-start user service', () => {
    const inf = corpusInf('viosock_sys_viosock_wow.inx');
    const files = inf.installs[0]!.copyFiles.map((f) => `${f.destination}<-${f.source}`);
    expect(files).toEqual(['viosock.sys<-viosock.sys', 'viosocklib.dll<-viosocklib_x64.dll', 'viosockwspsvc.exe<-viosockwspsvc.exe', 'viosocklib.dll<-viosocklib_x86.dll']);
    expect(svc(inf, 'VirtioSocketWSP')).toMatchObject({ flags: 0x800, serviceType: 0x10, startType: 2 });
    expect(inf.destinationDirs['virtiosocket_lib_copyfiles.wow64']!.dirid).toBe('16425');
    expect(hwids(inf)[0]).toBe('PCI\\VEN_1AF4&DEV_1012&SUBSYS_0013_INX_SUBSYS_VENDOR_ID&REV_00');
  });

  test('class, ID and service values of the remaining files', () => {
    const cases: Array<[string, string, string, string | undefined, number | undefined]> = [
      ['NetKVM_NotifyObject_vioprot.inf', 'NetTrans', 'VIOPROT', 'netkvmp', 2],
      ['fwcfg64_fwcfg.inf', 'System', 'ACPI\\QEMU0002', 'FwCfg', 3],
      ['ivshmem_ivshmem.inf', 'System', 'PCI\\VEN_1AF4&DEV_1110&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01', 'IVSHMEM', 3],
      ['pvpanic_pvpanic_pvpanic.inf', 'System', 'ACPI\\QEMU0001', 'PVPanic', 3],
      ['stdvga_stdvga.inx', 'Display', 'PCI\\VEN_1234&DEV_1111', 'StdVga', 3],
      ['viofs_pci_viofs.inf', 'System', 'PCI\\VEN_1AF4&DEV_105A&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01', 'VirtioFsDrv', 3],
      ['viogpu_viogpudo_viogpudo.inx', 'Display', 'PCI\\VEN_1AF4&DEV_1050&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01', 'VioGpuDod', 3],
      ['vioinput_sys_vioinput.inx', 'HIDClass', 'PCI\\VEN_1AF4&DEV_1052&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01', 'VirtioInput', 3],
      ['viomem_sys_viomem.inx', 'MTD', 'PCI\\VEN_1AF4&DEV_1058&SUBSYS_1100_INX_SUBSYS_VENDOR_ID&REV_01', 'VIOMEM', 3],
      ['viorng_viorng_viorng.inf', 'System', 'PCI\\VEN_1AF4&DEV_1005&SUBSYS_0004_INX_SUBSYS_VENDOR_ID&REV_00', 'VirtRng', 3],
      ['vioserial_sys_vioser.inx', 'System', 'PCI\\VEN_1AF4&DEV_1003&SUBSYS_0003_INX_SUBSYS_VENDOR_ID&REV_00', 'VirtioSerial', 3],
      ['viosock_sys_viosock.inx', 'System', 'PCI\\VEN_1AF4&DEV_1012&SUBSYS_0013_INX_SUBSYS_VENDOR_ID&REV_00', 'VirtioSocket', 3],
    ];
    for (const [file, cls, firstId, service, start] of cases) {
      const inf = corpusInf(file);
      expect(inf.version.class, file).toBe(cls);
      expect(inf.models[0]!.hardwareId, file).toBe(firstId);
      expect(svc(inf, service!)?.startType, file).toBe(start);
    }
    // viogpudo: StartType from %SERVICE_DEMAND_START% = 0x3, DriverVer with spaces.
    const gpu = corpusInf('viogpu_viogpudo_viogpudo.inx');
    expect(gpu.version.driverVer).toMatchObject({ date: '2018-09-05', version: '1.01.01.0001' });
    expect(svc(gpu, 'VioGpuDod')!.errorControl).toBe(0);
    // vioinput: child device on the VIOINPUT bus with its own install section.
    const input = corpusInf('vioinput_sys_vioinput.inx');
    expect(input.models[1]).toMatchObject({ hardwareId: 'VIOINPUT\\REV_01', installSection: 'VirtioInput_Child' });
    expect(svc(input, 'viohidkmdf')!.serviceBinary).toBe('%INX_PLATFORM_DRIVERS_DIR%\\viohidkmdf.sys');
    // viorng: two CopyFiles lines in one section both count; %PROVIDER_NAME% resolved.
    const rng = corpusInf('viorng_viorng_viorng.inf');
    expect(rng.installs[0]!.copyFiles.map((f) => f.source)).toEqual(['viorng.sys', 'viorngum.dll']);
    expect(findSection(rng, 'VirtRng_Provider_AddReg')!.entries[0]!.fields[1]).toBe('SYSTEM\\CurrentControlSet\\Control\\Cryptography\\Providers\\QEMU VirtIO RNG Provider\\UM');
  });
});

describe('INF syntax', () => {
  test('UTF-16LE with BOM decodes and parses like UTF-8', () => {
    const inf = parseInf(utf16le(sndInf()), 'snd.inf');
    expect(inf.encoding).toBe('utf-16le');
    expect(inf.models[0]!.hardwareId).toBe('PCI\\VEN_1AF4&DEV_1059&SUBSYS_11001AF4&REV_01');
    expect(inf.models[0]!.description).toBe('Virtio sound device');
    expect(inf.manufacturers[0]!.targets[0]).toEqual({ decoration: 'NTamd64.10.0...16299', arch: 'amd64', osMajor: 10, osMinor: 0, buildNumber: 16299 });
  });

  test('UTF-8 with BOM, and ANSI (latin1) bytes that are not UTF-8', () => {
    const withBom = parseInf(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), enc('[Version]\nClass=Média\n')]));
    expect(withBom.encoding).toBe('utf-8');
    expect(withBom.version.class).toBe('Média');
    const ansi = parseInf(Buffer.from('[Version]\nProvider=%P%\n[Strings]\nP="Soci\xe9t\xe9"\n', 'latin1'));
    expect(ansi.encoding).toBe('latin1');
    expect(ansi.version.provider).toBe('Société');
  });

  test('quotes, "" escapes, comments outside quotes, continuation lines, %% literal', () => {
    const text = [
      '[Version]',
      'Provider = "A ""quoted"" name; not a comment" ; real comment',
      '[X]',
      'Key = one, \\',
      '      two , "three, still three"',
      'Pct = 50%%, %%Path%%',
      'bare1, bare2',
    ].join('\n');
    const inf = parseInf(enc(text), 'q.inf');
    expect(inf.version.provider).toBe('A "quoted" name; not a comment');
    const x = findSection(inf, 'x')!;
    expect(x.entries[0]).toMatchObject({ line: 4, key: 'Key', fields: ['one', 'two', 'three, still three'] });
    expect(x.entries[1]!.fields).toEqual(['50%', '%Path%']);
    expect(x.entries[2]).toMatchObject({ line: 7, fields: ['bare1', 'bare2'] });
    expect(x.entries[2]!.key).toBeUndefined();
    expect(inf.issues).toEqual([]);
  });

  test('section names are case-insensitive and duplicates merge in order', () => {
    const inf = parseInf(enc('[Foo]\na=1\n[Version]\nClass=X\n[FOO]\nb=2\n'));
    const foo = inf.sections.filter((s) => s.name.toLowerCase() === 'foo');
    expect(foo).toHaveLength(1);
    expect(foo[0]!.name).toBe('Foo');
    expect(foo[0]!.entries.map((e) => [e.key, e.line])).toEqual([['a', 2], ['b', 6]]);
  });

  test('[Strings.<locale>] overrides with the locale option, and fills keys missing from [Strings]', () => {
    const text = '[Version]\nProvider=%P%\nClass=%C%\n[Strings]\nP="Base"\n[Strings.0407]\nP="Deutsch"\nC="Klasse"\n';
    expect(parseInf(enc(text)).version).toMatchObject({ provider: 'Base', class: 'Klasse' });
    expect(parseInf(enc(text), undefined, { locale: '0407' }).version.provider).toBe('Deutsch');
  });

  test('unknown %strkey% is a warning with file and line; %12% DIRIDs are not', () => {
    const inf = parseInf(enc(sndInf({ extraLines: 'DisplayName=%NoSuchKey%' })), 'snd.inf');
    expect(inf.issues).toEqual([
      { level: 'warning', code: 'INF_UNKNOWN_STRKEY', message: '%NoSuchKey% is not defined in [Strings]', file: 'snd.inf', line: 40 },
    ]);
    expect(inf.installs[0]!.services[0]!.serviceBinary).toBe('%13%\\vsnd.sys');
    expect(inf.installs[0]!.services[0]!.displayName).toBe('%NoSuchKey%');
  });

  test('unterminated section header is an InfError naming file and line', () => {
    let err: unknown;
    try {
      parseInf(enc('[Version]\nClass=X\n\n[Models.NTamd64\nfoo=bar\n'), 'broken.inf');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InfError);
    expect(err).toBeInstanceOf(MsuError);
    const e = err as InfError;
    expect(e.code).toBe('E_INF');
    expect(e.line).toBe(4);
    expect(e.describe()).toBe('broken.inf: unterminated section header "[Models.NTamd64" (line 4)');
  });

  test('unterminated quote is an InfError naming the line', () => {
    expect(() => parseInf(enc('[Version]\nProvider="open ; x\n'), 'q.inf')).toThrow(/q\.inf|unterminated quoted string/);
    try {
      parseInf(enc('[Version]\nProvider="open ; x\n'), 'q.inf');
    } catch (e) {
      expect((e as InfError).line).toBe(2);
      expect((e as InfError).file).toBe('q.inf');
    }
  });

  test('TargetOSVersion decorations', () => {
    expect(parseTargetOs('NTamd64.10.0...16299')).toEqual({ decoration: 'NTamd64.10.0...16299', arch: 'amd64', osMajor: 10, osMinor: 0, buildNumber: 16299 });
    expect(parseTargetOs('NTx86....0x80')).toEqual({ decoration: 'NTx86....0x80', arch: 'x86', suiteMask: 0x80 });
    expect(parseTargetOs('NTarm64.10.0.1')).toEqual({ decoration: 'NTarm64.10.0.1', arch: 'arm64', osMajor: 10, osMinor: 0, productType: 1 });
    expect(parseTargetOs('NT.6.1')).toEqual({ decoration: 'NT.6.1', osMajor: 6, osMinor: 1 });
    expect(parseTargetOs('NT$ARCH$')).toEqual({ decoration: 'NT$ARCH$', archToken: '$ARCH$' });
    expect(parseTargetOs('NTfoo')).toBeUndefined();
    expect(parseTargetOs('Win10')).toBeUndefined();
  });

  test('undecorated Models and plain NT serve x86 only; missing models section is reported', () => {
    expect(infArchs(parseInf(enc(sndInf({ decorations: '' }))))).toEqual(['x86']);
    const nt = parseInf(enc(sndInf({ decorations: 'NT.10.0' })));
    expect(infArchs(nt)).toEqual(['x86']);
    const missing = parseInf(enc('[Version]\nClass=X\n[Manufacturer]\nAcme=Acme,NTamd64\n'), 'm.inf');
    expect(missing.issues.map((i) => [i.code, i.line])).toEqual([['INF_MISSING_SECTION', 4]]);
  });

  test('CatalogFile.NT<arch> wins over CatalogFile', () => {
    const inf = parseInf(enc('[Version]\nCatalogFile=all.cat\nCatalogFile.NTamd64=x64.cat\n'));
    expect(catalogFor(inf, 'amd64')).toBe('x64.cat');
    expect(catalogFor(inf, 'x86')).toBe('all.cat');
  });

  test('hostile input: binary bytes give warnings or one InfError, never a crash', () => {
    const noHeader = Buffer.from([0x80, 0x81, 0x00, 0xff, 0x3d, 0x2c, 0x0a, 0x01, 0x02]);
    const inf = parseInf(noHeader, 'bin.inf');
    expect(inf.encoding).toBe('latin1');
    expect(inf.sections).toEqual([]);
    expect(inf.issues.map((i) => [i.code, i.line])).toEqual([['INF_OUTSIDE_SECTION', 1], ['INF_NO_VERSION', 1]]);
    const brokenHeader = Buffer.concat([Buffer.from('[Version]\nClass=X\n'), Buffer.from([0x5b, 0x00, 0xfe, 0x0a])]);
    expect(() => parseInf(brokenHeader, 'bin.inf')).toThrow(InfError);
    try {
      parseInf(brokenHeader, 'bin.inf');
    } catch (e) {
      expect((e as InfError).line).toBe(3);
    }
  });
});
