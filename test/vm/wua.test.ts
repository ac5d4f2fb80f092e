import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { finishWuaRun, prepareWuaRun, WUA_RUN_FILES } from '../../src/vm/wua.js';
import { runVm, type RunResult } from '../../src/vm/runner.js';
import { validateRunSpec } from '../../src/vm/spec.js';
import { formatGuestLine } from '../../src/vm/protocol.js';
import { parseFilterArg } from '../../src/cli/commands/run.js';
import { runCli } from '../helpers/cli.js';
import { bootDisk, roundsBootSector, simpleBootSector } from '../helpers/bootsector.js';
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
    // maxRounds * (1 + maxPendingReboots) + 2
    expect(p.spec.timeouts.maxBoots).toBe(4 * 4 + 2);
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
    expect(out).toMatchObject({ kind: 'audit-wua', dryRun: true, runDir, hostCommands: ['qemu-img', 'virt-customize'] });
    const params = JSON.parse(readFileSync(path.join(runDir, 'guest', 'wua-params.json'), 'utf8')) as Record<string, unknown>;
    expect([params.maxRounds, params.criteria, params.exclude]).toEqual([3, 'IsInstalled=0', [{ title: 'Preview' }]]);
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
