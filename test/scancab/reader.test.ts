import { describe, expect, it } from 'vitest';
import path from 'node:path';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { Cabinet } from '../../src/cab/index.js';
import { BufferSource } from '../../src/util/source.js';
import { buildScanIndex } from '../../src/scancab/reader.js';
import { loadScanIndex, openScanIndex } from '../../src/scancab/cache.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';

/** package.xml and the fragment names of a scan cabinet, read with the Cabinet reader. */
async function rawPackage(file: string): Promise<{ xml: string; names: string[] }> {
  const outer = await Cabinet.openFile(file);
  const inner = await Cabinet.open(new BufferSource(await outer.readFile(outer.find('package.cab')!)));
  const xml = new TextDecoder().decode(await inner.readFile(inner.find('package.xml')!));
  await inner.close();
  await outer.close();
  return { xml, names: inner.entries.map((e) => e.name.replace(/\\/g, '/')) };
}

/** Counts taken with regular expressions over the whole text: a different reader from the streaming one. */
function independentCounts(xml: string) {
  const updates = [...xml.matchAll(/<Update\s[^>]*?(\/>|>)/g)];
  const bodies = [...xml.matchAll(/<Update\s[^>]*?(?:\/>|>([\s\S]*?)<\/Update>)/g)].map((m) => m[1] ?? '');
  const count = (re: RegExp, s: string) => (s.match(re) ?? []).length;
  const section = (b: string, name: string) => (new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(b)?.[1] ?? '');
  let categories = 0, prereqIds = 0, bundledBy = 0, supersededBy = 0, payload = 0;
  for (const b of bodies) {
    categories += count(/<Category\s/g, section(b, 'Categories'));
    prereqIds += count(/<UpdateId\s/g, section(b, 'Prerequisites'));
    bundledBy += count(/<Revision\s/g, section(b, 'BundledBy'));
    supersededBy += count(/<Revision\s/g, section(b, 'SupersededBy'));
    payload += count(/<File\s/g, section(b, 'PayloadFiles'));
  }
  return {
    updates: updates.length,
    bundles: count(/<Update\s[^>]*IsBundle="true"/g, xml),
    categories, prereqIds, bundledBy, supersededBy, payload,
    fileLocations: count(/<FileLocation\s/g, xml),
    revisionIds: [...xml.matchAll(/<Update\s[^>]*RevisionId="(\d+)"/g)].map((m) => Number(m[1])).sort((a, b) => a - b),
  };
}

const samples = [
  { name: 'WSUSSCAN.cab (KB958830)', get: async () => corpusPath('wsusscan', 'WSUSSCAN.cab') },
  {
    name: 'WSUSSCAN.cab inside Windows6.1-KB2999226-x64.msu',
    get: async () => {
      const msu = await Cabinet.openFile(corpusPath('msu', 'Windows6.1-KB2999226-x64.msu'));
      const dir = await mkdtemp(path.join(os.tmpdir(), 'scancab-'));
      const out = path.join(dir, 'WSUSSCAN.cab');
      await writeFile(out, await msu.readFile(msu.find('WSUSSCAN.cab')!));
      await msu.close();
      return out;
    },
  },
];

describe.skipIf(!hasCorpus)('scan cabinet reader on the real WSUSSCAN cabinets', () => {
  for (const s of samples) {
    it(`${s.name}: every revision, category, prerequisite, bundle relation and file location`, async () => {
      const file = await s.get();
      const ix = await buildScanIndex(file);
      const raw = await rawPackage(file);
      const c = independentCounts(raw.xml);
      expect(ix.form).toBe('single');
      expect(ix.updates.length).toBe(c.updates);
      expect(ix.updates.map((u) => u.revisionId)).toEqual(c.revisionIds);
      expect(ix.updates.filter((u) => u.isBundle).length).toBe(c.bundles);
      expect(ix.updates.reduce((n, u) => n + u.categories.length, 0)).toBe(c.categories);
      expect(ix.updates.reduce((n, u) => n + u.prerequisites.flat().length, 0)).toBe(c.prereqIds);
      expect(ix.updates.reduce((n, u) => n + u.bundledBy.length, 0)).toBe(c.bundledBy);
      expect(ix.updates.reduce((n, u) => n + u.supersededBy.length, 0)).toBe(c.supersededBy);
      expect(ix.updates.reduce((n, u) => n + u.payloadFiles.length, 0)).toBe(c.payload);
      expect(Object.keys(ix.fileLocations).length).toBe(c.fileLocations);
      // every revision has its core and extended fragment, and their count matches the members
      const cores = raw.names.filter((n) => /^core\/\d+$/.test(n)).length;
      expect(ix.updates.filter((u) => u.updateType).length).toBe(cores);
      // every payload file id resolves to a URL
      for (const u of ix.updates) for (const f of u.payloadFiles) expect(ix.fileLocations[f]).toMatch(/^https?:\/\//);
      // bundle relations point at bundles of the same package
      const byRev = new Map(ix.updates.map((u) => [u.revisionId, u]));
      for (const u of ix.updates) for (const b of u.bundledBy) expect(byRev.get(b)?.isBundle).toBe(true);
      // the index built straight into the cache (compact, streamed) holds the same, and its
      // on-disk KB keys find every KB the package has
      const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'scancab-cache-'));
      const cached = await loadScanIndex(file, { cacheDir });
      expect(cached.updates).toEqual(ix.updates);
      for (const [id, url] of Object.entries(cached.fileLocations)) expect(ix.fileLocations[id]).toBe(url);
      expect(Object.keys(cached.fileLocations).length).toBe(new Set(ix.updates.flatMap((u) => u.payloadFiles)).size);
      const o = await openScanIndex(file, { cacheDir });
      expect(o.fromCache).toBe(true);
      const kbs = [...new Set(ix.updates.flatMap((u) => (u.kb ? [u.kb] : [])))];
      expect(kbs.length).toBeGreaterThan(0);
      for (const kb of kbs) expect(o.source.byKb(kb).map((u) => u.revisionId)).toEqual(ix.updates.filter((u) => u.kb === kb).map((u) => u.revisionId));
      o.close();
    });
  }

  it('KB958830: title, KB, severity and payload file of the bundle and its leaves', async () => {
    const ix = await buildScanIndex(corpusPath('wsusscan', 'WSUSSCAN.cab'));
    expect(ix.packageId).toBe('147e0297-e8ca-4075-ad9a-517c6a48a981');
    const bundle = ix.updates.find((u) => u.revisionId === 2860)!;
    expect(bundle.updateId).toBe('163d75b0-a455-4430-a731-9d097352e44b');
    expect(bundle.isBundle).toBe(true);
    expect(bundle.kb).toBe('958830');
    expect(bundle.msrcSeverity).toBe('Important');
    expect(bundle.title).toBe('Update for Windows (KB958830)');
    expect(bundle.categories).toContainEqual({ type: 'UpdateClassification', id: 'cd5ffd1e-e932-4e3a-bf74-18bf0b1bbd83' });
    const leaf = ix.updates.find((u) => u.revisionId === 2859)!;
    expect(leaf.bundledBy).toEqual([2860]);
    expect(leaf.deploymentAction).toBe('Bundle');
    expect(leaf.payloadFiles).toEqual(['7t422XlVy0+KlAiUG1mKeO0dg8A=']);
    expect(leaf.files).toEqual([{ name: 'rsatcustominstaller.exe', size: 67464, digest: '7t422XlVy0+KlAiUG1mKeO0dg8A=' }]);
    expect(ix.fileLocations['7t422XlVy0+KlAiUG1mKeO0dg8A=']).toBe('http://www.windowsupdate.com/rsatcustominstaller.exe');
    expect(leaf.hasApplicabilityRules).toBe(true);
  });
});
