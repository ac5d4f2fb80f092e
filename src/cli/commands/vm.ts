import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../../errors.js';
import type { CliContext } from '../context.js';
import { readJsonFile } from '../../util/json.js';
import { addRunConsoleOptions, timeoutOverrides, withVmConsole, type RunConsoleFlags } from '../vm-console.js';

// Loaded when a command runs, not at CLI start (see inspect.ts).
const vmSpec = () => import('../../vm/spec.js');
const vmRunner = () => import('../../vm/runner.js');
const vmFeatures = () => import('../../vm/features.js');
const utilExec = () => import('../../util/exec.js');

/** Devices worth knowing about before writing a spec. */
const NOTABLE_DEVICES = ['ide-hd', 'ide-cd', 'virtio-blk-pci', 'virtio-scsi-pci', 'scsi-hd', 'e1000e', 'virtio-net-pci', 'tpm-crb', 'VGA', 'pvpanic', 'ich9-intel-hda', 'hda-duplex', 'virtio-sound-pci'];

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && existsSync(path.join(d, cmd)));
}

export function register(program: Command, ctx: CliContext): void {
  const vm = program.command('vm').description('run a job in a QEMU virtual machine (run spec, watchdogs, serial protocol)');

  addRunConsoleOptions(
    vm
      .command('run')
      .description('run a VM job described by a run spec (JSON); exit code 7 if the run fails, 130 if interrupted')
      .argument('<spec>', 'run spec JSON; relative paths in it are relative to its directory')
      .option('--run-dir <dir>', 'where the run writes its logs, screendumps and result.json (default: ./msu-run-<id>)')
      .option('--json', 'print the event stream as JSON lines, then the result'),
  ).action(async (file: string, opts: { runDir?: string; json?: boolean } & RunConsoleFlags) => {
    const json = await readJsonFile(file, 'E_VM_SPEC', 'run spec');
    const { validateRunSpec } = await vmSpec();
    const spec = validateRunSpec(json, file);
    const overrides = await timeoutOverrides(opts);
    const { runVm } = await vmRunner();
    const { value: result, interrupted } = await withVmConsole(ctx, { json: opts.json === true, jsonEvents: opts.jsonEvents === true }, (c) =>
      runVm(spec, {
        runDir: opts.runDir ?? `msu-run-${spec.id}`,
        baseDir: path.dirname(file),
        signal: c.signal,
        killSignal: c.killSignal,
        timeoutOverrides: overrides,
        onEvent: (e) => {
          // with --json the event stream is the command's data (stdout)
          if (opts.json) {
            ctx.clearProgress(); // the live line is on stderr, but on the same terminal
            ctx.stdout.write(JSON.stringify(e) + '\n');
          }
          c.onEvent(e);
        },
      }),
    );
    if (opts.json) {
      ctx.clearProgress();
      ctx.stdout.write(JSON.stringify({ type: 'result', result }) + '\n');
    }
    else {
      ctx.print(result.ok ? `ok: ${spec.id} finished after ${result.boots} boot(s)` : `failed: ${spec.id}: ${result.failure?.message ?? 'unknown failure'}`);
      for (const s of result.screendumps) ctx.print(`screendump: ${s}`);
    }
    if (interrupted) ctx.exitCode = EXIT.interrupted;
    else if (!result.ok) ctx.exitCode = EXIT.runtime;
  });

  vm.command('check')
    .description('what this host can run: QEMU version, usable accelerator, notable devices, OVMF, tools')
    .option('--json', 'print canonical JSON')
    .action(async (opts: { json?: boolean }) => {
      const { OVMF_CANDIDATES, probeAccel, probeQemu } = await vmFeatures();
      const features = await probeQemu();
      const accel = await probeAccel();
      const devices = Object.fromEntries(NOTABLE_DEVICES.map((d) => [d, features.devices.has(d)]));
      const ovmf = {
        plain: existsSync(OVMF_CANDIDATES.plain.code) && existsSync(OVMF_CANDIDATES.plain.varsTemplate),
        secureBoot: existsSync(OVMF_CANDIDATES.secureBoot.code) && existsSync(OVMF_CANDIDATES.secureBoot.varsTemplate),
      };
      // every external tool any command runs (src/util/exec.ts keeps the list, with the Debian package of each)
      const { DEBIAN_PACKAGES } = await utilExec();
      const hostTools = Object.keys(DEBIAN_PACKAGES).sort();
      const tools = Object.fromEntries(hostTools.map((t) => [t, onPath(t)]));
      const toolPackages = Object.fromEntries(hostTools.map((t) => [t, DEBIAN_PACKAGES[t]!]));
      const report = { qemu: features.version.text, distro: features.version.distro ?? null, accel: accel.accel, accelWarning: accel.warning ?? null, devices, ovmf, tools, toolPackages };
      if (opts.json) return ctx.printJson(report);
      const yes = (b: boolean) => (b ? 'yes' : 'no');
      ctx.print(
        [
          `QEMU: ${features.version.text}${features.version.distro ? ` (${features.version.distro})` : ''}`,
          `accelerator: ${accel.accel}${accel.warning ? ` (${accel.warning})` : ''}`,
          `devices: ${NOTABLE_DEVICES.map((d) => `${d} ${yes(devices[d]!)}`).join(', ')}`,
          `OVMF: plain ${yes(ovmf.plain)}, Secure Boot ${yes(ovmf.secureBoot)}`,
          `tools: ${hostTools.map((t) => `${t} ${yes(tools[t]!)}`).join(', ')}`,
          ...(hostTools.some((t) => !tools[t]) ? [`missing tools come from: apt-get install ${[...new Set(hostTools.filter((t) => !tools[t]).map((t) => toolPackages[t]))].join(' ')}`] : []),
        ].join('\n'),
      );
    });
}
