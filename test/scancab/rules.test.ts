import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildScanIndex, loadScanIndex, openScanIndex, parseScanRules, applyRules, ScanQuery, selectUpdates, ScanCabError, INDEX_VERSION } from '../../src/scancab/index.js';
import { MsuError } from '../../src/errors.js';
import { buildScanCab, buildScanCab2, fragments, packageXml, type FixtureUpdate } from '../helpers/scancab-build.js';
import { buildCabinet, type CabWriteFile } from '../../src/cab/writer.js';
import { runCli } from '../helpers/cli.js';

const gid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const PRODUCT = gid(0xa01), CLASS_SEC = gid(0xa02), CLASS_CRIT = gid(0xa03);
const b64 = (s: string) => createHash('sha1').update(s).digest('base64');

function fixture(): FixtureUpdate[] {
  const cats = (c: string) => [{ type: 'Product', id: PRODUCT }, { type: 'UpdateClassification', id: c }];
  return [
    { rev: 1, id: PRODUCT, type: 'Category', title: 'Windows 10' },
    { rev: 2, id: CLASS_SEC, type: 'Category', title: 'Security Updates' },
    { rev: 3, id: CLASS_CRIT, type: 'Category', title: 'Critical Updates' },
    // KB1001 superseded by KB1002, superseded by KB1003
    { rev: 10, id: gid(10), kb: '1001', severity: 'Important', categories: cats(CLASS_SEC), supersededBy: [11], payload: [{ name: 'a.msu', sha1b64: b64('a'), size: 1, url: 'http://127.0.0.1/a.msu' }] },
    { rev: 11, id: gid(11), kb: '1002', severity: 'Critical', categories: cats(CLASS_SEC), supersededBy: [12], payload: [{ name: 'b.msu', sha1b64: b64('b'), size: 1, url: 'http://127.0.0.1/b.msu' }] },
    { rev: 12, id: gid(12), kb: '1003', severity: 'Critical', categories: cats(CLASS_SEC), payload: [{ name: 'c.msu', sha1b64: b64('c'), size: 1, url: 'http://127.0.0.1/c.msu' }] },
    // a bundle with one leaf carrying the payload
    { rev: 20, id: gid(20), kb: '2001', categories: cats(CLASS_CRIT), bundle: true, prereqs: [PRODUCT] },
    { rev: 21, id: gid(21), bundledBy: [20], payload: [{ name: 'd.cab', sha1b64: b64('d'), size: 1, url: 'http://127.0.0.1/d.cab' }] },
    // supersedence cycle: 30 <-> 31
    { rev: 30, id: gid(30), kb: '3001', categories: cats(CLASS_CRIT), supersededBy: [31] },
    { rev: 31, id: gid(31), kb: '3002', categories: cats(CLASS_CRIT), supersededBy: [30] },
  ];
}

async function tmp(name: string, data: Uint8Array | string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'scancab-'));
  const f = path.join(dir, name);
  await writeFile(f, data);
  return f;
}

describe('scan cabinet queries and rules', () => {
  it('both forms give the same index; names, chains, bundles and payload resolve', async () => {
    const one = await buildScanIndex(await tmp('WSUSSCAN.cab', buildScanCab(fixture())));
    const two = await buildScanIndex(await tmp('wsusscn2.cab', buildScanCab2(fixture(), 3)));
    expect(one.form).toBe('single');
    expect(two.form).toBe('multi');
    expect(two.cabinets).toEqual(['package.cab', 'package2.cab', 'package3.cab', 'package4.cab']);
    expect(two.updates).toEqual(one.updates);
    const q = new ScanQuery(two);
    const v = q.view(q.byUpdate(gid(10))[0]!);
    expect(v.products).toEqual(['Windows 10']);
    expect(v.classifications).toEqual(['Security Updates']);
    expect(v.supersededBy.map((s) => s.kb)).toEqual(['1002', '1003']);
    expect(v.payload).toEqual([{ id: b64('a'), sha1: createHash('sha1').update('a').digest('hex'), name: 'a.msu', size: 1, url: 'http://127.0.0.1/a.msu' }]);
    const bundle = q.view(q.byUpdate(gid(20))[0]!);
    expect(bundle.bundles).toEqual([21]);
    expect(bundle.payload.map((p) => p.name)).toEqual(['d.cab']);
    // the cycle ends instead of looping
    expect(q.view(q.byUpdate(gid(30))[0]!).supersededBy.map((s) => s.revisionId)).toEqual([31]);
    expect(selectUpdates(q, {}).map((u) => u.kb)).toEqual(['1003', '2001']);
    expect(selectUpdates(q, { superseded: true, classification: 'security' }).map((u) => u.kb)).toEqual(['1001', '1002', '1003']);
    expect(selectUpdates(q, { kb: 'KB1001', superseded: true }).map((u) => u.revisionId)).toEqual([10]);
  });

  it('building an index reports each inner cabinet as it is read, cached or not; a cached index reports nothing', async () => {
    const f = await tmp('progress.cab', buildScanCab2(fixture(), 3));
    const want = [[0, 5, 'package.cab'], [1, 5, 'package.cab'], [2, 5, 'package2.cab'], [3, 5, 'package3.cab'], [4, 5, 'package4.cab']];
    const inMemory: unknown[] = [];
    await openScanIndex(f, { cacheDir: null, onProgress: (...a) => inMemory.push(a) });
    expect(inMemory).toEqual(want);
    const cache = path.join(path.dirname(f), 'progress-cache');
    const built: unknown[] = [];
    (await openScanIndex(f, { cacheDir: cache, onProgress: (...a) => built.push(a) })).close();
    expect(built).toEqual(want);
    const again: unknown[] = [];
    const o = await openScanIndex(f, { cacheDir: cache, onProgress: (...a) => again.push(a) });
    expect([o.fromCache, again]).toEqual([true, []]);
    o.close();
  });

  it('rules: forbid beats allow, superseded dropped with the superseding KB, severity and default', async () => {
    const q = new ScanQuery(await buildScanIndex(await tmp('s.cab', buildScanCab(fixture()))));
    const rules = parseScanRules({ defaultAllow: true, allow: ['KB1001'], forbid: ['kb1003', gid(20)], allowedSeverities: ['Critical'] });
    const d = Object.fromEntries(applyRules(q, rules).map((r) => [r.revisionId, `${r.selected} ${r.reason}`]));
    expect(d).toEqual({
      10: 'true allow KB1001',
      11: 'false superseded by KB1003 (revision 12)',
      12: 'false forbid KB1003',
      20: `false forbid ${gid(20)}`,
      30: 'false superseded by KB3002 (revision 31)',
      31: 'false superseded by KB3001 (revision 30)',
    });
    const d2 = applyRules(q, parseScanRules({ defaultAllow: true, includeSuperseded: true, allowedSeverities: ['Critical'], products: ['windows 10'] }));
    expect(d2.filter((r) => r.selected).map((r) => r.kb)).toEqual(['1002', '1003']);
    expect(d2.find((r) => r.kb === '2001')!.reason).toBe('severity Unspecified not in allowedSeverities');
    const d3 = applyRules(q, parseScanRules({ classifications: ['Critical'] }));
    expect(d3.every((r) => !r.selected)).toBe(true);
    expect(d3.find((r) => r.kb === '1003')!.reason).toBe('classification not in classifications');
    expect(d3.find((r) => r.kb === '2001')!.reason).toBe('not allowed (defaultAllow is false)');
  });

  it('rules files are untrusted: unknown keys and bad values fail clearly', () => {
    expect(() => parseScanRules({ defaultallow: true }, 'r.json')).toThrow(/unknown rules key "defaultallow"/);
    expect(() => parseScanRules({ allow: ['KB12; rm -rf'] })).toThrow(/neither a KB number nor an UpdateId/);
    expect(() => parseScanRules({ includeSuperseded: 'yes' })).toThrow(/true or false/);
    expect(() => parseScanRules([])).toThrow(/JSON object/);
    // a misspelt severity would reject every update: refused, and the known ones listed
    expect(() => parseScanRules({ allowedSeverities: ['Huge'] }, 'r.json')).toThrow('allowedSeverities: "Huge" is not an MSRC severity (Critical, Important, Moderate, Low, Unspecified)');
    expect(parseScanRules({ allowedSeverities: ['critical', ' Low '] }).allowedSeverities).toEqual(['Critical', 'Low']);
  });

  it('index cache: built once, keyed by SHA-256, read lazily by KB; a damaged cache is rebuilt', async () => {
    const file = await tmp('s.cab', buildScanCab(fixture()));
    const cacheDir = path.join(path.dirname(file), 'cache');
    const a = await loadScanIndex(file, { cacheDir });
    expect(a.fromCache).toBe(false);
    const sha = createHash('sha256').update(buildScanCab(fixture())).digest('hex');
    expect((await readdir(cacheDir)).sort()).toEqual([`${sha}.keys.bin`, `${sha}.ndjson`, "stat"]);
    const b = await loadScanIndex(file, { cacheDir });
    expect(b.fromCache).toBe(true);
    expect(b.updates).toEqual(a.updates);
    // a KB query on the cached index answers as the in-memory one does
    const o = await openScanIndex(file, { cacheDir });
    expect(o.fromCache).toBe(true);
    const lazy = new ScanQuery(o.source).view(new ScanQuery(o.source).byUpdate(gid(10))[0]!);
    const mem = new ScanQuery(a).view(new ScanQuery(a).byUpdate(gid(10))[0]!);
    expect(lazy).toEqual(mem);
    expect(selectUpdates(new ScanQuery(o.source), { kb: '2001' }).map((u) => u.revisionId)).toEqual([20]);
    expect(new ScanQuery(o.source).view(o.source.get(20)!).payload.map((p) => p.url)).toEqual(['http://127.0.0.1/d.cab']);
    o.close();
    await writeFile(path.join(cacheDir, `${sha}.keys.bin`), new Uint8Array([5, 0, 0, 0, 1]));
    const c = await loadScanIndex(file, { cacheDir });
    expect(c.fromCache).toBe(false);
    expect(c.updates).toEqual(a.updates);    // a keys.bin of another index version (an older layout) is rebuilt, not misread
    const keys = await readFile(path.join(cacheDir, `${sha}.keys.bin`));
    expect(keys.toString('latin1', 0, 8)).toBe('MSUSCKEY');
    keys.writeUInt32LE(INDEX_VERSION - 1, 8);
    await writeFile(path.join(cacheDir, `${sha}.keys.bin`), keys);
    const d = await loadScanIndex(file, { cacheDir });
    expect(d.fromCache).toBe(false);
    expect(d.updates).toEqual(a.updates);
    expect((await loadScanIndex(file, { cacheDir })).fromCache).toBe(true);
    // a truncated ndjson is rebuilt too; one damaged after it was opened is a clean error
    const nd = path.join(cacheDir, `${sha}.ndjson`);
    const lines = await readFile(nd);
    await writeFile(nd, lines.subarray(0, lines.length - 10));
    expect((await loadScanIndex(file, { cacheDir })).fromCache).toBe(false);
    const open = await openScanIndex(file, { cacheDir });
    expect(open.fromCache).toBe(true);
    await writeFile(nd, Buffer.from(lines.toString('latin1').replace(/"revisionId":20,/, '"revisionId":2,'), 'latin1'));
    expect(() => open.source.get(20)).toThrow(ScanCabError);
    open.close();
  });

  it('the index built into the cache (compact, streamed) equals the in-memory build, in both forms', async () => {
    for (const [name, bytes] of [['one.cab', buildScanCab(fixture())], ['two.cab', buildScanCab2(fixture(), 3)]] as const) {
      const file = await tmp(name, bytes);
      const cacheDir = path.join(path.dirname(file), 'cache');
      const mem = await buildScanIndex(file);
      const built = await loadScanIndex(file, { cacheDir, });
      expect(built.fromCache).toBe(false);
      expect(built.updates).toEqual(mem.updates);
      expect(built.fileLocations).toEqual(mem.fileLocations);
      expect({ ...built, updates: 0, fileLocations: 0, fromCache: 0 }).toEqual({ ...mem, updates: 0, fileLocations: 0, fromCache: 0 });
      // every KB and UpdateId lookup on disk answers as the in-memory index does, and unknown keys find nothing
      const o = await openScanIndex(file, { cacheDir });
      const q = new ScanQuery(o.source), m = new ScanQuery(mem);
      for (const u of mem.updates) {
        if (u.kb) expect(o.source.byKb(u.kb).map((x) => x.revisionId)).toEqual(m.source.byKb(u.kb).map((x) => x.revisionId));
        expect(q.byUpdate(u.updateId).map((x) => q.view(x))).toEqual(m.byUpdate(u.updateId).map((x) => m.view(x)));
        expect(o.source.bundled(u.revisionId)).toEqual(m.source.bundled(u.revisionId));
      }
      for (const kb of ['0', '1000', '10010', '3003', '99999999']) expect(o.source.byKb(kb)).toEqual([]);
      expect(o.source.byUpdateId(gid(99))).toEqual([]);
      expect(o.source.get(13)).toBeUndefined();
      expect(o.meta.names).toEqual({ [PRODUCT]: 'Windows 10', [CLASS_SEC]: 'Security Updates', [CLASS_CRIT]: 'Critical Updates' });
      o.close();
    }
  });
});

describe('hostile scan cabinets', () => {
  const codeOf = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (e) {
      expect(e).toBeInstanceOf(MsuError);
      return `${(e as MsuError).code}: ${(e as MsuError).message}`;
    }
    return 'no error';
  };

  it('entity expansion attempt: DTD refused', async () => {
    const xml = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><OfflineSyncPackage>&b;</OfflineSyncPackage>';
    expect(await codeOf(buildScanIndex(await tmp('e.cab', buildScanCab([], { xml }))))).toMatch(/E_XML: document type declarations are not allowed/);
    // without a DTD nothing is declared: a reference to an entity is malformed, not kept as text
    const undeclared = packageXml(fixture()).replace('<Updates>', '<Updates><!-- x --><Update RevisionId="999" UpdateId="&ext;"/>');
    expect(undeclared).toContain('&ext;');
    expect(await codeOf(buildScanIndex(await tmp('u.cab', buildScanCab([], { xml: undeclared }))))).toMatch(/E_XML: reference &ext; names no character or predefined entity/);
  });

  it('truncated package.xml: unclosed tag named', async () => {
    const xml = packageXml(fixture()).slice(0, 900);
    expect(await codeOf(buildScanIndex(await tmp('t.cab', buildScanCab([], { xml }))))).toMatch(/E_XML: malformed XML: (unclosed tag|the document ends inside markup)/);
  });

  it('truncated cabinet: clean error', async () => {
    const full = buildScanCab(fixture());
    expect(await codeOf(buildScanIndex(await tmp('t.cab', full.subarray(0, full.length - 200))))).toMatch(/truncated|runs past|ends at/);
  });

  it('not a scan cabinet, wrong root, bad RevisionId, duplicate revision', async () => {
    expect(await codeOf(buildScanIndex(await tmp('x.cab', buildScanCab2([], 0).subarray(0, 10))))).not.toBe('no error');
    const other = buildScanCab([], { xml: '<Something/>' });
    expect(await codeOf(buildScanIndex(await tmp('r.cab', other)))).toMatch(/E_SCANCAB: package.xml root is <Something>/);
    const bad = packageXml(fixture()).replace('RevisionId="10"', 'RevisionId="ten"');
    expect(await codeOf(buildScanIndex(await tmp('b.cab', buildScanCab([], { xml: bad }))))).toMatch(/RevisionId "ten" is not a number/);
    const dup = packageXml(fixture()).replace('RevisionId="11"', 'RevisionId="10"');
    expect(await codeOf(buildScanIndex(await tmp('d.cab', buildScanCab([], { xml: dup }))))).toMatch(/RevisionId 10 appears twice/);
  });

  it('bundle cycle and a hundred thousand tiny updates: correct answer in bounded time', async () => {
    const many: FixtureUpdate[] = [];
    for (let i = 0; i < 100_000; i++) many.push({ rev: 100 + i, id: gid(100 + i), bundle: true, bundledBy: [100 + ((i + 1) % 100_000)], supersededBy: [100 + ((i + 7) % 100_000)] });
    const xml = packageXml(many);
    const t = Date.now();
    const file = await tmp('m.cab', buildScanCab([], { xml }));
    const ix = await buildScanIndex(file);
    expect(ix.updates.length).toBe(100_000);
    const q = new ScanQuery(ix);
    // one bundle ring through every revision: each contains all the others, once
    expect(q.bundledRevisions(ix.updates[0]!).length).toBe(99_999);
    expect(q.supersedingChain(ix.updates[0]!).length).toBe(99_999);
    expect(Date.now() - t).toBeLessThan(60_000);    // the same through the cache, where every step is a lookup on disk
    const o = await openScanIndex(file, { cacheDir: path.join(path.dirname(file), 'cache') });
    expect(o.fromCache).toBe(false);
    const c = new ScanQuery(o.source);
    expect(c.bundledRevisions(o.source.get(100)!).length).toBe(99_999);
    expect(c.supersedingChain(o.source.get(100)!).map((u) => u.revisionId)).toEqual(q.supersedingChain(ix.updates[0]!).map((u) => u.revisionId));
    o.close();
    expect(Date.now() - t).toBeLessThan(60_000);
  });

  it('titles across cabinets and languages; 60,000 fragments of revisions package.xml lacks are ignored', async () => {
    const loc = (lang: string, rev: number) => ({ name: `localized\\${lang}\\${rev}`, data: new TextEncoder().encode(`<LocalizedProperties><Language>${lang}</Language><Title>${lang} ${rev}</Title></LocalizedProperties>`) });
    const us: FixtureUpdate[] = [{ rev: 10, id: gid(10), kb: '1' }, { rev: 11, id: gid(11), kb: '2' }, { rev: 12, id: gid(12), kb: '3' }];
    const [core10, ext10] = fragments(us[0]!), [core11, ext11] = fragments(us[1]!);
    const strays = Array.from({ length: 60_000 }, (_x, i) => loc('de', 1000 + i));
    const cab = (files: CabWriteFile[]) => buildCabinet({ folders: [{ compression: 'mszip', files }] });
    const bytes = buildCabinet({ folders: [{ compression: 'none', files: [
      { name: 'package.cab', data: cab([{ name: 'package.xml', data: new TextEncoder().encode(packageXml(us)) }]) },
      // rev 10: de here, en in the next cabinet (en wins); rev 11: zz here, fr and pt next (fr, first by name, wins)
      { name: 'package2.cab', data: cab([core10!, ext10!, loc('de', 10), loc('zz', 11), ...strays]) },
      { name: 'package3.cab', data: cab([core11!, ext11!, loc('pt', 11), loc('en', 10), loc('fr', 11), loc('de', 12)]) },
    ] }] });
    const file = await tmp('langs.cab', bytes);
    for (const ix of [await buildScanIndex(file), await loadScanIndex(file, { cacheDir: path.join(path.dirname(file), 'cache') })]) {
      expect(ix.updates.map((u) => [u.revisionId, u.title, u.updateType])).toEqual([[10, 'en 10', 'Software'], [11, 'fr 11', 'Software'], [12, 'de 12', undefined]]);
    }
  });

  it('CLI: one error line naming the file, exit code for bad input, no stack', async () => {
    const f = await tmp('bad.cab', buildScanCab([], { xml: '<!DOCTYPE x><x/>' }));
    const r = await runCli('scancab', f, '--no-cache');
    expect(r.code).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad\.cab.*document type declarations are not allowed/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  void ScanCabError;
});

describe('msu scancab', () => {
  it('--kb, --json and --rules', async () => {
    const f = await tmp('WSUSSCAN.cab', buildScanCab(fixture()));
    const cache = path.join(path.dirname(f), 'cache');
    const r = await runCli('scancab', f, '--cache-dir', cache, '--kb', '1001', '--superseded');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('KB1001  ' + gid(10));
    expect(r.stdout).toContain('superseded by: KB1002');
    expect(r.stdout).toContain(`file: a.msu  1 bytes  sha1 ${createHash('sha1').update('a').digest('hex')}  http://127.0.0.1/a.msu`);
    const j = await runCli('scancab', f, '--cache-dir', cache, '--json');
    const doc = JSON.parse(j.stdout);
    expect(doc.updates.map((u: { kb: string }) => u.kb)).toEqual(['1003', '2001']);
    expect(j.stdout).not.toContain(os.tmpdir());
    const rulesFile = path.join(path.dirname(f), 'rules.json');
    await writeFile(rulesFile, JSON.stringify({ defaultAllow: false, allow: ['KB2001'] }));
    const rr = await runCli('scancab', f, '--cache-dir', cache, '--rules', rulesFile, '--json');
    const sel = JSON.parse(rr.stdout).updates.map((u: { kb: string; rules: { selected: boolean; reason: string } }) => `${u.kb} ${u.rules.selected} ${u.rules.reason}`);
    expect(sel).toContain('2001 true allow KB2001');
    expect(sel).toContain('1001 false superseded by KB1002 (revision 11)');
    // KB with the prefix, any case, finds the same; a malformed --kb/--update is usage, not "0 shown"
    expect((await runCli('scancab', f, '--cache-dir', cache, '--kb', 'kb1001', '--superseded')).stdout).toBe(r.stdout);
    const bad = await runCli('scancab', f, '--cache-dir', cache, '--kb', 'abc');
    expect([bad.code, bad.stdout, bad.stderr]).toEqual([2, '', "msu: --kb takes a KB number (5034441 or KB5034441), not 'abc'\n"]);
    expect((await runCli('scancab', f, '--cache-dir', cache, '--update', 'nope')).code).toBe(2);
    await writeFile(rulesFile, JSON.stringify({ defaultAllow: true, allowedSeverities: ['Huge'] }));
    const sev = await runCli('scancab', f, '--cache-dir', cache, '--rules', rulesFile);
    expect([sev.code, sev.stdout]).toEqual([2, '']);
    expect(sev.stderr).toContain('is not an MSRC severity');
  });

  it('a listing shows the 20 nearest superseding revisions and says the chain goes on; --kb shows all', async () => {
    // a straight chain of 30: revision 100 is superseded by 101, … by 129
    const chain: FixtureUpdate[] = Array.from({ length: 30 }, (_x, i) => ({ rev: 100 + i, id: gid(100 + i), kb: String(5000 + i), ...(i < 29 ? { supersededBy: [101 + i] } : {}) }));
    const f = await tmp('chain.cab', buildScanCab(chain));
    const q = new ScanQuery(await buildScanIndex(f));
    const first = q.byUpdate(gid(100))[0]!;
    const cut = q.view(first, 20);
    expect(cut.supersededBy.map((s) => s.revisionId)).toEqual(Array.from({ length: 20 }, (_x, i) => 101 + i));
    expect(cut.supersededByTruncated).toBe(true);
    expect(q.view(first, 29).supersededByTruncated).toBe(false);
    expect(q.view(first).supersededBy).toHaveLength(29);
    const cache = path.join(path.dirname(f), 'cache');
    const list = JSON.parse((await runCli('scancab', f, '--cache-dir', cache, '--superseded', '--json')).stdout);
    const v100 = list.updates.find((u: { revisionId: number }) => u.revisionId === 100);
    expect(v100.supersededBy).toHaveLength(20);
    expect(v100.supersededByTruncated).toBe(true);
    const v120 = list.updates.find((u: { revisionId: number }) => u.revisionId === 120);
    expect([v120.supersededBy.length, v120.supersededByTruncated]).toEqual([9, false]);
    const one = JSON.parse((await runCli('scancab', f, '--cache-dir', cache, '--kb', '5000', '--superseded', '--json')).stdout);
    expect([one.updates[0].supersededBy.length, one.updates[0].supersededByTruncated]).toEqual([29, false]);
    const text = (await runCli('scancab', f, '--cache-dir', cache, '--superseded')).stdout;
    expect(text).toContain('superseded by: … (the chain goes on');
  });
});
