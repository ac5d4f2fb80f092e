import { createHash } from 'node:crypto';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Cabinet } from '../../src/cab/cabinet.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { verifyPackage, type VerifyCheck } from '../../src/verify/index.js';
import { componentManifest, packageMum, removeDir, tempDir, writeFiles } from '../plan/fixtures.js';

/**
 * Folders over the keep limits: their members are hashed while the folder is decoded once,
 * never read again one by one (Cabinet.readFile decodes the folder from its start each time,
 * quadratic on an LCU payload). The limits are lowered so a small fixture takes that path.
 */

let dir: string;
beforeAll(async () => {
  dir = await tempDir('msu-verify-big-');
});
afterAll(async () => removeDir(dir));
afterEach(() => vi.restoreAllMocks());

const COMPONENTS = 40;
const TAMPERED = 17;

/** $filehashes$.dat (UTF-16LE): sha1 of every dll, as stored. */
function fileHashes(dlls: { name: string; data: Uint8Array }[]): Uint8Array {
  const lines = ['[sha1]', ...dlls.map((d) => `${d.name}=${createHash('sha1').update(d.data).digest('hex')},${d.data.length.toString(16)}`)];
  return Buffer.from('\ufeff' + lines.join('\r\n') + '\r\n', 'utf16le');
}

/** A package cab of one MSZIP folder: update.mum, 40 manifests, 40 dlls (5-9 KB, spanning CFDATA blocks); dll 17 differs from what its manifest declares. */
function packageCab(): Uint8Array {
  const enc = new TextEncoder();
  const files: { name: string; data: Uint8Array }[] = [{ name: 'update.mum', data: enc.encode(packageMum({ name: 'Package_for_X', version: '10.0.19041.1', kb: 'KB1' })) }];
  const dlls: { name: string; data: Uint8Array }[] = [];
  const declared: { name: string; data: Uint8Array }[] = [];
  for (let i = 0; i < COMPONENTS; i++) {
    const dll = new Uint8Array(5000 + i * 100).map((_, k) => (k * (i + 3) + (k >> 7)) & 0xff);
    files.push({ name: `x_comp${i}.manifest`, data: enc.encode(componentManifest(`c${i}.dll`, dll, { name: `X-Comp-${i}` })) });
    const shipped = i === TAMPERED ? dll.map((b, k) => (k === 4000 ? b ^ 0x40 : b)) : dll;
    dlls.push({ name: `x_comp${i}\\c${i}.dll`, data: shipped });
    declared.push({ name: `x_comp${i}\\c${i}.dll`, data: dll });
  }
  // interleaved, as makecab orders a component's directory after its manifest
  for (let i = 0; i < COMPONENTS; i++) files.push(dlls[i]!);
  files.push({ name: '$filehashes$.dat', data: fileHashes(declared) });
  return buildCabinet({ folders: [{ compression: 'mszip', files }] });
}

const brief = (cs: VerifyCheck[]) => cs.map((c) => [c.package, c.file, c.check, c.outcome, c.expected ?? '', c.actual ?? ''].join(' | '));

describe('verify: members of a folder over the keep limits', () => {
  it('are hashed in the one decode of the folder: same report as when kept, the tampered member named, no member decoded again', async () => {
    await writeFiles(dir, { 'big.cab': packageCab() });
    const file = path.join(dir, 'big.cab');
    const kept = await verifyPackage(file);
    const readFile = vi.spyOn(Cabinet.prototype, 'readFile');
    // folderMax 0: no folder is kept whole; memberMax 1 KiB: every dll is only hashed
    const streamed = await verifyPackage(file, { keepLimits: { folderMax: 0, memberMax: 1024 } });
    expect(readFile).not.toHaveBeenCalled();
    expect(brief(streamed.checks)).toEqual(brief(kept.checks));
    // the tampered dll: its manifest's SHA-256 and $filehashes$.dat's SHA-1 both name it
    // (no catalog ships in this fixture: every .mum and manifest is a catalog-member mismatch too)
    expect(streamed.mismatches.filter((m) => m.check !== 'catalog-member').map((m) => [m.file, m.check])).toEqual([
      [`x_comp${TAMPERED}\\c${TAMPERED}.dll`, 'filehashes'], [`x_comp${TAMPERED}\\c${TAMPERED}.dll`, 'payload-hash'],
    ]);
    const verifiedPayload = streamed.checks.filter((c) => c.check === 'payload-hash' && c.outcome === 'verified');
    expect(verifiedPayload).toHaveLength(COMPONENTS - 1);
    expect(streamed.checks.filter((c) => c.check === 'filehashes' && c.outcome === 'verified')).toHaveLength(COMPONENTS - 1);
  });

  it('a member needed whole beyond the memory budget is still read (correct results, fewer decodes than members)', async () => {
    const file = path.join(dir, 'big.cab');
    const kept = await verifyPackage(file);
    const readFile = vi.spyOn(Cabinet.prototype, 'readFile');
    // totalMax 8 KiB: a few manifests fit, the rest are read on demand
    const tight = await verifyPackage(file, { keepLimits: { folderMax: 0, memberMax: 1024, totalMax: 8192 } });
    expect(brief(tight.checks)).toEqual(brief(kept.checks));
    expect(readFile.mock.calls.length).toBeGreaterThan(0);
    // only metadata (read whole) comes back; the dlls are hashed in the scan
    expect(readFile.mock.calls.filter(([e]) => e.name.endsWith('.dll'))).toEqual([]);
  });

  it('a bundle whose outer folder is compressed: each inner cabinet is decoded once, by the outer scan', async () => {
    const inner = packageCab();
    const outerCab = buildCabinet({ folders: [{ compression: 'mszip', files: [
      { name: 'Windows10.0-KB1-x64.cab', data: inner },
      { name: 'Windows10.0-KB1-x64-pkgProperties.txt', data: Buffer.from('\ufeffKB Article Number="1"\r\n', 'utf16le') },
    ] }] });
    await writeFiles(dir, { 'bundle.msu': outerCab });
    const readFile = vi.spyOn(Cabinet.prototype, 'readFile');
    const r = await verifyPackage(path.join(dir, 'bundle.msu'));
    expect(readFile).not.toHaveBeenCalled();
    expect(r.checks.filter((c) => c.package === '.' && c.check === 'cabinet-data').map((c) => c.outcome)).toEqual(['verified']);
    expect(r.packages.map((p) => p.member)).toEqual(['Windows10.0-KB1-x64.cab']);
    expect(r.mismatches.filter((m) => m.check !== 'catalog-member').map((m) => [m.package, m.file, m.check])).toEqual([
      ['Windows10.0-KB1-x64.cab', `Windows10.0-KB1-x64.cab!x_comp${TAMPERED}\\c${TAMPERED}.dll`, 'filehashes'],
      ['Windows10.0-KB1-x64.cab', `Windows10.0-KB1-x64.cab!x_comp${TAMPERED}\\c${TAMPERED}.dll`, 'payload-hash'],
    ]);
  });
});
