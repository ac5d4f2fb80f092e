/**
 * `msu list` and `msu extract` on a WIM-based MSU: the outer members come from the WIM's
 * image, a cabinet member (the SSU) opens in place with --inner, and extraction goes through
 * wimlib with the same guarantees (member filters, nothing partial, names as listed).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCabinet } from '../../src/cab/writer.js';
import { extractCabinet, listCabinet } from '../../src/msu/extract.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { captureWim, wimBytes } from '../helpers/wim-msu.js';

const wimlib = hasTool('wimlib-imagex');
if (!wimlib) skipNote('list/extract of WIM-based MSUs', 'wimlib-imagex');

describe.skipIf(!wimlib)('list and extract a WIM-based MSU', () => {
  let dir: string;
  let msu: string;
  const ssu = buildCabinet({ folders: [{ compression: 'mszip', files: [{ name: 'update.mum', data: Buffer.from('<assembly/>') }, { name: 'update.cat', data: Buffer.from('cat') }] }] });
  const payload = Buffer.alloc(300_000, 7);
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'msu-wimlist-'));
    msu = path.join(dir, 'windows11.0-kb5099999-x64.msu');
    await captureWim(msu, { 'SSU-26100.4000-x64.cab': ssu, 'Windows11.0-KB5099999-x64.wim': payload, 'Windows11.0-KB5099999-x64.psf': Buffer.from('psf') });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists the members of the outer WIM, stored in place', async () => {
    expect(await listCabinet(msu)).toEqual([
      { name: 'SSU-26100.4000-x64.cab', size: ssu.length, modified: null, compression: 'None', folder: 0 },
      { name: 'Windows11.0-KB5099999-x64.psf', size: 3, modified: null, compression: 'None', folder: 0 },
      { name: 'Windows11.0-KB5099999-x64.wim', size: payload.length, modified: null, compression: 'None', folder: 0 },
    ]);
  });

  it('--inner opens the SSU cabinet inside it', async () => {
    expect((await listCabinet(msu, 'SSU-26100.4000-x64.cab')).map((m) => m.name)).toEqual(['update.mum', 'update.cat']);
    const out = path.join(dir, 'ssu');
    await extractCabinet(msu, out, { inner: 'SSU-26100.4000-x64.cab', members: ['update.mum'] });
    expect(await readFile(path.join(out, 'update.mum'), 'utf8')).toBe('<assembly/>');
  });

  it('extracts chosen members byte for byte; no match is a usage error and writes nothing', async () => {
    const out = path.join(dir, 'out');
    const r = await extractCabinet(msu, out, { members: ['*.cab', '*.WIM'] });
    expect(r.files.map((f) => f.name)).toEqual(['SSU-26100.4000-x64.cab', 'Windows11.0-KB5099999-x64.wim']);
    expect(r.bytes).toBe(ssu.length + payload.length);
    expect((await readdir(out)).sort()).toEqual(['SSU-26100.4000-x64.cab', 'Windows11.0-KB5099999-x64.wim']);
    expect(Buffer.compare(await readFile(path.join(out, 'SSU-26100.4000-x64.cab')), Buffer.from(ssu))).toBe(0);
    const none = path.join(dir, 'none');
    await expect(extractCabinet(msu, none, { members: ['*.exe'] })).rejects.toThrow('no member matches "*.exe"');
    expect(existsSync(none)).toBe(false);
  });

  it('CLI: list --json and extract', async () => {
    const l = await runCli('list', msu, '--json');
    expect(l.code).toBe(0);
    expect(JSON.parse(l.stdout).members.map((m: { name: string }) => m.name)).toContain('Windows11.0-KB5099999-x64.psf');
    const x = await runCli('extract', msu, '-d', path.join(dir, 'cli'), '*.psf');
    expect(x.code).toBe(0);
    expect(await readFile(path.join(dir, 'cli', 'Windows11.0-KB5099999-x64.psf'), 'utf8')).toBe('psf');
  });
});

describe.skipIf(!wimlib)('list and extract the payload .wim of a WIM-based MSU (--inner)', () => {
  let dir: string;
  let msu: string;
  const tree: Record<string, string | Uint8Array> = {
    'update.mum': '<assembly manifestVersion="1.0"/>',
    'amd64_a_31bf3856ad364e35_10.0.26100.1_none_1.manifest': 'manifest a',
    'sub\\deep.txt': 'deep file',
    'pad.bin': new Uint8Array(4 << 20).fill(3),
  };
  const leftovers = async (): Promise<string[]> => (await readdir(os.tmpdir())).filter((n) => n.startsWith('msu-inner-wim-'));
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'msu-wiminner-'));
    msu = path.join(dir, 'windows11.0-kb5099999-x64.msu');
    await captureWim(msu, { 'Windows11.0-KB5099999-x64.wim': await wimBytes(dir, tree), 'Windows11.0-KB5099999-x64.psf': Buffer.from('psf') });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('lists the files of the payload image, and extracts the chosen ones byte for byte', async () => {
    const before = await leftovers();
    const listed = await listCabinet(msu, 'windows11.0-kb5099999-x64.WIM');
    expect(listed.map((m) => [m.name, m.size])).toEqual([
      ['amd64_a_31bf3856ad364e35_10.0.26100.1_none_1.manifest', 10], ['pad.bin', 4 << 20], ['sub/deep.txt', 9], ['update.mum', 33],
    ]);
    const out = path.join(dir, 'out');
    const r = await extractCabinet(msu, out, { inner: 'Windows11.0-KB5099999-x64.wim', members: ['update.mum', 'sub\\*'] });
    expect(r.files).toEqual([{ name: 'sub/deep.txt', size: 9 }, { name: 'update.mum', size: 33 }]);
    expect(await readFile(path.join(out, 'update.mum'), 'utf8')).toBe(tree['update.mum']);
    expect(await readFile(path.join(out, 'sub', 'deep.txt'), 'utf8')).toBe('deep file');
    expect((await readdir(out)).sort()).toEqual(['sub', 'update.mum']);
    expect(await leftovers()).toEqual(before);
  });

  it('CLI: list --inner --json; no match is a usage error writing nothing; a payload that is not a WIM is named in one line', async () => {
    const l = await runCli('list', msu, '--inner', 'Windows11.0-KB5099999-x64.wim', '--json');
    expect(l.code).toBe(0);
    expect(JSON.parse(l.stdout)).toMatchObject({ inner: 'Windows11.0-KB5099999-x64.wim', members: [{ name: 'amd64_a_31bf3856ad364e35_10.0.26100.1_none_1.manifest' }, { name: 'pad.bin' }, { name: 'sub/deep.txt' }, { name: 'update.mum' }] });
    const none = path.join(dir, 'none');
    const x = await runCli('extract', msu, '--inner', 'Windows11.0-KB5099999-x64.wim', '*.exe', '-d', none);
    expect([x.code, x.stderr]).toEqual([2, `msu: ${msu}: no member matches "*.exe"\n`]);
    expect(existsSync(none)).toBe(false);
    const missing = await runCli('list', msu, '--inner', 'nope.wim');
    expect([missing.code, missing.stderr]).toEqual([2, `msu: ${msu}: no member named "nope.wim"\n`]);
    // a member named .wim that holds no WIM
    const fake = path.join(dir, 'fake.msu');
    await captureWim(fake, { 'Windows11.0-KB5099999-x64.wim': Buffer.alloc(300_000, 7) });
    const bad = await runCli('list', fake, '--inner', 'Windows11.0-KB5099999-x64.wim');
    expect(bad.code).toBe(3);
    expect(bad.stderr.startsWith(`msu: ${fake}!Windows11.0-KB5099999-x64.wim: `)).toBe(true);
    expect(bad.stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});
