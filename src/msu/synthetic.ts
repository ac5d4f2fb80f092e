import { createHash } from 'node:crypto';
import { catalogOf } from '../cbs/catalog-writer.js';
import { buildCabinet, type CabWriteFile } from '../cab/writer.js';

/**
 * A synthetic, cabinet-based MSU laid out like Microsoft's: a stored outer cabinet
 * holding the CBS payload cab (update.mum, package .mum/.cat pairs, component
 * manifests, binaries), an optional SSU cab, WSUSSCAN.cab, the UTF-16LE
 * pkgProperties.txt and the unattend .xml. Used by the demo, the tests and the
 * benchmarks; deterministic for the same options (no clock, no randomness).
 */
export interface SyntheticMsuOptions {
  kb: number;
  /** Target build, e.g. `10.0.19041`; the package version is `<build>.<ubr>`. */
  build: string;
  ubr: number;
  arch: 'amd64' | 'x86' | 'arm64';
  manifests: number;
  binaries: number;
  /** Bytes per binary (pseudo-random, incompressible). */
  binarySize: number;
  /** Compression of the payload cab's manifest folder. */
  compression: 'mszip' | 'none';
  ssu: boolean;
}

export const SAMPLE_OPTIONS: SyntheticMsuOptions = {
  kb: 5099999, build: '10.0.19041', ubr: 4170, arch: 'amd64', manifests: 40, binaries: 6, binarySize: 48 * 1024, compression: 'mszip', ssu: true,
};

const PKT = '31bf3856ad364e35';
const archTag = (a: string) => (a === 'amd64' ? 'x64' : a);

/** Deterministic incompressible bytes (SHA-256 in counter mode). */
export function pseudoRandom(seed: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (let i = 0; at < size; i++) {
    const block = createHash('sha256').update(`${seed}:${i}`).digest();
    out.set(block.subarray(0, Math.min(32, size - at)), at);
    at += 32;
  }
  return out;
}

function mum(name: string, version: string, arch: string, kb: string, releaseType: string, parent: string, extra = ''): string {
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">
  <assemblyIdentity name="${name}" version="${version}" processorArchitecture="${arch}" language="neutral" publicKeyToken="${PKT}"/>
  <package identifier="${kb}" releaseType="${releaseType}" restart="possible"${extra}>
    <parent buildCompare="EQ" serviceCompare="GE" revisionCompare="GE" integrate="separate" disposition="detect">
      <assemblyIdentity name="${parent}" version="${version.split('.').slice(0, 3).join('.')}.1" processorArchitecture="${arch}" language="neutral" publicKeyToken="${PKT}"/>
    </parent>
    <update name="${kb.slice(2)}-1_neutral_PACKAGE">
      <package integrate="hidden"><assemblyIdentity name="Package_1_for_${kb}" version="${version}" processorArchitecture="${arch}" language="neutral" publicKeyToken="${PKT}"/></package>
    </update>
  </package>
</assembly>
`;
}

function componentManifest(i: number, version: string, arch: string): { name: string; text: string } {
  const comp = `microsoft-windows-synthetic-component-${String(i).padStart(5, '0')}`;
  const text = `<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">
  <assemblyIdentity name="Microsoft-Windows-Synthetic-Component-${i}" version="${version}" processorArchitecture="${arch}" language="neutral" buildType="release" publicKeyToken="${PKT}" versionScope="nonSxS"/>
  <file name="synthetic${i}.dll" destinationPath="$(runtime.system32)\\" sourceName="synthetic${i}.dll" importPath="$(build.nttree)\\">
    <securityDescriptor name="WRP_FILE_DEFAULT_SDDL"/>
    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2" xmlns:dsig="http://www.w3.org/2000/09/xmldsig#"><dsig:Transforms><dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity"/></dsig:Transforms><dsig:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha256"/><dsig:DigestValue>${createHash('sha256').update(String(i)).digest('base64')}</dsig:DigestValue></asmv2:hash>
  </file>
  <registryKeys><registryKey keyName="HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Synthetic\\${i}"><registryValue name="Version" valueType="REG_SZ" value="${version}"/></registryKey></registryKeys>
</assembly>
`;
  return { name: `${arch}_${comp.length > 40 ? comp.slice(0, 19) + '..' + comp.slice(-19) : comp}_${PKT}_${version}_none_${createHash('sha1').update(comp).digest('hex').slice(0, 16)}.manifest`, text };
}

function utf16le(text: string): Uint8Array {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
}

/** The payload cab, the outer MSU, and the names used. */
export function buildSyntheticMsu(o: SyntheticMsuOptions): { msu: Uint8Array; payloadName: string; payload: Uint8Array } {
  const kb = `KB${o.kb}`;
  const version = `${o.build}.${o.ubr}`;
  const tag = archTag(o.arch);
  const payloadName = `Windows10.0-${kb}-${tag}.cab`;
  const updateMum = Buffer.from(mum('Package_for_RollupFix', version, o.arch, kb, 'Security Update', 'Microsoft-Windows-Foundation-Package'));
  const pkg1 = `Package_1_for_${kb}~${PKT}~${o.arch}~~${version}`;
  const pkg1Mum = Buffer.from(mum(`Package_1_for_${kb}`, version, o.arch, kb, 'Security Update', 'Microsoft-Windows-Foundation-Package'));
  const manifests = Array.from({ length: o.manifests }, (_, i) => componentManifest(i, version, o.arch));
  // real (unsigned) catalogs: update.cat lists the package manifest and every component manifest
  const listed: Record<string, Uint8Array> = { 'update.mum': updateMum };
  for (const m of manifests) listed[m.name] = Buffer.from(m.text);
  const meta: CabWriteFile[] = [
    { name: 'update.mum', data: updateMum },
    { name: 'update.cat', data: catalogOf(listed) },
    { name: `${pkg1}.mum`, data: pkg1Mum },
    { name: `${pkg1}.cat`, data: catalogOf({ [`${pkg1}.mum`]: pkg1Mum }) },
    ...manifests.map((m) => ({ name: m.name, data: Buffer.from(m.text) })),
  ];
  const bins: CabWriteFile[] = [];
  for (let i = 0; i < o.binaries; i++) {
    bins.push({ name: `${o.arch}_microsoft-windows-synthetic_${PKT}_${version}_none_${String(i).padStart(16, '0')}\\f\\synthetic${i}.dll`, data: pseudoRandom(`${kb}-bin-${i}`, o.binarySize) });
  }
  const payload = buildCabinet({
    folders: [{ compression: o.compression, files: meta }, ...(bins.length ? [{ compression: 'none' as const, files: bins }] : [])],
    reserve: { header: 20 },
  });
  const outer: CabWriteFile[] = [
    { name: 'WSUSSCAN.cab', data: buildCabinet({ folders: [{ compression: 'mszip', files: [{ name: 'package.xml', data: Buffer.from(`<Update KB="${o.kb}"/>`) }] }] }) },
    { name: payloadName, data: payload },
    { name: `Windows10.0-${kb}-${tag}-pkgProperties.txt`, data: utf16le([
      `ApplicabilityInfo="Windows 10.0"`, `Applies to="Windows 10"`, `Build Date="2026/11/10"`, `Company="Microsoft Corporation"`,
      `File Version="10.0.${o.build.split('.')[2]}.${o.ubr}"`, `Installation Type="FULL"`, `Installer Engine="Component Based Servicing"`,
      `KB Article Number="${o.kb}"`, `Language="ALL"`, `Package Type="Update"`, `Processor Architecture="${o.arch}"`, `Product Name="Windows 10"`,
      `Support Link="http://support.microsoft.com?kbid=${o.kb}"`,
    ].join('\r\n') + '\r\n') },
    { name: `Windows10.0-${kb}-${tag}.xml`, data: Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<unattend xmlns="urn:schemas-microsoft-com:unattend"><servicing><package action="install"><assemblyIdentity name="Package_for_RollupFix" version="${version}" language="neutral" processorArchitecture="${o.arch}" publicKeyToken="${PKT}"/><source location="%configsetroot%\\${payloadName}"/></package></servicing></unattend>\n`) },
  ];
  if (o.ssu) {
    const ssuVersion = `${o.build}.${o.ubr - 10}`;
    const ssuMum = Buffer.from(mum('Package_for_ServicingStack', ssuVersion, o.arch, `KB${o.kb - 1}`, 'Update', 'Microsoft-Windows-Foundation-Package', ' permanence="permanent"'));
    outer.unshift({
      name: `SSU-${o.build.split('.')[2]}.${o.ubr - 10}-${tag}.cab`,
      data: buildCabinet({ folders: [{ compression: 'mszip', files: [
        { name: 'update.mum', data: ssuMum },
        { name: 'update.cat', data: catalogOf({ 'update.mum': ssuMum }) },
      ] }] }),
    });
  }
  return { msu: buildCabinet({ folders: [{ compression: 'none', files: outer }] }), payloadName, payload };
}
