import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtemp, rm, writeFile, mkdir, readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { inspectFile } from '../../src/msu/inspect.js';
import { classifyMember, kbFromName, MEMBER_RULES, RULE_EXTENSIONS } from '../../src/msu/members.js';
import { buildSyntheticMsu, SAMPLE_OPTIONS } from '../../src/msu/synthetic.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { runCli } from '../helpers/cli.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { captureWim } from '../helpers/wim-msu.js';

let tmp: string;
let sample: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'msu-inspect-'));
  sample = path.join(tmp, 'Windows10.0-KB5099999-x64.msu');
  await writeFile(sample, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
});
afterAll(async () => { await rm(tmp, { recursive: true, force: true }); });

describe('member classification', () => {
  it.each([
    ['Windows10.0-KB5012170-x64.cab', 'lcu-payload'],
    ['Windows11.0-KB5043080-x64.wim', 'lcu-payload'],
    ['windows11.0-kb5043080-x64.psf', 'psf'],
    ['SSU-19041.1704-x64.cab', 'ssu'],
    ['DesktopDeployment_x86.cab', 'desktop-deployment'],
    ['onepackage.AggregatedMetadata.cab', 'aggregated-metadata'],
    ['wsusscan.cab', 'wsusscan'],
    ['Windows10.0-KB3157663-x64-pkgProperties.txt', 'pkg-properties'],
    ['Windows10.0-KB3157663-x64.xml', 'unattend'],
    ['Windows10.0-KB5000001-x64_uup.xml', 'uup-xml'],
    ['readme.txt', 'other'],
    ['update.mum', 'other'],
    ['x86_microsoft-windows-ucrt_31bf3856ad364e35_6.1.7601.23140_none_ae2d940390fbd253.manifest', 'other'],
    ['WSUSSCAN.CAB', 'wsusscan'],
    ['payload\\Windows10.0-KB5012170-x64.CAB', 'lcu-payload'],
  ])('%s is %s', (name, role) => expect(classifyMember(name).role).toBe(role));

  it('every rule needs a name ending in one of RULE_EXTENSIONS (other names skip the rules)', () => {
    for (const r of MEMBER_RULES) {
      // the pattern's tail: \.ext$ or \.(alt|alt)$, each alternative ending in an extension
      const tail = /\\\.(?:\(([^()]+)\)|([a-z0-9]+))\$$/.exec(r.pattern.source);
      expect(tail, r.pattern.source).not.toBeNull();
      const exts = (tail![1] ?? tail![2]!).split('|').map((alt) => alt.split('\\.').pop()!);
      for (const ext of exts) expect(RULE_EXTENSIONS.has(ext), `${r.role}: .${ext}`).toBe(true);
      expect(r.pattern.flags).toContain('i');
    }
  });

  it('finds KB numbers in names but not in longer digit runs', () => {
    expect(kbFromName('windows11.0-kb5043080-x64_abc.msu')).toBe('KB5043080');
    expect(kbFromName('Windows6.1-KB2883457-amd64.cab')).toBe('KB2883457');
    expect(kbFromName('kb123456789.cab')).toBeUndefined();
  });
});

describe('inspect a cabinet MSU', () => {
  it('reports KB, SSU, packages, classes, parents and properties', async () => {
    const r = await inspectFile(sample);
    expect(r.container).toBe('cab-msu');
    expect(r.kb).toBe('KB5099999');
    expect(r.ssu).toEqual({ present: true, members: ['SSU-19041.4160-x64.cab'] });
    expect(r.members.map((m) => m.role)).toEqual(['ssu', 'wsusscan', 'lcu-payload', 'pkg-properties', 'unattend']);
    const lcu = r.packages.find((p) => p.class === 'lcu')!;
    expect(lcu.identity).toBe('Package_for_RollupFix~31bf3856ad364e35~amd64~~10.0.19041.4170');
    expect(lcu.releaseType).toBe('Security Update');
    expect(lcu.appliesTo[0]).toMatchObject({ identity: 'Microsoft-Windows-Foundation-Package~31bf3856ad364e35~amd64~~10.0.19041.1', buildCompare: 'EQ', serviceCompare: 'GE' });
    expect(lcu.counts).toEqual({ files: 50, mum: 2, manifests: 40, catalogs: 2, cix: 0, other: 6 });
    expect(lcu.compression).toEqual(['MSZIP', 'None']);
    expect(r.packages.find((p) => p.class === 'ssu')!.identity).toBe('Package_for_ServicingStack~31bf3856ad364e35~amd64~~10.0.19041.4160');
    expect(r.properties?.['KB Article Number']).toBe('5099999');
    expect(r.properties?.['Processor Architecture']).toBe('amd64');
  });

  it('prints byte-identical JSON for the same file, wherever it lives', async () => {
    const a = await runCli('inspect', '--json', sample);
    const copy = path.join(tmp, 'elsewhere');
    await mkdir(copy, { recursive: true });
    const other = path.join(copy, path.basename(sample));
    await writeFile(other, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
    const b = await runCli('inspect', '--json', other);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout).not.toContain(tmp);
    expect(JSON.parse(a.stdout).schema).toBe('msu-toolkit/inspect@1');
  });

  it('reads only a small fraction of a large MSU', async () => {
    const big = buildSyntheticMsu({ ...SAMPLE_OPTIONS, manifests: 500, binaries: 60, binarySize: 512 * 1024 });
    const file = path.join(tmp, 'big.msu');
    await writeFile(file, big.msu);
    const { FileSource } = await import('../../src/util/source.js');
    const { Cabinet } = await import('../../src/cab/cabinet.js');
    const { inspectCabinet } = await import('../../src/msu/inspect.js');
    const src = await FileSource.open(file);
    const r = await inspectCabinet(await Cabinet.open(src), file, src.size);
    expect(r.packages.find((p) => p.class === 'lcu')!.counts.manifests).toBe(500);
    expect(src.bytesRead / src.size).toBeLessThan(0.1);
    await src.close();
  });

  it('an MSU whose members share one MSZIP folder: the folder is decoded once, and the report is that of the stored one', async () => {
    const { FileSource, BufferSource } = await import('../../src/util/source.js');
    const { Cabinet } = await import('../../src/cab/cabinet.js');
    const { inspectCabinet } = await import('../../src/msu/inspect.js');
    const stored = buildSyntheticMsu({ ...SAMPLE_OPTIONS, manifests: 200, binaries: 40 });
    const outer = await Cabinet.open(new BufferSource(stored.msu));
    const files = await Promise.all(outer.entries.map(async (e) => ({ name: e.name, data: await outer.readFile(e) })));
    const file = path.join(tmp, 'Windows10.0-KB5099999-x64-mszip.msu');
    await writeFile(file, buildCabinet({ folders: [{ compression: 'mszip', files }] }));
    const src = await FileSource.open(file);
    const r = await inspectCabinet(await Cabinet.open(src), file, src.size);
    // SSU, payload and pkgProperties read one by one would decode the folder three times
    // (2.2 times the file's bytes here); in one pass it is read once, with the header and read-ahead
    expect(src.bytesRead / src.size).toBeLessThan(1.2);
    await src.close();
    const want = await inspectCabinet(outer, file, src.size);
    expect(r.members.map((m) => m.compression)).toEqual(files.map(() => 'MSZIP'));
    expect({ ...r, members: [] }).toEqual({ ...want, members: [] });
    expect(r.properties?.['KB Article Number']).toBe('5099999');
    expect(r.ssu.present).toBe(true);
    expect(r.packages.map((p) => p.class).sort()).toEqual(['lcu', 'ssu']);
  });
});

describe.skipIf(!hasCorpus)('inspect the real KB2883457 cabinet', () => {
  it('reads identity, parent and counts from update.mum', async () => {
    const r = await inspectFile(corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab'));
    expect(r.container).toBe('cab');
    expect(r.kb).toBe('KB2883457');
    const p = r.packages[0]!;
    expect(p.identity).toBe('Package_for_KB2883457~31bf3856ad364e35~amd64~~6.1.1.0');
    expect(p.releaseType).toBe('Security Update');
    expect(p.appliesTo[0]!.identity).toBe('WinPE-SRT-Package~31bf3856ad364e35~amd64~~6.1.7601.17514');
    expect(p.express).toBe(true); // has _manifest_.cix.xml
    expect(p.compression).toEqual(['LZX:21']);
    expect(p.counts).toEqual({ files: 23, mum: 6, manifests: 4, catalogs: 6, cix: 1, other: 6 });
  });
});

describe('WIM-based MSU', () => {
  it('lists members and reads the payload cab in place', async () => {
    if (!hasTool('wimlib-imagex')) return skipNote('WIM MSU inspection', 'wimlib-imagex');
    const { payload, payloadName } = buildSyntheticMsu(SAMPLE_OPTIONS);
    const msu = path.join(tmp, 'wim.msu');
    await captureWim(msu, {
      [payloadName]: payload,
      'Windows10.0-KB5099999-x64.psf': Buffer.alloc(1000, 7),
      'SSU-19041.4160-x64.cab': buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'update.mum', data: Buffer.from('<assembly xmlns="urn:schemas-microsoft-com:asm.v3"><assemblyIdentity name="Package_for_ServicingStack" version="10.0.19041.4160" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/><package identifier="KB5099998" releaseType="Update"/></assembly>') }] }] }),
    });
    const r = await inspectFile(msu);
    expect(r.container).toBe('wim-msu');
    expect(r.psf).toEqual(['Windows10.0-KB5099999-x64.psf']);
    expect(r.ssu.present).toBe(true);
    const lcu = r.packages.find((p) => p.class === 'lcu')!;
    expect(lcu.identity).toBe('Package_for_RollupFix~31bf3856ad364e35~amd64~~10.0.19041.4170');
    expect(lcu.counts.manifests).toBe(40);
    expect(r.kb).toBe('KB5099999');
  });
});

describe('bad input through the CLI', () => {
  it('names the file and exits 3 for a truncated MSU, with no stack trace', async () => {
    const bytes = buildSyntheticMsu(SAMPLE_OPTIONS).msu;
    const file = path.join(tmp, 'cut.msu');
    await writeFile(file, bytes.subarray(0, 100_000));
    const r = await runCli('inspect', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^msu: .*cut\.msu: .*truncated/);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stdout).toBe('');
  });

  it('names the inner member when the payload cab is corrupt', async () => {
    const { payload } = buildSyntheticMsu(SAMPLE_OPTIONS);
    const broken = Uint8Array.from(payload);
    broken.set(Buffer.from('XXXX'), 0);
    const outer = buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'Windows10.0-KB5099999-x64.cab', data: broken }] }] });
    const file = path.join(tmp, 'inner-bad.msu');
    await writeFile(file, outer);
    const r = await runCli('inspect', file);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('inner-bad.msu!Windows10.0-KB5099999-x64.cab: not a cabinet');
  });

  it('exits 6 for a missing file and 2 for bad usage', async () => {
    expect((await runCli('inspect', path.join(tmp, 'nope.msu'))).code).toBe(6);
    expect((await runCli('inspect')).code).toBe(2);
    expect((await runCli('no-such-command')).code).toBe(2);
  });

  it('shows a stack trace only with --debug', async () => {
    const file = path.join(tmp, 'junk.msu');
    await writeFile(file, 'not a package at all');
    const plain = await runCli('inspect', file);
    const debug = await runCli('--debug', 'inspect', file);
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});

describe('extract through the CLI', () => {
  it('extracts the inner payload members by glob, and nothing else', async () => {
    const dest = path.join(tmp, 'x');
    const r = await runCli('extract', sample, '--inner', 'Windows10.0-KB5099999-x64.cab', '-d', dest, '*.mum', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.files.map((f: { name: string }) => f.name)).toEqual(['Package_1_for_KB5099999~31bf3856ad364e35~amd64~~10.0.19041.4170.mum', 'update.mum']);
    expect((await readdir(dest)).sort()).toEqual(j.files.map((f: { name: string }) => f.name));
  });
});

describe.skipIf(!hasCorpus)('msu deltas on a package', () => {
  it('reads the cix out of the real cabinet without extracting it', async () => {
    const r = await runCli('deltas', '--json', corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab'));
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.fileCount).toBe(22);
    expect(j.kinds).toMatchObject({ raw: 16, baseless: 1, file: 5 });
  });
});

describe('inspect: <customInformation> without PSFX fields', () => {
  const mum = (ci: string): string => `<?xml version="1.0" encoding="utf-8"?>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3" manifestVersion="1.0">
  <assemblyIdentity name="Package_for_KB5099003" version="10.0.19041.1" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35"/>
  <package identifier="KB5099003" releaseType="Update">${ci}
    <update name="main"><component><assemblyIdentity name="x-main" version="10.0.19041.1" processorArchitecture="amd64" language="neutral" publicKeyToken="31bf3856ad364e35" versionScope="nonSxS"/></component></update>
  </package>
</assembly>
`;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'msu-inspect-ci-'));
    const cab = (ci: string): Uint8Array => buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'update.mum', data: Buffer.from(mum(ci)) }] }] });
    await writeFile(path.join(dir, 'plain.cab'), cab('<customInformation><file name="x.dll" /></customInformation>'));
    await writeFile(path.join(dir, 'psfx.cab'), cab('<customInformation PackageFormat="PSFX" PSFXVersion="3.0" />'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('prints no empty PSFX line and no empty "psfx" object', async () => {
    const text = await runCli('inspect', path.join(dir, 'plain.cab'));
    expect(text.code).toBe(0);
    expect(text.stdout).not.toMatch(/PSFX:/);
    const json = await runCli('inspect', path.join(dir, 'plain.cab'), '--json');
    expect(json.stdout).not.toContain('"psfx"');
    // a package that does carry PSFX fields still shows them
    const psfx = await runCli('inspect', path.join(dir, 'psfx.cab'));
    expect(psfx.stdout).toMatch(/ {2}PSFX: packageFormat=PSFX psfxVersion=3\.0\n/);
  });
});
