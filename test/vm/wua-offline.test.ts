import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareWuaRun, WUA_RUN_FILES } from '../../src/vm/wua.js';
import { checkPayload, locatePayloads, offlineListing, OFFLINE_LABEL, selectOffline, stageOfflineTree, type OfflineInputs } from '../../src/vm/wua-offline.js';
import { generateWuaRunner, wuaParams } from '../../src/vm/guest/wua-runner.js';
import { buildRunReport, formatRunReport } from '../../src/vm/report.js';
import type { RunResult } from '../../src/vm/runner.js';
import { parseScanRules } from '../../src/scancab/rules.js';
import { isoList } from '../../src/iso/iso.js';
import { MsuError } from '../../src/errors.js';
import { buildScanCab, type FixtureUpdate } from '../helpers/scancab-build.js';
import { hasPsParser, psCommands, psFunctions, psMembers, psSyntaxErrors, psTree, type PsNode } from '../helpers/ps-syntax.js';
import { hasTool, skipNote } from '../helpers/tools.js';
import { runCli } from '../helpers/cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-wua-offline-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const image = path.join(tmp, 'audit.qcow2');
writeFileSync(image, 'QFI\xfb');

const G = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const CLS = '28bc880e-0592-4cbf-8f95-c79b17911d5f';
const sha1 = (b: Uint8Array | string): string => createHash('sha1').update(b).digest('hex');
const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');

const P1 = Buffer.from('payload of KB5000001 (leaf of a bundle)');
const P2 = Buffer.from('payload of KB5000002 (forbidden)');
const P3 = Buffer.from('payload of KB5000003 (superseded)');
const P4 = Buffer.from('payload of KB5000004');
const pay = (name: string, bytes: Buffer) => ({ name, sha1b64: b64(sha1(bytes)), size: bytes.length, url: `http://download.example/${name}` });

const UPDATES: FixtureUpdate[] = [
  { rev: 10, id: CLS, type: 'Category', title: 'Updates' },
  { rev: 100, id: G(100), kb: '5000001', bundle: true, title: 'Update A (KB5000001)', categories: [{ type: 'UpdateClassification', id: CLS }] },
  { rev: 101, id: G(101), kb: '5000001', bundledBy: [100], payload: [pay('windows10.0-kb5000001-x64.cab', P1)] },
  { rev: 200, id: G(200), kb: '5000002', title: 'Update B', payload: [pay('kb5000002.cab', P2)] },
  { rev: 300, id: G(300), kb: '5000003', title: 'Update C', supersededBy: [400], payload: [pay('kb5000003.cab', P3)] },
  { rev: 400, id: G(400), kb: '5000004', title: 'Update D (KB5000004)', payload: [pay('kb5000004.cab', P4)] },
];
const RULES = { defaultAllow: true, forbid: ['KB5000002'] };

const cab = path.join(tmp, 'wsusscn2.cab');
writeFileSync(cab, buildScanCab(UPDATES));
writeFileSync(path.join(tmp, 'rules.json'), JSON.stringify(RULES));

/** A DIR as msu fetch leaves it: the files and manifest.json (one file under another name). */
function updatesDir(name: string, files: Record<string, Buffer> = { 'windows10.0-kb5000001-x64.cab': P1, 'renamed-kb5000004.cab': P4 }): string {
  const dir = path.join(tmp, name);
  mkdirSync(dir, { recursive: true });
  for (const [n, b] of Object.entries(files)) writeFileSync(path.join(dir, n), b);
  const entries = Object.entries(files).map(([n, b]) => ({ name: n, sha1: sha1(b), size: b.length, url: `http://download.example/${n}` }));
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify({ files: entries }));
  return dir;
}
const inputs = (dir: string, rules: object = RULES): OfflineInputs => ({ scancab: cab, updatesDir: dir, rules: parseScanRules(rules), cacheDir: null });

describe('selectOffline: the rules engine runs on the host', () => {
  it('allows the selected updates (not forbidden, not superseded) with the payload of each revision', async () => {
    const sel = await selectOffline(inputs(updatesDir('sel')));
    expect(sel.params.allowed).toEqual([
      { updateId: G(100), kb: '5000001', title: 'Update A (KB5000001)', reason: 'defaultAllow' },
      { updateId: G(400), kb: '5000004', title: 'Update D (KB5000004)', reason: 'defaultAllow' },
    ]);
    // the payload belongs to the leaf the bundle contains: CopyToCache goes to that revision
    expect(sel.params.payloads).toEqual({ [G(101)]: ['windows10.0-kb5000001-x64.cab'], [G(400)]: ['kb5000004.cab'] });
    expect(sel.files).toEqual([
      { name: 'kb5000004.cab', sha1: sha1(P4), size: P4.length, updateIds: [G(400)] },
      { name: 'windows10.0-kb5000001-x64.cab', sha1: sha1(P1), size: P1.length, updateIds: [G(101)] },
    ]);
    expect(sel.params.label).toBe(OFFLINE_LABEL);
    expect(offlineListing(sel).map((e) => e.path)).toEqual(['wsusscn2.cab', 'payloads/kb5000004.cab', 'payloads/windows10.0-kb5000001-x64.cab']);
  });

  it('rules that select nothing are a usage error naming the cabinet', async () => {
    const err = await selectOffline(inputs(updatesDir('none'), { defaultAllow: false })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MsuError);
    expect((err as MsuError).kind).toBe('usage');
    expect((err as MsuError).describe()).toBe(`${cab}: the rules select no update of the scan cabinet (msu scancab CAB --rules R shows why each is left out)`);
  });
});

describe('payloads are checked before the VM starts', () => {
  it('finds files by the manifest\'s name for their SHA-1, else by the cabinet\'s name', async () => {
    const dir = updatesDir('loc');
    const sel = await selectOffline(inputs(dir));
    const at = await locatePayloads(dir, sel.files);
    expect(at.get(sha1(P4))).toBe(path.join(dir, 'renamed-kb5000004.cab'));
    expect(at.get(sha1(P1))).toBe(path.join(dir, 'windows10.0-kb5000001-x64.cab'));
  });

  it('a payload not in DIR is an IO error naming it, its SHA-1 and its update', async () => {
    const dir = updatesDir('missing', { 'windows10.0-kb5000001-x64.cab': P1 });
    const sel = await selectOffline(inputs(dir));
    const err = await locatePayloads(dir, sel.files).catch((e: unknown) => e) as MsuError;
    expect(err.kind).toBe('io');
    expect(err.code).toBe('E_PAYLOAD_MISSING');
    expect(err.describe()).toBe(`${dir}: 1 payload file(s) the rules select are not in the updates directory (run msu fetch CAB --rules R -d DIR): kb5000004.cab (sha1 ${sha1(P4)}, for ${G(400)})`);
  });

  it('wrong bytes are a mismatch naming the file; a symbolic link is refused', async () => {
    const dir = updatesDir('wrong', { 'windows10.0-kb5000001-x64.cab': Buffer.from('tampered'), 'kb5000004.cab': P4 });
    const sel = await selectOffline(inputs(dir));
    const at = await locatePayloads(dir, sel.files);
    const f = sel.files.find((x) => x.name === 'windows10.0-kb5000001-x64.cab')!;
    const err = await checkPayload(at.get(f.sha1)!, f).catch((e: unknown) => e) as MsuError;
    expect(err.kind).toBe('mismatch');
    expect(err.describe()).toBe(`${path.join(dir, 'windows10.0-kb5000001-x64.cab')}: payload windows10.0-kb5000001-x64.cab has SHA-1 ${sha1('tampered')} (8 bytes); the scan cabinet says ${sha1(P1)} (${P1.length} bytes)`);
    await expect(checkPayload(at.get(sha1(P4))!, sel.files.find((x) => x.name === 'kb5000004.cab')!)).resolves.toBeUndefined();

    const ln = path.join(tmp, 'linked');
    mkdirSync(ln);
    writeFileSync(path.join(tmp, 'outside.cab'), P4);
    symlinkSync(path.join(tmp, 'outside.cab'), path.join(ln, 'kb5000004.cab'));
    writeFileSync(path.join(ln, 'windows10.0-kb5000001-x64.cab'), P1);
    await expect(locatePayloads(ln, sel.files)).rejects.toMatchObject({ code: 'E_PAYLOAD', file: path.join(ln, 'kb5000004.cab') });
  });
});

describe('prepareWuaRun --offline-scan (dry run)', () => {
  it('writes offline.json, puts the allowed IDs in the params, attaches the medium, no network', async () => {
    const runDir = path.join(tmp, 'r-off');
    const p = await prepareWuaRun(image, { runDir, dryRun: true, runId: 'wua-off', offline: inputs(updatesDir('dry')) });
    expect(p.artifacts.map((a) => a.path)).toEqual([
      'guest/wua-runner.ps1', 'guest/wua-params.json', 'guest/wua-task.xml', 'guest/unattend.xml', 'offline.json', 'spec.json', 'host-commands.json', 'qemu-argv.json',
    ]);
    expect(p.spec.vm.net).toEqual({ mode: 'none' });
    expect(p.spec.vm.cdroms).toEqual([{ role: 'inputs', path: path.join(runDir, 'offline.iso') }]);
    expect(p.commands.map((c) => c.tool)).toEqual(['stage', 'xorriso', 'qemu-img', 'virt-customize']);
    expect(p.commands[1]!.args).toEqual(['-as', 'mkisofs', '-iso-level', '3', '-J', '-joliet-long', '-r', '-V', 'MSUOFFLINE', '-o', path.join(runDir, 'offline.iso'), path.join(runDir, 'offline-tree')]);
    const params = JSON.parse(readFileSync(path.join(runDir, 'guest', 'wua-params.json'), 'utf8')) as { offline: Record<string, unknown> };
    expect(params.offline).toEqual({
      label: 'MSUOFFLINE', cab: 'wsusscn2.cab', payloadDir: 'payloads', serviceName: 'msu-toolkit offline scan wua-off',
      allowed: [
        { updateId: G(100), kb: '5000001', title: 'Update A (KB5000001)', reason: 'defaultAllow' },
        { updateId: G(400), kb: '5000004', title: 'Update D (KB5000004)', reason: 'defaultAllow' },
      ],
      payloads: { [G(101)]: ['windows10.0-kb5000001-x64.cab'], [G(400)]: ['kb5000004.cab'] },
    });
    const off = JSON.parse(readFileSync(path.join(runDir, 'offline.json'), 'utf8')) as { medium: unknown[]; cabinet: { packageId: string } };
    expect(off.cabinet.packageId).toBe('00000000-0000-4000-8000-000000000001');
    expect(off.medium).toEqual([
      { path: 'wsusscn2.cab' },
      { path: 'payloads/kb5000004.cab', sha1: sha1(P4), size: P4.length, updateIds: [G(400)] },
      { path: 'payloads/windows10.0-kb5000001-x64.cab', sha1: sha1(P1), size: P1.length, updateIds: [G(101)] },
    ]);
    // a dry run builds no medium
    expect(existsSync(path.join(runDir, WUA_RUN_FILES.offlineIso))).toBe(false);
  });

  it('a wrong payload stops the run before anything is written', async () => {
    const runDir = path.join(tmp, 'r-bad');
    const dir = updatesDir('dry-bad', { 'windows10.0-kb5000001-x64.cab': P1, 'kb5000004.cab': P2 });
    await expect(prepareWuaRun(image, { runDir, dryRun: true, offline: inputs(dir) })).rejects.toMatchObject({ kind: 'mismatch', file: path.join(dir, 'kb5000004.cab') });
    expect(existsSync(path.join(runDir, 'spec.json'))).toBe(false);
  });
});

describe('the offline medium', () => {
  if (!hasTool('xorriso')) skipNote('offline medium ISO', 'xorriso');
  it.runIf(hasTool('xorriso'))('holds the cabinet and the payloads, each checked as staged, under label MSUOFFLINE', async () => {
    const runDir = path.join(tmp, 'r-iso');
    const dir = updatesDir('iso');
    const p = await prepareWuaRun(image, { runDir, dryRun: true, runId: 'wua-iso', offline: inputs(dir) });
    const sel = await selectOffline(inputs(dir));
    const tree = p.commands[0]!.args[2]!;
    await stageOfflineTree(tree, cab, await locatePayloads(dir, sel.files), sel.files);
    execFileSync('xorriso', p.commands[1]!.args, { stdio: 'ignore' });
    const iso = path.join(runDir, 'offline.iso');
    const list = (await isoList(iso)).filter((e) => e.type === 'file').map((e) => [e.path, e.size]).sort();
    expect(list).toEqual([
      ['/payloads/kb5000004.cab', P4.length],
      ['/payloads/windows10.0-kb5000001-x64.cab', P1.length],
      ['/wsusscn2.cab', readFileSync(cab).length],
    ]);
    expect(execFileSync('xorriso', ['-indev', iso, '-pvd_info'], { stdio: ['ignore', 'pipe', 'pipe'] }).toString()).toMatch(/Volume Id\s*:\s*MSUOFFLINE/);
  });

  it('staging removes its tree when a payload is wrong', async () => {
    const dir = updatesDir('stage-bad', { 'windows10.0-kb5000001-x64.cab': P1, 'kb5000004.cab': P2 });
    const sel = await selectOffline(inputs(dir));
    const tree = path.join(tmp, 'tree-bad');
    await expect(stageOfflineTree(tree, cab, await locatePayloads(dir, sel.files), sel.files)).rejects.toMatchObject({ kind: 'mismatch' });
    expect(existsSync(tree)).toBe(false);
  });
});

describe('the generated runner in offline mode', () => {
  const sel = selectOffline(inputs(updatesDir('gen')));
  const files = async () => generateWuaRunner({ runId: 'wua-gen', offline: (await sel).params });

  it('carries the allowed IDs as data only; the script is the same constant', async () => {
    const f = await files();
    const params = JSON.parse(f.paramsJson) as { offline: { allowed: { updateId: string }[] } };
    expect(params.offline.allowed.map((a) => a.updateId)).toEqual([G(100), G(400)]);
    expect(f.runnerPs1).toBe(generateWuaRunner({ runId: 'x' }).runnerPs1);
    for (const needle of [G(100), '5000004', 'MSUOFFLINE']) expect(f.runnerPs1.includes(needle), needle).toBe(false);
  });

  it('refuses include/exclude filters and bad data with usage errors', async () => {
    const params = (await sel).params;
    expect(() => generateWuaRunner({ runId: 'x', offline: params, include: [{ kb: 'KB5000001' }] })).toThrow(/rules file selects the updates/);
    expect(() => wuaParams({ runId: 'x', offline: { ...params, allowed: [{ updateId: 'KB1', kb: null, title: null, reason: '' }] } })).toThrow(/not an UpdateID GUID/);
    expect(() => wuaParams({ runId: 'x', offline: { ...params, payloads: { [G(1)]: ['..\\evil.cab'] } } })).toThrow(/not a plain file name/);
    expect(() => wuaParams({ runId: 'x', offline: { ...params, allowed: [] } })).toThrow(/allows no update/);
  });

  if (!hasPsParser) skipNote('offline runner structure checks', 'tree-sitter-powershell (npm devDependency)');
  const fn = async (name: string): Promise<PsNode> => {
    const f = psFunctions(await psTree((await files()).runnerPs1)).get(name);
    if (!f) throw new Error(`no function ${name}`);
    return f;
  };

  it.runIf(hasPsParser)('has no syntax errors', async () => {
    expect(await psSyntaxErrors((await files()).runnerPs1)).toEqual([]);
  });

  it.runIf(hasPsParser)('registers the cabinet with the service manager and searches it with ssOthers and its ServiceID', async () => {
    const reg = await fn('Register-OfflineService');
    expect(reg.text).toContain('New-Object -ComObject Microsoft.Update.ServiceManager');
    expect(psMembers(reg)).toEqual(expect.arrayContaining(['AddScanPackageService', 'ServiceID']));
    expect(reg.text).toContain('$sm.AddScanPackageService([string]$script:P.offline.serviceName, $cab, 1)');
    const search = await fn('Search-Updates');
    expect(search.text).toContain('$searcher.ServerSelection = 3');
    expect(search.text).toContain('$searcher.ServiceID = (Register-OfflineService)');
    // the online path is unchanged
    expect(search.text).toContain('$searcher.ServerSelection = 2');
  });

  it.runIf(hasPsParser)('selects by the host\'s allowed UpdateIds, installs from the medium through CopyToCache, never the downloader', async () => {
    const sel = await fn('Select-Updates');
    expect(psCommands(sel)).toContain('Test-OfflineAllowed');
    const allowed = await fn('Test-OfflineAllowed');
    expect(allowed.text).toContain('foreach ($a in @($script:P.offline.allowed))');
    const copy = await fn('Copy-OfflinePayloads');
    expect(psMembers(copy)).toEqual(expect.arrayContaining(['BundledUpdates', 'CopyToCache', 'IsDownloaded']));
    expect(copy.text).toContain('New-Object -ComObject Microsoft.Update.StringColl');
    expect(copy.text).toContain('$t.CopyToCache($paths)');
    const round = await fn('Invoke-Round');
    expect(psCommands(round)).toContain('Copy-OfflinePayloads');
    // the downloader loop does not run offline
    expect(round.text).toContain('$null -eq $script:P.offline -and $pending.Count -gt 0');
    const pre = await fn('Invoke-Preflight');
    expect(pre.text.indexOf('if ($null -ne $script:P.offline)')).toBeLessThan(pre.text.indexOf('GetHostAddresses'));
  });

  it.runIf(hasPsParser)('removes the service registration when the run ends and before every reboot', async () => {
    const rm = await fn('Remove-OfflineService');
    expect(psMembers(rm)).toEqual(expect.arrayContaining(['RemoveService', 'IsScanPackageService']));
    expect(psCommands(await fn('Complete-Run'))).toContain('Remove-OfflineService');
    expect(psCommands(await fn('Restart-ForNextRound'))).toContain('Remove-OfflineService');
  });
});

describe('the per-round report of an offline run', () => {
  it('names each update by KB and UpdateId with its result (recorded-shape guest output)', () => {
    const result: RunResult = {
      id: 'wua-off', ok: true, starts: 3, boots: 3, durationMs: 65_000, results: [
        { round: 1, updates: [
          { updateId: G(100), revision: 200, title: 'Update A (KB5000001)', kb: ['KB5000001'], resultCode: 2, hresult: '0x00000000', rebootRequired: true },
          { updateId: G(400), revision: 200, title: 'Update D (KB5000004)', kb: ['KB5000004'], resultCode: 4, hresult: '0x80240022', rebootRequired: false },
        ] },
      ],
    } as unknown as RunResult;
    const r = buildRunReport('audit-wua', result, []);
    expect(r.updates.map((u) => [u.round, u.kb, u.updateId, u.outcome, u.hresult])).toEqual([
      [1, ['KB5000001'], G(100), 'succeeded', '0x00000000'],
      [1, ['KB5000004'], G(400), 'failed', '0x80240022'],
    ]);
    const text = formatRunReport(r);
    expect(text).toContain(`  round 1  succeeded             KB5000001  ${G(100)}  Update A (KB5000001)`);
    expect(text).toContain(`  round 1  failed                KB5000004  ${G(400)}  Update D (KB5000004)  0x80240022`);
  });
});

describe('msu run wua --offline-scan (CLI)', () => {
  // the CLI caches scan indexes: keep the cache inside the test's directory
  const prevCache = process.env.MSU_CACHE_DIR;
  beforeAll(() => { process.env.MSU_CACHE_DIR = path.join(tmp, 'cache'); });
  afterAll(() => {
    if (prevCache === undefined) delete process.env.MSU_CACHE_DIR;
    else process.env.MSU_CACHE_DIR = prevCache;
  });

  it('--dry-run --json: the summary lists the medium; the files are checked', async () => {
    const runDir = path.join(tmp, 'cli-off');
    const r = await runCli('run', 'wua', image, '--offline-scan', cab, '--updates', updatesDir('cli'), '--rules', path.join(tmp, 'rules.json'), '--run-dir', runDir, '--dry-run', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { hostCommands: string[]; artifacts: { path: string }[] };
    expect(out.hostCommands).toEqual(['stage', 'xorriso', 'qemu-img', 'virt-customize']);
    expect(out.artifacts.map((a) => a.path)).toContain('offline.json');
    const text = await runCli('run', 'wua', image, '--offline-scan', cab, '--updates', updatesDir('cli'), '--rules', path.join(tmp, 'rules.json'), '--run-dir', runDir, '--dry-run');
    expect(text.stdout).toContain('offline.json  offline medium MSUOFFLINE: the scan cabinet, the payloads, the updates the rules allow');
    // that second run read the index from the cache the first one wrote: the same selection
    expect(readdirSync(path.join(tmp, 'cache', 'scancab')).some((f) => f.endsWith('.ndjson'))).toBe(true);
    const params = JSON.parse(readFileSync(path.join(runDir, 'guest', 'wua-params.json'), 'utf8')) as { offline: { allowed: { updateId: string }[]; payloads: object } };
    expect(params.offline.allowed.map((a) => a.updateId)).toEqual([G(100), G(400)]);
    expect(params.offline.payloads).toEqual({ [G(101)]: ['windows10.0-kb5000001-x64.cab'], [G(400)]: ['kb5000004.cab'] });
  });

  it('usage errors: the three options go together, no --include with them, rules selecting nothing', async () => {
    const a = await runCli('run', 'wua', image, '--offline-scan', cab, '--dry-run');
    expect(a.code).toBe(2);
    expect(a.stderr).toContain('--offline-scan, --updates and --rules go together');
    const b = await runCli('run', 'wua', image, '--offline-scan', cab, '--updates', updatesDir('cli'), '--rules', path.join(tmp, 'rules.json'), '--include', 'KB5000001', '--dry-run');
    expect(b.code).toBe(2);
    expect(b.stderr).toContain('use its allow/forbid lists');
    writeFileSync(path.join(tmp, 'none.json'), '{"defaultAllow": false}');
    const c = await runCli('run', 'wua', image, '--offline-scan', cab, '--updates', updatesDir('cli'), '--rules', path.join(tmp, 'none.json'), '--run-dir', path.join(tmp, 'cli-none'), '--dry-run');
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('the rules select no update of the scan cabinet');
  });

  it('a missing payload exits 6 and a wrong one exits 1, naming the file, before anything boots', async () => {
    const miss = updatesDir('cli-miss', { 'windows10.0-kb5000001-x64.cab': P1 });
    const m = await runCli('run', 'wua', image, '--offline-scan', cab, '--updates', miss, '--rules', path.join(tmp, 'rules.json'), '--run-dir', path.join(tmp, 'cli-m'), '--dry-run');
    expect(m.code).toBe(6);
    expect(m.stderr).toContain('kb5000004.cab');
    expect(m.stderr).not.toMatch(/\n\s+at /);
    const wrong = updatesDir('cli-wrong', { 'windows10.0-kb5000001-x64.cab': P1, 'kb5000004.cab': P3 });
    const w = await runCli('run', 'wua', image, '--offline-scan', cab, '--updates', wrong, '--rules', path.join(tmp, 'rules.json'), '--run-dir', path.join(tmp, 'cli-w'), '--dry-run');
    expect(w.code).toBe(1);
    expect(w.stderr).toContain(`${path.join(wrong, 'kb5000004.cab')}: payload kb5000004.cab has SHA-1 ${sha1(P3)}`);
  });
});
