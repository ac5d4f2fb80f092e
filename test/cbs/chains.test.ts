import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { analyzeDeltas, CHAIN_LIST_MAX, describeProblem, splitCixName } from '../../src/cbs/chains.js';
import { parseContainerIndex, type CixFile, type ContainerIndex } from '../../src/cbs/container-index.js';
import { canonicalJson } from '../../src/util/json.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';

type F = { id: number; name?: string; type?: string; len?: number; off?: number; slen?: number; basis?: string };

/** Build a cix XML document from a compact list of Files. */
function xml(files: F[], locations = '<Location id="1" path="{windir}\\winsxs" flags="2000001"/>'): string {
  const body = files
    .map((f) => {
      const range = f.off !== undefined ? ` offset="${f.off}" length="${f.slen ?? 10}"` : ` name="m${f.id}"`;
      const src = f.type === 'none' ? '' : `<Delta><Source type="${f.type ?? 'PA30'}"${range}/>${f.basis ?? ''}</Delta>`;
      return `<File id="${f.id}" name="${f.name ?? `file${f.id}.dll`}" length="${f.len ?? 100}">${src}</File>`;
    })
    .join('');
  return `<Container name="t.psf" type="PSF" version="1" xmlns="urn:ContainerIndex"><DeltaBasisSearch>${locations}</DeltaBasisSearch><Files>${body}</Files></Container>`;
}

const report = (files: F[], psfSize?: number) => analyzeDeltas(parseContainerIndex(xml(files)), psfSize === undefined ? {} : { psfSize });
const on = (id: number): string => `<Basis file="${id}"/>`;
const ext = (len: number, hash: string): string => `<Basis length="${len}"><Hash alg="SHA256" value="${hash}"/></Basis>`;

describe('analyzeDeltas', () => {
  it('classifies RAW, baseless and chained deltas and counts delta applications', () => {
    const r = report([
      { id: 4, basis: on(3) },
      { id: 1, type: 'RAW', len: 50 },
      { id: 2 },
      { id: 3, basis: on(2), type: 'PA31' },
    ]);
    expect(r.files.map((f) => [f.id, f.kind, f.depth, f.chain, f.rootKind, f.rootId, f.end])).toEqual([
      [1, 'raw', 0, [], 'raw', 1, 'ok'],
      [2, 'baseless', 1, [], 'baseless', 2, 'ok'],
      [3, 'file', 2, [2], 'baseless', 2, 'ok'],
      [4, 'file', 3, [3, 2], 'baseless', 2, 'ok'],
    ]);
    expect(r.kinds).toEqual({ raw: 1, baseless: 1, file: 2, external: 0, location: 0, copy: 0 });
    expect(r.deltaApplications).toBe(3);
    expect(r.depths).toEqual({ 0: 1, 1: 1, 2: 1, 3: 1 });
    expect(r.maxDepth).toBe(3);
    expect(r.sourceTypes).toEqual({
      PA30: { files: 2, sourceBytes: 0, targetBytes: 200 },
      PA31: { files: 1, sourceBytes: 0, targetBytes: 100 },
      RAW: { files: 1, sourceBytes: 0, targetBytes: 50 },
    });
    expect(Object.keys(r.sourceTypes)).toEqual(['PA30', 'PA31', 'RAW']);
    expect(r.problems).toEqual([]);
  });

  it('finds cycles (including a self-Basis) once, and marks Files that chain into them', () => {
    const r = report([
      { id: 12, basis: on(10) },
      { id: 10, basis: on(11) },
      { id: 11, basis: on(12) },
      { id: 13, basis: on(10) },
      { id: 20, basis: on(20) },
      { id: 21, type: 'RAW' },
    ]);
    expect(r.problems).toEqual([
      { kind: 'cycle', files: [10, 11, 12] },
      { kind: 'cycle', files: [20] },
    ]);
    const byId = new Map(r.files.map((f) => [f.id, f]));
    for (const id of [10, 11, 12, 13, 20]) {
      expect(byId.get(id)!.end, `File ${id}`).toBe('cycle');
      expect(byId.get(id)!.depth).toBeUndefined();
    }
    expect(byId.get(13)!.chain).toEqual([10, 11, 12]);
    expect(byId.get(21)!.depth).toBe(0);
    expect(r.depths).toEqual({ 0: 1 });
    expect(describeProblem(r.problems[0]!)).toBe('Basis cycle between File ids 10, 11, 12');
  });

  it('reports dangling Basis file ids and Location ids', () => {
    const r = report([
      { id: 30, basis: on(99) },
      { id: 31, basis: on(30) },
      { id: 32, basis: '<Basis loc="7"/>' },
      { id: 33, basis: '<Basis loc="1"/>' },
      { id: 34, type: 'none' },
    ]);
    expect(r.problems).toEqual([
      { kind: 'dangling-basis', file: 30, basis: 99 },
      { kind: 'dangling-location', file: 32, loc: 7 },
      { kind: 'no-source', file: 34 },
    ]);
    const f31 = r.files.find((f) => f.id === 31)!;
    expect([f31.end, f31.depth, f31.chain]).toEqual(['dangling', undefined, [30, 99]]);
    expect(r.files.find((f) => f.id === 33)).toMatchObject({ kind: 'location', depth: 1, end: 'ok' });
    expect(r.sourceTypes['(none)']).toEqual({ files: 1, sourceBytes: 0, targetBytes: 100 });
    expect(describeProblem(r.problems[0]!)).toBe('File 30: Basis file 99 is not in the index');
  });

  it('checks Source ranges against the PSF size and against each other', () => {
    const files: F[] = [
      { id: 1, type: 'RAW', off: 0, slen: 100 },
      { id: 2, type: 'RAW', off: 50, slen: 100 },
      { id: 3, type: 'RAW', off: 200, slen: 40 },
      { id: 4, type: 'RAW', off: 200, slen: 40 },
      { id: 5, type: 'RAW', off: 990, slen: 20 },
      { id: 6, type: 'RAW', off: 240, slen: 10 },
    ];
    const r = report(files, 1000);
    expect(r.psfSize).toBe(1000);
    expect(r.problems).toEqual([
      { kind: 'overlapping-sources', files: [1, 2], ranges: [[0, 100], [50, 150]] },
      { kind: 'source-out-of-range', file: 5, offset: 990, length: 20, psfSize: 1000 },
    ]);
    // Two Files with the same exact stream share it; that is not an overlap.
    expect(r.sharedRanges).toBe(40);
    expect(r.sourceTypes.RAW).toEqual({ files: 6, sourceBytes: 310, targetBytes: 600 });
    // Without a PSF size only overlaps can be checked.
    expect(report(files).problems.map((p) => p.kind)).toEqual(['overlapping-sources']);
  });

  it('lists external bases grouped by component directory and f/r/n subfolder', () => {
    const compA = 'amd64_microsoft-windows-a_31bf3856ad364e35_10.0.26100.1_none_1111111111111111';
    const compB = 'wow64_microsoft-windows-b_31bf3856ad364e35_10.0.26100.1_none_2222222222222222';
    const r = report([
      { id: 9, name: `${compB}\\f\\b.dll`, basis: ext(4096, 'AB') },
      { id: 3, name: `${compA}\\r\\a.dll`, basis: ext(2048, 'CD') },
      { id: 2, name: `${compA}\\f\\a.dll`, basis: ext(1024, 'EF') },
      { id: 5, name: `${compA}\\n\\a.dll` },
      { id: 7, name: `${compA}\\f\\c.dll`, basis: '<Basis loc="1"/>' },
    ]);
    expect(r.externalBasisCount).toBe(4);
    expect(r.externalBases).toEqual([
      {
        component: compA,
        subfolders: [
          {
            subfolder: 'f',
            needs: [
              { file: 2, name: `${compA}\\f\\a.dll`, fileName: 'a.dll', length: 1024, hash: { alg: 'SHA256', value: 'ef' } },
              { file: 7, name: `${compA}\\f\\c.dll`, fileName: 'c.dll', loc: 1, locPath: '{windir}\\winsxs' },
            ],
          },
          { subfolder: 'r', needs: [{ file: 3, name: `${compA}\\r\\a.dll`, fileName: 'a.dll', length: 2048, hash: { alg: 'SHA256', value: 'cd' } }] },
        ],
      },
      {
        component: compB,
        subfolders: [{ subfolder: 'f', needs: [{ file: 9, name: `${compB}\\f\\b.dll`, fileName: 'b.dll', length: 4096, hash: { alg: 'SHA256', value: 'ab' } }] }],
      },
    ]);
    expect(r.files.find((f) => f.id === 5)).toMatchObject({ kind: 'baseless', component: compA, subfolder: 'n' });
    expect(r.kinds).toEqual({ raw: 0, baseless: 1, file: 0, external: 3, location: 1, copy: 0 });
    expect(r.deltaApplications).toBe(5);
  });

  it('splits PSFX names', () => {
    expect(splitCixName('comp\\f\\x.dll')).toEqual({ component: 'comp', subfolder: 'f', fileName: 'x.dll' });
    expect(splitCixName('comp\\x.dll')).toEqual({ component: 'comp', subfolder: '', fileName: 'x.dll' });
    expect(splitCixName('update.mum')).toEqual({ component: '', subfolder: '', fileName: 'update.mum' });
  });

  it('is deterministic whatever the document order', () => {
    const files: F[] = [
      { id: 3, basis: on(1) },
      { id: 10, type: 'RAW', off: 0, slen: 5 },
      { id: 1 },
      { id: 2, basis: on(2) },
      { id: 7, name: 'c\\f\\z.dll', basis: ext(5, 'aa') },
    ];
    const a = canonicalJson(report(files, 100));
    const b = canonicalJson(report([...files].reverse(), 100));
    expect(a).toBe(b);
    expect(report(files).files.map((f) => f.id)).toEqual([1, 2, 3, 7, 10]);
  });

  it('follows a chain 100000 Files deep without recursion', () => {
    const n = 100_000;
    const files: CixFile[] = [];
    for (let i = 1; i <= n; i++) {
      files.push({ id: i, name: `f${i}`, length: 1, source: { type: 'PA30', name: String(i) }, ...(i > 1 ? { basis: { file: i - 1 } } : {}) });
    }
    const cix: ContainerIndex = { name: 'deep', type: 'CAB', locations: [], files: files.reverse() };
    const r = analyzeDeltas(cix);
    expect(r.maxDepth).toBe(n);
    expect(r.files[n - 1]!.depth).toBe(n);
    expect(r.files[n - 1]!.rootId).toBe(1);
    expect(r.files[n - 1]!.chain).toEqual(Array.from({ length: CHAIN_LIST_MAX }, (_, i) => n - 1 - i));
    expect(r.files[n - 1]!.chainTruncated).toBe(true);
    expect(r.files[CHAIN_LIST_MAX]!.chainTruncated).toBeUndefined();
    expect(r.files[CHAIN_LIST_MAX]!.chain).toHaveLength(CHAIN_LIST_MAX);
    // Close the ring: now every File is on one cycle.
    files[files.length - 1]!.basis = { file: n };
    const c = analyzeDeltas(cix);
    expect(c.problems).toHaveLength(1);
    expect(c.problems[0]!.kind).toBe('cycle');
    expect((c.problems[0] as { files: number[] }).files).toHaveLength(n);
  });
});

describe.skipIf(!hasCorpus)('analyzeDeltas on the KB2883457 cix', () => {
  const tool = hasTool('cabextract');
  it.skipIf(!tool)('finds one baseless delta and five chained on it, up to four applications deep', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'msu-chain-'));
    try {
      execFileSync('cabextract', ['-q', '-d', dir, '-F', '_manifest_.cix.xml', corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab')], { stdio: 'ignore' });
      const r = analyzeDeltas(parseContainerIndex(readFileSync(path.join(dir, '_manifest_.cix.xml'))));
      expect(r.fileCount).toBe(22);
      expect(r.kinds).toEqual({ raw: 16, baseless: 1, file: 5, external: 0, location: 0, copy: 0 });
      expect(r.deltaApplications).toBe(6);
      // 30 is baseless; 29 on 30; 21 and 5 on 29; 22 on 21; 6 on 5.
      expect(r.depths).toEqual({ 0: 16, 1: 1, 2: 1, 3: 2, 4: 2 });
      expect(r.files.find((f) => f.id === 6)!.chain).toEqual([5, 29, 30]);
      expect(r.files.find((f) => f.id === 22)!.chain).toEqual([21, 29, 30]);
      expect(r.problems).toEqual([]);
      expect(r.externalBasisCount).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  if (!tool) skipNote('KB2883457 chain analysis', 'cabextract');
});

describe('msu deltas', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'msu-deltas-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const p = path.join(tmp, name);
    writeFileSync(p, text);
    return p;
  };

  it('prints a summary and exits 0 for a clean index', async () => {
    const p = write('ok.cix.xml', xml([{ id: 1, type: 'RAW' }, { id: 2 }, { id: 3, basis: on(2) }, { id: 4, name: 'c\\f\\x.dll', basis: ext(8, '00ff') }]));
    const r = await runCli('deltas', p);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('bases       raw 1, baseless 1, chained 1, external 1, location 0, copy 0\napplies     3 delta(s); copies apply none\n');
    expect(r.stdout).toContain('depths      0:1 1:2 2:1 (max 2)\n');
    expect(r.stdout).toContain('    f\\x.dll  [File 4]  8 bytes, SHA256 00ff\n');
    expect(r.stdout).toContain('problems    none\n');
  });

  it('prints problems and exits 1; --json carries the same report', async () => {
    const p = write('cycle.cix.xml', xml([{ id: 1, basis: on(2) }, { id: 2, basis: on(1) }, { id: 3, type: 'RAW', off: 0, slen: 50 }]));
    const psf = write('t.psf', 'x'.repeat(20));
    const r = await runCli('deltas', p, '--psf', psf);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('  Basis cycle between File ids 1, 2\n');
    expect(r.stdout).toContain('  File 3: Source 0+50 ends past the PSF (20 bytes)\n');
    const j = await runCli('deltas', p, '--psf', psf, '--json');
    expect(j.code).toBe(1);
    const rep = JSON.parse(j.stdout);
    expect(rep.psfSize).toBe(20);
    expect(rep.problems.map((x: { kind: string }) => x.kind)).toEqual(['cycle', 'source-out-of-range']);
  });

  it('exits 3 with one line naming the file for unreadable input', async () => {
    const p = write('bad.cix.xml', xml([{ id: 1, len: -1 }]));
    const r = await runCli('deltas', p);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`msu: ${p}: File@length is not a non-negative integer: "-1" (File id=1)\n`);
    expect(r.stdout).toBe('');
  });
});

describe.skipIf(!hasCorpus)('analyzeDeltas on the KB2999226 cix (copy entries)', () => {
  const tool = hasTool('cabextract');
  it.skipIf(!tool)('resolves the copy entries to their Basis, no problems; counts and depth equal a count taken from the XML text', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'msu-chain-'));
    try {
      const msu = corpusPath('msu', 'Windows6.1-KB2999226-x64.msu');
      execFileSync('cabextract', ['-q', '-d', dir, '-F', 'Windows6.1-KB2999226-x64.cab', msu], { stdio: 'ignore' });
      execFileSync('cabextract', ['-q', '-d', dir, '-F', '_manifest_.cix.xml', path.join(dir, 'Windows6.1-KB2999226-x64.cab')], { stdio: 'ignore' });
      const text = readFileSync(path.join(dir, '_manifest_.cix.xml'), 'utf8');
      // Independent count: regular expressions over the XML text, not the cix parser.
      const files = new Map<number, { source?: string; basis?: number; length: number; hash: string }>();
      for (const m of text.matchAll(/<File ([^>]*)>([\s\S]*?)<\/File>/g)) {
        const id = Number(/\bid="(\d+)"/.exec(m[1]!)![1]);
        const length = Number(/\blength="(\d+)"/.exec(m[1]!)![1]);
        const hash = /^<Hash alg="SHA1" value="([0-9a-f]+)"/i.exec(m[2]!)![1]!.toLowerCase();
        const source = /<Source type="(\w+)"/.exec(m[2]!)?.[1];
        const basis = /<Basis file="(\d+)"/.exec(m[2]!)?.[1];
        files.set(id, { length, hash, ...(source ? { source } : {}), ...(basis ? { basis: Number(basis) } : {}) });
      }
      const raw = [...files.values()].filter((f) => f.source === 'RAW').length;
      const applications = [...files.values()].filter((f) => f.source !== undefined && f.source !== 'RAW').length;
      const copies = [...files.entries()].filter(([, f]) => f.source === undefined && f.basis !== undefined);
      // Depth as the CIX defines it: delta applications along the Basis chain; a copy applies none.
      const depth = (id: number): number => {
        const f = files.get(id)!;
        if (f.source === 'RAW') return 0;
        if (f.basis === undefined) return 1;
        return depth(f.basis) + (f.source === undefined ? 0 : 1);
      };
      const maxDepth = Math.max(...[...files.keys()].map(depth));
      expect(copies).toHaveLength(48);
      for (const [, f] of copies) {
        expect(files.get(f.basis!)!.length).toBe(f.length);
        expect(files.get(f.basis!)!.hash).toBe(f.hash);
      }

      const r = analyzeDeltas(parseContainerIndex(text));
      expect(r.problems).toEqual([]);
      expect(r.fileCount).toBe(files.size);
      expect(r.kinds.raw).toBe(raw);
      expect(r.kinds.copy).toBe(copies.length);
      expect(r.deltaApplications).toBe(applications);
      expect(r.maxDepth).toBe(maxDepth);
      expect([raw, applications, maxDepth]).toEqual([22, 48, 9]);
      for (const [id] of copies) expect(r.files.find((f) => f.id === id)!.depth).toBe(depth(id));

      const cli = await runCli('deltas', msu, '--json');
      expect(cli.code).toBe(0);
      const j = JSON.parse(cli.stdout);
      expect([j.kinds.raw, j.kinds.copy, j.deltaApplications, j.maxDepth, j.problems.length]).toEqual([22, 48, 48, 9, 0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  if (!tool) skipNote('KB2999226 chain analysis', 'cabextract');
});

describe('analyzeDeltas: copy entries', () => {
  const h = (v: string) => ({ alg: 'SHA1', value: v });
  const cix = (copy: Partial<CixFile>): ContainerIndex => ({
    name: 'c', type: 'CAB', locations: [], files: [
      { id: 1, name: 'a', length: 10, hash: h('aa'), source: { type: 'RAW', name: 'a' } },
      { id: 2, name: 'b', length: 12, hash: h('bb'), source: { type: 'PA30', name: '0' }, basis: { file: 1 } },
      { id: 3, name: 'c', length: 12, hash: h('bb'), basis: { file: 2 }, ...copy },
    ],
  });

  it('a copy is an edge to its Basis that applies nothing: depth of the Basis, no RAW root, no problem', () => {
    const r = analyzeDeltas(cix({}));
    const c = r.files.find((f) => f.id === 3)!;
    expect([c.kind, c.depth, c.rootId, c.chain]).toEqual(['copy', 1, 1, [2, 1]]);
    expect(r.kinds).toEqual({ raw: 1, baseless: 0, file: 1, external: 0, location: 0, copy: 1 });
    expect(r.deltaApplications).toBe(1);
    expect(r.sourceTypes['(copy)']).toEqual({ files: 1, sourceBytes: 0, targetBytes: 12 });
    expect(r.problems).toEqual([]);
  });

  it('a copy whose length or hash differs from its Basis is a problem; a dangling one too', () => {
    expect(analyzeDeltas(cix({ length: 13 })).problems).toEqual([{ kind: 'copy-differs', file: 3, basis: 2 }]);
    const p = analyzeDeltas(cix({ hash: h('cc') })).problems;
    expect(p.map(describeProblem)).toEqual(['File 3: a copy of Basis File 2, but its length or hash differs from that File']);
    expect(analyzeDeltas(cix({ basis: { file: 9 } })).problems).toEqual([{ kind: 'dangling-basis', file: 3, basis: 9 }]);
  });
});
