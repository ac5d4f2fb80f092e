/**
 * Path A host side: turn a plan into a WinPE DISM worker run, and check the result.
 *
 *   prepareDismRun(plan, {iso, runDir})  generated scripts, inputs tree + ISO, boot ISO
 *                                        (boot.wim index 2 with startnet.cmd), disks, RunSpec
 *   runVm(spec, ...)                     (src/vm/runner.ts)
 *   finishDismRun(plan, runDir, result) report.json; DISM /Get-Packages + /Get-Drivers vs the
 *                                        plan; output WIM (joined when split) copied out
 *
 * With `dryRun` nothing is copied, built or started: the generated files, the spec, the
 * QEMU argv and the list of host commands are written into the run directory.
 */
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, rm, stat, chmod } from 'node:fs/promises';
import path from 'node:path';
import { FormatError, IoError, MsuError, UsageError, ioError } from '../errors.js';
import { type Plan } from '../plan/plan-types.js';
import { readPlanFile } from '../plan/plan-check.js';
import { copyPlanInput, resolvePlanInputs, verifyPlanInput, type ResolvedPlanInput } from '../plan/plan-inputs.js';
import { canonicalJson } from '../util/json.js';
import { runTool } from '../util/exec.js';
import { listFiles } from '../util/walk.js';
import { wimUpdate, type WimUpdateCommand } from '../wim/wimlib.js';
import { isoList } from '../iso/iso.js';
import { DEFAULT_LABELS, generateDismWorker, MEDIA_DIR, servicedImages, STATUS_FILES, WARNING_CODES, type DismImageLayout, type DismWorkerFile } from './guest/dism-worker.js';
import { assertMatchesPlan, compareWithPlan, parseDismDrivers, parseDismPackages, type DismDriver, type DismPackage, type DismRunReport, type DismStepWarning, type PlanDifference } from './dism-output.js';
export type { DismRunReport, DismStepWarning } from './dism-output.js';
import { validateRunSpec, type RunSpec } from './spec.js';
import type { RunResult } from './runner.js';
import { writeRunReport, type RunReport } from './report.js';
import { copyOutStatusDisk, createStatusDisk } from './status-disk.js';
import { dryRunArgv, writeArtifact, type HostArtifact, type HostCommand, type PreparedRun } from './prepared-run.js';
import { byCode } from '../util/compare.js';
export { dryRunArgv, writeArtifact, type HostArtifact, type HostCommand, type PreparedRun } from './prepared-run.js';

export interface PrepareDismOptions {
  /** The Windows installation ISO (its sources\install.wim is what gets serviced). */
  iso: string;
  /** A prepared worker system disk (qcow2) instead of a WinPE boot ISO built from `iso`. */
  worker?: string;
  runDir: string;
  /** Plan input paths resolve against this (default: the current directory). */
  baseDir?: string;
  dryRun?: boolean;
  scratchMiB?: number;
  outputMiB?: number;
  memMiB?: number;
  cpus?: number;
}

/** Files the run directory holds (relative names). */
export const DISM_RUN_FILES = {
  guest: 'guest',
  inputsTree: 'inputs',
  inputsIso: 'inputs.iso',
  bootTree: 'boot-tree',
  bootIso: 'boot.iso',
  scratch: 'scratch.img',
  output: 'output.img',
  manifest: 'dism-manifest.json',
  commands: 'host-commands.json',
  argv: 'qemu-argv.json',
  spec: 'spec.json',
} as const;

/** Paths in boot.wim index 2 that the worker files replace or add. */
export function bootWimCommands(files: DismWorkerFile[], guestDir: string): WimUpdateCommand[] {
  return files.map((f) => ({ op: 'add' as const, src: path.join(guestDir, f.path.split('\\').pop()!), dest: '/' + f.path.replace(/\\/g, '/') }));
}

export function dismRunId(plan: Plan): string {
  return 'dism-' + createHash('sha256').update(canonicalJson(plan)).digest('hex').slice(0, 12);
}

/** An ISO or disk the user named on the command line: a regular file, or an IoError naming it. */
async function mustExist(p: string, what: string): Promise<void> {
  let st;
  try {
    st = await stat(p);
  } catch (err) {
    throw ioError(err, p, `open ${what}`);
  }
  if (!st.isFile()) throw new IoError('E_IO_NOT_FILE', `${what} is not a regular file`, { file: p });
}

export async function prepareDismRun(plan: Plan, opts: PrepareDismOptions): Promise<PreparedRun> {
  const runDir = path.resolve(opts.runDir);
  const baseDir = path.resolve(opts.baseDir ?? process.cwd());
  const runId = dismRunId(plan);
  const { files, images } = generateDismWorker(plan, { runId });
  const F = DISM_RUN_FILES;
  const at = (rel: string): string => path.join(runDir, rel);

  await mustExist(opts.iso, 'install ISO');
  if (opts.worker) await mustExist(opts.worker, 'worker disk');
  if (!opts.dryRun) await requireWindowsIso(opts.iso, images, opts.worker === undefined);

  const commands: HostCommand[] = [];
  const copies = images.flatMap((im) =>
    im.steps.flatMap((st) =>
      st.files.map((f) => ({
        id: f.inputId,
        from: '',
        to: path.join(at(F.inputsTree), ...st.isoDir.split('/'), f.isoName),
        dir: f.kind === 'driver-folder',
      })),
    ),
  );
  // Every input a step uses: inside the base directory, and (dry run too) the bytes the plan pins.
  const resolved = await resolvePlanInputs(plan, baseDir, copies.map((c) => c.id));
  for (const c of copies) c.from = resolved.get(c.id)!.abs;
  const placements = new Map<string, string[]>();
  for (const c of copies) placements.set(c.id, [...(placements.get(c.id) ?? []), c.to]);
  if (opts.dryRun) {
    for (const id of placements.keys()) await verifyPlanInput(resolved.get(id)!);
  } else {
    await copyInputs(at(F.inputsTree), placements, resolved);
  }

  // An input used by several steps (a combined SSU+LCU MSU) is copied once; the other step folders hard-link it.
  const linked = new Set<string>();
  for (const c of copies) {
    if (!linked.has(c.id)) {
      linked.add(c.id);
      commands.push({ tool: 'cp', args: [c.dir ? '-r' : '', c.from, c.to].filter(Boolean), why: `copy plan input ${c.id} into its step folder on the inputs ISO, checking its size and sha256 against the plan` });
    } else {
      const first = placements.get(c.id)![0]!;
      const why = `hard link plan input ${c.id} into another step folder (stored once on the ISO)`;
      commands.push(c.dir ? { tool: 'cp', args: ['-al', first, c.to], why } : { tool: 'ln', args: [first, c.to], why });
    }
  }
  commands.push({
    tool: 'xorriso',
    args: ['-as', 'mkisofs', '-iso-level', '3', '-J', '-joliet-long', '-r', '-V', DEFAULT_LABELS.inputs, '-o', at(F.inputsIso), at(F.inputsTree)],
    why: `inputs ISO, volume label ${DEFAULT_LABELS.inputs} (the worker finds it by label)`,
  });
  if (!opts.worker) {
    const extract = ['/boot', '/efi', '/bootmgr', '/bootmgr.efi', '/sources/boot.wim'];
    commands.push({
      tool: 'xorriso',
      args: ['-osirrox', 'on', '-indev', path.resolve(opts.iso), ...extract.flatMap((e) => ['-extract', e, at(F.bootTree) + e])],
      why: 'boot files and boot.wim from the install ISO (install.wim stays on the ISO, attached read-only)',
    });
    commands.push({
      tool: 'wimlib-imagex',
      args: ['update', at(`${F.bootTree}/sources/boot.wim`), '2', '--rebuild', '--no-acls'],
      why: 'add startnet.cmd, worker.cmd, heartbeat.cmd, msu-diskpart.txt and winpeshl.ini (runs startnet.cmd instead of X:\\setup.exe) to boot.wim index 2 (Windows\\System32) via wimUpdate',
    });
    commands.push({
      tool: 'xorriso',
      args: [
        '-as', 'mkisofs', '-iso-level', '3', '-J', '-joliet-long', '-D', '-N', '-relaxed-filenames', '-V', 'MSUWORKER',
        '-b', 'boot/etfsboot.com', '-no-emul-boot', '-boot-load-size', '8', '-boot-info-table',
        '-eltorito-alt-boot', '-e', 'efi/microsoft/boot/efisys_noprompt.bin', '-no-emul-boot',
        '-o', at(F.bootIso), at(F.bootTree),
      ],
      why: 'WinPE worker boot ISO, BIOS and UEFI El Torito entries',
    });
  }
  const scratchMiB = opts.scratchMiB ?? 65536;
  const outputMiB = opts.outputMiB ?? 16384;
  commands.push({ tool: 'createStatusDisk', args: [at(F.scratch), `sizeMiB=${scratchMiB}`, `label=${DEFAULT_LABELS.scratch}`], why: 'scratch disk (FAT; the worker reformats it NTFS by label)' });
  commands.push({ tool: 'createStatusDisk', args: [at(F.output), `sizeMiB=${outputMiB}`, `label=${DEFAULT_LABELS.output}`], why: 'output disk, FAT32 (WIMs over 4 GiB - 1 arrive split)' });

  const cdroms: Array<{ role: string; path: string }> = [];
  const disks: Array<Record<string, unknown>> = [];
  if (opts.worker) {
    disks.push({ role: 'system', path: at('worker.qcow2'), format: 'qcow2', bus: 'ahci', overlayOf: path.resolve(opts.worker), overlayFormat: 'qcow2' });
  } else {
    cdroms.push({ role: 'boot', path: at(F.bootIso) });
  }
  cdroms.push({ role: 'inputs', path: at(F.inputsIso) }, { role: 'original-iso', path: path.resolve(opts.iso) });
  disks.push({ role: 'work', path: at(F.scratch), format: 'raw', bus: 'ahci' }, { role: 'output', path: at(F.output), format: 'raw', bus: 'ahci' });

  const spec = validateRunSpec({
    id: runId,
    kind: 'dism-worker',
    vm: {
      accel: 'auto',
      machine: 'q35',
      cpus: opts.cpus ?? 2,
      memMiB: opts.memMiB ?? 6144,
      firmware: { type: 'ovmf', secureBoot: false },
      disks,
      cdroms,
      net: { mode: 'none' },
      rebootPolicy: 'restart-process',
      statusDisk: { sizeMiB: 256, bus: 'ahci' },
    },
    guest: { script: 'worker.cmd', params: { runId, images: images.map((im) => im.image) } },
    expect: { statusFile: STATUS_FILES.final, outputs: [{ path: F.output, kind: 'file' }] },
    // WinPE never reboots here: one boot, and a guest reset fails the run
    timeouts: { bootMin: 30, heartbeatMin: 15, perBootMin: 600, totalMin: 720, maxBoots: 1 },
  });

  const manifest = { runId, images: images.map((im) => describeImage(im, images)), copies: copies.map((c) => ({ from: resolved.get(c.id)!.input.path, to: path.relative(runDir, c.to).split(path.sep).join('/') })) };
  const artifacts: HostArtifact[] = [];
  for (const f of files) {
    const name = f.path.split('\\').pop()!;
    await writeArtifact(runDir, artifacts, `${F.guest}/${name}`, f.content, 'guest-file', `WinPE ${f.path}`);
  }
  await writeArtifact(runDir, artifacts, F.manifest, canonicalJson(manifest), 'manifest', 'step ids, images and the input copies');
  await writeArtifact(runDir, artifacts, F.spec, canonicalJson(spec), 'spec', 'the RunSpec');
  await writeArtifact(runDir, artifacts, F.commands, canonicalJson(commands), 'manifest', 'host commands that build the inputs');
  await writeArtifact(runDir, artifacts, F.argv, canonicalJson(dryRunArgv(spec, runDir)), 'argv', 'QEMU argv (TCG, plain OVMF; the real run probes the host)');

  if (!opts.dryRun) {
    await writeArtifact(runDir, [], `${F.inputsTree}/msu-inputs.txt`, `msu-toolkit inputs for run ${runId}\r\n`, 'inputs-tree', 'marker');
    for (const c of commands) {
      if (c.tool === 'cp' || c.tool === 'ln') continue;
      if (c.tool === 'createStatusDisk') {
        await createStatusDisk(c.args[0]!, { sizeMiB: Number(c.args[1]!.split('=')[1]), label: c.args[2]!.split('=')[1]! });
      } else if (c.tool === 'wimlib-imagex') {
        await wimUpdate(c.args[1]!, 2, bootWimCommands(files, at(F.guest)));
      } else {
        await runTool(c.tool, c.args, { file: opts.iso });
        if (c.args.includes('-osirrox')) await makeWritable(at(F.bootTree));
      }
    }
    artifacts.push({ path: F.inputsIso, kind: 'inputs-iso', description: `inputs ISO (${DEFAULT_LABELS.inputs})` });
    if (!opts.worker) artifacts.push({ path: F.bootIso, kind: 'boot-iso', description: 'WinPE worker boot ISO' });
    artifacts.push({ path: F.scratch, kind: 'disk', description: 'scratch disk' }, { path: F.output, kind: 'disk', description: 'output disk' });
  }
  return { runDir, spec, artifacts, commands, dryRun: opts.dryRun === true };
}

/**
 * The install ISO holds what the run takes from it (WinPE boot files unless a worker disk is
 * given, the WIMs the plan services), or a FormatError says so before anything is built;
 * xorriso would fail later with its own words.
 */
async function requireWindowsIso(iso: string, images: DismImageLayout[], bootFromIso: boolean): Promise<void> {
  const have = new Set((await isoList(iso)).map((e) => e.path.toLowerCase()));
  const need = new Set<string>();
  if (bootFromIso) for (const p of ['/bootmgr', '/sources/boot.wim']) need.add(p);
  for (const im of images) need.add(im.wim === 'boot.wim' ? '/sources/boot.wim' : '/sources/install.wim');
  const missing = [...need].filter((p) => !have.has(p));
  if (missing.length > 0) throw new FormatError('E_NOT_WINDOWS_ISO', `not a Windows install ISO: ${missing.join(', ')} missing`, { file: iso });
}

/**
 * Copy every plan input into a fresh inputs tree (the run directory must not hold one yet),
 * each checked against the plan while it is copied. On any failure the tree is removed again.
 */
async function copyInputs(tree: string, placements: Map<string, string[]>, resolved: Map<string, ResolvedPlanInput>): Promise<void> {
  try {
    await mkdir(path.dirname(tree), { recursive: true });
    await mkdir(tree);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new IoError('E_RUN_DIR_USED', 'the run directory already holds an inputs tree from an earlier run; give a new --run-dir', { file: tree });
    }
    throw ioError(err, tree, 'create directory');
  }
  try {
    for (const [id, dests] of placements) await copyPlanInput(resolved.get(id)!, dests);
  } catch (err) {
    await rm(tree, { recursive: true, force: true });
    throw err;
  }
}

function describeImage(im: DismImageLayout, all: DismImageLayout[]): Record<string, unknown> {
  const out: Record<string, unknown> = {
    image: im.image,
    wim: im.wim,
    index: im.index,
    steps: im.steps.map((s) => ({ id: s.id, n: s.n, action: s.action, isoDir: s.isoDir, files: s.files.map((f) => f.isoName), allow: s.allow })),
  };
  if (im.copies) {
    // WinRE runs once per install image, under that copy's own step ids and report names
    const serviced = servicedImages(all).filter((t) => t.layout === im);
    out.servicedIn = im.copies.map((c) => {
      const t = serviced.find((x) => x.name === c.name)!;
      return { host: c.host, name: c.name, steps: t.stepIds, reports: [t.packages, t.drivers] };
    });
  }
  return out;
}

async function makeWritable(dir: string): Promise<void> {
  // osirrox copies the ISO's read-only permissions; wimlib must rewrite boot.wim. Symbolic
  // links are neither followed nor changed (chmod would change what they point at).
  const files = new Set(await listFiles(dir, dir));
  const all = await listFiles(dir, dir, { directories: true });
  try {
    await chmod(dir, 0o755);
    for (const rel of all) await chmod(path.join(dir, rel), files.has(rel) ? 0o644 : 0o755);
  } catch (err) {
    throw ioError(err, dir, 'make writable');
  }
}

/**
 * Read what the worker left on the status disk (the runner copies it to `<runDir>/status`)
 * and compare it with the plan. Throws MismatchError on any difference.
 */
export async function checkDismReports(plan: Plan, statusDir: string): Promise<DismRunReport> {
  const r = await readDismReports(plan, statusDir);
  assertMatchesPlan(plan, r.packages, r.drivers, { notApplicable: new Set(r.notApplicable) });
  return r;
}

/** checkDismReports without the verdict: the listings and the differences, for the run report. */
export async function readDismReports(plan: Plan, statusDir: string): Promise<DismRunReport> {
  const { images } = generateDismWorker(plan, { runId: dismRunId(plan) });
  const packages: Record<string, DismPackage[]> = {};
  const drivers: Record<string, DismDriver[]> = {};
  // one entry per serviced image: a plan image, or the WinRE inside one install image
  for (const target of servicedImages(images)) {
    for (const [kind, rel] of [['packages', target.packages], ['drivers', target.drivers]] as const) {
      const file = path.join(statusDir, ...rel.split('/'));
      let bytes: Uint8Array;
      try {
        bytes = await readFile(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw ioError(err, file);
      }
      try {
        if (kind === 'packages') packages[target.name] = parseDismPackages(bytes, file);
        else drivers[target.name] = parseDismDrivers(bytes, file);
      } catch (err) {
        throw err instanceof MsuError ? err.inFile(file) : err;
      }
    }
  }
  const steps = await acceptedSteps(path.join(statusDir, STATUS_FILES.lines));
  const notApplicable = steps.filter((s) => s.exitCode === -2146498530).map((s) => s.step).sort();
  const warnings = dismWarnings(steps);
  const differences = compareWithPlan(plan, packages, drivers, { notApplicable: new Set(notApplicable) });
  return { packages, drivers, notApplicable, differences, warnings };
}

/** Steps whose accepted exit code is a documented non-fatal one, in the order they ran. */
export function dismWarnings(steps: Array<{ step: string; exitCode: number }>): DismStepWarning[] {
  return steps.filter((s) => WARNING_CODES.has(s.exitCode)).map((s) => ({ step: s.step, exitCode: s.exitCode, meaning: WARNING_CODES.get(s.exitCode)! }));
}

/** Steps the worker accepted (ok) with their exit codes, from status.jsonl, in file order. */
async function acceptedSteps(file: string): Promise<Array<{ step: string; exitCode: number }>> {
  let text: string;
  try {
    text = await readFile(file, 'latin1');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw ioError(err, file);
  }
  const out: Array<{ step: string; exitCode: number }> = [];
  text.split(/\r?\n/).forEach((line) => {
    if (!line.trim()) return;
    try {
      const v = JSON.parse(line) as { type?: string; id?: string; exitCode?: number; ok?: boolean };
      if (v.type === 'step' && v.ok === true && typeof v.exitCode === 'number' && typeof v.id === 'string') out.push({ step: v.id, exitCode: v.exitCode });
    } catch {
      // a torn last line (power loss mid-write) is not evidence of anything
    }
  });
  return out;
}

/**
 * Logs the worker's failure path copied onto the status disk (dism.log, WinPE's DISM and CBS
 * logs), as paths relative to the run directory, sorted.
 */
export async function dismLogFiles(runDir: string): Promise<string[]> {
  const root = path.join(runDir, 'status', STATUS_FILES.logs);
  try {
    await stat(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []; // the worker copied none
    throw ioError(err, root);
  }
  const prefix = path.relative(runDir, root).split(path.sep).join('/');
  return (await listFiles(root, root)).map((f) => `${prefix}/${f}`);
}

/** Copy the worker's output (install.wim / boot.wim, or .swm parts joined back) out of the output disk. */
export async function collectDismOutputs(runDir: string, destDir: string): Promise<string[]> {
  const img = path.join(runDir, DISM_RUN_FILES.output);
  const raw = path.join(destDir, '.parts');
  const files = await copyOutStatusDisk(img, raw);
  const outs: string[] = [];
  for (const base of ['install', 'boot']) {
    const wim = files.find((f) => f.toLowerCase() === `${base}.wim`);
    const parts = files.filter((f) => new RegExp(`^${base}[0-9]*\\.swm$`, 'i').test(f)).sort((a, b) => a.length - b.length || byCode(a, b));
    const dest = path.join(destDir, `${base}.wim`);
    if (wim) {
      await cp(path.join(raw, wim), dest);
      outs.push(dest);
    } else if (parts.length > 0) {
      await runTool('wimlib-imagex', ['join', dest, ...parts.map((p) => path.join(raw, p))], { file: img });
      outs.push(dest);
    }
  }
  if (outs.length === 0) throw new UsageError('the output disk holds no install.wim, boot.wim or .swm parts', { file: img });
  // Setup's own files from the serviced boot.wim index 2: they belong in the media's sources folder
  for (const name of ['setup.exe', 'setuphost.exe']) {
    const found = files.find((f) => f.toLowerCase() === `${MEDIA_DIR}/sources/${name}`);
    if (!found) continue;
    const dest = path.join(destDir, MEDIA_DIR, 'sources', name);
    await mkdir(path.dirname(dest), { recursive: true });
    await cp(path.join(raw, ...found.split('/')), dest);
    outs.push(dest);
  }
  return outs;
}

/** Read and check a plan file: the one plan validator (src/plan/plan-check.ts), as `plan diff` uses it. */
export async function loadPlanFile(file: string): Promise<Plan> {
  return readPlanFile(file);
}

export interface DismFinish {
  report: RunReport;
  /** Differences between what the images report and the plan (empty when they match). */
  differences: PlanDifference[];
  /** Serviced WIMs copied off the output disk (absolute paths); only when the run succeeded and matched. */
  outputs: string[];
}

/**
 * After the VM run: the listings the worker left are compared with the plan, report.json is
 * written (always, also for a failed run), and only a run that succeeded and matches the plan
 * gets its WIMs copied out to `RUNDIR/output`.
 */
export async function finishDismRun(plan: Plan, runDir: string, result: RunResult): Promise<DismFinish> {
  const logs = await dismLogFiles(runDir);
  if (!result.ok) return { report: await writeRunReport(runDir, undefined, { logs }), differences: [], outputs: [] };
  const dism = await readDismReports(plan, path.join(runDir, 'status'));
  const report = await writeRunReport(runDir, dism, { logs });
  if (dism.differences.length > 0) return { report, differences: dism.differences, outputs: [] };
  const outputs = await collectDismOutputs(runDir, path.join(runDir, 'output'));
  return { report, differences: [], outputs };
}
