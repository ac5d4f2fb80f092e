import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/index.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { verifyPackage, type VerifyReport } from '../../src/verify/index.js';
import { EXIT } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { buildDelta, PatchWriter } from '../helpers/pa30-build.js';
import { buildPe } from '../helpers/pe-build.js';

const dir = mkdtempSync(path.join(tmpdir(), 'msu-delta-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  delete process.env.MSU_BASE_MANIFEST;
});

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const put = (name: string, data: Uint8Array | string): string => {
  const p = path.join(dir, name);
  writeFileSync(p, data);
  return p;
};
const out = (name: string): string => path.join(dir, name);
const D = (...p: string[]): string => corpusPath('deltas', ...p);
const CORE = 'amd64_microsoft-windows-core_31bf3856ad364e35_10.0.26100.1_none_a943f5e781a44c5c.manifest';

describe.skipIf(!hasCorpus)('msu delta apply on real deltas', () => {
  it('rebuilds where.exe from cmd.exe, atomically, and says no hash was there to check', async () => {
    const o = out('where.exe');
    const r = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', D('sources', 'cmd.exe'), '-o', o);
    expect(r.code).toBe(EXIT.ok);
    expect(sha256(readFileSync(o))).toBe(sha256(readFileSync(D('sources', 'where.exe'))));
    expect(r.stdout).toContain(`target      ${o}, 65536 bytes\n`);
    expect(r.stdout).toContain('hash        none: none in the delta\n');
    expect(readdirSync(dir).filter((f) => f.startsWith('.msu-tmp'))).toEqual([]);
  });

  it('--json reports the same facts as canonical JSON', async () => {
    const o = out('where2.exe');
    const r = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', D('sources', 'cmd.exe'), '-o', o, '--json');
    expect(r.code).toBe(EXIT.ok);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'PA30', wrapper: 'none', targetSize: 65536, hashChecked: false, hashCheckSkipped: false });
  });

  it('a delta without a hash: a warning says a wrong source goes unnoticed; --expect-sha256 catches it', async () => {
    const where = readFileSync(D('sources', 'where.exe'));
    const plain = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', D('sources', 'notepad.exe'), '-o', out('wrong.exe'));
    expect(plain.code).toBe(EXIT.ok);
    expect(plain.stderr).toBe(`msu: warning: ${out('wrong.exe')}: the delta carries no target hash, so a wrong --source goes unnoticed; pass --expect-sha256 to check the result\n`);
    const o = out('checked.exe');
    const wrong = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', D('sources', 'notepad.exe'), '-o', o, '--expect-sha256', sha256(where));
    expect(wrong.code).toBe(EXIT.mismatch);
    expect(wrong.stderr).toMatch(/^msu: .*cmd__to__where__raw\.pa30: target SHA-256 is [0-9a-f]{64}, --expect-sha256 says [0-9a-f]{64} \(wrong source, or a corrupt delta\); nothing written\n$/);
    expect(existsSync(o)).toBe(false);
    const right = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', D('sources', 'cmd.exe'), '-o', o, '--expect-sha256', sha256(where).toUpperCase(), '--json');
    expect(right.code).toBe(EXIT.ok);
    expect(right.stderr).toBe('');
    expect(JSON.parse(right.stdout)).toMatchObject({ hashChecked: false, sha256Checked: true });
    expect(sha256(readFileSync(o))).toBe(sha256(where));
    const bad = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '-o', o, '--expect-sha256', 'abc');
    expect(bad.code).toBe(EXIT.usage);
  });

  it('--json shows paths named absolutely relative to the working directory', async () => {
    const o = out('where3.exe');
    const r = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', D('sources', 'cmd.exe'), '-o', o, '--json');
    const j = JSON.parse(r.stdout);
    expect([j.delta, j.source, j.output]).toEqual([D('cmd__to__where__raw.pa30'), D('sources', 'cmd.exe'), o].map((p) => path.relative(process.cwd(), p)));
  });

  it('a PE-aware delta exits 4 with one line, and writes nothing', async () => {
    const o = out('advapi32.dll');
    const r = await runCli('delta', 'apply', D('advapi32_pe.pa30'), '--source', D('sources', 'advapi32_old.dll'), '-o', o);
    expect(r.code).toBe(EXIT.unsupported);
    expect(r.stderr).toBe(`msu: ${D('advapi32_pe.pa30')}: unsupported: PE transforms (FileType AMD64, flags 0xe63e)\n`);
    expect(r.stdout).toBe('');
    expect(existsSync(o)).toBe(false);
  });

  it('an existing OUT is refused (the --source too) unless --overwrite; a symlink there is replaced, never followed', async () => {
    const src = put('src-copy.exe', readFileSync(D('sources', 'cmd.exe')));
    const r = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', src, '-o', src);
    expect([r.code, r.stdout, r.stderr]).toEqual([EXIT.io, '', `msu: ${src}: already exists; nothing was written (pass --overwrite to replace it)\n`]);
    expect(sha256(readFileSync(src))).toBe(sha256(readFileSync(D('sources', 'cmd.exe'))));
    const victim = put('victim.txt', 'keep me');
    const link = out('link.exe');
    symlinkSync(victim, link);
    expect((await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', src, '-o', link)).code).toBe(EXIT.io);
    const o = await runCli('delta', 'apply', D('cmd__to__where__raw.pa30'), '--source', src, '-o', link, '--overwrite');
    expect(o.code).toBe(EXIT.ok);
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(lstatSync(link).isFile()).toBe(true);
    expect(sha256(readFileSync(link))).toBe(sha256(readFileSync(D('sources', 'where.exe'))));
    expect(readdirSync(dir).filter((f) => f.startsWith('.msu-tmp'))).toEqual([]);
  });

  it('a hostile delta exits 3 and leaves an existing output file as it was', async () => {
    const o = put('keep.bin', 'already here');
    const r = await runCli('delta', 'apply', D('hostile', 'fuzz_crash_3.pa30'), '-o', o);
    expect(r.code).toBe(EXIT.input);
    expect(r.stderr.split('\n')).toHaveLength(2);
    expect(readFileSync(o, 'utf8')).toBe('already here');
  });

  it('a DCM manifest needs a base manifest, from --base-manifest, --wcp or MSU_BASE_MANIFEST', async () => {
    const dcm = corpusPath('manifests', CORE);
    const base = readFileSync(corpusPath('manifests', 'base_manifest.bin'));
    const none = await runCli('delta', 'apply', dcm, '-o', out('core0.xml'));
    expect(none.code).toBe(EXIT.usage);
    expect(none.stderr).toContain('pass --base-manifest FILE, --wcp wcp.dll, or set MSU_BASE_MANIFEST');
    expect(existsSync(out('core0.xml'))).toBe(false);

    const a = await runCli('delta', 'apply', dcm, '--base-manifest', corpusPath('manifests', 'base_manifest.bin'), '-o', out('core1.xml'));
    expect(a.code).toBe(EXIT.ok);
    const xml = readFileSync(out('core1.xml'));
    expect(xml.toString('utf8')).toContain('name="Microsoft-Windows-Core"');

    const wcp = put('wcp.dll', buildPe([{ type: 0x266, name: 1, lang: 0, data: base }]));
    const b = await runCli('delta', 'apply', dcm, '--wcp', wcp, '-o', out('core2.xml'));
    expect(b.code).toBe(EXIT.ok);
    expect(sha256(readFileSync(out('core2.xml')))).toBe(sha256(xml));

    process.env.MSU_BASE_MANIFEST = corpusPath('manifests', 'base_manifest.bin');
    const c = await runCli('delta', 'apply', dcm, '-o', out('core3.xml'));
    expect(c.code).toBe(EXIT.ok);
    expect(c.stdout).toContain('source      MSU_BASE_MANIFEST\n');
    expect(sha256(readFileSync(out('core3.xml')))).toBe(sha256(xml));
  });

  it('msu cbs decodes a DCM manifest with a base manifest and prints its model', async () => {
    const dcm = corpusPath('manifests', CORE);
    const r = await runCli('cbs', dcm, '--base-manifest', corpusPath('manifests', 'base_manifest.bin'));
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toContain(`keyform     ${CORE.replace(/\.manifest$/, '')}\n`);
    expect(r.stdout.split('\n')[0]).toBe(`stored      DCM-compressed, decoded with the base manifest from ${corpusPath('manifests', 'base_manifest.bin')}`);
    // a base manifest of something else: the error says which base was used, not only the manifest
    const notBase = D('sources', 'where.exe');
    const wrong = await runCli('cbs', dcm, '--base-manifest', notBase);
    expect(wrong.code).toBe(EXIT.input);
    expect(wrong.stderr).toContain(`(decoded against the base manifest from ${notBase}: is it the one of this manifest's servicing build?)`);
    const empty = put('empty-base.bin', '');
    const applied = await runCli('delta', 'apply', dcm, '--base-manifest', empty, '-o', out('never.xml'));
    expect(applied.code).toBe(EXIT.input);
    expect(applied.stderr).toContain(`(decoded against the base manifest from ${empty}: is it the one of this manifest's servicing build?)`);
    expect(existsSync(out('never.xml'))).toBe(false);
    const wcpNoBase = put('other.dll', buildPe([{ type: 16, name: 1, lang: 0, data: Buffer.from('v') }]));
    const bad = await runCli('cbs', dcm, '--wcp', wcpNoBase);
    expect(bad.code).toBe(EXIT.input);
    expect(bad.stderr).toBe(`msu: ${wcpNoBase}: no base manifest in this PE image (no resource of type 0x266): is it wcp.dll?\n`);
  });

  it('msu delta-header says which deltas need phase 2', async () => {
    const pe = await runCli('delta-header', D('advapi32_pe.pa30'));
    expect(pe.stdout).toContain('apply       unsupported: PE transforms (needs phase 2 of the delta engine)\n');
    const raw = await runCli('delta-header', D('advapi32_raw.pa30'));
    expect(raw.stdout).toContain('apply       yes (msu delta apply)\n');
  });
});

describe('msu delta apply on built deltas', () => {
  const target = Buffer.from('hello, hello, hello world');
  const w = new PatchWriter().literal(...target.subarray(0, 7)).distance(7, 12).literal(...target.subarray(19));

  it('checks the embedded hash; a mismatch exits 1 and writes nothing; --no-hash-check writes and says so', async () => {
    const good = put('good.pa30', buildDelta({ targetSize: target.length, hashOf: { alg: 0x800c, target }, patch: w.finish() }));
    const ok = await runCli('delta', 'apply', good, '-o', out('good.txt'));
    expect(ok.code).toBe(EXIT.ok);
    expect(readFileSync(out('good.txt'), 'utf8')).toBe(target.toString());
    expect(ok.stdout).toContain(`hash        SHA256 ${sha256(target)}: checked\n`);

    const wrong = Buffer.from(target);
    wrong[0] = 0x48;
    const bad = put('bad.pa30', buildDelta({ targetSize: target.length, hashOf: { alg: 0x800c, target: wrong }, patch: w.finish() }));
    const r = await runCli('delta', 'apply', bad, '-o', out('bad.txt'));
    expect(r.code).toBe(EXIT.mismatch);
    expect(r.stderr).toContain('target SHA256 mismatch');
    expect(existsSync(out('bad.txt'))).toBe(false);

    const f = await runCli('delta', 'apply', bad, '-o', out('forensic.txt'), '--no-hash-check');
    expect(f.code).toBe(EXIT.ok);
    expect(readFileSync(out('forensic.txt'), 'utf8')).toBe(target.toString());
    expect(f.stdout).toContain('NOT checked (--no-hash-check)');
    expect(f.stderr).toContain('written without checking its SHA256 hash (--no-hash-check)');
  });

  it('usage errors: -o is required; --base-manifest is only for DCM', async () => {
    const good = put('good2.pa30', buildDelta({ targetSize: target.length, patch: w.finish() }));
    expect((await runCli('delta', 'apply', good)).code).toBe(EXIT.usage);
    const r = await runCli('delta', 'apply', good, '--base-manifest', good, '-o', out('x'));
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toContain('--base-manifest and --wcp are for DCM manifests');
  });
});

describe.skipIf(!hasCorpus)('msu verify checks DCM-compressed manifests as decoded', () => {
  const FOD = corpusPath('cab', 'fod', 'OpenSSH-Client-Package~31bf3856ad364e35~amd64~~.cab');
  const BASE = corpusPath('manifests', 'base_manifest.bin');

  const members = (r: VerifyReport, outcome: string): number => r.checks.filter((c) => c.check === 'catalog-member' && c.outcome === outcome).length;

  it('without a base manifest: no false mismatch, each DCM manifest not checked; with one: all 11 listed in the catalogs', async () => {
    const without = await verifyPackage(FOD);
    expect(without.mismatches).toEqual([]);
    expect(members(without, 'verified')).toBe(8);
    expect(without.checks.filter((c) => c.check === 'catalog-member' && c.reason === 'no-base-manifest')).toHaveLength(3);
    const withBase = await verifyPackage(FOD, { baseManifest: readFileSync(BASE) });
    expect(withBase.outcome).toBe('verified');
    expect(members(withBase, 'verified')).toBe(11);
    // A wrong base manifest is a mismatch, not a pass.
    const wrong = Buffer.from(readFileSync(BASE));
    wrong.fill(0x41, 2000, 6000);
    const bad = await verifyPackage(FOD, { baseManifest: wrong });
    expect(bad.outcome).toBe('mismatch');
    // Decoded with the wrong base, the manifests are garbage: not in the catalogs, not parseable.
    expect(bad.mismatches.every((m) => ['catalog-member', 'manifest-decode', 'manifest-unreadable'].includes(m.check))).toBe(true);
    expect([...new Set(bad.mismatches.map((m) => m.file))]).toHaveLength(3);
    expect(bad.mismatches.every((m) => /\.manifest$/.test(m.file))).toBe(true);
  }, 60_000);

  it('uses the base manifest of a wcp.dll the package ships, and the CLI takes --base-manifest', async () => {
    const cab = await Cabinet.openFile(FOD);
    const files: { name: string; data: Uint8Array }[] = [];
    try {
      for (const e of cab.entries) if (/\.(mum|manifest|cat)$/i.test(e.name)) files.push({ name: e.name, data: await cab.readFile(e) });
    } finally {
      await cab.close();
    }
    const wcp = buildPe([{ type: 0x266, name: 1, lang: 0, data: readFileSync(BASE) }]);
    files.push({ name: 'amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.1_none_0000000000000000\\wcp.dll', data: wcp });
    const pkg = put('fod-with-ssu.cab', buildCabinet({ folders: [{ compression: 'none', files }] }));
    const r = await verifyPackage(pkg);
    // Only metadata was copied: the payload files are not in this package (not checked), nothing mismatches.
    expect(r.mismatches).toEqual([]);
    expect(members(r, 'verified')).toBe(11);
    expect(r.notes.some((n) => n.endsWith('wcp.dll: base manifest for DCM manifests taken from this wcp.dll'))).toBe(true);

    const cli = await runCli('verify', FOD, '--base-manifest', BASE);
    expect(cli.code).toBe(EXIT.ok);
    expect(cli.stdout).toContain('OpenSSH-Client-Package~31bf3856ad364e35~amd64~~.cab: OK');
  }, 60_000);
});
