import { describe, expect, it } from 'vitest';
import { FormatError } from '../../src/errors.js';
import { compareVersions, formatVersion, isVersion, parseVersion } from '../../src/cbs/version.js';

describe('version', () => {
  it('parses four-part versions', () => {
    expect(parseVersion('10.0.19041.1288').parts).toEqual([10, 0, 19041, 1288]);
    expect(parseVersion('6.1.7601.17514').parts).toEqual([6, 1, 7601, 17514]);
    expect(parseVersion('65535.0.0.0').parts).toEqual([65535, 0, 0, 0]);
  });

  it('tolerates fewer parts and pads them as zero', () => {
    expect(parseVersion('6.1').parts).toEqual([6, 1]);
    expect(formatVersion('6.1')).toBe('6.1.0.0');
    expect(formatVersion('7')).toBe('7.0.0.0');
    expect(compareVersions('6.1', '6.1.0.0')).toBe(0);
    expect(compareVersions('6.1', '6.1.0.1')).toBe(-1);
  });

  it('compares numerically, part by part', () => {
    expect(compareVersions('10.0.19041.1288', '10.0.19041.999')).toBe(1);
    expect(compareVersions('10.0.9.0', '10.0.19041.0')).toBe(-1);
    expect(compareVersions('17134.345.1.5', '17134.345.1.5')).toBe(0);
    expect(compareVersions('6.1.7601.22435', '6.1.7601.18246')).toBe(1);
    expect(compareVersions(parseVersion('1.2.3.4'), '1.2.3.5')).toBe(-1);
  });

  it.each([
    ['', 'empty'],
    ['1.2.3.4.5', 'more than four parts'],
    ['10..1', 'empty part'],
    ['6.', 'empty part'],
    ['10.0.x.1', 'part "x" is not a number'],
    ['-1.0', 'part "-1" is not a number'],
    ['1.65536', 'larger than 65535'],
    [' 1.0', 'not a number'],
  ])('rejects %j (%s) with a FormatError naming the file', (s, why) => {
    let err: unknown;
    try {
      parseVersion(s, 'update.mum', 'assembly/assemblyIdentity');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    const fe = err as FormatError;
    expect(fe.code).toBe('E_CBS_VERSION');
    expect(fe.file).toBe('update.mum');
    expect(fe.where).toBe('assembly/assemblyIdentity');
    expect(fe.message).toContain(why);
    expect(isVersion(s)).toBe(false);
  });

  it('compareVersions throws on garbage strings', () => {
    expect(() => compareVersions('1.0', 'banana')).toThrow(FormatError);
  });
});
