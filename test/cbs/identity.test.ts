import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { parseXml } from '../../src/util/xml.js';
import { formatPackageId, identityFromElement, parsePackageId, rootAssemblyIdentity, versionlessKey } from '../../src/cbs/identity.js';

describe('assemblyIdentity', () => {
  it('reads known attributes, keeps unknown ones in extra, drops namespace declarations', () => {
    const el = parseXml(
      '<assemblyIdentity xmlns="urn:schemas-microsoft-com:asm.v3" name="Microsoft-Windows-WinRE-Tools" version="6.1.7601.18246" processorArchitecture="amd64" language="neutral" buildType="release" publicKeyToken="31bf3856ad364e35" versionScope="nonSxS" typeName="Service"/>',
    );
    expect(identityFromElement(el)).toEqual({
      name: 'Microsoft-Windows-WinRE-Tools',
      version: '6.1.7601.18246',
      processorArchitecture: 'amd64',
      language: 'neutral',
      publicKeyToken: '31bf3856ad364e35',
      buildType: 'release',
      versionScope: 'nonSxS',
      extra: { typeName: 'Service' },
    });
  });

  it('absent core attributes are empty strings; type is read', () => {
    const id = identityFromElement(parseXml('<assemblyIdentity name="Microsoft.Windows.Common-Controls" type="win32"/>'));
    expect(id).toEqual({ name: 'Microsoft.Windows.Common-Controls', version: '', processorArchitecture: '', language: '', publicKeyToken: '', type: 'win32', extra: {} });
  });

  it('missing name is a FormatError naming file and element', () => {
    const el = parseXml('<assemblyIdentity version="1.0.0.0"/>');
    expect(() => identityFromElement(el, { file: 'x.mum', where: 'assembly/assemblyIdentity' })).toThrowError(
      expect.objectContaining({ code: 'E_CBS_IDENTITY', file: 'x.mum', where: 'assembly/assemblyIdentity' }),
    );
  });

  it('garbage version is a FormatError', () => {
    const el = parseXml('<assemblyIdentity name="a" version="ten"/>');
    expect(() => identityFromElement(el, { file: 'x.manifest' })).toThrowError(expect.objectContaining({ code: 'E_CBS_VERSION', file: 'x.manifest' }));
  });

  it('rootAssemblyIdentity refuses other roots and missing identities', () => {
    expect(() => rootAssemblyIdentity(parseXml('<Tasks/>'), 'f.mum', 'package manifest')).toThrowError(
      expect.objectContaining({ code: 'E_CBS_NOT_ASSEMBLY', file: 'f.mum' }),
    );
    expect(() => rootAssemblyIdentity(parseXml('<assembly><package/></assembly>'), 'f.mum', 'package manifest')).toThrowError(
      expect.objectContaining({ code: 'E_CBS_NO_IDENTITY', file: 'f.mum', where: 'assembly/assemblyIdentity' }),
    );
  });
});

describe('package identity strings', () => {
  it('formats Name~PKT~arch~lang~version with an empty culture for neutral', () => {
    expect(formatPackageId({ name: 'Package_for_RollupFix', publicKeyToken: '31bf3856ad364e35', processorArchitecture: 'amd64', language: 'neutral', version: '17134.345.1.5' }))
      .toBe('Package_for_RollupFix~31bf3856ad364e35~amd64~~17134.345.1.5');
    expect(formatPackageId({ name: 'Microsoft-Windows-Client-LanguagePack-Package', publicKeyToken: '31bf3856ad364e35', processorArchitecture: 'amd64', language: 'de-DE', version: '10.0.19041.1' }))
      .toBe('Microsoft-Windows-Client-LanguagePack-Package~31bf3856ad364e35~amd64~de-DE~10.0.19041.1');
  });

  it('parses them back (neutral restored)', () => {
    const id = parsePackageId('Windows7SP1-KB976933~31bf3856ad364e35~amd64~~6.1.1.17514');
    expect(id).toEqual({ name: 'Windows7SP1-KB976933', publicKeyToken: '31bf3856ad364e35', processorArchitecture: 'amd64', language: 'neutral', version: '6.1.1.17514', extra: {} });
    expect(formatPackageId(id)).toBe('Windows7SP1-KB976933~31bf3856ad364e35~amd64~~6.1.1.17514');
    expect(parsePackageId('P~k~x86~en-US~1.0').language).toBe('en-US');
  });

  it.each([
    ['Package_for_RollupFix~31bf3856ad364e35~amd64~17134.345.1.5', 'found 4'],
    ['~31bf3856ad364e35~amd64~~1.0.0.0', 'empty name'],
    ['P~31bf3856ad364e35~amd64~~', 'empty version'],
    ['P~31bf3856ad364e35~amd64~~1.0.0.0~extra', 'found 6'],
  ])('rejects %j', (s, why) => {
    expect(() => parsePackageId(s, 'update.ses', 'Tasks/Phase[0]/package[0]')).toThrowError(
      expect.objectContaining({ code: 'E_CBS_PACKAGE_ID', file: 'update.ses', message: expect.stringContaining(why) }),
    );
  });

  it('a garbage version inside an id is E_CBS_VERSION', () => {
    expect(() => parsePackageId('P~k~amd64~~1.x', 'update.ses')).toThrow(FormatError);
    expect(() => parsePackageId('P~k~amd64~~1.x', 'update.ses')).toThrowError(expect.objectContaining({ code: 'E_CBS_VERSION' }));
  });

  it('versionlessKey ignores version and case, treats neutral as empty', () => {
    const a = parsePackageId('Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.1288.1.7');
    const b = { ...parsePackageId('package_for_rollupfix~31BF3856AD364E35~AMD64~~19041.1000.1.0'), language: 'neutral' };
    expect(versionlessKey(a)).toBe('package_for_rollupfix~31bf3856ad364e35~amd64~');
    expect(versionlessKey(b)).toBe(versionlessKey(a));
  });
});
