// Generated MSU inputs for the inspect benchmarks, written with the project's CAB writer
// (build first: it imports dist/). Each is generated once and cached in bench/out.
import { existsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { buildCabinet } from '../../dist/src/cab/writer.js';

export const PKT = '31bf3856ad364e35';

/** A component manifest of about 1.6 KB: identity, eight files with SHA-256 hashes. */
export function manifest(i) {
  return Buffer.from(`<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="Microsoft-Windows-Component-${i}" version="10.0.26100.2894" processorArchitecture="amd64" language="neutral" buildType="release" publicKeyToken="${PKT}" versionScope="nonSxS"/>
${Array.from({ length: 8 }, (_, k) => `  <file name="c${i}_${k}.dll" destinationPath="$(runtime.system32)\\" sourceName="c${i}_${k}.dll"><asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2"><dsig:DigestValue xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">${randomBytes(32).toString('base64')}</dsig:DigestValue></asmv2:hash></file>`).join('\n')}
</assembly>
`);
}

export function updateMum(kb) {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0"><assemblyIdentity name="Package_for_RollupFix" version="26100.2894.1.5" processorArchitecture="amd64" language="neutral" publicKeyToken="${PKT}"/><package identifier="${kb}" releaseType="Security Update" restart="possible"><parent buildCompare="EQ" serviceCompare="GE" revisionCompare="GE" integrate="separate" disposition="detect"><assemblyIdentity name="Microsoft-Windows-Foundation-Package" version="10.0.26100.1" processorArchitecture="amd64" language="neutral" publicKeyToken="${PKT}"/></parent></package></assembly>`);
}

const componentDir = (i) => `amd64_microsoft-windows-component-${i}_${PKT}_10.0.26100.2894_none_${i.toString(16).padStart(16, '0')}`;

/** Stored outer cabinet around the payload cab, a WSUSSCAN.cab and pkgProperties, as a real MSU. */
function bundle(kb, payload) {
  return buildCabinet({ folders: [{ compression: 'none', files: [
    { name: 'WSUSSCAN.cab', data: buildCabinet({ folders: [{ compression: 'mszip', files: [{ name: 'package.xml', data: randomBytes(200_000) }] }] }) },
    { name: `Windows10.0-${kb}-x64.cab`, data: payload },
    { name: `Windows10.0-${kb}-x64-pkgProperties.txt`, data: Buffer.from(`\ufeffKB Article Number="${kb.slice(2)}"\r\n`, 'utf16le') },
  ] }] });
}

/**
 * The LCU-shaped MSU of issue 14: about 320 MB, a payload cab of 22,001 members in one MSZIP
 * folder (update.mum first, 21,000 manifests, 1,000 incompressible 300 KB binaries in
 * component subdirectories).
 */
export function ensureLcuMsu(file) {
  if (existsSync(file)) return file;
  console.error(`generating ${file} (once; cached)...`);
  const files = [{ name: 'update.mum', data: updateMum('KB5888888') }];
  for (let i = 0; i < 21_000; i++) files.push({ name: `${componentDir(i)}.manifest`, data: manifest(i) });
  for (let i = 0; i < 1_000; i++) files.push({ name: `${componentDir(i)}\\f\\c${i}.dll`, data: randomBytes(300 * 1024) });
  writeFileSync(file, bundle('KB5888888', buildCabinet({ folders: [{ compression: 'mszip', files }], reserve: { header: 20 } })));
  return file;
}

/**
 * The 937 MiB MSU of issue 2: a payload cab with 20,001 members (update.mum and 19,000
 * manifests in three MSZIP folders of up to 8,000 files, as makecab splits them; 1,000
 * binaries of 950 KiB in two stored folders).
 */
export function ensureBigMsu(file) {
  if (existsSync(file)) return file;
  console.error(`generating ${file} (once; cached)...`);
  const manifests = [{ name: 'update.mum', data: updateMum('KB5999999') }];
  for (let i = 0; i < 19_000; i++) manifests.push({ name: `${componentDir(i)}.manifest`, data: manifest(i) });
  const folders = [];
  for (let i = 0; i < manifests.length; i += 8000) folders.push({ compression: 'mszip', files: manifests.slice(i, i + 8000) });
  const bins = [];
  for (let i = 0; i < 1000; i++) bins.push({ name: `${componentDir(i)}\\f\\c${i}.dll`, data: randomBytes(950 * 1024) });
  folders.push({ compression: 'none', files: bins.slice(0, 500) }, { compression: 'none', files: bins.slice(500) });
  writeFileSync(file, bundle('KB5999999', buildCabinet({ folders, reserve: { header: 20 } })));
  return file;
}
