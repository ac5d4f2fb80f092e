// CBS parse + plan benchmark: an LCU-sized set (20,000 component manifests + a few .mum),
// parsed with parseComponentManifest/parseMum, then an LCU-sized synthetic MSU planned with
// buildPlan. Target: everything parsed and planned in < 5 s on 2 cores.
// Run after `npx tsc -p .`:  node bench/cbs.mjs [--manifests N]
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseComponentManifest } from '../dist/src/cbs/manifest.js';
import { parseMum } from '../dist/src/cbs/mum.js';
import { buildPlan } from '../dist/src/plan/plan.js';
import { buildSyntheticMsu, SAMPLE_OPTIONS } from '../dist/src/msu/synthetic.js';

const argN = process.argv.indexOf('--manifests');
const N = argN > 0 ? Number(process.argv[argN + 1]) : 20_000;
const PKT = '31bf3856ad364e35';
const VERSION = '10.0.26100.2894';
const b64 = (s) => createHash('sha256').update(s).digest('base64');

// Shaped like real LCU manifests: identity, several files with hashes, registry keys, a dependency.
function manifest(i) {
  const files = Array.from({ length: 1 + (i % 6) }, (_, k) => `  <file name="c${i}_${k}.dll" destinationPath="$(runtime.system32)\\" sourceName="c${i}_${k}.dll" importPath="$(build.nttree)\\">
    <securityDescriptor name="WRP_FILE_DEFAULT_SDDL"/>
    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2" xmlns:dsig="http://www.w3.org/2000/09/xmldsig#"><dsig:Transforms><dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity"/></dsig:Transforms><dsig:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha256"/><dsig:DigestValue>${b64(`${i}/${k}`)}</dsig:DigestValue></asmv2:hash>
  </file>`).join('\n');
  return `<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">
  <assemblyIdentity name="Microsoft-Windows-Component-${i}" version="${VERSION}" processorArchitecture="amd64" language="neutral" buildType="release" publicKeyToken="${PKT}" versionScope="nonSxS"/>
  <dependency discoverable="no" resourceType="Resources"><dependentAssembly><assemblyIdentity name="Microsoft-Windows-Component-${i}.Resources" version="${VERSION}" processorArchitecture="amd64" language="*" publicKeyToken="${PKT}"/></dependentAssembly></dependency>
${files}
  <registryKeys>
    <registryKey keyName="HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Component${i}"><registryValue name="Version" valueType="REG_SZ" value="${VERSION}"/><registryValue name="Enabled" valueType="REG_DWORD" value="0x00000001"/></registryKey>
  </registryKeys>
</assembly>
`;
}

function mum(name, i) {
  return `<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="${name}" version="${VERSION}" processorArchitecture="amd64" language="neutral" publicKeyToken="${PKT}"/>
  <package identifier="KB5099999" releaseType="Security Update" restart="possible">
    <parent buildCompare="EQ" serviceCompare="GE" revisionCompare="GE" integrate="separate" disposition="detect"><assemblyIdentity name="Microsoft-Windows-Foundation-Package" version="10.0.26100.1" processorArchitecture="amd64" language="neutral" publicKeyToken="${PKT}"/></parent>
${Array.from({ length: Math.ceil(N / 6) }, (_, k) => `    <update name="u${i}_${k}"><component><assemblyIdentity name="Microsoft-Windows-Component-${k * 6 + i}" version="${VERSION}" processorArchitecture="amd64" language="neutral" publicKeyToken="${PKT}" versionScope="nonSxS"/></component></update>`).join('\n')}
  </package>
</assembly>
`;
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

const manifests = Array.from({ length: N }, (_, i) => Buffer.from(manifest(i)));
const mums = ['Package_for_RollupFix', ...Array.from({ length: 5 }, (_, i) => `Package_${i + 1}_for_KB5099999`)].map((n, i) => Buffer.from(mum(n, i)));
const manifestBytes = manifests.reduce((n, b) => n + b.length, 0);
const mumBytes = mums.reduce((n, b) => n + b.length, 0);

let t0 = process.hrtime.bigint();
let files = 0;
for (let i = 0; i < manifests.length; i++) files += parseComponentManifest(manifests[i], `m${i}.manifest`).files.length;
const manifestMs = ms(t0);

t0 = process.hrtime.bigint();
let updates = 0;
for (let i = 0; i < mums.length; i++) updates += parseMum(mums[i], `p${i}.mum`).package.updates.length;
const mumMs = ms(t0);

// Plan an LCU-sized MSU (N manifests in its payload cab) plus an older one that it supersedes.
const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-bench-cbs-'));
let planMs, planBytes;
try {
  const big = buildSyntheticMsu({ ...SAMPLE_OPTIONS, build: '10.0.26100', ubr: 1700, manifests: N, binaries: 64, binarySize: 256 * 1024 }).msu;
  const old = buildSyntheticMsu({ ...SAMPLE_OPTIONS, build: '10.0.26100', ubr: 1500, kb: 5099000, manifests: 200, binaries: 4, binarySize: 1024 }).msu;
  writeFileSync(path.join(dir, 'lcu.msu'), big);
  writeFileSync(path.join(dir, 'old.msu'), old);
  planBytes = big.length + old.length;
  t0 = process.hrtime.bigint();
  const plan = await buildPlan({ inputs: ['lcu.msu', 'old.msu'], target: { build: '10.0.26100.1000', arch: 'amd64' }, cwd: dir });
  planMs = ms(t0);
  if (plan.images[0].steps.length !== 3 || plan.skipped.length !== 2) throw new Error('unexpected plan shape');
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const total = manifestMs + mumMs + planMs;
const r = {
  manifests: N,
  manifestFiles: files,
  manifestMB: +(manifestBytes / 1e6).toFixed(1),
  manifestParseMs: Math.round(manifestMs),
  manifestsPerSec: Math.round(N / (manifestMs / 1000)),
  manifestMBps: +(manifestBytes / 1e6 / (manifestMs / 1000)).toFixed(1),
  mums: mums.length,
  mumMB: +(mumBytes / 1e6).toFixed(2),
  mumUpdates: updates,
  mumParseMs: Math.round(mumMs),
  planInputMB: +(planBytes / 1e6).toFixed(1),
  planMs: Math.round(planMs),
  totalMs: Math.round(total),
  peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  targetMet: total < 5000,
};
console.log(JSON.stringify(r, null, 2));
