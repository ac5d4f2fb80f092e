import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlan, formatPlanSummary } from '../../src/plan/plan.js';
import { checkPlan } from '../../src/plan/plan-check.js';
import { diffPlans, formatPlanDiff } from '../../src/plan/plan-diff.js';
import type { Plan } from '../../src/plan/plan-types.js';
import { parseScanRules } from '../../src/scancab/rules.js';
import { Cabinet } from '../../src/cab/index.js';
import { MsuError } from '../../src/errors.js';
import { canonicalJson } from '../../src/util/json.js';
import { buildScanCab, type FixtureUpdate } from '../helpers/scancab-build.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { bareCab, packageMum, removeDir, tempDir, writeFiles } from './fixtures.js';

const FOUNDATION = { name: 'Microsoft-Windows-Foundation-Package', version: '10.0.19041.1' };
const cab = (name: string, kb: string): Uint8Array =>
  bareCab(packageMum({ name, version: '10.0.19041.100', kb, parent: FOUNDATION }));
const sha1 = (b: Uint8Array): string => createHash('sha1').update(b).digest('hex');
const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

const G = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const CLS = '28bc880e-0592-4cbf-8f95-c79b17911d5f';

// Inputs: a.cab is a payload of the cabinet (exact SHA-1), b.cab only by KB, c.cab superseded,
// d.cab forbidden, e.cab not in the cabinet at all.
const INPUTS = {
  'u/a.cab': cab('Package_for_KB5000001', 'KB5000001'),
  'u/b.cab': cab('Package_for_KB5000002', 'KB5000002'),
  'u/c.cab': cab('Package_for_KB5000003', 'KB5000003'),
  'u/d.cab': cab('Package_for_KB5000005', 'KB5000005'),
  'u/e.cab': cab('Package_for_KB5000006', 'KB5000006'),
};

function cabinetUpdates(): FixtureUpdate[] {
  const pay = (name: string, bytes: Uint8Array) => ({ name, sha1b64: b64(sha1(bytes)), size: bytes.length, url: `http://download.example/${name}` });
  return [
    { rev: 10, id: CLS, type: 'Category', title: 'Updates' },
    // KB5000001: a bundle whose leaf carries a.cab
    { rev: 100, id: G(100), kb: '5000001', bundle: true, categories: [{ type: 'UpdateClassification', id: CLS }] },
    { rev: 101, id: G(101), kb: '5000001', bundledBy: [100], payload: [pay('windows10.0-kb5000001-x64.cab', INPUTS['u/a.cab'])] },
    // KB5000002 twice (two products): the one whose payload names the input's file wins
    { rev: 200, id: G(200), kb: '5000002', payload: [pay('other-name.cab', new Uint8Array([1]))] },
    { rev: 201, id: G(201), kb: '5000002', payload: [pay('b.cab', new Uint8Array([2]))] },
    // KB5000003 superseded by KB5000004
    { rev: 300, id: G(300), kb: '5000003', supersededBy: [400], payload: [pay('c.cab', new Uint8Array([3]))] },
    { rev: 400, id: G(400), kb: '5000004', payload: [pay('new.cab', new Uint8Array([4]))] },
    { rev: 500, id: G(500), kb: '5000005', payload: [pay('d.cab', new Uint8Array([5]))] },
  ];
}

let dir: string;
beforeAll(async () => {
  dir = await tempDir('msu-plan-scan-');
  await writeFiles(dir, { ...INPUTS, 'scan/WSUSSCAN.cab': buildScanCab(cabinetUpdates()) });
  await writeFile(path.join(dir, 'rules.json'), JSON.stringify({ defaultAllow: true, forbid: ['KB5000005'] }));
});
afterAll(async () => removeDir(dir));

const plan = (rules?: object, inputs = Object.keys(INPUTS)): Promise<Plan> =>
  buildPlan({
    inputs, target: { build: '10.0.19044.1288', arch: 'amd64' }, cwd: dir,
    scan: { file: 'scan/WSUSSCAN.cab', cacheDir: null, ...(rules ? { rules: parseScanRules(rules) } : {}) },
  });
const input = (p: Plan, rel: string) => p.inputs.find((i) => i.path === rel)!;
const planned = (p: Plan): string[] => p.images[0]!.steps.flatMap((s) => s.inputs.map((id) => p.inputs.find((i) => i.id === id)!.path));

describe('msu plan --scancab: matching inputs to updates', () => {
  it('records UpdateId, KB and how each input was matched; SHA-1 next to SHA-256', async () => {
    const p = await plan();
    const a = input(p, 'u/a.cab');
    expect(a.sha1).toBe(sha1(INPUTS['u/a.cab']));
    // the payload sits in a leaf of bundle 100: the deployable bundle is recorded
    expect(a.scan).toEqual({ updateId: G(100), revisionId: 100, kb: '5000001', matchedBy: 'sha1' });
    expect(input(p, 'u/b.cab').scan).toEqual({ updateId: G(201), revisionId: 201, kb: '5000002', matchedBy: 'kb' });
    expect(input(p, 'u/c.cab').scan).toEqual({ updateId: G(300), revisionId: 300, kb: '5000003', matchedBy: 'kb' });
    expect(input(p, 'u/e.cab').scan).toBeUndefined();
    expect(p.scancab).toMatchObject({ packageId: '00000000-0000-4000-8000-000000000001', creationDate: '2020-01-01T00:00:00Z' });
    expect(p.scancab!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(p.scancab!.rules).toBeUndefined();
  });

  it('without rules annotates only: nothing is dropped', async () => {
    const p = await plan();
    expect(p.skipped).toEqual([]);
    expect(planned(p).sort()).toEqual(Object.keys(INPUTS).sort());
  });

  it('an exact payload match beats a KB match', async () => {
    // the same KB on a second update whose payload is a.cab's bytes
    const ups = cabinetUpdates();
    ups.push({ rev: 600, id: G(600), kb: '5000002', payload: [{ name: 'x.cab', sha1b64: b64(sha1(INPUTS['u/b.cab'])), size: 1, url: 'http://download.example/x.cab' }] });
    await writeFile(path.join(dir, 'scan/two.cab'), buildScanCab(ups));
    const p = await buildPlan({ inputs: ['u/b.cab'], target: { build: '10.0.19044.1288', arch: 'amd64' }, cwd: dir, scan: { file: 'scan/two.cab', cacheDir: null } });
    expect(input(p, 'u/b.cab').scan).toEqual({ updateId: G(600), revisionId: 600, kb: '5000002', matchedBy: 'sha1' });
  });
});

describe('msu plan --scancab: hostile cabinets', () => {
  it('a BundledBy cycle around the input\'s payload ends the walk (no match by SHA-1, no hang)', async () => {
    const ups: FixtureUpdate[] = [
      { rev: 700, id: G(700), kb: '5000006', bundledBy: [701], payload: [{ name: 'e.cab', sha1b64: b64(sha1(INPUTS['u/e.cab'])), size: 1, url: 'http://download.example/e.cab' }] },
      { rev: 701, id: G(701), kb: '5000006', bundledBy: [700] },
    ];
    await writeFile(path.join(dir, 'scan/cycle.cab'), buildScanCab(ups));
    const p = await buildPlan({ inputs: ['u/e.cab'], target: { build: '10.0.19044.1288', arch: 'amd64' }, cwd: dir, scan: { file: 'scan/cycle.cab', cacheDir: null } });
    expect(input(p, 'u/e.cab').scan).toBeUndefined();
  });
});

describe('msu plan --scancab --rules: dropping superseded and forbidden updates', () => {
  it('skips superseded and forbidden inputs with the reason, keeps the rest', async () => {
    const p = await plan({ defaultAllow: true, forbid: ['KB5000005'] });
    const skip = (rel: string) => p.skipped.filter((s) => s.input === input(p, rel).id).map((s) => [s.reason, s.detail]);
    expect(skip('u/c.cab')).toEqual([['superseded', `scan cabinet: KB5000003 ${G(300)} is superseded by KB5000004 (revision 400)`]]);
    expect(skip('u/d.cab')).toEqual([['forbidden', `rules: KB5000005 ${G(500)}: forbid KB5000005`]]);
    expect(planned(p).sort()).toEqual(['u/a.cab', 'u/b.cab', 'u/e.cab']);
    expect(p.scancab!.rules).toEqual({ defaultAllow: true, allow: [], forbid: ['KB5000005'], allowedSeverities: [], includeSuperseded: false, products: [], classifications: [] });
  });

  it('an input the cabinet does not know is kept only when allowed by KB or by defaultAllow', async () => {
    const p = await plan({ defaultAllow: false, allow: ['KB5000001', 'KB5000002'] });
    const skip = (rel: string) => p.skipped.filter((s) => s.input === input(p, rel).id).map((s) => [s.reason, s.detail]);
    expect(skip('u/e.cab')).toEqual([['forbidden', 'rules: not in the scan cabinet and not allowed (defaultAllow is false)']]);
    expect(skip('u/d.cab')).toEqual([['forbidden', `rules: KB5000005 ${G(500)}: not allowed (defaultAllow is false)`]]);
    expect(planned(p).sort()).toEqual(['u/a.cab', 'u/b.cab']);
    const q = await plan({ defaultAllow: false, allow: ['KB5000006'], forbid: ['KB5000001'] });
    expect(planned(q)).toEqual(['u/e.cab']);
    expect(q.skipped.find((s) => s.input === input(q, 'u/a.cab').id)!.detail).toBe(`rules: KB5000001 ${G(100)}: forbid KB5000001`);
  });

  it('includeSuperseded keeps the superseded input', async () => {
    const p = await plan({ defaultAllow: true, includeSuperseded: true });
    expect(p.skipped).toEqual([]);
  });

  it('is deterministic, passes the plan validator, and plan diff shows the new fields', async () => {
    const a = await plan({ defaultAllow: true, forbid: ['KB5000005'] });
    const b = await plan({ defaultAllow: true, forbid: ['KB5000005'] });
    const text = canonicalJson(a);
    expect(canonicalJson(b)).toBe(text);
    expect(text).not.toContain(dir);
    expect(checkPlan(JSON.parse(text), 'plan.json')).toEqual(a);
    const c = await plan();
    const d = diffPlans(a, c);
    expect(d.scancab).toEqual([{ field: 'rules.defaultAllow', old: 'true' }, { field: 'rules.forbid', removed: ['KB5000005'] }, { field: 'rules.includeSuperseded', old: 'false' }]);
    expect(d.skipped.removed.map((s) => [s.input, s.reason])).toEqual([['u/c.cab', 'superseded'], ['u/d.cab', 'forbidden']]);
    const plain = await buildPlan({ inputs: Object.keys(INPUTS), target: { build: '10.0.19044.1288', arch: 'amd64' }, cwd: dir });
    const e = diffPlans(plain, c);
    expect(e.updates).toEqual([
      { path: 'u/a.cab', new: `KB5000001 ${G(100)} (matched by sha1)` },
      { path: 'u/b.cab', new: `KB5000002 ${G(201)} (matched by kb)` },
      { path: 'u/c.cab', new: `KB5000003 ${G(300)} (matched by kb)` },
      { path: 'u/d.cab', new: `KB5000005 ${G(500)} (matched by kb)` },
    ]);
    const md = formatPlanDiff(e);
    expect(md).toContain('## Updates');
    expect(md).toContain(`- \`u/a.cab\`: (none) → KB5000001 ${G(100)} (matched by sha1)`);
    expect(md).toContain('## Scan cabinet');
    expect(formatPlanSummary(a)).toContain(`u/a.cab  other KB5000001  [KB5000001 ${G(100)}, by sha1]`);
  });
});

describe('plan validator: the scan fields are untrusted input', () => {
  it('refuses a bad UpdateId, KB, SHA-1, matchedBy or scancab block, naming the field', async () => {
    const good = JSON.parse(canonicalJson(await plan({ defaultAllow: true }))) as Record<string, any>;
    const bad = (edit: (p: any) => void): string => {
      const p = structuredClone(good);
      edit(p);
      try {
        checkPlan(p, 'plan.json');
      } catch (err) {
        return (err as MsuError).describe();
      }
      return 'accepted';
    };
    expect(bad(() => undefined)).toBe('accepted');
    expect(bad((p) => { p.inputs[0].scan.updateId = 'KB5000001'; })).toBe('plan.json: malformed plan: inputs[0] (in1): scan.updateId "KB5000001" is not a lowercase GUID');
    expect(bad((p) => { p.inputs[0].scan.kb = 'KB5000001'; })).toBe('plan.json: malformed plan: inputs[0] (in1): scan.kb "KB5000001" is not a KB number (digits only)');
    expect(bad((p) => { p.inputs[0].scan.matchedBy = 'guess'; })).toBe('plan.json: malformed plan: inputs[0] (in1): scan.matchedBy must be sha1 or kb');
    expect(bad((p) => { p.inputs[0].scan.revisionId = -1; })).toBe('plan.json: malformed plan: inputs[0] (in1): scan.revisionId must be a whole number');
    expect(bad((p) => { p.inputs[0].scan = 'x'; })).toBe('plan.json: malformed plan: inputs[0] (in1): scan must be an object');
    expect(bad((p) => { p.inputs[0].sha1 = 'abc'; })).toBe('plan.json: malformed plan: inputs[0] (in1): sha1 must be 40 lowercase hex digits');
    expect(bad((p) => { p.scancab.sha256 = 'x'; })).toBe('plan.json: malformed plan: scancab.sha256 must be 64 lowercase hex digits');
    expect(bad((p) => { p.scancab.rules.forbid = 'KB1'; })).toBe('plan.json: malformed plan: scancab.rules.forbid must be a list of strings');
    expect(bad((p) => { p.scancab = []; })).toBe('plan.json: malformed plan: "scancab" must be an object');
  });
});

describe('msu plan --scancab (CLI)', () => {
  it('writes the plan with the update of each input; --rules without --scancab and a bad rules file exit 2', async () => {
    const prev = process.env.MSU_CACHE_DIR;
    process.env.MSU_CACHE_DIR = path.join(dir, 'cache');
    try {
      const r = await runCli('plan', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '--scancab', path.join(dir, 'scan/WSUSSCAN.cab'), '--rules', path.join(dir, 'rules.json'), '--json', '-o', path.join(dir, 'plan.json'), path.join(dir, 'u'));
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const p = JSON.parse(await readFile(path.join(dir, 'plan.json'), 'utf8')) as Plan;
      expect(p.skipped.map((s) => s.reason).sort()).toEqual(['forbidden', 'superseded']);
      expect(p.inputs.filter((i) => i.scan).length).toBe(4);
      // a second run reads the cached index (disk-backed source): the same plan bytes
      const again = await runCli('plan', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '--scancab', path.join(dir, 'scan/WSUSSCAN.cab'), '--rules', path.join(dir, 'rules.json'), '--json', '-o', path.join(dir, 'plan-again.json'), path.join(dir, 'u'));
      expect(again.code).toBe(0);
      expect(readdirSync(path.join(dir, 'cache', 'scancab')).some((f) => f.endsWith('.ndjson'))).toBe(true);
      expect(await readFile(path.join(dir, 'plan-again.json'), 'utf8')).toBe(await readFile(path.join(dir, 'plan.json'), 'utf8'));
      const u = await runCli('plan', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '--rules', path.join(dir, 'rules.json'), path.join(dir, 'u'));
      expect(u.code).toBe(2);
      expect(u.stderr).toContain('--rules needs --scancab');
      await writeFile(path.join(dir, 'bad-rules.json'), '{"forbid": ["not a kb"]}');
      const b = await runCli('plan', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '--scancab', path.join(dir, 'scan/WSUSSCAN.cab'), '--rules', path.join(dir, 'bad-rules.json'), path.join(dir, 'u'));
      expect(b.code).toBe(2);
      expect(b.stderr).toContain('bad-rules.json');
      expect(b.stderr).toContain('"not a kb" is neither a KB number nor an UpdateId');
      const m = await runCli('plan', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '--scancab', path.join(dir, 'nope.cab'), '-o', path.join(dir, 'plan2.json'), path.join(dir, 'u'));
      expect(m.code).not.toBe(0);
      expect(m.stderr).toContain('nope.cab');
      expect(m.stderr).not.toMatch(/\n\s+at /);
    } finally {
      if (prev === undefined) delete process.env.MSU_CACHE_DIR;
      else process.env.MSU_CACHE_DIR = prev;
    }
  });
});

describe.skipIf(!hasCorpus)('msu plan --scancab on the real KB2999226 MSU, its own WSUSSCAN.cab and the KB958830 one', () => {
  it('records the UpdateId of KB2999226 (found by KB; the payload is the MSU\'s inner cab)', async () => {
    const d = await tempDir('msu-plan-real-');
    try {
      const msuBytes = await readFile(corpusPath('msu', 'Windows6.1-KB2999226-x64.msu'));
      await writeFile(path.join(d, 'Windows6.1-KB2999226-x64.msu'), msuBytes);
      const c = await Cabinet.openFile(path.join(d, 'Windows6.1-KB2999226-x64.msu'));
      await writeFile(path.join(d, 'WSUSSCAN.cab'), await c.readFile(c.find('WSUSSCAN.cab')!));
      await c.close();
      const p = await buildPlan({
        inputs: ['Windows6.1-KB2999226-x64.msu'], target: { build: '6.1.7601.17514', arch: 'amd64' }, cwd: d,
        scan: { file: 'WSUSSCAN.cab', cacheDir: null, rules: parseScanRules({ defaultAllow: false, allow: ['KB2999226'] }) },
      });
      const i = p.inputs[0]!;
      expect(i.sha1).toBe('94e1d328d6ed02a890ce3a0af452367c7c8073cd');
      expect(i.scan).toEqual({ updateId: '38008afc-657d-488e-ac49-0e4e0a526ffc', revisionId: 2859, kb: '2999226', matchedBy: 'kb' });
      expect(p.skipped.filter((s) => s.reason === 'forbidden' || s.reason === 'superseded')).toEqual([]);
      expect(p.scancab!.packageId).toBe('288d644a-39e2-4119-a2bb-928665c21e05');
      // forbidding it by UpdateId drops it with the reason
      const q = await buildPlan({
        inputs: ['Windows6.1-KB2999226-x64.msu'], target: { build: '6.1.7601.17514', arch: 'amd64' }, cwd: d,
        scan: { file: 'WSUSSCAN.cab', cacheDir: null, rules: parseScanRules({ defaultAllow: true, forbid: ['38008afc-657d-488e-ac49-0e4e0a526ffc'] }) },
      });
      expect(q.skipped).toEqual([{ input: 'in1', reason: 'forbidden', detail: 'rules: KB2999226 38008afc-657d-488e-ac49-0e4e0a526ffc: forbid 38008afc-657d-488e-ac49-0e4e0a526ffc' }]);
      expect(q.images[0]!.steps).toEqual([]);
      // the other real cabinet (KB958830 only) does not know KB2999226: recorded as unmatched, and
      // with defaultAllow false the input is dropped for that reason
      const r = await buildPlan({
        inputs: ['Windows6.1-KB2999226-x64.msu'], target: { build: '6.1.7601.17514', arch: 'amd64' }, cwd: d,
        scan: { file: corpusPath('wsusscan', 'WSUSSCAN.cab'), cacheDir: null, rules: parseScanRules({ defaultAllow: false, allow: ['KB958830'] }) },
      });
      expect(r.inputs[0]!.scan).toBeUndefined();
      expect(r.scancab!.packageId).toBe('147e0297-e8ca-4075-ad9a-517c6a48a981');
      expect(r.skipped).toEqual([{ input: 'in1', reason: 'forbidden', detail: 'rules: not in the scan cabinet and not allowed (defaultAllow is false)' }]);
    } finally {
      await removeDir(d);
    }
  });
});
