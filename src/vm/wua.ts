/**
 * Path B host side: an Audit Mode image (qcow2) runs Windows Update over several reboots.
 *
 *   prepareWuaRun(image, opts)   overlay work.qcow2 on the image, generated runner files, the
 *                                offline injection commands, RunSpec
 *   runVm(spec, ...)             (src/vm/runner.ts)
 *   compactImage(work, out)      (src/vm/runner.ts) after a clean guest power-off
 *
 * Injection happens offline before the first boot: the runner, its params and the task XML
 * into C:\ProgramData\msu-toolkit, unattend.xml into C:\Windows\Panther. That needs
 * libguestfs (`virt-customize`, Debian package guestfs-tools).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { IoError, ioError, MsuError, UnsupportedError, UsageError } from '../errors.js';
import { canonicalJson } from '../util/json.js';
import { runTool, ToolRunError } from '../util/exec.js';
import { encodeTaskXml, generateWuaRunner, GUEST_FILES, type WuaRunnerOptions } from './guest/wua-runner.js';
import { dryRunArgv, writeArtifact, type HostArtifact, type HostCommand, type PreparedRun } from './prepared-run.js';
import { validateRunSpec } from './spec.js';
import { probeAccel, type AccelProbe } from './features.js';
import { compactImage, type RunResult } from './runner.js';
import { writeRunReport, type RunReport } from './report.js';
import { checkPayload, locatePayloads, OFFLINE_LABEL, offlineListing, selectOffline, stageOfflineTree, type OfflineInputs } from './wua-offline.js';

export interface PrepareWuaOptions extends Omit<WuaRunnerOptions, 'runId' | 'offline'> {
  runDir: string;
  /**
   * Offline scan: the rules select updates of the scan cabinet, DIR holds their payloads (checked
   * by SHA-1 before anything boots), the guest searches the cabinet and installs from the medium.
   */
  offline?: OfflineInputs;
  dryRun?: boolean;
  /** Bus the image's Windows was installed with (virtio-blk needs viostor in the image). */
  bus?: 'ahci' | 'virtio-blk';
  netModel?: 'e1000e' | 'virtio-net-pci';
  secureBoot?: boolean;
  memMiB?: number;
  cpus?: number;
  runId?: string;
}

export const WUA_RUN_FILES = {
  guest: 'guest',
  work: 'work.qcow2',
  commands: 'host-commands.json',
  argv: 'qemu-argv.json',
  spec: 'spec.json',
  /** What the host found in the image before injecting (WuaImageFacts); the cleanup reads it. */
  image: 'wua-image.json',
  /** Offline scan: what the medium holds and which updates the rules allow. */
  offline: 'offline.json',
  offlineTree: 'offline-tree',
  offlineIso: 'offline.iso',
} as const;

/** Guest paths (as libguestfs sees the Windows volume) the injection writes and the cleanup removes. */
export const WUA_GUEST_PATHS = {
  dir: '/ProgramData/msu-toolkit',
  backup: '/ProgramData/msu-toolkit/backup',
  unattend: '/Windows/Panther/unattend.xml',
  taskFile: '/Windows/System32/Tasks/msu-toolkit/wua-runner',
  taskDir: '/Windows/System32/Tasks/msu-toolkit',
} as const;

/** An Audit Mode image the injection cannot (or must not) be applied to. */
export class WuaImageError extends UnsupportedError {
  constructor(message: string, file: string) {
    super('E_WUA_IMAGE', message, { file });
  }
}

/** What the host reads from the image, offline and read-only, before injecting. */
export interface WuaImageFacts {
  /** Architecture of Windows\System32\cmd.exe, in unattend terms (undefined when unknown). */
  arch?: 'amd64' | 'x86' | 'arm64';
  /** hiberfil.sys starts with a hibernation signature (hibernated, or shut down with Fast Startup). */
  hibernated: boolean;
  /** Files in Windows\Panther\Unattend: Windows reads them before Panther\unattend.xml. */
  pantherUnattend: string[];
  /** The name of an existing Windows\Panther\unattend.xml (any case): kept aside and restored. */
  existingUnattend?: string;
  /** HKLM\SYSTEM\Setup!UnattendFile: an answer file that takes precedence over every other. */
  unattendFile?: string;
}

const SECTION = (name: string): string => `@@msu-${name}@@`;

/** guestfish commands (run with `--ro -i`): one marked section per fact; `-` keeps going past a missing file. */
export function inspectionScript(hiveDir: string): string {
  return [
    `echo ${SECTION('arch')}`,
    '-file-architecture /Windows/System32/cmd.exe',
    `echo ${SECTION('panther')}`,
    '-find /Windows/Panther',
    `echo ${SECTION('hiberfil')}`,
    '-pread /hiberfil.sys 4 0',
    `echo ${SECTION('end')}`,
    `-download /Windows/System32/config/SYSTEM ${path.join(hiveDir, 'SYSTEM')}`,
    '',
  ].join('\n');
}

/** The facts from the inspection's output (pure). */
export function parseInspection(stdout: string, unattendFile: string | undefined): WuaImageFacts {
  // markers can follow output without a line break (pread prints raw bytes): split on them anywhere
  const sections = new Map<string, string[]>();
  const parts = stdout.split(/@@msu-(\w+)@@/);
  for (let i = 1; i < parts.length; i += 2) sections.set(parts[i]!, parts[i + 1]!.split('\n'));
  const archText = (sections.get('arch') ?? []).join(' ').trim();
  const arch = archText === 'x86_64' ? 'amd64' : archText === 'i386' ? 'x86' : archText === 'aarch64' ? 'arm64' : undefined;
  // guestfish find prints paths below the folder, each with a leading slash
  const panther = (sections.get('panther') ?? []).map((l) => l.trim().replace(/^\/+/, '')).filter(Boolean);
  const pantherUnattend = panther.filter((p) => /^unattend\/[^/]+\.xml$/i.test(p)).sort();
  const existingUnattend = panther.find((p) => /^unattend\.xml$/i.test(p));
  const hibernated = /hibr/i.test((sections.get('hiberfil') ?? []).join(''));
  return {
    ...(arch ? { arch } : {}),
    hibernated,
    pantherUnattend,
    ...(existingUnattend ? { existingUnattend } : {}),
    ...(unattendFile ? { unattendFile } : {}),
  };
}

/**
 * Refuse an image the run would not work on, naming every problem at once; returns the
 * unattend architecture to use.
 */
export function checkWuaImage(facts: WuaImageFacts, file: string, wantArch?: 'amd64' | 'x86' | 'arm64'): 'amd64' | 'x86' | 'arm64' {
  const problems: string[] = [];
  if (facts.hibernated) {
    problems.push('Windows is hibernated or was shut down with Fast Startup (hiberfil.sys holds a hibernation image), so its NTFS volume cannot be changed offline; boot it and shut down fully (shutdown /s /t 0, or powercfg /h off first)');
  }
  if (facts.unattendFile) {
    problems.push(`HKLM\\SYSTEM\\Setup!UnattendFile names ${JSON.stringify(facts.unattendFile)}, which Windows reads instead of the injected Panther\\unattend.xml; remove that value`);
  }
  if (facts.pantherUnattend.length > 0) {
    problems.push(`Windows\\Panther\\${facts.pantherUnattend.map((p) => p.replace(/\//g, '\\')).join(', ')} would be read before the injected Panther\\unattend.xml; remove it`);
  }
  if (wantArch && facts.arch && wantArch !== facts.arch) problems.push(`--arch ${wantArch} does not match the image's Windows (${facts.arch})`);
  if (problems.length > 0) throw new WuaImageError(`cannot prepare this Audit Mode image: ${problems.join('; ')}`, file);
  return wantArch ?? facts.arch ?? 'amd64';
}

const HIBERNATED_RE = /hibernat|unclean file system|Metadata kept in Windows cache/i;

/**
 * libguestfs starts its appliance under KVM whenever /dev/kvm opens, and some hosts expose a KVM
 * that cannot run it: qemu aborts (a nested host refusing an MSR), or the guest spins where KVM
 * reports an internal error, and libguestfs waits 20 minutes for an appliance that never comes.
 * So before the first tool the accelerator is probed as for the VM itself (probeAccel, once per
 * process), and a KVM that does not run a test guest means TCG for the appliance. A launch that
 * fails all the same changes nothing on the image: the tool runs once more under TCG, and so do
 * the later ones.
 */
let applianceTcg: Promise<boolean> | undefined;

/**
 * Whether the libguestfs appliance runs under TCG in this process: the first call probes
 * (`probe`), unless the user's LIBGUESTFS_BACKEND_SETTINGS already say force_tcg.
 */
export function applianceNeedsTcg(probe: () => Promise<AccelProbe> = probeAccel, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if ((env.LIBGUESTFS_BACKEND_SETTINGS ?? '').split(':').includes('force_tcg')) return Promise.resolve(true);
  applianceTcg ??= probe().then((p) => p.accel === 'tcg');
  return applianceTcg;
}

/** Did a libguestfs tool fail because its appliance did not start (its stderr)? */
export function applianceLaunchFailed(stderr: string): boolean {
  return /guestfs_launch failed/.test(stderr);
}

/** The environment of a libguestfs tool: the direct backend, TCG once KVM failed to launch the appliance. */
export function guestEnv(env: NodeJS.ProcessEnv, tcg: boolean): Record<string, string> {
  const out: Record<string, string> = { LIBGUESTFS_BACKEND: env.LIBGUESTFS_BACKEND ?? 'direct' };
  const settings = (env.LIBGUESTFS_BACKEND_SETTINGS ?? '').split(':').filter(Boolean);
  if (tcg && !settings.includes('force_tcg')) settings.push('force_tcg');
  if (settings.length > 0) out.LIBGUESTFS_BACKEND_SETTINGS = settings.join(':');
  return out;
}

/** Run a libguestfs tool; a hibernated NTFS volume becomes the one clear WuaImageError. */
async function guestTool(tool: string, args: string[], file: string, input?: string): Promise<string> {
  const run = (tcg: boolean) => runTool(tool, args, { file, ...(input !== undefined ? { input } : {}), env: guestEnv(process.env, tcg) });
  try {
    const tcg = await applianceNeedsTcg();
    let r;
    try {
      r = await run(tcg);
    } catch (e) {
      if (tcg || !(e instanceof ToolRunError) || !applianceLaunchFailed(e.stderr)) throw e;
      applianceTcg = Promise.resolve(true);
      r = await run(true);
    }
    return String(r.stdout);
  } catch (e) {
    if (e instanceof ToolRunError && HIBERNATED_RE.test(e.stderr)) {
      throw new WuaImageError('Windows is hibernated or was shut down with Fast Startup, so its NTFS volume cannot be changed offline; boot it and shut down fully (shutdown /s /t 0)', file);
    }
    throw e;
  }
}

/** Read the facts from the image (libguestfs, read-only; the image is not changed). */
export async function inspectWuaImage(image: string): Promise<WuaImageFacts> {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'msu-wua-'));
  try {
    const out = await guestTool('guestfish', ['--ro', '-a', image, '-i'], image, inspectionScript(tmp));
    let unattendFile: string | undefined;
    try {
      const r = await runTool('hivexget', [path.join(tmp, 'SYSTEM'), 'Setup', 'UnattendFile'], { file: image });
      unattendFile = String(r.stdout).trim() || undefined;
    } catch (e) {
      // no such value (hivexget exits 1): nothing takes precedence; a missing tool is still an error
      if (!(e instanceof ToolRunError) || e.exitCode === undefined) throw e;
    }
    return parseInspection(out, unattendFile);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** virt-customize arguments of the injection: the user's Panther unattend (if any) is moved aside first. */
export function injectionArgs(work: string, guestDir: string, facts: Pick<WuaImageFacts, 'existingUnattend'>): string[] {
  const G = WUA_GUEST_PATHS;
  return [
    '-a', work,
    '--mkdir', G.dir,
    '--upload', `${path.join(guestDir, GUEST_FILES.runner)}:${G.dir}/${GUEST_FILES.runner}`,
    '--upload', `${path.join(guestDir, GUEST_FILES.params)}:${G.dir}/${GUEST_FILES.params}`,
    '--upload', `${path.join(guestDir, GUEST_FILES.task)}:${G.dir}/${GUEST_FILES.task}`,
    ...(facts.existingUnattend ? ['--mkdir', G.backup, '--move', `/Windows/Panther/${facts.existingUnattend}:${G.backup}/unattend.xml`] : []),
    '--mkdir', '/Windows/Panther',
    '--upload', `${path.join(guestDir, 'unattend.xml')}:${G.unattend}`,
  ];
}

/**
 * guestfish commands that take the run out of the image after a clean run: the injected
 * unattend (the user's own comes back), the runner folder with its state, and the task file if
 * the guest could not delete it. Each command tolerates what is already gone.
 */
export function cleanupScript(facts: Pick<WuaImageFacts, 'existingUnattend'>): string {
  const G = WUA_GUEST_PATHS;
  return [
    `-rm-f ${G.unattend}`,
    ...(facts.existingUnattend ? [`-mv ${G.backup}/unattend.xml /Windows/Panther/${facts.existingUnattend}`] : []),
    `-rm-rf ${G.dir}`,
    `-rm-f ${G.taskFile}`,
    `-rmdir ${G.taskDir}`,
    '',
  ].join('\n');
}

/** Run the cleanup on the work overlay (before it is flattened), using the facts recorded at injection. */
export async function cleanupWuaImage(work: string, runDir: string): Promise<void> {
  const factsFile = path.join(runDir, WUA_RUN_FILES.image);
  let facts: WuaImageFacts;
  try {
    facts = JSON.parse(await readFile(factsFile, 'utf8')) as WuaImageFacts;
  } catch (err) {
    if (err instanceof SyntaxError) throw new IoError('E_WUA_FACTS', `not valid JSON: ${err.message}`, { file: factsFile });
    throw ioError(err, factsFile);
  }
  await guestTool('guestfish', ['-a', work, '-i'], work, cleanupScript(facts));
}

export async function prepareWuaRun(image: string, opts: PrepareWuaOptions): Promise<PreparedRun> {
  const runDir = path.resolve(opts.runDir);
  const at = (rel: string): string => path.join(runDir, rel);
  let st;
  try {
    st = await stat(image);
  } catch (err) {
    throw ioError(err, image, 'open the Audit Mode image');
  }
  if (!st.isFile()) throw new IoError('E_IO_NOT_FILE', 'the Audit Mode image is not a regular file', { file: image });

  const { runDir: _r, dryRun, bus, netModel, secureBoot, memMiB, cpus, runId: givenId, offline, ...hostOpts } = opts;
  void _r;
  let runnerOpts: Omit<WuaRunnerOptions, 'runId'> = hostOpts;
  // offline: the rules' selection and every payload checked before anything else happens
  if (offline && (hostOpts.include?.length || hostOpts.exclude?.length)) {
    throw new UsageError('with --offline-scan the rules file selects the updates: --include and --exclude are not used with it');
  }
  const sel = offline ? await selectOffline(offline) : undefined;
  let located: Map<string, string> | undefined;
  if (offline && sel) {
    located = await locatePayloads(offline.updatesDir, sel.files);
    // a dry run checks in place; a real run checks each file as it is staged for the medium
    if (dryRun) for (const f of sel.files) await checkPayload(located.get(f.sha1)!, f);
    runnerOpts = { ...hostOpts, offline: sel.params };
  }
  const runId = givenId ?? 'wua-' + createHash('sha256').update(path.basename(image) + canonicalJson(runnerOpts)).digest('hex').slice(0, 12);
  // a real run reads the image first (read-only): refuse what would defeat the injection, learn its architecture
  const facts: WuaImageFacts | undefined = dryRun ? undefined : await inspectWuaImage(image);
  const arch = facts ? checkWuaImage(facts, image, runnerOpts.arch) : (runnerOpts.arch ?? 'amd64');
  const files = generateWuaRunner({ ...runnerOpts, arch, runId });
  const maxRounds = JSON.parse(files.paramsJson).maxRounds as number;
  const maxPending = JSON.parse(files.paramsJson).maxPendingReboots as number;
  const maxInstallRetries = JSON.parse(files.paramsJson).maxInstallRetries as number;

  const G = WUA_RUN_FILES.guest;
  const out: Array<[string, string | Uint8Array, string]> = [
    [GUEST_FILES.runner, files.runnerPs1, 'Windows Update runner (C:\\ProgramData\\msu-toolkit)'],
    [GUEST_FILES.params, files.paramsJson, 'runner parameters'],
    [GUEST_FILES.task, encodeTaskXml(files.taskXml), 'SYSTEM startup task (UTF-16LE)'],
    ['unattend.xml', files.unattendXml, 'Panther unattend: oobeSystem Reseal=Audit, auditUser task registration'],
  ];
  const artifacts: HostArtifact[] = [];
  for (const [name, content, description] of out) {
    await writeArtifact(runDir, artifacts, `${G}/${name}`, content, name === GUEST_FILES.params ? 'params' : 'guest-file', description);
  }

  if (sel) {
    await writeArtifact(runDir, artifacts, WUA_RUN_FILES.offline, canonicalJson({
      cabinet: sel.cabinet, label: OFFLINE_LABEL, allowed: sel.params.allowed, medium: offlineListing(sel),
    }), 'manifest', `offline medium ${OFFLINE_LABEL}: the scan cabinet, the payloads, the updates the rules allow`);
  }

  const work = at(WUA_RUN_FILES.work);
  const offlineCommands: HostCommand[] = sel ? [
    { tool: 'stage', args: [path.resolve(offline!.scancab), path.resolve(offline!.updatesDir), at(WUA_RUN_FILES.offlineTree)], why: `the scan cabinet and ${sel.files.length} payload file(s), each checked by SHA-1 as it is staged` },
    {
      tool: 'xorriso',
      args: ['-as', 'mkisofs', '-iso-level', '3', '-J', '-joliet-long', '-r', '-V', OFFLINE_LABEL, '-o', at(WUA_RUN_FILES.offlineIso), at(WUA_RUN_FILES.offlineTree)],
      why: `offline medium, volume label ${OFFLINE_LABEL} (the runner finds it by label)`,
    },
  ] : [];
  const commands: HostCommand[] = [
    ...offlineCommands,
    { tool: 'qemu-img', args: ['create', '-f', 'qcow2', '-b', path.resolve(image), '-F', 'qcow2', work], why: 'overlay: the base image stays untouched' },
    {
      tool: 'virt-customize',
      args: injectionArgs(work, at(G), facts ?? {}),
      why: 'offline injection of the runner and the Panther unattend (libguestfs, NTFS); an existing Panther unattend.xml is moved aside and restored after the run',
    },
  ];

  const spec = validateRunSpec({
    id: runId,
    kind: 'audit-wua',
    vm: {
      accel: 'auto',
      machine: 'q35',
      cpus: cpus ?? 2,
      memMiB: memMiB ?? 4096,
      firmware: { type: 'ovmf', secureBoot: secureBoot ?? false },
      // the overlay is created by the host commands above (injection must precede the boot)
      disks: [{ role: 'system', path: work, format: 'qcow2', bus: bus ?? 'ahci' }],
      cdroms: sel ? [{ role: 'inputs', path: at(WUA_RUN_FILES.offlineIso) }] : [],
      // offline: no network at all, so nothing but the cabinet can answer
      net: sel ? { mode: 'none' } : { mode: 'user', model: netModel ?? 'e1000e' },
      rebootPolicy: 'restart-process',
      statusDisk: { sizeMiB: 64, bus: 'ahci' },
    },
    guest: { script: GUEST_FILES.runner, params: { runId, maxRounds } },
    expect: { statusFile: 'status.json', outputs: [{ path: WUA_RUN_FILES.work, kind: 'file' }] },
    // every round is a boot, plus reboots for pending CBS work, plus the first boot and slack
    // install retries (a throwing Install(), a busy installer) reboot too
    timeouts: { bootMin: 45, heartbeatMin: 20, perBootMin: 240, totalMin: 24 * 60, maxBoots: maxRounds * (1 + maxPending) + maxInstallRetries + 2 },
  });

  await writeArtifact(runDir, artifacts, WUA_RUN_FILES.spec, canonicalJson(spec), 'spec', 'the RunSpec');
  await writeArtifact(runDir, artifacts, WUA_RUN_FILES.commands, canonicalJson(commands), 'manifest', 'host commands: overlay and offline injection');
  await writeArtifact(runDir, artifacts, WUA_RUN_FILES.argv, canonicalJson(dryRunArgv(spec, runDir)), 'argv', 'QEMU argv (TCG, plain OVMF; the real run probes the host)');

  if (facts) await writeArtifact(runDir, artifacts, WUA_RUN_FILES.image, canonicalJson(facts), 'manifest', 'what the image held before the injection (read-only inspection)');
  if (!dryRun) {
    for (const c of commands) {
      if (c.tool === 'stage') await stageOfflineTree(c.args[2]!, offline!.scancab, located!, sel!.files);
      else if (c.tool === 'virt-customize') await guestTool(c.tool, c.args, image);
      else if (c.tool === 'xorriso') {
        await runTool(c.tool, c.args, { file: offline!.scancab });
        // the ISO holds the files now; the staging tree (hard links) is not needed
        await rm(at(WUA_RUN_FILES.offlineTree), { recursive: true, force: true });
      } else await runTool(c.tool, c.args, { file: image });
    }
    if (sel) artifacts.push({ path: WUA_RUN_FILES.offlineIso, kind: 'inputs-iso', description: `offline medium (${OFFLINE_LABEL}): scan cabinet and payloads` });
    artifacts.push({ path: WUA_RUN_FILES.work, kind: 'disk', description: 'overlay with the runner injected' });
  }
  return { runDir, spec, artifacts, commands, dryRun: dryRun === true };
}

export interface FinishWuaOptions {
  /** Where the flattened image goes (default: RUNDIR/serviced.qcow2). */
  output?: string;
  compress?: boolean;
  /** Take the run out of the image before flattening it (default true; see cleanupWuaImage). */
  cleanup?: boolean;
}

/**
 * After the VM run: write report.json, and flatten the overlay into a standalone qcow2, but
 * only after a clean guest power-off (a run that failed leaves just the overlay, to inspect).
 */
export async function finishWuaRun(runDir: string, result: RunResult, opts: FinishWuaOptions = {}): Promise<{ report: RunReport; output?: string }> {
  const report = await writeRunReport(runDir);
  if (!result.ok) return { report };
  // the user gets the image back without the run in it: no injected unattend, runner, state or task
  if (opts.cleanup !== false) await cleanupWuaImage(path.join(runDir, WUA_RUN_FILES.work), runDir);
  const output = opts.output ?? path.join(runDir, 'serviced.qcow2');
  await compactImage(path.join(runDir, WUA_RUN_FILES.work), output, { compress: opts.compress === true, after: result });
  return { report, output };
}
