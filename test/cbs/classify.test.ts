import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLASS_RULES, classifyPackage, isHotpatch, packageFacts, supersedes, type ClassRule } from '../../src/cbs/classify.js';
import { parsePackageId } from '../../src/cbs/identity.js';
import { parseMum } from '../../src/cbs/mum.js';
import { canExtractCab, extractCab, noteCabSkip } from './cab-corpus.js';
import { mumXml, ROLLUP_MUM, W } from './fixtures.js';

const comp = (name: string, v = '10.0.19041.1') =>
  `<update name="u-${name}"><component><assemblyIdentity name="${name}" version="${v}" processorArchitecture="amd64" language="neutral" ${W}/></component></update>`;
const child = (name: string, v = '10.0.19041.1') =>
  `<update name="p-${name}"><package integrate="hidden"><assemblyIdentity name="${name}" version="${v}" processorArchitecture="amd64" language="neutral" ${W}/></package></update>`;

describe('classifyPackage', () => {
  const cases: Array<[string, string, string, string]> = [
    ['RollupFix', mumXml('Package_for_RollupFix', '19041.1288.1.7', 'identifier="KB5006670" releaseType="Security Update"'), 'lcu', 'lcu-name'],
    ['RollupFix with Baseline marker', mumXml('Package_for_RollupFix', '26100.1742.1.10', 'identifier="KB5043080" releaseType="Security Update"',
      '<customInformation PackageFormat="PSFX" Baseline="true"/>'), 'checkpoint-lcu', 'lcu-checkpoint'],
    ['RollupFix with a checkpoint attribute value', mumXml('Package_for_RollupFix', '26100.1742.1.10', 'identifier="KB5043080" releaseType="Security Update" applicabilityEvaluation="Checkpoint"'), 'checkpoint-lcu', 'lcu-checkpoint'],
    ['ServicingStack', mumXml('Package_for_ServicingStack', '4163.1.1.0', 'identifier="KB5034232" releaseType="Update" permanence="permanent"'), 'ssu', 'ssu-name'],
    ['Win7-style permanent SSU', mumXml('Package_for_KB4490628', '6.1.1.0', 'identifier="KB4490628" releaseType="Update" permanence="permanent"', comp('Microsoft-Windows-ServicingStack', '6.1.7601.24384')), 'ssu', 'ssu-permanent'],
    ['permanent but not the stack', mumXml('Package_for_KB1', '6.1.1.0', 'releaseType="Update" permanence="permanent"', comp('Microsoft-Windows-Foo')), 'other', 'other'],
    ['DotNetRollup', mumXml('Package_for_DotNetRollup_481', '10.0.9200.1', 'releaseType="Update"'), 'dotnet', 'dotnet-name'],
    ['NetFx package', mumXml('Microsoft-Windows-NetFx4-US-OC-Package', '10.0.19041.1', 'releaseType="Update"'), 'dotnet', 'dotnet-netfx'],
    ['NetFx3 FoD is a FoD first', mumXml('Microsoft-Windows-NetFx3-OnDemand-Package', '10.0.19041.1', 'releaseType="OnDemand Pack"'), 'fod', 'fod-release'],
    ['SafeOSDU', mumXml('Package_for_SafeOSDU', '19041.1280.1.0', 'identifier="KB5005987" releaseType="Update"'), 'safeos-du', 'safeos-name'],
    ['SetupDU', mumXml('Package_for_SetupDU', '19041.1.1.0', 'releaseType="Update"'), 'setup-du', 'setupdu-name'],
    ['enablement package (child)', mumXml('Package_for_KB5015684', '19041.1799.1.0', 'identifier="KB5015684" releaseType="Update"', child('Microsoft-Windows-22H2Enablement-Package', '10.0.19041.1799')), 'enablement', 'enablement-name'],
    ['enablement package (itself)', mumXml('Microsoft-Windows-19H2Enablement-Package', '10.0.18362.449', 'releaseType="Update"'), 'enablement', 'enablement-name'],
    ['Edge', mumXml('Microsoft-Windows-EdgeChromium-Package', '10.0.19041.1', 'releaseType="Update"'), 'edge', 'edge-name'],
    ['WebView', mumXml('Microsoft-Windows-WebView2-Package', '10.0.19041.1', 'releaseType="Update"'), 'webview', 'webview-name'],
    ['language pack', mumXml('Microsoft-Windows-Client-LanguagePack-Package', '10.0.19041.1', 'releaseType="Language Pack"', '', 'de-DE'), 'language-pack', 'lp-release'],
    ['Feature Pack', mumXml('Microsoft-Windows-MediaFeaturePack-Package', '10.0.19041.1', 'releaseType="Feature Pack"'), 'fod', 'fod-release'],
    ['Experience pack is other', mumXml('Package_for_WindowsExperienceFeaturePack', '1000.19041.1.0', 'releaseType="Update"'), 'other', 'other'],
    ['hotpatch', mumXml('Package_for_HotpatchRollupFix', '26100.1.1.0', 'releaseType="Security Update"'), 'hotpatch', 'hotpatch-name'],
    ['plain security update', mumXml('Package_for_KB2883457', '6.1.1.0', 'identifier="KB2883457" releaseType="Security Update"'), 'other', 'other'],
  ];
  it.each(cases)('%s', (_w, xml, cls, rule) => {
    const c = classifyPackage(parseMum(xml, 'update.mum'));
    expect(c.class).toBe(cls);
    expect(c.rule).toBe(rule);
    expect(c.reason).toBe(CLASS_RULES.find((r) => r.id === rule)!.reason);
  });

  it('the hand-made RollupFix fixture is a plain LCU (no baseline marker)', () => {
    expect(classifyPackage(parseMum(ROLLUP_MUM, 'update.mum'))).toMatchObject({ class: 'lcu', rule: 'lcu-name' });
  });

  it('member-name hints: SSU-*.cab and hotpatch members', () => {
    const m = parseMum(mumXml('Package_for_KB1', '1.0.0.0', 'releaseType="Update"'), 'u.mum');
    expect(classifyPackage(m).class).toBe('other');
    expect(classifyPackage(m, { memberName: 'SSU-19041.4163-x64.cab' })).toMatchObject({ class: 'ssu', rule: 'ssu-member' });
    expect(isHotpatch(m)).toBe(false);
    expect(isHotpatch(m, { memberName: 'HotpatchCompDB_KB5050001.cab' })).toBe(true);
  });

  it('hotpatch wins over RollupFix so that it is refused, not installed as an LCU', () => {
    const m = parseMum(mumXml('Package_for_RollupFix', '26100.2.1.0', 'releaseType="Security Update"', '<customInformation PackageFormat="Hotpatch"/>'), 'u.mum');
    expect(classifyPackage(m).class).toBe('hotpatch');
    expect(isHotpatch(m)).toBe(true);
  });

  it('rules are data: a caller-supplied table is used in order', () => {
    const rules: ClassRule[] = [{ id: 'x', class: 'fod', test: (f) => f.name === 'Package_for_RollupFix', reason: 'custom' }];
    expect(classifyPackage(parseMum(ROLLUP_MUM, 'u.mum'), {}, rules)).toEqual({ class: 'fod', reason: 'custom', rule: 'x' });
    expect(classifyPackage(parseMum(mumXml('Other', '1.0'), 'u.mum'), {}, rules)).toEqual({ class: 'other', reason: 'no rule matched', rule: 'other' });
  });

  it('packageFacts gathers update identities and marker attributes', () => {
    const f = packageFacts(parseMum(ROLLUP_MUM, 'u.mum'), { memberName: 'Windows11.0-KB5129195-x64.cab' });
    expect(f.name).toBe('Package_for_RollupFix');
    expect(f.releaseType).toBe('Security Update');
    expect(f.updateNames).toEqual(['Package_1_for_KB5129195', 'Microsoft-Windows-DirectComposition-Deployment', 'Microsoft-Windows-DirectComposition', 'dual_netvg63a.inf', 'dual_netvg63a.inf']);
    expect(f.markerText).toContain('PSFXDeltaFormat');
    expect(f.markerText).toContain('ForwardOnly');
    expect(f.memberName).toBe('Windows11.0-KB5129195-x64.cab');
  });
});

describe('supersedes', () => {
  const id = (s: string) => parsePackageId(s);
  it('same name/pkt/arch/lang, higher version supersedes', () => {
    expect(supersedes(id('Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.1288.1.7'), id('Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.1202.1.7')))
      .toEqual({ supersedes: true, reason: 'same package Package_for_RollupFix, version 19041.1288.1.7 > 19041.1202.1.7' });
  });
  it('lower or equal version does not', () => {
    expect(supersedes(id('P~k~amd64~~1.0.0.0'), id('P~k~amd64~~1.0.0.1'))).toEqual({ supersedes: false, reason: 'same package P, version 1.0.0.0 < 1.0.0.1' });
    expect(supersedes(id('P~k~amd64~~1.0.0.1'), id('P~k~amd64~~1.0.0.1'))).toEqual({ supersedes: false, reason: 'same package P, same version 1.0.0.1' });
  });
  it('compares versions numerically, not as text', () => {
    expect(supersedes(id('P~k~amd64~~10.0.19041.1000'), id('P~k~amd64~~10.0.19041.999')).supersedes).toBe(true);
  });
  it('names are case-insensitive', () => {
    expect(supersedes(id('package_for_rollupfix~31bf3856ad364e35~amd64~~2.0'), id('Package_for_RollupFix~31bf3856ad364e35~amd64~~1.0')).supersedes).toBe(true);
  });
  it('a different architecture, language, token or name never supersedes, and says which', () => {
    expect(supersedes(id('P~k~x86~~2.0'), id('P~k~amd64~~1.0'))).toEqual({ supersedes: false, reason: 'different processorArchitecture (x86 vs amd64)' });
    expect(supersedes(id('P~k~amd64~de-DE~2.0'), id('P~k~amd64~~1.0'))).toEqual({ supersedes: false, reason: 'different language (de-DE vs neutral)' });
    expect(supersedes(id('P~k2~amd64~~2.0'), id('P~k~amd64~~1.0'))).toEqual({ supersedes: false, reason: 'different publicKeyToken (k2 vs k)' });
    expect(supersedes(id('Q~k~amd64~~2.0'), id('P~k~amd64~~1.0'))).toEqual({ supersedes: false, reason: 'different name (Q vs P)' });
    expect(supersedes(id('Q~k~x86~~2.0'), id('P~k~amd64~~1.0'))).toEqual({ supersedes: false, reason: 'different package (Q vs P)' });
  });
  it('accepts parsed .mum packages', () => {
    const a = parseMum(mumXml('Package_for_RollupFix', '19041.1288.1.7', 'releaseType="Security Update"'), 'a.mum');
    const b = parseMum(mumXml('Package_for_RollupFix', '19041.1202.1.7', 'releaseType="Security Update"'), 'b.mum');
    expect(supersedes(a, b).supersedes).toBe(true);
    expect(supersedes(b, a).supersedes).toBe(false);
  });
});

describe('real KB2883457 packages', () => {
  let ctx: { dir: string; cleanup: () => void } | undefined;
  beforeAll(() => {
    noteCabSkip('KB2883457 classification');
    if (canExtractCab) ctx = extractCab();
  });
  afterAll(() => ctx?.cleanup());

  it.skipIf(!canExtractCab)('a WinPE-SRT security update is "other"; the RTM package does not supersede update.mum', () => {
    const upd = parseMum(readFileSync(path.join(ctx!.dir, 'update.mum')), 'update.mum');
    const rtm = parseMum(readFileSync(path.join(ctx!.dir, 'package_for_kb2883457_rtm~31bf3856ad364e35~amd64~~6.1.1.0.mum')), 'rtm.mum');
    expect(classifyPackage(upd)).toEqual({ class: 'other', reason: 'no rule matched', rule: 'other' });
    expect(supersedes(rtm, upd)).toEqual({ supersedes: false, reason: 'different name (Package_for_KB2883457_RTM vs Package_for_KB2883457)' });
  });
});
