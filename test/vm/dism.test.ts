import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GOLDEN, loadPlan, pinPlan, SAFEOS, SSU, winrePlan } from './plans.js';
import type { Plan } from '../../src/plan/plan-types.js';
import { assertMatchesPlan, compareWithPlan, parseDismDrivers, parseDismPackages } from '../../src/vm/dism-output.js';
import { checkDismReports, collectDismOutputs, dismRunId, finishDismRun, loadPlanFile, prepareDismRun } from '../../src/vm/dism.js';
import { MsuError, MismatchError, TruncatedError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { runTool } from '../../src/util/exec.js';
import { WARNING_CODES } from '../../src/vm/guest/dism-worker.js';
import { formatRunReport } from '../../src/vm/report.js';

const fixture = (name: string): string => readFileSync(path.join(GOLDEN, name), 'utf8');


/** A WinRE /Get-Packages listing: the fixture (it has the SSU) plus the Safe OS DU. */
const winreListing = (): string =>
  fixture('dism-get-packages.txt').replace('The operation completed', `Package Identity : ${SAFEOS}\r\nState : Installed\r\nRelease Type : Update\r\n\r\nThe operation completed`);

const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-dism-test-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('parseDismPackages', () => {
  it('reads every record of the list format', () => {
    const p = parseDismPackages(fixture('dism-get-packages.txt'), 'pk.txt');
    expect(p.map((x) => [x.identity, x.state])).toEqual([
      ['Microsoft-Windows-Client-LanguagePack-Package~31bf3856ad364e35~amd64~en-US~10.0.26100.1', 'Installed'],
      ['Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.1742.1.10', 'Superseded'],
      ['Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.3476.1.8', 'Installed'],
      ['Package_for_ServicingStack_1234~31bf3856ad364e35~amd64~~26100.1234.1.0', 'Installed'],
    ]);
    expect(p[0]!.releaseType).toBe('Language Pack');
    expect(p[2]!.installTime).toBe('11/23/2026 12:55 PM');
  });

  it('reads UTF-16LE bytes with a BOM the same way', () => {
    const text = fixture('dism-get-packages.txt');
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    expect(parseDismPackages(bytes)).toEqual(parseDismPackages(text));
  });

  it('refuses truncated, empty, foreign and error output with one typed error each', () => {
    const text = fixture('dism-get-packages.txt');
    const cut = text.slice(0, text.indexOf('The operation'));
    expect(() => parseDismPackages(cut, 'p.txt')).toThrow(TruncatedError);
    expect(() => parseDismPackages('', 'p.txt')).toThrow(/empty/);
    expect(() => parseDismPackages('hello\r\nworld\r\n', 'p.txt')).toThrow(/no listing header/);
    const err = 'Deployment Image Servicing and Management tool\r\n\r\nError: 87\r\n\r\nThe parameter is incorrect.\r\n';
    try {
      parseDismPackages(err, 'p.txt');
      expect.unreachable();
    } catch (e) {
      expect((e as MsuError).code).toBe('E_DISM_ERROR');
      expect((e as MsuError).file).toBe('p.txt');
      expect((e as MsuError).message).toContain('Error: 87 The parameter is incorrect.');
    }
    const hostile = text.replace('Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.1742.1.10', 'rm -rf /');
    expect(() => parseDismPackages(hostile)).toThrow(/not a package identity/);
    const noState = text.replace('State : Superseded\r\n', '');
    expect(() => parseDismPackages(noState)).toThrow(/record 2 lacks/);
  });
});

describe('parseDismDrivers', () => {
  it('reads the list format', () => {
    expect(parseDismDrivers(fixture('dism-get-drivers.txt'))).toEqual([
      { publishedName: 'oem0.inf', originalFileName: 'viosnd.inf', inbox: false, className: 'MEDIA', providerName: 'Red Hat, Inc.', date: '6/3/2024', version: '100.95.104.26000' },
    ]);
  });

  it('reads the table format', () => {
    const d = parseDismDrivers(fixture('dism-get-drivers-table.txt'));
    expect(d.map((x) => [x.publishedName, x.originalFileName, x.className])).toEqual([
      ['oem0.inf', 'viosnd.inf', 'MEDIA'],
      ['oem1.inf', 'netkvm.inf', 'Net'],
    ]);
  });

  it('refuses a table row with the wrong number of columns', () => {
    const bad = fixture('dism-get-drivers-table.txt').replace('| No    | Net', '| No');
    expect(() => parseDismDrivers(bad)).toThrow(/columns/);
  });
});

describe('compareWithPlan', () => {
  const plan = loadPlan();
  const pk = parseDismPackages(fixture('dism-get-packages.txt'));
  const dr = parseDismDrivers(fixture('dism-get-drivers.txt'));
  const bootPk = parseDismPackages(fixture('dism-get-packages.txt').replace(/Package_for_ServicingStack_1234/g, 'Package_for_SafeOSDU').replace('26100.1234.1.0', '26100.3000.1.2'));

  it('accepts the fixture result: superseded checkpoint covered by the newer LCU', () => {
    expect(compareWithPlan(plan, { 'install.wim#1': pk, 'boot.wim#2': bootPk }, { 'install.wim#1': dr, 'boot.wim#2': [] })).toEqual([]);
  });

  it('reports every kind of difference, and assertMatchesPlan fails loudly', () => {
    const noSsu = pk.filter((p) => !p.identity.startsWith('Package_for_ServicingStack'));
    const pending = pk.map((p) => (p.identity.includes('3476') ? { ...p, state: 'Staged' } : p));
    const diffs = compareWithPlan(plan, { 'install.wim#1': noSsu.filter((p) => p.identity !== pending[2]!.identity).concat([pending[2]!]) }, { 'install.wim#1': [] });
    expect(diffs).toEqual([
      { image: 'install.wim#1', kind: 'package-missing', item: 'Package_for_ServicingStack_1234~31bf3856ad364e35~amd64~~26100.1234.1.0', detail: "step 1: not in the image's package list" },
      { image: 'install.wim#1', kind: 'package-not-installed', item: 'Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.1742.1.10', detail: 'step 2: state is Superseded' },
      { image: 'install.wim#1', kind: 'package-not-installed', item: 'Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.3476.1.8', detail: 'step 2: state is Staged' },
      { image: 'install.wim#1', kind: 'driver-missing', item: 'viosnd.inf', detail: 'step 3: no third-party driver with original file name viosnd.inf' },
      { image: 'boot.wim#2', kind: 'image-not-reported', item: 'boot.wim#2', detail: 'no package listing for this image' },
    ]);
    expect(() => assertMatchesPlan(plan, {}, {})).toThrow(MismatchError);
  });

  it('expects a listing of the WinRE inside each install image, keyed install.wim#N/winre.wim', () => {
    const wp = winrePlan();
    const re = parseDismPackages(winreListing());
    const pkAll = { 'install.wim#1': pk, 'boot.wim#2': bootPk, 'install.wim#1/winre.wim': re };
    const drAll = { 'install.wim#1': dr, 'boot.wim#2': [], 'install.wim#1/winre.wim': [] };
    expect(compareWithPlan(wp, pkAll, drAll)).toEqual([]);
    // no WinRE listing at all: the WinRE copy was not reported
    expect(compareWithPlan(wp, { 'install.wim#1': pk, 'boot.wim#2': bootPk }, { 'install.wim#1': dr, 'boot.wim#2': [] })).toEqual([
      { image: 'install.wim#1/winre.wim', kind: 'image-not-reported', item: 'install.wim#1/winre.wim', detail: 'no package listing for this image' },
    ]);
    // a listing under the plan's own label does not count: WinRE exists only inside install images
    expect(compareWithPlan(wp, { ...pkAll, 'install.wim#1/winre.wim': undefined!, 'winre.wim': re }, drAll).map((d) => [d.image, d.kind])).toEqual([
      ['install.wim#1/winre.wim', 'image-not-reported'],
    ]);
    // the Safe OS DU missing from WinRE (but present elsewhere) is a difference of the WinRE copy
    const noSafeOs = re.filter((p) => p.identity !== SAFEOS);
    expect(compareWithPlan(wp, { ...pkAll, 'install.wim#1/winre.wim': noSafeOs }, drAll)).toEqual([
      { image: 'install.wim#1/winre.wim', kind: 'package-missing', item: SAFEOS, detail: "step 2: not in the image's package list" },
    ]);
    // not applicable is per WinRE copy: the step id the worker ran (i1.winre.s2), not the plan image's folder id (i3s2)
    expect(compareWithPlan(wp, { ...pkAll, 'install.wim#1/winre.wim': noSafeOs }, drAll, { notApplicable: new Set(['i1.winre.s2']) })).toEqual([]);
    expect(compareWithPlan(wp, { ...pkAll, 'install.wim#1/winre.wim': noSafeOs }, drAll, { notApplicable: new Set(['i3s2']) })).toHaveLength(1);
    expect(() => assertMatchesPlan(wp, { ...pkAll, 'install.wim#1/winre.wim': noSafeOs }, drAll)).toThrow(
      `install.wim#1/winre.wim: package-missing ${SAFEOS} (step 2: not in the image's package list)`,
    );
  });

  it('does not expect packages of a step the worker accepted as not applicable', () => {
    const d = compareWithPlan(plan, { 'install.wim#1': pk, 'boot.wim#2': pk }, { 'install.wim#1': dr, 'boot.wim#2': [] }, { notApplicable: new Set(['i2s1']) });
    expect(d).toEqual([]);
  });
});

function writeInputs(dir: string): void {
  mkdirSync(path.join(dir, 'updates'), { recursive: true });
  mkdirSync(path.join(dir, 'drivers', 'viosnd'), { recursive: true });
  for (const f of ['windows11.0-kb5043080-x64.msu', 'windows11.0-kb5053598-x64.msu', 'SSU & friends (100%).cab', 'windows11.0-kb5055000-x64.cab']) writeFileSync(path.join(dir, 'updates', f), `bytes of ${f}`);
  writeFileSync(path.join(dir, 'drivers', 'viosnd', 'viosnd.inf'), '[Version]\r\n');
  writeFileSync(path.join(dir, 'Win.iso'), 'iso');
}

/** writeInputs, and the golden plans pinned to those files, the plan written beside them as plan.json. */
async function pinnedInputs(dir: string): Promise<{ plan: Plan; winre: Plan }> {
  writeInputs(dir);
  const plan = await pinPlan(loadPlan(), dir);
  writeFileSync(path.join(dir, 'plan.json'), JSON.stringify(plan));
  return { plan, winre: await pinPlan(winrePlan(), dir) };
}

describe('prepareDismRun (dry run) and msu run dism --dry-run', () => {
  const dir = path.join(tmp, 'work');
  let plan: Plan, winre: Plan;
  beforeAll(async () => {
    ({ plan, winre } = await pinnedInputs(dir));
  });

  it('writes the worker files, spec, argv and host commands, and builds a valid one-boot spec', async () => {
    const runDir = path.join(tmp, 'run1');
    const p = await prepareDismRun(plan, { iso: path.join(dir, 'Win.iso'), runDir, baseDir: dir, dryRun: true });
    expect(p.spec.id).toBe(dismRunId(plan));
    expect(p.spec.kind).toBe('dism-worker');
    expect(p.spec.timeouts.maxBoots).toBe(1);
    expect(p.spec.vm.net).toEqual({ mode: 'none' });
    expect(p.spec.vm.cdroms.map((c) => c.role)).toEqual(['boot', 'inputs', 'original-iso']);
    expect(p.spec.vm.disks.map((d) => [d.role, path.basename(d.path), d.format])).toEqual([['work', 'scratch.img', 'raw'], ['output', 'output.img', 'raw']]);
    expect(p.spec.expect.statusFile).toBe('status.json');
    expect(p.artifacts.map((a) => a.path)).toEqual([
      'guest/startnet.cmd', 'guest/worker.cmd', 'guest/heartbeat.cmd', 'guest/msu-diskpart.txt', 'guest/winpeshl.ini',
      'dism-manifest.json', 'spec.json', 'host-commands.json', 'qemu-argv.json',
    ]);
    expect(readFileSync(path.join(runDir, 'guest', 'worker.cmd'), 'utf8')).toBe(readFileSync(path.join(GOLDEN, 'dism-worker.cmd'), 'utf8').replaceAll('golden-dism', p.spec.id));
    const argv = JSON.parse(readFileSync(path.join(runDir, 'qemu-argv.json'), 'utf8')) as string[];
    expect(argv[0]).toBe('qemu-system-x86_64');
    expect(argv.some((a) => a.endsWith('inputs.iso'))).toBe(true);
    // nothing was built or copied in a dry run
    expect(existsSync(path.join(runDir, 'inputs'))).toBe(false);
    expect(existsSync(path.join(runDir, 'serial.log'))).toBe(false);
    const manifest = JSON.parse(readFileSync(path.join(runDir, 'dism-manifest.json'), 'utf8')) as { copies: Array<{ from: string; to: string }> };
    expect(manifest.copies).toEqual([
      { from: 'updates/SSU & friends (100%).cab', to: 'inputs/steps/i1s1/in3.cab' },
      { from: 'updates/windows11.0-kb5043080-x64.msu', to: 'inputs/steps/i1s2/windows11.0-kb5043080-x64.msu' },
      { from: 'updates/windows11.0-kb5053598-x64.msu', to: 'inputs/steps/i1s2/windows11.0-kb5053598-x64.msu' },
      { from: 'drivers/viosnd', to: 'inputs/steps/i1s3/viosnd' },
      { from: 'updates/windows11.0-kb5055000-x64.cab', to: 'inputs/steps/i2s1/windows11.0-kb5055000-x64.cab' },
    ]);
    const cmds = JSON.parse(readFileSync(path.join(runDir, 'host-commands.json'), 'utf8')) as Array<{ tool: string }>;
    expect(cmds.map((c) => c.tool)).toEqual(['cp', 'cp', 'cp', 'cp', 'cp', 'xorriso', 'xorriso', 'wimlib-imagex', 'xorriso', 'createStatusDisk', 'createStatusDisk']);
  });

  it('dry run with winre.wim: the worker services WinRE inside install.wim, the manifest names each WinRE copy', async () => {
    const runDir = path.join(tmp, 'run-winre');
    const p = await prepareDismRun(winre, { iso: path.join(dir, 'Win.iso'), runDir, baseDir: dir, dryRun: true });
    expect(p.spec.guest?.params).toEqual({ runId: dismRunId(winre), images: ['install.wim#1', 'boot.wim#2', 'winre.wim'] });
    expect(readFileSync(path.join(runDir, 'guest', 'worker.cmd'), 'utf8')).toBe(readFileSync(path.join(GOLDEN, 'dism-worker-winre.cmd'), 'utf8').replaceAll('golden-dism', p.spec.id));
    const manifest = JSON.parse(readFileSync(path.join(runDir, 'dism-manifest.json'), 'utf8')) as {
      images: Array<{ image: string; wim: string; index: number; steps: Array<{ id: string; isoDir: string; files: string[]; allow: number[] }>; servicedIn?: unknown }>;
      copies: Array<{ from: string; to: string }>;
    };
    expect(manifest.images.map((im) => [im.image, im.wim, im.index])).toEqual([['install.wim#1', 'install.wim', 1], ['boot.wim#2', 'boot.wim', 2], ['winre.wim', 'winre.wim', 1]]);
    const re = manifest.images[2]!;
    expect(re.steps.map((s) => [s.id, s.isoDir, s.files, s.allow])).toEqual([
      ['i3s1', 'steps/i3s1', ['in3.cab'], [0, 3010]],
      ['i3s2', 'steps/i3s2', ['windows11.0-kb5055000-x64.cab'], [0, 3010, -2146498530]],
      ['i3s3', '', [], [0, 3010, -2146498554]],
    ]);
    expect(re.servicedIn).toEqual([
      { host: 'install.wim#1', name: 'install.wim#1/winre.wim', steps: ['i1.winre.s1', 'i1.winre.s2', 'i1.winre.s3'], reports: ['reports/i1.winre.packages.txt', 'reports/i1.winre.drivers.txt'] },
    ]);
    expect(manifest.images[0]!.servicedIn).toBeUndefined();
    // WinRE payloads go onto the inputs ISO once, whatever the number of install images
    expect(manifest.copies.slice(-2)).toEqual([
      { from: 'updates/SSU & friends (100%).cab', to: 'inputs/steps/i3s1/in3.cab' },
      { from: 'updates/windows11.0-kb5055000-x64.cab', to: 'inputs/steps/i3s2/windows11.0-kb5055000-x64.cab' },
    ]);
    expect(manifest.copies).toHaveLength(7);
    // in3 and in5 serve two steps each: one copy, then a hard link (the ISO stores the bytes once)
    const cmds = JSON.parse(readFileSync(path.join(runDir, 'host-commands.json'), 'utf8')) as Array<{ tool: string; args: string[] }>;
    expect(cmds.filter((c) => c.tool === 'cp' || c.tool === 'ln').map((c) => [c.tool, path.relative(runDir, c.args.at(-1)!)])).toEqual([
      ['cp', 'inputs/steps/i1s1/in3.cab'],
      ['cp', 'inputs/steps/i1s2/windows11.0-kb5043080-x64.msu'],
      ['cp', 'inputs/steps/i1s2/windows11.0-kb5053598-x64.msu'],
      ['cp', 'inputs/steps/i1s3/viosnd'],
      ['cp', 'inputs/steps/i2s1/windows11.0-kb5055000-x64.cab'],
      ['ln', 'inputs/steps/i3s1/in3.cab'],
      ['ln', 'inputs/steps/i3s2/windows11.0-kb5055000-x64.cab'],
    ]);
  });

  it('fails with a typed error naming a missing plan input', async () => {
    const p = structuredClone(plan);
    p.inputs[0]!.path = 'updates/missing.msu';
    await expect(prepareDismRun(p, { iso: path.join(dir, 'Win.iso'), runDir: path.join(tmp, 'run2'), baseDir: dir, dryRun: true })).rejects.toMatchObject({
      file: 'updates/missing.msu',
      message: 'cannot open plan input in1: no such file or directory',
      kind: 'io',
    });
  });

  it('dry run checks every input against the size and SHA-256 the plan pins, and writes nothing on a mismatch', async () => {
    const zeros = structuredClone(plan);
    zeros.inputs[2]!.sha256 = '0'.repeat(64);
    const runDir = path.join(tmp, 'run-zeros');
    await expect(prepareDismRun(zeros, { iso: path.join(dir, 'Win.iso'), runDir, baseDir: dir, dryRun: true })).rejects.toMatchObject({
      kind: 'mismatch', code: 'E_PLAN_INPUT_CHANGED', file: 'updates/SSU & friends (100%).cab',
      message: expect.stringContaining(`plan input in3 is not the file the plan was made from: its sha256 is ${plan.inputs[2]!.sha256}`),
    });
    expect(existsSync(runDir)).toBe(false);
    // the file replaced after planning (same size, other bytes), and a driver folder that gained a file
    const other = path.join(tmp, 'replaced');
    await pinnedInputs(other);
    writeFileSync(path.join(other, 'updates', 'windows11.0-kb5043080-x64.msu'), 'bytes of windows11.0-kb5043080-x64.msX');
    const r = await runCli('run', 'dism', path.join(other, 'plan.json'), '--iso', path.join(other, 'Win.iso'), '--run-dir', path.join(tmp, 'run-replaced'), '--dry-run');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^msu: updates\/windows11\.0-kb5043080-x64\.msu: plan input in1 is not the file the plan was made from: its sha256 is [0-9a-f]{64}, the plan pins 38 bytes, sha256 [0-9a-f]{64}\n$/);
    writeFileSync(path.join(other, 'updates', 'windows11.0-kb5043080-x64.msu'), 'bytes of windows11.0-kb5043080-x64.msu');
    writeFileSync(path.join(other, 'drivers', 'viosnd', 'extra.sys'), 'MZ');
    const r2 = await runCli('run', 'dism', path.join(other, 'plan.json'), '--iso', path.join(other, 'Win.iso'), '--run-dir', path.join(tmp, 'run-replaced2'), '--dry-run', '--json');
    expect(r2.code).toBe(1);
    expect(r2.stdout).toBe('');
    expect(r2.stderr).toContain('drivers/viosnd: plan input in4 is not the file the plan was made from: its size is 13 bytes');
  });

  it('a hand-edited plan never reaches files outside the base directory: .., absolute paths and symlinks are refused', async () => {
    const evil = path.join(tmp, 'evil');
    await pinnedInputs(evil);
    const runs: string[] = [];
    for (const [p, message] of [
      ['../../etc/passwd', 'malformed plan: inputs[0] (in1): path "../../etc/passwd" climbs out of the plan directory (..)'],
      ['/etc/passwd', 'malformed plan: inputs[0] (in1): path "/etc/passwd" is absolute'],
      ['updates/../../x.msu', 'malformed plan: inputs[0] (in1): path "updates/../../x.msu" climbs out of the plan directory (..)'],
      ['C:/Windows/x.msu', 'malformed plan: inputs[0] (in1): path "C:/Windows/x.msu" has a drive letter'],
    ] as const) {
      const edited = structuredClone(plan);
      edited.inputs[0]!.path = p;
      writeFileSync(path.join(evil, 'edited.json'), JSON.stringify(edited));
      const runDir = path.join(tmp, `run-evil-${runs.length}`);
      runs.push(runDir);
      const r = await runCli('run', 'dism', path.join(evil, 'edited.json'), '--iso', path.join(evil, 'Win.iso'), '--run-dir', runDir, '--dry-run');
      expect(r.code).toBe(3);
      expect(r.stderr).toBe(`msu: ${path.join(evil, 'edited.json')}: ${message}\n`);
      expect(existsSync(runDir)).toBe(false);
    }
    // a symbolic link inside the base directory that leads out of it
    symlinkSync('/etc/passwd', path.join(evil, 'updates', 'link.msu'));
    const edited = structuredClone(plan);
    edited.inputs[0]!.path = 'updates/link.msu';
    await expect(prepareDismRun(edited, { iso: path.join(evil, 'Win.iso'), runDir: path.join(tmp, 'run-evil-link'), baseDir: evil, dryRun: true })).rejects.toMatchObject({
      kind: 'input', code: 'E_PLAN_PATH', file: 'updates/link.msu',
      message: `plan input in1 leads out of the base directory ${evil} through a symbolic link`,
    });
    expect(existsSync(path.join(tmp, 'run-evil-link'))).toBe(false);
    // the library refuses an unsafe path too, even for a plan that did not come through the validator
    edited.inputs[0]!.path = '../../etc/passwd';
    await expect(prepareDismRun(edited, { iso: path.join(evil, 'Win.iso'), runDir: path.join(tmp, 'run-evil-lib'), baseDir: evil, dryRun: true })).rejects.toMatchObject({ code: 'E_PLAN_PATH' });
  });

  it('CLI dry run prints canonical JSON with relative artifact paths', async () => {
    const runDir = path.join(tmp, 'run3');
    const r = await runCli('run', 'dism', path.join(dir, 'plan.json'), '--iso', path.join(dir, 'Win.iso'), '--base-dir', dir, '--run-dir', runDir, '--dry-run', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { id: string; dryRun: boolean; runDir: string; artifacts: Array<{ path: string }>; hostCommands: string[] };
    expect(out.dryRun).toBe(true);
    expect(out.runDir).toBe(path.relative(process.cwd(), runDir));
    expect(out.id).toBe(dismRunId(plan));
    expect(out.artifacts).toHaveLength(9);
    expect(out.hostCommands).toContain('wimlib-imagex');
    expect(existsSync(path.join(runDir, 'guest', 'startnet.cmd'))).toBe(true);
  });

  it('CLI: a bad plan file gives one error line naming it and exit code 3', async () => {
    writeFileSync(path.join(tmp, 'bad-plan.json'), '{"schema":"other"}');
    const r = await runCli('run', 'dism', path.join(tmp, 'bad-plan.json'), '--iso', path.join(dir, 'Win.iso'), '--dry-run');
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`msu: ${path.join(tmp, 'bad-plan.json')}: not a plan: schema is "other", expected msu-toolkit/plan@1\n`);
    // WinRE without install.wim: nothing to reach it through
    const noInstall = structuredClone(winre);
    noInstall.images = noInstall.images.filter((im) => im.image !== 'install.wim#1');
    writeFileSync(path.join(dir, 'winre-plan.json'), JSON.stringify(noInstall));
    const r2 = await runCli('run', 'dism', path.join(dir, 'winre-plan.json'), '--iso', path.join(dir, 'Win.iso'), '--base-dir', dir, '--run-dir', path.join(tmp, 'run4'), '--dry-run');
    expect(r2.code).toBe(4);
    expect(r2.stderr).toBe(
      `msu: ${path.join(dir, 'winre-plan.json')}: plan image "winre.wim": WinRE is serviced inside install.wim (Windows\\System32\\Recovery\\Winre.wim), and the plan services no install.wim image; plan install.wim as well\n`,
    );
    // without --base-dir the inputs resolve against the plan file's directory: beside it they are found
    const r3 = await runCli('run', 'dism', path.join(dir, 'plan.json'), '--iso', path.join(dir, 'Win.iso'), '--run-dir', path.join(tmp, 'run5'), '--dry-run');
    expect([r3.code, r3.stderr]).toEqual([0, '']);
    // a plan copied elsewhere does not find them (and never looks in the current directory)
    mkdirSync(path.join(tmp, 'elsewhere'), { recursive: true });
    writeFileSync(path.join(tmp, 'elsewhere', 'plan.json'), JSON.stringify(plan));
    const r4 = await runCli('run', 'dism', path.join(tmp, 'elsewhere', 'plan.json'), '--iso', path.join(dir, 'Win.iso'), '--run-dir', path.join(tmp, 'run6'), '--dry-run');
    expect(r4.code).toBe(6);
    expect(r4.stderr).toBe('msu: updates/windows11.0-kb5043080-x64.msu: cannot open plan input in1: no such file or directory\n');
  });

  it('loadPlanFile refuses non-JSON and shapeless plans', async () => {
    writeFileSync(path.join(tmp, 'nojson.json'), '{');
    await expect(loadPlanFile(path.join(tmp, 'nojson.json'))).rejects.toThrow(/not valid JSON/);
    writeFileSync(path.join(tmp, 'shape.json'), JSON.stringify({ schema: 'msu-toolkit/plan@1', tool: { name: 'msu-toolkit', version: '0' }, target: { kind: 'build', version: '10.0.26100.1', arch: 'amd64' }, inputs: [], images: [{ image: 'install.wim#1', steps: [{ n: 1 }] }], skipped: [] }));
    await expect(loadPlanFile(path.join(tmp, 'shape.json'))).rejects.toThrow(/steps\[0\] needs n, action/);
  });
});

describe('checkDismReports', () => {
  it('reads the reports the worker wrote, honours not-applicable steps, and matches', async () => {
    const status = path.join(tmp, 'status-ok');
    mkdirSync(path.join(status, 'reports'), { recursive: true });
    writeFileSync(path.join(status, 'reports', 'i1.packages.txt'), fixture('dism-get-packages.txt'));
    writeFileSync(path.join(status, 'reports', 'i1.drivers.txt'), fixture('dism-get-drivers.txt'));
    writeFileSync(path.join(status, 'reports', 'i2.packages.txt'), fixture('dism-get-packages.txt'));
    writeFileSync(path.join(status, 'reports', 'i2.drivers.txt'), fixture('dism-get-drivers.txt'));
    writeFileSync(path.join(status, 'status.jsonl'), '{"type":"step","id":"i2s1","exitCode":-2146498530,"ok":true}\r\n{"type":"step","id":"i2-co');
    const r = await checkDismReports(loadPlan(), status);
    expect(r.notApplicable).toEqual(['i2s1']);
    expect(r.differences).toEqual([]);
    expect(Object.keys(r.packages).sort()).toEqual(['boot.wim#2', 'install.wim#1']);
  });

  it('reads the WinRE listings per install image; a missing one is image-not-reported', async () => {
    const status = path.join(tmp, 'status-winre');
    mkdirSync(path.join(status, 'reports'), { recursive: true });
    for (const n of [1, 2]) {
      writeFileSync(path.join(status, 'reports', `i${n}.packages.txt`), fixture('dism-get-packages.txt'));
      writeFileSync(path.join(status, 'reports', `i${n}.drivers.txt`), fixture('dism-get-drivers.txt'));
    }
    writeFileSync(path.join(status, 'status.jsonl'), '{"type":"step","id":"i2s1","exitCode":-2146498530,"ok":true}\r\n');
    // the worker's WinRE listings are missing: named by the WinRE copy they belong to
    await expect(checkDismReports(winrePlan(), status)).rejects.toThrow(
      'the serviced image does not match the plan: 1 difference(s): install.wim#1/winre.wim: image-not-reported install.wim#1/winre.wim (no package listing for this image)',
    );
    writeFileSync(path.join(status, 'reports', 'i1.winre.packages.txt'), winreListing());
    writeFileSync(path.join(status, 'reports', 'i1.winre.drivers.txt'), fixture('dism-get-drivers.txt'));
    const r = await checkDismReports(winrePlan(), status);
    expect(r.differences).toEqual([]);
    expect(Object.keys(r.packages).sort()).toEqual(['boot.wim#2', 'install.wim#1', 'install.wim#1/winre.wim']);
    expect(r.packages['install.wim#1/winre.wim']!.map((p) => p.identity)).toContain(SAFEOS);
    // WinRE without the Safe OS DU fails the check
    writeFileSync(path.join(status, 'reports', 'i1.winre.packages.txt'), fixture('dism-get-packages.txt'));
    await expect(checkDismReports(winrePlan(), status)).rejects.toMatchObject({
      kind: 'mismatch',
      message: expect.stringContaining(`install.wim#1/winre.wim: package-missing ${SAFEOS} (step 2`),
    });
  });

  it('fails with MismatchError when a report is missing, and names a corrupt report file', async () => {
    const status = path.join(tmp, 'status-bad');
    mkdirSync(path.join(status, 'reports'), { recursive: true });
    writeFileSync(path.join(status, 'reports', 'i1.packages.txt'), fixture('dism-get-packages.txt'));
    writeFileSync(path.join(status, 'reports', 'i1.drivers.txt'), fixture('dism-get-drivers.txt'));
    await expect(checkDismReports(loadPlan(), status)).rejects.toThrow(/boot\.wim#2: image-not-reported/);
    writeFileSync(path.join(status, 'reports', 'i1.drivers.txt'), 'Driver packages listing:\r\n\r\nPublished Name : oem0.inf\r\n');
    await expect(checkDismReports(loadPlan(), status)).rejects.toMatchObject({ file: path.join(status, 'reports', 'i1.drivers.txt'), code: 'E_TRUNCATED' });
  });
});

describe('prepareDismRun for real (host tools, no VM)', () => {
  const tools = ['xorriso', 'wimlib-imagex', 'mformat', 'mcopy'];
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length > 0) skipNote('real prepareDismRun', missing.join(', '));

  it.runIf(missing.length === 0)('builds the inputs ISO, the WinPE boot ISO with the worker in boot.wim index 2, and both disks', async () => {
    const dir = path.join(tmp, 'real');
    const { winre } = await pinnedInputs(dir);
    // a tiny stand-in for a Windows ISO: boot files and a two-image boot.wim
    const tree = path.join(dir, 'isotree');
    const img = path.join(dir, 'img');
    mkdirSync(path.join(tree, 'boot'), { recursive: true });
    mkdirSync(path.join(tree, 'efi', 'microsoft', 'boot'), { recursive: true });
    mkdirSync(path.join(tree, 'sources'), { recursive: true });
    mkdirSync(path.join(img, 'Windows', 'System32'), { recursive: true });
    writeFileSync(path.join(tree, 'boot', 'etfsboot.com'), Buffer.alloc(4096));
    writeFileSync(path.join(tree, 'efi', 'microsoft', 'boot', 'efisys_noprompt.bin'), Buffer.alloc(8192));
    writeFileSync(path.join(tree, 'bootmgr'), 'bootmgr');
    writeFileSync(path.join(tree, 'bootmgr.efi'), 'bootmgr.efi');
    writeFileSync(path.join(tree, 'sources', 'install.wim'), 'not a wim');
    writeFileSync(path.join(img, 'Windows', 'System32', 'startnet.cmd'), 'wpeinit\r\n');
    const wim = path.join(tree, 'sources', 'boot.wim');
    await runTool('wimlib-imagex', ['capture', img, wim, 'WinPE']);
    await runTool('wimlib-imagex', ['append', img, wim, 'Setup']);
    const iso = path.join(dir, 'Win.iso');
    rmSync(iso, { force: true });
    await runTool('xorriso', ['-as', 'mkisofs', '-iso-level', '3', '-J', '-r', '-V', 'WIN', '-b', 'boot/etfsboot.com', '-no-emul-boot', '-boot-load-size', '4',
      '-eltorito-alt-boot', '-e', 'efi/microsoft/boot/efisys_noprompt.bin', '-no-emul-boot', '-o', iso, tree]);

    const runDir = path.join(tmp, 'real-run');
    // first a plan whose pinned hash no longer matches: refused while copying, and nothing is left behind
    const stale = structuredClone(winre);
    stale.inputs[4]!.sha256 = 'f'.repeat(64);
    await expect(prepareDismRun(stale, { iso, runDir, baseDir: dir, scratchMiB: 8, outputMiB: 8 })).rejects.toMatchObject({ code: 'E_PLAN_INPUT_CHANGED', file: 'updates/windows11.0-kb5055000-x64.cab' });
    expect(existsSync(path.join(runDir, 'inputs'))).toBe(false);
    expect(existsSync(path.join(runDir, 'inputs.iso'))).toBe(false);

    const p = await prepareDismRun(winre, { iso, runDir, baseDir: dir, scratchMiB: 8, outputMiB: 8 });
    expect(p.artifacts.map((a) => a.path).slice(-4)).toEqual(['inputs.iso', 'boot.iso', 'scratch.img', 'output.img']);

    const listing = (await runTool('xorriso', ['-indev', path.join(runDir, 'inputs.iso'), '-find', '/', '-type', 'f'])).stdout;
    const files = listing.split('\n').map((l) => l.trim().replace(/^'|'$/g, '')).filter((l) => l.startsWith('/')).sort();
    expect(files).toEqual([
      '/msu-inputs.txt',
      '/steps/i1s1/in3.cab',
      '/steps/i1s2/windows11.0-kb5043080-x64.msu',
      '/steps/i1s2/windows11.0-kb5053598-x64.msu',
      '/steps/i1s3/viosnd/viosnd.inf',
      '/steps/i2s1/windows11.0-kb5055000-x64.cab',
      '/steps/i3s1/in3.cab',
      '/steps/i3s2/windows11.0-kb5055000-x64.cab',
    ]);
    // an input two steps use is copied once: the second is a hard link, and the ISO holds its bytes once
    const ino = (rel: string): number => statSync(path.join(runDir, 'inputs', ...rel.split('/'))).ino;
    expect(ino('steps/i3s1/in3.cab')).toBe(ino('steps/i1s1/in3.cab'));
    const lba = (await runTool('xorriso', ['-indev', path.join(runDir, 'inputs.iso'), '-find', '/steps', '-name', 'in3.cab', '-exec', 'report_lba'])).stdout;
    const extents = [...lba.matchAll(/File data lba:\s+\d+\s*,\s*(\d+)/g)].map((m) => m[1]);
    expect(extents).toHaveLength(2);
    expect(extents[0]).toBe(extents[1]);
    // a second real run into the same run directory is refused instead of mixing two input trees
    await expect(prepareDismRun(winre, { iso, runDir, baseDir: dir, scratchMiB: 8, outputMiB: 8 })).rejects.toMatchObject({ code: 'E_RUN_DIR_USED' });
    const pvd = readFileSync(path.join(runDir, 'inputs.iso')).subarray(0x8000 + 40, 0x8000 + 72).toString('latin1').trim();
    expect(pvd).toBe('MSUINPUT');

    // boot.wim inside the boot ISO: index 2 carries the generated worker, index 1 is untouched
    const out = path.join(tmp, 'real-extract');
    await runTool('xorriso', ['-osirrox', 'on', '-indev', path.join(runDir, 'boot.iso'), '-extract', '/sources/boot.wim', path.join(out, 'boot.wim')]);
    await runTool('wimlib-imagex', ['extract', path.join(out, 'boot.wim'), '2', '/Windows/System32/startnet.cmd', '/Windows/System32/worker.cmd', `--dest-dir=${path.join(out, 'i2')}`, '--no-acls']);
    expect(readFileSync(path.join(out, 'i2', 'startnet.cmd'), 'utf8')).toBe(readFileSync(path.join(runDir, 'guest', 'startnet.cmd'), 'utf8'));
    expect(readFileSync(path.join(out, 'i2', 'worker.cmd'), 'utf8')).toContain(`"run":"${p.spec.id}"`);
    // WinPE's shell runs winpeshl.ini when present, else X:\setup.exe: the worker image must carry it
    const dir2 = (await runTool('wimlib-imagex', ['dir', path.join(out, 'boot.wim'), '2'])).stdout.split('\n').map((l) => l.trim());
    expect(dir2).toContain('/Windows/System32/winpeshl.ini');
    await runTool('wimlib-imagex', ['extract', path.join(out, 'boot.wim'), '2', '/Windows/System32/winpeshl.ini', `--dest-dir=${path.join(out, 'i2')}`, '--no-acls']);
    expect(readFileSync(path.join(out, 'i2', 'winpeshl.ini'), 'utf8')).toBe('[LaunchApps]\r\n%SYSTEMROOT%\\System32\\cmd.exe, /k %SYSTEMROOT%\\System32\\startnet.cmd\r\n');
    const dir1 = (await runTool('wimlib-imagex', ['dir', path.join(out, 'boot.wim'), '1'])).stdout;
    expect(dir1).not.toContain('winpeshl.ini');
    await runTool('wimlib-imagex', ['extract', path.join(out, 'boot.wim'), '1', '/Windows/System32/startnet.cmd', `--dest-dir=${path.join(out, 'i1')}`, '--no-acls']);
    expect(readFileSync(path.join(out, 'i1', 'startnet.cmd'), 'utf8')).toBe('wpeinit\r\n');
    const eltorito = (await runTool('xorriso', ['-indev', path.join(runDir, 'boot.iso'), '-report_el_torito', 'plain'])).stdout;
    expect(eltorito).toMatch(/El Torito boot img : +1 +BIOS/);
    expect(eltorito).toMatch(/El Torito boot img : +2 +UEFI/);

    for (const disk of ['scratch.img', 'output.img']) expect(readFileSync(path.join(runDir, disk)).length).toBe(8 * 1024 * 1024);
  });
});

describe('collectDismOutputs', () => {
  const tools = ['wimlib-imagex', 'mformat', 'mcopy', 'mdir'];
  const missing = tools.filter((t) => !hasTool(t));
  if (missing.length > 0) skipNote('collectDismOutputs', missing.join(', '));

  it.runIf(missing.length === 0)('copies boot.wim and joins install*.swm parts from the output disk', async () => {
    const dir = path.join(tmp, 'collect');
    const src = path.join(dir, 'src');
    mkdirSync(src, { recursive: true });
    // a part holds whole file resources: several distinct 600 KB files give several 1 MiB parts
    for (let f = 0; f < 6; f++) writeFileSync(path.join(src, `blob${f}.bin`), Buffer.from(Array.from({ length: 600 * 1024 }, (_, i) => ((i + f) * 2654435761) >>> 24)));
    const wim = path.join(dir, 'install.wim');
    await runTool('wimlib-imagex', ['capture', src, wim, 'Pro', '--compress=none']);
    await runTool('wimlib-imagex', ['split', wim, path.join(dir, 'install.swm'), '1']);
    const parts = readdirSync(dir).filter((f) => f.endsWith('.swm'));
    expect(parts.length).toBeGreaterThanOrEqual(3);
    expect(parts).toContain('install2.swm');
    const { createStatusDisk } = await import('../../src/vm/status-disk.js');
    const runDir = path.join(dir, 'run');
    mkdirSync(runDir);
    const files: Record<string, Uint8Array> = { 'boot.wim': readFileSync(wim) };
    for (const f of parts) files[f] = readFileSync(path.join(dir, f));
    await createStatusDisk(path.join(runDir, 'output.img'), { sizeMiB: 64, label: 'MSUOUT', files });
    const outs = await collectDismOutputs(runDir, path.join(dir, 'out'));
    expect(outs.map((o) => path.basename(o))).toEqual(['install.wim', 'boot.wim']);
    const info = (await runTool('wimlib-imagex', ['info', path.join(dir, 'out', 'install.wim')])).stdout;
    expect(info).toMatch(/Part Number:\s+1\/1/);
    expect(info).toMatch(/Image Count:\s+1/);
    await runTool('wimlib-imagex', ['verify', path.join(dir, 'out', 'install.wim')]);
    expect(readFileSync(path.join(dir, 'out', 'boot.wim')).equals(readFileSync(wim))).toBe(true);

    // a part missing from the disk fails loudly instead of producing a short image
    const runDir2 = path.join(dir, 'run2');
    mkdirSync(runDir2);
    delete files['install2.swm'];
    await createStatusDisk(path.join(runDir2, 'output.img'), { sizeMiB: 64, label: 'MSUOUT', files });
    await expect(collectDismOutputs(runDir2, path.join(dir, 'out2'))).rejects.toMatchObject({ kind: 'tool', code: 'E_TOOL_FAILED' });
  });
});

describe('finishDismRun', () => {
  const ready = ['wimlib-imagex', 'mformat', 'mcopy', 'mdir'].every((t) => hasTool(t));
  /** A run directory as the runner leaves it: spec, events with the worker's step lines, result, status/. */
  function runDirWith(name: string, ok: boolean, packages: string): string {
    const runDir = path.join(tmp, `finish-${name}`);
    mkdirSync(path.join(runDir, 'status', 'reports'), { recursive: true });
    const plan = loadPlan();
    writeFileSync(path.join(runDir, 'spec.json'), JSON.stringify({ id: dismRunId(plan), kind: 'dism-worker' }));
    const ids = ['i1s1', 'i1s2', 'i1s3', 'i1s4', 'i2s1'];
    const events = [{ type: 'guest', boot: 1, event: { type: 'boot', n: 1 }, t: 0 }];
    ids.forEach((id, k) => {
      events.push({ type: 'guest', boot: 1, event: { type: 'step', id, name: id, state: 'running' } as never, t: 100 + k * 1000 });
      events.push({ type: 'guest', boot: 1, event: { type: 'step', id, name: id, state: 'ok', exitCode: 0 } as never, t: 600 + k * 1000 });
    });
    writeFileSync(path.join(runDir, 'events.jsonl'), events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    const result = { id: dismRunId(plan), ok, accel: 'tcg', starts: 1, boots: 1, guestErrors: [], results: [], screendumps: [], statusFiles: [], warnings: [], durationMs: 6000, ...(ok ? {} : { failure: { code: 'watchdog', limit: 'heartbeat', message: 'watchdog "heartbeat" fired' } }) };
    writeFileSync(path.join(runDir, 'result.json'), JSON.stringify(result));
    // the Safe OS DU of boot.wim#2 was not applicable, which the plan allows
    writeFileSync(path.join(runDir, 'status', 'status.jsonl'), '{"type":"step","id":"i2s1","exitCode":-2146498530,"ok":true}\r\n');
    for (const n of [1, 2]) {
      writeFileSync(path.join(runDir, 'status', 'reports', `i${n}.packages.txt`), packages);
      writeFileSync(path.join(runDir, 'status', 'reports', `i${n}.drivers.txt`), fixture('dism-get-drivers.txt'));
    }
    return runDir;
  }
  const resultOf = (runDir: string) => JSON.parse(readFileSync(path.join(runDir, 'result.json'), 'utf8'));

  it.runIf(ready)('a matching run: report.json with steps and listings, and the WIMs copied out', async () => {
    const runDir = runDirWith('ok', true, fixture('dism-get-packages.txt'));
    const src = path.join(runDir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a.txt'), 'serviced');
    await runTool('wimlib-imagex', ['capture', src, path.join(runDir, 'boot.wim'), 'WinPE', '--compress=none']);
    const { createStatusDisk } = await import('../../src/vm/status-disk.js');
    await createStatusDisk(path.join(runDir, 'output.img'), { sizeMiB: 64, label: 'MSUOUT', files: { 'boot.wim': readFileSync(path.join(runDir, 'boot.wim')) } });
    const f = await finishDismRun(loadPlan(), runDir, resultOf(runDir));
    expect(f.differences).toEqual([]);
    expect(f.outputs.map((o) => path.relative(runDir, o))).toEqual([path.join('output', 'boot.wim')]);
    expect(f.report.steps.map((s) => [s.id, s.outcome, s.durationMs])).toEqual([['i1s1', 'ok', 500], ['i1s2', 'ok', 500], ['i1s3', 'ok', 500], ['i1s4', 'ok', 500], ['i2s1', 'ok', 500]]);
    expect(Object.keys(f.report.dism!.packages).sort()).toEqual(['boot.wim#2', 'install.wim#1']);
    expect(f.report.dism!.notApplicable).toEqual(['i2s1']);
    expect(JSON.parse(readFileSync(path.join(runDir, 'report.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(f.report)));
  });

  it('a run whose images lack a planned package: the differences, in report.json too, and nothing copied out', async () => {
    const lcu = 'Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.3476.1.8';
    const listing = fixture('dism-get-packages.txt').split(/\r?\n\r?\n/).filter((b) => !b.includes(lcu) && !b.includes('26100.1742.1.10')).join('\r\n\r\n');
    const runDir = runDirWith('diff', true, listing);
    const f = await finishDismRun(loadPlan(), runDir, resultOf(runDir));
    expect(f.outputs).toEqual([]);
    expect(f.differences.map((d) => [d.image, d.kind, d.item])).toContainEqual(['install.wim#1', 'package-missing', lcu]);
    expect(JSON.parse(readFileSync(path.join(runDir, 'report.json'), 'utf8')).dism.differences.length).toBe(f.differences.length);
    expect(existsSync(path.join(runDir, 'output'))).toBe(false);
  });

  it.runIf(ready)('documented non-fatal codes become warnings; setup.exe and setuphost.exe of boot.wim#2 are copied out for the media', async () => {
    const runDir = runDirWith('warn', true, fixture('dism-get-packages.txt'));
    writeFileSync(
      path.join(runDir, 'status', 'status.jsonl'),
      '{"type":"step","id":"i1s4","exitCode":-2146498554,"ok":true}\r\n{"type":"step","id":"i2s1","exitCode":-2146498530,"ok":true}\r\n{"type":"step","id":"i1s1","exitCode":0,"ok":true}\r\n',
    );
    const src = path.join(runDir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'a.txt'), 'serviced');
    await runTool('wimlib-imagex', ['capture', src, path.join(runDir, 'boot.wim'), 'WinPE', '--compress=none']);
    const { createStatusDisk } = await import('../../src/vm/status-disk.js');
    await createStatusDisk(path.join(runDir, 'output.img'), {
      sizeMiB: 64,
      label: 'MSUOUT',
      files: { 'boot.wim': readFileSync(path.join(runDir, 'boot.wim')), 'media/sources/setup.exe': 'MZ setup', 'media/sources/setuphost.exe': 'MZ setuphost' },
    });
    const f = await finishDismRun(loadPlan(), runDir, resultOf(runDir));
    expect(f.report.dism!.warnings).toEqual([{ step: 'i1s4', exitCode: -2146498554, meaning: WARNING_CODES.get(-2146498554) }]);
    expect(f.report.dism!.notApplicable).toEqual(['i2s1']);
    expect(formatRunReport(f.report)).toContain('warnings:\n  i1s4: exit -2146498554 (0x800F0806 CBS_E_PENDING');
    expect(f.outputs.map((o) => path.relative(runDir, o).split(path.sep).join('/'))).toEqual(['output/boot.wim', 'output/media/sources/setup.exe', 'output/media/sources/setuphost.exe']);
    expect(readFileSync(path.join(runDir, 'output', 'media', 'sources', 'setuphost.exe'), 'utf8')).toBe('MZ setuphost');
  });

  it('a failed run points at the logs the worker saved on the status disk', async () => {
    const runDir = runDirWith('logs', false, 'not a DISM listing at all');
    mkdirSync(path.join(runDir, 'status', 'logs', 'CBS'), { recursive: true });
    writeFileSync(path.join(runDir, 'status', 'logs', 'dism.log'), 'dism');
    writeFileSync(path.join(runDir, 'status', 'logs', 'CBS', 'CBS.log'), 'cbs');
    const f = await finishDismRun(loadPlan(), runDir, resultOf(runDir));
    expect(f.report.logs).toEqual(['status/logs/CBS/CBS.log', 'status/logs/dism.log']);
    expect(JSON.parse(readFileSync(path.join(runDir, 'report.json'), 'utf8')).logs).toEqual(f.report.logs);
    expect(formatRunReport(f.report)).toContain('guest logs (relative to the run directory):\n  status/logs/CBS/CBS.log\n  status/logs/dism.log');
  });

  it('a failed run: the report says which limit fired; the listings are not read and nothing is copied', async () => {
    const runDir = runDirWith('failed', false, 'not a DISM listing at all');
    const f = await finishDismRun(loadPlan(), runDir, resultOf(runDir));
    expect(f.report.failure).toEqual({ code: 'watchdog', limit: 'heartbeat', message: 'watchdog "heartbeat" fired' });
    expect(f.report.dism).toBeUndefined();
    expect(f.outputs).toEqual([]);
  });
});
