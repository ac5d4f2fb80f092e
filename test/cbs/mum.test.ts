import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { XmlError } from '../../src/util/xml.js';
import { mumUpdateIdentities, parseMum } from '../../src/cbs/mum.js';
import { canExtractCab, extractCab, noteCabSkip } from './cab-corpus.js';
import { ROLLUP_MUM } from './fixtures.js';

const W = 'publicKeyToken="31bf3856ad364e35"';

describe('parseMum: hand-made RollupFix', () => {
  const m = parseMum(ROLLUP_MUM, 'update.mum');
  const p = m.package!;

  it('identity, package id and assembly attributes', () => {
    expect(m.packageId).toBe('Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.9457.1.12');
    expect(m.assembly).toMatchObject({
      manifestVersion: '1.0', displayName: 'default', company: 'Microsoft Corporation', copyright: 'Microsoft Corporation',
      supportInformation: 'http://support.microsoft.com/?kbid=5129195', creationTimeStamp: '2026-05-01T10:00:00Z', lastUpdateTimeStamp: '2026-05-01T10:00:00Z',
    });
    expect(m.assembly.attrs.description).toBe('Fix for KB5129195');
  });

  it('package attributes, unknown ones kept in extra', () => {
    expect(p).toMatchObject({ identifier: 'KB5129195', releaseType: 'Security Update', restart: 'possible', targetPartition: 'MainOS', binaryPartition: 'false', selfUpdate: 'false', contained: 'false' });
    expect(p.permanence).toBeUndefined();
    expect(p.extra).toEqual({ futureAttr: '42' });
    expect(p.packageExtended).toEqual({ packageSize: '123456789', completelyOfflineCapable: 'yes', allowedOffline: 'true' });
    expect(p.selectable).toEqual({ disposition: 'detectNone', attrs: { disposition: 'detectNone' }, identities: [] });
  });

  it('customInformation (mum2: prefix dropped), all attributes kept', () => {
    expect(p.customInformation).toEqual({
      Version: '10.0.26100.9457', PackageFormat: 'PSFX', PSFXVersion: '2', PSFXDeltaFormat: 'ForwardOnly',
      attrs: { Version: '10.0.26100.9457', PackageFormat: 'PSFX', PSFXVersion: '2', PSFXDeltaFormat: 'ForwardOnly', LCUVer: '10.0.26100.9457' },
    });
  });

  it('parents with their compare attributes', () => {
    expect(p.parents).toHaveLength(2);
    expect(p.parents[0]).toMatchObject({ buildCompare: 'EQ', serviceCompare: 'GE', revisionCompare: 'GE', distributionCompare: 'GE', integrate: 'separate', disposition: 'detect' });
    expect(p.parents[0]!.identity).toMatchObject({ name: 'Microsoft-Windows-Foundation-Package', version: '10.0.26100.1' });
    expect(p.parents[1]).toMatchObject({ set: 'languageResources', buildCompare: 'EQ' });
    expect(p.parents[1]!.serviceCompare).toBeUndefined();
    expect(p.parents[1]!.identity.language).toBe('*');
  });

  it('installerAssembly read from its own attributes', () => {
    expect(p.installerAssembly).toMatchObject({ name: 'Microsoft-Windows-ServicingStack', version: '6.0.0.0', versionScope: 'nonSxS' });
  });

  it('updates: package / component / driver / other', () => {
    expect(p.updates.map((u) => [u.name, u.kind, u.identity?.name])).toEqual([
      ['5129195-1_neutral_PACKAGE', 'package', 'Package_1_for_KB5129195'],
      ['5129195-2_neutral_LDR', 'component', 'Microsoft-Windows-DirectComposition-Deployment'],
      ['5129195-3_neutral_DRIVER', 'driver', 'dual_netvg63a.inf'],
      ['5129195-4_other', 'other', undefined],
    ]);
    expect(p.updates[0]).toMatchObject({ integrate: 'hidden', targetAttrs: { integrate: 'hidden', contained: 'false' } });
    expect(p.updates[2]).toMatchObject({ inf: 'netvg63a.inf', ranking: '2' });
    expect(p.updates[1]!.applicable).toEqual({
      disposition: 'staged', attrs: { disposition: 'staged' },
      identities: [{ element: 'updateComponent', elementAttrs: { elevate: 'distribution' }, identity: expect.objectContaining({ name: 'Microsoft-Windows-DirectComposition', version: '10.0.26100.8972' }) }],
    });
    expect(p.updates[2]!.detectUpdate!.identities[0]).toMatchObject({ element: 'detectUpdate', identity: { version: '10.0.26100.1' } });
    expect(p.updates[3]!.selectable!.disposition).toBe('detectNone');
    expect(mumUpdateIdentities(m).map((i) => i.version)).toEqual(['26100.9457.1.12', '10.0.26100.9457', '10.0.26100.9457']);
  });

  it('is the same model from UTF-16LE bytes with a BOM', () => {
    const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(ROLLUP_MUM.replace(/^\uFEFF/, ''), 'utf16le')]);
    expect(parseMum(bytes, 'update.mum')).toEqual(m);
  });

  it('a .mum without <package> has no package', () => {
    const x = parseMum(`<assembly><assemblyIdentity name="Microsoft-Windows-Foundation-Package" version="10.0.26100.1" language="neutral" processorArchitecture="amd64" ${W}/></assembly>`, 'f.mum');
    expect(x.package).toBeUndefined();
    expect(x.packageId).toBe('Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.26100.1');
  });
});

describe('parseMum: bad input names the file', () => {
  const cases: Array<[string, string, new (...a: never[]) => Error, string, string?]> = [
    ['malformed XML', '<assembly><assemblyIdentity name="x"></assembly>', XmlError, 'E_XML'],
    ['truncated', ROLLUP_MUM.slice(0, 900), XmlError, 'E_XML'],
    ['billion laughs', '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><assembly>&b;</assembly>', XmlError, 'E_XML'],
    ['external entity', '<!DOCTYPE assembly [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><assembly>&xxe;</assembly>', XmlError, 'E_XML'],
    ['missing assemblyIdentity', '<assembly><package identifier="KB1"/></assembly>', FormatError, 'E_CBS_NO_IDENTITY', 'assembly/assemblyIdentity'],
    ['garbage version', `<assembly><assemblyIdentity name="P" version="10.0.banana.1" ${W}/></assembly>`, FormatError, 'E_CBS_VERSION', 'assembly/assemblyIdentity'],
    ['parent without identity', `<assembly><assemblyIdentity name="P" version="1.0.0.0"/><package><parent buildCompare="EQ"/></package></assembly>`, FormatError, 'E_CBS_NO_IDENTITY', 'assembly/package/parent[0]/assemblyIdentity'],
    ['parent with garbage version', `<assembly><assemblyIdentity name="P" version="1.0.0.0"/><package><parent><assemblyIdentity name="F" version="1..0"/></parent></package></assembly>`, FormatError, 'E_CBS_VERSION', 'assembly/package/parent[0]/assemblyIdentity'],
    ['update without name', `<assembly><assemblyIdentity name="P" version="1.0.0.0"/><package><update><component><assemblyIdentity name="C" version="1.0.0.0"/></component></update></package></assembly>`, FormatError, 'E_CBS_MUM', 'assembly/package/update[0]'],
    ['component without identity', `<assembly><assemblyIdentity name="P" version="1.0.0.0"/><package><update name="u"><component/></update></package></assembly>`, FormatError, 'E_CBS_NO_IDENTITY', 'assembly/package/update[0]/component/assemblyIdentity'],
    ['two packages', `<assembly><assemblyIdentity name="P" version="1.0.0.0"/><package/><package/></assembly>`, FormatError, 'E_CBS_MUM'],
    ['nesting bomb', '<assembly><assemblyIdentity name="P" version="1.0"/><package><applicable>' + '<a>'.repeat(5000) + '</a>'.repeat(5000) + '</applicable></package></assembly>', XmlError, 'E_XML'],
    ['identity without name', `<assembly><assemblyIdentity version="1.0.0.0"/></assembly>`, FormatError, 'E_CBS_IDENTITY'],
  ];
  it.each(cases)('%s', (_what, xml, cls, code, where) => {
    let err: unknown;
    try {
      parseMum(xml, 'bad.mum');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject({ code, file: 'bad.mum' });
    if (where) expect((err as FormatError).where).toBe(where);
    expect((err as FormatError).describe()).toMatch(/^bad\.mum: /);
  });
});

describe('real .mum files from the KB2883457 CAB', () => {
  let ctx: { dir: string; cleanup: () => void } | undefined;
  beforeAll(() => {
    noteCabSkip('KB2883457 .mum files');
    if (canExtractCab) ctx = extractCab();
  });
  afterAll(() => ctx?.cleanup());
  const read = (f: string) => parseMum(readFileSync(path.join(ctx!.dir, f)), f);

  it.skipIf(!canExtractCab)('update.mum (UTF-8 with BOM): KB2883457, parent WinPE-SRT-Package EQ/EQ, one hidden child package', () => {
    const m = read('update.mum');
    expect(m.packageId).toBe('Package_for_KB2883457~31bf3856ad364e35~amd64~~6.1.1.0');
    expect(m.assembly).toMatchObject({ description: 'Fix for KB2883457', creationTimeStamp: '2013-08-27T23:54:55Z', supportInformation: 'http://support.microsoft.com/?kbid=2883457' });
    const p = m.package!;
    expect(p).toMatchObject({ identifier: 'KB2883457', applicabilityEvaluation: 'deep', releaseType: 'Security Update', restart: 'possible', extra: {} });
    expect(p.parents).toHaveLength(1);
    expect(p.parents[0]).toMatchObject({ buildCompare: 'EQ', serviceCompare: 'EQ', integrate: 'separate', disposition: 'detect' });
    expect(p.parents[0]!.revisionCompare).toBeUndefined();
    expect(p.parents[0]!.identity).toMatchObject({ name: 'WinPE-SRT-Package', version: '6.1.7601.17514', processorArchitecture: 'amd64' });
    expect(p.installerAssembly).toMatchObject({ name: 'Microsoft-Windows-ServicingStack', version: '6.0.0.0', versionScope: 'nonSxS' });
    expect(p.updates).toEqual([
      expect.objectContaining({ name: '2883457-4_neutral_PACKAGE', kind: 'package', integrate: 'hidden', identity: expect.objectContaining({ name: 'Package_for_KB2883457_RTM', version: '6.1.1.0' }) }),
    ]);
    expect(p.customInformation).toBeUndefined();
  });

  it.skipIf(!canExtractCab)('Package_1_for_KB2883457: LDR and GDR component updates staged by revision', () => {
    const m = read('package_1_for_kb2883457~31bf3856ad364e35~amd64~~6.1.1.0.mum');
    expect(m.identity.name).toBe('Package_1_for_KB2883457');
    // The file name is the lowercased package id.
    expect(m.packageId.toLowerCase() + '.mum').toBe('package_1_for_kb2883457~31bf3856ad364e35~amd64~~6.1.1.0.mum');
    const u = m.package!.updates;
    expect(u.map((x) => [x.name, x.kind, x.identity!.name, x.identity!.version])).toEqual([
      ['2883457-1_neutral_LDR', 'component', '060ce3e341296b0a145e540da35aca92', '6.1.7601.22435'],
      ['2883457-2_neutral_GDR', 'component', 'd4aeae0fc7962257f8bb56b05147cd6a', '6.1.7601.18246'],
    ]);
    expect(u[0]!.applicable).toMatchObject({ disposition: 'staged', identities: [{ element: 'updateComponent', elementAttrs: { elevate: 'revision' }, identity: { name: 'Microsoft-Windows-WinRE-Tools', version: '6.1.7601.22435' } }] });
    expect(u[1]!.applicable!.identities[0]!.identity.version).toBe('6.1.7601.18246');
  });

  it.skipIf(!canExtractCab)('the _BF variants elevate by distribution and name KB2883457_BF', () => {
    const m = read('package_1_for_kb2883457_bf~31bf3856ad364e35~amd64~~6.1.1.0.mum');
    expect(m.package!.identifier).toBe('KB2883457_BF');
    expect(m.package!.updates[0]!.applicable!.identities[0]!.elementAttrs).toEqual({ elevate: 'distribution' });
    expect(read('update-bf.mum').package!.updates[0]!.identity!.name).toBe('Package_for_KB2883457_RTM_BF');
  });

  it.skipIf(!canExtractCab)('every .mum in the CAB parses, and each file name is its package id', () => {
    const mums = readdirSync(ctx!.dir).filter((f) => f.endsWith('.mum')).sort();
    expect(mums).toHaveLength(6);
    for (const f of mums) {
      const m = read(f);
      expect(m.package!.parents[0]!.identity.name).toBe('WinPE-SRT-Package');
      if (f.includes('~')) expect(m.packageId.toLowerCase() + '.mum').toBe(f);
    }
  });
});
