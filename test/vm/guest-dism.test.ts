import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/plan-types.js';
import { GOLDEN, loadPlan, SAFEOS, SSU, winrePlan } from './plans.js';
import { expectGolden } from '../helpers/golden.js';
import { dismLayout, EXIT_CODES, generateDismWorker, servicedImages, WARNING_CODES } from '../../src/vm/guest/dism-worker.js';
import { cmdLineProblems } from '../helpers/cmd-lines.js';
import { ProtocolParser } from '../../src/vm/protocol.js';
import { MsuError } from '../../src/errors.js';

const goldenName = (p: string): string => 'dism-' + p.split('\\').pop()!;

/** Lines of a generated batch file, CRLF-separated as cmd.exe expects. */
const linesOf = (content: string): string[] => content.split('\r\n');


/**
 * The command lines worker.cmd runs, in execution order when every step succeeds: the main
 * section's `call :run` lines (up to the success section; of copy/split the copy), each
 * expanded into its block's commands (the lines that are not the logging `echo(`).
 */
function executedCommands(worker: string[]): string[] {
  const end = worker.indexOf('rem ---- success ----');
  const out: string[] = [];
  for (const l of worker.slice(0, end)) {
    const m = /^call :run (\S+) (\S+) /.exec(l);
    if (!m || m[1]!.startsWith('split-')) continue;
    let i = worker.indexOf(`:${m[2]}`) + 1;
    expect(i, m[2]).toBeGreaterThan(0);
    for (; worker[i] !== 'goto :eof'; i++) if (!worker[i]!.startsWith('echo(')) out.push(noLog(worker[i]!));
  }
  return out;
}

/** Every DISM command logs to the scratch volume; tests that compare command lines drop that suffix (checked on its own). */
const LOGPATH = ' /LogPath:"%MSU_W%\\logs\\dism.log"';
const noLog = (l: string): string => l.split(LOGPATH).join('');

describe('generateDismWorker golden files', () => {
  const out = generateDismWorker(loadPlan(), { runId: 'golden-dism' });

  it('produces the five WinPE files, byte-identical to the golden copies', () => {
    expect(out.files.map((f) => f.path)).toEqual([
      'Windows\\System32\\startnet.cmd',
      'Windows\\System32\\worker.cmd',
      'Windows\\System32\\heartbeat.cmd',
      'Windows\\System32\\msu-diskpart.txt',
      'Windows\\System32\\winpeshl.ini',
    ]);
    for (const f of out.files) {
      expectGolden(goldenName(f.path), f.content);
    }
  });

  it('a plan with winre.wim: worker.cmd byte-identical to its golden copy, the other files unchanged', () => {
    const w = generateDismWorker(winrePlan(), { runId: 'golden-dism' });
    const worker = w.files.find((f) => f.path.endsWith('worker.cmd'))!.content;
    expectGolden('dism-worker-winre.cmd', worker);
    for (const f of w.files.filter((x) => !x.path.endsWith('worker.cmd'))) expect(f.content, f.path).toBe(out.files.find((x) => x.path === f.path)!.content);
  });
});

describe('generateDismWorker structure', () => {
  const out = generateDismWorker(loadPlan(), { runId: 'golden-dism' });
  const file = (name: string): string => out.files.find((f) => f.path.endsWith(name))!.content;
  const worker = linesOf(file('worker.cmd'));
  const startnet = linesOf(file('startnet.cmd'));

  it('runs every step through :run with the documented allow-list', () => {
    const calls = worker.filter((l) => l.startsWith('call :run ')).map((l) => l.replace(/ \|\| goto :\w+$/, ''));
    expect(calls).toEqual([
      'call :run prepare c_prepare 0',
      'call :run copy-install c_copy_install 0',
      'call :run i1-mount c_i1_mount 0',
      'call :run i1s1 c_i1s1 0 3010',
      'call :run i1s2 c_i1s2 0 3010',
      'call :run i1s3 c_i1s3 0 3010',
      // reset-base may answer CBS_E_PENDING (0x800F0806): documented as non-fatal
      `call :run i1s4 c_i1s4 0 3010 ${EXIT_CODES.pending}`,
      'call :run i1-packages c_i1_packages 0',
      'call :run i1-drivers c_i1_drivers 0',
      'call :run i1-commit c_i1_commit 0',
      'call :run export-install c_export_install 0',
      'call :run out-install c_out_install 0',
      'call :run split-install c_split_install 0',
      'call :run copy-boot c_copy_boot 0',
      'call :run i2-mount c_i2_mount 0',
      // applicability "unknown": 0x800F081E is tolerated here only
      `call :run i2s1 c_i2s1 0 3010 ${EXIT_CODES.notApplicable}`,
      'call :run media-setup c_media_setup 0',
      'call :run i2-packages c_i2_packages 0',
      'call :run i2-drivers c_i2_drivers 0',
      'call :run i2-commit c_i2_commit 0',
      'call :run export-boot c_export_boot 0',
      'call :run out-boot c_out_boot 0',
      'call :run split-boot c_split_boot 0',
      'call :run discard c_discard 0',
      'call :run cleanup-wim c_cleanupwim 0',
      'call :run save-logs c_save_logs 0 1',
    ]);
    expect(EXIT_CODES.notApplicable).toBe(0x800f081e | 0);
    expect(EXIT_CODES.pending).toBe(0x800f0806 | 0);
    expect(EXIT_CODES.modNotFound).toBe(0x8007007e | 0);
    // every label called has a block
    for (const c of calls) expect(worker).toContain(`:${c.split(' ')[3]}`);
  });

  it('checkpoint LCUs: the target LCU by name, its checkpoint beside it; single packages by file, drivers recursively', () => {
    const cmd = (label: string): string => noLog(worker[worker.indexOf(`:${label}`) + 2]!);
    expect(cmd('c_i1s2')).toContain('/Add-Package /PackagePath:"%MSU_I%\\steps\\i1s2\\windows11.0-kb5053598-x64.msu" ');
    expect(cmd('c_i1s1')).toContain('/PackagePath:"%MSU_I%\\steps\\i1s1\\in3.cab"');
    expect(cmd('c_i1s3')).toContain('/Add-Driver /Driver:"%MSU_I%\\steps\\i1s3" /Recurse');
    expect(cmd('c_i1s4')).toContain('/Cleanup-Image /StartComponentCleanup /ResetBase');
    expect(cmd('c_split_install')).toContain('/Split-Image /ImageFile:"%MSU_W%\\work\\install-export.wim" /SWMFile:"%MSU_O%\\install.swm" /FileSize:4000');
    expect(cmd('c_discard')).toBe('dism /English /Unmount-Image /MountDir:"%MSU_W%\\mnt" /Discard');
  });

  it('never reboots: startnet ends in wpeutil shutdown, no reboot command anywhere', () => {
    const all = out.files.map((f) => f.content).join('\n');
    expect(all).not.toMatch(/wpeutil reboot|shutdown(\.exe)? \/r|\/reboot/i);
    expect(startnet.filter((l) => l === 'wpeutil shutdown')).toHaveLength(1);
    expect(startnet[startnet.length - 2]).toBe('wpeutil shutdown');
    expect(startnet).toContain('wpeinit');
    expect(startnet.some((l) => l.startsWith('for %%d in (C D E F G H I J K L M N O P Q R S T U V W Y Z) do ('))).toBe(true);
    for (const label of ['MSUINPUT', 'MSUSCRATCH', 'MSUOUT', 'MSUSTATUS']) expect(startnet.some((l) => l.includes(`find /i "${label}"`))).toBe(true);
  });

  it('every protocol line is a valid @@MSU event once cmd has expanded its variables', () => {
    const vars: Record<string, string> = { MSU_RC: '-2146498530', MSU_OK: 'true', MSU_STEP: 'i1s2', MSU_FAILED_STEP: 'i1s2', MSU_CUR: 'i1s2' };
    const withWinre = generateDismWorker(winrePlan(), { runId: 'golden-dism' });
    const lines = [...out.files, ...withWinre.files].flatMap((f) => linesOf(f.content)).filter((l) => l.includes('@@MSU '));
    expect(lines.length).toBeGreaterThan(40);
    expect(lines.some((l) => l.includes('"id":"i1.winre.s2"'))).toBe(true);
    const serial = lines
      .map((l) => {
        expect(l.startsWith('2>nul >COM1 echo(@@MSU {'), l).toBe(true);
        return l.slice('2>nul >COM1 echo('.length).replace(/%(\w+)%/g, (_m, n: string) => vars[n] ?? `?${n}`) + '\r\n';
      })
      .join('');
    const parser = new ProtocolParser();
    const items = parser.push(Buffer.from(serial, 'latin1'));
    expect(items.filter((i) => i.kind === 'warning')).toEqual([]);
    const types = new Set(items.map((i) => (i.kind === 'event' ? i.event.type : '')));
    expect([...types].sort()).toEqual(['boot', 'done', 'error', 'heartbeat', 'progress', 'result', 'step']);
  });

  it('hostile plan data reaches only escaped JSON status lines, unchanged', () => {
    const plan = loadPlan();
    const evil = 'X"&calc&"%PATH%!x!^|<>()';
    plan.images[0]!.steps[0]!.items = [evil];
    const w = linesOf(generateDismWorker(plan, { runId: 'r1' }).files[1]!.content);
    const hits = w.filter((l) => l.includes('calc'));
    expect(hits).toHaveLength(1);
    // undo cmd's phase 1 and 2 for an echo line: %% -> %, ^x -> x outside quotes
    const decode = (s: string): string => {
      let out = '';
      let q = false;
      const t = s.replace(/%%/g, '%');
      for (let i = 0; i < t.length; i++) {
        const c = t[i]!;
        if (c === '"') q = !q;
        if (!q && c === '^') {
          out += t[++i]!;
          continue;
        }
        if (!q && '&|<>'.includes(c)) throw new Error(`unescaped ${c} in ${s}`);
        out += c;
      }
      return out;
    };
    const payload = hits[0]!.slice('>>"%MSU_S%\\status.jsonl" echo('.length);
    expect(payload).not.toMatch(/(^|[^%])%PATH%/);
    expect((JSON.parse(decode(payload)) as { items: string[] }).items).toEqual([evil]);
  });

  it('refuses plans it cannot run, with typed errors', () => {
    const bad = (mut: (p: Plan) => void): unknown => {
      const p = loadPlan();
      mut(p);
      try {
        generateDismWorker(p, { runId: 'r' });
      } catch (e) {
        return e;
      }
      return undefined;
    };
    const msg = (e: unknown): string => (e instanceof MsuError ? e.message : 'no MsuError');
    expect(msg(bad((p) => (p.images[1]!.image = 'install.wim#1')))).toBe('plan lists image "install.wim#1" twice');
    expect(msg(bad((p) => (p.images[0]!.steps[1]!.inputs = ['nope'])))).toBe('install.wim#1 step 2 uses unknown input "nope"');
    expect(msg(bad((p) => (p.images[0]!.steps[0]!.inputs = ['in4'])))).toBe('install.wim#1 step 1 (add-package) cannot use driver-folder input in4');
    expect(msg(bad((p) => (p.images[0]!.steps[1]!.n = 1)))).toBe('install.wim#1: step 1 appears twice');
    expect(msg(bad((p) => (p.images = [])))).toBe('the plan has no images to service');
    expect(msg(bad((p) => (p.images[0]!.image = 'install.wim#1 & calc')))).toBe('plan image "install.wim#1 & calc": the DISM worker services install.wim#N, boot.wim#N and winre.wim only');
    expect(msg(bad((p) => (p.images[0]!.image = 'winre.wim#2')))).toMatch(/services install\.wim#N, boot\.wim#N and winre\.wim only/);
    expect(() => generateDismWorker(loadPlan(), { runId: 'a&b' })).toThrow(/not a plain id/);
    expect(() => generateDismWorker(loadPlan(), { runId: 'r', labels: { inputs: 'OUT', scratch: 'S', output: 'MSUOUT', status: 'T' } })).toThrow(/part of another label/);
  });

  it('dismLayout gives neutral ISO names to inputs whose names are unsafe', () => {
    const steps = dismLayout(loadPlan()).flatMap((im) => im.steps);
    expect(steps.map((s) => [s.id, s.isoDir, s.files.map((f) => f.isoName)])).toEqual([
      ['i1s1', 'steps/i1s1', ['in3.cab']],
      ['i1s2', 'steps/i1s2', ['windows11.0-kb5043080-x64.msu', 'windows11.0-kb5053598-x64.msu']],
      ['i1s3', 'steps/i1s3', ['viosnd']],
      ['i1s4', '', []],
      ['i2s1', 'steps/i2s1', ['windows11.0-kb5055000-x64.cab']],
    ]);
  });
});

describe('generateDismWorker: WinRE inside install.wim', () => {
  const out = generateDismWorker(winrePlan(), { runId: 'golden-dism' });
  const worker = linesOf(out.files.find((f) => f.path.endsWith('worker.cmd'))!.content);

  it('services WinRE inside the mounted install image, in the Dynamic Update order, before the image itself', () => {
    const cmds = executedCommands(worker);
    const first = cmds.indexOf('dism /English /Mount-Image /ImageFile:"%MSU_W%\\work\\install.wim" /Index:1 /MountDir:"%MSU_W%\\mnt" /ScratchDir:"%MSU_W%\\scratch"');
    const last = cmds.indexOf('dism /English /Unmount-Image /MountDir:"%MSU_W%\\mnt" /Commit /ScratchDir:"%MSU_W%\\scratch"');
    expect(first).toBeGreaterThan(0);
    // the whole sequence from mounting install.wim#1 to committing it, exactly
    expect(cmds.slice(first, last + 1)).toEqual([
      // 1. mount install.wim#1
      'dism /English /Mount-Image /ImageFile:"%MSU_W%\\work\\install.wim" /Index:1 /MountDir:"%MSU_W%\\mnt" /ScratchDir:"%MSU_W%\\scratch"',
      // 2. copy WinRE out to the scratch volume (no stale copy; attributes first: it is hidden+system in the image)
      'if exist "%MSU_W%\\work\\winre.wim" del /f /q "%MSU_W%\\work\\winre.wim"',
      'attrib -r -h -s "%MSU_W%\\mnt\\Windows\\System32\\Recovery\\Winre.wim"',
      'copy /b /y "%MSU_W%\\mnt\\Windows\\System32\\Recovery\\Winre.wim" "%MSU_W%\\work\\winre.wim"',
      'dism /English /Get-WimInfo /WimFile:"%MSU_W%\\work\\winre.wim"',
      // mount it (index 1) in its own mount directory
      'dism /English /Mount-Image /ImageFile:"%MSU_W%\\work\\winre.wim" /Index:1 /MountDir:"%MSU_W%\\mnt-winre" /ScratchDir:"%MSU_W%\\scratch"',
      // the winre steps: SSU, Safe OS DU, cleanup
      'dism /English /Image:"%MSU_W%\\mnt-winre" /Add-Package /PackagePath:"%MSU_I%\\steps\\i3s1\\in3.cab" /ScratchDir:"%MSU_W%\\scratch"',
      'dism /English /Image:"%MSU_W%\\mnt-winre" /Add-Package /PackagePath:"%MSU_I%\\steps\\i3s2\\windows11.0-kb5055000-x64.cab" /ScratchDir:"%MSU_W%\\scratch"',
      'dism /English /Image:"%MSU_W%\\mnt-winre" /Cleanup-Image /StartComponentCleanup /ScratchDir:"%MSU_W%\\scratch"',
      // its reports, named after the install image that carries it
      'dism /English /Image:"%MSU_W%\\mnt-winre" /Get-Packages /Format:List >"%MSU_S%\\reports\\i1.winre.packages.txt"',
      'dism /English /Image:"%MSU_W%\\mnt-winre" /Get-Drivers /Format:List >"%MSU_S%\\reports\\i1.winre.drivers.txt"',
      // commit WinRE
      'dism /English /Unmount-Image /MountDir:"%MSU_W%\\mnt-winre" /Commit /ScratchDir:"%MSU_W%\\scratch"',
      // 3. export into a fresh file (Export-Image appends to an existing one), then copy it back
      'if exist "%MSU_W%\\work\\winre2.wim" del /f /q "%MSU_W%\\work\\winre2.wim"',
      'dism /English /Export-Image /SourceImageFile:"%MSU_W%\\work\\winre.wim" /SourceIndex:1 /DestinationImageFile:"%MSU_W%\\work\\winre2.wim"',
      'del /f /q "%MSU_W%\\mnt\\Windows\\System32\\Recovery\\Winre.wim"',
      'copy /b /y "%MSU_W%\\work\\winre2.wim" "%MSU_W%\\mnt\\Windows\\System32\\Recovery\\Winre.wim"',
      'attrib +h +s "%MSU_W%\\mnt\\Windows\\System32\\Recovery\\Winre.wim"',
      'dism /English /Get-WimInfo /WimFile:"%MSU_W%\\mnt\\Windows\\System32\\Recovery\\Winre.wim"',
      // 4. then install.wim#1's own steps, listings and commit, as without WinRE
      'dism /English /Image:"%MSU_W%\\mnt" /Add-Package /PackagePath:"%MSU_I%\\steps\\i1s1\\in3.cab" /ScratchDir:"%MSU_W%\\scratch"',
      'dism /English /Image:"%MSU_W%\\mnt" /Add-Package /PackagePath:"%MSU_I%\\steps\\i1s2\\windows11.0-kb5053598-x64.msu" /ScratchDir:"%MSU_W%\\scratch"',
      'dism /English /Image:"%MSU_W%\\mnt" /Add-Driver /Driver:"%MSU_I%\\steps\\i1s3" /Recurse /ScratchDir:"%MSU_W%\\scratch"',
      'dism /English /Image:"%MSU_W%\\mnt" /Cleanup-Image /StartComponentCleanup /ResetBase /ScratchDir:"%MSU_W%\\scratch"',
      'dism /English /Image:"%MSU_W%\\mnt" /Get-Packages /Format:List >"%MSU_S%\\reports\\i1.packages.txt"',
      'dism /English /Image:"%MSU_W%\\mnt" /Get-Drivers /Format:List >"%MSU_S%\\reports\\i1.drivers.txt"',
      'dism /English /Unmount-Image /MountDir:"%MSU_W%\\mnt" /Commit /ScratchDir:"%MSU_W%\\scratch"',
    ]);
    // the prepare step makes the second mount directory; boot.wim never touches WinRE
    expect(cmds.slice(0, first)).toContain('if not exist "%MSU_W%\\mnt-winre" mkdir "%MSU_W%\\mnt-winre"');
    expect(cmds.slice(last + 1).filter((c) => /winre/i.test(c))).toEqual([]);
  });

  it('runs WinRE steps through :run with the plan allow-lists; a failure while WinRE is mounted discards both mounts', () => {
    const calls = worker.filter((l) => l.startsWith('call :run i1.winre'));
    expect(calls).toEqual([
      'call :run i1.winre-extract c_i1_winre_extract 0 || goto :failed_mounted',
      'call :run i1.winre-mount c_i1_winre_mount 0 || goto :failed_winre',
      'call :run i1.winre.s1 c_i1_winre_s1 0 3010 || goto :failed_winre',
      // applicability "unknown": 0x800F081E tolerated, as for any package step
      `call :run i1.winre.s2 c_i1_winre_s2 0 3010 ${EXIT_CODES.notApplicable} || goto :failed_winre`,
      `call :run i1.winre.s3 c_i1_winre_s3 0 3010 ${EXIT_CODES.pending} || goto :failed_winre`,
      'call :run i1.winre-packages c_i1_winre_packages 0 || goto :failed_winre',
      'call :run i1.winre-drivers c_i1_winre_drivers 0 || goto :failed_winre',
      'call :run i1.winre-commit c_i1_winre_commit 0 || goto :failed_winre',
      'call :run i1.winre-export c_i1_winre_export 0 || goto :failed_mounted',
      'call :run i1.winre-replace c_i1_winre_replace 0 || goto :failed_mounted',
    ]);
    // :failed_winre discards WinRE, then falls through into :failed_mounted (install image) and :failed
    const at = worker.indexOf(':failed_winre');
    expect(worker.slice(at, worker.indexOf(':failed_mounted') + 4)).toEqual([
      ':failed_winre',
      'rem WinRE is mounted too (from its copy on the scratch volume): discard it first, then the install image.',
      'set "MSU_FAILED_RC=%MSU_RC%"',
      'call :run discard-winre c_discard_winre 0',
      'set "MSU_RC=%MSU_FAILED_RC%"',
      ':failed_mounted',
      'rem A mounted image must not be left behind: discard its changes, then clean up stale mounts.',
      'set "MSU_FAILED_RC=%MSU_RC%"',
      'call :run discard c_discard 0',
    ]);
    expect(noLog(worker[worker.indexOf(':c_discard_winre') + 2]!)).toBe('dism /English /Unmount-Image /MountDir:"%MSU_W%\\mnt-winre" /Discard');
    // the status file says which image a WinRE step belongs to
    expect(worker).toContain(`>>"%MSU_S%\\status.jsonl" echo({"type":"plan-step","id":"i1.winre.s2","image":"install.wim#1/winre.wim","n":2,"action":"add-package","items":["${SAFEOS}"],"allow":[0,3010,-2146498530]}`);
    // progress counts every step once: 18 without WinRE + 3 steps + 7 for the WinRE pass
    const texts = worker.filter((l) => l.includes('"type":"progress"')).map((l) => /"text":"([^"]*)"/.exec(l)![1]);
    expect(texts.slice(-3)).toEqual(['31/31 out-boot', '31/31 split-boot', 'done']);
  });

  it('services each install image\'s own WinRE, with its own step ids and reports', () => {
    const plan = winrePlan();
    plan.images.splice(1, 0, { image: 'install.wim#3', steps: [{ n: 1, action: 'add-package', inputs: ['in3'], items: [SSU], reason: 'ssu' }] });
    const gen = generateDismWorker(plan, { runId: 'r' });
    const w = linesOf(gen.files[1]!.content);
    const ids = w.filter((l) => l.startsWith('call :run ')).map((l) => l.split(' ')[2]!);
    expect(ids.slice(0, ids.indexOf('copy-boot'))).toEqual([
      'prepare', 'copy-install',
      'i1-mount', 'i1.winre-extract', 'i1.winre-mount', 'i1.winre.s1', 'i1.winre.s2', 'i1.winre.s3', 'i1.winre-packages', 'i1.winre-drivers', 'i1.winre-commit', 'i1.winre-export', 'i1.winre-replace',
      'i1s1', 'i1s2', 'i1s3', 'i1s4', 'i1-packages', 'i1-drivers', 'i1-commit',
      'i2-mount', 'i2.winre-extract', 'i2.winre-mount', 'i2.winre.s1', 'i2.winre.s2', 'i2.winre.s3', 'i2.winre-packages', 'i2.winre-drivers', 'i2.winre-commit', 'i2.winre-export', 'i2.winre-replace',
      'i2s1', 'i2-packages', 'i2-drivers', 'i2-commit',
      'export-install', 'out-install', 'split-install',
    ]);
    expect(executedCommands(w).filter((c) => c.includes('/Get-Packages'))).toEqual([
      'dism /English /Image:"%MSU_W%\\mnt-winre" /Get-Packages /Format:List >"%MSU_S%\\reports\\i1.winre.packages.txt"',
      'dism /English /Image:"%MSU_W%\\mnt" /Get-Packages /Format:List >"%MSU_S%\\reports\\i1.packages.txt"',
      'dism /English /Image:"%MSU_W%\\mnt-winre" /Get-Packages /Format:List >"%MSU_S%\\reports\\i2.winre.packages.txt"',
      'dism /English /Image:"%MSU_W%\\mnt" /Get-Packages /Format:List >"%MSU_S%\\reports\\i2.packages.txt"',
      'dism /English /Image:"%MSU_W%\\mnt" /Get-Packages /Format:List >"%MSU_S%\\reports\\i3.packages.txt"',
    ]);
    expect(servicedImages(gen.images).map((t) => [t.name, t.packages, t.drivers, t.stepIds.join(' ')])).toEqual([
      ['install.wim#1', 'reports/i1.packages.txt', 'reports/i1.drivers.txt', 'i1s1 i1s2 i1s3 i1s4'],
      ['install.wim#3', 'reports/i2.packages.txt', 'reports/i2.drivers.txt', 'i2s1'],
      ['boot.wim#2', 'reports/i3.packages.txt', 'reports/i3.drivers.txt', 'i3s1'],
      ['install.wim#1/winre.wim', 'reports/i1.winre.packages.txt', 'reports/i1.winre.drivers.txt', 'i1.winre.s1 i1.winre.s2 i1.winre.s3'],
      ['install.wim#3/winre.wim', 'reports/i2.winre.packages.txt', 'reports/i2.winre.drivers.txt', 'i2.winre.s1 i2.winre.s2 i2.winre.s3'],
    ]);
    // WinRE payloads sit once on the inputs ISO, in the plan image's step folders
    expect(gen.images[3]!.steps.map((s) => [s.id, s.isoDir])).toEqual([['i4s1', 'steps/i4s1'], ['i4s2', 'steps/i4s2'], ['i4s3', '']]);
  });

  it('refuses winre.wim without an install.wim image: WinRE is reached through install.wim', () => {
    const plan = winrePlan();
    plan.images = plan.images.filter((im) => im.image !== 'install.wim#1');
    let err: unknown;
    try {
      generateDismWorker(plan, { runId: 'r' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).kind).toBe('unsupported');
    expect((err as MsuError).code).toBe('E_DISM_IMAGE');
    expect((err as MsuError).message).toBe(
      'plan image "winre.wim": WinRE is serviced inside install.wim (Windows\\System32\\Recovery\\Winre.wim), and the plan services no install.wim image; plan install.wim as well',
    );
    // a plan without WinRE gets no second mount directory and no :failed_winre
    const plain = generateDismWorker(loadPlan(), { runId: 'r' }).files[1]!.content;
    expect(plain).not.toMatch(/winre/i);
  });
});

describe('generateDismWorker: what Windows documents (issue 12)', () => {
  const fileOf = (gen: ReturnType<typeof generateDismWorker>, name: string): string => gen.files.find((f) => f.path.endsWith(name))!.content;
  const checkpointPlan = (): Plan => JSON.parse(readFileSync(path.join(GOLDEN, 'plan-checkpoint.json'), 'utf8')) as Plan;

  it('winpeshl.ini starts cmd.exe /k startnet.cmd, so WinPE runs the worker instead of X:\\setup.exe', () => {
    const ini = fileOf(generateDismWorker(loadPlan(), { runId: 'r' }), 'winpeshl.ini');
    const lines = ini.split('\r\n').filter((l) => l.trim() !== '');
    // the documented format: a [LaunchApps] section, one "program, arguments" line per app
    expect(lines[0]).toBe('[LaunchApps]');
    expect(lines.slice(1)).toEqual(['%SYSTEMROOT%\\System32\\cmd.exe, /k %SYSTEMROOT%\\System32\\startnet.cmd']);
  });

  it('checkpoint cumulative updates: Add-Package names the target LCU, its checkpoint MSU sits in the same folder, in the SSU step too', () => {
    const plan = checkpointPlan();
    const steps = dismLayout(plan)[0]!.steps;
    // step 1 is the SSU, taken from the target LCU's MSU (in2), which needs the checkpoint in1 beside it
    expect(steps.map((s) => [s.id, s.files.map((f) => [f.inputId, f.role, f.isoName])])).toEqual([
      ['i1s1', [['in2', 'target', 'windows11.0-kb5048667-x64.msu'], ['in1', 'checkpoint', 'windows11.0-kb5043080-x64.msu']]],
      ['i1s2', [['in1', 'checkpoint', 'windows11.0-kb5043080-x64.msu'], ['in2', 'target', 'windows11.0-kb5048667-x64.msu']]],
      ['i1s3', []],
    ]);
    const cmds = executedCommands(linesOf(fileOf(generateDismWorker(plan, { runId: 'r' }), 'worker.cmd'))).filter((c) => c.includes('/Add-Package'));
    expect(cmds).toEqual([
      'dism /English /Image:"%MSU_W%\\mnt" /Add-Package /PackagePath:"%MSU_I%\\steps\\i1s1\\windows11.0-kb5048667-x64.msu" /ScratchDir:"%MSU_W%\\scratch"',
      'dism /English /Image:"%MSU_W%\\mnt" /Add-Package /PackagePath:"%MSU_I%\\steps\\i1s2\\windows11.0-kb5048667-x64.msu" /ScratchDir:"%MSU_W%\\scratch"',
    ]);
    // two target LCUs in one step cannot be named "as the sole target"
    const two = checkpointPlan();
    two.inputs.push({ ...two.inputs[1]!, id: 'in9', path: 'cp/other.msu' });
    two.images[0]!.steps.push({ n: 9, action: 'add-package', inputs: ['in1', 'in9'], items: [], reason: 'x' });
    two.images[0]!.steps[0]!.inputs = ['in2', 'in9'];
    expect(() => dismLayout(two)).toThrow(/names 2 target cumulative updates/);
  });

  it('documented non-fatal codes: CBS_E_PENDING on cleanup/reset-base only; 0x8007007E on the SSU of a combined MSU in boot.wim and WinRE only', () => {
    const plan = checkpointPlan();
    const ssu = plan.images[0]!.steps[0]!;
    plan.images.push({ image: 'boot.wim#2', steps: [{ ...ssu, n: 1 }, { ...plan.images[0]!.steps[1]!, n: 2 }] });
    plan.images.push({ image: 'winre.wim', steps: [{ ...ssu, n: 1 }, { n: 2, action: 'cleanup-components', inputs: [], items: [], reason: 'c' }] });
    const allow = dismLayout(plan).map((im) => [im.image, im.steps.map((s) => [s.n, s.action, s.allow])]);
    expect(allow).toEqual([
      ['install.wim#1', [[1, 'add-package', [0, 3010]], [2, 'add-package', [0, 3010]], [3, 'cleanup-components', [0, 3010, EXIT_CODES.pending]]]],
      ['boot.wim#2', [[1, 'add-package', [0, 3010, EXIT_CODES.modNotFound]], [2, 'add-package', [0, 3010]]]],
      ['winre.wim', [[1, 'add-package', [0, 3010, EXIT_CODES.modNotFound]], [2, 'cleanup-components', [0, 3010, EXIT_CODES.pending]]]],
    ]);
    // an SSU from a standalone cab in boot.wim is not a combined MSU: no exception there
    const golden = dismLayout(winrePlan());
    expect(golden.find((im) => im.image === 'winre.wim')!.steps[0]!.allow).toEqual([0, 3010]);
    expect(WARNING_CODES.has(EXIT_CODES.pending) && WARNING_CODES.has(EXIT_CODES.modNotFound)).toBe(true);
    expect(WARNING_CODES.has(EXIT_CODES.notApplicable)).toBe(false);
  });

  it('every DISM command logs to the scratch volume; the failure path copies dism.log, DISM and CBS logs to the status disk first', () => {
    const worker = linesOf(fileOf(generateDismWorker(winrePlan(), { runId: 'r' }), 'worker.cmd'));
    const dismLines = worker.filter((l) => /^dism /i.test(l));
    expect(dismLines.length).toBeGreaterThan(30);
    for (const l of dismLines) expect(l.replace(/ >"[^"]*"$/, '').replace(/ >nul 2>&1 \|\| goto :\w+$/, '').replace(/ \|\| exit \/b 1$/, ''), l).toMatch(/ \/LogPath:"%MSU_W%\\logs\\dism\.log"$/);
    // the logs folder exists before the first DISM command runs
    const prep = worker.slice(worker.indexOf(':c_prepare'), worker.indexOf('goto :eof', worker.indexOf(':c_prepare'))).filter((l) => !l.startsWith('echo('));
    expect(prep.indexOf('if not exist "%MSU_W%\\logs" mkdir "%MSU_W%\\logs"')).toBeLessThan(prep.findIndex((l) => l.startsWith('dism ')));
    const failed = worker.slice(worker.indexOf(':failed'), worker.indexOf('exit /b 1', worker.indexOf(':failed')));
    const save = failed.indexOf('call :run save-logs c_save_logs 0 1');
    expect(save).toBeGreaterThan(0);
    expect(save).toBeLessThan(failed.findIndex((l) => l.startsWith('>"%MSU_S%\\status.json"')));
    const block = worker.slice(worker.indexOf(':c_save_logs') + 1, worker.indexOf('goto :eof', worker.indexOf(':c_save_logs'))).filter((l) => !l.startsWith('echo('));
    expect(block).toEqual([
      'if not exist "%MSU_S%\\logs" mkdir "%MSU_S%\\logs"',
      'if not exist "%MSU_S%\\logs\\DISM" mkdir "%MSU_S%\\logs\\DISM"',
      'if not exist "%MSU_S%\\logs\\CBS" mkdir "%MSU_S%\\logs\\CBS"',
      'if exist "%MSU_W%\\logs\\dism.log" copy /y "%MSU_W%\\logs\\dism.log" "%MSU_S%\\logs\\dism.log"',
      'copy /y "X:\\Windows\\Logs\\DISM\\*.log" "%MSU_S%\\logs\\DISM"',
      'copy /y "X:\\Windows\\Logs\\CBS\\*.log" "%MSU_S%\\logs\\CBS"',
    ]);
  });

  it('each serviced WIM is exported into a fresh file before it is copied out; Setup files of boot.wim#2 go to the media folder', () => {
    const worker = linesOf(fileOf(generateDismWorker(loadPlan(), { runId: 'r' }), 'worker.cmd'));
    const cmds = executedCommands(worker);
    const commitInstall = cmds.indexOf('dism /English /Unmount-Image /MountDir:"%MSU_W%\\mnt" /Commit /ScratchDir:"%MSU_W%\\scratch"');
    expect(cmds.slice(commitInstall + 1, commitInstall + 3)).toEqual([
      'call :export_wim "%MSU_W%\\work\\install.wim" "%MSU_W%\\work\\install-export.wim" 0',
      'copy /b /y "%MSU_W%\\work\\install-export.wim" "%MSU_O%\\install.wim"',
    ]);
    expect(cmds).toContain('call :export_wim "%MSU_W%\\work\\boot.wim" "%MSU_W%\\work\\boot-export.wim" 2');
    expect(cmds).toContain('copy /b /y "%MSU_W%\\work\\boot-export.wim" "%MSU_O%\\boot.wim"');
    // the size check and the split use the exported file too
    expect(worker).toContain('for %%A in ("%MSU_W%\\work\\install-export.wim") do set "MSU_SIZE=%%~zA"');
    // :export_wim walks every index until Get-WimInfo fails, marks the boot index /Bootable, fails if it exported nothing
    const sub = worker.slice(worker.indexOf(':export_wim'), worker.indexOf('exit /b 0', worker.indexOf(':export_wim_end')) + 1).map(noLog);
    expect(sub).toEqual([
      ':export_wim',
      'if exist "%~2" del /f /q "%~2"',
      'set "MSU_IX=1"',
      ':export_wim_next',
      'dism /English /Get-WimInfo /WimFile:"%~1" /Index:%MSU_IX% >nul 2>&1 || goto :export_wim_end',
      'set "MSU_BOOTABLE="',
      'if "%MSU_IX%"=="%~3" set "MSU_BOOTABLE=/Bootable"',
      'echo(^> dism /English /Export-Image /SourceImageFile:"%~1" /SourceIndex:%MSU_IX% /DestinationImageFile:"%~2" %MSU_BOOTABLE%',
      'dism /English /Export-Image /SourceImageFile:"%~1" /SourceIndex:%MSU_IX% /DestinationImageFile:"%~2" %MSU_BOOTABLE% || exit /b 1',
      'set /a MSU_IX+=1',
      'goto :export_wim_next',
      ':export_wim_end',
      'if "%MSU_IX%"=="1" exit /b 1',
      'exit /b 0',
    ]);
    // setup.exe / setuphost.exe are taken from the mounted, serviced boot.wim#2, before its commit
    const media = cmds.filter((c) => c.includes('\\media\\'));
    expect(media).toEqual([
      'if not exist "%MSU_O%\\media\\sources" mkdir "%MSU_O%\\media\\sources"',
      'copy /b /y "%MSU_W%\\mnt\\sources\\setup.exe" "%MSU_O%\\media\\sources\\setup.exe"',
      'if exist "%MSU_W%\\mnt\\sources\\setuphost.exe" copy /b /y "%MSU_W%\\mnt\\sources\\setuphost.exe" "%MSU_O%\\media\\sources\\setuphost.exe"',
    ]);
    expect(cmds.indexOf(media[1]!)).toBeLessThan(cmds.lastIndexOf('dism /English /Unmount-Image /MountDir:"%MSU_W%\\mnt" /Commit /ScratchDir:"%MSU_W%\\scratch"'));
    // no boot.wim#2 in the plan: no media step
    const installOnly = loadPlan();
    installOnly.images.pop();
    expect(generateDismWorker(installOnly, { runId: 'r' }).files[1]!.content).not.toContain('media-setup');
  });

  it('every line fits cmd.exe (8191 characters) with balanced quotes; long item lists are split over several plan-step lines', () => {
    // status volume letters are two characters, ids at most 64; the checker assumes MAX_PATH for the rest
    const vars = { MSU_S: 2, MSU_I: 2, MSU_W: 2, MSU_O: 2, MSU_SRC: 2, MSU_RC: 11, MSU_OK: 5, MSU_STEP: 64, MSU_FAILED_STEP: 64, MSU_CUR: 64, MSU_LOG: 20 };
    for (const gen of [generateDismWorker(loadPlan(), { runId: 'r' }), generateDismWorker(winrePlan(), { runId: 'r' })]) {
      for (const f of gen.files.filter((x) => x.path.endsWith('.cmd'))) expect(cmdLineProblems(f.content, vars), f.path).toEqual([]);
    }
    // the checker itself finds both kinds of problem
    expect(cmdLineProblems(`copy "a b" "c\r\necho(${'x'.repeat(9000)}`).map((p) => p.line)).toEqual([1, 2]);

    const plan = loadPlan();
    const items = Array.from({ length: 400 }, (_, i) => `Package_for_KB${5000000 + i}~31bf3856ad364e35~amd64~~10.0.26100.${i}`);
    plan.images[0]!.steps[0]!.items = items;
    const worker = generateDismWorker(plan, { runId: 'r' }).files[1]!.content;
    expect(cmdLineProblems(worker, vars)).toEqual([]);
    const planSteps = linesOf(worker)
      .filter((l) => l.includes('"type":"plan-step","id":"i1s1"'))
      .map((l) => JSON.parse(l.slice('>>"%MSU_S%\\status.jsonl" echo('.length)) as { items: string[]; part: number });
    expect(planSteps.length).toBeGreaterThan(1);
    expect(planSteps.map((p) => p.part)).toEqual(planSteps.map((_, i) => i + 1));
    expect(planSteps.flatMap((p) => p.items)).toEqual(items);
    // one item that cannot fit any line is refused at generation time
    plan.images[0]!.steps[0]!.items = ['P'.repeat(9000)];
    let err: unknown;
    try {
      generateDismWorker(plan, { runId: 'r' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).code).toBe('E_CMD_LINE');
    expect((err as MsuError).message).toMatch(/^install\.wim#1 step 1: item "P{60}"\.\.\. is too long for a cmd\.exe line \(8191 characters\)$/);
  });
});
