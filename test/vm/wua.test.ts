import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { applianceNeedsTcg, checkWuaImage, cleanupScript, finishWuaRun, guestEnv, injectionArgs, inspectWuaImage, parseInspection, prepareWuaRun, WUA_RUN_FILES, WuaImageError } from '../../src/vm/wua.js';
import { runVm, type RunResult } from '../../src/vm/runner.js';
import { validateRunSpec } from '../../src/vm/spec.js';
import { formatGuestLine } from '../../src/vm/protocol.js';
import { parseFilterArg } from '../../src/cli/commands/run.js';
import { runCli } from '../helpers/cli.js';
import { bootDisk, roundsBootSector, simpleBootSector } from '../helpers/bootsector.js';
import { fakeGuestfs } from '../helpers/fake-guestfs.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-wua-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const image = path.join(tmp, 'audit.qcow2');
writeFileSync(image, 'QFI\xfb');

describe('prepareWuaRun (dry run)', () => {
  it('writes runner, params, UTF-16 task XML, unattend, spec, argv and the injection commands', async () => {
    const runDir = path.join(tmp, 'r1');
    const p = await prepareWuaRun(image, { runDir, dryRun: true, maxRounds: 4, include: [{ kb: 'KB5034441' }], runId: 'wua-test' });
    expect(p.spec.id).toBe('wua-test');
    expect(p.spec.kind).toBe('audit-wua');
    expect(p.spec.vm.net).toEqual({ mode: 'user', model: 'e1000e' });
    expect(p.spec.vm.rebootPolicy).toBe('restart-process');
    // maxRounds * (1 + maxPendingReboots) + maxInstallRetries + 2
    expect(p.spec.timeouts.maxBoots).toBe(4 * 4 + 3 + 2);
    expect(p.spec.vm.disks.map((d) => [d.role, path.basename(d.path)])).toEqual([['system', 'work.qcow2']]);
    expect(p.artifacts.map((a) => a.path)).toEqual([
      'guest/wua-runner.ps1', 'guest/wua-params.json', 'guest/wua-task.xml', 'guest/unattend.xml', 'spec.json', 'host-commands.json', 'qemu-argv.json',
    ]);
    const params = JSON.parse(readFileSync(path.join(runDir, 'guest', 'wua-params.json'), 'utf8')) as Record<string, unknown>;
    expect(params.maxRounds).toBe(4);
    expect(params.include).toEqual([{ kb: '5034441' }]);
    expect(params.runId).toBe('wua-test');
    const task = readFileSync(path.join(runDir, 'guest', 'wua-task.xml'));
    expect([task[0], task[1]]).toEqual([0xff, 0xfe]);
    expect(p.commands.map((c) => c.tool)).toEqual(['qemu-img', 'virt-customize']);
    expect(p.commands[1]!.args).toContain(`${path.join(runDir, 'guest', 'unattend.xml')}:/Windows/Panther/unattend.xml`);
    expect(p.commands[0]!.args).toEqual(['create', '-f', 'qcow2', '-b', image, '-F', 'qcow2', path.join(runDir, 'work.qcow2')]);
    expect(existsSync(path.join(runDir, 'work.qcow2'))).toBe(false);
    const argv = JSON.parse(readFileSync(path.join(runDir, 'qemu-argv.json'), 'utf8')) as string[];
    expect(argv.join(' ')).toContain('e1000e');
  });

  it('names a missing image in a typed IO error', async () => {
    await expect(prepareWuaRun(path.join(tmp, 'nope.qcow2'), { runDir: path.join(tmp, 'r2'), dryRun: true })).rejects.toMatchObject({
      kind: 'io',
      file: path.join(tmp, 'nope.qcow2'),
      message: 'cannot open the Audit Mode image: no such file or directory',
    });
  });
});

describe('msu run wua', () => {
  it('parses filter arguments', () => {
    expect(parseFilterArg('KB5034441')).toEqual({ kb: 'KB5034441' });
    expect(parseFilterArg('title=Preview.*')).toEqual({ title: 'Preview.*' });
    expect(parseFilterArg('category=Drivers')).toEqual({ category: 'Drivers' });
    expect(parseFilterArg('update=0d5d8b6b-1b3a-4e59-9b6e-1f0f2a0b9c11')).toEqual({ updateId: '0d5d8b6b-1b3a-4e59-9b6e-1f0f2a0b9c11' });
  });

  it('--dry-run --json prints the summary and writes the files', async () => {
    const runDir = path.join(tmp, 'cli1');
    const r = await runCli('run', 'wua', image, '--include', 'KB5034441', '--exclude', 'title=Preview', '--max-rounds', '3', '--criteria', 'IsInstalled=0', '--run-dir', runDir, '--dry-run', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { kind: string; dryRun: boolean; runDir: string; hostCommands: string[] };
    // named absolutely, shown relative to the working directory (docs/cli.md: no absolute paths in --json)
    expect(out).toMatchObject({ kind: 'audit-wua', dryRun: true, runDir: path.relative(process.cwd(), runDir), hostCommands: ['qemu-img', 'virt-customize'] });
    const params = JSON.parse(readFileSync(path.join(runDir, 'guest', 'wua-params.json'), 'utf8')) as Record<string, unknown>;
    expect([params.maxRounds, params.criteria, params.exclude]).toEqual([3, 'IsInstalled=0', [{ title: 'Preview' }]]);
  });

  it('an existing --output is refused before anything starts, unless --overwrite', async () => {
    const mine = path.join(tmp, 'mine.qcow2');
    writeFileSync(mine, 'my image');
    const runDir = path.join(tmp, 'cli-out');
    const r = await runCli('run', 'wua', image, '--output', mine, '--run-dir', runDir, '--dry-run');
    expect([r.code, r.stderr]).toEqual([6, `msu: ${mine}: already exists; nothing was started (pass --overwrite to replace it)\n`]);
    expect(existsSync(runDir)).toBe(false);
    expect((await runCli('run', 'wua', image, '--output', mine, '--overwrite', '--run-dir', runDir, '--dry-run')).code).toBe(0);
    expect(readFileSync(mine, 'utf8')).toBe('my image');
  });

  it('--arch sets the unattend architecture; an unknown one is a usage error', async () => {
    const runDir = path.join(tmp, 'cli-arch');
    const r = await runCli('run', 'wua', image, '--arch', 'arm64', '--run-dir', runDir, '--dry-run');
    expect(r.code).toBe(0);
    expect(readFileSync(path.join(runDir, 'guest', 'unattend.xml'), 'utf8')).toContain('processorArchitecture="arm64"');
    const bad = await runCli('run', 'wua', image, '--arch', 'ia64', '--run-dir', path.join(tmp, 'cli-arch2'), '--dry-run');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('msu: --arch must be amd64, x86 or arm64, got "ia64"\n');
  });

  it('bad arguments give one line and the usage exit code', async () => {
    const r = await runCli('run', 'wua', image, '--max-rounds', 'many', '--dry-run');
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('msu: --max-rounds must be a positive integer, got "many"\n');
    const r2 = await runCli('run', 'wua', image, '--include', 'KB12;calc', '--run-dir', path.join(tmp, 'cli2'), '--dry-run');
    expect(r2.code).toBe(2);
    expect(r2.stderr).toBe('msu: include[0]: "KB12;calc" is not a KB number (KB1234567)\n');
  });
});

const qemuReady = hasTool('qemu-system-x86_64') && hasTool('qemu-img');
if (!qemuReady) skipNote('finishWuaRun end-to-end', 'qemu-system-x86_64 / qemu-img');

describe.skipIf(!qemuReady)('finishWuaRun after a real run on the work.qcow2 overlay', () => {
  const FAST = { bootSec: 5, heartbeatSec: 3, perBootSec: 15, totalSec: 25, maxBoots: 4, tcgFactor: 1, graceSec: 1 };
  async function runOn(sector: Buffer, name: string): Promise<{ dir: string; runDir: string; base: string; result: RunResult }> {
    const dir = mkdtempSync(path.join(os.tmpdir(), `msu-wua-finish-${name}-`));
    const base = path.join(dir, 'audit.img');
    writeFileSync(base, bootDisk(sector));
    const runDir = path.join(dir, 'run');
    const spec = validateRunSpec({
      id: `fin-${name}`,
      vm: { accel: 'tcg', firmware: { type: 'seabios' }, cpus: 1, memMiB: 32, disks: [{ role: 'system', path: path.join(runDir, WUA_RUN_FILES.work), overlayOf: base, overlayFormat: 'raw' }] },
      timeouts: FAST,
    });
    const result = await runVm(spec, { runDir, baseDir: dir });
    return { dir, runDir, base, result };
  }

  it('clean power-off: report.json, and the overlay flattened into a standalone image with the guest\'s writes', { timeout: 30_000 }, async () => {
    const { dir, runDir, base, result } = await runOn(roundsBootSector(2), 'ok');
    try {
      expect(result.ok).toBe(true);
      const out = path.join(dir, 'updated.qcow2');
      // the boot-sector guest has no Windows volume to clean (test/vm/wua-inject.test.ts covers the cleanup)
      const r = await finishWuaRun(runDir, result, { output: out, compress: true, cleanup: false });
      expect(r.output).toBe(out);
      expect(r.report).toMatchObject({ ok: true, boots: 2, steps: [{ id: 'round', outcome: 'ok', boot: 1 }] });
      expect(existsSync(path.join(runDir, 'report.json'))).toBe(true);
      const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', out], { encoding: 'utf8' })) as Record<string, unknown>;
      expect(info['backing-filename']).toBeUndefined();
      const flat = path.join(dir, 'flat.raw');
      execFileSync('qemu-img', ['convert', '-O', 'raw', out, flat]);
      expect(readFileSync(flat)[512]).toBe(2); // the guest's round counter
      expect(readFileSync(base)[512]).toBe(0); // the Audit Mode image itself untouched
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a failed run: the report says why, and nothing is compacted', { timeout: 30_000 }, async () => {
    const { dir, runDir, result } = await runOn(simpleBootSector([formatGuestLine({ type: 'boot', n: 1 }).trimEnd()], 'hang'), 'hang');
    try {
      expect(result.ok).toBe(false);
      const r = await finishWuaRun(runDir, result);
      expect(r.output).toBeUndefined();
      expect(r.report.failure).toMatchObject({ code: 'watchdog', limit: 'heartbeat' });
      expect(existsSync(path.join(runDir, 'serviced.qcow2'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the image checks and the cleanup, as data (the real libguestfs runs are in wua-inject.test.ts)', () => {
  const out = (o: Record<string, string[]>): string => Object.entries(o).map(([k, v]) => [`@@msu-${k}@@`, ...v].join('\n')).join('\n') + '\n';

  it('reads the inspection output: architecture, Panther answer files in any case, the hibernation signature', () => {
    // as guestfish prints them: find with a leading slash, pread without a line break before the next marker
    const text = out({ arch: ['x86_64'], panther: ['/UnattendGC', '/Unattend.XML', '/Unattend', '/Unattend/Autounattend.xml', '/setupact.log'], hiberfil: [] }).replace('@@msu-hiberfil@@\n', '@@msu-hiberfil@@\nHIBR\u0000\u0000') + '@@msu-end@@\n';
    const facts = parseInspection(text, 'C:\\a.xml');
    expect(facts).toEqual({ arch: 'amd64', hibernated: true, pantherUnattend: ['Unattend/Autounattend.xml'], existingUnattend: 'Unattend.XML', unattendFile: 'C:\\a.xml' });
    // a missing hiberfil.sys or Panther folder (the commands failed, nothing printed) is no problem
    expect(parseInspection(out({ arch: ['i386'], panther: [], hiberfil: [], end: [] }), undefined)).toEqual({ arch: 'x86', hibernated: false, pantherUnattend: [] });
    // a hiberfil.sys that was resumed from ("wake") or zeroed is not hibernated
    expect(parseInspection(out({ arch: ['aarch64'], panther: [], hiberfil: ['wake'], end: [] }), undefined).hibernated).toBe(false);
  });

  it('refuses the image with every problem in one typed error; --arch must match the image', () => {
    const clean = { arch: 'amd64' as const, hibernated: false, pantherUnattend: [] };
    expect(checkWuaImage(clean, 'a.qcow2')).toBe('amd64');
    expect(checkWuaImage({ hibernated: false, pantherUnattend: [] }, 'a.qcow2')).toBe('amd64');
    expect(checkWuaImage({ hibernated: false, pantherUnattend: [] }, 'a.qcow2', 'x86')).toBe('x86');
    let err: unknown;
    try {
      checkWuaImage({ ...clean, hibernated: true, unattendFile: 'D:\\x.xml', pantherUnattend: ['Unattend/Unattend.xml'] }, 'a.qcow2', 'arm64');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WuaImageError);
    const e = err as WuaImageError;
    expect([e.kind, e.code, e.file]).toEqual(['unsupported', 'E_WUA_IMAGE', 'a.qcow2']);
    const at = ['Windows is hibernated or was shut down with Fast Startup', 'HKLM\\SYSTEM\\Setup!UnattendFile names "D:\\\\x.xml"', 'Windows\\Panther\\Unattend\\Unattend.xml would be read before', "--arch arm64 does not match the image's Windows (amd64)"].map((p) => e.message.indexOf(p));
    expect(e.message.startsWith('cannot prepare this Audit Mode image: ')).toBe(true);
    expect(at.every((i) => i > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  it('injection moves an existing Panther unattend aside before uploading; the cleanup puts it back after removing the run', () => {
    const plain = injectionArgs('/r/work.qcow2', '/r/guest', {});
    expect(plain).not.toContain('--move');
    expect(plain.slice(-2)).toEqual(['--upload', '/r/guest/unattend.xml:/Windows/Panther/unattend.xml']);
    const kept = injectionArgs('/r/work.qcow2', '/r/guest', { existingUnattend: 'Unattend.XML' });
    const move = kept.indexOf('--move');
    expect(kept.slice(move, move + 2)).toEqual(['--move', '/Windows/Panther/Unattend.XML:/ProgramData/msu-toolkit/backup/unattend.xml']);
    expect(move).toBeLessThan(kept.lastIndexOf('--upload'));
    expect(cleanupScript({ existingUnattend: 'Unattend.XML' }).split('\n')).toEqual([
      '-rm-f /Windows/Panther/unattend.xml',
      '-mv /ProgramData/msu-toolkit/backup/unattend.xml /Windows/Panther/Unattend.XML',
      '-rm-rf /ProgramData/msu-toolkit',
      '-rm-f /Windows/System32/Tasks/msu-toolkit/wua-runner',
      '-rmdir /Windows/System32/Tasks/msu-toolkit',
      '',
    ]);
    expect(cleanupScript({})).not.toContain('-mv');
  });
});

describe('libguestfs under a KVM that cannot launch its appliance', () => {
  const fake = fakeGuestfs();
  afterAll(() => fake.remove());
  // a KVM that runs probeAccel's test guest but not the appliance (test/vm/wua-appliance.test.ts: one that fails the probe)
  beforeAll(async () => {
    expect(await applianceNeedsTcg(async () => ({ accel: 'kvm' }))).toBe(false);
  });

  it('a user who forces TCG is not probed for KVM (this process took KVM above)', async () => {
    const probe = async (): Promise<never> => {
      throw new Error('probed');
    };
    expect(await applianceNeedsTcg(probe, { LIBGUESTFS_BACKEND_SETTINGS: 'network_bridge=br0:force_tcg' })).toBe(true);
  });

  it('another failure is reported as it is, with no second run', async () => {
    fake.setMode('other');
    fake.clear();
    await expect(fake.with(() => inspectWuaImage(path.join(fake.dir, 'disk.img')))).rejects.toMatchObject({ message: expect.stringContaining('no such file: disk.img') });
    expect(fake.runs()).toEqual(['direct']);
  });

  it('a failed launch is run once more under TCG, and later runs go straight to TCG', async () => {
    fake.setMode('launch');
    fake.clear();
    const facts = await fake.with(() => inspectWuaImage(path.join(fake.dir, 'disk.img')));
    expect(facts).toEqual({ arch: 'amd64', hibernated: false, pantherUnattend: [] });
    expect(fake.runs()).toEqual(['direct', 'direct force_tcg']);
    await fake.with(() => inspectWuaImage(path.join(fake.dir, 'disk.img')));
    expect(fake.runs()).toEqual(['direct', 'direct force_tcg', 'direct force_tcg']);
  });

  it("keeps the user's backend and settings", () => {
    expect(guestEnv({}, false)).toEqual({ LIBGUESTFS_BACKEND: 'direct' });
    expect(guestEnv({ LIBGUESTFS_BACKEND: 'libvirt', LIBGUESTFS_BACKEND_SETTINGS: 'network_bridge=br0' }, true)).toEqual({ LIBGUESTFS_BACKEND: 'libvirt', LIBGUESTFS_BACKEND_SETTINGS: 'network_bridge=br0:force_tcg' });
    expect(guestEnv({ LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' }, true)).toEqual({ LIBGUESTFS_BACKEND: 'direct', LIBGUESTFS_BACKEND_SETTINGS: 'force_tcg' });
  });
});
