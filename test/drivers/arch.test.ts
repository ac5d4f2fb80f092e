/**
 * Checks follow the sections Windows reads on the architecture asked for: [Manufacturer]
 * decorations NTarm (ARM32) and NTarm64 are different platforms, and so are their
 * DDInstall, SourceDisksNames/Files and CatalogFile forms.
 */
import { afterAll, describe, expect, test } from 'vitest';
import { checkDriverPackage, type DriverCheckReport } from '../../src/drivers/package.js';
import { runCli } from '../helpers/cli.js';
import { cleanupPackages, makePackage } from './fixtures.js';

afterAll(cleanupPackages);

/** An INF for a Qualcomm-style ACPI device with ARM32 and ARM64 sections. */
function armInf(o: { catalogs?: string[] } = {}): string {
  return [
    '[Version]',
    'Signature="$WINDOWS NT$"',
    'Class=System',
    'ClassGuid={4d36e97d-e325-11ce-bfc1-08002be10318}',
    'Provider=%Mfg%',
    'DriverVer=01/02/2024,1.0.0.0',
    ...(o.catalogs ?? ['CatalogFile.NTarm64=qc64.cat']),
    '',
    '[Manufacturer]',
    '%Mfg%=Qc,NTarm,NTarm64',
    '',
    '[Qc.NTarm]',
    '%Desc%=Qc_Inst,ACPI\\QCOM0001',
    '[Qc.NTarm64]',
    '%Desc%=Qc_Inst,ACPI\\QCOM0001',
    '',
    '[SourceDisksNames.arm]',
    '1=%Disk%,,,\\arm',
    '[SourceDisksNames.arm64]',
    '1=%Disk%,,,\\arm64',
    '[SourceDisksFiles.arm]',
    'qc32.sys=1',
    '[SourceDisksFiles.arm64]',
    'qc64.sys=1',
    '',
    '[DestinationDirs]',
    'DefaultDestDir=13',
    '',
    '[Qc_Inst.NTarm]',
    'CopyFiles=Files32',
    '[Files32]',
    'qc32.sys',
    'qchelp32.dll',
    '[Qc_Inst.NTarm.Services]',
    'AddService=qc32,0x2,Svc32',
    '[Svc32]',
    'ServiceType=1',
    'StartType=0',
    'ErrorControl=1',
    'ServiceBinary=%13%\\qc32.sys',
    '',
    '[Qc_Inst.NTarm64]',
    'CopyFiles=Files64',
    '[Files64]',
    'qc64.sys',
    '[Qc_Inst.NTarm64.Services]',
    'AddService=qc64,0x2,Svc64',
    '[Svc64]',
    'ServiceType=1',
    'StartType=3',
    'ErrorControl=1',
    'ServiceBinary=%13%\\qc64.sys',
    '',
    '[Strings]',
    'Mfg="Example SoC"',
    'Desc="Example ACPI device"',
    'Disk="Disk 1"',
    '',
  ].join('\r\n');
}

const codes = (r: DriverCheckReport): string[] => r.findings.map((f) => `${f.level} ${f.code}`);

describe('ARM32 and ARM64 sections are kept apart', () => {
  test('--arch arm64 checks only the NTarm64 install section, files and catalog', async () => {
    // An ARM64-only package: the ARM32 files and qchelp32.dll are absent, as they should be.
    const dir = await makePackage({ 'qc.inf': armInf(), 'qc64.cat': 'c', 'arm64/qc64.sys': 's' });
    const r = await checkDriverPackage(dir, { arch: 'arm64' });
    expect(r.findings).toEqual([]);
    expect(r.infs[0]).toMatchObject({ catalog: 'qc64.cat', catalogs: { arm64: 'qc64.cat' }, archs: ['arm64', 'arm'], bootCritical: false });
    expect(r.infs[0]!.services).toEqual([{ name: 'qc64', startType: 3, serviceType: 1, serviceBinary: '%13%\\qc64.sys' }]);
  });

  test('without --arch: the catalog declared only as CatalogFile.NTarm64 is shown; ARM32 gaps are reported for arm', async () => {
    const dir = await makePackage({ 'qc.inf': armInf(), 'qc64.cat': 'c', 'arm64/qc64.sys': 's' });
    const r = await checkDriverPackage(dir);
    expect(r.infs[0]).toMatchObject({ catalog: 'qc64.cat', catalogs: { arm64: 'qc64.cat' } });
    expect(r.findings.map((f) => [f.code, f.message])).toEqual([
      ['DRV_NO_CATALOG', 'no CatalogFile for arm in [Version]: the package is unsigned; on arm it may stage but will not load (Code 52)'],
      ['DRV_FILE_MISSING', 'qc32.sys (SourceDisksFiles) is not in the package at arm/qc32.sys'],
      ['DRV_FILE_NOT_IN_SOURCEDISKSFILES', 'qchelp32.dll is copied by [Files32] but not listed in [SourceDisksFiles]'],
      ['DRV_FILE_MISSING', 'qchelp32.dll (CopyFiles) is not in the package'],
      ['DRV_BOOT_CRITICAL', 'service qc32 has StartType 0 (boot start): a boot disk behind it needs this driver injected into the image offline'],
    ]);
    const text = await runCli('driver', 'check', dir);
    expect(text.stdout).toContain('inf qc.inf: class System, DriverVer 2024-01-02,1.0.0.0, catalog qc64.cat, archs arm64,arm');
  });

  test('a complete ARM32 + ARM64 package passes for both', async () => {
    const dir = await makePackage({
      'qc.inf': armInf({ catalogs: ['CatalogFile.NTarm=qc32.cat', 'CatalogFile.NTarm64=qc64.cat'] }),
      'qc32.cat': 'c', 'qc64.cat': 'c', 'arm/qc32.sys': 's', 'arm64/qc64.sys': 's',
    });
    expect(codes(await checkDriverPackage(dir, { arch: 'arm64' }))).toEqual([]);
    const r = await checkDriverPackage(dir);
    expect(r.infs[0]!.catalogs).toEqual({ arm64: 'qc64.cat', arm: 'qc32.cat' });
    expect(codes(r)).toEqual(['warning DRV_FILE_NOT_IN_SOURCEDISKSFILES', 'error DRV_FILE_MISSING', 'info DRV_BOOT_CRITICAL']);
  });

  test('an INF for NTarm/NTarm64 only, checked for x86: one DRV_ARCH_MISMATCH, no catalog or file noise', async () => {
    const dir = await makePackage({ 'qc.inf': armInf(), 'qc64.cat': 'c', 'arm64/qc64.sys': 's' });
    const r = await checkDriverPackage(dir, { arch: 'x86' });
    expect(r.findings).toEqual([
      {
        level: 'error',
        code: 'DRV_ARCH_MISMATCH',
        message: 'INF has no Models section for x86 (it installs on arm64, arm); a Windows x86 image needs an NTx86 decoration in [Manufacturer]',
        file: 'qc.inf',
        line: 10,
      },
    ]);
    expect(r.infs[0]!.services).toEqual([]);
  });
});
