import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareWuaRun } from '../../src/vm/wua.js';
import { parseFilterArg } from '../../src/cli/commands/run.js';
import { runCli } from '../helpers/cli.js';

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
