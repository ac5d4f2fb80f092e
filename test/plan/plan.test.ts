import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlan, type PlanRequest } from '../../src/plan/plan.js';
import type { Plan, PlanSkip } from '../../src/plan/plan-types.js';
import { MsuError } from '../../src/errors.js';
import { canonicalJson } from '../../src/util/json.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { sndInf } from '../drivers/fixtures.js';
import { wimCapture } from '../../src/wim/wimlib.js';
import { buildTestWim, IMAGE1, writeTree } from '../wim/fixture.js';
import { bareCab, expectGolden, msu, packageMum, removeDir, tempDir, writeFiles } from './fixtures.js';

const FOUNDATION_19041 = { name: 'Microsoft-Windows-Foundation-Package', version: '10.0.19041.1' };
const RUP = (v: string, arch = 'amd64'): string => `Package_for_RollupFix~31bf3856ad364e35~${arch}~~${v}`;
const SSU = (v: string, arch = 'amd64'): string => `Package_for_ServicingStack~31bf3856ad364e35~${arch}~~${v}`;

let dir: string;
const MIXED = [
  'updates/arm/lcu-arm64.msu', 'updates/dotnet.cab', 'updates/hotpatch.cab', 'updates/lcu-22621.msu',
  'updates/lcu-new.msu', 'updates/lcu-old.msu', 'updates/lp.cab', 'updates/notcbs.cab', 'updates/safeos.cab', 'updates/x-copy-of-new.msu',
];

beforeAll(async () => {
  dir = await tempDir();
  const lcuNew = msu({ kb: 5099999, ubr: 4170 });
  await writeFiles(dir, {
    'updates/lcu-new.msu': lcuNew,
    'updates/x-copy-of-new.msu': lcuNew,
    'updates/lcu-old.msu': msu({ kb: 5099000, ubr: 4000 }),
    'updates/arm/lcu-arm64.msu': msu({ kb: 5099999, ubr: 4170, arch: 'arm64' }),
    'updates/lcu-22621.msu': msu({ kb: 5099111, build: '10.0.22621', ubr: 2000 }),
    'updates/dotnet.cab': bareCab(packageMum({ name: 'Package_for_DotNetRollup_481', version: '10.0.19041.4100', kb: 'KB5099500', parent: FOUNDATION_19041 })),
    'updates/lp.cab': bareCab(packageMum({ name: 'Microsoft-Windows-Client-LanguagePack-Package', version: '10.0.19041.1', releaseType: 'Language Pack', parent: FOUNDATION_19041 })),
    'updates/hotpatch.cab': bareCab(packageMum({ name: 'Package_for_Hotpatch', version: '10.0.19041.4171', kb: 'KB5099998', parent: FOUNDATION_19041 })),
    'updates/safeos.cab': bareCab(packageMum({ name: 'Package_for_SafeOSDU', version: '10.0.19041.4165', kb: 'KB5099400', parent: FOUNDATION_19041 })),
    'updates/notcbs.cab': bareCab(null, { 'readme.txt': 'not a package' }),
    'drivers/vsnd/vsnd.inf': sndInf(),
    'drivers/vsnd/vsnd.sys': 'MZ driver',
    'drivers/vsnd/vsnd.cat': 'catalog',
    'cp/windows11.0-kb5043080-x64.msu': msu({ kb: 5043080, build: '10.0.26100', ubr: 1742 }),
    'cp/windows11.0-kb5048667-x64.msu': msu({ kb: 5048667, build: '10.0.26100', ubr: 2605 }),
  });
});
afterAll(async () => removeDir(dir));

const mixed = (inputs = MIXED, extra: Partial<PlanRequest> = {}): Promise<Plan> =>
  buildPlan({ inputs, drivers: ['drivers/vsnd'], target: { build: '10.0.19044.1288', arch: 'amd64' }, cwd: dir, ...extra });

const skipOf = (p: Plan, input: string, item?: string): PlanSkip[] => {
  const id = p.inputs.find((i) => i.path === input)!.id;
  return p.skipped.filter((s) => s.input === id && (item === undefined || s.item === item));
};

describe('buildPlan: build target', () => {
  it('orders SSU, language pack, LCU, cleanup, .NET, driver and says why', async () => {
    const p = await mixed();
    expect(p.target).toEqual({ kind: 'build', version: '10.0.19044.1288', arch: 'amd64', foundationVersion: '10.0.19041.1' });
    expect(p.inputs.map((i) => i.path)).toEqual(['drivers/vsnd', ...MIXED]);
    expect(p.inputs.map((i) => i.id)).toEqual(['in1', 'in2', 'in3', 'in4', 'in5', 'in6', 'in7', 'in8', 'in9', 'in10', 'in11']);
    const img = p.images[0]!;
    expect(img.image).toBe('install.wim#1');
    const id = (rel: string): string => p.inputs.find((i) => i.path === rel)!.id;
    expect(img.steps.map((s) => [s.n, s.action, s.inputs, s.items])).toEqual([
      [1, 'add-package', [id('updates/lcu-new.msu')], [SSU('10.0.19041.4160')]],
      [2, 'add-package', [id('updates/lp.cab')], ['Microsoft-Windows-Client-LanguagePack-Package~31bf3856ad364e35~amd64~~10.0.19041.1']],
      [3, 'add-package', [id('updates/lcu-new.msu')], [RUP('10.0.19041.4170')]],
      [4, 'cleanup-components', [], []],
      [5, 'add-package', [id('updates/dotnet.cab')], ['Package_for_DotNetRollup_481~31bf3856ad364e35~amd64~~10.0.19041.4100']],
      [6, 'add-driver', ['in1'], ['vsnd.inf']],
    ]);
    expect(img.steps[0]!.reason).toMatch(/^servicing stack update first/);
    expect(img.steps[3]!.reason).toContain('"Clean up the image"');
    expect(img.steps[4]!.reason).toContain('follows "Clean up the image"');
    // 19044 is an enablement build on 19041: the parent check runs against Foundation 10.0.19041.1.
    expect(img.steps[2]!.applicability).toEqual({
      result: 'applicable',
      detail: 'parent Microsoft-Windows-Foundation-Package 10.0.19041.1 against installed 10.0.19041.1: build 10.0.19041 EQ 10.0.19041 ok, service 1 GE 1 ok, revision 1 GE 1 ok',
    });
  });

  it('skips superseded, wrong-arch, not-applicable, duplicate and unsupported inputs with the reason', async () => {
    const p = await mixed();
    expect(skipOf(p, 'updates/lcu-old.msu').map((s) => [s.item, s.reason])).toEqual([
      [RUP('10.0.19041.4000'), 'superseded'], [SSU('10.0.19041.3990'), 'superseded'],
    ]);
    expect(skipOf(p, 'updates/lcu-old.msu', RUP('10.0.19041.4000'))[0]!.detail)
      .toBe(`superseded by ${RUP('10.0.19041.4170')} (in ${p.inputs.find((i) => i.path === 'updates/lcu-new.msu')!.id}): same package Package_for_RollupFix, version 10.0.19041.4170 > 10.0.19041.4000`);
    expect(skipOf(p, 'updates/arm/lcu-arm64.msu').map((s) => [s.reason, s.detail])).toEqual([
      ['wrong-arch', 'package architecture arm64, image architecture amd64'], ['wrong-arch', 'package architecture arm64, image architecture amd64'],
    ]);
    const na = skipOf(p, 'updates/lcu-22621.msu', RUP('10.0.22621.2000'));
    expect(na).toHaveLength(1);
    expect(na[0]!.reason).toBe('not-applicable');
    expect(na[0]!.detail).toContain('build 10.0.19041 EQ 10.0.22621 fails');
    expect(skipOf(p, 'updates/x-copy-of-new.msu').map((s) => [s.reason, s.item])).toEqual([['duplicate', undefined]]);
    expect(skipOf(p, 'updates/x-copy-of-new.msu')[0]!.detail).toBe(`same content (sha256) as ${p.inputs.find((i) => i.path === 'updates/lcu-new.msu')!.id} (updates/lcu-new.msu)`);
    expect(skipOf(p, 'updates/hotpatch.cab').map((s) => s.reason)).toEqual(['unsupported']);
    expect(skipOf(p, 'updates/notcbs.cab').map((s) => s.reason)).toEqual(['unsupported']);
    const safe = skipOf(p, 'updates/safeos.cab');
    expect(safe.map((s) => [s.reason, s.detail])).toEqual([['not-applicable', 'safeos-du packages go into winre.wim (--winre), which this plan does not target']]);
    expect(p.inputs.find((i) => i.path === 'updates/hotpatch.cab')!.packages[0]!.class).toBe('hotpatch');
  });

  it('matches the reviewed golden plan', async () => {
    await expectGolden('plan-build.json', canonicalJson(await mixed()));
  });

  it('gives byte-identical output across runs and input orders', async () => {
    const ref = canonicalJson(await mixed());
    const orders = [
      [...MIXED].reverse(),
      [...MIXED.slice(5), ...MIXED.slice(0, 5)],
      ['updates', 'updates/lcu-new.msu'],
      ['updates'],
    ];
    for (const o of orders) expect(canonicalJson(await mixed(o))).toBe(ref);
    expect(canonicalJson(await mixed())).toBe(ref);
  });

  it('reports hashing progress per input, ending at the file size', async () => {
    const events: Array<{ phase: string; file: string; done?: number; total?: number }> = [];
    await mixed(['updates/lcu-new.msu'], { drivers: [], onProgress: (e) => events.push(e) });
    const size = (await readFile(path.join(dir, 'updates/lcu-new.msu'))).length;
    expect(events.filter((e) => e.phase === 'hash').at(-1)).toEqual({ phase: 'hash', file: 'updates/lcu-new.msu', done: size, total: size });
    expect(events.map((e) => e.phase)).toContain('inspect');
  });

  it('refuses a target build that is not a version and an unknown arch', async () => {
    await expect(buildPlan({ inputs: ['updates/lcu-new.msu'], target: { build: '19044', arch: 'amd64' }, cwd: dir })).rejects.toThrow(/major\.minor\.build/);
    await expect(buildPlan({ inputs: ['updates/lcu-new.msu'], target: { build: '10.0.19044.1288', arch: 'mips' }, cwd: dir })).rejects.toThrow(/expected amd64, x86 or arm64/);
  });

  it('names the file when an input is truncated or missing', async () => {
    const full = await readFile(path.join(dir, 'updates/lcu-new.msu'));
    await writeFiles(dir, { 'bad/truncated.msu': full.subarray(0, 200) });
    const err = await buildPlan({ inputs: ['bad/truncated.msu'], target: { build: '10.0.19044.1288', arch: 'amd64' }, cwd: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).file).toBe('bad/truncated.msu');
    const missing = await buildPlan({ inputs: ['nope.msu'], target: { build: '10.0.19044.1288', arch: 'amd64' }, cwd: dir }).catch((e: unknown) => e);
    expect((missing as MsuError).kind).toBe('io');
    expect((missing as MsuError).describe()).toBe('nope.msu: cannot read: no such file or directory');
  });
});

describe('buildPlan: checkpoint cumulative updates (24H2)', () => {
  const cp = 'cp/windows11.0-kb5043080-x64.msu', lcu = 'cp/windows11.0-kb5048667-x64.msu';
  const plan = (inputs: string[], build: string): Promise<Plan> => buildPlan({ inputs, target: { build, arch: 'amd64' }, cwd: dir });

  it('installs the checkpoint and the LCU in one step when the image is before the checkpoint', async () => {
    const p = await plan([lcu, cp], '10.0.26100.1000');
    expect(p.inputs.map((i) => [i.id, i.path, i.packages.map((x) => x.class)])).toEqual([
      ['in1', cp, ['checkpoint-lcu', 'ssu']], ['in2', lcu, ['lcu', 'ssu']],
    ]);
    const steps = p.images[0]!.steps;
    expect(steps.map((s) => [s.action, s.inputs, s.items])).toEqual([
      ['add-package', ['in2'], [SSU('10.0.26100.2595')]],
      ['add-package', ['in1', 'in2'], [RUP('10.0.26100.1742'), RUP('10.0.26100.2605')]],
      ['cleanup-components', [], []],
    ]);
    expect(steps[1]!.reason).toMatch(/^checkpoint cumulative update KB5043080 and the LCU that needs it, in one add-package step/);
    expect(steps[1]!.applicability!.detail).toMatch(/^checkpoint chain complete: KB5043080 \(UBR 1742\) then UBR 2605/);
    expect(p.skipped.map((s) => [s.input, s.item, s.reason])).toEqual([['in1', SSU('10.0.26100.1732'), 'superseded']]);
    await expectGolden('plan-checkpoint.json', canonicalJson(p));
  });

  it('skips the LCU as missing-checkpoint when the checkpoint is not among the inputs', async () => {
    const p = await plan([lcu], '10.0.26100.1000');
    expect(p.images[0]!.steps.map((s) => s.items)).toEqual([[SSU('10.0.26100.2595')], []]);
    expect(p.skipped).toEqual([{
      input: 'in1', item: RUP('10.0.26100.2605'), reason: 'missing-checkpoint', images: ['install.wim#1'],
      detail: 'this Windows 11 24H2 / Windows Server 2025 cumulative update (UBR 2605) needs checkpoint KB5043080 (UBR 1742) first; build 10.0.26100.1000 is at UBR 1000 and no input holds KB5043080',
    }]);
  });

  it('does not need the checkpoint when the image is already past it', async () => {
    const p = await plan([lcu, cp], '10.0.26100.2000');
    expect(p.images[0]!.steps.map((s) => s.items)).toEqual([[SSU('10.0.26100.2595')], [RUP('10.0.26100.2605')], []]);
    const cpSkip = p.skipped.find((s) => s.item === RUP('10.0.26100.1742'))!;
    expect(cpSkip.reason).toBe('not-applicable');
    expect(cpSkip.detail).toBe('build 10.0.26100.2000 is at 10.0.26100.2000 (UBR 2000); this cumulative update brings UBR 1742');
  });
});

describe('buildPlan: parents that name another Windows', () => {
  const W7 = { name: 'Microsoft-Windows-Client-Features-Package', version: '6.1.7601.17514' };
  beforeAll(async () => {
    await writeFiles(dir, {
      'other/win7.cab': bareCab(packageMum({ name: 'Package_for_KB2999226', version: '6.1.1.6', kb: 'KB2999226', parent: W7 })),
      'other/eq19041.cab': bareCab(packageMum({ name: 'Package_for_KB5099001', version: '10.0.19041.100', kb: 'KB5099001', parent: { name: 'Microsoft-Windows-Client-Features-Package', version: '10.0.19041.1' } })),
      'other/notos.cab': bareCab(packageMum({ name: 'Package_for_KB5099002', version: '1.0.0.0', kb: 'KB5099002', parent: { name: 'Some-Addon-Package', version: '6.1.1.6' } })),
    });
  });
  const plan = (inputs: string[], build: string): Promise<Plan> => buildPlan({ inputs, target: { build, arch: 'amd64' }, cwd: dir });

  it('skips a Windows 7 package for a Windows 10 target instead of planning it as unknown', async () => {
    const p = await plan(['other/win7.cab'], '10.0.19045.1');
    expect(p.images[0]!.steps).toEqual([]);
    expect(p.skipped).toEqual([{
      input: 'in1', item: 'Package_for_KB2999226~31bf3856ad364e35~amd64~~6.1.1.6', reason: 'not-applicable', images: ['install.wim#1'],
      detail: 'parent Microsoft-Windows-Client-Features-Package 6.1.7601.17514 is Windows 6.1, the target is 10.0.19045 (build 10.0.19045.1): a package for another Windows version can never apply',
    }]);
  });

  it('skips a parent with buildCompare EQ naming another build; the enablement base build still counts as the same', async () => {
    const p = await plan(['other/eq19041.cab'], '10.0.22621.1000');
    expect(p.skipped.map((s) => s.detail)).toEqual(['parent Microsoft-Windows-Client-Features-Package 10.0.19041.1 needs build EQ 19041, the target is build 22621 (build 10.0.22621.1000)']);
    // 19045 is an enablement package on 19041: EQ 19041 is not decided against it (unknown, planned)
    const q = await plan(['other/eq19041.cab'], '10.0.19045.1000');
    expect(q.skipped).toEqual([]);
    expect(q.images[0]!.steps[0]!.applicability!.result).toBe('unknown');
  });

  it('keeps "unknown" for a parent whose version is not a Windows version', async () => {
    const p = await plan(['other/notos.cab'], '10.0.19045.1');
    expect(p.skipped).toEqual([]);
    expect(p.images[0]!.steps[0]!.applicability).toEqual({ result: 'unknown', detail: 'parent Some-Addon-Package 6.1.1.6: not known for build 10.0.19045.1' });
  });

  it.skipIf(!hasCorpus)('the real Windows6.1-KB2999226-x64.msu is skipped for --target-build 10.0.19045.1 (CLI), and the summary counts unknown steps', async () => {
    const src = corpusPath('msu', 'Windows6.1-KB2999226-x64.msu');
    await mkdir(path.join(dir, 'real'), { recursive: true });
    await copyFile(src, path.join(dir, 'real', 'Windows6.1-KB2999226-x64.msu'));
    const out = path.join(dir, 'real', 'plan.json');
    const r = await runCli('plan', path.join(dir, 'real', 'Windows6.1-KB2999226-x64.msu'), '--target-build', '10.0.19045.1', '--arch', 'amd64', '-o', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('steps: 0, applicability unknown: 0\n');
    const p = JSON.parse(await readFile(out, 'utf8')) as Plan;
    expect(p.images[0]!.steps).toEqual([]);
    expect(p.skipped.map((s) => [s.item, s.reason, s.detail])).toEqual([[
      'Package_for_KB2999226~31bf3856ad364e35~amd64~~6.1.1.6', 'not-applicable',
      'parent Microsoft-Windows-Client-Features-Package 6.1.7601.17514 is Windows 6.1, the target is 10.0.19045 (build 10.0.19045.1): a package for another Windows version can never apply',
    ]]);
  });
});

describe('buildPlan: target from a WIM', () => {
  const wimlib = hasTool('wimlib-imagex');
  if (!wimlib) skipNote('plan against a captured WIM', 'wimlib-imagex');
  it.skipIf(!wimlib)('reads the installed packages and decides per image', async () => {
    await buildTestWim(dir);
    const p = await buildPlan({ inputs: ['updates/lcu-new.msu', 'updates/lcu-old.msu'], target: { wim: 'install.wim' }, cwd: dir });
    expect(p.target.kind).toBe('wim');
    if (p.target.kind !== 'wim') return;
    expect(p.target.file).toBe('install.wim');
    expect(p.target.indexes).toEqual([1, 2]);
    expect(p.target.images.map((i) => [i.index, i.arch, i.version, i.foundationVersion])).toEqual([
      [1, 'amd64', '10.0.19044.1288', '10.0.19041.1'], [2, 'arm64', '10.0.22621.2715', '10.0.22621.1'],
    ]);
    expect(p.target.images[0]!.installedPackages).toContain('Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.1288.1.7');
    expect(p.images.map((i) => [i.image, i.steps.map((s) => s.items[0] ?? s.action)])).toEqual([
      ['install.wim#1', [SSU('10.0.19041.4160'), RUP('10.0.19041.4170'), 'cleanup-components']],
      ['install.wim#2', []],
    ]);
    // Image 2 is arm64: every amd64 package is wrong-arch there; the older LCU is superseded in image 1.
    expect(p.skipped.filter((s) => s.reason === 'wrong-arch').every((s) => JSON.stringify(s.images) === '["install.wim#2"]')).toBe(true);
    expect(p.skipped.filter((s) => s.reason === 'wrong-arch')).toHaveLength(4);
    expect(p.skipped.filter((s) => s.reason === 'superseded').map((s) => [s.item, s.images])).toEqual([
      [RUP('10.0.19041.4000'), ['install.wim#1']], [SSU('10.0.19041.3990'), ['install.wim#1']],
    ]);
    const one = await buildPlan({ inputs: ['updates/lcu-new.msu'], target: { wim: 'install.wim', indexes: [2] }, cwd: dir });
    expect(one.images.map((i) => i.image)).toEqual(['install.wim#2']);
    expect(one.target.kind === 'wim' && one.target.indexes).toEqual([2]);
    await expect(buildPlan({ inputs: ['updates/lcu-new.msu'], target: { wim: 'install.wim', indexes: [3] }, cwd: dir })).rejects.toThrow(/image 3 does not exist/);
  }, 60_000);

  it.skipIf(!wimlib)('refuses a WIM that is not a Windows image (architecture and version unknown) instead of planning amd64 into it', async () => {
    const tree = path.join(dir, 'plain-tree');
    await writeFiles(tree, { 'readme.txt': 'just files' });
    await wimCapture(tree, path.join(dir, 'plain.wim'), 'Some files');
    const err = await buildPlan({ inputs: ['updates/lcu-new.msu'], target: { wim: 'plain.wim' }, cwd: dir }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).kind).toBe('input');
    expect((err as MsuError).describe()).toBe('plain.wim: image 1 is not a Windows image (its architecture is unknown): give the target with --target-build and --arch instead');
  }, 60_000);

  it.skipIf(!wimlib)('plans boot.wim index 2 and winre.wim in the Dynamic Update order', async () => {
    const tree = path.join(dir, 'pe-tree');
    await writeTree(tree, { packages: IMAGE1.packages.slice(0, 3) });
    await mkdir(path.join(dir, 'media'), { recursive: true });
    const props = { 'WINDOWS/ARCH': '9', 'WINDOWS/VERSION/MAJOR': '10', 'WINDOWS/VERSION/MINOR': '0', 'WINDOWS/VERSION/BUILD': '19041' };
    await wimCapture(tree, path.join(dir, 'media/install.wim'), 'Windows 10 Pro', { properties: props });
    await wimCapture(tree, path.join(dir, 'media/boot.wim'), 'Microsoft Windows PE', { properties: props });
    await wimCapture(tree, path.join(dir, 'media/boot.wim'), 'Microsoft Windows Setup', { append: true, properties: props });
    await wimCapture(tree, path.join(dir, 'media/winre.wim'), 'Microsoft Windows Recovery Environment', { properties: props });
    const p = await buildPlan({
      inputs: ['updates/lcu-new.msu', 'updates/safeos.cab', 'updates/dotnet.cab'],
      target: { wim: 'media/install.wim', bootWim: 'media/boot.wim', winre: 'media/winre.wim' }, cwd: dir,
    });
    const kind = (items: string[]): string => items[0]?.split('~')[0] ?? '-';
    expect(p.images.map((i) => [i.image, i.steps.map((s) => `${s.action}:${kind(s.items)}`)])).toEqual([
      ['install.wim#1', ['add-package:Package_for_ServicingStack', 'add-package:Package_for_RollupFix', 'cleanup-components:-', 'add-package:Package_for_DotNetRollup_481']],
      ['boot.wim#2', ['add-package:Package_for_ServicingStack', 'add-package:Package_for_RollupFix', 'cleanup-components:-']],
      ['winre.wim', ['add-package:Package_for_ServicingStack', 'add-package:Package_for_SafeOSDU', 'cleanup-components:-']],
    ]);
    expect(p.target.kind === 'wim' && [p.target.file, p.target.bootWim?.file, p.target.bootWim?.images[0]?.index, p.target.winre?.file])
      .toEqual(['media/install.wim', 'media/boot.wim', 2, 'media/winre.wim']);
    expect(p.skipped).toEqual([]);
  }, 60_000);
});

describe('msu plan (CLI)', () => {
  it('writes the plan atomically with -o and prints a summary', async () => {
    const out = path.join(dir, 'plan.json');
    const r = await runCli('plan', path.join(dir, 'updates/lcu-new.msu'), '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('install.wim#1: 3 step(s)');
    expect(r.stdout).toContain(`  2. add-package ${RUP('10.0.19041.4170')}`);
    const p = JSON.parse(await readFile(out, 'utf8')) as Plan;
    expect(p.schema).toBe('msu-toolkit/plan@1');
    expect(p.images[0]!.steps).toHaveLength(3);
    // run again: an earlier plan is replaced without asking
    expect((await runCli('plan', path.join(dir, 'updates/lcu-new.msu'), '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', out)).code).toBe(0);
  });

  it('-o never replaces what is not a plan (an input named by mistake, a symlink) without --overwrite', async () => {
    const input = path.join(dir, 'updates/lcu-new.msu');
    const before = await readFile(input);
    const r = await runCli('plan', input, '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', input);
    expect([r.code, r.stdout, r.stderr]).toEqual([6, '', `msu: ${input}: already exists; nothing was written (it is not a plan; pass --overwrite to replace it)\n`]);
    expect(Buffer.compare(await readFile(input), before)).toBe(0);
    const link = path.join(dir, 'link.json');
    await symlink(path.join(dir, 'plan.json'), link);
    expect((await runCli('plan', input, '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', link)).code).toBe(6);
    const note = path.join(dir, 'notes.json');
    await writeFile(note, '{"mine": true}');
    expect((await runCli('plan', input, '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', note)).code).toBe(6);
    expect(await readFile(note, 'utf8')).toBe('{"mine": true}');
    expect((await runCli('plan', input, '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', note, '--overwrite')).code).toBe(0);
    expect(JSON.parse(await readFile(note, 'utf8')).schema).toBe('msu-toolkit/plan@1');
  });

  /** Run the CLI with the current directory at `cwd` (plans printed to stdout are relative to it). */
  const inDir = async <T>(cwd: string, f: () => Promise<T>): Promise<T> => {
    const before = process.cwd();
    process.chdir(cwd);
    try {
      return await f();
    } finally {
      process.chdir(before);
    }
  };

  it('prints canonical JSON with --json', async () => {
    const r = await inDir(dir, () => runCli('plan', 'updates/lcu-new.msu', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '--json'));
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as Plan;
    expect(r.stdout).toBe(canonicalJson(p));
    expect(p.images[0]!.steps.map((s) => s.action)).toEqual(['add-package', 'add-package', 'cleanup-components']);
  });

  it('without -o or --json, stdout is the plan alone (valid JSON) and the summary goes to stderr, with the count of unknown steps', async () => {
    const r = await inDir(dir, () => runCli('plan', 'updates/lcu-new.msu', '--target-build', '10.0.19044.1288', '--arch', 'amd64'));
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as Plan;
    expect(r.stdout).toBe(canonicalJson(p));
    expect(r.stderr).toContain('install.wim#1: 3 step(s)');
    const unknown = p.images.flatMap((i) => i.steps).filter((s) => s.applicability?.result === 'unknown').length;
    expect(r.stderr).toContain(`steps: 3, applicability unknown: ${unknown}\n`);
  });

  it('plan paths are relative to the plan file; an input outside its directory is refused (msu run could not use it)', async () => {
    const out = path.join(dir, 'plans', 'p.json');
    await mkdir(path.dirname(out), { recursive: true });
    const r = await inDir(dir, () => runCli('plan', 'updates/lcu-new.msu', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', out));
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`msu: updates/lcu-new.msu: input is outside plans, the directory of the plan (plan paths are relative to it, and msu run refuses anything outside); write the plan into a directory that holds every input\n`);
    // written above the inputs, the plan names them relative to itself, whatever the current directory
    const r2 = await inDir(path.join(dir, 'plans'), () => runCli('plan', '../updates/lcu-new.msu', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', path.join(dir, 'up.json')));
    expect(r2.code).toBe(0);
    const p = JSON.parse(await readFile(path.join(dir, 'up.json'), 'utf8')) as Plan;
    expect(p.inputs.map((i) => i.path)).toEqual(['updates/lcu-new.msu']);
    // printed to stdout, the plan is relative to the current directory: an input outside it is refused too
    const r3 = await inDir(path.join(dir, 'plans'), () => runCli('plan', '../updates/lcu-new.msu', '--target-build', '10.0.19044.1288', '--arch', 'amd64', '--json'));
    expect([r3.code, r3.stdout]).toEqual([2, '']);
    expect(r3.stderr).toContain('input is outside the current directory');
  });

  it('exits 2 on usage errors', async () => {
    const r1 = await runCli('plan', path.join(dir, 'updates/lcu-new.msu'));
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('--wim install.wim or --target-build');
    const r2 = await runCli('plan', path.join(dir, 'updates/lcu-new.msu'), '--target-build', '10.0.19044.1288');
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('--target-build needs --arch');
  });
});
