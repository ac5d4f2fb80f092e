import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { EXIT } from '../../errors.js';
import type { RunEvent } from '../../vm/index.js';
import type { CliContext } from '../context.js';
import { readJsonFile } from '../../util/json.js';

// Loaded when a command runs, not at CLI start (see inspect.ts).
const vmSpec = () => import('../../vm/spec.js');
const vmRunner = () => import('../../vm/runner.js');
const vmFeatures = () => import('../../vm/features.js');

/** Devices worth knowing about before writing a spec. */
const NOTABLE_DEVICES = ['ide-hd', 'ide-cd', 'virtio-blk-pci', 'virtio-scsi-pci', 'scsi-hd', 'e1000e', 'virtio-net-pci', 'tpm-crb', 'VGA', 'pvpanic', 'ich9-intel-hda', 'hda-duplex', 'virtio-sound-pci'];
const HOST_TOOLS = ['qemu-img', 'mformat', 'mcopy', 'xorriso', 'swtpm'];

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => d && existsSync(path.join(d, cmd)));
}

function describeEvent(e: RunEvent): string | undefined {
  switch (e.type) {
    case 'qemu-start':
      return `boot ${e.start}: starting QEMU`;
    case 'guest':
      if (e.event.type === 'step') return `boot ${e.boot}: ${e.event.name} (${e.event.state})`;
      if (e.event.type === 'progress') return `boot ${e.boot}: ${e.event.pct}%${e.event.text ? ` ${e.event.text}` : ''}`;
      if (e.event.type === 'boot') return `boot ${e.boot}: guest is up`;
      return undefined;
    case 'status':
      return `boot ${e.start}: ${e.step ?? 'waiting'}${e.pct !== undefined ? ` ${e.pct}%` : ''}, up ${e.bootAgeSec} s, last sign of life ${e.heartbeatAgeSec ?? '-'} s ago`;
    default:
      return undefined;
  }
}

export function register(program: Command, ctx: CliContext): void {
  const vm = program.command('vm').description('run a job in a QEMU virtual machine (run spec, watchdogs, serial protocol)');

  vm.command('run')
    .description('run a VM job described by a run spec (JSON); exit code 7 if the run fails')
    .argument('<spec>', 'run spec JSON; relative paths in it are relative to its directory')
    .option('--run-dir <dir>', 'where the run writes its logs, screendumps and result.json (default: ./msu-run-<id>)')
    .option('--json', 'print the event stream as JSON lines, then the result')
    .action(async (file: string, opts: { runDir?: string; json?: boolean }) => {
      const json = await readJsonFile(file, 'E_VM_SPEC', 'run spec');
      const { validateRunSpec } = await vmSpec();
      const spec = validateRunSpec(json, file);
      const { runVm } = await vmRunner();
      const ac = new AbortController();
      const onSigint = () => ac.abort('interrupted');
      process.once('SIGINT', onSigint);
      try {
        const result = await runVm(spec, {
          runDir: opts.runDir ?? `msu-run-${spec.id}`,
          baseDir: path.dirname(file),
          signal: ac.signal,
          onEvent: (e) => {
            if (opts.json) ctx.stdout.write(JSON.stringify(e) + '\n');
            else if (e.type === 'warning') ctx.warn(e.message);
            else {
              const line = describeEvent(e);
              if (line) ctx.progress(line);
            }
          },
        });
        if (opts.json) ctx.stdout.write(JSON.stringify({ type: 'result', result }) + '\n');
        else {
          ctx.progress('');
          ctx.print(result.ok ? `ok: ${spec.id} finished after ${result.boots} boot(s)` : `failed: ${spec.id}: ${result.failure?.message ?? 'unknown failure'}`);
          for (const s of result.screendumps) ctx.print(`screendump: ${s}`);
        }
        if (!result.ok) ctx.exitCode = EXIT.runtime;
      } finally {
        process.removeListener('SIGINT', onSigint);
      }
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
      const tools = Object.fromEntries(HOST_TOOLS.map((t) => [t, onPath(t)]));
      const report = { qemu: features.version.text, distro: features.version.distro ?? null, accel: accel.accel, accelWarning: accel.warning ?? null, devices, ovmf, tools };
      if (opts.json) return ctx.printJson(report);
      const yes = (b: boolean) => (b ? 'yes' : 'no');
      ctx.print(
        [
          `QEMU: ${features.version.text}${features.version.distro ? ` (${features.version.distro})` : ''}`,
          `accelerator: ${accel.accel}${accel.warning ? ` (${accel.warning})` : ''}`,
          `devices: ${NOTABLE_DEVICES.map((d) => `${d} ${yes(devices[d]!)}`).join(', ')}`,
          `OVMF: plain ${yes(ovmf.plain)}, Secure Boot ${yes(ovmf.secureBoot)}`,
          `tools: ${HOST_TOOLS.map((t) => `${t} ${yes(tools[t]!)}`).join(', ')}`,
        ].join('\n'),
      );
    });
}
