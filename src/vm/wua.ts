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
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { IoError, ioError } from '../errors.js';
import { canonicalJson } from '../util/json.js';
import { runTool } from '../util/exec.js';
import { encodeTaskXml, generateWuaRunner, GUEST_FILES, type WuaRunnerOptions } from './guest/wua-runner.js';
import { dryRunArgv, writeArtifact, type HostArtifact, type HostCommand, type PreparedRun } from './dism.js';
import { validateRunSpec } from './spec.js';
import { compactImage, type RunResult } from './runner.js';
import { writeRunReport, type RunReport } from './report.js';

export interface PrepareWuaOptions extends Omit<WuaRunnerOptions, 'runId'> {
  runDir: string;
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
} as const;

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

  const { runDir: _r, dryRun, bus, netModel, secureBoot, memMiB, cpus, runId: givenId, ...runnerOpts } = opts;
  void _r;
  const runId = givenId ?? 'wua-' + createHash('sha256').update(path.basename(image) + canonicalJson(runnerOpts)).digest('hex').slice(0, 12);
  const files = generateWuaRunner({ ...runnerOpts, runId });
  const maxRounds = JSON.parse(files.paramsJson).maxRounds as number;
  const maxPending = JSON.parse(files.paramsJson).maxPendingReboots as number;

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

  const work = at(WUA_RUN_FILES.work);
  const commands: HostCommand[] = [
    { tool: 'qemu-img', args: ['create', '-f', 'qcow2', '-b', path.resolve(image), '-F', 'qcow2', work], why: 'overlay: the base image stays untouched' },
    {
      tool: 'virt-customize',
      args: [
        '-a', work,
        '--mkdir', '/ProgramData/msu-toolkit',
        '--upload', `${at(`${G}/${GUEST_FILES.runner}`)}:/ProgramData/msu-toolkit/${GUEST_FILES.runner}`,
        '--upload', `${at(`${G}/${GUEST_FILES.params}`)}:/ProgramData/msu-toolkit/${GUEST_FILES.params}`,
        '--upload', `${at(`${G}/${GUEST_FILES.task}`)}:/ProgramData/msu-toolkit/${GUEST_FILES.task}`,
        '--mkdir', '/Windows/Panther',
        '--upload', `${at(`${G}/unattend.xml`)}:/Windows/Panther/unattend.xml`,
      ],
      why: 'offline injection of the runner and the Panther unattend (libguestfs, NTFS)',
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
      cdroms: [],
      net: { mode: 'user', model: netModel ?? 'e1000e' },
      rebootPolicy: 'restart-process',
      statusDisk: { sizeMiB: 64, bus: 'ahci' },
    },
    guest: { script: GUEST_FILES.runner, params: { runId, maxRounds } },
    expect: { statusFile: 'status.json', outputs: [{ path: WUA_RUN_FILES.work, kind: 'file' }] },
    // every round is a boot, plus reboots for pending CBS work, plus the first boot and slack
    timeouts: { bootMin: 45, heartbeatMin: 20, perBootMin: 240, totalMin: 24 * 60, maxBoots: maxRounds * (1 + maxPending) + 2 },
  });

  await writeArtifact(runDir, artifacts, WUA_RUN_FILES.spec, canonicalJson(spec), 'spec', 'the RunSpec');
  await writeArtifact(runDir, artifacts, WUA_RUN_FILES.commands, canonicalJson(commands), 'manifest', 'host commands: overlay and offline injection');
  await writeArtifact(runDir, artifacts, WUA_RUN_FILES.argv, canonicalJson(dryRunArgv(spec, runDir)), 'argv', 'QEMU argv (TCG, plain OVMF; the real run probes the host)');

  if (!dryRun) {
    for (const c of commands) await runTool(c.tool, c.args, { file: image });
    artifacts.push({ path: WUA_RUN_FILES.work, kind: 'disk', description: 'overlay with the runner injected' });
  }
  return { runDir, spec, artifacts, commands, dryRun: dryRun === true };
}

export interface FinishWuaOptions {
  /** Where the flattened image goes (default: RUNDIR/serviced.qcow2). */
  output?: string;
  compress?: boolean;
}

/**
 * After the VM run: write report.json, and flatten the overlay into a standalone qcow2, but
 * only after a clean guest power-off (a run that failed leaves just the overlay, to inspect).
 */
export async function finishWuaRun(runDir: string, result: RunResult, opts: FinishWuaOptions = {}): Promise<{ report: RunReport; output?: string }> {
  const report = await writeRunReport(runDir);
  if (!result.ok) return { report };
  const output = opts.output ?? path.join(runDir, 'serviced.qcow2');
  await compactImage(path.join(runDir, WUA_RUN_FILES.work), output, { compress: opts.compress === true, after: result });
  return { report, output };
}
