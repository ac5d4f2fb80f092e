// Delta engine benchmark: PseudoLzx decode throughput (MB of output per second) on the real RAW
// deltas and DCM manifests in ../shared/corpus, beside our own LZX decoder's throughput on the real
// LZX:21 cabinet of the corpus (Windows binaries and manifests, the same kind of content), and the
// peak RSS of the delta runs. Run `npm run -s build; node bench/delta.mjs`.
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyDelta } from '../dist/src/delta/index.js';
import { Cabinet } from '../dist/src/cab/cabinet.js';
import { decodeFolder } from '../dist/src/cab/folder.js';
import { fmt } from './lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const corpus = path.resolve(here, '../../shared/corpus');
if (!existsSync(corpus)) {
  console.error(`${corpus} not found: the delta benchmark needs the shared corpus`);
  process.exit(2);
}
const D = (...p) => readFileSync(path.join(corpus, 'deltas', ...p));

const cases = [
  ['cmd -> where', D('cmd__to__where__raw.pa30'), D('sources', 'cmd.exe')],
  ['cmd -> notepad', D('cmd__to__notepad__raw.pa30'), D('sources', 'cmd.exe')],
  ['advapi32 old -> new', D('advapi32_raw.pa30'), D('sources', 'advapi32_old.dll')],
];
const base = readFileSync(path.join(corpus, 'manifests', 'base_manifest.bin'));
const manifests = readdirSync(path.join(corpus, 'manifests'))
  .filter((f) => f.endsWith('.manifest'))
  .map((f) => readFileSync(path.join(corpus, 'manifests', f)));
cases.push(['6 DCM manifests', manifests, base]);

const now = () => Number(process.hrtime.bigint()) / 1e6;

/** Median MB/s over `runs` timed rounds of `rounds` decodes each (after one warm-up round). */
function throughput(fn, runs = 7, rounds = 10) {
  fn();
  const rates = [];
  for (let r = 0; r < runs; r++) {
    let bytes = 0;
    const t0 = now();
    for (let i = 0; i < rounds; i++) bytes += fn();
    rates.push(bytes / 2 ** 20 / ((now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}

// Per-case throughput, for the table.
const rows = [];
for (const [label, delta, source] of cases) {
  const list = Array.isArray(delta) ? delta : [delta];
  const run = () => list.reduce((n, d) => n + applyDelta(d, source, { checkHash: false }).target.length, 0);
  const out = run();
  rows.push({ label, outKB: out / 1024, deltaKB: list.reduce((n, d) => n + d.length, 0) / 1024, mbps: throughput(run) });
}
const deltaRssMB = process.resourceUsage().maxRSS / 1024;

// The ratio: PseudoLzx rounds (every case once) and LZX rounds (every folder of the corpus cabinet)
// alternate, so both see the same machine load (this VM is shared); the median of the per-pair ratios.
const cab = await Cabinet.openFile(path.join(corpus, 'cab', 'Windows6.1-KB2883457-amd64.cab'));
const deltaRound = () => {
  let bytes = 0;
  const t0 = now();
  for (let i = 0; i < 5; i++) {
    for (const [, delta, source] of cases) {
      for (const d of Array.isArray(delta) ? delta : [delta]) bytes += applyDelta(d, source, { checkHash: false }).target.length;
    }
  }
  return bytes / 2 ** 20 / ((now() - t0) / 1000);
};
const lzxRound = async () => {
  let bytes = 0;
  const t0 = now();
  for (const f of cab.folders) bytes += await decodeFolder(f, () => {});
  return bytes / 2 ** 20 / ((now() - t0) / 1000);
};
deltaRound();
await lzxRound();
const pairs = [];
for (let i = 0; i < 9; i++) {
  const p = deltaRound();
  const l = await lzxRound();
  pairs.push({ p, l, ratio: p / l });
}
await cab.close();
const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

console.log('PseudoLzx decode (applyDelta, hash check off), median of 7 x 10 rounds:');
for (const r of rows) {
  console.log(`  ${r.label.padEnd(22)} ${fmt(r.deltaKB, 1).padStart(7)} KiB delta -> ${fmt(r.outKB, 1).padStart(7)} KiB   ${fmt(r.mbps, 0).padStart(5)} MB/s`);
}
console.log(`  peak RSS of the delta runs: ${fmt(deltaRssMB, 0)} MB`);
console.log(`alternating rounds (9 pairs): PseudoLzx, all cases ${fmt(med(pairs.map((x) => x.p)), 0)} MB/s; LZX:21 decoder on the corpus cabinet ${fmt(med(pairs.map((x) => x.l)), 0)} MB/s`);
console.log(`ratio PseudoLzx / LZX: median ${fmt(med(pairs.map((x) => x.ratio)), 2)}x, range ${fmt(Math.min(...pairs.map((x) => x.ratio)), 2)}-${fmt(Math.max(...pairs.map((x) => x.ratio)), 2)}x (target >= 0.5x)`);
