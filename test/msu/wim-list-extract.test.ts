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
import { captureWim } from '../helpers/wim-msu.js';

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
