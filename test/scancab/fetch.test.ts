import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, stat, symlink, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { downloadAll, parseDownloadList } from '../../src/util/download.js';
import { buildScanCab } from '../helpers/scancab-build.js';
import { runCli } from '../helpers/cli.js';

const body = (name: string, n = 100_000) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + name.charCodeAt(0)) & 0xff;
  return b;
};
const sha1 = (b: Buffer) => createHash('sha1').update(b).digest('hex');
const FILES: Record<string, Buffer> = { 'good.msu': body('g'), 'wrong.msu': body('w'), 'trunc.msu': body('t'), 'stall.msu': body('s'), 'resume.msu': body('r'), 'race.msu': body('x') };
/** Where the server puts a file of "the user's" while it serves race.msu. */
let raceDest = '';

let server: http.Server;
let base = '';
const hits: Record<string, { range?: string }[]> = {};
let truncOnce = true;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    const name = (req.url ?? '/').slice(1);
    (hits[name] ??= []).push({ range: req.headers.range });
    const data = FILES[name];
    if (!data) { res.writeHead(404).end(); return; }
    if (name === 'race.msu' && raceDest) writeFileSync(raceDest, 'mine');
    if (name === 'wrong.msu') { res.writeHead(200, { 'Content-Length': data.length }).end(Buffer.from(data).fill(0, 0, 10)); return; }
    if (name === 'stall.msu') { res.writeHead(200, { 'Content-Length': data.length }); res.write(data.subarray(0, 1000)); return; } // never ends
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const from = m ? Number(m[1]) : 0;
    const part = data.subarray(from);
    res.writeHead(m ? 206 : 200, { 'Content-Length': part.length, ...(m ? { 'Content-Range': `bytes ${from}-${data.length - 1}/${data.length}` } : {}) });
    if (name === 'trunc.msu' && truncOnce) { truncOnce = false; res.write(part.subarray(0, 40_000), () => setTimeout(() => res.destroy(), 100)); return; }
    res.end(part);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const item = (name: string) => ({ name, sha1: sha1(FILES[name]!), url: `${base}/${name}`, size: FILES[name]!.length });
const tmpdir = () => mkdtemp(path.join(os.tmpdir(), 'fetch-'));

describe('verified downloads from a local server', () => {
  it('good file, wrong bytes, truncation resumed, stall: each handled, manifest lists only verified files', async () => {
    const dir = await tmpdir();
    const res = await downloadAll([item('good.msu'), item('wrong.msu'), item('trunc.msu'), item('stall.msu')], dir, { idleTimeoutMs: 300, retries: 1, concurrency: 2 });
    const st = Object.fromEntries(res.map((r) => [r.name, r.status]));
    expect(st).toEqual({ 'good.msu': 'downloaded', 'wrong.msu': 'failed', 'trunc.msu': 'downloaded', 'stall.msu': 'failed' });
    expect(res.find((r) => r.name === 'wrong.msu')!.error).toMatch(/SHA-1 .* expected .*deleted/);
    expect(res.find((r) => r.name === 'wrong.msu')!.code).toBe('E_FETCH_SHA1');
    expect(res.find((r) => r.name === 'stall.msu')!.error).toMatch(/no data for 300 ms/);
    expect(res.find((r) => r.name === 'stall.msu')!.code).toBe('E_FETCH_TIMEOUT');
    expect(await readFile(path.join(dir, 'good.msu'))).toEqual(FILES['good.msu']);
    expect(await readFile(path.join(dir, 'trunc.msu'))).toEqual(FILES['trunc.msu']);
    // the truncated transfer was resumed with a Range request, not restarted
    expect(hits['trunc.msu']!.map((h) => h.range)).toEqual([undefined, 'bytes=40000-']);
    const names = (await readdir(dir)).sort();
    expect(names).toContain('manifest.json');
    expect(names).not.toContain('wrong.msu');
    // wrong bytes are never kept, not even as a partial file
    const partial = await readdir(path.join(dir, '.msu-partial'));
    expect(partial).not.toContain(`${sha1(FILES['wrong.msu']!)}.part`);
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.files.map((f: { name: string }) => f.name)).toEqual(['good.msu', 'trunc.msu']);
    expect(manifest.files[0]).toEqual({ name: 'good.msu', sha1: sha1(FILES['good.msu']!), size: 100_000, url: `${base}/good.msu` });
  });

  it('resume from a partial file left by an earlier run; a file already present is not fetched again', async () => {
    const dir = await tmpdir();
    await mkdir(path.join(dir, '.msu-partial'));
    await writeFile(path.join(dir, '.msu-partial', `${sha1(FILES['resume.msu']!)}.part`), FILES['resume.msu']!.subarray(0, 12_345));
    await writeFile(path.join(dir, 'good.msu'), FILES['good.msu']!);
    const before = hits['good.msu']?.length ?? 0;
    const res = await downloadAll([item('resume.msu'), item('good.msu')], dir);
    expect(res.map((r) => r.status)).toEqual(['present', 'downloaded']);
    expect(hits['resume.msu']!.at(-1)!.range).toBe('bytes=12345-');
    expect(hits['good.msu']?.length ?? 0).toBe(before);
    expect(await readFile(path.join(dir, 'resume.msu'))).toEqual(FILES['resume.msu']);
  });

  it('never replaces a different file the user has, never follows a symlink', async () => {
    const dir = await tmpdir();
    await writeFile(path.join(dir, 'good.msu'), 'mine');
    const outside = await tmpdir();
    await symlink(path.join(outside, 'x'), path.join(dir, 'trunc.msu'));
    const res = await downloadAll([item('good.msu'), item('trunc.msu')], dir).catch((e) => e);
    expect(String(res.message ?? res[0]?.error)).toMatch(/already exists|not a regular file/);
    expect(await readFile(path.join(dir, 'good.msu'), 'utf8')).toBe('mine');
    expect(await readdir(outside)).toEqual([]);
  });

  it('a file the user puts there while it downloads is not replaced', async () => {
    const dir = await tmpdir();
    raceDest = path.join(dir, 'race.msu');
    try {
      const res = await downloadAll([item('race.msu')], dir);
      expect(res[0]).toMatchObject({ status: 'failed', code: 'E_FETCH_EXISTS', error: expect.stringMatching(/appeared .* while it was downloading; left as it is/) });
      expect(await readFile(raceDest, 'utf8')).toBe('mine');
      expect(await readdir(path.join(dir, '.msu-partial')).catch(() => [])).toEqual([]);
    } finally {
      raceDest = '';
    }
  });

  it('exit codes come from why a file failed: 1 for content that is not the declared one, 6 for a transfer that failed', async () => {
    const dir = await tmpdir();
    const list = path.join(dir, 'list.json');
    const out = path.join(dir, 'out');
    await mkdir(out);
    await writeFile(path.join(out, 'good.msu'), 'mine');
    await writeFile(list, JSON.stringify([item('good.msu')]));
    const exists = await runCli('fetch', list, '-d', out, '--json');
    expect(exists.code).toBe(1);
    expect(JSON.parse(exists.stdout).files[0]).toMatchObject({ status: 'failed', code: 'E_FETCH_EXISTS' });
    await writeFile(list, JSON.stringify([{ name: 'gone.msu', sha1: 'a'.repeat(40), url: `${base}/gone.msu` }]));
    const gone = await runCli('fetch', list, '-d', out, '--json');
    expect(gone.code).toBe(6);
    expect(JSON.parse(gone.stdout).files[0]).toMatchObject({ status: 'failed', code: 'E_FETCH_HTTP', error: expect.stringMatching(/HTTP 404/) });
    expect(await readFile(path.join(out, 'good.msu'), 'utf8')).toBe('mine');
  });

  it('download lists are untrusted', () => {
    expect(() => parseDownloadList([{ name: '../x', sha1: 'a'.repeat(40), url: 'http://h/x' }])).toThrow(/not a plain file name/);
    expect(() => parseDownloadList([{ name: 'x', sha1: 'nothex', url: 'http://h/x' }])).toThrow(/40 hex digits/);
    expect(() => parseDownloadList([{ name: 'x', sha1: 'a'.repeat(40), url: 'http://h/x', size: 1e300 }], 'l.json')).toThrow('entry 0: size must be a whole number of bytes, not 1e+300');
    expect(parseDownloadList([{ name: 'x', sha1: 'a'.repeat(40), url: 'http://h/x', size: 5 }])[0]!.size).toBe(5);
    expect(() => parseDownloadList([{ name: 'x', sha1: 'a'.repeat(40), url: 'file:///etc/passwd' }])).toThrow(/only http and https/);
    expect(() => parseDownloadList({})).toThrow(/array/);
  });

  it('msu fetch SCANCAB --rules: selects by rules, downloads, exit 1 on a SHA-1 mismatch', async () => {
    const dir = await tmpdir();
    const b64 = (n: string) => createHash('sha1').update(FILES[n]!).digest('base64');
    const gid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
    const cab = path.join(dir, 'WSUSSCAN.cab');
    await writeFile(cab, buildScanCab([
      { rev: 1, id: gid(1), kb: '1', payload: [{ name: 'good.msu', sha1b64: b64('good.msu'), size: 100_000, url: `${base}/good.msu` }] },
      { rev: 2, id: gid(2), kb: '2', payload: [{ name: 'wrong.msu', sha1b64: b64('wrong.msu'), size: 100_000, url: `${base}/wrong.msu` }] },
    ]));
    const rules = path.join(dir, 'rules.json');
    await writeFile(rules, JSON.stringify({ allow: ['KB1'] }));
    const out = path.join(dir, 'out');
    const r = await runCli('fetch', cab, '--rules', rules, '-d', out, '--cache-dir', path.join(dir, 'c'), '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).files).toEqual([{ name: 'good.msu', sha1: sha1(FILES['good.msu']!), size: 100_000, status: 'downloaded' }]);
    expect((await stat(path.join(out, 'good.msu'))).size).toBe(100_000);
    await writeFile(rules, JSON.stringify({ defaultAllow: true }));
    const r2 = await runCli('fetch', cab, '--rules', rules, '-d', out, '--cache-dir', path.join(dir, 'c'));
    expect(r2.code).toBe(1);
    expect(r2.stdout).toMatch(/present\s+good\.msu/);
    expect(r2.stderr).toMatch(/1 of 2 files not fetched/);
    const noRules = await runCli('fetch', cab, '-d', out);
    expect(noRules.code).toBe(2);
    // the limits the messages state are the limits applied
    for (const [opt, v] of [['--timeout', '0.5'], ['--timeout', '3601'], ['--timeout', 'x'], ['--jobs', '0'], ['--jobs', '65'], ['--jobs', '1.5']]) {
      const u = await runCli('fetch', cab, '--rules', rules, '-d', out, opt!, v!);
      expect([opt, v, u.code, u.stdout]).toEqual([opt, v, 2, '']);
      expect(u.stderr).toMatch(opt === '--timeout' ? /--timeout must be a number of seconds from 1 to 3600/ : /--jobs must be a whole number from 1 to 64/);
    }
  });
});
