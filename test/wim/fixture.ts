import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { wimCapture } from '../../src/wim/wimlib.js';

/** Test WIMs built in code: a tree shaped like a Windows image's servicing and driver folders. */

export const PKT = '31bf3856ad364e35';

export function mum(name: string, version: string, opts: { arch?: string; language?: string; releaseType?: string } = {}): string {
  return `<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">
  <assemblyIdentity name="${name}" version="${version}" processorArchitecture="${opts.arch ?? 'amd64'}" language="${opts.language ?? 'neutral'}" publicKeyToken="${PKT}"/>
  <package identifier="${name}" releaseType="${opts.releaseType ?? 'Update'}">
    <update name="main"><component><assemblyIdentity name="${name}-main" version="${version}" processorArchitecture="${opts.arch ?? 'amd64'}" language="neutral" publicKeyToken="${PKT}" versionScope="nonSxS"/></component></update>
  </package>
</assembly>
`;
}

/** UTF-16LE with BOM, as many driver INFs are stored. */
export function utf16(text: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

export const OEM0_INF = `; test driver
[Version]
Signature   = "$WINDOWS NT$"
Class       = Net
ClassGuid   = {4d36e972-e325-11ce-bfc1-08002be10318}
Provider    = %VENDOR%   ; resolved from [Strings]
DriverVer   = 07/19/2023,100.94.104.24000
CatalogFile = netkvm.cat

[Strings]
VENDOR = "Red Hat, Inc."
`;

export interface TreeSpec {
  /** Package name → version. */
  packages: Array<{ name: string; version: string; releaseType?: string; language?: string; mumName?: string }>;
  oemInfs?: Record<string, string | Buffer>;
  driverStore?: string[];
  extraFiles?: Record<string, string>;
}

export async function writeTree(root: string, spec: TreeSpec): Promise<void> {
  const pk = path.join(root, 'Windows', 'servicing', 'Packages');
  await mkdir(pk, { recursive: true });
  for (const p of spec.packages) {
    const lang = p.language ?? 'neutral';
    const fileName = p.mumName ?? `${p.name}~${PKT}~amd64~${lang === 'neutral' ? '' : lang}~${p.version}.mum`;
    const mumOpts: { language: string; releaseType?: string } = { language: lang };
    if (p.releaseType) mumOpts.releaseType = p.releaseType;
    await writeFile(path.join(pk, fileName), mum(p.name, p.version, mumOpts));
    // The catalog beside each .mum is not read by the inventory.
    await writeFile(path.join(pk, fileName.replace(/\.mum$/, '.cat')), Buffer.alloc(4096, 7));
  }
  const inf = path.join(root, 'Windows', 'INF');
  await mkdir(inf, { recursive: true });
  await writeFile(path.join(inf, 'machine.inf'), '[Version]\nProvider=%MSFT%\n[Strings]\nMSFT="Microsoft"\n');
  for (const [name, body] of Object.entries(spec.oemInfs ?? {})) await writeFile(path.join(inf, name), body);
  const repo = path.join(root, 'Windows', 'System32', 'DriverStore', 'FileRepository');
  await mkdir(repo, { recursive: true });
  for (const d of spec.driverStore ?? []) {
    await mkdir(path.join(repo, d), { recursive: true });
    await writeFile(path.join(repo, d, d.replace(/_.*$/, '')), '[Version]\n');
    await writeFile(path.join(repo, d, 'driver.sys'), Buffer.alloc(8192, 1));
  }
  for (const [rel, body] of Object.entries(spec.extraFiles ?? {})) {
    await mkdir(path.dirname(path.join(root, rel)), { recursive: true });
    await writeFile(path.join(root, rel), body);
  }
}

export const IMAGE1: TreeSpec = {
  packages: [
    { name: 'Microsoft-Windows-Foundation-Package', version: '10.0.19041.1', releaseType: 'Foundation' },
    { name: 'Package_for_RollupFix', version: '19041.1237.1.8', releaseType: 'Security Update' },
    { name: 'Package_for_RollupFix', version: '19041.1288.1.7', releaseType: 'Security Update' },
    { name: 'Package_for_ServicingStack_1220', version: '19041.1220.1.3', releaseType: 'Update' },
    { name: 'Microsoft-Windows-Client-LanguagePack-Package', version: '10.0.19041.1', releaseType: 'Language Pack', language: 'de-DE' },
  ],
  oemInfs: { 'oem0.inf': OEM0_INF, 'oem1.inf': utf16('[Version]\r\nClass=System\r\nProvider="ACME"\r\nDriverVer=01/02/2020\r\n') },
  driverStore: ['foo.inf_amd64_abc', 'netkvm.inf_amd64_0123456789abcdef'],
};

export const IMAGE2: TreeSpec = {
  packages: [{ name: 'Microsoft-Windows-Foundation-Package', version: '10.0.22621.1', releaseType: 'Foundation' }],
};

export async function tempDir(prefix = 'msu-wimtest-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

/**
 * Two-image WIM: image 1 with XML version lacking SPBUILD (UBR must come from the packages),
 * image 2 appended with its own properties (SPBUILD present).
 */
export async function buildTestWim(dir: string): Promise<string> {
  const t1 = path.join(dir, 'tree1');
  const t2 = path.join(dir, 'tree2');
  await writeTree(t1, IMAGE1);
  await writeTree(t2, IMAGE2);
  const wim = path.join(dir, 'install.wim');
  await wimCapture(t1, wim, 'Windows 10 Pro', {
    description: 'first image',
    compress: 'LZX',
    properties: {
      'WINDOWS/ARCH': '9',
      'WINDOWS/EDITIONID': 'Professional',
      'WINDOWS/INSTALLATIONTYPE': 'Client',
      'WINDOWS/VERSION/MAJOR': '10',
      'WINDOWS/VERSION/MINOR': '0',
      'WINDOWS/VERSION/BUILD': '19044',
      'WINDOWS/LANGUAGES/LANGUAGE': 'en-US',
      'WINDOWS/LANGUAGES/LANGUAGE[2]': 'de-DE',
      'WINDOWS/LANGUAGES/DEFAULT': 'en-US',
    },
  });
  await wimCapture(t2, wim, 'Windows 11 Enterprise', {
    append: true,
    properties: {
      'WINDOWS/ARCH': '12',
      'WINDOWS/EDITIONID': 'Enterprise',
      'WINDOWS/VERSION/MAJOR': '10',
      'WINDOWS/VERSION/MINOR': '0',
      'WINDOWS/VERSION/BUILD': '22621',
      'WINDOWS/VERSION/SPBUILD': '2715',
      'WINDOWS/LANGUAGES/LANGUAGE': 'fr-FR',
      'WINDOWS/LANGUAGES/DEFAULT': 'fr-FR',
    },
  });
  return wim;
}
