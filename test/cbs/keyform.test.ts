import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyform, keyformHash, keyformHashHex, keyformName, keyformStringHash, parseKeyform, type KeyformIdentity } from '../../src/cbs/keyform.js';
import { parseComponentManifest } from '../../src/cbs/manifest.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { canExtractCab, extractCab, noteCabSkip } from './cab-corpus.js';

const W = '31bf3856ad364e35';

describe('keyform hash (docs/cbs.md, "Keyform")', () => {
  const ssu: KeyformIdentity = { name: 'Microsoft-Windows-ServicingStack', version: '10.0.19041.1', processorArchitecture: 'amd64', language: 'neutral', publicKeyToken: W, versionScope: 'nonSxS' };

  it('ServicingStack 10.0.19041.1 amd64 nonSxS', () => {
    expect(keyformHashHex(ssu)).toBe('bf506ecc66a800df');
    expect(keyformHash(ssu)).toBe(0xbf506ecc66a800dfn);
    expect(keyformHashHex(ssu, { versionless: true })).toBe('4a207b402ad93a1c');
    expect(keyform(ssu)).toBe('amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.1_none_bf506ecc66a800df');
  });

  it('versionScope matters: without it the hash differs', () => {
    expect(keyformHashHex({ ...ssu, versionScope: undefined })).not.toBe('bf506ecc66a800df');
  });

  it('DirectComposition 10.0.26100.8972', () => {
    expect(keyform({ name: 'Microsoft-Windows-DirectComposition', version: '10.0.26100.8972', processorArchitecture: 'amd64', language: 'neutral', publicKeyToken: W, versionScope: 'nonSxS' }))
      .toBe('amd64_microsoft-windows-directcomposition_31bf3856ad364e35_10.0.26100.8972_none_3907531ff1ec3e71');
  });

  it('Common-Controls 6.0.19041.1110: type=win32, amd64, neutral, no versionScope', () => {
    const cc: KeyformIdentity = { name: 'Microsoft.Windows.Common-Controls', version: '6.0.19041.1110', processorArchitecture: 'amd64', language: 'neutral', publicKeyToken: '6595b64144ccf1df', type: 'win32' };
    expect(keyform(cc)).toBe('amd64_microsoft.windows.common-controls_6595b64144ccf1df_6.0.19041.1110_none_60b5254171f9507e');
    // Each of these alternatives gives a different hash, which pins the attribute set down.
    expect(keyformHashHex({ ...cc, processorArchitecture: 'x86' })).not.toBe('60b5254171f9507e');
    expect(keyformHashHex({ ...cc, versionScope: 'nonSxS' })).not.toBe('60b5254171f9507e');
    expect(keyformHashHex({ ...cc, type: undefined })).not.toBe('60b5254171f9507e');
    expect(keyformHashHex({ ...cc, language: '*' })).not.toBe('60b5254171f9507e');
  });

  it('string hash is case-insensitive and the empty string hashes to 0', () => {
    expect(keyformStringHash('AMD64')).toBe(keyformStringHash('amd64'));
    expect(keyformStringHash('')).toBe(0n);
    // one character lands in lane 0, multiplied by the lane-0 constant
    expect(keyformStringHash('a')).toBe((0x61n * 0x1e5fffffd27n) & 0xffffffffffffffffn);
  });
});

describe('keyform names', () => {
  it('shortens names over 40 characters to 19 + .. + 19', () => {
    expect(keyformName('Microsoft-Windows-StartMenuExperienceHost.AppxMain')).toBe('microsoft-windows-s..riencehost.appxmain');
    const forty = 'a'.repeat(40);
    expect(keyformName(forty)).toBe(forty);
    expect(keyformName('b'.repeat(41))).toBe('b'.repeat(19) + '..' + 'b'.repeat(19));
  });

  it('culture appears lowercased, none when neutral or absent; pkt none when absent', () => {
    const id = { name: 'Foo', version: '1.0.0.0', processorArchitecture: 'x86', language: 'en-US', publicKeyToken: '' };
    expect(keyform(id)).toMatch(/^x86_foo_none_1\.0\.0\.0_en-us_[0-9a-f]{16}$/);
    expect(keyform({ ...id, language: '' })).toMatch(/^x86_foo_none_1\.0\.0\.0_none_[0-9a-f]{16}$/);
  });

  it('parseKeyform splits from both ends (names may contain _)', () => {
    expect(parseKeyform('amd64_dual_netvg63a.inf_31bf3856ad364e35_10.0.26100.1_none_9162a10543917fc7.manifest')).toEqual({
      processorArchitecture: 'amd64', name: 'dual_netvg63a.inf', shortened: false, publicKeyToken: W, version: '10.0.26100.1', culture: 'none', hash: '9162a10543917fc7',
    });
    expect(parseKeyform('not_a_keyform')).toBeNull();
    expect(parseKeyform('amd64_x_31bf3856ad364e35_1.0_none_XYZ')).toBeNull();
  });
});

// The corpus manifests are DCM-compressed, so their identities cannot be read yet; their file names
// are still real keyforms. Rebuild each identity from the name (full names known for the two
// shortened ones) and check that our hash reproduces Windows' folder name exactly.
describe.skipIf(!hasCorpus)('real WinSxS folder names from the corpus', () => {
  const FULL_NAMES: Record<string, string> = {
    'microsoft-windows-s..riencehost.appxmain': 'Microsoft-Windows-StartMenuExperienceHost.AppxMain',
  };
  // Driver components: the identity behind `dual_netvg63a.inf` (type? name?) cannot be guessed from the
  // folder name and its manifest is DCM-compressed, so only its structure is checked until DCM decoding exists.
  const IDENTITY_UNKNOWN = new Set(['dual_netvg63a.inf']);
  const dir = corpusPath('manifests');
  const names = hasCorpus ? readdirSync(dir).filter((f) => f.endsWith('.manifest')).sort() : [];

  it('has the six expected manifests', () => {
    expect(names).toHaveLength(6);
  });

  it.each(names)('%s', (fileName) => {
    const k = parseKeyform(fileName)!;
    expect(k).not.toBeNull();
    // and the file is a DCM-compressed manifest, refused explicitly
    expect(() => parseComponentManifest(readFileSync(path.join(dir, fileName)), fileName)).toThrowError(
      expect.objectContaining({ code: 'E_DCM_UNSUPPORTED', file: fileName, kind: 'unsupported' }),
    );
    if (IDENTITY_UNKNOWN.has(k.name)) return;
    const name = k.shortened ? FULL_NAMES[k.name]! : k.name;
    const id: KeyformIdentity = {
      name, version: k.version, processorArchitecture: k.processorArchitecture,
      language: k.culture === 'none' ? 'neutral' : k.culture, publicKeyToken: k.publicKeyToken, versionScope: 'nonSxS',
    };
    expect(keyform(id) + '.manifest').toBe(fileName);
  });

  it('the en-US resources manifest hashes its culture', () => {
    const id = { name: 'Multipoint-SrcRes.Resources', version: '10.0.26100.1', processorArchitecture: 'amd64', language: 'en-US', publicKeyToken: W, versionScope: 'nonSxS' };
    expect(keyformHashHex(id)).toBe('6ab3ac0cf789ac3d');
    expect(keyformHashHex({ ...id, language: 'neutral' })).not.toBe('6ab3ac0cf789ac3d');
  });
});

describe('real component manifests from the KB2883457 CAB: computed keyform = file name', () => {
  let ctx: { dir: string; cleanup: () => void } | undefined;
  beforeAll(() => {
    noteCabSkip('KB2883457 manifest keyforms');
    if (canExtractCab) ctx = extractCab();
  });
  afterAll(() => ctx?.cleanup());

  it.skipIf(!canExtractCab)('all four plain-XML manifests', () => {
    const files = readdirSync(ctx!.dir).filter((f) => f.endsWith('.manifest')).sort();
    expect(files).toEqual([
      'amd64_060ce3e341296b0a145e540da35aca92_31bf3856ad364e35_6.1.7601.22435_none_724edd05f73f295f.manifest',
      'amd64_d4aeae0fc7962257f8bb56b05147cd6a_31bf3856ad364e35_6.1.7601.18246_none_da1b887ce4b4a99a.manifest',
      'amd64_microsoft-windows-winre-tools_31bf3856ad364e35_6.1.7601.18246_none_2805177986c8631d.manifest',
      'amd64_microsoft-windows-winre-tools_31bf3856ad364e35_6.1.7601.22435_none_289885cc9fdecac6.manifest',
    ]);
    for (const f of files) {
      const m = parseComponentManifest(readFileSync(path.join(ctx!.dir, f)), f);
      expect(m.keyform + '.manifest').toBe(f);
    }
  });
});
