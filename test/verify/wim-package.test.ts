/**
 * A CBS package stored in a WIM/ESD (update.mum, .mum/.cat pairs and manifests at the image root):
 * msu inspect, msu verify and msu plan read it as they read the same package as a cabinet. The WIMs
 * are captured here with wimlib-imagex from a folder holding the real package's files.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { decodeFolder } from '../../src/cab/folder.js';
import { buildPlan } from '../../src/plan/plan.js';
import { EXIT } from '../../src/errors.js';
import { inspectFile } from '../../src/msu/inspect.js';
import { verifyExitCode, verifyPackage } from '../../src/verify/index.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { runCli } from '../helpers/cli.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { removeDir, tempDir } from '../plan/fixtures.js';

const wimlib = hasTool('wimlib-imagex');
if (!wimlib) skipNote('CBS packages stored in a WIM/ESD', 'wimlib-imagex');

const WINPE = () => corpusPath('cab', 'fod', 'WinPE-Scripting_en-us.cab');
const OPENSSH = () => corpusPath('cab', 'fod', 'OpenSSH-Client-Package~31bf3856ad364e35~amd64~~.cab');

/** The members of a cabinet, one decode per folder. */
async function members(file: string): Promise<Map<string, Uint8Array>> {
  const cab = await Cabinet.openFile(file);
  try {
    const out = new Map<string, Uint8Array>(cab.entries.map((e) => [e.name, new Uint8Array(e.cbFile)]));
    for (const span of cab.folders) {
      const mine = cab.entries.filter((e) => e.folder === span.index);
      await decodeFolder(span, (block, at) => {
        for (const e of mine) {
          const lo = Math.max(e.uoffFolderStart, at), hi = Math.min(e.uoffFolderStart + e.cbFile, at + block.length);
          if (lo < hi) out.get(e.name)!.set(block.subarray(lo - at, hi - at), lo - e.uoffFolderStart);
        }
      });
    }
    return out;
  } finally {
    await cab.close();
  }
}

/** Write the files into a folder (backslash names become subfolders) and capture it; `solid` gives an ESD (LZMS, solid). */
async function capture(out: string, files: Map<string, Uint8Array>, solid: boolean): Promise<void> {
  const src = await mkdtemp(`${out}.src-`);
  try {
    for (const [rel, data] of files) {
      const p = path.join(src, ...rel.split('\\'));
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, data);
    }
    execFileSync('wimlib-imagex', ['capture', src, out, 'package', ...(solid ? ['--solid'] : ['--compress=LZX'])], { stdio: 'pipe' });
  } finally {
    await rm(src, { recursive: true, force: true });
  }
}

let dir: string;
let esd: string;
let wim: string;
let scratch: string;

beforeAll(async () => {
  dir = await tempDir('msu-wimpkg-');
  scratch = path.join(dir, 'scratch');
  await mkdir(scratch);
  if (!wimlib || !hasCorpus) return;
  esd = path.join(dir, 'WinPE-Scripting_en-us.esd');
  wim = path.join(dir, 'OpenSSH-Client.wim');
  await capture(esd, await members(WINPE()), true);
  await capture(wim, await members(OPENSSH()), false);
});
afterAll(async () => removeDir(dir));

describe.skipIf(!wimlib || !hasCorpus)('a CBS package stored in a WIM/ESD', () => {
  it('msu inspect recognises it: the same package as the cabinet holds', async () => {
    const fromCab = await inspectFile(WINPE());
    const r = await inspectFile(esd);
    expect(r.container).toBe('wim-package');
    expect(r.packages.map((p) => [p.member, p.identity, p.class])).toEqual(fromCab.packages.map((p) => ['.', p.identity, p.class]));
    expect(r.packages[0]!.identity).toMatch(/^WinPE-Scripting-Package~31bf3856ad364e35~x86~en-US~/i);
    expect(r.members.map((m) => m.name)).toContain('update.mum');
    const cli = await runCli('inspect', esd);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toContain('CBS package (WIM)');
  });

  it('msu verify checks it like the cabinet, plus the WIM\'s own hashes; nothing left in the temp root', async () => {
    const cab = await verifyPackage(WINPE());
    const r = await verifyPackage(esd, { tempRoot: scratch });
    expect(r.outcome).toBe('verified');
    expect(verifyExitCode(r)).toBe(EXIT.ok);
    const kinds = (checks: typeof r.checks) => checks.filter((c) => c.check !== 'cabinet-data' && c.check !== 'wim-integrity').map((c) => [c.file, c.check, c.outcome]);
    expect(kinds(r.checks)).toEqual(kinds(cab.checks));
    expect(r.checks.filter((c) => c.check === 'wim-integrity').map((c) => [c.file, c.outcome])).toEqual([['[WinPE-Scripting_en-us.esd]', 'verified']]);
    expect(r.packages.map((p) => [p.member, p.container, p.catalogs])).toEqual([['.', 'WIM image', 2]]);
    expect(await readdir(scratch)).toEqual([]);
  });

  it('a DCM package in a WIM verifies with the base manifest; a flipped payload byte is a mismatch naming the file', async () => {
    const ok = await runCli('verify', wim, '--base-manifest', corpusPath('manifests', 'base_manifest.bin'), '--json');
    const j = JSON.parse(ok.stdout);
    expect([ok.code, j.outcome, j.counts.mismatch, j.counts.notChecked]).toEqual([0, 'verified', 0, 0]);
    expect(j.checks.filter((c: { check: string; outcome: string }) => c.check === 'manifest-decode' && c.outcome === 'verified')).toHaveLength(3);
    const files = await members(OPENSSH());
    const name = [...files.keys()].find((n) => /\\ssh\.exe$/.test(n))!;
    const bad = Uint8Array.from(files.get(name)!);
    bad[5000] ^= 0xff;
    files.set(name, bad);
    const tampered = path.join(dir, 'tampered.wim');
    await capture(tampered, files, false);
    const r = await verifyPackage(tampered, { tempRoot: scratch });
    expect(r.mismatches.map((m) => [m.file, m.check])).toContainEqual([name, 'filehashes']);
    expect(verifyExitCode(r)).toBe(EXIT.mismatch);
    expect(await readdir(scratch)).toEqual([]);
  });

  it('msu plan takes it as one bare package', async () => {
    const plan = await buildPlan({ inputs: [path.basename(esd)], drivers: [], target: { build: '10.0.9200.16384', arch: 'x86' }, cwd: dir });
    const fromCab = await inspectFile(WINPE());
    expect(plan.inputs.map((i) => [i.path, i.kind, i.packages.map((p) => p.identity)])).toEqual([
      [path.basename(esd), 'cab', [fromCab.packages[0]!.identity]],
    ]);
  });
});
