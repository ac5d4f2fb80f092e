/**
 * Run reports (src/vm/report.ts): steps and updates out of the event stream, and the plan set
 * against what a run installed. The last block drives the whole chain with real QEMU: serial
 * lines from a boot-sector guest → events.jsonl → report.json → `msu plan diff PLAN RUNDIR`.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Plan } from '../../src/plan/plan-types.js';
import { loadPlan, PLAN_FILE, SAFEOS } from './plans.js';
import { MsuError } from '../../src/errors.js';
import type { RunEvent, RunResult } from '../../src/vm/runner.js';
import { runVm } from '../../src/vm/runner.js';
import { formatGuestLine, type GuestEvent } from '../../src/vm/protocol.js';
import { validateRunSpec } from '../../src/vm/spec.js';
import {
  buildRunReport, comparePlanWithRun, readPlanOrRunReport, formatPlanRunDiff, formatRunReport, parseEventsJsonl, readRunReport,
  stepsFromEvents, updatesFromResults, writeRunReport, RUN_REPORT_SCHEMA, type RunReport,
} from '../../src/vm/report.js';
import { dismLayout, servicedImages } from '../../src/vm/guest/dism-worker.js';
import { bootDisk, simpleBootSector } from '../helpers/bootsector.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-report-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const planFile = PLAN_FILE;

let t = 0;
const g = (event: GuestEvent, at?: number): RunEvent => ({ type: 'guest', boot: 1, event, t: at ?? (t += 10) });

function result(over: Partial<RunResult> = {}): RunResult {
  return { id: 'r1', ok: true, accel: 'tcg', starts: 1, boots: 1, guestErrors: [], results: [], screendumps: [], statusFiles: [], warnings: [], durationMs: 1234, ...over };
}

describe('stepsFromEvents', () => {
  it('pairs running with the final state, measures duration on the host clock and keeps exit codes', () => {
    const steps = stepsFromEvents([
      g({ type: 'boot', n: 1 }, 0),
      g({ type: 'step', id: 'mount', name: 'mount', state: 'running' }, 100),
      g({ type: 'step', id: 'mount', name: 'Mount install.wim', state: 'ok', exitCode: 0 }, 1600),
      g({ type: 'step', id: 'add', name: 'add', state: 'running' }, 1700),
      g({ type: 'progress', pct: 40 }, 1800),
      g({ type: 'step', id: 'add', name: 'add', state: 'failed', exitCode: -2146498530 }, 9700),
      g({ type: 'step', id: 'commit', name: 'commit', state: 'running' }, 9800),
    ]);
    expect(steps).toEqual([
      { id: 'mount', name: 'Mount install.wim', boot: 1, outcome: 'ok', exitCode: 0, durationMs: 1500 },
      { id: 'add', name: 'add', boot: 1, outcome: 'failed', exitCode: -2146498530, durationMs: 8000 },
      { id: 'commit', name: 'commit', boot: 1, outcome: 'unfinished' },
    ]);
  });

  it('a step cut short by a reboot stays unfinished; the same id in the next boot is a new attempt', () => {
    const steps = stepsFromEvents([
      g({ type: 'boot', n: 1 }, 0),
      g({ type: 'step', id: 'install', name: 'Install', state: 'running' }, 10),
      g({ type: 'boot', n: 2 }, 500),
      g({ type: 'step', id: 'install', name: 'Install', state: 'ok' }, 900),
      g({ type: 'step', id: 'skipme', name: 'Skip', state: 'skipped' }, 950),
    ]);
    expect(steps).toEqual([
      { id: 'install', name: 'Install', boot: 1, outcome: 'unfinished' },
      { id: 'install', name: 'Install', boot: 2, outcome: 'ok' },
      { id: 'skipme', name: 'Skip', boot: 2, outcome: 'skipped' },
    ]);
  });
});

describe('updatesFromResults', () => {
  it('reads the WUA per-round report: KB lists (array or single string), result code names, HResult', () => {
    const u = updatesFromResults([
      { round: 1, updates: [
        { updateId: 'a-1', title: '2026-11 Cumulative Update', kb: ['KB5099999'], resultCode: 2, hresult: '0x00000000', rebootRequired: true },
        { updateId: 'b-2', title: 'Defender', kb: 'kb2267602', resultCode: 4, hresult: '0x80240022' },
      ] },
      { n: 3 }, // not a WUA round: ignored
      { round: 2, updates: [{ updateId: 'c-3', title: 'Odd', resultCode: 9 }, 'junk'] },
    ]);
    expect(u).toEqual([
      { round: 1, updateId: 'a-1', title: '2026-11 Cumulative Update', kb: ['KB5099999'], outcome: 'succeeded', resultCode: 2, hresult: '0x00000000', rebootRequired: true },
      { round: 1, updateId: 'b-2', title: 'Defender', kb: ['KB2267602'], outcome: 'failed', resultCode: 4, hresult: '0x80240022' },
      { round: 2, updateId: 'c-3', title: 'Odd', kb: [], outcome: 'result-9', resultCode: 9 },
    ]);
  });
});

describe('buildRunReport / formatRunReport', () => {
  it('carries the failure and renders one line per step', () => {
    const r = buildRunReport('generic', result({ ok: false, failure: { code: 'watchdog', limit: 'heartbeat', message: 'watchdog "heartbeat" fired' } }), [
      g({ type: 'boot', n: 1 }, 0),
      g({ type: 'step', id: 's1', name: 'First', state: 'running' }, 0),
      g({ type: 'step', id: 's1', name: 'First', state: 'ok', exitCode: 3010 }, 2500),
    ]);
    expect(r).toMatchObject({ schema: RUN_REPORT_SCHEMA, ok: false, failure: { code: 'watchdog', limit: 'heartbeat' }, steps: [{ id: 's1', exitCode: 3010, durationMs: 2500 }] });
    const text = formatRunReport(r);
    expect(text.split('\n')[0]).toBe('run r1 (generic): FAILED (watchdog): watchdog "heartbeat" fired');
    expect(text).toContain('ok         s1 (First) exit 3010  3 s');
  });
});

function dismReport(plan: Plan, opts: { failStep?: string; skip?: string; missing?: { image: string; item: string } ; notApplicable?: string[] } = {}): RunReport {
  const events: RunEvent[] = [g({ type: 'boot', n: 1 }, 0)];
  for (const im of dismLayout(plan)) {
    for (const st of im.steps) {
      if (st.id === opts.skip) continue;
      events.push(g({ type: 'step', id: st.id, name: st.id, state: 'running' }));
      events.push(g({ type: 'step', id: st.id, name: st.id, state: st.id === opts.failStep ? 'failed' : 'ok', exitCode: st.id === opts.failStep ? 5 : 0 }));
    }
  }
  const differences = opts.missing ? [{ image: opts.missing.image, kind: 'package-missing' as const, item: opts.missing.item, detail: 'step 2: not in the image\'s package list' }] : [];
  return buildRunReport('dism-worker', result(), events, { packages: {}, drivers: {}, notApplicable: opts.notApplicable ?? [], differences });
}

describe('comparePlanWithRun: DISM runs', () => {
  it('every planned item installed → matches, and the Markdown is empty', async () => {
    const plan = loadPlan();
    const d = comparePlanWithRun(plan, dismReport(plan));
    expect(d.matches).toBe(true);
    expect(d.entries.map((e) => [e.image, e.n, e.outcome])).toEqual([
      ['install.wim#1', 1, 'installed'], ['install.wim#1', 2, 'installed'], ['install.wim#1', 2, 'installed'],
      ['install.wim#1', 3, 'installed'], ['install.wim#1', 4, 'installed'], ['boot.wim#2', 1, 'installed'],
    ]);
    expect(d.entries[1]!.kb).toBe('KB5043080');
    expect(formatPlanRunDiff(d)).toBe('');
  });

  it('a failed step, a step that never ran, a package missing from the listing and an allowed not-applicable', async () => {
    const plan = loadPlan();
    const lcu = 'Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.3476.1.8';
    const steps = dismLayout(plan).flatMap((im) => im.steps.map((s) => s.id));
    const d = comparePlanWithRun(plan, dismReport(plan, { failStep: steps[2], skip: steps[3], missing: { image: 'install.wim#1', item: lcu }, notApplicable: [steps[4]!] }));
    expect(d.matches).toBe(false);
    expect(d.entries.map((e) => e.outcome)).toEqual(['installed', 'installed', 'missing', 'failed', 'not-run', 'not-applicable']);
    const md = formatPlanRunDiff(d);
    expect(md).toContain(`- **missing** step 2 add-package \`${lcu}\` (KB5053598): package-missing: step 2: not in the image's package list`);
    expect(md).toContain(`- **failed** step 3 add-driver \`viosnd.inf\`: step ${steps[2]} failed with exit code 5`);
    expect(md).toContain('## Image install.wim#1');
    expect(md).not.toContain('boot.wim#2'); // the not-applicable SafeOS step is accepted
  });
  it('WinRE is checked per install image, under the step ids the worker ran (i1.winre.sN)', async () => {
    const plan = loadPlan();
    plan.images.push({ image: 'winre.wim', steps: [
      { n: 1, action: 'add-package', inputs: ['in5'], items: [SAFEOS], reason: 'Safe OS dynamic update' },
      { n: 2, action: 'cleanup-components', inputs: [], items: [], reason: 'clean up' },
    ] });
    const targets = servicedImages(dismLayout(plan));
    expect(targets.map((x) => x.name)).toContain('install.wim#1/winre.wim');
    const events: RunEvent[] = [g({ type: 'boot', n: 1 }, 0)];
    for (const x of targets) for (const id of x.stepIds) {
      events.push(g({ type: 'step', id, name: id, state: 'running' }), g({ type: 'step', id, name: id, state: 'ok', exitCode: 0 }));
    }
    const dism = { packages: {}, drivers: {}, notApplicable: [], differences: [] };
    expect(comparePlanWithRun(plan, buildRunReport('dism-worker', result(), events, dism)).matches).toBe(true);
    // the WinRE pass never ran: both of its entries say so, by the WinRE copy's name
    const cut = events.filter((e) => !(e.type === 'guest' && e.event.type === 'step' && e.event.id.includes('winre')));
    const d = comparePlanWithRun(plan, buildRunReport('dism-worker', result(), cut, dism));
    expect(d.entries.filter((e) => e.outcome !== 'installed').map((e) => [e.image, e.n, e.outcome, e.detail])).toEqual([
      ['install.wim#1/winre.wim', 1, 'not-run', 'step i1.winre.s1 did not run'],
      ['install.wim#1/winre.wim', 2, 'not-run', 'step i1.winre.s2 did not run'],
    ]);
  });
});

describe('comparePlanWithRun: Windows Update runs', () => {
  it('matches planned KBs to installed updates and lists what the plan did not have', async () => {
    const plan = loadPlan();
    const r = buildRunReport('audit-wua', result({ results: [
      { round: 1, updates: [{ updateId: 'u1', title: 'CU 1742', kb: ['KB5043080'], resultCode: 2 }, { updateId: 'u2', title: 'CU 3476', kb: ['KB5053598'], resultCode: 4, hresult: '0x800F0922' }] },
      { round: 2, updates: [{ updateId: 'u3', title: 'Defender platform', kb: ['KB4052623'], resultCode: 2 }] },
    ] }), []);
    const d = comparePlanWithRun(plan, r);
    expect(d.matches).toBe(false);
    const byItem = Object.fromEntries(d.entries.map((e) => [e.item, e]));
    expect(byItem['Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.1742.1.10']).toMatchObject({ outcome: 'installed', kb: 'KB5043080', detail: 'round 1: CU 1742' });
    expect(byItem['Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.3476.1.8']).toMatchObject({ outcome: 'failed', detail: 'round 1: failed 0x800F0922' });
    expect(byItem['Package_for_ServicingStack_1234~31bf3856ad364e35~amd64~~26100.1234.1.0']!.outcome).toBe('not-run');
    expect(byItem['Defender platform']).toMatchObject({ outcome: 'not-planned', kb: 'KB4052623', image: '(running system)' });
  });
});

describe('report files', () => {
  it('parseEventsJsonl tolerates a torn last line but names a bad line elsewhere', () => {
    const ok = '{"type":"warning","message":"x","t":1}\n{"type":"fin';
    expect(parseEventsJsonl(ok, 'events.jsonl')).toHaveLength(1);
    expect(() => parseEventsJsonl('{"type":"warning"}\n{"type":"warning","message":"x","t":1}\n', '/r/events.jsonl')).toThrow(/line 1: not an event object/);
  });

  it('readRunReport refuses a plan file and names the file; plan diff takes either', async () => {
    const err = await readRunReport(planFile).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).describe()).toBe(`${planFile}: not a run report (schema "msu-toolkit/plan@1", expected ${RUN_REPORT_SCHEMA})`);
    const cli = await runCli('run', 'report', path.dirname(planFile));
    // a folder with neither report.json nor events.jsonl is not a run directory: bad input (docs/cli.md), not an I/O error
    expect(cli.code).toBe(3);
    expect(cli.stderr).toBe(`msu: ${path.dirname(planFile)}: not a run directory: it holds neither report.json nor events.jsonl\n`);
    // the NEW side of plan diff is read once and recognised by its schema
    expect(await readPlanOrRunReport(planFile)).toHaveProperty('plan.schema', 'msu-toolkit/plan@1');
    const junk = path.join(root, 'junk.json');
    writeFileSync(junk, JSON.stringify({ schema: RUN_REPORT_SCHEMA, id: 'x' }));
    await expect(readPlanOrRunReport(junk)).rejects.toThrow('run report lacks id, kind, ok, steps or updates');
  });
});

const hasQemu = hasTool('qemu-system-x86_64') && hasTool('qemu-img');
if (!hasQemu) skipNote('run report end-to-end', 'qemu-system-x86_64');

describe.skipIf(!hasQemu)('end to end: guest lines → report.json → msu plan diff PLAN RUNDIR', () => {
  it('a Windows Update style run that installed one planned KB and one unplanned update', { timeout: 30_000 }, async () => {
    const dir = path.join(root, 'e2e');
    mkdirSync(dir, { recursive: true });
    const line = (e: GuestEvent): string => formatGuestLine(e).replace(/\r\n$/, '');
    writeFileSync(path.join(dir, 'boot.img'), bootDisk(simpleBootSector([
      line({ type: 'boot', n: 1 }),
      line({ type: 'step', id: 'install', name: 'Install 2 updates', state: 'running' }),
      line({ type: 'step', id: 'install', name: 'Install 2 updates', state: 'ok' }),
      line({ type: 'result', data: { round: 1, updates: [{ updateId: 'u1', title: 'CU', kb: ['KB5043080'], resultCode: 2 }, { updateId: 'u9', title: 'Extra', kb: ['KB1'], resultCode: 2 }] } }),
      line({ type: 'done', ok: true }),
    ], 'poweroff')));
    const spec = validateRunSpec({
      id: 'wu1',
      vm: { accel: 'tcg', firmware: { type: 'seabios' }, cpus: 1, memMiB: 32, disks: [{ role: 'system', path: 'boot.img', format: 'raw' }] },
      timeouts: { bootSec: 5, heartbeatSec: 3, perBootSec: 15, totalSec: 25, maxBoots: 2, tcgFactor: 1, graceSec: 1 },
    });
    const runDir = path.join(dir, 'run');
    const res = await runVm(spec, { runDir, baseDir: dir });
    expect(res.ok).toBe(true);
    const report = await writeRunReport(runDir);
    expect(report.steps).toMatchObject([{ id: 'install', outcome: 'ok', boot: 1 }]);
    expect(report.updates.map((u) => [u.kb, u.outcome])).toEqual([[['KB5043080'], 'succeeded'], [['KB1'], 'succeeded']]);
    expect(JSON.parse(readFileSync(path.join(runDir, 'report.json'), 'utf8'))).toEqual(JSON.parse(JSON.stringify(report)));

    const shown = await runCli('run', 'report', runDir, '--json');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual(JSON.parse(JSON.stringify(report)));

    const diff = await runCli('plan', 'diff', planFile, runDir);
    expect(diff.code).toBe(1);
    expect(diff.stdout).toContain('# Plan vs. run');
    expect(diff.stdout).toContain('- **not-planned** windows-update `Extra` (KB1): round 1, update u9');
    expect(diff.stdout).toContain('- **not-run** step 2 add-package `Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.3476.1.8` (KB5053598): Windows Update did not install KB5053598');
    expect(diff.stdout).not.toContain('26100.1742.1.10'); // installed: not listed
    const j = await runCli('plan', 'diff', planFile, path.join(runDir, 'report.json'), '--json');
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout).matches).toBe(false);
  });
});
