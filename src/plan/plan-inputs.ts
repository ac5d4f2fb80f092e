/**
 * The inputs a plan pins, on the host: where each one is, and whether its bytes are still the
 * ones the plan was made from. A plan is untrusted input, so its paths resolve only below the
 * directory the user named (also after symbolic links), and every byte that goes into a VM is
 * checked against the plan's size and SHA-256 first (dry run: in place; real run: while it is
 * copied, in one streaming pass).
 */
import { link, mkdir, realpath, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { FormatError, IoError, MismatchError, ioError } from '../errors.js';
import { copyFileHashed, hashFile, hashFolder, listFiles, type HashProgress } from './plan-hash.js';
import { unsafePlanPath } from './plan-check.js';
import type { Plan, PlanInput } from './plan-types.js';

export interface ResolvedPlanInput {
  input: PlanInput;
  /** Absolute path on the host, symbolic links resolved, inside the base directory. */
  abs: string;
}

const within = (root: string, p: string): boolean => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

/**
 * Resolve the inputs `ids` (default: every input) of a plan under `baseDir`. Refused: unsafe
 * paths (absolute, `..`, …; FormatError, exit 3), paths that leave `baseDir` through a symbolic
 * link (FormatError), missing inputs and inputs of the wrong type (IoError, exit 6). Errors name
 * the input by its plan path.
 */
export async function resolvePlanInputs(plan: Plan, baseDir: string, ids?: Iterable<string>): Promise<Map<string, ResolvedPlanInput>> {
  let root: string;
  try {
    root = await realpath(path.resolve(baseDir));
  } catch (err) {
    throw ioError(err, baseDir, 'open the base directory');
  }
  const want = ids === undefined ? undefined : new Set(ids);
  const out = new Map<string, ResolvedPlanInput>();
  for (const input of plan.inputs) {
    if (want && !want.has(input.id)) continue;
    const why = unsafePlanPath(input.path);
    if (why) throw new FormatError('E_PLAN_PATH', `plan input ${input.id}: path ${JSON.stringify(input.path)} ${why}`, { file: input.path });
    let abs: string;
    try {
      abs = await realpath(path.join(root, ...input.path.split('/')));
    } catch (err) {
      throw ioError(err, input.path, `open plan input ${input.id}`);
    }
    if (!within(root, abs)) {
      throw new FormatError('E_PLAN_PATH', `plan input ${input.id} leads out of the base directory ${baseDir} through a symbolic link`, { file: input.path });
    }
    let st;
    try {
      st = await stat(abs);
    } catch (err) {
      throw ioError(err, input.path, `open plan input ${input.id}`);
    }
    const dir = input.kind === 'driver-folder';
    if (dir ? !st.isDirectory() : !st.isFile()) {
      throw new IoError('E_IO_NOT_FILE', `plan input ${input.id} is not a ${dir ? 'directory' : 'regular file'}`, { file: input.path });
    }
    if (!dir && st.size !== input.size) throw changed(input, `its size is ${st.size} bytes`);
    out.set(input.id, { input, abs });
  }
  return out;
}

function changed(input: PlanInput, what: string): MismatchError {
  return new MismatchError('E_PLAN_INPUT_CHANGED', `plan input ${input.id} is not the file the plan was made from: ${what}, the plan pins ${input.size} bytes, sha256 ${input.sha256}`, { file: input.path });
}

function compare(input: PlanInput, got: { sha256: string; size: number }): void {
  if (got.size !== input.size) throw changed(input, `its size is ${got.size} bytes`);
  if (got.sha256 !== input.sha256) throw changed(input, `its sha256 is ${got.sha256}`);
}

/** Hash a resolved input in place and compare with the plan (dry run). MismatchError (exit 1) on a difference. */
export async function verifyPlanInput(r: ResolvedPlanInput, onProgress?: HashProgress): Promise<void> {
  const got = r.input.kind === 'driver-folder' ? await hashFolder(r.abs, r.input.path, onProgress) : await hashFile(r.abs, r.input.path, onProgress);
  compare(r.input, got);
}

/**
 * Copy a resolved input to `dests[0]` while hashing it, then compare with the plan; further
 * destinations are hard links to that one copy (an ISO built from the tree stores it once).
 * Nothing of it is left behind on a mismatch or an error. Destinations must not exist.
 */
export async function copyPlanInput(r: ResolvedPlanInput, dests: string[], onProgress?: HashProgress): Promise<void> {
  const [first, ...more] = dests;
  if (first === undefined) return;
  const made: string[] = [];
  try {
    for (const d of dests) await mkdirOf(path.dirname(d), true);
    made.push(first);
    const dir = r.input.kind === 'driver-folder';
    const got = dir ? await hashFolder(r.abs, r.input.path, onProgress, first) : await copyFileHashed(r.abs, r.input.path, first, onProgress);
    compare(r.input, got);
    for (const d of more) {
      made.push(d);
      if (!dir) await linkOne(first, d);
      else {
        await mkdirOf(d, false);
        for (const rel of await listFiles(first, first)) {
          const to = path.join(d, ...rel.split('/'));
          await mkdirOf(path.dirname(to), true);
          await linkOne(path.join(first, ...rel.split('/')), to);
        }
      }
    }
  } catch (err) {
    for (const d of made) await rm(d, { recursive: true, force: true });
    throw err;
  }
}

async function mkdirOf(dir: string, recursive: boolean): Promise<void> {
  try {
    await mkdir(dir, { recursive });
  } catch (err) {
    throw ioError(err, dir, 'create directory');
  }
}

async function linkOne(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    throw ioError(err, to, 'link');
  }
}
