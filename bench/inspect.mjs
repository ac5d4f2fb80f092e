// Issue 14's speed targets, side by side in one run: `msu inspect` of the LCU-shaped MSU
// (22,001 members, one MSZIP folder) and of the 937 MiB MSU against what a user does without
// us (cabextract the MSU, then cabextract update.mum out of the payload), and `msu list` /
// `msu inspect` of 1-2 MB real packages against `node -e 0` (and, for a bare package cabinet,
// cabextract decoding the update.mum inspect reads). Build first (`npm run build`);
// needs cabextract. `--no-big` skips the 937 MiB MSU (generated once, about 1 GB in bench/out).
// The tools run interleaved, round after round, so all see the same machine load; medians.
// `--baseline DIR` also runs DIR/bin/msu.js (another built checkout, e.g. the commit before a
// change) in the same rounds, and prints its figures beside ours with the ratio.
// `--without-code-cache` also runs our msu lines with MSU_CODE_CACHE=off (src/cli/code-cache.ts).
// NODE_EXTRA_CA_CERTS is left out of every run's environment: Node.js 20 reads and parses the
// certificates it names at every start, which here made `node -e 0` 68 ms instead of 25 and hid
// our own start-up in the baseline (docs/performance.md). When it is set, `node -e 0` also runs
// with it, for the record. `--keep-env` runs everything in the environment as it is.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBigMsu, ensureLcuMsu } from './lib/lcu.mjs';
import { fmt, interleavedMedians } from './lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const out = path.join(here, 'out');
mkdirSync(out, { recursive: true });
/** The bin the msu cases run (swapped for the baseline's by withBin). */
const msuBinRef = { bin: path.join(root, 'bin', 'msu.js') };
const corpus = path.resolve(root, '../shared/corpus');
const ROUNDS = Number(process.env.ROUNDS ?? 7);
// cabextract's output goes to tmpfs where there is one: the pipeline then costs it no disk time
const scratch = path.join(existsSync('/dev/shm') ? '/dev/shm' : out, 'msu-bench-inspect');

const lcu = ensureLcuMsu(path.join(out, 'Windows10.0-KB5888888-x64.msu'));
const big = process.argv.includes('--no-big') ? null : ensureBigMsu(path.join(out, 'Windows10.0-KB5999999-x64.msu'));
const small = [
  path.join(corpus, 'msu/Windows6.1-KB2999226-x64.msu'),
  path.join(corpus, 'cab/fod/OpenSSH-Client-Package~31bf3856ad364e35~amd64~~.cab'),
].filter((f) => existsSync(f));
if (small.length === 0) console.error('../shared/corpus not found: the 1-2 MB package figures are skipped');

/** Extra environment of the msu runs (set by withEnv). */
const envRef = { env: {} };
const keepEnv = process.argv.includes('--keep-env');
const extraCaCerts = process.env.NODE_EXTRA_CA_CERTS;
const baseEnv = { ...process.env };
if (!keepEnv) delete baseEnv.NODE_EXTRA_CA_CERTS;

/** Wall time, user+system CPU and peak RSS of one command (GNU time). */
function run(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '@@%U %S %M', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...baseEnv, ...envRef.env } });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const [u, s, rss] = /@@(\S+) (\S+) (\d+)/.exec(r.stderr).slice(1).map(Number);
  return { ms, cpuMs: (u + s) * 1000, rssMB: rss / 1024 };
}

/** What a user does without msu: extract the MSU, then update.mum from the payload cabinet. */
function pipeline(msu) {
  rmSync(scratch, { recursive: true, force: true });
  const a = run('cabextract', ['-q', '-d', scratch, msu]);
  const payload = path.basename(msu).replace(/\.msu$/i, '.cab');
  const b = run('cabextract', ['-q', '-d', path.join(scratch, 'inner'), '-F', 'update.mum', path.join(scratch, payload)]);
  rmSync(scratch, { recursive: true, force: true });
  return { ms: a.ms + b.ms, cpuMs: a.cpuMs + b.cpuMs, rssMB: Math.max(a.rssMB, b.rssMB) };
}

const bi = process.argv.indexOf('--baseline');
const baseBin = bi > 0 ? path.join(path.resolve(process.argv[bi + 1]), 'bin', 'msu.js') : null;

const cases = [
  ['node -e 0', () => run('node', ['-e', '0'])],
  ['msu --version', () => run('node', [msuBinRef.bin, '--version'])],
  ['msu inspect LCU', () => run('node', [msuBinRef.bin, 'inspect', '--json', lcu])],
  ['cabextract pipeline LCU', () => pipeline(lcu)],
  ...(big ? [['msu inspect 937', () => run('node', [msuBinRef.bin, 'inspect', '--json', big])], ['cabextract pipeline 937', () => pipeline(big)]] : []),
  ...small.flatMap((f) => [
    [`msu list ${path.basename(f)}`, () => run('node', [msuBinRef.bin, 'list', f])],
    [`msu inspect ${path.basename(f)}`, () => run('node', [msuBinRef.bin, 'inspect', f])],
    [`cabextract -l ${path.basename(f)}`, () => run('cabextract', ['-l', f])],
    // a bare package cabinet: cabextract decoding the member `msu inspect` reads (the decode a native tool needs)
    ...(/\.cab$/i.test(f) ? [[`cabextract -p update.mum ${path.basename(f)}`, () => run('cabextract', ['-q', '-p', '-F', 'update.mum', f])]] : []),
  ]),
];
const caCertsCase = extraCaCerts && !keepEnv ? 'node -e 0 (with NODE_EXTRA_CA_CERTS)' : null;
if (caCertsCase) cases.push([caCertsCase, () => withEnv({ NODE_EXTRA_CA_CERTS: extraCaCerts }, () => run('node', ['-e', '0']))]);
if (baseBin) {
  // the same msu command lines with the baseline's bin
  for (const [k, fn] of [...cases]) {
    if (!k.startsWith('msu ')) continue;
    cases.push([`${k} (baseline)`, () => withBin(baseBin, fn)]);
  }
}
const withoutCache = process.argv.includes('--without-code-cache');
if (withoutCache) {
  for (const [k, fn] of [...cases]) {
    if (!k.startsWith('msu ') || k.endsWith(' (baseline)')) continue;
    cases.push([`${k} (no code cache)`, () => withEnv({ MSU_CODE_CACHE: 'off' }, fn)]);
  }
}
/** Runs fn with ref[key] set to value, then puts the old value back. */
function withSet(ref, key, value, fn) {
  const saved = ref[key];
  ref[key] = value;
  try {
    return fn();
  } finally {
    ref[key] = saved;
  }
}
const withEnv = (env, fn) => withSet(envRef, 'env', env, fn);
const withBin = (bin, fn) => withSet(msuBinRef, 'bin', bin, fn);
const m = interleavedMedians(cases, ROUNDS);

const line = (k, extra = '') => console.log(`  ${k.padEnd(58)} ${fmt(m[k].ms, 0).padStart(6)} ms wall ${fmt(m[k].cpuMs, 0).padStart(6)} ms CPU ${fmt(m[k].rssMB, 0).padStart(4)} MB${extra}`);
const node0 = m['node -e 0'];
const vsNode = (k) => `   ${fmt(m[k].ms / node0.ms, 2)}x node -e 0 (CPU ${fmt(m[k].cpuMs / node0.cpuMs, 2)}x)`;
console.log(`medians of ${ROUNDS} interleaved rounds; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log(keepEnv ? 'environment as it is (--keep-env)' : `environment without NODE_EXTRA_CA_CERTS${extraCaCerts ? ' (set here: see the second line)' : ''}`);
line('node -e 0');
if (caCertsCase) line(caCertsCase, `   +${fmt(m[caCertsCase].ms - node0.ms, 0)} ms for every Node.js start`);
line('msu --version', vsNode('msu --version'));
console.log('LCU-shaped MSU (22,001 members, one MSZIP folder); targets <= 0.2 s wall with node start, >= 2x the pipeline:');
line('msu inspect LCU', vsNode('msu inspect LCU'));
line('cabextract pipeline LCU', `   msu is ${fmt(m['cabextract pipeline LCU'].ms / m['msu inspect LCU'].ms, 1)}x faster (CPU ${fmt(m['cabextract pipeline LCU'].cpuMs / m['msu inspect LCU'].cpuMs, 1)}x)`);
if (big) {
  console.log('937 MiB MSU (20,001 members); target >= 5x the pipeline:');
  line('msu inspect 937', vsNode('msu inspect 937'));
  line('cabextract pipeline 937', `   msu is ${fmt(m['cabextract pipeline 937'].ms / m['msu inspect 937'].ms, 1)}x faster (CPU ${fmt(m['cabextract pipeline 937'].cpuMs / m['msu inspect 937'].cpuMs, 1)}x)`);
}
if (small.length) console.log('1-2 MB real packages; target within 1.5x of node -e 0:');
for (const f of small) {
  for (const k of [`msu list ${path.basename(f)}`, `msu inspect ${path.basename(f)}`, `cabextract -l ${path.basename(f)}`]) line(k, k.startsWith('msu') ? vsNode(k) : '');
  const native = `cabextract -p update.mum ${path.basename(f)}`;
  if (m[native]) line(native, `   msu inspect takes ${fmt(m[`msu inspect ${path.basename(f)}`].ms - node0.ms, 0)} ms after node's start`);
}
if (baseBin) {
  console.log(`baseline ${process.argv[bi + 1]} (same rounds):`);
  for (const k of Object.keys(m).filter((x) => x.endsWith(' (baseline)'))) {
    const ours = k.slice(0, -' (baseline)'.length);
    line(k, `   ours is ${fmt(m[k].ms / m[ours].ms, 2)}x faster (CPU ${fmt(m[k].cpuMs / m[ours].cpuMs, 2)}x)`);
  }
}
if (withoutCache) {
  console.log('with MSU_CODE_CACHE=off (same rounds):');
  for (const k of Object.keys(m).filter((x) => x.endsWith(' (no code cache)'))) {
    const ours = k.slice(0, -' (no code cache)'.length);
    line(k, `   the cache saves ${fmt(m[k].ms - m[ours].ms, 1)} ms (${fmt(m[k].ms / m[ours].ms, 2)}x)`);
  }
}
writeFileSync(path.join(out, 'inspect-results.json'), JSON.stringify({ rounds: ROUNDS, keepEnv, results: m }, null, 2));
