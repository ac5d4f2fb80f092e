// `msu inspect` of WIM-based MSUs (Windows 11 24H2 LCUs) against what a user does without us:
// wimlib-imagex extracts the payload .wim out of the MSU, then update.mum out of the payload.
// Three payloads of the same files (4,000 manifests, update.mum, 256 MiB of incompressible
// data): stored, LZX, and solid LZMS (as in an ESD); each MSU is generated once into bench/out
// (needs wimlib-imagex; the solid one takes a while). Build first (`npm run build`).
// `--baseline DIR` also runs DIR/bin/msu.js in the same rounds (e.g. the commit before a change).
// The tools run interleaved, round after round; medians.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifest, updateMum } from './lib/lcu.mjs';
import { fmt, interleavedMedians, measure } from './lib/measure.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const out = path.join(here, 'out');
mkdirSync(out, { recursive: true });
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const scratch = path.join(existsSync('/dev/shm') ? '/dev/shm' : out, 'msu-bench-wim-msu');
const KB = 'KB5077777';
const PAYLOAD = `Windows11.0-${KB}-x64.wim`;

function wimlib(args) {
  const r = spawnSync('wimlib-imagex', args, { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`wimlib-imagex ${args.join(' ')} failed: ${r.stderr}`);
}

/** The MSU for one payload kind, generated once. */
function ensureMsu(kind) {
  const file = path.join(out, `Windows11.0-${KB}-x64-${kind}.msu`);
  if (existsSync(file)) return file;
  const work = path.join(out, `wim-msu-${kind}`);
  rmSync(work, { recursive: true, force: true });
  const tree = path.join(work, 'payload');
  mkdirSync(tree, { recursive: true });
  writeFileSync(path.join(tree, 'update.mum'), updateMum(KB));
  for (let i = 0; i < 4000; i++) writeFileSync(path.join(tree, `amd64_component-${i}.manifest`), manifest(i));
  for (let i = 0; i < 4; i++) writeFileSync(path.join(tree, `blob${i}.bin`), randomBytes(64 << 20));
  const outer = path.join(work, 'outer');
  mkdirSync(outer);
  wimlib(['capture', tree, path.join(outer, PAYLOAD), 'payload', ...(kind === 'solid' ? ['--solid'] : [`--compress=${kind}`])]);
  writeFileSync(path.join(outer, `Windows11.0-${KB}-x64.psf`), randomBytes(1 << 20));
  wimlib(['capture', outer, `${file}.tmp`, 'content', '--compress=none']);
  rmSync(work, { recursive: true, force: true });
  renameSync(`${file}.tmp`, file);
  return file;
}

/** Wall time, user+system CPU and peak RSS of one command. */
function run(cmd, args) {
  const r = measure(cmd, args);
  return { ms: r.ms, cpuMs: (r.cpuS ?? 0) * 1000, rssMB: r.rssMB ?? 0 };
}

/** Without msu: the payload out of the MSU, then update.mum out of the payload. */
function pipeline(msu) {
  rmSync(scratch, { recursive: true, force: true });
  const a = run('wimlib-imagex', ['extract', msu, '1', `/${PAYLOAD}`, `--dest-dir=${scratch}`, '--no-acls']);
  const b = run('wimlib-imagex', ['extract', path.join(scratch, PAYLOAD), '1', '/update.mum', '--to-stdout']);
  rmSync(scratch, { recursive: true, force: true });
  return { ms: a.ms + b.ms, cpuMs: a.cpuMs + b.cpuMs, rssMB: Math.max(a.rssMB, b.rssMB) };
}

const bi = process.argv.indexOf('--baseline');
const baseBin = bi > 0 ? path.join(path.resolve(process.argv[bi + 1]), 'bin', 'msu.js') : null;
const ours = path.join(root, 'bin', 'msu.js');
const kinds = ['none', 'LZX', 'solid'];
const msus = Object.fromEntries(kinds.map((k) => [k, ensureMsu(k)]));
const cases = kinds.flatMap((k) => [
  [`msu inspect (${k})`, () => run('node', [ours, 'inspect', '--json', msus[k]])],
  [`wimlib pipeline (${k})`, () => pipeline(msus[k])],
  ...(baseBin ? [[`msu inspect (${k}) baseline`, () => run('node', [baseBin, 'inspect', '--json', msus[k]])]] : []),
]);
const m = interleavedMedians(cases, ROUNDS);
const line = (k, extra = '') => console.log(`  ${k.padEnd(34)} ${fmt(m[k].ms, 0).padStart(6)} ms wall ${fmt(m[k].cpuMs, 0).padStart(6)} ms CPU ${fmt(m[k].rssMB, 0).padStart(4)} MB${extra}`);
console.log(`medians of ${ROUNDS} interleaved rounds; load average ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
for (const k of kinds) {
  const size = (await import('node:fs')).statSync(msus[k]).size;
  console.log(`WIM-based MSU, payload ${k} (${fmt(size / 2 ** 20, 0)} MiB):`);
  const o = m[`msu inspect (${k})`];
  line(`msu inspect (${k})`);
  line(`wimlib pipeline (${k})`, `   msu is ${fmt(m[`wimlib pipeline (${k})`].ms / o.ms, 1)}x faster`);
  if (baseBin) line(`msu inspect (${k}) baseline`, `   ours is ${fmt(m[`msu inspect (${k}) baseline`].ms / o.ms, 1)}x faster`);
}
writeFileSync(path.join(out, 'wim-msu-results.json'), JSON.stringify({ rounds: ROUNDS, results: m }, null, 2));
