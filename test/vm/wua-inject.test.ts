/**
 * The real offline injection of `msu run wua` and the cleanup after a finished run, on
 * stand-in Windows disks (NTFS built with libguestfs; see test/helpers/win-image.ts). Each
 * libguestfs call boots its appliance (about a minute under TCG), so the images are built once.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applianceNeedsTcg, finishWuaRun, prepareWuaRun, WUA_RUN_FILES, WuaImageError } from '../../src/vm/wua.js';
import type { RunResult } from '../../src/vm/runner.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { buildFakeWindows, hiveValue, ntfsCat, ntfsLs, toRaw } from '../helpers/win-image.js';

const TOOLS = ['guestfish', 'virt-customize', 'hivexsh', 'hivexget', 'ntfscat', 'ntfsls', 'ntfscp', 'qemu-img'];
const missing = TOOLS.filter((t) => !hasTool(t));
// libguestfs needs a kernel for its appliance (Debian: linux-image-amd64)
const kernel = existsSync('/boot') && readdirNames('/boot').some((n) => n.startsWith('vmlinuz'));
function readdirNames(d: string): string[] {
  try {
    return execFileSync('ls', [d], { encoding: 'utf8' }).split('\n');
  } catch {
    return [];
  }
}
const ready = missing.length === 0 && kernel;
if (!ready) skipNote('real run wua injection (libguestfs)', missing.length ? missing.join(', ') : 'a kernel in /boot (linux-image-amd64)');
if (!ready && process.env.CI === 'true') throw new Error(`CI must run the real injection test: missing ${missing.join(', ') || 'kernel'}`);

const USER_UNATTEND = '<?xml version="1.0"?><unattend xmlns="urn:schemas-microsoft-com:unattend"><!-- the user\'s own --></unattend>\r\n';
const SLOW = { timeout: 600_000 };

describe.runIf(ready)('msu run wua: the real offline injection and the image the user gets back', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'msu-wua-inject-'));
  let images: Record<string, string> = {};
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  beforeAll(async () => {
    images = buildFakeWindows(dir, {
      audit: { files: { 'Windows/Panther/unattend.xml': USER_UNATTEND } },
      // hibernated (Fast Startup), an answer file in Panther\Unattend, and Setup!UnattendFile
      hostile: {
        files: { 'hiberfil.sys': Buffer.concat([Buffer.from('HIBR'), Buffer.alloc(4092)]), 'Windows/Panther/Unattend/Unattend.xml': USER_UNATTEND },
        system: { Setup: { UnattendFile: { sz: 'C:\\answers\\autounattend.xml' } } },
      },
    }, { tcg: await applianceNeedsTcg() });
  }, SLOW.timeout);

  it('refuses an image whose answer files would win or whose NTFS is hibernated, naming every problem, and writes no overlay', SLOW, async () => {
    const runDir = path.join(dir, 'run-hostile');
    let err: unknown;
    try {
      await prepareWuaRun(images.hostile!, { runDir, runId: 'wua-hostile' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WuaImageError);
    const e = err as WuaImageError;
    expect(e.kind).toBe('unsupported');
    expect(e.file).toBe(images.hostile);
    expect(e.message).toMatch(/^cannot prepare this Audit Mode image: Windows is hibernated or was shut down with Fast Startup/);
    expect(e.message).toContain('HKLM\\SYSTEM\\Setup!UnattendFile names "C:\\\\answers\\\\autounattend.xml"');
    expect(e.message).toContain('Windows\\Panther\\Unattend\\Unattend.xml would be read before the injected Panther\\unattend.xml');
    expect(existsSync(path.join(runDir, WUA_RUN_FILES.work))).toBe(false);
  });

  it('injects the runner, its task and the unattend; keeps the user\'s unattend aside; leaves the base image and the registry alone', SLOW, async () => {
    const runDir = path.join(dir, 'run');
    const p = await prepareWuaRun(images.audit!, { runDir, runId: 'wua-inject' });
    const work = path.join(runDir, WUA_RUN_FILES.work);
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', work], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(info['backing-filename']).toBe(path.resolve(images.audit!));
    // what the inspection found, kept for the cleanup
    expect(JSON.parse(readFileSync(path.join(runDir, WUA_RUN_FILES.image), 'utf8'))).toEqual({ arch: 'amd64', existingUnattend: 'unattend.xml', hibernated: false, pantherUnattend: [] });
    expect(p.commands.find((c) => c.tool === 'virt-customize')!.args).toContain('/Windows/Panther/unattend.xml:/ProgramData/msu-toolkit/backup/unattend.xml');

    const raw = toRaw(work, path.join(dir, 'work.raw'));
    const guest = (name: string): Buffer => readFileSync(path.join(runDir, 'guest', name));
    expect(ntfsLs(raw, '/ProgramData/msu-toolkit')).toEqual(['backup', 'wua-params.json', 'wua-runner.ps1', 'wua-task.xml']);
    expect(ntfsCat(raw, '/ProgramData/msu-toolkit/wua-runner.ps1')!.equals(guest('wua-runner.ps1'))).toBe(true);
    expect(ntfsCat(raw, '/ProgramData/msu-toolkit/wua-params.json')!.equals(guest('wua-params.json'))).toBe(true);
    const task = ntfsCat(raw, '/ProgramData/msu-toolkit/wua-task.xml')!;
    expect([...task.subarray(0, 2)]).toEqual([0xff, 0xfe]);
    expect(task.equals(guest('wua-task.xml'))).toBe(true);
    const unattend = ntfsCat(raw, '/Windows/Panther/unattend.xml')!.toString('utf8');
    expect(unattend).toBe(guest('unattend.xml').toString('utf8'));
    // the architecture comes from the image's cmd.exe
    expect(unattend).toContain('processorArchitecture="amd64"');
    expect(ntfsCat(raw, '/ProgramData/msu-toolkit/backup/unattend.xml')!.toString('utf8')).toBe(USER_UNATTEND);
    expect(ntfsCat(raw, '/Users/Administrator/Documents/keep.txt')!.toString('utf8')).toBe('the user\'s own file\r\n');
    // the registry is not touched by the injection
    writeFileSync(path.join(dir, 'SOFTWARE.work'), ntfsCat(raw, '/Windows/System32/config/SOFTWARE')!);
    expect(hiveValue(path.join(dir, 'SOFTWARE.work'), 'Policies\\Microsoft\\Windows\\WindowsUpdate\\AU', 'UseWUServer')).toBe('1');
    expect(hiveValue(path.join(dir, 'SOFTWARE.work'), 'Microsoft\\Windows\\CurrentVersion\\Setup\\State', 'ImageState')).toBe('IMAGE_STATE_SPECIALIZE_RESEAL_TO_AUDIT');
    // the Audit Mode image itself is unchanged
    const base = toRaw(images.audit!, path.join(dir, 'base.raw'));
    expect(ntfsCat(base, '/Windows/Panther/unattend.xml')!.toString('utf8')).toBe(USER_UNATTEND);
    expect(ntfsLs(base, '/ProgramData/msu-toolkit')).toBeUndefined();
  });

  it('after a finished run the image has no injected unattend, runner, state or task; the user\'s unattend and files are back', SLOW, async () => {
    const runDir = path.join(dir, 'run');
    const work = path.join(runDir, WUA_RUN_FILES.work);
    // the finished state as the guest leaves it: state and status next to the runner, logs, rounds
    const raw = toRaw(work, path.join(dir, 'finished.raw'));
    const put = (dest: string, content: string): void => {
      const src = path.join(dir, 'put.tmp');
      writeFileSync(src, content);
      execFileSync('ntfscp', ['-f', '-q', raw, src, dest]);
    };
    put('/ProgramData/msu-toolkit/wua-state.json', JSON.stringify({ run: 'wua-inject', round: 2, boots: 4, finished: 'done', installed: [] }));
    put('/ProgramData/msu-toolkit/status.json', JSON.stringify({ run: 'wua-inject', ok: true, state: 'done' }));
    put('/ProgramData/msu-toolkit/wua-runner.log', 'log\r\n');
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, work]);
    expect(ntfsCat(toRaw(work, path.join(dir, 'check.raw')), '/ProgramData/msu-toolkit/wua-state.json')).toBeDefined();

    // the run ended with a clean guest power-off
    writeFileSync(path.join(runDir, 'events.jsonl'), '');
    const result = { id: 'wua-inject', ok: true, accel: 'tcg', starts: 3, boots: 4, guestErrors: [], results: [], screendumps: [], statusFiles: [], warnings: [], durationMs: 1000, shutdownReason: 'guest-shutdown' };
    writeFileSync(path.join(runDir, 'result.json'), JSON.stringify(result));
    const out = path.join(dir, 'serviced.qcow2');
    const done = await finishWuaRun(runDir, result as unknown as RunResult, { output: out });
    expect(done.output).toBe(out);

    const back = toRaw(out, path.join(dir, 'serviced.raw'));
    expect(ntfsLs(back, '/ProgramData/msu-toolkit')).toBeUndefined();
    expect(ntfsLs(back, '/Windows/System32/Tasks/msu-toolkit')).toBeUndefined();
    expect(ntfsLs(back, '/Windows/Panther')).toEqual(['unattend.xml']);
    expect(ntfsCat(back, '/Windows/Panther/unattend.xml')!.toString('utf8')).toBe(USER_UNATTEND);
    expect(ntfsCat(back, '/Users/Administrator/Documents/keep.txt')!.toString('utf8')).toBe('the user\'s own file\r\n');
    writeFileSync(path.join(dir, 'SOFTWARE.back'), ntfsCat(back, '/Windows/System32/config/SOFTWARE')!);
    writeFileSync(path.join(dir, 'SYSTEM.back'), ntfsCat(back, '/Windows/System32/config/SYSTEM')!);
    expect(hiveValue(path.join(dir, 'SOFTWARE.back'), 'Policies\\Microsoft\\Windows\\WindowsUpdate\\AU', 'UseWUServer')).toBe('1');
    expect(hiveValue(path.join(dir, 'SYSTEM.back'), 'ControlSet001\\Control\\Power', 'HibernateEnabled')).toBe('1');
    expect(hiveValue(path.join(dir, 'SYSTEM.back'), 'Setup', 'UnattendFile')).toBeUndefined();
    // a standalone image
    const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', out], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(info['backing-filename']).toBeUndefined();
  });
});
