/**
 * `msu vm run` as a person runs it: the built CLI in a child process, in its own process group
 * like a terminal's foreground job, with the boot-sector guest under TCG. Ctrl-C is SIGINT to
 * that whole group; QEMU, in a group of its own, must only hear about it from msu.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatGuestLine, type GuestEvent } from '../../src/vm/protocol.js';
import type { RunEvent, RunResult } from '../../src/vm/runner.js';
import { bootDisk, simpleBootSector, type GuestEnd } from '../helpers/bootsector.js';
import { ensureBuilt, msuBin } from '../helpers/built-cli.js';
import { runCli } from '../helpers/cli.js';
import { Terminal, TermStream } from '../helpers/terminal.js';
import { main } from '../../src/cli/main.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { PLAN_FILE } from './plans.js';

const hasQemu = hasTool('qemu-system-x86_64') && hasTool('qemu-img');
if (!hasQemu) skipNote('msu vm run child-process tests', 'qemu-system-x86_64 / qemu-img');

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-cli-run-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
beforeAll(() => {
  if (hasQemu) ensureBuilt();
}, 180_000);

const line = (e: GuestEvent) => formatGuestLine(e).replace(/\r\n$/, '');
let n = 0;

/** A spec file for a boot-sector guest; generous spec deadlines unless `timeouts` says otherwise. */
function job(lines: string[], end: GuestEnd, timeouts: object = {}): { dir: string; spec: string; runDir: string } {
  const dir = path.join(root, `j${n++}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'boot.img'), bootDisk(simpleBootSector(lines, end)));
  const spec = {
    id: `job${n}`,
    vm: { accel: 'tcg', firmware: { type: 'seabios' }, cpus: 1, memMiB: 32, disks: [{ role: 'system', path: 'boot.img', format: 'raw' }] },
    timeouts: { bootSec: 60, heartbeatSec: 60, perBootSec: 120, totalSec: 180, tcgFactor: 1, graceSec: 30, ...timeouts },
  };
  writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(spec));
  return { dir, spec: path.join(dir, 'spec.json'), runDir: path.join(dir, 'run') };
}

interface Child {
  pid: number;
  stdout: () => string;
  /** Events from --json-events (stderr lines that are JSON). */
  events: RunEvent[];
  /** Resolves once an event matching `pred` arrived. */
  waitFor(pred: (e: RunEvent) => boolean, ms?: number): Promise<RunEvent>;
  exit: Promise<{ code: number | null; signal: string | null; at: number }>;
  stdoutAt: (text: string) => number | undefined;
}

function msu(args: string[], cwd: string): Child {
  const c = spawn(process.execPath, [msuBin, ...args], { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const events: RunEvent[] = [];
  const seen: Array<{ text: string; at: number }> = [];
  const waiters: Array<{ pred: (e: RunEvent) => boolean; resolve: (e: RunEvent) => void }> = [];
  c.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    seen.push({ text: out, at: Date.now() });
  });
  c.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    const lines = err.split('\n');
    err = lines.pop()!;
    for (const l of lines) {
      if (!l.startsWith('{')) continue;
      const e = JSON.parse(l) as RunEvent;
      events.push(e);
      for (const w of waiters.filter((w) => w.pred(e))) w.resolve(e);
    }
  });
  const exit = new Promise<{ code: number | null; signal: string | null; at: number }>((r) => c.on('exit', (code, signal) => r({ code, signal, at: Date.now() })));
  return {
    pid: c.pid!,
    stdout: () => out,
    events,
    waitFor: (pred, ms = 30_000) =>
      new Promise<RunEvent>((resolve, reject) => {
        const hit = events.find(pred);
        if (hit) return resolve(hit);
        const t = setTimeout(() => reject(new Error(`no such event within ${ms} ms; got ${events.map((e) => e.type).join(', ')}`)), ms);
        waiters.push({ pred, resolve: (e) => (clearTimeout(t), resolve(e)) });
      }),
    exit,
    stdoutAt: (text) => seen.find((s) => s.text.includes(text))?.at,
  };
}

function gone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Never leave a QEMU behind, whatever the test did. */
function reap(pids: number[]): void {
  for (const p of pids) if (!gone(p)) process.kill(p, 'SIGKILL');
}

const qemuPid = (c: Child) => (c.events.find((e) => e.type === 'qemu-start') as Extract<RunEvent, { type: 'qemu-start' }> | undefined)?.pid ?? undefined;

describe.skipIf(!hasQemu)('msu vm run in a child process', () => {
  it('Ctrl-C: QEMU is quit over QMP, result.json says aborted, exit 130; run report and plan diff read the run directory', { timeout: 60_000 }, async () => {
    const j = job([line({ type: 'boot', n: 1 }), line({ type: 'step', id: 'wu', name: 'Install', state: 'running' })], 'hang');
    const c = msu(['vm', 'run', j.spec, '--run-dir', j.runDir, '--json-events'], j.dir);
    try {
      await c.waitFor((e) => e.type === 'guest' && e.event.type === 'step');
      const qemu = qemuPid(c)!;
      const sentAt = Date.now();
      process.kill(-c.pid, 'SIGINT'); // the terminal's Ctrl-C: the whole foreground process group
      const x = await c.exit;
      expect(x).toMatchObject({ code: 130, signal: null });
      // no waiting for the spec's 30 s grace: QEMU is quit, not powered down
      expect(x.at - sentAt).toBeLessThan(8000);
      expect(gone(qemu)).toBe(true);
      const result = JSON.parse(readFileSync(path.join(j.runDir, 'result.json'), 'utf8')) as RunResult;
      expect(result).toMatchObject({ ok: false, starts: 1, boots: 1, failure: { code: 'aborted', message: 'the run was cancelled (SIGINT)' }, lastStep: { id: 'wu', state: 'running' } });
      expect(result.screendumps).toEqual(['screendumps/01-aborted.png']);
      // QEMU did not die from the terminal's SIGINT: it was asked to quit and exited normally
      expect(c.events.find((e) => e.type === 'qemu-exit')).toMatchObject({ exitCode: 0, signal: null });
      expect(c.events.find((e) => e.type === 'abort')).toMatchObject({ hard: false, reason: 'SIGINT' });
      expect(readFileSync(path.join(j.runDir, 'qmp.log'), 'utf8')).toContain('> {"execute":"quit"');
      expect(existsSync(path.join(j.runDir, 'events.jsonl'))).toBe(true);

      const report = await runCli('run', 'report', j.runDir, '--json');
      expect(report.code).toBe(7);
      expect(JSON.parse(report.stdout)).toMatchObject({ id: result.id, ok: false, failure: { code: 'aborted' } });
      const diff = await runCli('plan', 'diff', PLAN_FILE, j.runDir);
      expect(diff.stderr).toBe('');
      expect(diff.code).toBe(1); // the plan's packages were never installed by this run
    } finally {
      reap([c.pid, qemuPid(c) ?? -1].filter((p) => p > 0));
    }
  });

  it('a second Ctrl-C ends it at once: still aborted, still exit 130, QEMU gone', { timeout: 60_000 }, async () => {
    const j = job([line({ type: 'boot', n: 1 })], 'hang');
    const c = msu(['vm', 'run', j.spec, '--run-dir', j.runDir, '--json-events'], j.dir);
    try {
      await c.waitFor((e) => e.type === 'guest');
      const qemu = qemuPid(c)!;
      process.kill(-c.pid, 'SIGINT');
      await c.waitFor((e) => e.type === 'abort');
      process.kill(-c.pid, 'SIGINT');
      const x = await c.exit;
      expect(x.code).toBe(130);
      expect(gone(qemu)).toBe(true);
      expect(c.events.filter((e) => e.type === 'abort').map((e) => (e as { hard: boolean }).hard)).toEqual([false, true]);
      expect(JSON.parse(readFileSync(path.join(j.runDir, 'result.json'), 'utf8')).failure.code).toBe('aborted');
    } finally {
      reap([c.pid, qemuPid(c) ?? -1].filter((p) => p > 0));
    }
  });

  it('msu exits as soon as the run has ended (no timer left running after the result)', { timeout: 60_000 }, async () => {
    const j = job([line({ type: 'boot', n: 1 }), line({ type: 'done' })], 'poweroff');
    const c = msu(['vm', 'run', j.spec, '--run-dir', j.runDir], j.dir);
    const x = await c.exit;
    expect(x.code).toBe(0);
    const printed = c.stdoutAt(`ok: job${n} finished after 1 boot(s)`);
    expect(printed).toBeDefined();
    expect(x.at - printed!).toBeLessThan(1500);
  });
});

describe.skipIf(!hasQemu)('msu vm run: deadlines and progress without a terminal', () => {
  it('--boot-timeout replaces the spec value; the deadlines are printed at start; one plain line per event on stderr', { timeout: 30_000 }, async () => {
    const j = job(['stuck in firmware'], 'hang', { bootSec: 600, perBootSec: 600, totalSec: 600, graceSec: 1 });
    const r = await runCli('vm', 'run', j.spec, '--run-dir', j.runDir, '--boot-timeout', '2s', '--idle-timeout', '1m', '--timeout', '5m');
    expect(r.code).toBe(7);
    expect(r.stdout).toContain(`failed: job${n}: watchdog "boot" fired: no boot event from the guest within 2 s of start 1`);
    const err = r.stderr.split('\n').filter(Boolean);
    expect(err[0]).toBe('msu: deadlines (no KVM: TCG, spec values × 1): boot 2 s, idle 60 s, per boot 5 min, total 5 min, at most 12 boot(s); --boot-timeout, --idle-timeout and --timeout set them');
    expect(err.slice(1).every((l) => /^\[ *\d+:\d\d\] /.test(l))).toBe(true);
    expect(err).toContainEqual(expect.stringMatching(/^\[ 0:0\d\] start 1: QEMU started$/));
    expect(err).toContainEqual(expect.stringMatching(/^\[ 0:0\d\] watchdog "boot" fired/));
  });

  it('--json-events: JSON Lines on stderr (prepare first, finished last), data alone on stdout', { timeout: 30_000 }, async () => {
    const j = job([line({ type: 'boot', n: 1 }), line({ type: 'done' })], 'poweroff');
    const r = await runCli('vm', 'run', j.spec, '--run-dir', j.runDir, '--json-events');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`ok: job${n} finished after 1 boot(s)\n`);
    const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    expect(events[0]).toMatchObject({ type: 'prepare', accel: 'tcg', timeouts: { bootSec: 60 } });
    expect(events[events.length - 1]).toMatchObject({ type: 'finished', ok: true });
    expect(events.every((e) => typeof e.t === 'number')).toBe(true);
    // the same stream the run directory keeps
    expect(readFileSync(path.join(j.runDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))).toEqual(events);
  });

  it('on a terminal: one live status line while it runs, cleared before the result', { timeout: 30_000 }, async () => {
    const j = job([line({ type: 'boot', n: 1 }), line({ type: 'step', id: 's', name: 'say hello', state: 'running' }), line({ type: 'done' })], 'poweroff');
    const term = new Terminal();
    const out = new TermStream(term, true, 200);
    const err = new TermStream(term, true, 200);
    const code = await main(['node', 'msu', 'vm', 'run', j.spec, '--run-dir', j.runDir], out, err);
    expect(code).toBe(0);
    // what stays on screen: the deadlines note and the result, nothing of the live line
    expect(term.screen).toEqual([
      'msu: deadlines (no KVM: TCG, spec values × 1): boot 60 s, idle 60 s, per boot 2 min, total 3 min, at most 12 boot(s); --boot-timeout, --idle-timeout and --timeout set them',
      `ok: job${n} finished after 1 boot(s)`,
    ]);
    // what was shown along the way: live lines (\r, no newline) with phase, elapsed time and deadline
    const live = err.chunks.filter((c) => c.startsWith('\r\x1b[2K') && c.length > 4 && !c.endsWith('\n'));
    expect(live.length).toBeGreaterThan(0);
    expect(live.some((c) => /^\r\x1b\[2Kstart 1: booting · 0:0\d · boot deadline in 0:\d\d$/.test(c) || /boot 1: say hello · 0:0\d · idle deadline in/.test(c) || /^\r\x1b\[2Kshutdown/.test(c))).toBe(true);
    expect(out.chunks.join('')).toBe(`ok: job${n} finished after 1 boot(s)\n`);
  });

  it('a bad duration is a usage error naming the option', async () => {
    const j = job([], 'hang');
    const r = await runCli('vm', 'run', j.spec, '--timeout', '5 min');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('msu: --timeout must be a duration from 1s to 7d such as 90s, 30m, 2h (plain numbers are seconds), got "5 min"\n');
  });
});
