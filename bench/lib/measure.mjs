// Run a command and report wall time and peak RSS (via GNU time when present).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

export function measure(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = GNU_TIME
    ? spawnSync(GNU_TIME, ['-f', '@@RSS %M @@CPU %U %S', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 30, ...opts })
    : spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, ...opts });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  const m = /@@RSS (\d+)/.exec(r.stderr ?? '');
  const c = /@@CPU ([\d.]+) ([\d.]+)/.exec(r.stderr ?? '');
  return { ms, rssMB: m ? Number(m[1]) / 1024 : null, cpuS: c ? Number(c[1]) + Number(c[2]) : null, stdout: r.stdout };
}

/** Median of n runs (first run warms the page cache). */
export function best(n, fn) {
  const runs = [];
  for (let i = 0; i < n; i++) runs.push(fn());
  runs.sort((a, b) => a.ms - b.ms);
  return runs[Math.floor(runs.length / 2)];
}

export const fmt = (x, d = 1) => (x === null || x === undefined ? 'n/a' : x.toFixed(d));

/**
 * Run `cases` ([name, fn] pairs, fn returning { ms, cpuMs, rssMB }) once to warm the page cache,
 * then `rounds` times interleaved, so all see the same machine load; the median of each field.
 */
export function interleavedMedians(cases, rounds) {
  const runs = new Map(cases.map(([k]) => [k, []]));
  for (const [, fn] of cases) fn();
  for (let i = 0; i < rounds; i++) for (const [k, fn] of cases) runs.get(k).push(fn());
  const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return Object.fromEntries([...runs].map(([k, rs]) => [k, { ms: med(rs.map((r) => r.ms)), cpuMs: med(rs.map((r) => r.cpuMs)), rssMB: med(rs.map((r) => r.rssMB)) }]));
}
