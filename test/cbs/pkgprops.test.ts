import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { parsePkgProperties, pkgProperty } from '../../src/cbs/pkgprops.js';
import { PKG_PROPERTIES } from './fixtures.js';

const utf16le = (s: string, bom: boolean): Uint8Array => Buffer.concat([bom ? Buffer.from([0xff, 0xfe]) : Buffer.alloc(0), Buffer.from(s, 'utf16le')]);

describe('parsePkgProperties', () => {
  it.each([
    ['UTF-16LE with BOM', utf16le(PKG_PROPERTIES, true)],
    ['UTF-16LE without BOM', utf16le(PKG_PROPERTIES, false)],
    ['UTF-8', Buffer.from(PKG_PROPERTIES, 'utf8')],
    ['UTF-8 with BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(PKG_PROPERTIES, 'utf8')])],
  ])('%s: typed fields', (_w, bytes) => {
    const p = parsePkgProperties(bytes, 'Windows10.0-KB3157663-x64-pkgProperties.txt');
    expect(p.entries).toHaveLength(14);
    expect(p.entries[0]).toEqual({ key: 'ApplicabilityInfo', normalizedKey: 'applicabilityinfo', value: 'Windows 10.0 Client SKUs', line: 1 });
    expect(p).toMatchObject({
      kbArticleNumber: '3157663', kb: 'KB3157663', appliesTo: 'Windows 10', processorArchitecture: 'amd64', installationType: 'FULL',
      packageType: 'Update', buildDate: '2016/05/10', buildDateIso: '2016-05-10', language: 'ALL',
    });
    expect(pkgProperty(p, 'support link')).toBe('http://support.microsoft.com?kbid=3157663');
    expect(pkgProperty(p, 'INSTALLER   ENGINE')).toBe('Component Based Servicing');
    expect(pkgProperty(p, 'nope')).toBeUndefined();
  });

  it('keys are case-insensitive ("Applies To" vs "Applies to"); original spelling kept', () => {
    const p = parsePkgProperties('Applies To="Windows 11"\nKB Article Number="KB5043080"\nBuild Date="2024/9/5"\n');
    expect(p.appliesTo).toBe('Windows 11');
    expect(p.entries[0]!.key).toBe('Applies To');
    expect(p.entries[0]!.normalizedKey).toBe('applies to');
    expect(p.kbArticleNumber).toBe('5043080');
    expect(p.buildDateIso).toBe('2024-09-05');
  });

  it('empty values and unquoted values are accepted; first duplicate wins', () => {
    const p = parsePkgProperties('Language=""\nPackage Type=Update\nLanguage="en-US"\n');
    expect(p.language).toBe('');
    expect(p.packageType).toBe('Update');
    expect(p.entries.map((e) => e.line)).toEqual([1, 2, 3]);
  });

  it('a non-numeric KB number leaves kb unset; an impossible date leaves buildDateIso unset', () => {
    const p = parsePkgProperties('KB Article Number="n/a"\nBuild Date="2016/13/40"');
    expect(p.kb).toBeUndefined();
    expect(p.buildDate).toBe('2016/13/40');
    expect(p.buildDateIso).toBeUndefined();
  });

  it.each([
    ['a junk line', Buffer.from('KB Article Number="1"\nthis is not a property\n'), 'line 2', 'expected Key="Value"'],
    ['an unterminated quote', Buffer.from('Language="ALL\n'), 'line 1', 'expected Key="Value"'],
    ['binary data', Uint8Array.from([0x4d, 0x53, 0x43, 0x46, 0, 0, 0, 0, 1, 2, 3]), undefined, 'NUL'],
    ['an empty file', new Uint8Array(0), undefined, 'no Key="Value" lines'],
    ['XML', Buffer.from('<assembly/>'), 'line 1', 'expected Key="Value"'],
  ])('%s is a FormatError naming the file', (_w, bytes, where, msg) => {
    let err: unknown;
    try {
      parsePkgProperties(bytes, 'x-pkgProperties.txt');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    expect(err).toMatchObject({ code: 'E_CBS_PKGPROPS', file: 'x-pkgProperties.txt' });
    expect((err as FormatError).where).toBe(where);
    expect((err as Error).message).toContain(msg);
  });
});
