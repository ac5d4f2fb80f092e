// `msu verify` of the LCU-shaped MSU (bench/lib/lcu.mjs: a stored outer cabinet around a payload
// cabinet of 22,001 members in one 330 MB MSZIP folder, over verify's keep limit), beside the
// least a tool must do to check the same data: cabextract the payload cabinet out of the MSU,
// then `cabextract -t` it (every member decoded once, checksums checked). Build first (`npm run
// build`); needs cabextract. Round after round, interleaved, medians. `ROUNDS=n` (default 3).
// `BASELINE=/path/to/bin/msu.js` adds another build of msu (e.g. before a change) to each round,
// stopped after `BASELINE_TIMEOUT` seconds (default 120).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureLcuMsu } from './lib/lcu.mjs';
import { fmt } from './lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const out = path.join(here, 'out');
mkdirSync(out, { recursive: true });
const msuBin = path.join(root, 'bin', 'msu.js');
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const BASELINE = process.env.BASELINE;
const BASELINE_TIMEOUT = Number(process.env.BASELINE_TIMEOUT ?? 120);
const scratch = path.join(existsSync('/dev/shm') ? '/dev/shm' : out, 'msu-bench-verify');

const lcu = ensureLcuMsu(path.join(out, 'Windows10.0-KB5888888-x64.msu'));

/** Wall time, user+system CPU and peak RSS of one command (GNU time); `ok` lists the exit codes that are not a failure. */
function run(cmd, args, { ok = [0], timeout } = {}) {
  const t0 = process.hrtime.bigint();
  // timeout(1) inside GNU time, so that the stopped process is the tool itself, not its wrapper
  const argv = timeout ? ['timeout', '-s', 'KILL', String(timeout), cmd, ...args] : [cmd, ...args];
  const r = spawnSync('/usr/bin/time', ['-f', '@@%U %S %M', ...argv], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (timeout && r.status === 137) return { ms, cpuMs: NaN, rssMB: NaN, timedOut: true };
  if (!ok.includes(r.status)) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [u, s, rss] = /@@(\S+) (\S+) (\d+)/.exec(r.stderr).slice(1).map(Number);
  return { ms, cpuMs: (u + s) * 1000, rssMB: rss / 1024, stdout: r.stdout };
}

/** The floor for checking the payload: extract it from the MSU, then decode every member once (cabextract -t). */
function cabextractCheck() {
  rmSync(scratch, { recursive: true, force: true });
  const a = run('cabextract', ['-q', '-d', scratch, '-F', '*.cab', lcu]);
  const payload = path.join(scratch, path.basename(lcu).replace(/\.msu$/i, '.cab'));
  const b = run('cabextract', ['-q', '-t', payload]);
  rmSync(scratch, { recursive: true, force: true });
  return { ms: a.ms + b.ms, cpuMs: a.cpuMs + b.cpuMs, rssMB: Math.max(a.rssMB, b.rssMB) };
}

// verify exits 1 on a mismatch and 8 when something is not checked; the generated manifests
// declare random hashes, so both happen here by design
const VERIFY_EXITS = [0, 1, 8];
let counts;
const cases = [
  ['msu verify LCU', () => {
    const r = run('node', [msuBin, 'verify', '--json', lcu], { ok: VERIFY_EXITS });
    counts = JSON.parse(r.stdout).counts;
    return r;
  }],
  ['cabextract extract + -t LCU', cabextractCheck],
  ...(BASELINE ? [['baseline msu verify LCU', () => run('node', [BASELINE, 'verify', '--json', lcu], { ok: VERIFY_EXITS, timeout: BASELINE_TIMEOUT })]] : []),
];

const runs = new Map(cases.map(([k]) => [k, []]));
for (let i = 0; i < ROUNDS; i++) for (const [k, fn] of cases) runs.get(k).push(fn());

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (const [k, rs] of runs) {
  results[k] = { ms: median(rs.map((r) => r.ms)), cpuMs: median(rs.map((r) => r.cpuMs)), rssMB: median(rs.map((r) => r.rssMB)), timedOut: rs.filter((r) => r.timedOut).length };
}
const ours = results['msu verify LCU'], floor = results['cabextract extract + -t LCU'];
console.log(`msu verify of the LCU-shaped MSU (${ROUNDS} rounds, medians; checks: ${JSON.stringify(counts)})`);
for (const [k, r] of Object.entries(results)) {
  console.log(`  ${k.padEnd(30)} wall ${fmt(r.ms, 0).padStart(7)} ms   CPU ${fmt(r.cpuMs, 0).padStart(7)} ms   peak RSS ${fmt(r.rssMB, 0).padStart(5)} MB${r.timedOut ? `   (${r.timedOut} run(s) stopped after ${BASELINE_TIMEOUT} s)` : ''}`);
}
console.log(`  msu verify / cabextract check: wall ${fmt(ours.ms / floor.ms, 2)}x, CPU ${fmt(ours.cpuMs / floor.cpuMs, 2)}x`);
writeFileSync(path.join(out, 'verify-results.json'), JSON.stringify({ rounds: ROUNDS, counts, results }, null, 2));
