import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlan } from '../../src/plan/plan.js';
import { diffPlans, formatPlanDiff, isEmptyDiff } from '../../src/plan/plan-diff.js';
import type { Plan } from '../../src/plan/plan-types.js';
import { canonicalJson } from '../../src/util/json.js';
import { runCli } from '../helpers/cli.js';
import { bareCab, expectGolden, msu, packageMum, removeDir, tempDir, writeFiles } from './fixtures.js';

const FOUNDATION = { name: 'Microsoft-Windows-Foundation-Package', version: '10.0.19041.1' };
let root: string;
let oldPlan: Plan, newPlan: Plan;

beforeAll(async () => {
  root = await tempDir('msu-plandiff-');
  const dotnet = bareCab(packageMum({ name: 'Package_for_DotNetRollup_481', version: '10.0.19041.4100', kb: 'KB5099500', parent: FOUNDATION }));
  await writeFiles(path.join(root, 'old'), {
    'updates/lcu.msu': msu({ kb: 5099000, ubr: 4000 }),
    'updates/dotnet.cab': dotnet,
    'updates/lp.cab': bareCab(packageMum({ name: 'Microsoft-Windows-Client-LanguagePack-Package', version: '10.0.19041.1', releaseType: 'Language Pack', parent: FOUNDATION })),
  });
  await writeFiles(path.join(root, 'new'), {
    'updates/lcu.msu': msu({ kb: 5099999, ubr: 4170 }),
    'updates/dotnet.cab': dotnet,
    'updates/safeos.cab': bareCab(packageMum({ name: 'Package_for_SafeOSDU', version: '10.0.19041.4165', kb: 'KB5099400', parent: FOUNDATION })),
  });
  oldPlan = await buildPlan({ inputs: ['updates'], target: { build: '10.0.19044.1288', arch: 'amd64' }, cwd: path.join(root, 'old') });
  newPlan = await buildPlan({ inputs: ['updates'], target: { build: '10.0.19044.1300', arch: 'amd64' }, cwd: path.join(root, 'new') });
  const deep = `{"schema":"msu-toolkit/plan@1","tool":{"name":"msu-toolkit","version":"0.1.0"},"inputs":[],"images":[],"skipped":[],"target":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
  await writeFiles(root, {
    'old.json': canonicalJson(oldPlan), 'new.json': canonicalJson(newPlan), 'bad.json': '{"schema":"msu-toolkit/plan@1","inputs":[]}',
    'deep.json': deep, 'text.json': 'not json', 'badskip.json': JSON.stringify({ ...oldPlan, skipped: [{ input: 'in1', reason: 'x', detail: 'y', images: 7 }] }),
  });
});
afterAll(async () => removeDir(root));

describe('diffPlans', () => {
  it('is empty for identical plans', () => {
    const d = diffPlans(oldPlan, JSON.parse(canonicalJson(oldPlan)) as Plan);
    expect(isEmptyDiff(d)).toBe(true);
    expect(formatPlanDiff(d)).toBe('');
  });

  it('reports target, input content, version bumps, steps and skips', () => {
    const d = diffPlans(oldPlan, newPlan);
    expect(d.target).toEqual([{ field: 'version', old: '10.0.19044.1288', new: '10.0.19044.1300' }]);
    expect(d.inputs.added.map((i) => i.path)).toEqual(['updates/safeos.cab']);
    expect(d.inputs.removed.map((i) => i.path)).toEqual(['updates/lp.cab']);
    expect(d.inputs.changed.map((i) => [i.path, i.oldSha256 === i.newSha256])).toEqual([['updates/lcu.msu', false]]);
    expect(d.versionBumps).toEqual([
      { package: 'Package_for_RollupFix (amd64)', old: ['10.0.19041.4000'], new: ['10.0.19041.4170'] },
      { package: 'Package_for_ServicingStack (amd64)', old: ['10.0.19041.3990'], new: ['10.0.19041.4160'] },
    ]);
    expect(d.images).toHaveLength(1);
    const img = d.images[0]!;
    expect(img.image).toBe('install.wim#1');
    expect(img.removed.map((s) => [s.n, s.items])).toEqual([[2, ['Microsoft-Windows-Client-LanguagePack-Package~31bf3856ad364e35~amd64~~10.0.19041.1']]]);
    expect(img.added).toEqual([]);
    expect(img.changed.map((c) => [c.old.items, c.new.items, c.what])).toEqual([
      [['Package_for_ServicingStack~31bf3856ad364e35~amd64~~10.0.19041.3990'], ['Package_for_ServicingStack~31bf3856ad364e35~amd64~~10.0.19041.4160'], ['items']],
      [['Package_for_RollupFix~31bf3856ad364e35~amd64~~10.0.19041.4000'], ['Package_for_RollupFix~31bf3856ad364e35~amd64~~10.0.19041.4170'], ['items']],
    ]);
    // Step numbers shift when a step is removed, but the relative order is unchanged: nothing reordered.
    expect(img.reordered).toEqual([]);
    expect(d.skipped.added.map((s) => [s.input, s.reason])).toEqual([['updates/safeos.cab', 'not-applicable']]);
    expect(d.skipped.removed).toEqual([]);
  });

  it('reports a step that moved relative to the others', () => {
    const moved = JSON.parse(canonicalJson(oldPlan)) as Plan;
    const steps = moved.images[0]!.steps;
    // Put .NET before the cleanup: the diff must call the .NET step (or the cleanup) moved, not added/removed.
    const [a, b] = [steps.findIndex((s) => s.action === 'cleanup-components'), steps.findIndex((s) => s.items[0]?.startsWith('Package_for_DotNetRollup'))];
    [steps[a], steps[b]] = [steps[b]!, steps[a]!];
    steps.forEach((s, i) => (s.n = i + 1));
    const d = diffPlans(oldPlan, moved);
    expect(d.images[0]!.added).toEqual([]);
    expect(d.images[0]!.removed).toEqual([]);
    expect(d.images[0]!.reordered.map((r) => [r.action, r.oldN, r.newN])).toEqual([['cleanup-components', 4, 5]]);
  });

  it('renders the reviewed Markdown', async () => {
    await expectGolden('plan-diff.md', formatPlanDiff(diffPlans(oldPlan, newPlan)));
  });
});

describe('msu plan diff (CLI)', () => {
  it('prints nothing and exits 0 for identical plans', async () => {
    const r = await runCli('plan', 'diff', path.join(root, 'old.json'), path.join(root, 'old.json'));
    expect([r.code, r.stdout, r.stderr]).toEqual([0, '', '']);
    // with --json, stdout is a JSON document either way: the empty comparison
    const j = await runCli('plan', 'diff', path.join(root, 'old.json'), path.join(root, 'old.json'), '--json');
    expect(j.code).toBe(0);
    const d = JSON.parse(j.stdout);
    expect(isEmptyDiff(d)).toBe(true);
    expect(d).toEqual(diffPlans(oldPlan, oldPlan));
  });

  it('prints the Markdown diff and exits 1 when they differ', async () => {
    const r = await runCli('plan', 'diff', path.join(root, 'old.json'), path.join(root, 'new.json'));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe(formatPlanDiff(diffPlans(oldPlan, newPlan)));
    const j = await runCli('plan', 'diff', path.join(root, 'old.json'), path.join(root, 'new.json'), '--json');
    expect(j.code).toBe(1);
    expect(JSON.parse(j.stdout).versionBumps).toHaveLength(2);
  });

  it('exits 3 naming the file for a malformed plan', async () => {
    const r = await runCli('plan', 'diff', path.join(root, 'old.json'), path.join(root, 'bad.json'));
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('bad.json: malformed plan: "tool.version" missing');
    const cases: Array<[string, string]> = [
      ['deep.json', 'deep.json: malformed plan: "target" is nested too deeply'],
      ['text.json', 'text.json: not valid JSON'],
      ['badskip.json', 'badskip.json: malformed plan: skipped[0].images must be a list of strings'],
    ];
    for (const [f, msg] of cases) {
      const x = await runCli('plan', 'diff', path.join(root, f), path.join(root, 'old.json'));
      expect([x.code, x.stdout]).toEqual([3, '']);
      expect(x.stderr).toContain(msg);
      expect(x.stderr).not.toContain('    at ');
    }
  });
});

describe('one plan validator for plan diff, run dism and plan diff PLAN RUNDIR', () => {
  /** oldPlan with one change made by hand, as a reviewer (or an attacker) could. */
  const edited = (f: (p: Plan) => void): string => {
    const p = JSON.parse(canonicalJson(oldPlan)) as Plan;
    f(p);
    return canonicalJson(p);
  };
  const cases: Array<[string, (p: Plan) => void, string]> = [
    ['dup-step', (p) => { p.images[0]!.steps[1]!.n = p.images[0]!.steps[0]!.n; }, 'malformed plan: install.wim#1: step 1 appears twice'],
    ['unknown-input', (p) => { p.images[0]!.steps[0]!.inputs = ['in99']; }, 'malformed plan: install.wim#1 step 1 uses unknown input "in99"'],
    ['format-c', (p) => { (p.images[0]!.steps[0]! as { action: string }).action = 'format-c'; }, 'malformed plan: install.wim#1 step 1: unknown action "format-c" (expected add-package, add-driver, cleanup-components, reset-base)'],
    ['zeros', (p) => { p.inputs[0]!.sha256 = '0'; }, 'malformed plan: inputs[0] (in1): sha256 must be 64 lowercase hex digits'],
    ['escape', (p) => { p.inputs[0]!.path = '../../etc/passwd'; }, 'malformed plan: inputs[0] (in1): path "../../etc/passwd" climbs out of the plan directory (..)'],
    ['dup-id', (p) => { p.inputs[1]!.id = p.inputs[0]!.id; }, 'malformed plan: inputs[1]: id "in1" is used by inputs[0] too'],
    ['kind', (p) => { (p.inputs[0]! as { kind: string }).kind = 'exe'; }, 'malformed plan: inputs[0] (in1): unknown kind "exe" (expected msu, cab, driver-folder)'],
    ['cleanup-inputs', (p) => { p.images[0]!.steps.find((s) => s.action === 'cleanup-components')!.inputs = ['in1']; }, 'malformed plan: install.wim#1 step 4 (cleanup-components) takes no inputs'],
    ['skip-input', (p) => { p.skipped.push({ input: 'in42', reason: 'duplicate', detail: 'x' }); }, 'names unknown input "in42"'],
  ];

  it('plan diff refuses each broken plan (exit 3, one line naming the file), on either side, where it used to show a difference', async () => {
    for (const [name, f, msg] of cases) {
      const file = path.join(root, `edited-${name}.json`);
      await writeFiles(root, { [`edited-${name}.json`]: edited(f) });
      for (const args of [[path.join(root, 'old.json'), file], [file, path.join(root, 'old.json')]]) {
        const r = await runCli('plan', 'diff', ...args);
        expect([name, r.code, r.stdout]).toEqual([name, 3, '']);
        expect(r.stderr.startsWith(`msu: ${file}: malformed plan: `)).toBe(true);
        expect(r.stderr).toContain(msg);
        expect(r.stderr.split('\n')).toHaveLength(2);
      }
    }
  });

  it('what a plan file says reaches the terminal with its control characters escaped (its errors quote values as JSON)', async () => {
    const OSC = '\x1b]0;owned\x07';
    await writeFiles(root, {
      'osc-skip.json': edited((p) => { p.skipped.push({ input: 'in1', reason: 'duplicate', detail: `same as${OSC} in2` }); }),
    });
    const d = await runCli('plan', 'diff', path.join(root, 'old.json'), path.join(root, 'osc-skip.json'));
    expect(d.code).toBe(1);
    expect(d.stdout).toContain('same as\\x1b]0;owned\\x07 in2');
    expect(d.stdout).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f]/);
  });

  it('run dism --dry-run refuses the same plans with the same message before anything is written', async () => {
    await writeFiles(root, { 'Win.iso': 'iso' });
    for (const [name, , msg] of cases) {
      const file = path.join(root, `edited-${name}.json`);
      const runDir = path.join(root, `run-${name}`);
      const r = await runCli('run', 'dism', file, '--iso', path.join(root, 'Win.iso'), '--run-dir', runDir, '--dry-run');
      expect([name, r.code]).toEqual([name, 3]);
      expect(r.stderr.startsWith(`msu: ${file}: malformed plan: `)).toBe(true);
      expect(r.stderr).toContain(msg);
      await expect(import('node:fs/promises').then((fs) => fs.stat(runDir))).rejects.toMatchObject({ code: 'ENOENT' });
    }
  });
});
