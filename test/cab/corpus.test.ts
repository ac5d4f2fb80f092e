import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Cabinet } from '../../src/cab/cabinet.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { hasTool, skipNote } from '../helpers/tools.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function tree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string) => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else out.set(path.relative(dir, p), sha(await readFile(p)));
    }
  };
  await walk(dir);
  return out;
}

const cabs = hasCorpus ? ['Windows6.1-KB2883457-amd64.cab'] : [];

describe.skipIf(!hasCorpus)('real cabinets from ../shared/corpus/cab', () => {
  it.each(cabs)('%s lists with the values cabextract shows', async (name) => {
    const cab = await Cabinet.openFile(corpusPath('cab', name));
    try {
      expect(cab.entries).toHaveLength(23);
      expect(cab.header.cbCFHeader).toBe(20); // signing reserve
      expect(cab.folders.map((f) => f.compression.label)).toEqual(['LZX:21']);
      expect(cab.entries[0]).toMatchObject({ name: '_manifest_.cix.xml', cbFile: 8571, modified: '2013-08-28T00:06:28' });
      expect(cab.find('update.mum')).toMatchObject({ cbFile: 1421, modified: '2013-08-27T23:54:56' });
      expect(cab.find('0')!.cbFile).toBe(279240);
      expect(cab.find('package_1_for_kb2883457_bf~31bf3856ad364e35~amd64~~6.1.1.0.cat')!.cbFile).toBe(8957);
    } finally {
      await cab.close();
    }
  });

  it.each(cabs)('%s extracts byte-identically to cabextract, checksums verified', async (name) => {
    const file = corpusPath('cab', name);
    const tmp = await mkdtemp(path.join(os.tmpdir(), 'msu-corpus-'));
    try {
      const cab = await Cabinet.openFile(file);
      const res = await cab.extract(path.join(tmp, 'ours'), { verifyChecksums: true });
      await cab.close();
      expect(res.files).toHaveLength(23);
      const ours = await tree(path.join(tmp, 'ours'));
      const mum = await readFile(path.join(tmp, 'ours', 'update.mum'), 'utf8');
      expect(mum).toContain('KB2883457');
      if (!hasTool('cabextract')) return skipNote('byte comparison with cabextract', 'cabextract');
      execFileSync('cabextract', ['-q', '-d', path.join(tmp, 'oracle'), file], { stdio: 'pipe' });
      expect(ours).toEqual(await tree(path.join(tmp, 'oracle')));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it.each(cabs)('%s reads one member at random without extracting the rest', async (name) => {
    const cab = await Cabinet.openFile(corpusPath('cab', name));
    try {
      const last = cab.entries[cab.entries.length - 1]!;
      const first = cab.entries[0]!;
      const a = await cab.readFile(last);
      const b = await cab.readFile(first);
      expect(a.length).toBe(last.cbFile);
      expect(Buffer.from(b).toString('utf8')).toMatch(/urn:ContainerIndex/);
    } finally {
      await cab.close();
    }
  });
});
