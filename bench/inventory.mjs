#!/usr/bin/env node
// Benchmark: `imageInventory` on a generated multi-GB-class WIM with 3 images.
// Run after `npm run build`:  node bench/inventory.mjs [--keep] [--big-mib N] [--compress none|XPRESS|LZX]
//
// What it measures
//   time  wall-clock of imageInventory(wim) for all 3 images (wimInfo + per image one
//         `wimlib-imagex extract` of *.mum/oem*.inf and one `wimlib-imagex dir` of the DriverStore).
//   bytes read  `rchar` from /proc: bytes returned by read()/pread(), page cache or not, so it
//         is what the code asked for, independent of caching. Linux adds a child's counters
//         to its parent's /proc/self/io when the parent reaps it, so the delta of
//         /proc/self/io covers every wimlib-imagex child plus this process's own reads. The
//         process's own reads are the sum of its threads' deltas (/proc/self/task/*/io: main
//         thread + libuv pool, warmed up first); the difference is what wimlib read, i.e. the
//         bytes of the WIM read. Both numbers are printed.
//         Checked by hand: spawning `cat FILE >/dev/null` moves /proc/self/io rchar by FILE's size.
// Target: bytes read < 2% of the WIM size, time < 3 s.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const { imageInventory } = await import(path.join(here, '..', 'dist', 'src', 'wim', 'index.js'));

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : dflt;
};
const KEEP = argv.includes('--keep');
const BIG_MIB = Number(opt('--big-mib', '256')); // per large file; 2 new large files per image
const COMPRESS = opt('--compress', 'XPRESS');
const PKT = '31bf3856ad364e35';

const parseIo = (text) => Object.fromEntries(text.trim().split('\n').map((l) => {
  const [k, v] = l.split(': ');
  return [k, Number(v)];
}));
const io = () => parseIo(readFileSync('/proc/self/io', 'utf8'));
/** rchar of each live thread of this process (main thread + libuv pool). */
const threadRchar = () => {
  const out = new Map();
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      out.set(tid, parseIo(readFileSync(`/proc/self/task/${tid}/io`, 'utf8')).rchar);
    } catch {
      // thread ended between readdir and read
    }
  }
  return out;
};

function wimlib(args) {
  const r = spawnSync('wimlib-imagex', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) throw new Error(`wimlib-imagex: ${r.error.message} (apt-get install wimtools)`);
  if (r.status !== 0) throw new Error(`wimlib-imagex ${args[0]} failed: ${r.stderr.toString().slice(-500)}`);
}

const mumXml = (name, version, lang = 'neutral') => `<?xml version="1.0" encoding="utf-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">
  <assemblyIdentity name="${name}" version="${version}" processorArchitecture="amd64" language="${lang}" publicKeyToken="${PKT}"/>
  <package identifier="${name}" releaseType="Update">
${Array.from({ length: 20 }, (_, i) => `    <update name="u${i}"><component><assemblyIdentity name="${name}-c${i}" version="${version}" processorArchitecture="amd64" language="neutral" publicKeyToken="${PKT}" versionScope="nonSxS"/></component></update>`).join('\n')}
  </package>
</assembly>
`;

function writeFile(p, data) {
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, data);
}

/** Base tree: ~1,500 package manifests + catalogs, 800 inbox INFs, 400 DriverStore packages, 24,000 small files. */
function baseTree(root) {
  const pk = path.join(root, 'Windows/servicing/Packages');
  writeFile(path.join(pk, `Microsoft-Windows-Foundation-Package~${PKT}~amd64~~10.0.19041.1.mum`), mumXml('Microsoft-Windows-Foundation-Package', '10.0.19041.1'));
  for (let i = 0; i < 1500; i++) {
    const name = `Microsoft-Windows-Feature${i}-Package`;
    const base = `${name}~${PKT}~amd64~~10.0.19041.${1000 + i}`;
    writeFile(path.join(pk, `${base}.mum`), mumXml(name, `10.0.19041.${1000 + i}`));
    writeFile(path.join(pk, `${base}.cat`), randomBytes(12 * 1024));
  }
  for (let i = 0; i < 800; i++) writeFile(path.join(root, 'Windows/INF', `inbox${i}.inf`), `[Version]\nProvider=%MSFT%\n${'; filler\n'.repeat(2000)}[Strings]\nMSFT="Microsoft"\n`);
  for (let i = 0; i < 5; i++) writeFile(path.join(root, 'Windows/INF', `oem${i}.inf`), `[Version]\nClass=Net\nProvider=%V%\nDriverVer=01/0${i + 1}/2024,1.0.0.${i}\n[Strings]\nV="Vendor ${i}"\n`);
  for (let i = 0; i < 400; i++) {
    const d = path.join(root, 'Windows/System32/DriverStore/FileRepository', `drv${i}.inf_amd64_${(0x1000000 + i).toString(16)}`);
    writeFile(path.join(d, `drv${i}.inf`), `[Version]\nClass=System\n`);
    writeFile(path.join(d, `drv${i}.sys`), randomBytes(32 * 1024));
    writeFile(path.join(d, `drv${i}.cat`), randomBytes(8 * 1024));
  }
  for (let i = 0; i < 24000; i++) {
    writeFile(path.join(root, 'Windows/WinSxS', `amd64_component${Math.floor(i / 20)}`, `f${i}.dll`), randomBytes(1024 + (i % 7) * 1024));
  }
}

function setImage(root, n) {
  rmSync(path.join(root, 'Windows/big'), { recursive: true, force: true });
  mkdirSync(path.join(root, 'Windows/big'), { recursive: true });
  const chunk = 16 * 1024 * 1024;
  for (let f = 0; f < 2; f++) {
    const p = path.join(root, 'Windows/big', `payload${n}-${f}.bin`);
    for (let off = 0; off < BIG_MIB * 1024 * 1024; off += chunk) writeFileSync(p, randomBytes(chunk), { flag: off === 0 ? 'w' : 'a' });
  }
  writeFile(path.join(root, 'Windows/servicing/Packages', `Package_for_RollupFix~${PKT}~amd64~~19041.${1200 + n * 100}.1.7.mum`), mumXml('Package_for_RollupFix', `19041.${1200 + n * 100}.1.7`));
}

const work = mkdtempSync(path.join(process.env.BENCH_DIR ?? os.tmpdir(), 'msu-bench-inv-'));
const tree = path.join(work, 'tree');
const wim = path.join(work, 'bench.wim');
try {
  const g0 = Date.now();
  baseTree(tree);
  for (let n = 1; n <= 3; n++) {
    setImage(tree, n);
    const props = ['--image-property', 'WINDOWS/ARCH=9', '--image-property', 'WINDOWS/EDITIONID=Edition' + n,
      '--image-property', 'WINDOWS/VERSION/MAJOR=10', '--image-property', 'WINDOWS/VERSION/MINOR=0', '--image-property', 'WINDOWS/VERSION/BUILD=19045'];
    wimlib([n === 1 ? 'capture' : 'append', tree, wim, `Image ${n}`, ...props, ...(n === 1 ? [`--compress=${COMPRESS}`] : [])]);
  }
  const genS = (Date.now() - g0) / 1000;
  const size = statSync(wim).size;

  // Warm the libuv pool so its threads exist (and are counted) before the measurement starts.
  await Promise.all(Array.from({ length: 8 }, () => import('node:fs/promises').then((f) => f.stat(wim))));
  const before = io();
  const threadsBefore = threadRchar();
  const t0 = process.hrtime.bigint();
  const inv = await imageInventory(wim);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const threadsAfter = threadRchar();
  const after = io();
  const rchar = after.rchar - before.rchar;
  // Process total = live threads' own reads + reaped children (+ threads that exited, none here).
  let own = 0;
  for (const [tid, v] of threadsAfter) own += v - (threadsBefore.get(tid) ?? 0);
  const wimRead = rchar - own;
  const pct = (100 * wimRead) / size;

  const imgs = inv.images.map((i) => `#${i.index} ${i.version} pkgs=${i.packages.length} drivers=${i.drivers.length} store=${i.driverStore.length}`);
  console.log(`inventory bench: WIM ${(size / 2 ** 30).toFixed(2)} GiB, 3 images, compression ${COMPRESS}, generated in ${genS.toFixed(0)} s`);
  console.log(`  ${imgs.join('\n  ')}`);
  console.log(`  time        ${(ms / 1000).toFixed(2)} s for all 3 images (target < 3 s)`);
  console.log(`  WIM bytes read by wimlib-imagex  ${(wimRead / 2 ** 20).toFixed(1)} MiB = ${pct.toFixed(2)}% of the image (target < 2%)`);
  console.log(`  all bytes read incl. our reads of the extracted .mum/.inf copies  ${(rchar / 2 ** 20).toFixed(1)} MiB = ${((100 * rchar) / size).toFixed(2)}%`);
  console.log(`  read calls  ${after.syscr - before.syscr}`);
  const ok = ms < 3000 && pct < 2 && inv.images.every((i) => i.packages.length === 1501 + i.index && i.version === `10.0.19045.${1200 + i.index * 100}` && i.drivers.length === 5 && i.driverStore.length === 400);
  console.log(ok ? '  PASS' : '  FAIL');
  process.exitCode = ok ? 0 : 1;
} finally {
  if (!KEEP) rmSync(work, { recursive: true, force: true });
  else console.log(`  kept ${work}`);
}
