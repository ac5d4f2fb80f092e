/**
 * A prepared run directory, shared by both execution paths (src/vm/dism.ts, src/vm/wua.ts):
 * what was written there, which host steps ran, and the QEMU argv a dry run shows.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../errors.js';
import { writeFileAtomic } from '../util/fsout.js';
import { OVMF_CANDIDATES } from './features.js';
import { qemuArgs } from './qemu-args.js';
import type { RunSpec } from './spec.js';

export interface HostArtifact {
  /** Relative to the run directory. */
  path: string;
  kind: 'guest-file' | 'inputs-tree' | 'inputs-iso' | 'boot-iso' | 'disk' | 'spec' | 'argv' | 'manifest' | 'params';
  description: string;
}

/** A host step as data: what runs (or, in a dry run, would run) and why. */
export interface HostCommand {
  tool: string;
  args: string[];
  why: string;
}

export interface PreparedRun {
  runDir: string;
  spec: RunSpec;
  artifacts: HostArtifact[];
  commands: HostCommand[];
  dryRun: boolean;
}

/** Write one file of a run directory (atomically, parents created) and record it. */
export async function writeArtifact(runDir: string, artifacts: HostArtifact[], rel: string, content: string | Uint8Array, kind: HostArtifact['kind'], description: string): Promise<void> {
  const file = path.join(runDir, ...rel.split('/'));
  try {
    await mkdir(path.dirname(file), { recursive: true });
  } catch (err) {
    throw ioError(err, file, 'create the directory for');
  }
  await writeFileAtomic(file, content);
  artifacts.push({ path: rel, kind, description });
}

/** The argv a run would use, for --dry-run: no probing, TCG, Debian's plain OVMF paths. */
export function dryRunArgv(spec: RunSpec, runDir: string): string[] {
  return [
    'qemu-system-x86_64',
    ...qemuArgs(spec, {
      accel: 'tcg',
      qemuVersion: '7.2.0',
      devices: new Set(),
      ovmf: spec.vm.firmware.type === 'ovmf' && spec.vm.firmware.secureBoot ? { ...OVMF_CANDIDATES.secureBoot } : { ...OVMF_CANDIDATES.plain },
      runDir,
      qmpSocket: path.join(runDir, 'qmp.sock'),
    }),
  ];
}
