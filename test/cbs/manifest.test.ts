import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FormatError, UnsupportedError } from '../../src/errors.js';
import { XmlError } from '../../src/util/xml.js';
import { parseComponentManifest } from '../../src/cbs/manifest.js';
import { detectCompressedManifest } from '../../src/cbs/winsxs-compressed.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { canExtractCab, extractCab, noteCabSkip } from './cab-corpus.js';

const SHA256_B64 = Buffer.alloc(32, 0xab).toString('base64');
const SHA1_B64 = Buffer.from('00112233445566778899aabbccddeeff00112233', 'hex').toString('base64');

const hashXml = (alg: string, b64: string): string => `
    <asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2" xmlns:dsig="http://www.w3.org/2000/09/xmldsig#">
      <dsig:Transforms><dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity"/></dsig:Transforms>
      <dsig:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#${alg}"/>
      <dsig:DigestValue>${b64}</dsig:DigestValue>
    </asmv2:hash>`;

function manifest(body: string, identity = '<assemblyIdentity name="Microsoft-Windows-DirectComposition" version="10.0.26100.8972" processorArchitecture="amd64" language="neutral" buildType="release" publicKeyToken="31bf3856ad364e35" versionScope="nonSxS"/>'): string {
  return `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0" copyright="Copyright (c) Microsoft Corporation.">
  ${identity}
  ${body}
</assembly>`;
}

const FULL = manifest(`
  <deployment xmlns="urn:schemas-microsoft-com:asm.v3"/>
  <dependency discoverable="no" resourceType="Resources">
    <dependentAssembly dependencyType="prerequisite">
      <assemblyIdentity name="Microsoft-Windows-DirectComposition.Resources" version="10.0.26100.8972" processorArchitecture="amd64" language="*" buildType="release" publicKeyToken="31bf3856ad364e35"/>
    </dependentAssembly>
  </dependency>
  <file name="dcomp.dll" destinationPath="$(runtime.system32)\\" sourceName="dcomp.dll" sourcePath=".\\" importPath="$(build.nttree)\\">
    <securityDescriptor name="WRP_FILE_DEFAULT_SDDL"/>${hashXml('sha256', SHA256_B64)}
  </file>
  <file name="old.dll" destinationPath="$(runtime.system32)\\">${hashXml('sha1', SHA1_B64)}
  </file>
  <file name="nohash.txt"/>
  <directories><directory destinationPath="$(runtime.system32)\\dc\\" owner="true"><securityDescriptor name="WRP_PARENT_DIR_DEFAULT_SDDL"/></directory></directories>
  <memberships>
    <categoryMembership>
      <id name="Microsoft.Windows.Categories" version="1.0.0.0" publicKeyToken="365143bb27e7ac8b" typeName="BootCritical"/>
    </categoryMembership>
    <categoryMembership>
      <id name="Microsoft.Windows.Categories.Services" version="10.0.26100.8972" publicKeyToken="31bf3856ad364e35" typeName="Service"/>
      <categoryInstance subcategory="DcSvc">
        <serviceData name="DcSvc" displayName="Direct Composition" start="demand" type="win32ShareProcess" imagePath="%SystemRoot%\\System32\\svchost.exe -k netsvcs"/>
      </categoryInstance>
    </categoryMembership>
  </memberships>
  <registryKeys>
    <registryKey keyName="HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\DirectComposition" perUserVirtualization="Disable">
      <registryValue name="Enabled" valueType="REG_DWORD" value="0x00000001"/>
      <registryValue name="Path" valueType="REG_EXPAND_SZ" value="%SystemRoot%\\dc"/>
      <securityDescriptor name="WRP_REGKEY_DEFAULT_SDDL"/>
    </registryKey>
    <registryKey keyName="HKEY_CLASSES_ROOT\\CLSID\\{00000000-0000-0000-0000-000000000001}"/>
  </registryKeys>`);

describe('parseComponentManifest: hand-made manifest', () => {
  const m = parseComponentManifest(FULL, 'dc.manifest');

  it('identity, keyform and assembly attributes', () => {
    expect(m.identity.name).toBe('Microsoft-Windows-DirectComposition');
    expect(m.identity.versionScope).toBe('nonSxS');
    expect(m.keyform).toBe('amd64_microsoft-windows-directcomposition_31bf3856ad364e35_10.0.26100.8972_none_3907531ff1ec3e71');
    expect(m.assembly).toEqual({ manifestVersion: '1.0', copyright: 'Copyright (c) Microsoft Corporation.' });
    expect(m.deployment).toBe(true);
  });

  it('files with sha256 and sha1 hashes in base64 and hex', () => {
    expect(m.files.map((f) => f.name)).toEqual(['dcomp.dll', 'old.dll', 'nohash.txt']);
    expect(m.files[0]).toMatchObject({
      destinationPath: '$(runtime.system32)\\', sourceName: 'dcomp.dll', sourcePath: '.\\', importPath: '$(build.nttree)\\',
      securityDescriptor: 'WRP_FILE_DEFAULT_SDDL',
      hash: { alg: 'sha256', digestBase64: SHA256_B64, digestHex: 'ab'.repeat(32) },
    });
    expect(m.files[1]!.hash).toEqual({ alg: 'sha1', digestBase64: SHA1_B64, digestHex: '00112233445566778899aabbccddeeff00112233' });
    expect(m.files[2]!.hash).toBeUndefined();
    expect(m.directories).toEqual([{ destinationPath: '$(runtime.system32)\\dc\\', owner: 'true', securityDescriptor: 'WRP_PARENT_DIR_DEFAULT_SDDL' }]);
  });

  it('registry keys and values', () => {
    expect(m.registryKeys).toHaveLength(2);
    expect(m.registryKeys[0]!.keyName).toBe('HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\DirectComposition');
    expect(m.registryKeys[0]!.securityDescriptor).toBe('WRP_REGKEY_DEFAULT_SDDL');
    expect(m.registryKeys[0]!.attrs.perUserVirtualization).toBe('Disable');
    expect(m.registryKeys[0]!.values.map((v) => [v.name, v.valueType, v.value])).toEqual([
      ['Enabled', 'REG_DWORD', '0x00000001'],
      ['Path', 'REG_EXPAND_SZ', '%SystemRoot%\\dc'],
    ]);
    expect(m.registryKeys[1]!.values).toEqual([]);
  });

  it('category memberships with typeName and serviceData', () => {
    expect(m.memberships.map((x) => [x.id.name, x.id.publicKeyToken, x.typeName])).toEqual([
      ['Microsoft.Windows.Categories', '365143bb27e7ac8b', 'BootCritical'],
      ['Microsoft.Windows.Categories.Services', '31bf3856ad364e35', 'Service'],
    ]);
    expect(m.memberships[0]!.instances).toEqual([]);
    expect(m.memberships[1]!.instances[0]!.attrs).toEqual({ subcategory: 'DcSvc' });
    expect(m.memberships[1]!.instances[0]!.serviceData).toMatchObject({ name: 'DcSvc', start: 'demand', type: 'win32ShareProcess' });
  });

  it('dependencies', () => {
    expect(m.dependencies).toEqual([
      expect.objectContaining({ discoverable: 'no', resourceType: 'Resources', dependencyType: 'prerequisite', identity: expect.objectContaining({ name: 'Microsoft-Windows-DirectComposition.Resources', language: '*' }) }),
    ]);
  });

  it('a manifest without <deployment> is not a deployment', () => {
    expect(parseComponentManifest(manifest(''), 'x.manifest').deployment).toBe(false);
  });
});

describe('parseComponentManifest: bad input', () => {
  const expectErr = (input: string | Uint8Array, cls: new (...a: never[]) => Error, code: string, msg?: string): void => {
    let err: unknown;
    try {
      parseComponentManifest(input, 'bad.manifest');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject({ code, file: 'bad.manifest' });
    if (msg) expect((err as Error).message).toContain(msg);
  };

  it('malformed XML', () => expectErr('<assembly><assemblyIdentity name="a"></assembly>', XmlError, 'E_XML', 'malformed XML'));
  it('truncated XML', () => expectErr(FULL.slice(0, 300), XmlError, 'E_XML'));
  it('billion laughs (DOCTYPE with entities) is refused, never expanded', () => {
    const lol = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<assembly><assemblyIdentity name="&lol2;" version="1.0.0.0"/></assembly>`;
    expectErr(lol, XmlError, 'E_XML', 'document type declarations are not allowed');
  });
  it('undeclared entity reference stays literal text (not expanded)', () => {
    const m = parseComponentManifest(manifest('', '<assemblyIdentity name="a&amp;b" version="1.0.0.0"/>'), 'x.manifest');
    expect(m.identity.name).toBe('a&b');
  });
  it('missing assemblyIdentity', () => expectErr('<assembly manifestVersion="1.0"><file name="a"/></assembly>', FormatError, 'E_CBS_NO_IDENTITY', '<assemblyIdentity>'));
  it('wrong root element', () => expectErr('<Tasks/>', FormatError, 'E_CBS_NOT_ASSEMBLY', '<Tasks>'));
  it('garbage version', () => expectErr(manifest('', '<assemblyIdentity name="a" version="1.2.three"/>'), FormatError, 'E_CBS_VERSION', '"three"'));
  it('file without a name', () => expectErr(manifest('<file destinationPath="x"/>'), FormatError, 'E_CBS_MANIFEST_FILE'));
  it('unknown digest algorithm', () => expectErr(manifest(`<file name="a">${hashXml('md5', SHA1_B64)}</file>`), FormatError, 'E_CBS_MANIFEST_HASH', 'unknown digest algorithm'));
  it('digest of the wrong length', () => expectErr(manifest(`<file name="a">${hashXml('sha256', SHA1_B64)}</file>`), FormatError, 'E_CBS_MANIFEST_HASH', '20 bytes, expected 32'));
  it('digest that is not base64', () => expectErr(manifest(`<file name="a">${hashXml('sha1', '!!!!')}</file>`), FormatError, 'E_CBS_MANIFEST_HASH', 'not base64'));
  it('dependentAssembly without identity', () => expectErr(manifest('<dependency><dependentAssembly dependencyType="install"/></dependency>'), FormatError, 'E_CBS_NO_IDENTITY'));
  it('empty input', () => expectErr(new Uint8Array(0), XmlError, 'E_XML'));
  it('random binary', () => expectErr(Uint8Array.from({ length: 200 }, (_, i) => (i * 37 + 11) & 0xff), XmlError, 'E_XML'));
});

describe('WinSxS compressed manifests', () => {
  const sig = (s: string, tail: string): Uint8Array => Uint8Array.from([...Buffer.from(s, 'latin1'), 1, ...Buffer.from(tail, 'latin1')]);

  it.each([
    ['DCM', 'PA30xxxx', 'PA30', 'base manifest'],
    ['DCN', 'PA30xxxx', 'PA30', 'empty source'],
    ['DCD', '\x01\x00\x02\x00\x03\x00\x04\x00PA30', 'PA30', 'older version'],
    ['DCS', '\x01\x00\x00\x00', undefined, 'LZMS'],
    ['DCH', '', undefined, 'header-only'],
    ['DCX', '', undefined, 'undocumented'],
  ])('%s\\x01 is detected and refused with E_DCM_UNSUPPORTED', (kind, tail, magic, words) => {
    const bytes = sig(kind, tail);
    const info = detectCompressedManifest(bytes);
    expect(info?.kind).toBe(kind);
    expect(info?.deltaMagic).toBe(magic);
    expect(info?.description).toContain(words);
    let err: unknown;
    try {
      parseComponentManifest(bytes, `${kind}.manifest`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnsupportedError);
    expect(err).toMatchObject({ code: 'E_DCM_UNSUPPORTED', file: `${kind}.manifest` });
    expect((err as Error).message).toContain(`${kind}\\x01`);
    expect((err as Error).message).toContain(kind === 'DCM' ? 'decode it first with its base manifest' : 'not yet supported');
  });

  it('plain XML, other DC? letters and short input are not compressed manifests', () => {
    expect(detectCompressedManifest(Buffer.from('<?xml version="1.0"?>'))).toBeNull();
    expect(detectCompressedManifest(sig('DCQ', 'PA30'))).toBeNull();
    expect(detectCompressedManifest(Uint8Array.from([0x44, 0x43, 0x4d]))).toBeNull();
    expect(detectCompressedManifest(Uint8Array.from([0x44, 0x43, 0x4d, 0x02]))).toBeNull();
  });

  it.skipIf(!hasCorpus)('real 26100 corpus manifest: DCM + PA30', () => {
    const bytes = readFileSync(corpusPath('manifests', 'amd64_microsoft-windows-network-security_31bf3856ad364e35_10.0.26100.1591_none_68e46b0fda91af4d.manifest'));
    expect(detectCompressedManifest(bytes)).toEqual({ kind: 'DCM', description: 'PA30 delta against the base manifest embedded in wcp.dll', deltaMagic: 'PA30' });
  });

  it.skipIf(!hasCorpus)('the DCM base manifest is a template (XML plus a trailing string pool), refused as malformed XML', () => {
    const bytes = readFileSync(corpusPath('manifests', 'base_manifest.bin'));
    expect(() => parseComponentManifest(bytes, 'base_manifest.bin')).toThrowError(
      expect.objectContaining({ code: 'E_XML', file: 'base_manifest.bin', message: expect.stringContaining('Extra text at the end') }),
    );
    // Without the trailing pool, its identity template still fails: version "6." is not a version.
    const xml = bytes.toString('utf8');
    const body = xml.slice(0, xml.indexOf('</assembly>') + '</assembly>'.length);
    expect(() => parseComponentManifest(body, 'base_manifest.bin')).toThrowError(
      expect.objectContaining({ code: 'E_CBS_VERSION', file: 'base_manifest.bin', where: 'assembly/assemblyIdentity', message: expect.stringContaining('"6."') }),
    );
  });
});

describe('real component manifests from the KB2883457 CAB', () => {
  let ctx: { dir: string; cleanup: () => void } | undefined;
  beforeAll(() => {
    noteCabSkip('KB2883457 component manifests');
    if (canExtractCab) ctx = extractCab();
  });
  afterAll(() => ctx?.cleanup());
  const read = (f: string) => parseComponentManifest(readFileSync(path.join(ctx!.dir, f)), f);

  it.skipIf(!canExtractCab)('WinRE-Tools 6.1.7601.18246: three files with SHA-256 hashes, one prerequisite', () => {
    const m = read('amd64_microsoft-windows-winre-tools_31bf3856ad364e35_6.1.7601.18246_none_2805177986c8631d.manifest');
    expect(m.identity).toMatchObject({ name: 'Microsoft-Windows-WinRE-Tools', version: '6.1.7601.18246', buildType: 'release', versionScope: 'nonSxS' });
    expect(m.deployment).toBe(false);
    expect(m.files.map((f) => [f.name, f.destinationPath])).toEqual([
      ['StartRep.exe', '$(runtime.bootDrive)\\sources\\recovery\\'],
      ['RecEnv.exe', '$(runtime.bootDrive)\\sources\\recovery\\'],
      ['BootRec.exe', '$(runtime.system32)\\'],
    ]);
    expect(m.files[0]!.hash).toEqual({ alg: 'sha256', digestBase64: '97Zf8AhQQisl1lSYOJO/3YIiKPlff9RYexVfM0VH5mw=', digestHex: 'f7b65ff00850422b25d654983893bfdd822228f95f7fd4587b155f334547e66c' });
    expect(m.files[2]!.hash!.digestHex).toBe('30e3bb260b56f8fed6057aa06681fc9e09ddf28d5d0307ab60b8868379e961f6');
    expect(m.directories.map((d) => d.owner)).toEqual(['false', 'true']);
    expect(m.dependencies).toHaveLength(1);
    expect(m.dependencies[0]).toMatchObject({ discoverable: 'no', resourceType: 'Resources', dependencyType: 'prerequisite' });
    expect(m.dependencies[0]!.identity).toMatchObject({ name: 'Microsoft-Windows-WinRE-Tools.Resources', language: '*' });
    expect(m.registryKeys).toEqual([]);
  });

  it.skipIf(!canExtractCab)('the 22435 deployment manifest: <deployment/>, no files, install dependency on WinRE-Tools', () => {
    const m = read('amd64_060ce3e341296b0a145e540da35aca92_31bf3856ad364e35_6.1.7601.22435_none_724edd05f73f295f.manifest');
    expect(m.identity.name).toBe('060ce3e341296b0a145e540da35aca92');
    expect(m.deployment).toBe(true);
    expect(m.files).toEqual([]);
    expect(m.dependencies.map((d) => [d.dependencyType, d.discoverable, d.identity.name, d.identity.version])).toEqual([
      ['install', 'false', 'Microsoft-Windows-WinRE-Tools', '6.1.7601.22435'],
    ]);
  });
});
