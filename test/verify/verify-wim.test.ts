import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCabinet } from '../../src/cab/writer.js';
import { formatVerifyReport, verifyPackage, type VerifyCheck, type VerifyPackageSummary } from '../../src/verify/index.js';
import { MsuError, ToolError } from '../../src/errors.js';
import { pseudoRandom } from '../../src/msu/synthetic.js';
import { loadContainerIndex } from '../../src/msu/load-index.js';
import { buildPlan } from '../../src/plan/plan.js';
import { catalogOf } from '../helpers/catalog.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { captureWim, wimBytes, type TreeFiles } from '../helpers/wim-msu.js';
import { componentManifest, packageMum, PKT, removeDir, tempDir } from '../plan/fixtures.js';
import { keyform } from '../../src/cbs/keyform.js';

const wimlib = hasTool('wimlib-imagex');
if (!wimlib) skipNote('msu verify on WIM-based MSUs', 'wimlib-imagex');

const KB = 'KB5099999';
const PAYLOAD = `Windows11.0-${KB}-x64.wim`;
const PSF = `Windows11.0-${KB}-x64.psf`;
const SSU = 'SSU-26100.1000-x64.cab';
// the component update.mum installs: its folder name is the keyform of its identity, as in real packages
const COMP = keyform({ name: 'Microsoft-Windows-Test-Comp', version: '10.0.26100.2000', processorArchitecture: 'amd64', language: 'neutral', publicKeyToken: PKT, versionScope: 'nonSxS' });
const MANIFEST = `${COMP}.manifest`;
const DLL = `${COMP}\\test.dll`;

const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest();
const DLL_BYTES = pseudoRandom('test.dll', 3000);
/** The same bytes with one bit pattern inverted. */
const flipped = (b: Uint8Array, at: number): Uint8Array => {
  const c = Uint8Array.from(b);
  c[at] = c[at]! ^ 0xff;
  return c;
};


/** Container index: test.dll stored RAW in the package, big.dll a delta addressed by PSF byte range. */
function cix(dll: Uint8Array): string {
  const h = sha256(dll).toString('hex');
  return `<?xml version="1.0" encoding="utf-8"?>
<Container xmlns="urn:ContainerIndex" name="express" type="PSF" length="4096" version="1.0">
  <Files>
    <File id="1" name="${DLL}" length="${dll.length}" time="133000000000000000" attr="32">
      <Hash alg="SHA256" value="${h}"/>
      <Delta><Source type="RAW" name="${DLL}"><Hash alg="SHA256" value="${h}"/></Source></Delta>
    </File>
    <File id="2" name="${COMP}\\big.dll" length="5000">
      <Hash alg="SHA256" value="${sha256('big').toString('hex')}"/>
      <Delta><Source type="PA30" offset="0" length="100"><Hash alg="SHA256" value="${sha256('delta').toString('hex')}"/></Source></Delta>
    </File>
  </Files>
</Container>
`;
}

interface Variant {
  /** Change a manifest byte after the catalog was made. */
  tamperManifest?: boolean;
  /** Change a byte of the RAW file after the cix was made. */
  tamperDll?: boolean;
  /** Outer member compression: 'none' keeps members in place, like Microsoft's. */
  compress?: 'none' | 'LZX';
  /** Replace the payload .wim member with these bytes. */
  payload?: Uint8Array;
  /** Add a file of this many bytes to the payload, stored uncompressed (a payload of several copy chunks). */
  padding?: number;
}

/** The files of the payload .wim: update.mum, a component manifest, its file, a catalog, a cix. */
async function payloadTree(v: Variant = {}): Promise<TreeFiles> {
  const dll = DLL_BYTES;
  const mum = packageMum({ name: 'Package_for_RollupFix', version: '10.0.26100.2000', kb: KB, releaseType: 'Security Update', component: { name: 'Microsoft-Windows-Test-Comp', version: '10.0.26100.2000' } });
  const manifest = componentManifest('test.dll', dll, { name: 'Microsoft-Windows-Test-Comp', version: '10.0.26100.2000' });
  return {
    'update.mum': mum,
    'update.cat': catalogOf({ 'update.mum': mum, [MANIFEST]: manifest }),
    [MANIFEST]: v.tamperManifest ? manifest.replace('buildType="release"', 'buildType="rele4se"') : manifest,
    [DLL]: v.tamperDll ? flipped(dll, 100) : dll,
    'express.psf.cix.xml': cix(dll),
    ...(v.padding ? { 'pad.bin': pseudoRandom('pad', v.padding) } : {}),
  };
}

/** A WIM MSU: the payload .wim (payloadTree), a .psf, an SSU cab. */
async function buildWimMsu(dir: string, file: string, v: Variant = {}): Promise<string> {
  const tree = await payloadTree(v);
  const ssuMum = packageMum({ name: 'Package_for_ServicingStack', version: '10.0.26100.1000', kb: 'KB5099998', component: null });
  const out = path.join(dir, file);
  await captureWim(out, {
    [PAYLOAD]: v.payload ?? await wimBytes(dir, tree, { compress: v.padding ? 'none' : 'LZX' }),
    [PSF]: pseudoRandom('psf', 4096),
    [SSU]: buildCabinet({ folders: [{ compression: 'mszip', files: [
      { name: 'update.mum', data: Buffer.from(ssuMum) },
      { name: 'update.cat', data: catalogOf({ 'update.mum': ssuMum }) },
    ] }] }),
  }, { compress: v.compress ?? 'none' });
  return out;
}

const EXPECTED: VerifyPackageSummary[] = [
  // the hand-made catalogs are unsigned: not checked, not a mismatch
  { member: SSU, container: 'cabinet', catalogs: 1, catalogEntries: 1, signatures: { intact: 0, broken: 0, unsigned: 1 }, counts: { verified: 2, mismatch: 0, notChecked: 1 } },
  // big.dll: its PA30 source lies in the .psf, which verify does not read.
  { member: PAYLOAD, container: 'payload WIM', catalogs: 1, catalogEntries: 2, signatures: { intact: 0, broken: 0, unsigned: 1 }, counts: { verified: 5, mismatch: 0, notChecked: 2 } },
];
const PSF_NOTE = `${PSF}: not read; container index sources addressed by PSF byte range are not checked`;
const row = (c: VerifyCheck): string[] => [c.file, c.check, c.outcome, c.reason ?? ''];

let dir: string;
let good: string;
/** Injected temp root: must be empty again after every verify, pass or fail. */
let scratch: string;

beforeAll(async () => {
  dir = await tempDir('msu-vwim-');
  scratch = path.join(dir, 'scratch');
  await mkdir(scratch);
  if (wimlib) good = await buildWimMsu(dir, `windows11.0-${KB.toLowerCase()}-x64.msu`);
});
afterAll(async () => removeDir(dir));

const leftovers = async (): Promise<string[]> => (await readdir(os.tmpdir())).filter((n) => n.startsWith('msu-verify-wim-'));

describe.skipIf(!wimlib)('verify a WIM-based MSU', () => {
  it('checks the SSU cab and the extracted payload WIM, and leaves no temp directory', async () => {
    const r = await verifyPackage(good, { tempRoot: scratch });
    expect(r.mismatches).toEqual([]);
    expect(r.outcome).toBe('not-checked');
    expect(r.file).toBe(`windows11.0-${KB.toLowerCase()}-x64.msu`);
    expect(r.packages).toEqual(EXPECTED);
    const W = `${PAYLOAD}!`;
    expect(r.checks.map(row)).toEqual([
      [`[windows11.0-${KB.toLowerCase()}-x64.msu]`, 'wim-integrity', 'verified', ''],
      [`${SSU}![folder 0]`, 'cabinet-data', 'verified', ''],
      [`${SSU}!update.cat`, 'catalog-signature', 'not-checked', 'catalog-unsigned'],
      [`${SSU}!update.mum`, 'catalog-member', 'verified', ''],
      [`${W}[WIM]`, 'wim-integrity', 'verified', ''],
      [`${W}${MANIFEST}`, 'catalog-member', 'verified', ''],
      [`${W}${COMP}\\big.dll`, 'cix-file-hash', 'not-checked', 'psf-not-read'],
      [`${W}${DLL}`, 'cix-file-hash', 'verified', ''],
      [`${W}${DLL}`, 'cix-source-hash', 'verified', ''],
      [`${W}${DLL}`, 'payload-hash', 'verified', ''],
      [`${W}update.cat`, 'catalog-signature', 'not-checked', 'catalog-unsigned'],
      [`${W}update.mum`, 'catalog-member', 'verified', ''],
    ]);
    expect(r.notes).toEqual([PSF_NOTE]);
    expect(await readdir(scratch)).toEqual([]);
    expect(formatVerifyReport(r)).toContain(`  ${PAYLOAD} (payload WIM): 1 catalog(s), 0 with an intact signature; 5 verified, 0 mismatch, 2 not checked`);
  });

  it('reads members the outer WIM stores compressed the same way', async () => {
    const file = await buildWimMsu(dir, 'lzx.msu', { compress: 'LZX' });
    const r = await verifyPackage(file, { tempRoot: scratch });
    expect(r.outcome).toBe('not-checked');
    expect(r.packages).toEqual(EXPECTED);
    expect(await readdir(scratch)).toEqual([]);
  });

  it('reports a changed manifest byte as a catalog-member mismatch named member!path', async () => {
    const file = await buildWimMsu(dir, 'manifest.msu', { tamperManifest: true });
    const r = await verifyPackage(file, { tempRoot: scratch });
    expect(r.outcome).toBe('mismatch');
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([[`${PAYLOAD}!${MANIFEST}`, 'catalog-member']]);
    expect(r.mismatches[0]!.detail).toContain("in the package's 1 catalog(s)");
    expect(r.packages[1]!.counts).toEqual({ verified: 4, mismatch: 1, notChecked: 2 });
    expect(r.packages[0]).toEqual(EXPECTED[0]);
  });

  it('reports a RAW source whose bytes differ from its cix hashes', async () => {
    const file = await buildWimMsu(dir, 'raw.msu', { tamperDll: true });
    const r = await verifyPackage(file, { tempRoot: scratch });
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([
      [`${PAYLOAD}!${DLL}`, 'cix-file-hash'], [`${PAYLOAD}!${DLL}`, 'cix-source-hash'], [`${PAYLOAD}!${DLL}`, 'payload-hash'],
    ]);
    const src = r.mismatches.find((m) => m.check === 'cix-source-hash')!;
    expect(src.expected).toBe(sha256(DLL_BYTES).toString('hex'));
    expect(src.actual).toBe(sha256(flipped(DLL_BYTES, 100)).toString('hex'));
    // The component manifest's hash is checked against the bytes too, not only against the cix.
    const payload = r.mismatches.find((m) => m.check === 'payload-hash')!;
    expect(payload.expected).toBe(sha256(DLL_BYTES).toString('hex'));
  });

  it('a corrupt payload WIM is a wim-integrity mismatch naming FILE!member, its files not read; cleaned up', async () => {
    const junk = Buffer.concat([Buffer.from('MSWIM\0\0\0'), pseudoRandom('junk', 4000)]);
    const file = await buildWimMsu(dir, 'badwim.msu', { payload: junk });
    const r = await verifyPackage(file, { displayName: 'badwim.msu', tempRoot: scratch });
    expect(r.mismatches.map(row)).toEqual([[`${PAYLOAD}![WIM]`, 'wim-integrity', 'mismatch', '']]);
    expect(r.mismatches[0]!.detail).toMatch(/^wimlib-imagex verify: invalid WIM: .*\(wimlib error \d+\)$/);
    expect(r.mismatches[0]!.detail).not.toContain(scratch);
    expect(r.packages.map((p) => p.member)).toEqual([SSU]);
    expect(await readdir(scratch)).toEqual([]);
    const cli = await runCli('verify', file);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`MISMATCH wim-integrity: ${PAYLOAD}![WIM]: wimlib-imagex verify: invalid WIM`);
  });

  it('a flipped byte inside the outer WIM is a wim-integrity mismatch', async () => {
    const bytes = Buffer.from(await readFile(good));
    // The SSU cab is stored in place: flip a byte of it, so a blob's SHA-1 no longer matches.
    const at = bytes.indexOf(Buffer.from('MSCF'));
    expect(at).toBeGreaterThan(0);
    bytes[at + 200] ^= 0xff;
    await writeFile(path.join(dir, 'flipped.msu'), bytes);
    const r = await verifyPackage(path.join(dir, 'flipped.msu'), { tempRoot: scratch });
    expect(r.mismatches.map(row)).toEqual([['[flipped.msu]', 'wim-integrity', 'mismatch', '']]);
    expect(r.outcome).toBe('mismatch');
    expect(await readdir(scratch)).toEqual([]);
  });

  it('CLI: --json exits 0 on a good WIM MSU and 1 on a mismatch, without leaving temp directories', async () => {
    const before = await leftovers();
    const ok = await runCli('verify', good, '--json', '--allow-unchecked');
    expect(ok.code).toBe(0);
    const j = JSON.parse(ok.stdout);
    expect(j.outcome).toBe('not-checked');
    expect(j.packages).toEqual(EXPECTED);
    expect((await runCli('verify', good)).code).toBe(8);
    expect(ok.stdout).not.toContain(os.tmpdir());
    const bad = await runCli('verify', path.join(dir, 'manifest.msu'), '--json');
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).mismatches.map((m: { file: string }) => m.file)).toEqual([`${PAYLOAD}!${MANIFEST}`]);
    expect(await leftovers()).toEqual(before);
  });
});

describe('verify a WIM-based MSU without wimlib-imagex', () => {
  it('fails with a ToolError naming the Debian package', async () => {
    const file = path.join(dir, 'nowimlib.msu');
    await writeFile(file, Buffer.concat([Buffer.from('MSWIM\0\0\0'), Buffer.alloc(200)]));
    const empty = path.join(dir, 'empty-path');
    await mkdir(empty, { recursive: true });
    const saved = process.env['PATH'];
    process.env['PATH'] = empty;
    let err: unknown;
    try {
      err = await verifyPackage(file, { displayName: 'nowimlib.msu', tempRoot: scratch }).catch((e: unknown) => e);
    } finally {
      process.env['PATH'] = saved;
    }
    expect(err).toBeInstanceOf(ToolError);
    expect((err as ToolError).code).toBe('E_TOOL_MISSING');
    expect((err as ToolError).describe()).toBe('nowimlib.msu: wimlib-imagex is not installed (Debian/Ubuntu: apt-get install wimtools)');
    expect(await readdir(scratch)).toEqual([]);
  });
});

describe.skipIf(!wimlib)('the payload .wim handed to wimlib-imagex: what is copied, with progress', () => {
  type Copy = { member: string; done: number; total: number };
  /**
   * The copies reported: each a run of events for the payload from 0 to its total, never going
   * back. Returns the totals, in order.
   */
  const copies = (seen: Copy[]): number[] => {
    expect(new Set(seen.map((p) => p.member))).toEqual(new Set([PAYLOAD]));
    const totals: number[] = [];
    seen.forEach((p, i) => {
      expect(p.done).toBeLessThanOrEqual(p.total);
      if (p.done === 0 && (i === 0 || seen[i - 1]!.done === seen[i - 1]!.total)) totals.push(p.total);
      else expect([p.total, p.done >= seen[i - 1]!.done]).toEqual([totals.at(-1), true]);
    });
    expect(seen.at(-1)!.done).toBe(seen.at(-1)!.total);
    return totals;
  };
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
  const payloadSize = async (file: string): Promise<number> =>
    (await (await import('../../src/wim/streams.js')).wimDirDetailed(file, 1)).find((e) => e.path === `/${PAYLOAD}`)!.size;

  it('inspect, deltas, expand and plan copy only the WIM structures and the files they read; verify copies it whole; all report progress', async () => {
    // 17 MiB stored in place: the payload is far larger than what a listing needs
    const file = await buildWimMsu(dir, 'big.msu', { padding: 17 << 20 });
    const { inspectFile } = await import('../../src/msu/inspect.js');
    const size = await payloadSize(file);
    expect(size).toBeGreaterThan(17 << 20);

    const inspected: Copy[] = [];
    const report = await inspectFile(file, { onProgress: (p) => inspected.push(p) });
    expect(report.packages.find((p) => p.member === PAYLOAD)).toMatchObject({ kb: KB, class: 'lcu', counts: { files: 6, mum: 1, manifests: 1, catalogs: 1, cix: 1, other: 2 } });
    // the WIM structures, then the resource of update.mum
    expect(copies(inspected)).toHaveLength(2);
    expect(sum(copies(inspected))).toBeLessThan(64 << 10);
    const loaded: Copy[] = [];
    expect((await loadContainerIndex(file, { onProgress: (p) => loaded.push(p) })).cix.files).toHaveLength(2);
    expect(sum(copies(loaded))).toBeLessThan(64 << 10);
    const planned: Copy[] = [];
    await buildPlan({ inputs: ['big.msu'], drivers: [], target: { build: '10.0.26100.1800', arch: 'amd64' }, cwd: dir,
      onProgress: (p) => p.phase === 'inspect' && p.total !== undefined && planned.push({ member: PAYLOAD, done: p.done!, total: p.total }) });
    expect(copies(planned)).toEqual(copies(inspected));
    // verify checks every byte: the whole member, in 8 MiB chunks
    const verified: Copy[] = [];
    await verifyPackage(file, { tempRoot: scratch, onProgress: (p) => p.step === 'copy' && verified.push(p) });
    expect(copies(verified)).toEqual([size]);
    expect(verified.length).toBeGreaterThanOrEqual(4);

    const { main } = await import('../../src/cli/main.js');
    const { Terminal, TermStream } = await import('../helpers/terminal.js');
    for (const command of ['inspect', 'deltas']) {
      const term = new Terminal();
      const out = new TermStream(term, true), err = new TermStream(term, true);
      expect(await main(['node', 'msu', command, file], out, err)).toBe(0);
      expect(err.chunks.join('')).toContain(`copying ${PAYLOAD} for wimlib-imagex 0%`);
      expect(term.screen.some((row) => row.startsWith('copying'))).toBe(false);
    }
    // the same report as from a whole copy of the payload: the one a compressed outer WIM gives
    const whole = await buildWimMsu(dir, 'big-lzx.msu', { padding: 17 << 20, compress: 'LZX' });
    const wholeCopies: Copy[] = [];
    const wholeReport = await inspectFile(whole, { onProgress: (p) => wholeCopies.push(p) });
    expect(copies(wholeCopies)).toEqual([size]);
    expect(wholeReport.packages).toEqual(report.packages);
  });

  it('a solid payload (LZMS, as in an ESD): only the chunks holding the files read are copied', async () => {
    const tree = await payloadTree();
    // 1 MiB chunks: the padding fills several, and update.mum sits in one of them
    const solid = await wimBytes(dir, { ...tree, 'pad.bin': pseudoRandom('pad', 3 << 20) }, { solid: true, solidChunkSize: 1 << 20 });
    const file = await buildWimMsu(dir, 'solid.msu', { payload: solid });
    const { inspectFile } = await import('../../src/msu/inspect.js');
    const seen: Copy[] = [];
    const r = await inspectFile(file, { onProgress: (p) => seen.push(p) });
    expect(r.packages.find((p) => p.member === PAYLOAD)).toMatchObject({ kb: KB, class: 'lcu' });
    expect(copies(seen)).toHaveLength(2);
    expect(sum(copies(seen))).toBeLessThan(2 << 20);
    const c = await loadContainerIndex(file);
    expect(c.cix.files.map((f) => f.id)).toEqual([1, 2]);
  });

  it('a payload whose structures this view cannot use is copied whole, and wimlib-imagex judges it as before', async () => {
    const { inspectFile } = await import('../../src/msu/inspect.js');
    // not a WIM at all: the whole member is copied and wimlib says what is wrong with it
    const notWim = await buildWimMsu(dir, 'notwim.msu', { payload: pseudoRandom('x', 300_000) });
    const seen: Copy[] = [];
    const err = await inspectFile(notWim, { onProgress: (p) => seen.push(p) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).describe()).toContain(`notwim.msu!${PAYLOAD}`);
    expect(copies(seen)).toEqual([300_000]);
    // the error names the member, not the temp copy wimlib was given
    const viaDeltas = await loadContainerIndex(notWim).catch((e: unknown) => e);
    expect(viaDeltas).toBeInstanceOf(MsuError);
    expect((viaDeltas as MsuError).file).toBe(`${notWim}!${PAYLOAD}`);
    // a WIM whose metadata resource was damaged after the blob table was written: the view
    // opens, wimlib fails on it, and the whole copy gives wimlib's own verdict
    const good = await wimBytes(dir, await payloadTree(), { compress: 'LZX' });
    const { parseWimHeader, parseBlobTable, RESHDR_FLAG_METADATA } = await import('../../src/wim/header.js');
    const h = parseWimHeader(good);
    const meta = parseBlobTable(good.subarray(h.blobTable.offset, h.blobTable.offset + h.blobTable.size)).find((x) => x.flags & RESHDR_FLAG_METADATA)!;
    const bad = Uint8Array.from(good);
    for (let i = 0; i < Math.min(64, meta.size); i++) bad[meta.offset + i] ^= 0x5a;
    const damaged = await buildWimMsu(dir, 'damaged.msu', { payload: bad });
    const seen2: Copy[] = [];
    const err2 = await inspectFile(damaged, { onProgress: (p) => seen2.push(p) }).catch((e: unknown) => e);
    expect(err2).toBeInstanceOf(MsuError);
    expect((err2 as MsuError).describe()).toContain(`damaged.msu!${PAYLOAD}`);
    expect(copies(seen2).at(-1)).toBe(bad.length);
  });
});

describe.skipIf(!wimlib)('msu deltas on a WIM-based MSU', () => {
  const cixLeftovers = async (): Promise<string[]> => (await readdir(os.tmpdir())).filter((n) => n.startsWith('msu-cix-'));

  it('reads the cix out of the payload WIM, with the size of the .psf beside it, and leaves no temp copy', async () => {
    const before = await cixLeftovers();
    const r = await loadContainerIndex(good);
    expect(r.origin).toBe(`${good}!${PAYLOAD}!express.psf.cix.xml`);
    expect(r.psfSize).toBe(4096);
    expect(r.cix.files.map((f) => f.id)).toEqual([1, 2]);
    expect(await cixLeftovers()).toEqual(before);
    const cli = await runCli('deltas', good, '--json');
    expect(cli.code).toBe(0);
    const j = JSON.parse(cli.stdout) as { files: unknown[] };
    expect(j.files).toHaveLength(2);
  });
});

describe.skipIf(!wimlib)('msu plan with a WIM-based MSU', () => {
  const LCU = 'Package_for_RollupFix~31bf3856ad364e35~amd64~~10.0.26100.2000';
  const SSU_ID = 'Package_for_ServicingStack~31bf3856ad364e35~amd64~~10.0.26100.1000';
  it('reads its SSU and LCU (input named relative to the working directory) and orders them', async () => {
    const plan = await buildPlan({ inputs: [path.basename(good)], drivers: [], target: { build: '10.0.26100.1800', arch: 'amd64' }, cwd: path.dirname(good) });
    expect(plan.inputs.map((i) => [i.path, i.kind, i.packages.map((p) => [p.class, p.member])])).toEqual([
      [path.basename(good), 'msu', [['lcu', PAYLOAD], ['ssu', SSU]]],
    ]);
    const adds = plan.images[0]!.steps.filter((s) => s.action === 'add-package').map((s) => s.items);
    expect(adds).toEqual([[SSU_ID], [LCU]]);
  });

  it('a 24H2 LCU for an image before the checkpoint is skipped, naming the checkpoint KB', async () => {
    const plan = await buildPlan({ inputs: [path.basename(good)], drivers: [], target: { build: '10.0.26100.1000', arch: 'amd64' }, cwd: path.dirname(good) });
    expect(plan.skipped).toMatchObject([{ item: LCU, reason: 'missing-checkpoint', detail: expect.stringContaining('needs checkpoint KB5043080') }]);
  });
});
