import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Plan } from '../../src/cbs/plan-types.js';
import { dismLayout, EXIT_CODES, generateDismWorker } from '../../src/vm/guest/dism-worker.js';
import { ProtocolParser } from '../../src/vm/protocol.js';
import { MsuError } from '../../src/errors.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/golden');
const loadPlan = (): Plan => JSON.parse(readFileSync(path.join(GOLDEN, 'plan-dism.json'), 'utf8')) as Plan;
const goldenName = (p: string): string => 'dism-' + p.split('\\').pop()!;

/** Lines of a generated batch file, CRLF-separated as cmd.exe expects. */
const linesOf = (content: string): string[] => content.split('\r\n');

describe('generateDismWorker golden files', () => {
  const out = generateDismWorker(loadPlan(), { runId: 'golden-dism' });

  it('produces the four WinPE files, byte-identical to the golden copies', () => {
    expect(out.files.map((f) => f.path)).toEqual([
      'Windows\\System32\\startnet.cmd',
      'Windows\\System32\\worker.cmd',
      'Windows\\System32\\heartbeat.cmd',
      'Windows\\System32\\msu-diskpart.txt',
    ]);
    for (const f of out.files) {
      const golden = path.join(GOLDEN, goldenName(f.path));
      // regenerate deliberately with MSU_UPDATE_GOLDEN=1, then review the diff
      if (process.env.MSU_UPDATE_GOLDEN === '1' || !existsSync(golden)) writeFileSync(golden, f.content);
      expect(f.content, f.path).toBe(readFileSync(golden, 'utf8'));
    }
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
      'call :run i1s4 c_i1s4 0 3010',
      'call :run i1-packages c_i1_packages 0',
      'call :run i1-drivers c_i1_drivers 0',
      'call :run i1-commit c_i1_commit 0',
      'call :run out-install c_out_install 0',
      'call :run split-install c_split_install 0',
      'call :run copy-boot c_copy_boot 0',
      'call :run i2-mount c_i2_mount 0',
      // applicability "unknown": 0x800F081E is tolerated here only
      `call :run i2s1 c_i2s1 0 3010 ${EXIT_CODES.notApplicable}`,
      'call :run i2-packages c_i2_packages 0',
      'call :run i2-drivers c_i2_drivers 0',
      'call :run i2-commit c_i2_commit 0',
      'call :run out-boot c_out_boot 0',
      'call :run split-boot c_split_boot 0',
      'call :run discard c_discard 0',
      'call :run cleanup-wim c_cleanupwim 0',
    ]);
    expect(EXIT_CODES.notApplicable).toBe(0x800f081e | 0);
    // every label called has a block
    for (const c of calls) expect(worker).toContain(`:${c.split(' ')[3]}`);
  });

  it('checkpoint LCUs come from one folder, single packages by file, drivers recursively', () => {
    const cmd = (label: string): string => worker[worker.indexOf(`:${label}`) + 2]!;
    expect(cmd('c_i1s2')).toContain('/Add-Package /PackagePath:"%MSU_I%\\steps\\i1s2" ');
    expect(cmd('c_i1s1')).toContain('/PackagePath:"%MSU_I%\\steps\\i1s1\\in3.cab"');
    expect(cmd('c_i1s3')).toContain('/Add-Driver /Driver:"%MSU_I%\\steps\\i1s3" /Recurse');
    expect(cmd('c_i1s4')).toContain('/Cleanup-Image /StartComponentCleanup /ResetBase');
    expect(cmd('c_split_install')).toContain('/Split-Image /ImageFile:"%MSU_W%\\work\\install.wim" /SWMFile:"%MSU_O%\\install.swm" /FileSize:4000');
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
    const lines = out.files.flatMap((f) => linesOf(f.content)).filter((l) => l.includes('@@MSU '));
    expect(lines.length).toBeGreaterThan(40);
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
    expect(msg(bad((p) => (p.images[0]!.image = 'install.wim#1 & calc')))).toMatch(/services install\.wim#N and boot\.wim#N only/);
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
