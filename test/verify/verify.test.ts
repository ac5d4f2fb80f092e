import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { parseCatalog } from '../../src/cbs/catalog.js';
import { verifyExitCode, verifyPackage, type VerifyProgress } from '../../src/verify/index.js';
import { main } from '../../src/cli/main.js';
import { Terminal, TermStream } from '../helpers/terminal.js';
import { EXIT, MsuError } from '../../src/errors.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { buildDelta, PatchWriter } from '../helpers/pa30-build.js';
import { bareCab, componentManifest, msu, packageMum, removeDir, tempDir, writeFiles } from '../plan/fixtures.js';

const KB = () => corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab');
let dir: string;


/** Every member of the corpus cab, in order, as the writer wants them. */
async function corpusMembers(): Promise<Array<{ name: string; data: Uint8Array }>> {
  const cab = await Cabinet.openFile(KB());
  try {
    const out = [];
    for (const e of cab.entries) out.push({ name: e.name, data: await cab.readFile(e) });
    return out;
  } finally {
    await cab.close();
  }
}

beforeAll(async () => {
  dir = await tempDir('msu-verify-');
});
afterAll(async () => removeDir(dir));

describe.skipIf(!hasCorpus)('verify: genuine KB2883457 cab', () => {
  it('finds every .mum and .manifest in the package catalogs and every RAW cix source intact', async () => {
    const r = await verifyPackage(KB());
    expect(r.mismatches).toEqual([]);
    // Its PE-aware deltas cannot be applied yet: the honest answer is "not checked", not OK.
    expect(r.ok).toBe(false);
    expect(r.outcome).toBe('not-checked');
    const p = r.packages[0]!;
    expect([p.member, p.container, p.catalogs, p.catalogEntries]).toEqual(['.', 'cabinet', 6, 21]);
    // all six catalogs carry Microsoft's signature, intact over their content
    expect(p.signatures).toEqual({ intact: 6, broken: 0, unsigned: 0 });
    expect(p.counts).toEqual(r.counts);
    const count = (check: string, outcome: string) => r.checks.filter((c) => c.check === check && c.outcome === outcome).length;
    expect(count('catalog-member', 'verified')).toBe(10);
    expect(count('catalog-signature', 'verified')).toBe(6);
    expect(count('cix-source-hash', 'verified')).toBe(22);
    // 16 RAW files, and startrep.exe rebuilt by the delta engine from the baseless RAW-type delta '0'.
    expect(count('cix-file-hash', 'verified')).toBe(17);
    expect(count('cabinet-data', 'verified')).toBe(1);
    // The manifests declare SHA-256 for the six delta-built files, the cix SHA-1: the bytes are needed,
    // and only startrep.exe can be rebuilt; the other five are PE-aware deltas.
    expect(count('payload-hash', 'verified')).toBe(1);
    expect(count('payload-hash', 'not-checked')).toBe(5);
    expect(r.checks.filter((c) => c.outcome === 'not-checked').every((c) => c.reason === 'pe-transforms')).toBe(true);
    expect(r.counts.verified + r.counts.notChecked).toBe(r.checks.length);
  });

  it('a catalog changed after signing is a catalog-signature mismatch naming its signer', async () => {
    const members = await corpusMembers();
    const cat = members.find((m) => m.name === 'update.cat')!;
    const bytes = Buffer.from(cat.data);
    // change one listed digest inside the signed content; the entry stays well formed
    const parsed = parseCatalog(bytes);
    const tag = Buffer.from(`${parsed.entries[0]!.tag.toUpperCase()}\0`, 'utf16le');
    const at = bytes.indexOf(tag);
    expect(at).toBeGreaterThan(0);
    bytes[at] = bytes[at] === 0x41 ? 0x42 : 0x41;
    cat.data = bytes;
    await writeFiles(dir, { 'resigned.cab': buildCabinet({ folders: [{ compression: 'mszip', files: members }] }) });
    const r = await verifyPackage(path.join(dir, 'resigned.cab'));
    expect(r.ok).toBe(false);
    expect(r.packages[0]!.signatures).toEqual({ intact: 5, broken: 1, unsigned: 0 });
    const sig = r.mismatches.find((m) => m.check === 'catalog-signature')!;
    expect(sig.file).toBe('update.cat');
    expect(sig.detail).toBe("signature of Microsoft Windows does not verify: Error during verification: Message digest doesn't match");
  });

  it('reports a tampered update.mum by file and check, and the CLI exits 1', async () => {
    const members = await corpusMembers();
    const mum = members.find((m) => m.name === 'update.mum')!;
    const bytes = Buffer.from(mum.data);
    bytes[bytes.indexOf('KB2883457')] = 'k'.charCodeAt(0);
    mum.data = bytes;
    const file = path.join(dir, 'tampered.cab');
    await writeFiles(dir, { 'tampered.cab': buildCabinet({ folders: [{ compression: 'mszip', files: members }] }) });
    const r = await verifyPackage(file);
    expect(r.outcome).toBe('mismatch');
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([
      ['update.mum', 'catalog-member'], ['update.mum', 'cix-file-hash'], ['update.mum', 'cix-source-hash'],
    ]);
    const src = r.mismatches.find((m) => m.check === 'cix-source-hash')!;
    expect(src.expected).toBe('dcb3981119225f993918dc820469d69d97ec6bb6');
    expect(src.actual).not.toBe(src.expected);
    expect(r.checks.filter((c) => c.check === 'catalog-member').map((c) => c.outcome).sort()).toEqual([...Array(9).fill('verified'), 'mismatch'].sort());
    const cli = await runCli('verify', file);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain('tampered.cab: MISMATCH');
    expect(cli.stdout).toContain('MISMATCH catalog-member: update.mum');
    expect(cli.stdout).toMatch(/\nverified \d+, mismatch 3, not checked \d+\n$/);
    const ok = await runCli('verify', KB(), '--json');
    expect(ok.code).toBe(EXIT.unchecked);
    const j = JSON.parse(ok.stdout);
    expect([j.ok, j.outcome, j.counts.mismatch]).toEqual([false, 'not-checked', 0]);
    expect(j.checks).toHaveLength(j.counts.verified + j.counts.notChecked);
    expect((await runCli('verify', KB(), '--allow-unchecked')).code).toBe(0);
  });

  it('reports a truncated RAW member (length and hash) and a missing delta source', async () => {
    const members = (await corpusMembers()).filter((m) => m.name !== '3');
    const cat = members.find((m) => m.name === 'update.cat')!;
    cat.data = cat.data.subarray(0, 100);
    await writeFiles(dir, { 'broken.cab': buildCabinet({ folders: [{ compression: 'none', files: members }] }) });
    const r = await verifyPackage(path.join(dir, 'broken.cab'));
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([
      ['amd64_microsoft-windows-winre-tools_31bf3856ad364e35_6.1.7601.22435_none_289885cc9fdecac6\\recenv.exe', 'cix-source-missing'],
      ['update.cat', 'catalog-unreadable'], ['update.cat', 'cix-file-hash'], ['update.cat', 'cix-length'], ['update.cat', 'cix-source-hash'],
      // Only update.cat lists update.mum; the other five catalogs still cover the other nine files.
      ['update.mum', 'catalog-member'],
    ]);
    expect(r.packages[0]!.catalogs).toBe(5);
    // The File rebuilt from the missing member '3' is not checked, nor the one chained on it.
    const recenv = r.checks.find((c) => c.check === 'cix-file-hash' && /22435.*\\recenv\.exe$/.test(c.file))!;
    expect([recenv.outcome, recenv.reason]).toEqual(['not-checked', 'data-unreadable']);
  });
});

describe('verify: synthetic and bad input', () => {
  it('checks each package cab inside an MSU: the synthetic catalogs list every .mum and .manifest, unsigned', async () => {
    await writeFiles(dir, { 'syn.msu': msu({ kb: 5099999, ubr: 4170 }) });
    const r = await verifyPackage(path.join(dir, 'syn.msu'));
    expect(r.mismatches).toEqual([]);
    // Unsigned catalogs: nothing mismatched, but the signatures could not be checked.
    expect(r.outcome).toBe('not-checked');
    expect(verifyExitCode(r)).toBe(EXIT.unchecked);
    expect(r.packages.map((p) => [p.member, p.catalogs, p.signatures.unsigned])).toEqual([
      ['SSU-19041.4160-x64.cab', 1, 1], ['Windows10.0-KB5099999-x64.cab', 2, 2],
    ]);
    const members = r.checks.filter((c) => c.check === 'catalog-member');
    expect(members.map((c) => c.package).sort()).toEqual(['SSU-19041.4160-x64.cab', ...Array(5).fill('Windows10.0-KB5099999-x64.cab')]);
    expect(members.every((c) => c.outcome === 'verified')).toBe(true);
    const unsigned = r.checks.find((c) => c.file === 'Windows10.0-KB5099999-x64.cab!update.cat' && c.check === 'catalog-signature')!;
    expect([unsigned.outcome, unsigned.reason]).toEqual(['not-checked', 'catalog-unsigned']);
    // The outer MSU cabinet's own CFDATA checksums are checked too.
    expect(r.checks.filter((c) => c.check === 'cabinet-data' && c.package === '.').map((c) => c.outcome)).toEqual(['verified']);
  });

  it('reports progress: the outer cabinet, then each member decoded (bytes up to its total) and checked; the CLI shows it on a terminal', async () => {
    await writeFiles(dir, { 'prog.msu': msu({ kb: 5099999, ubr: 4170 }) });
    const seen: VerifyProgress[] = [];
    await verifyPackage(path.join(dir, 'prog.msu'), { onProgress: (p) => seen.push(p) });
    const steps = seen.map((p) => `${p.member} ${p.step}`).filter((x, i, a) => x !== a[i - 1]);
    expect(steps).toEqual(['. decode', 'SSU-19041.4160-x64.cab decode', 'SSU-19041.4160-x64.cab check', 'Windows10.0-KB5099999-x64.cab decode', 'Windows10.0-KB5099999-x64.cab check']);
    for (const member of ['.', 'SSU-19041.4160-x64.cab', 'Windows10.0-KB5099999-x64.cab']) {
      const d = seen.filter((p) => p.member === member && p.step === 'decode');
      expect(d.every((p, i) => p.total === d[0]!.total && p.done <= p.total && (i === 0 || p.done >= d[i - 1]!.done))).toBe(true);
      expect(d.at(-1)!.done).toBe(d[0]!.total);
    }
    const term = new Terminal();
    const out = new TermStream(term, true), err = new TermStream(term, true);
    const code = await main(['node', 'msu', 'verify', path.join(dir, 'prog.msu')], out, err);
    expect(code).toBe(EXIT.unchecked);
    const drawn = err.chunks.join('');
    expect(drawn).toContain('verifying prog.msu: decoding ');
    expect(drawn).toContain('verifying Windows10.0-KB5099999-x64.cab: checking hashes');
    // cleared before the report: nothing of it is left on screen
    expect(term.screen.some((row) => row.startsWith('verifying'))).toBe(false);
    expect(term.screen[0]).toBe('prog.msu: NOT CHECKED');
  });

  it('reports a catalog that is not PKCS#7, and the members it should have listed', async () => {
    const mumText = packageMum({ name: 'Package_for_RollupFix', version: '10.0.19041.4170', kb: 'KB5099999' });
    await writeFiles(dir, { 'badcat.cab': bareCab(mumText, { 'update.cat': 'these bytes are not a catalog' }) });
    const r = await verifyPackage(path.join(dir, 'badcat.cab'));
    expect(r.ok).toBe(false);
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([['update.cat', 'catalog-unreadable'], ['update.mum', 'catalog-member']]);
    expect(r.mismatches[0]!.detail).toMatch(/^catalog is not DER\/BER/);
  });

  it('gives one typed error for a file that is not a package, and the CLI exits 3', async () => {
    await writeFiles(dir, { 'junk.cab': 'hello, not a cabinet at all' });
    const err = await verifyPackage(path.join(dir, 'junk.cab'), { displayName: 'junk.cab' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).describe()).toBe('junk.cab: not an MSU or CAB package (no MSCF or MSWIM signature)');
    const cli = await runCli('verify', path.join(dir, 'junk.cab'));
    expect(cli.code).toBe(3);
    expect(cli.stderr).toContain('not an MSU or CAB package');
    expect(cli.stderr).not.toContain('    at ');
  });

  it('checks a bare cab without catalogs: every .mum is a catalog-member mismatch', async () => {
    await writeFiles(dir, { 'nocat.cab': bareCab('<assembly/>') });
    const r = await verifyPackage(path.join(dir, 'nocat.cab'));
    expect(r.mismatches.map((m) => [m.file, m.check])).toEqual([['update.mum', 'catalog-member']]);
    expect(r.mismatches[0]!.detail).toContain("in the package's 0 catalog(s)");
  });

  it('a cabinet that is no update and has no catalogs is "not checked: nothing declares a hash", never OK', async () => {
    await writeFiles(dir, { 'plain.cab': buildCabinet({ folders: [{ compression: 'mszip', files: [{ name: 'readme.txt', data: new TextEncoder().encode('hello') }] }] }) });
    const r = await verifyPackage(path.join(dir, 'plain.cab'));
    expect(r.outcome).toBe('not-checked');
    expect(r.checks.map((c) => [c.check, c.outcome, c.reason ?? ''])).toEqual([['package', 'not-checked', 'nothing-declared'], ['cabinet-data', 'verified', '']]);
    const cli = await runCli('verify', path.join(dir, 'plain.cab'));
    expect(cli.code).toBe(8);
    expect(cli.stdout).toContain('NOT CHECKED (nothing in it declares a hash): 1 check(s)');
    expect(cli.stdout.trimEnd().split('\n').pop()).toBe('verified 1, mismatch 0, not checked 1');
  });

  it('a folder in a compression not implemented (Quantum) is a cabinet-data check not made, not a mismatch: exit 8', async () => {
    const cab = buildCabinet({
      folders: [
        { compression: 'none', files: [{ name: 'a.txt', data: new TextEncoder().encode('first folder') }] },
        { compression: 'none', files: [{ name: 'q.txt', data: new TextEncoder().encode('second folder') }] },
      ],
    });
    // CFFOLDER 1's typeCompress (header of 36 bytes, CFFOLDERs of 8): Quantum, level 7, 2^21 window
    new DataView(cab.buffer, cab.byteOffset).setUint16(36 + 8 + 6, 0x1572, true);
    await writeFiles(dir, { 'qtm.cab': cab });
    const r = await verifyPackage(path.join(dir, 'qtm.cab'));
    expect(r.mismatches).toEqual([]);
    expect(r.checks.filter((c) => c.check === 'cabinet-data').map((c) => [c.file, c.outcome, c.reason ?? '', c.detail])).toEqual([
      ['[folder 0]', 'verified', '', '1 CFDATA block(s) decoded, checksums verified, 1 member(s)'],
      ['[folder 1]', 'not-checked', 'unsupported', 'not checked: Quantum compression is not supported (no Windows update package uses it)'],
    ]);
    const cli = await runCli('verify', path.join(dir, 'qtm.cab'));
    expect(cli.code).toBe(EXIT.unchecked);
    expect(cli.stdout).toContain('NOT CHECKED (not supported): 1 check(s)\n    cabinet-data: [folder 1]\n');
  });

  it('flipped compressed bytes are a cabinet-data mismatch naming the member, not an abort; a flipped stored payload byte a payload-hash mismatch', async () => {
    const dll = new Uint8Array(70000).map((_, i) => (i * 7) & 0xff);
    const man = componentManifest('t.dll', dll);
    const files = [
      { name: 'update.mum', data: new TextEncoder().encode(packageMum({ name: 'Package_for_X', version: '10.0.19041.1', kb: 'KB1' })) },
      { name: 'x_comp.manifest', data: new TextEncoder().encode(man) },
      { name: 'x_comp\\t.dll', data: dll },
    ];
    const cab = buildCabinet({ folders: [{ compression: 'mszip', files }] });
    const coff = new DataView(cab.buffer, cab.byteOffset).getUint32(36, true);
    const bad = Uint8Array.from(cab);
    bad[coff + 8 + 20] ^= 0xff;
    await writeFiles(dir, { 'flip.cab': bad });
    const r = await verifyPackage(path.join(dir, 'flip.cab'));
    const data = r.mismatches.filter((m) => m.check === 'cabinet-data');
    expect(data.map((m) => m.file)).toEqual(['update.mum', 'x_comp.manifest', 'x_comp\\t.dll']);
    expect(data[0]!.detail).toMatch(/^folder 0: checksum mismatch: CFDATA csum is 0x/);
    // Nothing else can be read from that folder: the other checks say so instead of guessing.
    expect(r.checks.find((c) => c.check === 'payload-hash')!.reason).toBe('data-unreadable');

    const stored = buildCabinet({ folders: [{ compression: 'none', files: files.map((f) => (f.name.endsWith('.dll') ? { ...f, data: dll.map((b, i) => (i === 1234 ? b ^ 1 : b)) } : f)) }] });
    await writeFiles(dir, { 'payload.cab': stored });
    const p = await verifyPackage(path.join(dir, 'payload.cab'));
    expect(p.mismatches.map((m) => [m.file, m.check])).toEqual([['update.mum', 'catalog-member'], ['x_comp.manifest', 'catalog-member'], ['x_comp\\t.dll', 'payload-hash']]);
    expect(p.mismatches[2]!.expected).toBe(createHash('sha256').update(dll).digest('hex'));
  });

  it('a member no hash covers is not checked, never passed in silence: an added file, or a payload whose manifest was renamed or removed', async () => {
    const dll = new Uint8Array(5000).map((_, i) => (i * 13) & 0xff);
    const mum = { name: 'update.mum', data: new TextEncoder().encode(packageMum({ name: 'Package_for_X', version: '10.0.19041.1', kb: 'KB1' })) };
    const man = { name: 'x_comp.manifest', data: new TextEncoder().encode(componentManifest('t.dll', dll)) };
    const payload = { name: 'x_comp\\t.dll', data: dll };
    const undeclared = async (name: string, files: { name: string; data: Uint8Array }[]) => {
      await writeFiles(dir, { [name]: buildCabinet({ folders: [{ compression: 'mszip', files }] }) });
      const r = await verifyPackage(path.join(dir, name));
      return { outcome: r.outcome, files: r.checks.filter((c) => c.check === 'undeclared').map((c) => [c.file, c.outcome, c.reason]) };
    };
    // the whole package: every member is covered by some check
    expect((await undeclared('whole.cab', [mum, man, payload])).files).toEqual([]);
    expect(await undeclared('added.cab', [mum, man, payload, { name: 'evil.exe', data: new Uint8Array([0x4d, 0x5a]) }])).toEqual({
      outcome: 'mismatch', // update.mum and the manifest are in no catalog (there is none)
      files: [['evil.exe', 'not-checked', 'not-declared']],
    });
    const renamed = await undeclared('renamed.cab', [mum, { ...man, name: 'x_comp.manifesX' }, { ...payload, data: dll.map((b, i) => (i === 7 ? b ^ 1 : b)) }]);
    expect(renamed.files).toEqual([['x_comp.manifesX', 'not-checked', 'not-declared'], ['x_comp\\t.dll', 'not-checked', 'not-declared']]);
    expect((await undeclared('removed.cab', [mum, payload])).files).toEqual([['x_comp\\t.dll', 'not-checked', 'not-declared']]);
    // the CLI lists them under their reason
    const cli = await runCli('verify', path.join(dir, 'added.cab'));
    expect(cli.stdout).toContain('  NOT CHECKED (no hash in the package covers this file): 1 check(s)\n    undeclared: evil.exe\n');
  });

  it('a PSFX n\\ null delta is applied to nothing and its output checked against the manifest', async () => {
    const target = new TextEncoder().encode('the whole file, rebuilt from a delta against nothing');
    const delta = buildDelta({ targetSize: target.length, hashOf: { alg: 0x800c, target }, patch: new PatchWriter().literal(...target).finish() });
    const good = buildCabinet({ folders: [{ compression: 'mszip', files: [
      { name: 'x_comp.manifest', data: new TextEncoder().encode(componentManifest('t.dll', target)) },
      { name: 'x_comp\\n\\t.dll', data: delta },
    ] }] });
    await writeFiles(dir, { 'null.cab': good });
    const r = await verifyPackage(path.join(dir, 'null.cab'));
    const c = r.checks.find((x) => x.check === 'payload-hash')!;
    expect([c.file, c.outcome]).toEqual(['x_comp\\t.dll', 'verified']);
    // The manifest declares other bytes: the rebuilt file mismatches.
    const other = buildCabinet({ folders: [{ compression: 'mszip', files: [
      { name: 'x_comp.manifest', data: new TextEncoder().encode(componentManifest('t.dll', new Uint8Array([1]))) },
      { name: 'x_comp\\n\\t.dll', data: delta },
    ] }] });
    await writeFiles(dir, { 'null-bad.cab': other });
    const m = (await verifyPackage(path.join(dir, 'null-bad.cab'))).mismatches.find((x) => x.check === 'payload-hash')!;
    expect(m.file).toBe('x_comp\\t.dll');
    expect(m.actual).toBe(createHash('sha256').update(target).digest('hex'));
  });

  it('a declared file the package neither holds nor rebuilds is not checked (it may come from the image), a forward delta (f\\) needs the image', async () => {
    const man = componentManifest('gone.dll', new Uint8Array([1, 2, 3]));
    await writeFiles(dir, { 'missing.cab': bareCab('<assembly/>', { 'x_comp.manifest': man }) });
    const r = await verifyPackage(path.join(dir, 'missing.cab'));
    const c = r.checks.find((x) => x.check === 'payload-hash')!;
    expect([c.file, c.outcome, c.reason]).toEqual(['x_comp\\gone.dll', 'not-checked', 'not-in-package']);
    await writeFiles(dir, { 'fwd.cab': bareCab('<assembly/>', { 'x_comp.manifest': man, 'x_comp\\f\\gone.dll': 'PA30 forward delta' }) });
    const f = (await verifyPackage(path.join(dir, 'fwd.cab'))).checks.find((x) => x.check === 'payload-hash')!;
    expect([f.outcome, f.reason, f.detail]).toEqual(['not-checked', 'external-basis', 'not checked: shipped as a forward delta (f\\) against the file of the target image']);
  });
});

it('keeps the corpus file untouched', async () => {
  if (!hasCorpus) return;
  expect((await readFile(KB())).length).toBe(474693);
});
