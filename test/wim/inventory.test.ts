import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imageInventory, mumHead, readInfVersion, resolveVersion } from '../../src/wim/inventory.js';
import { wimCapture } from '../../src/wim/wimlib.js';
import { runCli } from '../helpers/cli.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { OEM0_INF, PKT, buildTestWim, mum, tempDir, utf16, writeTree } from './fixture.js';

const HAVE = hasTool('wimlib-imagex');
if (!HAVE) skipNote('image inventory tests', 'wimlib-imagex (wimtools)');

describe('resolveVersion (pure)', () => {
  it('prefers a four-part XML version', () => {
    expect(resolveVersion('10.0.19041.1288', '10.0.19041.1', '19041.2006.1.5')).toEqual({ version: '10.0.19041.1288', versionSource: 'xml' });
  });
  it('takes build from the XML and UBR from the highest RollupFix when SPBUILD is missing', () => {
    expect(resolveVersion('10.0.19044', '10.0.19041.1', '19041.1288.1.7')).toEqual({ version: '10.0.19044.1288', versionSource: 'packages' });
  });
  it('falls back to the Foundation package for build and UBR', () => {
    expect(resolveVersion(undefined, '10.0.22621.1', undefined)).toEqual({ version: '10.0.22621.1', versionSource: 'packages' });
    expect(resolveVersion('10.0.22621', undefined, undefined)).toEqual({ version: '10.0.22621', versionSource: 'xml-without-ubr' });
    expect(resolveVersion(undefined, undefined, undefined)).toEqual({ versionSource: 'unknown' });
  });
});

describe('mumHead (pure)', () => {
  it('cuts after the <package> start tag and closes the document', () => {
    const head = mumHead(mum('P', '1.2.3.4'));
    expect(head).toMatch(/<package identifier="P" releaseType="Update"><\/package><\/assembly>$/);
    expect(head).not.toContain('<update');
  });
  it('keeps namespace prefixes and self-closing tags; no cut without a package element', () => {
    expect(mumHead('<a:assembly xmlns:a="x"><a:assemblyIdentity name="n"/><a:package releaseType="R"/><a:more/></a:assembly>'))
      .toBe('<a:assembly xmlns:a="x"><a:assemblyIdentity name="n"/><a:package releaseType="R"/></a:assembly>');
    expect(mumHead('<assembly><assemblyIdentity name="n"/><packageExtended/></assembly>')).toBeUndefined();
  });
});

describe('readInfVersion (pure)', () => {
  it('resolves %strings%, strips comments, splits DriverVer', () => {
    expect(readInfVersion(OEM0_INF, 'oem0.inf')).toEqual({
      inf: 'oem0.inf',
      provider: 'Red Hat, Inc.',
      class: 'Net',
      classGuid: '{4d36e972-e325-11ce-bfc1-08002be10318}',
      driverVer: '07/19/2023,100.94.104.24000',
      date: '07/19/2023',
      version: '100.94.104.24000',
    });
  });
  it('decodes UTF-16LE, handles line continuations and localized [Strings.xxxx] fallback', () => {
    const inf = utf16('[Version]\r\nProvider=%P%\r\nDriverVer = 01/02/2020 ,\\\r\n  1.2.3.4\r\n[Strings.0407]\r\nP="Firma ""X"""\r\n');
    expect(readInfVersion(inf, 'oem5.inf')).toMatchObject({ provider: 'Firma "X"', date: '01/02/2020', version: '1.2.3.4' });
  });
  it.skipIf(!hasCorpus)('reads a real virtio-win INF', async () => {
    const bytes = await readFile(corpusPath('inf', 'NetKVM_NotifyObject_vioprot.inf'));
    const d = readInfVersion(bytes, 'oem3.inf');
    // A source template: the build replaces INX_COMPANY, so the [Strings] value is the token itself.
    expect(d).toMatchObject({ class: 'NetTrans', classGuid: '{4d36e975-e325-11ce-bfc1-08002be10318}', provider: 'INX_COMPANY' });
  });
});

describe.skipIf(!HAVE)('imageInventory on a two-image test WIM', () => {
  let dir: string;
  let wim: string;
  beforeAll(async () => {
    dir = await tempDir();
    wim = await buildTestWim(dir);
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('image 1: edition, arch, languages, UBR from the highest RollupFix, packages, drivers, DriverStore', async () => {
    const inv = await imageInventory(wim, 1);
    expect(inv.imageCount).toBe(2);
    expect(inv.images).toHaveLength(1);
    const img = inv.images[0]!;
    expect(img).toMatchObject({
      index: 1,
      name: 'Windows 10 Pro',
      edition: 'Professional',
      installationType: 'Client',
      arch: 'amd64',
      version: '10.0.19044.1288',
      versionSource: 'packages',
      xmlVersion: '10.0.19044',
      languages: ['en-US', 'de-DE'],
      defaultLanguage: 'en-US',
      foundationVersion: '10.0.19041.1',
      rollupFixVersion: '19041.1288.1.7',
      servicingStackVersion: '19041.1220.1.3',
      driverStore: ['foo.inf_amd64_abc', 'netkvm.inf_amd64_0123456789abcdef'],
      warnings: [],
    });
    expect(img.packages.map((p) => p.packageId)).toEqual([
      `Microsoft-Windows-Client-LanguagePack-Package~${PKT}~amd64~de-DE~10.0.19041.1`,
      `Microsoft-Windows-Foundation-Package~${PKT}~amd64~~10.0.19041.1`,
      `Package_for_RollupFix~${PKT}~amd64~~19041.1237.1.8`,
      `Package_for_RollupFix~${PKT}~amd64~~19041.1288.1.7`,
      `Package_for_ServicingStack_1220~${PKT}~amd64~~19041.1220.1.3`,
    ]);
    expect(img.packages[0]).toMatchObject({ language: 'de-DE', releaseType: 'Language Pack', arch: 'amd64', publicKeyToken: PKT, mum: `Microsoft-Windows-Client-LanguagePack-Package~${PKT}~amd64~de-DE~10.0.19041.1.mum` });
    expect(img.drivers).toEqual([
      { inf: 'oem0.inf', provider: 'Red Hat, Inc.', class: 'Net', classGuid: '{4d36e972-e325-11ce-bfc1-08002be10318}', driverVer: '07/19/2023,100.94.104.24000', date: '07/19/2023', version: '100.94.104.24000' },
      { inf: 'oem1.inf', provider: 'ACME', class: 'System', driverVer: '01/02/2020', date: '01/02/2020' },
    ]);
  });

  it('all images: image 2 keeps its XML version (SPBUILD present) and has no drivers', async () => {
    const inv = await imageInventory(wim);
    expect(inv.images.map((i) => i.index)).toEqual([1, 2]);
    expect(inv.images[1]).toMatchObject({
      name: 'Windows 11 Enterprise',
      arch: 'arm64',
      version: '10.0.22621.2715',
      versionSource: 'xml',
      foundationVersion: '10.0.22621.1',
      drivers: [],
      driverStore: [],
      languages: ['fr-FR'],
    });
    expect(inv.images[1]!.rollupFixVersion).toBeUndefined();
  });

  it('a bad .mum becomes a named warning; the rest of the inventory stands', async () => {
    const t = path.join(dir, 'bad');
    await writeTree(t, { packages: [{ name: 'Microsoft-Windows-Foundation-Package', version: '10.0.17763.1' }] });
    await writeFile(path.join(t, 'Windows/servicing/Packages/broken.mum'), '<assembly><assemblyIdentity name="x"');
    // A large cumulative-update manifest: only its head is parsed.
    const big = mum('Package_for_RollupFix', '17763.5000.1.3').replace('</package>', `${'<update name="u"><package><assemblyIdentity name="child" version="1.0.0.0" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/></package></update>\n'.repeat(400)}</package>`);
    expect(big.length).toBeGreaterThan(40_000);
    await writeFile(path.join(t, 'Windows/servicing/Packages/big.mum'), big);
    // The <package> tag lies beyond the first read: the whole file is read and parsed.
    const late = mum('Late-Package', '10.0.17763.2').replace('<package ', `<!--${'x'.repeat(20_000)}-->\n  <package `);
    await writeFile(path.join(t, 'Windows/servicing/Packages/late.mum'), utf16(late));
    const w = path.join(dir, 'bad.wim');
    await wimCapture(t, w, 'bad', { compress: 'none' });
    const img = (await imageInventory(w)).images[0]!;
    expect(img.packages.map((p) => [p.name, p.version, p.releaseType])).toEqual([
      ['Late-Package', '10.0.17763.2', 'Update'],
      ['Microsoft-Windows-Foundation-Package', '10.0.17763.1', 'Update'],
      ['Package_for_RollupFix', '17763.5000.1.3', 'Update'],
    ]);
    expect(img.version).toBe('10.0.17763.5000');
    expect(img.warnings).toHaveLength(1);
    expect(img.warnings[0]).toMatch(/^image 1: \/Windows\/servicing\/Packages\/broken\.mum: malformed XML/);
  });

  it('rejects an index that does not exist', async () => {
    await expect(imageInventory(wim, 3)).rejects.toMatchObject({ code: 'E_USAGE', message: 'image 3 does not exist (the WIM has 2 images)' });
  });

  it('msu image --json prints the same inventory; text mode names the UBR source', async () => {
    const r = await runCli('image', wim, '--index', '1', '--json');
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.stdout) as { images: Array<{ version: string; packages: unknown[] }> };
    expect(parsed.images[0]!.version).toBe('10.0.19044.1288');
    expect(parsed.images[0]!.packages).toHaveLength(5);
    const t = await runCli('image', wim);
    expect(t.code).toBe(0);
    expect(t.stdout).toContain('  version    10.0.19044.1288 (UBR from installed packages; image XML says 10.0.19044)');
    expect(t.stdout).toContain('    oem0.inf  Net  Red Hat, Inc.  07/19/2023,100.94.104.24000');
    const bad = await runCli('image', wim, '--index', 'x');
    expect(bad.code).toBe(2);
  });

  it('msu wim info prints header and images', async () => {
    const r = await runCli('wim', 'info', wim);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('images       2\ncompression  LZX (chunk 32768)');
    expect(r.stdout).toContain('image 2      Windows 11 Enterprise  arm64  Enterprise  10.0.22621.2715  fr-FR');
    const j = JSON.parse((await runCli('wim', 'info', wim, '--json')).stdout) as { imageCount: number; images: Array<{ arch: string }> };
    expect(j.imageCount).toBe(2);
    expect(j.images.map((i) => i.arch)).toEqual(['amd64', 'arm64']);
  });

  it.skipIf(!hasCorpus)('msu image on a corrupt corpus WIM exits 3 with one line naming the file', async () => {
    const f = corpusPath('wim', 'cyclic.wim');
    const r = await runCli('image', f);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`msu: ${f}: invalid WIM: Directory structure too deep: The metadata resource is invalid (wimlib error 21)\n`);
  });
});
