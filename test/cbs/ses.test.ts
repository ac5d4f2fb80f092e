import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { XmlError } from '../../src/util/xml.js';
import { parseUpdateSes } from '../../src/cbs/ses.js';
import { UPDATE_SES } from './fixtures.js';

describe('parseUpdateSes', () => {
  const s = parseUpdateSes(UPDATE_SES, 'update.ses');

  it('Tasks: operationMode and all attributes', () => {
    expect(s.operationMode).toBe('OfflineInstall');
    expect(s.attrs).toEqual({ operationMode: 'OfflineInstall', futureAttr: 'x' });
  });

  it('phases and their packages with parsed ids', () => {
    expect(s.phases).toHaveLength(2);
    expect(s.phases[0]!.attrs).toEqual({});
    expect(s.phases[1]!.attrs).toEqual({ rebootRequired: 'true' });
    expect(s.phases[0]!.packages[0]).toEqual({
      id: 'Windows7SP1-KB976933~31bf3856ad364e35~amd64~~6.1.1.17514',
      identity: { name: 'Windows7SP1-KB976933', publicKeyToken: '31bf3856ad364e35', processorArchitecture: 'amd64', language: 'neutral', version: '6.1.1.17514', extra: {} },
      targetState: 'Installed',
      attrs: { id: 'Windows7SP1-KB976933~31bf3856ad364e35~amd64~~6.1.1.17514', targetState: 'Installed' },
    });
    expect(s.phases[1]!.packages.map((p) => [p.identity.name, p.identity.language, p.targetState])).toEqual([
      ['Package_for_KB2883457', 'neutral', 'Absent'],
      ['Microsoft-Windows-Client-LanguagePack-Package', 'de-DE', 'Installed'],
    ]);
    expect(s.phases[1]!.packages[0]!.attrs.options).toBe('x');
  });

  it('packages directly under Tasks form an implicit phase', () => {
    const x = parseUpdateSes('<Tasks operationMode="OfflineInstall"><package id="P~k~amd64~~1.0.0.0" targetState="Staged"/></Tasks>', 'u.ses');
    expect(x.phases).toEqual([{ attrs: {}, implicit: true, packages: [expect.objectContaining({ id: 'P~k~amd64~~1.0.0.0', targetState: 'Staged' })] }]);
  });

  it.each([
    ['malformed', '<Tasks><Phase></Tasks>', XmlError, 'E_XML', undefined],
    ['DOCTYPE', '<!DOCTYPE Tasks [<!ENTITY a "b">]><Tasks/>', XmlError, 'E_XML', undefined],
    ['wrong root', '<Sessions/>', FormatError, 'E_CBS_SES', 'Sessions'],
    ['package without id', '<Tasks><Phase><package targetState="Installed"/></Phase></Tasks>', FormatError, 'E_CBS_SES', 'Tasks/Phase[0]/package[0]'],
    ['bad package id', '<Tasks><Phase><package id="KB123" targetState="Installed"/></Phase></Tasks>', FormatError, 'E_CBS_PACKAGE_ID', 'Tasks/Phase[0]/package[0]'],
    ['garbage version in id', '<Tasks><Phase/><Phase><package id="P~k~amd64~~1.2.3.4.5"/></Phase></Tasks>', FormatError, 'E_CBS_VERSION', 'Tasks/Phase[1]/package[0]'],
  ] as const)('%s is a typed error naming the file', (_w, xml, cls, code, where) => {
    let err: unknown;
    try {
      parseUpdateSes(xml, 'update.ses');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(cls);
    expect(err).toMatchObject({ code, file: 'update.ses' });
    if (where) expect((err as FormatError).where).toBe(where);
  });
});
