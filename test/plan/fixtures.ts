import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { expectGolden as expectGoldenFile } from '../helpers/golden.js';
import os from 'node:os';
import path from 'node:path';
import { buildCabinet } from '../../src/cab/writer.js';
import { buildSyntheticMsu, SAMPLE_OPTIONS, type SyntheticMsuOptions } from '../../src/msu/synthetic.js';

/** Plan test inputs, built in code: small synthetic MSUs and bare CBS cabs. */

export const PKT = '31bf3856ad364e35';

/** A component manifest declaring one file by SHA-256, as Microsoft writes it. */
export function componentManifest(file: string, data: Uint8Array, o: { name?: string; version?: string } = {}): string {
  const h = createHash('sha256').update(data).digest('base64');
  return `<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="${o.name ?? 'X-Comp'}" version="${o.version ?? '10.0.19041.1'}" processorArchitecture="amd64" language="neutral" buildType="release" publicKeyToken="${PKT}" versionScope="nonSxS"/>
  <file name="${file}" destinationPath="$(runtime.system32)\\" sourceName="${file}">
    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2" xmlns:dsig="http://www.w3.org/2000/09/xmldsig#"><dsig:Transforms><dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity"/></dsig:Transforms><dsig:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha256"/><dsig:DigestValue>${h}</dsig:DigestValue></asmv2:hash>
  </file>
</assembly>
`;
}

/** Small synthetic MSU (same layout as the real ones, few manifests). */
export function msu(o: Partial<SyntheticMsuOptions>): Uint8Array {
  return buildSyntheticMsu({ ...SAMPLE_OPTIONS, manifests: 3, binaries: 1, binarySize: 256, ...o }).msu;
}

/**
 * A package .mum. `component`: the component its one update installs (default `NAME-main` at the
 * package's version); null for none.
 */
export function packageMum(o: { name: string; version: string; arch?: string; releaseType?: string; kb?: string; parent?: { name: string; version: string; build?: string; service?: string }; component?: { name: string; version: string } | null }): string {
  const arch = o.arch ?? 'amd64';
  const comp = o.component === undefined ? { name: `${o.name}-main`, version: o.version } : o.component;
  const parent = o.parent
    ? `<parent buildCompare="${o.parent.build ?? 'EQ'}" serviceCompare="${o.parent.service ?? 'GE'}" integrate="separate" disposition="detect"><assemblyIdentity name="${o.parent.name}" version="${o.parent.version}" processorArchitecture="${arch}" language="neutral" publicKeyToken="${PKT}"/></parent>`
    : '';
  return `<?xml version="1.0" encoding="utf-8"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="${o.name}" version="${o.version}" processorArchitecture="${arch}" language="neutral" publicKeyToken="${PKT}"/>
  <package identifier="${o.kb ?? 'KB5000001'}" releaseType="${o.releaseType ?? 'Update'}">${parent}
    ${comp ? `<update name="main"><component><assemblyIdentity name="${comp.name}" version="${comp.version}" processorArchitecture="${arch}" language="neutral" publicKeyToken="${PKT}" versionScope="nonSxS"/></component></update>` : ''}
  </package>
</assembly>
`;
}

/** A bare CBS cab: update.mum (+ a dummy catalog). */
export function bareCab(mumText: string | null, extra: Record<string, string> = {}): Uint8Array {
  const files = [
    ...(mumText === null ? [] : [{ name: 'update.mum', data: Buffer.from(mumText) }]),
    ...Object.entries(extra).map(([name, t]) => ({ name, data: Buffer.from(t) })),
  ];
  return buildCabinet({ folders: [{ compression: 'mszip', files }] });
}

export async function tempDir(prefix = 'msu-plan-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export async function writeFiles(dir: string, files: Record<string, Uint8Array | string>): Promise<void> {
  for (const [rel, data] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
    await writeFile(path.join(dir, rel), data);
  }
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Compare with a reviewed golden file (test/helpers/golden.ts says how to regenerate one; a missing one fails). */
export async function expectGolden(name: string, actual: string): Promise<void> {
  expectGoldenFile(name, actual);
}
