/**
 * msu verify on every genuine package of the corpus: no mismatch, only the honest "not checked"
 * reasons, $filehashes$.dat agreeing; and one seeded tamper per kind of member, repacked with the
 * project's CAB writer, giving a mismatch that names the member and exit 1.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as asn1js from 'asn1js';
import * as pkijs from 'pkijs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { decodeFolder } from '../../src/cab/folder.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { parseCatalog } from '../../src/cbs/catalog.js';
import { parseContainerIndex } from '../../src/cbs/container-index.js';
import { keyform } from '../../src/cbs/keyform.js';
import { parseMum } from '../../src/cbs/mum.js';
import { decodeDcmManifest, readDeltaHeader } from '../../src/delta/index.js';
import { EXIT } from '../../src/errors.js';
import { BufferSource } from '../../src/util/source.js';
import { verifyExitCode, verifyPackage, type VerifyReport } from '../../src/verify/index.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { uniform } from '../helpers/rng.js';
import { buildPe } from '../helpers/pe-build.js';
import { removeDir, tempDir, writeFiles } from '../plan/fixtures.js';

interface Member {
  name: string;
  data: Uint8Array;
}

const KB2883457 = () => corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab');
const OPENSSH = () => corpusPath('cab', 'fod', 'OpenSSH-Client-Package~31bf3856ad364e35~amd64~~.cab');
const WINPE = () => corpusPath('cab', 'fod', 'WinPE-Scripting_en-us.cab');
const KB2999226 = () => corpusPath('msu', 'Windows6.1-KB2999226-x64.msu');
const INNER = 'Windows6.1-KB2999226-x64.cab';
const BASE = () => corpusPath('manifests', 'base_manifest.bin');

const memberCache = new Map<string, Member[]>();

/** Members of a cabinet (file or bytes), decoded folder by folder through the library's extractor. */
async function membersOf(cabFile: string | Uint8Array): Promise<Member[]> {
  const key = typeof cabFile === 'string' ? cabFile : undefined;
  if (key && memberCache.has(key)) return memberCache.get(key)!;
  const got = await decodeMembers(cabFile);
  if (key) memberCache.set(key, got);
  return got;
}

async function decodeMembers(cabFile: string | Uint8Array): Promise<Member[]> {
  const cab = typeof cabFile === 'string' ? await Cabinet.openFile(cabFile) : await Cabinet.open(new BufferSource(cabFile, 'inner'));
  try {
    // One pass per folder (reading member by member would decode each folder from its start again).
    const out = cab.entries.map((e) => ({ e, m: { name: e.name, data: new Uint8Array(e.cbFile) } }));
    for (const span of cab.folders) {
      const mine = out.filter((x) => x.e.folder === span.index);
      await decodeFolder(span, (block, at) => {
        for (const { e, m } of mine) {
          const lo = Math.max(e.uoffFolderStart, at), hi = Math.min(e.uoffFolderStart + e.cbFile, at + block.length);
          if (lo < hi) m.data.set(block.subarray(lo - at, hi - at), lo - e.uoffFolderStart);
        }
      });
    }
    return out.map((x) => x.m);
  } finally {
    await cab.close();
  }
}

const pack = (files: Member[]): Uint8Array => buildCabinet({ folders: [{ compression: 'mszip', files }] });

let dir: string;
let base: Uint8Array;
/** True once the delta engine applies RAW deltas (DCM manifests are such); until then those checks are "not checked: no delta engine". */
let dcmWorks = false;

beforeAll(async () => {
  dir = await tempDir('msu-verify-corpus-');
  if (!hasCorpus) return;
  base = await readFile(BASE());
  const m = (await membersOf(OPENSSH())).find((x) => /libressl-components.*\.manifest$/.test(x.name))!;
  try {
    decodeDcmManifest(m.data, base);
    dcmWorks = true;
  } catch {
    dcmWorks = false;
  }
});
afterAll(async () => removeDir(dir));

const reasons = (r: VerifyReport): string[] => [...new Set(r.checks.filter((c) => c.outcome === 'not-checked').map((c) => c.reason!))].sort();

describe.skipIf(!hasCorpus)('verify: genuine corpus packages', () => {
  it('WinPE-Scripting: everything checked, every payload file against its manifest, exit 0', async () => {
    const r = await verifyPackage(WINPE());
    expect(r.mismatches).toEqual([]);
    expect(r.outcome).toBe('verified');
    expect(verifyExitCode(r)).toBe(EXIT.ok);
    // Nine .mui files, each declared with a SHA-256 by its component manifest.
    const payload = r.checks.filter((c) => c.check === 'payload-hash');
    expect(payload).toHaveLength(9);
    expect(payload.every((c) => c.outcome === 'verified')).toBe(true);
    expect(r.checks.filter((c) => c.check === 'catalog-signature').map((c) => c.outcome)).toEqual(['verified', 'verified']);
    const cli = await runCli('verify', WINPE());
    expect(cli.code).toBe(0);
    expect(cli.stdout.trimEnd().split('\n').pop()).toBe(`verified ${r.counts.verified}, mismatch 0, not checked 0`);
  });

  it('WinPE-Scripting with a payload changed and its manifest renamed: not checked (exit 8), never OK', async () => {
    const members = await membersOf(WINPE());
    const man = members.find((m) => /972a08df0c5f8860\.manifest$/.test(m.name))!;
    const mui = members.find((m) => m.name.startsWith(man.name.replace(/\.manifest$/, '\\')))!;
    const files = members.map((m) => (m === man ? { ...m, name: m.name.replace(/\.manifest$/, '.manifesX') } : m === mui ? { ...m, data: Uint8Array.from(m.data, (b, i) => (i === 100 ? b ^ 1 : b)) } : m));
    await writeFiles(dir, { 'renamed.cab': buildCabinet({ folders: [{ compression: 'mszip', files }] }) });
    const r = await verifyPackage(path.join(dir, 'renamed.cab'));
    expect(r.outcome).toBe('not-checked');
    expect(r.checks.filter((c) => c.reason === 'not-declared').map((c) => c.file)).toEqual([man.name.replace(/\.manifest$/, '.manifesX'), mui.name]);
    expect((await runCli('verify', path.join(dir, 'renamed.cab'))).code).toBe(EXIT.unchecked);
  });

  it('WinPE-Scripting with a component taken out whole (manifest and files): the .mum still names it, so not checked, never OK', async () => {
    const members = await membersOf(WINPE());
    const all = await verifyPackage(WINPE());
    expect(all.checks.filter((c) => c.check === 'mum-components')).toEqual([]);
    const mum = parseMum(members.find((m) => m.name === 'update.mum')!.data, 'update.mum');
    const comp = mum.package!.updates.find((u) => u.kind === 'component')!.identity!;
    const folder = keyform(comp);
    const kept = members.filter((m) => m.name.toLowerCase() !== `${folder}.manifest` && !m.name.toLowerCase().startsWith(`${folder}\\`));
    expect(members.length - kept.length).toBeGreaterThanOrEqual(1);
    await writeFiles(dir, { 'gone.cab': buildCabinet({ folders: [{ compression: 'mszip', files: kept }] }) });
    const r = await verifyPackage(path.join(dir, 'gone.cab'));
    expect(r.outcome).toBe('not-checked');
    expect(r.checks.filter((c) => c.check === 'mum-components').map((c) => [c.file, c.outcome, c.reason])).toEqual([[`${folder}.manifest`, 'not-checked', 'not-in-package']]);
  });

  it('OpenSSH FoD: its $filehashes$.dat agrees for every line; DCM manifests need the base manifest', async () => {
    const members = await membersOf(OPENSSH());
    const dat = members.find((m) => m.name === '$filehashes$.dat')!;
    // Independent count: the lines that look like name=HASH,SIZE in the UTF-16 text.
    const lines = Buffer.from(dat.data).toString('utf16le').split(/\r?\n/).filter((l) => /=[0-9A-F]{40,64},[0-9A-F]+$/i.test(l.trim()));
    expect(lines.length).toBeGreaterThan(40);

    const without = await verifyPackage(OPENSSH());
    expect(without.mismatches).toEqual([]);
    expect(reasons(without)).toEqual(['no-base-manifest']);
    expect(verifyExitCode(without)).toBe(EXIT.unchecked);
    const fh = without.checks.filter((c) => c.check === 'filehashes');
    expect(fh).toHaveLength(lines.length);
    expect(fh.every((c) => c.outcome === 'verified')).toBe(true);

    const r = await verifyPackage(OPENSSH(), { baseManifest: base });
    expect(r.mismatches).toEqual([]);
    if (dcmWorks) {
      expect(r.outcome).toBe('verified');
      expect(r.checks.filter((c) => c.check === 'manifest-decode' && c.outcome === 'verified')).toHaveLength(3);
    } else {
      expect(reasons(r)).toEqual(['no-delta-engine']);
    }
    const cli = await runCli('verify', OPENSSH(), '--base-manifest', BASE(), '--json');
    expect(cli.code).toBe(dcmWorks ? 0 : EXIT.unchecked);
    expect(JSON.parse(cli.stdout).counts).toEqual(r.counts);
  });

  it('KB2883457: no mismatch; its PE-aware deltas are not checked (PE transforms, phase 2)', async () => {
    const r = await verifyPackage(KB2883457());
    expect(r.mismatches).toEqual([]);
    const cix = parseContainerIndex((await membersOf(KB2883457())).find((m) => m.name === '_manifest_.cix.xml')!.data);
    const fileChecks = r.checks.filter((c) => c.check === 'cix-file-hash');
    expect(fileChecks).toHaveLength(cix.files.length);
    // RAW files are hashed as stored; member 0 is a baseless RAW-type PA30 delta the engine rebuilds
    // (startrep.exe, its SHA-1 then matches the cix); members 1..5 are PE-aware deltas.
    const startrep = fileChecks.find((c) => /22435.*\\startrep\.exe$/.test(c.file))!;
    expect(startrep.outcome).toBe(dcmWorks ? 'verified' : 'not-checked');
    expect(fileChecks.filter((c) => c.outcome === 'verified')).toHaveLength(cix.files.filter((f) => f.source?.type === 'RAW').length + (dcmWorks ? 1 : 0));
    expect(fileChecks.filter((c) => c.reason === 'pe-transforms')).toHaveLength(5);
    expect(reasons(r).every((x) => ['pe-transforms', 'no-delta-engine'].includes(x))).toBe(true);
    expect(verifyExitCode(r)).toBe(EXIT.unchecked);
    expect(verifyExitCode(r, { allowUnchecked: true })).toBe(EXIT.ok);
  });

  it('KB2999226: zero mismatches; "not checked: PE transforms (phase 2)" for each PE-aware delta and the copies of them; exit 8, 0 with --allow-unchecked', async () => {
    const r = await verifyPackage(KB2999226());
    expect(r.mismatches).toEqual([]);
    const inner = await membersOf((await membersOf(KB2999226())).find((m) => m.name === INNER)!.data);
    const cix = parseContainerIndex(inner.find((m) => m.name === '_manifest_.cix.xml')!.data);
    const data = new Map(inner.map((m) => [m.name, m.data]));
    const pe = cix.files.filter((f) => f.source && f.source.type === 'PA30' && readDeltaHeader(data.get(f.source.name!)!).fileType !== 1);
    expect(pe.length).toBeGreaterThan(40);
    for (const f of pe) {
      const c = r.checks.find((x) => x.check === 'cix-file-hash' && x.file === `${INNER}!${f.name}`)!;
      expect(c.outcome).toBe('not-checked');
      expect(c.reason).toBe('pe-transforms');
      expect(c.detail).toContain('PE transforms (phase 2)');
    }
    // Every copy entry is checked against its Basis (length and hash), and all 48 agree.
    const copies = cix.files.filter((f) => !f.source && f.basis?.file !== undefined);
    expect(copies).toHaveLength(48);
    expect(r.checks.filter((c) => c.check === 'cix-basis' && c.outcome === 'verified')).toHaveLength(48);
    const cli = await runCli('verify', KB2999226());
    expect(cli.code).toBe(EXIT.unchecked);
    expect(cli.stdout).toContain('NOT CHECKED (PE transforms (phase 2))');
    expect(cli.stdout.trimEnd().split('\n').pop()).toBe(`verified ${r.counts.verified}, mismatch 0, not checked ${r.counts.notChecked}`);
    expect((await runCli('verify', KB2999226(), '--allow-unchecked')).code).toBe(0);
  });
});

// ------------------------------------------------------------------ tamper

const rng = uniform(0x7a3e11);

/** Flip one byte (all bits) at a seeded position inside [lo, hi). */
function flipIn(data: Uint8Array, lo: number, hi: number): Uint8Array {
  const c = Uint8Array.from(data);
  const at = lo + Math.floor(rng() * (hi - lo));
  c[at] = c[at]! ^ 0xff;
  return c;
}

/** Change one hex digit of a listed member tag inside the catalog's signed content (the DER stays well formed). */
function tamperCatalogContent(cat: Uint8Array): Uint8Array {
  const bytes = Buffer.from(cat);
  const parsed = parseCatalog(bytes);
  // Most catalogs spell the member tag in UTF-16 hex; some store the digest bytes as the tag.
  const tag = Buffer.from(`${parsed.entries[0]!.tag.toUpperCase()}\0`, 'utf16le');
  const digest = Buffer.from(parsed.entries[0]!.tag, 'hex');
  const atTag = bytes.indexOf(tag);
  if (atTag > 0) {
    bytes[atTag] = bytes[atTag] === 0x41 ? 0x42 : 0x41;
    return bytes;
  }
  const at = bytes.indexOf(digest);
  expect(digest.length).toBeGreaterThan(0);
  expect(at).toBeGreaterThan(0);
  bytes[at + 3] = bytes[at + 3]! ^ 0xff;
  return bytes;
}

/** Flip one byte of the signer's signature value (found with pkijs, an independent parse path). */
function tamperCatalogSignature(cat: Uint8Array): Uint8Array {
  const asn = asn1js.fromBER(Uint8Array.from(cat));
  const signed = new pkijs.SignedData({ schema: new pkijs.ContentInfo({ schema: asn.result }).content });
  const sig = Buffer.from(signed.signerInfos[0]!.signature.valueBlock.valueHexView);
  const at = Buffer.from(cat).indexOf(sig);
  expect(at).toBeGreaterThan(0);
  return flipIn(cat, at + 8, at + sig.length - 8);
}

/** Flip a byte inside the first CFDATA block's compressed bytes of a built cabinet. */
function tamperCompressed(cab: Uint8Array): Uint8Array {
  const dv = new DataView(cab.buffer, cab.byteOffset, cab.byteLength);
  const coffCabStart = dv.getUint32(36, true);
  const cbData = dv.getUint16(coffCabStart + 4, true);
  return flipIn(cab, coffCabStart + 8 + 4, coffCabStart + 8 + cbData - 4);
}

type Kind = 'payload' | 'mum' | 'manifest' | 'dcm-manifest' | 'catalog-content' | 'catalog-signature' | 'cix-source' | 'compressed';

interface Case {
  label: string;
  file: () => string;
  /** Inner package cab of an MSU. */
  inner?: string;
  kinds: Partial<Record<Kind, (members: Member[]) => string>>;
  baseManifest?: boolean;
}

const byName = (re: RegExp) => (ms: Member[]): string => ms.find((m) => re.test(m.name))!.name;
const firstPa30Source = (ms: Member[]): string => {
  const cix = parseContainerIndex(ms.find((m) => m.name === '_manifest_.cix.xml')!.data);
  return cix.files.find((f) => f.source?.type === 'PA30')!.source!.name!;
};

const CASES: Case[] = [
  {
    label: 'KB2883457', file: KB2883457,
    kinds: {
      mum: byName(/^update\.mum$/), manifest: byName(/winre-tools.*22435.*\.manifest$/), 'catalog-content': byName(/^update\.cat$/),
      'catalog-signature': byName(/^update\.cat$/), 'cix-source': firstPa30Source, compressed: () => '',
    },
  },
  {
    label: 'OpenSSH', file: OPENSSH, baseManifest: true,
    kinds: {
      payload: byName(/\\ssh\.exe$/), mum: byName(/^update\.mum$/), 'dcm-manifest': byName(/libressl-components.*\.manifest$/),
      'catalog-content': byName(/^update\.cat$/), 'catalog-signature': byName(/^update\.cat$/), compressed: () => '',
    },
  },
  {
    label: 'WinPE-Scripting', file: WINPE,
    kinds: {
      payload: byName(/\\cscript\.exe\.mui$/), mum: byName(/^update\.mum$/), manifest: byName(/scripting\.resources.*\.manifest$/),
      'catalog-content': byName(/^update\.cat$/), 'catalog-signature': byName(/^update\.cat$/), compressed: () => '',
    },
  },
  {
    label: 'KB2999226', file: KB2999226, inner: INNER,
    kinds: {
      mum: byName(/^update\.mum$/), manifest: byName(/\.manifest$/), 'catalog-content': byName(/^update\.cat$/),
      'catalog-signature': byName(/^update\.cat$/), 'cix-source': firstPa30Source, compressed: () => '',
    },
  },
];

describe.skipIf(!hasCorpus)('verify: one tampered member of each kind gives a mismatch naming it, exit 1', () => {
  for (const c of CASES) {
    for (const [kind, pick] of Object.entries(c.kinds) as Array<[Kind, (m: Member[]) => string]>) {
      it(`${c.label}: ${kind}`, async () => {
        const outer = await membersOf(c.file());
        const members = c.inner ? await membersOf(outer.find((m) => m.name === c.inner)!.data) : outer;
        const target = pick(members);
        let cab: Uint8Array;
        let named: (name: string) => boolean;
        if (kind === 'compressed') {
          cab = tamperCompressed(pack(members));
          // The first block holds the first 32 KiB of the folder: one of the members starting there is named.
          const starts: string[] = [];
          let at = 0;
          for (const m of members) {
            if (at < 32768) starts.push(m.name);
            at += m.data.length;
          }
          named = (n) => starts.includes(n);
        } else {
          const changed = members.map((m) => {
            if (m.name !== target) return m;
            const d = m.data;
            const data = kind === 'catalog-content' ? tamperCatalogContent(d)
              : kind === 'catalog-signature' ? tamperCatalogSignature(d)
              : flipIn(d, Math.floor(d.length / 4), Math.floor((3 * d.length) / 4));
            return { name: m.name, data };
          });
          cab = pack(changed);
          named = (n) => n === target;
        }
        const bytes = c.inner ? pack(outer.map((m) => (m.name === c.inner ? { name: m.name, data: cab } : m))) : cab;
        const file = path.join(dir, `${c.label}-${kind}.${c.inner ? 'msu' : 'cab'}`);
        await writeFiles(dir, { [path.basename(file)]: bytes });
        const r = await verifyPackage(file, c.baseManifest ? { baseManifest: base } : {});
        const prefix = c.inner ? `${c.inner}!` : '';
        const hits = r.mismatches.filter((m) => m.file.startsWith(prefix) && named(m.file.slice(prefix.length)));
        expect(hits.length, JSON.stringify(r.mismatches, null, 1)).toBeGreaterThan(0);
        if (kind === 'catalog-content' || kind === 'catalog-signature') expect(hits.map((h) => h.check)).toContain('catalog-signature');
        if (kind === 'compressed') expect(hits.map((h) => h.check)).toContain('cabinet-data');
        if (kind === 'cix-source') expect(hits.map((h) => h.check)).toContain('cix-source-hash');
        if (kind === 'payload') expect(hits.map((h) => h.check).some((k) => k === 'payload-hash' || k === 'filehashes')).toBe(true);
        expect(r.outcome).toBe('mismatch');
        expect(verifyExitCode(r)).toBe(EXIT.mismatch);
        expect(verifyExitCode(r, { allowUnchecked: true })).toBe(EXIT.mismatch);
      });
    }
  }

  it('the CLI exits 1 and names the member (WinPE payload file)', async () => {
    const members = await membersOf(WINPE());
    const target = members.find((m) => /\\cscript\.exe\.mui$/.test(m.name))!;
    const changed = members.map((m) => (m === target ? { name: m.name, data: flipIn(m.data, 100, m.data.length - 100) } : m));
    await writeFiles(dir, { 'winpe-cli.cab': pack(changed) });
    const cli = await runCli('verify', path.join(dir, 'winpe-cli.cab'), '--allow-unchecked');
    expect(cli.code).toBe(1);
    expect(cli.stdout).toContain(`MISMATCH payload-hash: ${target.name.replace(/\\[^\\]*$/, '')}\\cscript.exe.mui`);
  });
});

describe.skipIf(!hasCorpus)('verify: the base manifest, found the ways msu cbs finds it', () => {
  const SS = 'amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.19041.1_none_0123456789abcdef';
  const wcp = (): Uint8Array => buildPe([{ type: 0x266, name: 1, lang: 0, data: base }]);
  const dcmChecks = (r: VerifyReport) => r.checks.filter((c) => c.check === 'manifest-decode').map((c) => c.outcome);

  it('--base-manifest, --wcp and MSU_BASE_MANIFEST give the same report; without any, DCM checks say what to pass', async () => {
    await writeFiles(dir, { 'wcp.dll': wcp() });
    const a = await runCli('verify', OPENSSH(), '--base-manifest', BASE(), '--json');
    const b = await runCli('verify', OPENSSH(), '--wcp', path.join(dir, 'wcp.dll'), '--json');
    const saved = process.env.MSU_BASE_MANIFEST;
    process.env.MSU_BASE_MANIFEST = BASE();
    let c;
    try {
      c = await runCli('verify', OPENSSH(), '--json');
    } finally {
      if (saved === undefined) delete process.env.MSU_BASE_MANIFEST;
      else process.env.MSU_BASE_MANIFEST = saved;
    }
    expect(b.stdout).toBe(a.stdout);
    expect(c.stdout).toBe(a.stdout);
    expect(dcmChecks(JSON.parse(a.stdout))).toEqual(Array(3).fill(dcmWorks ? 'verified' : 'not-checked'));
    const none = await runCli('verify', OPENSSH());
    expect(none.code).toBe(EXIT.unchecked);
    expect(none.stdout).toContain('NOT CHECKED (no base manifest given (--base-manifest, --wcp or MSU_BASE_MANIFEST)): 9 check(s)');
    expect((await runCli('verify', OPENSSH(), '--wcp', BASE())).code).toBe(EXIT.input);
  });

  it('takes it from wcp.dll of the package\'s own servicing stack: in the package, or in the SSU cab of the MSU', async () => {
    const members = await membersOf(OPENSSH());
    await writeFiles(dir, { 'with-ss.cab': pack([...members, { name: `${SS}\\wcp.dll`, data: wcp() }]) });
    const r = await verifyPackage(path.join(dir, 'with-ss.cab'));
    expect(r.mismatches).toEqual([]);
    expect(dcmChecks(r)).toEqual(Array(3).fill(dcmWorks ? 'verified' : 'not-checked'));
    expect(r.notes).toContain(`${SS}\\wcp.dll: base manifest for DCM manifests taken from this wcp.dll`);

    const ssu = pack([{ name: 'update.mum', data: new TextEncoder().encode('<assembly/>') }, { name: `${SS}\\wcp.dll`, data: wcp() }]);
    await writeFiles(dir, { 'bundle.msu': pack([{ name: 'SSU-19041.1-x64.cab', data: ssu }, { name: 'Windows10.0-KB1234567-x64.cab', data: pack(members) }]) });
    const m = await verifyPackage(path.join(dir, 'bundle.msu'));
    expect(m.notes).toContain(`SSU-19041.1-x64.cab!${SS}\\wcp.dll: base manifest for DCM manifests taken from this wcp.dll`);
    expect(m.checks.filter((c) => c.check === 'manifest-decode' && c.package === 'Windows10.0-KB1234567-x64.cab').map((c) => c.outcome))
      .toEqual(Array(3).fill(dcmWorks ? 'verified' : 'not-checked'));
  });
});
