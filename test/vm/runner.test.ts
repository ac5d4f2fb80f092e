/**
 * End-to-end: the real qemu-system-x86_64 under TCG with SeaBIOS and a 512-byte boot-sector
 * guest generated in test/helpers/bootsector.ts. Each case takes a few seconds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compactImage, runVm, type RunEvent, type RunOptions, type RunResult } from '../../src/vm/runner.js';
import { formatGuestLine, type GuestEvent } from '../../src/vm/protocol.js';
import { validateRunSpec } from '../../src/vm/spec.js';
import { bootDisk, diskWriteBootSector, roundsBootSector, simpleBootSector, statusRoundsBootSector, STATUS_ROUNDS_FILE } from '../helpers/bootsector.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const hasQemu = hasTool('qemu-system-x86_64') && hasTool('qemu-img');
const hasMtools = hasTool('mformat') && hasTool('mcopy');
const hasSwtpm = hasTool('swtpm');
if (!hasQemu) skipNote('runner end-to-end tests', 'qemu-system-x86_64 / qemu-img');
if (!hasMtools) skipNote('runner status-disk tests', 'mtools');
if (hasQemu && !hasSwtpm) skipNote('runner TPM tests', 'swtpm');

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-runner-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const line = (e: GuestEvent) => formatGuestLine(e).replace(/\r\n$/, '');
const FAST = { bootSec: 5, heartbeatSec: 3, perBootSec: 15, totalSec: 25, maxBoots: 5, tcgFactor: 1, graceSec: 1 };

let seq = 0;
interface Case {
  dir: string;
  disk: string;
  runDir: string;
  events: RunEvent[];
  run: (extra?: Partial<RunOptions>) => Promise<RunResult>;
}

function setup(sector: Buffer, spec: { timeouts?: object; vm?: object; expect?: object } = {}): Case {
  const dir = path.join(root, `c${seq++}`);
  mkdirSync(dir, { recursive: true });
  const disk = path.join(dir, 'boot.img');
  writeFileSync(disk, bootDisk(sector));
  const s = validateRunSpec({
    id: `t${seq}`,
    vm: { accel: 'tcg', firmware: { type: 'seabios' }, cpus: 1, memMiB: 32, disks: [{ role: 'system', path: 'boot.img', format: 'raw' }], ...spec.vm },
    timeouts: { ...FAST, ...spec.timeouts },
    ...(spec.expect ? { expect: spec.expect } : {}),
  });
  const events: RunEvent[] = [];
  const runDir = path.join(dir, 'run');
  return {
    dir,
    disk,
    runDir,
    events,
    run: (extra = {}) => runVm(s, { runDir, baseDir: dir, onEvent: (e) => events.push(e), ...extra }),
  };
}

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

const pids = (events: RunEvent[]) => events.flatMap((e) => (e.type === 'qemu-start' && e.pid !== null ? [e.pid] : []));
const tpmPids = (events: RunEvent[]) => events.flatMap((e) => (e.type === 'swtpm-start' && e.pid !== null ? [e.pid] : []));
const PNG_MAGIC = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe.skipIf(!hasQemu)('runVm with real QEMU (TCG, SeaBIOS, boot-sector guest)', () => {
  it('(a) clean run: boot → steps → result → done → ACPI power-off = success', { timeout: 30_000 }, async () => {
    const c = setup(
      simpleBootSector(
        [
          'firmware noise',
          line({ type: 'boot', n: 1 }),
          line({ type: 'step', id: 'apply', name: 'Apply', state: 'running' }),
          line({ type: 'progress', pct: 50, text: 'half' }),
          line({ type: 'step', id: 'apply', name: 'Apply', state: 'ok', exitCode: 0 }),
          line({ type: 'result', data: { n: 1 } }),
          line({ type: 'done', ok: true }),
        ],
        'poweroff',
      ),
    );
    const r = await c.run();
    expect(r).toMatchObject({ ok: true, starts: 1, boots: 1, shutdownReason: 'guest-shutdown', terminal: 'done', lastStep: { id: 'apply', name: 'Apply', state: 'ok' }, results: [{ n: 1 }], screendumps: [], guestErrors: [] });
    expect(r.failure).toBeUndefined();
    // run directory
    expect(readdirSync(c.runDir).sort()).toEqual(['events.jsonl', 'qmp.log', 'result.json', 'serial.log', 'spec.json']);
    expect(JSON.parse(readFileSync(path.join(c.runDir, 'result.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(r)));
    expect(readFileSync(path.join(c.runDir, 'serial.log'), 'latin1')).toContain('firmware noise\r\n@@MSU {"type":"boot","n":1}\r\n');
    const qmpLog = readFileSync(path.join(c.runDir, 'qmp.log'), 'utf8');
    expect(qmpLog).toContain('> {"execute":"cont","id":"msu-2"}');
    expect(qmpLog).toContain('< {"event":"SHUTDOWN","data":{"guest":true,"reason":"guest-shutdown"}}');
    expect(c.events.filter((e) => e.type === 'guest').map((e) => (e as { event: GuestEvent }).event.type)).toEqual(['boot', 'step', 'progress', 'step', 'result', 'done']);
    expect(c.events[c.events.length - 1]).toMatchObject({ type: 'finished', ok: true });
    expect(pids(c.events).every(processGone)).toBe(true);
  });

  it('(b) multi-round: the guest keeps a counter on its disk and resets; the runner restarts QEMU and counts boots', { timeout: 30_000 }, async () => {
    const c = setup(roundsBootSector(3));
    const r = await c.run();
    expect(r).toMatchObject({ ok: true, starts: 3, boots: 3, shutdownReason: 'guest-shutdown', terminal: 'done' });
    expect(readFileSync(c.disk)[512]).toBe(3); // the counter the guest wrote
    const serial = readFileSync(path.join(c.runDir, 'serial.log'), 'latin1');
    // append-mode chardev: all three boots in one log
    expect(serial.match(/@@MSU \{"type":"boot","n":\d\}/g)).toEqual(['@@MSU {"type":"boot","n":1}', '@@MSU {"type":"boot","n":2}', '@@MSU {"type":"boot","n":3}']);
    expect(c.events.filter((e) => e.type === 'qemu-start').map((e) => (e as { start: number }).start)).toEqual([1, 2, 3]);
    expect(c.events.filter((e) => e.type === 'qmp' && e.event === 'SHUTDOWN').map((e) => (e.type === 'qmp' ? e.data.reason : undefined))).toEqual(['guest-reset', 'guest-reset', 'guest-shutdown']);
  });

  it('(b3) multi-round with the state on the status disk: the guest updates status.json each boot, the host reads it back', { timeout: 30_000 }, async () => {
    const c = setup(statusRoundsBootSector(3), { vm: { statusDisk: { sizeMiB: 8 } }, expect: { statusFile: 'status.json' } });
    const r = await c.run({ statusFiles: { 'status.json': STATUS_ROUNDS_FILE } });
    expect(r).toMatchObject({ ok: true, starts: 3, boots: 3, terminal: 'done', status: { msu: 1, round: 3, ok: true } });
    expect(r.statusFiles).toEqual(['params.json', 'status.json']);
    expect(readFileSync(path.join(c.runDir, 'status', 'status.json'), 'utf8')).toBe(STATUS_ROUNDS_FILE.replace('"round":0', '"round":3'));
    const serial = readFileSync(path.join(c.runDir, 'serial.log'), 'latin1');
    expect(serial.match(/"type":"boot","n":\d/g)).toEqual(['"type":"boot","n":1', '"type":"boot","n":2', '"type":"boot","n":3']);
  });

  it('(b4) a status disk without the file: the guest reports the error and the run fails as guest-error', { timeout: 30_000 }, async () => {
    const c = setup(statusRoundsBootSector(2), { vm: { statusDisk: { sizeMiB: 8 } }, expect: { statusFile: 'status.json' } });
    const r = await c.run();
    expect(r.ok).toBe(false);
    expect(r.failure?.code).toBe('guest-error');
    expect(r.guestErrors).toEqual([{ code: 'no-status', message: 'status.json not found' }]);
  });

  it('(b1) overlay: the runner creates work.qcow2 on top of the raw base and the guest writes only to it', { timeout: 30_000 }, async () => {
    const c = setup(roundsBootSector(2), { vm: { disks: [{ role: 'system', path: 'work.qcow2', overlayOf: 'boot.img', overlayFormat: 'raw' }] } });
    const r = await c.run();
    expect(r).toMatchObject({ ok: true, starts: 2, boots: 2 });
    expect(readFileSync(c.disk)[512]).toBe(0); // base untouched
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', path.join(c.dir, 'work.qcow2')], { encoding: 'utf8' }));
    expect(info['backing-filename-format']).toBe('raw');
    expect(info['full-backing-filename']).toBe(c.disk);
    const flat = path.join(c.dir, 'flat.raw');
    execFileSync('qemu-img', ['convert', '-O', 'raw', path.join(c.dir, 'work.qcow2'), flat]);
    expect(readFileSync(flat)[512]).toBe(2);
  });

  it('(b2) in-place reboots: one QEMU process, RESET events, boots still counted from the protocol', { timeout: 30_000 }, async () => {
    const c = setup(roundsBootSector(3), { vm: { rebootPolicy: 'in-place' } });
    const r = await c.run();
    expect(r).toMatchObject({ ok: true, starts: 1, boots: 3, shutdownReason: 'guest-shutdown' });
    expect(c.events.filter((e) => e.type === 'guest-reset')).toHaveLength(2);
  });

  it('(c) hang after boot: the heartbeat watchdog fires, a PNG screendump is saved, QEMU is gone', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'step', id: 'wu', name: 'Install', state: 'running' })], 'hang'), { timeouts: { heartbeatSec: 2 } });
    const t0 = Date.now();
    const r = await c.run();
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(r.ok).toBe(false);
    expect(r.failure).toMatchObject({ code: 'watchdog', limit: 'heartbeat' });
    expect(r.failure!.message).toMatch(/^watchdog "heartbeat" fired: no protocol line from the guest for [\d.]+ s in boot 1 \(timeouts.heartbeatSec = 2 s\); last step: wu running$/);
    expect(r.screendumps).toEqual(['screendumps/01-heartbeat.png']);
    const png = readFileSync(path.join(c.runDir, 'screendumps', '01-heartbeat.png'));
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    expect(r.shutdownReason).toBe('host-qmp-quit');
    expect(c.events.map((e) => e.type)).toEqual(expect.arrayContaining(['watchdog', 'screendump', 'powerdown', 'qemu-exit']));
    expect(pids(c.events).every(processGone)).toBe(true);
  });

  it('(c2) no boot event at all: the boot deadline fires', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector(['stuck in firmware'], 'hang'), { timeouts: { bootSec: 2 } });
    const r = await c.run();
    expect(r.failure).toMatchObject({ code: 'watchdog', limit: 'boot' });
    expect(r.failure!.message).toBe('watchdog "boot" fired: no boot event from the guest within 2 s of start 1 (timeouts.bootSec × tcgFactor)');
    expect(r.screendumps).toEqual(['screendumps/01-boot.png']);
  });

  it('(d) reboot storm: a guest that resets immediately hits maxBoots', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'reset'), { timeouts: { maxBoots: 4 } });
    const r = await c.run();
    expect(r).toMatchObject({ ok: false, starts: 4, boots: 4, shutdownReason: 'guest-reset' });
    expect(r.failure).toEqual({ code: 'watchdog', limit: 'maxBoots', message: 'watchdog "maxBoots" fired: the guest rebooted 4 times and timeouts.maxBoots = 4 allows no further boot (reboot storm?)' });
    expect(pids(c.events)).toHaveLength(4);
    expect(pids(c.events).every(processGone)).toBe(true);
  });

  it('(e) done but no power-off: the runner presses the power button, then gives up with a named limit', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'done' })], 'hang'));
    const r = await c.run();
    expect(r.terminal).toBe('done');
    expect(r.failure).toMatchObject({ code: 'watchdog', limit: 'poweroffAfterDone' });
    expect(c.events.filter((e) => e.type === 'powerdown').map((e) => (e as { reason: string }).reason)).toEqual(['guest sent done but did not power off within 1 s', 'poweroffAfterDone']);
  });

  it('(f) guest error, and power-off without done, fail the cross-check', { timeout: 30_000 }, async () => {
    const a = setup(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'error', code: 'search_failed', message: 'WU search failed 0x8024402C' }), line({ type: 'done', ok: false })], 'poweroff'));
    const ra = await a.run();
    expect(ra.failure).toEqual({ code: 'guest-error', message: 'the guest reported an error: search_failed: WU search failed 0x8024402C' });
    expect(ra.guestErrors).toEqual([{ code: 'search_failed', message: 'WU search failed 0x8024402C' }]);
    const b = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'poweroff'));
    const rb = await b.run();
    expect(rb.failure?.code).toBe('no-done');
    expect(rb.shutdownReason).toBe('guest-shutdown');
  });

  it('(g) QEMU refusing to start is reported with its own message, not a hang', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([], 'poweroff'), { vm: { disks: [{ role: 'system', path: 'boot.img', format: 'qcow2' }] } });
    const r = await c.run();
    expect(r.failure?.code).toBe('qemu-start');
    expect(r.failure?.message).toMatch(/^QEMU did not start \(boot 1\): .*(qcow2|Image is not in qcow2 format)/);
  });

  it.skipIf(!hasMtools)('(h) status disk: params.json goes in, status.json comes out and is cross-checked', { timeout: 30_000 }, async () => {
    const guest = simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'done', ok: true })], 'poweroff');
    // a boot sector cannot write FAT, so the "guest's" status.json is put there up front
    const ok = setup(guest, { vm: { statusDisk: { sizeMiB: 8 } }, expect: { statusFile: 'status.json' } });
    const r = await ok.run({ statusFiles: { 'status.json': '{"ok":true,"rounds":1}' } });
    expect(r).toMatchObject({ ok: true, status: { ok: true, rounds: 1 }, statusFiles: ['params.json', 'status.json'] });
    expect(JSON.parse(readFileSync(path.join(ok.runDir, 'status', 'params.json'), 'utf8'))).toEqual({ id: r.id, kind: 'generic', params: {}, script: null });

    const bad = setup(guest, { vm: { statusDisk: { sizeMiB: 8 } }, expect: { statusFile: 'status.json' } });
    const rb = await bad.run({ statusFiles: { 'status.json': '{"ok":false,"error":"audit mode lost"}' } });
    expect(rb.failure).toEqual({ code: 'status-mismatch', message: 'the guest sent done but status.json says it failed: audit mode lost' });

    const missing = setup(guest, { vm: { statusDisk: { sizeMiB: 8 } }, expect: { statusFile: 'status.json' } });
    const rm = await missing.run();
    expect(rm.failure).toEqual({ code: 'status-missing', message: 'the guest sent done but left no status.json on the status disk' });
  });

  it.skipIf(!hasTool('xorriso'))('inputs are packed into inputs.iso and attached as a CD', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'done' })], 'poweroff'));
    writeFileSync(path.join(c.dir, 'KB1.msu'), 'payload');
    const spec = validateRunSpec({
      id: 'inputs',
      vm: { accel: 'tcg', firmware: { type: 'seabios' }, memMiB: 32, disks: [{ role: 'system', path: 'boot.img', format: 'raw' }] },
      inputs: [{ src: 'KB1.msu', dest: 'msu/KB1.msu' }],
      timeouts: FAST,
    });
    const r = await runVm(spec, { runDir: c.runDir, baseDir: c.dir });
    expect(r.ok).toBe(true);
    const listing = execFileSync('xorriso', ['-indev', path.join(c.runDir, 'inputs.iso'), '-find', '/', '-type', 'f'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    expect(listing.trim().split('\n')).toEqual(["'/msu/KB1.msu'"]);
    expect(readFileSync(path.join(c.runDir, 'qmp.log'), 'utf8')).toContain('guest-shutdown');
  });

  it('refuses a run directory that already holds a run', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'done' })], 'poweroff'));
    await c.run();
    await expect(c.run()).rejects.toThrow('run directory already holds a run (');
  });

  it('a throwing onEvent callback fails the run cleanly instead of crashing and leaving QEMU behind', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'hang'), { timeouts: { heartbeatSec: 20, graceSec: 0 } });
    const started: number[] = [];
    const r = await c.run({
      onEvent: (e) => {
        if (e.type === 'qemu-start' && e.pid !== null) started.push(e.pid);
        if (e.type === 'guest') throw new Error('UI went away');
      },
    });
    expect(r.failure).toEqual({ code: 'host-error', message: 'the onEvent callback failed: UI went away' });
    expect(started).toHaveLength(1);
    expect(processGone(started[0]!)).toBe(true);
  });

  it('cancellation stops QEMU and says so', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'hang'), { timeouts: { heartbeatSec: 20, graceSec: 0 } });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 1500);
    const r = await c.run({ signal: ac.signal });
    expect(r.failure).toEqual({ code: 'aborted', message: 'the run was cancelled' });
    expect(pids(c.events).every(processGone)).toBe(true);
  });
});

describe.skipIf(!hasQemu)('runVm: stop and kill', () => {
  it('stop: QEMU is quit over QMP (exit code 0), not powered down, and the reason is in the message', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'hang'), { timeouts: { heartbeatSec: 20, graceSec: 20 } });
    const ac = new AbortController();
    const t0 = Date.now();
    const r = await c.run({ signal: ac.signal, onEvent: (e) => (c.events.push(e), e.type === 'guest' && ac.abort('SIGTERM')) });
    expect(Date.now() - t0).toBeLessThan(10_000); // no 20 s grace for the power button
    expect(r.failure).toEqual({ code: 'aborted', message: 'the run was cancelled (SIGTERM)' });
    expect(c.events.some((e) => e.type === 'powerdown')).toBe(false);
    expect(c.events.find((e) => e.type === 'qemu-exit')).toMatchObject({ exitCode: 0, signal: null });
    expect(JSON.parse(readFileSync(path.join(c.runDir, 'result.json'), 'utf8')).failure.code).toBe('aborted');
    expect(pids(c.events).every(processGone)).toBe(true);
  });

  it('kill: QEMU gets SIGKILL at once, swtpm goes with it; the run still ends as aborted with a result.json', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'hang'), { vm: hasSwtpm ? { tpm: {} } : {}, timeouts: { heartbeatSec: 20, graceSec: 20 } });
    const stop = new AbortController();
    const kill = new AbortController();
    const r = await c.run({
      signal: stop.signal,
      killSignal: kill.signal,
      onEvent: (e) => {
        c.events.push(e);
        if (e.type === 'guest') {
          stop.abort('SIGINT');
          kill.abort('SIGINT again');
        }
      },
    });
    const seen = JSON.stringify(c.events.filter((e) => !['qmp', 'status'].includes(e.type)));
    expect(r.failure?.code, seen).toBe('aborted');
    expect(c.events.find((e) => e.type === 'qemu-exit'), seen).toMatchObject({ signal: 'SIGKILL' });
    expect(c.events.filter((e) => e.type === 'abort').map((e) => (e as { hard: boolean }).hard), seen).toEqual([false, true]);
    if (hasSwtpm) {
      // killed with QEMU, or gone on its own a moment before: the first Ctrl-C's quit, in the same
      // tick, can close QEMU's TPM connection first, and swtpm ends (exit 0) when its client goes
      const exit = c.events.find((e) => e.type === 'swtpm-exit') as { t: number; exitCode: number | null; signal: string | null } | undefined;
      const hard = c.events.find((e) => e.type === 'abort' && (e as { hard: boolean }).hard) as { t: number };
      expect(exit, seen).toBeDefined();
      expect(exit!.signal === 'SIGKILL' || exit!.exitCode === 0, seen).toBe(true);
      expect(exit!.t - hard.t, seen).toBeLessThan(1000);
    }
    expect([...tpmPids(c.events), ...pids(c.events)].every(processGone)).toBe(true);
    expect(existsSync(path.join(c.runDir, 'result.json'))).toBe(true);
  });

  it('a stop before QEMU starts starts nothing and ends as aborted', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'hang'));
    const r = await c.run({ signal: AbortSignal.abort('SIGINT') });
    expect(r).toMatchObject({ ok: false, starts: 0, failure: { code: 'aborted', message: 'the run was cancelled (SIGINT)' } });
    expect(c.events.some((e) => e.type === 'qemu-start')).toBe(false);
  });
});

describe.skipIf(!hasQemu)('runVm: guest crash (pvpanic)', () => {
  it('a guest writing "panicked" to port 0x505 fails the run as guest-panicked, with a screendump of the paused VM', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'step', id: 'wu', name: 'Install', state: 'running' })], 'panic'), { timeouts: { heartbeatSec: 20, graceSec: 5 } });
    const t0 = Date.now();
    const r = await c.run();
    // well before the heartbeat (20 s) and without waiting for the power button (grace 5 s)
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(r).toMatchObject({ ok: false, starts: 1, boots: 1, shutdownReason: 'host-qmp-quit' });
    expect(r.failure).toEqual({ code: 'guest-panicked', message: 'the guest panicked (boot 1): {"action":"pause"}' });
    expect(r.screendumps).toEqual(['screendumps/01-panic.png']);
    expect(readFileSync(path.join(c.runDir, 'screendumps', '01-panic.png')).subarray(0, 8)).toEqual(PNG_MAGIC);
    expect(c.events.some((e) => e.type === 'qmp' && e.event === 'GUEST_PANICKED')).toBe(true);
    expect(c.events.some((e) => e.type === 'powerdown')).toBe(false);
    expect(pids(c.events)).toHaveLength(1);
    expect(pids(c.events).every(processGone)).toBe(true);
  });

  it('with vm.pvpanic false the same guest is only caught by a watchdog', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'panic'), { vm: { pvpanic: false }, timeouts: { heartbeatSec: 1 } });
    const r = await c.run();
    expect(r.failure).toMatchObject({ code: 'watchdog', limit: 'heartbeat' });
    expect(c.events.some((e) => e.type === 'qmp' && e.event === 'GUEST_PANICKED')).toBe(false);
  });
});

describe.skipIf(!hasQemu || !hasTool('bash'))('runVm: host disk error (BLOCK_IO_ERROR)', () => {
  it('a guest write the host cannot store fails the run as block-io-error and QEMU is stopped', { timeout: 30_000 }, async () => {
    const c = setup(diskWriteBootSector(line({ type: 'boot', n: 1 }), 1), { timeouts: { heartbeatSec: 20, graceSec: 1 } });
    // QEMU under a 256 KiB file-size limit (SIGXFSZ ignored): the guest's write at byte 516096
    // of its disk gets EFBIG from the host, as a full host disk would give ENOSPC
    const qemu = path.join(c.dir, 'qemu-limited');
    writeFileSync(qemu, "#!/bin/bash\ntrap '' XFSZ\nulimit -f 256\nexec qemu-system-x86_64 \"$@\"\n", { mode: 0o755 });
    const r = await c.run({ qemuBinary: qemu });
    expect(r.failure).toEqual({ code: 'block-io-error', message: 'disk I/O error on disk0 (File too large); is the host disk full?' });
    const ev = c.events.find((e) => e.type === 'qmp' && e.event === 'BLOCK_IO_ERROR');
    expect(ev).toMatchObject({ data: { device: 'disk0', operation: 'write', action: 'report' } });
    expect(r.screendumps).toEqual(['screendumps/01-io-error.png']);
    expect(pids(c.events).every(processGone)).toBe(true);
  });
});

describe.skipIf(!hasQemu || !hasSwtpm)('runVm with a TPM 2.0 (swtpm)', () => {
  it('multi-boot run: one swtpm per QEMU start, state kept in RUNDIR/tpm across restarts, QEMU reports the TPM, nothing left running', { timeout: 30_000 }, async () => {
    const c = setup(roundsBootSector(3), { vm: { tpm: {} } });
    const permall = path.join(c.runDir, 'tpm', 'tpm2-00.permall');
    const stateAtStart: boolean[] = [];
    const r = await c.run({
      onEvent: (e) => {
        c.events.push(e);
        if (e.type === 'swtpm-start') stateAtStart.push(existsSync(permall));
      },
    });
    expect(r).toMatchObject({ ok: true, starts: 3, boots: 3, shutdownReason: 'guest-shutdown', tpm: { model: 'tpm-crb', backend: 'emulator' } });
    // created during boot 1, still there when boots 2 and 3 start: a reboot does not wipe the TPM
    expect(stateAtStart).toEqual([false, true, true]);
    expect(statSync(permall).size).toBeGreaterThan(0);
    // every QEMU start had its TPM attached
    const tpmEvents = c.events.filter((e) => e.type === 'tpm');
    expect(tpmEvents.map((e) => (e.type === 'tpm' ? [e.start, e.devices] : []))).toEqual(
      [1, 2, 3].map((n) => [n, [{ id: 'tpm0', model: 'tpm-crb', options: { type: 'emulator', data: { chardev: 'chrtpm' } } }]]),
    );
    // swtpm starts before its QEMU, and leaves by itself (--terminate) when QEMU goes
    const order = c.events.filter((e) => ['swtpm-start', 'qemu-start', 'qemu-exit', 'swtpm-exit'].includes(e.type)).map((e) => `${e.type}:${(e as { start: number }).start}`);
    // (the two exits of one boot race each other; both come before the next boot's swtpm)
    const groups = [0, 4, 8].map((i) => order.slice(i, i + 4));
    expect(groups.map((g) => [...g.slice(0, 2), ...g.slice(2).sort()])).toEqual([1, 2, 3].map((n) => [`swtpm-start:${n}`, `qemu-start:${n}`, `qemu-exit:${n}`, `swtpm-exit:${n}`]));
    expect(c.events.filter((e) => e.type === 'swtpm-exit').map((e) => (e.type === 'swtpm-exit' ? [e.exitCode, e.signal] : []))).toEqual([[0, null], [0, null], [0, null]]);
    const started = tpmPids(c.events);
    expect(new Set(started).size).toBe(3);
    expect([...started, ...pids(c.events)].every(processGone)).toBe(true);
    // no socket left behind; the log is in the run directory
    expect(readdirSync(c.runDir).sort()).toEqual(['events.jsonl', 'qmp.log', 'result.json', 'serial.log', 'spec.json', 'swtpm.log', 'tpm']);
    expect(readFileSync(path.join(c.runDir, 'qmp.log'), 'utf8')).toContain('> {"execute":"query-tpm","id":"msu-2"}');
  });

  it('in-place reboots keep one swtpm for the whole run; the TIS model is attached when asked for', { timeout: 30_000 }, async () => {
    const c = setup(roundsBootSector(2), { vm: { rebootPolicy: 'in-place', tpm: { model: 'tpm-tis' } } });
    const r = await c.run();
    expect(r).toMatchObject({ ok: true, starts: 1, boots: 2, tpm: { model: 'tpm-tis', backend: 'emulator' } });
    expect(tpmPids(c.events)).toHaveLength(1);
    expect(tpmPids(c.events).every(processGone)).toBe(true);
    expect(existsSync(path.join(c.runDir, 'tpm', 'tpm2-00.permall'))).toBe(true);
  });

  it('swtpm is stopped when a watchdog stops the VM, and when the run is cancelled', { timeout: 30_000 }, async () => {
    const w = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'hang'), { vm: { tpm: {} }, timeouts: { heartbeatSec: 1, graceSec: 0 } });
    const rw = await w.run();
    expect(rw.failure).toMatchObject({ code: 'watchdog', limit: 'heartbeat' });
    expect(tpmPids(w.events)).toHaveLength(1);
    expect([...tpmPids(w.events), ...pids(w.events)].every(processGone)).toBe(true);

    const a = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'hang'), { vm: { tpm: {} }, timeouts: { heartbeatSec: 20, graceSec: 0 } });
    const ac = new AbortController();
    // cancelled once the guest is up (a timer could fire before swtpm even started on a busy host)
    const ra = await a.run({ signal: ac.signal, onEvent: (e) => (a.events.push(e), e.type === 'guest' && ac.abort()) });
    expect(ra.failure).toEqual({ code: 'aborted', message: 'the run was cancelled' });
    expect(tpmPids(a.events)).toHaveLength(1);
    expect([...tpmPids(a.events), ...pids(a.events)].every(processGone)).toBe(true);
  });

  it('QEMU refusing to start does not leave its swtpm behind', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([], 'poweroff'), { vm: { tpm: {}, disks: [{ role: 'system', path: 'boot.img', format: 'qcow2' }] } });
    const r = await c.run();
    expect(r.failure?.code).toBe('qemu-start');
    expect(tpmPids(c.events)).toHaveLength(1);
    expect([...tpmPids(c.events), ...pids(c.events)].every(processGone)).toBe(true);
  });

  /** A stand-in swtpm: answers the capability probe, otherwise runs `body` (sh). */
  const fakeSwtpm = (dir: string, body: string): string => {
    const f = path.join(dir, 'fake-swtpm');
    writeFileSync(f, `#!/bin/sh\nif [ "$2" = --print-capabilities ]; then echo '{"type":"swtpm","features":["tpm-2.0"],"version":"0.7.1"}'; exit 0; fi\n${body}\n`, { mode: 0o755 });
    return f;
  };

  it('an swtpm that cannot start fails the run as tpm-error with its message, before QEMU starts', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'done' })], 'poweroff'), { vm: { tpm: {} } });
    const r = await c.run({ swtpmBinary: fakeSwtpm(c.dir, 'echo "swtpm: Could not open UnixIO socket: Permission denied" >&2; exit 1') });
    expect(r.failure).toEqual({ code: 'tpm-error', message: 'swtpm did not start (boot 1): swtpm exited before it was ready: swtpm: Could not open UnixIO socket: Permission denied' });
    expect(r.starts).toBe(0);
    expect(c.events.some((e) => e.type === 'qemu-start')).toBe(false);
    expect(readFileSync(path.join(c.runDir, 'swtpm.log'), 'utf8')).toBe('swtpm: Could not open UnixIO socket: Permission denied\n');
  });

  it('an swtpm that dies while the guest runs fails the run as tpm-error and QEMU is stopped', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 })], 'hang'), { vm: { tpm: {} }, timeouts: { heartbeatSec: 20, graceSec: 0 } });
    // the real swtpm, killed 2 s in (the guest is up and hanging by then)
    const r = await c.run({ swtpmBinary: fakeSwtpm(c.dir, 'swtpm "$@" & p=$!; sleep 2; kill -9 $p; wait $p; echo "swtpm went away" >&2; exit 9') });
    expect(r.failure).toMatchObject({ code: 'tpm-error' });
    // the tail of swtpm.log (the shell may add its own "Killed" line first)
    expect(r.failure!.message).toMatch(/^swtpm exited while QEMU was running \(boot 1, exit code 9\): (.* \| )?swtpm went away$/);
    expect(r.screendumps).toEqual(['screendumps/01-tpm.png']);
    expect([...tpmPids(c.events), ...pids(c.events)].every(processGone)).toBe(true);
  });

  it('a missing swtpm is a tool error before QEMU starts', { timeout: 30_000 }, async () => {
    const c = setup(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'done' })], 'poweroff'), { vm: { tpm: {} } });
    await expect(c.run({ swtpmBinary: 'msu-test-no-such-swtpm' })).rejects.toMatchObject({ code: 'E_TOOL_MISSING', kind: 'tool', message: 'msu-test-no-such-swtpm is not installed or not on PATH' });
    expect(c.events.some((e) => e.type === 'qemu-start' || e.type === 'swtpm-start')).toBe(false);
  });
});

describe.skipIf(!hasQemu)('compactImage', () => {
  it('flattens an overlay into a standalone compressed qcow2 and refuses after an unclean stop', async () => {
    const d = path.join(root, 'compact');
    mkdirSync(d, { recursive: true });
    const base = path.join(d, 'base.qcow2');
    const over = path.join(d, 'over.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', base, '16M']);
    execFileSync('qemu-io', ['-c', 'write -P 0x5a 0 4M', base]);
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'qcow2', over]);
    const out = path.join(d, 'out.qcow2');
    await compactImage(over, out, { compress: true });
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', out], { encoding: 'utf8' }));
    expect(info['backing-filename']).toBeUndefined();
    expect(info['virtual-size']).toBe(16 * 1024 * 1024);
    // same guest-visible bytes as the chain
    execFileSync('qemu-img', ['compare', '-q', over, out]);
    const unclean = { shutdownReason: 'host-qmp-quit' } as RunResult;
    await expect(compactImage(over, path.join(d, 'x.qcow2'), { after: unclean })).rejects.toThrow('refusing to compact: the run ended with "host-qmp-quit"');
    expect(existsSync(path.join(d, 'x.qcow2'))).toBe(false);
    // a failing conversion (no such source) leaves neither the output nor a temp file
    const before = readdirSync(d).sort();
    await expect(compactImage(path.join(d, 'missing.qcow2'), path.join(d, 'y.qcow2'))).rejects.toMatchObject({ code: 'E_TOOL_FAILED' });
    expect(readdirSync(d).sort()).toEqual(before);
  });
});

describe.skipIf(!hasQemu)('msu vm CLI', () => {
  it('vm run --json streams events as JSON lines and ends with the result; a failed run exits 7', { timeout: 30_000 }, async () => {
    const d = path.join(root, 'cli');
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'boot.img'), bootDisk(simpleBootSector([line({ type: 'boot', n: 1 }), line({ type: 'done' })], 'poweroff')));
    const spec = { id: 'cli', vm: { accel: 'tcg', firmware: { type: 'seabios' }, memMiB: 32, disks: [{ role: 'system', path: 'boot.img', format: 'raw' }] }, timeouts: FAST };
    writeFileSync(path.join(d, 'spec.json'), JSON.stringify(spec));
    const r = await runCli('vm', 'run', path.join(d, 'spec.json'), '--run-dir', path.join(d, 'run1'), '--json');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ type: 'prepare', accel: 'tcg' });
    expect(lines[lines.length - 1]).toMatchObject({ type: 'result', result: { ok: true, boots: 1, id: 'cli' } });

    writeFileSync(path.join(d, 'hang.img'), bootDisk(simpleBootSector([], 'hang')));
    writeFileSync(path.join(d, 'hang.json'), JSON.stringify({ ...spec, id: 'hang', vm: { ...spec.vm, disks: [{ role: 'system', path: 'hang.img', format: 'raw' }] }, timeouts: { ...FAST, bootSec: 1 } }));
    const h = await runCli('vm', 'run', path.join(d, 'hang.json'), '--run-dir', path.join(d, 'run2'));
    expect(h.code).toBe(7);
    expect(h.stdout).toContain('failed: hang: watchdog "boot" fired: no boot event from the guest within 1 s of start 1');
    expect(h.stdout).toContain('screendump: screendumps/01-boot.png');
  });

  it('vm run names the spec file and field for a bad spec', async () => {
    const f = path.join(root, 'bad.json');
    writeFileSync(f, JSON.stringify({ id: 'x', vm: { disks: [{ role: 'system', path: 's', bus: 'floppy' }] } }));
    const r = await runCli('vm', 'run', f);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`msu: ${f}: run spec: vm.disks[0].bus: expected one of ahci | virtio-blk | virtio-scsi, got "floppy" (vm.disks[0].bus)\n`);
    writeFileSync(f, '{"id":');
    const j = await runCli('vm', 'run', f);
    expect(j.code).toBe(3);
    expect(j.stderr).toMatch(/^msu: .*bad\.json: run spec is not valid JSON: /);
  });

  it('vm check --json reports version, accelerator and devices', { timeout: 30_000 }, async () => {
    const r = await runCli('vm', 'check', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.qemu).toMatch(/^\d+\.\d+\.\d+$/);
    expect(['kvm', 'tcg']).toContain(j.accel);
    expect(j.devices['ide-hd']).toBe(true);
    expect(j.devices['virtio-sound-pci']).toBe(Number(j.qemu.split('.')[0]) * 100 + Number(j.qemu.split('.')[1]) >= 802);
    expect(j.tools['qemu-img']).toBe(true);
    // every external tool a command runs, with its Debian package (issue 13: virt-customize and wimlib-imagex were missing)
    for (const [tool, pkg] of [['virt-customize', 'guestfs-tools'], ['wimlib-imagex', 'wimtools'], ['xorriso', 'xorriso'], ['mcopy', 'mtools'], ['swtpm', 'swtpm'], ['qemu-img', 'qemu-utils'], ['qemu-system-x86_64', 'qemu-system-x86']]) {
      expect(typeof j.tools[tool]).toBe('boolean');
      expect(j.toolPackages[tool]).toBe(pkg);
    }
    expect(j.tools['virt-customize']).toBe(hasTool('virt-customize'));
  });
});
