/**
 * The one plan validator. A plan file is untrusted input (it is reviewed and edited by hand),
 * so every command that reads one (`plan diff`, `run dism`, `plan diff PLAN RUNDIR`) checks it
 * here, whole, before using any of it: shapes, known actions and input kinds, unique ids, step
 * numbers and image names, steps that name only known inputs, pinned hashes in the form the
 * planner writes them, and input paths that stay below the plan's directory.
 */
import { readJsonFile } from '../util/json.js';
import { FormatError } from '../errors.js';
import { PLAN_SCHEMA, type Plan, type PlanAction, type PlanInput } from './plan-types.js';

export const PLAN_ACTIONS: readonly PlanAction[] = ['add-package', 'add-driver', 'cleanup-components', 'reset-base'];
export const PLAN_INPUT_KINDS: readonly PlanInput['kind'][] = ['msu', 'cab', 'driver-folder'];
/** Step numbers the worker can name (its step ids and labels are built from them). */
export const MAX_STEP = 9999;

/**
 * Why an input path of a plan is unsafe, or undefined when it is a plain relative path.
 * Plan paths are POSIX, relative to the plan's directory, and never climb out of it.
 */
export function unsafePlanPath(p: string): string | undefined {
  if (p.length === 0) return 'is empty';
  if (p.length > 4096) return 'is longer than 4096 characters';
  if (/[\u0000-\u001f\u007f]/.test(p)) return 'contains control characters';
  if (p.includes('\\')) return 'contains a backslash (plan paths use /)';
  if (p.startsWith('/')) return 'is absolute';
  if (/^[A-Za-z]:/.test(p)) return 'has a drive letter';
  if (p.startsWith('~')) return 'starts with ~';
  for (const part of p.split('/')) {
    if (part === '..') return 'climbs out of the plan directory (..)';
    if (part === '' || part === '.') return 'has an empty or "." path component';
  }
  return undefined;
}

const SHA256 = /^[0-9a-f]{64}$/;
const SHA1 = /^[0-9a-f]{40}$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KB = /^[0-9]{1,10}$/;
const RULE_LISTS = ['allow', 'forbid', 'allowedSeverities', 'products', 'classifications'] as const;

/** True when a JSON value nests deeper than `limit` (checked without recursion). */
function tooDeep(v: unknown, limit: number): boolean {
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (!x || typeof x !== 'object') continue;
    if (d > limit) return true;
    for (const c of Object.values(x as object)) stack.push([c, d + 1]);
  }
  return false;
}

const isStr = (x: unknown): x is string => typeof x === 'string';
const isStrList = (x: unknown): x is string[] => Array.isArray(x) && x.every(isStr);
const show = (x: unknown): string => JSON.stringify(x) ?? String(x);

/** A parsed JSON value checked as a plan. FormatError (E_PLAN, exit 3) naming `file` and the first problem. */
export function checkPlan(v: unknown, file: string): Plan {
  const bad = (what: string): never => {
    throw new FormatError('E_PLAN', `malformed plan: ${what}`, { file });
  };
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new FormatError('E_PLAN', 'not a plan: the file is not a JSON object', { file });
  const o = v as Record<string, unknown>;
  if (o.schema !== PLAN_SCHEMA) throw new FormatError('E_PLAN', `not a plan: schema is ${show(o.schema)}, expected ${PLAN_SCHEMA}`, { file });
  const tool = o.tool as Record<string, unknown> | undefined;
  if (!tool || typeof tool !== 'object' || !isStr(tool.version)) bad('"tool.version" missing');
  if (!o.target || typeof o.target !== 'object' || Array.isArray(o.target)) bad('"target" missing');
  if (tooDeep(o.target, 32)) bad('"target" is nested too deeply');
  if (!Array.isArray(o.inputs) || !Array.isArray(o.images) || !Array.isArray(o.skipped)) bad('"inputs", "images" and "skipped" must be arrays');

  const inputs = new Map<string, { kind: string; k: number }>();
  const paths = new Map<string, number>();
  (o.inputs as unknown[]).forEach((x, k) => {
    const i = x as Record<string, unknown> | null;
    if (!i || typeof i !== 'object' || !isStr(i.id) || !isStr(i.path) || !isStr(i.sha256) || typeof i.size !== 'number' || !Array.isArray(i.packages)) {
      bad(`inputs[${k}] needs id, path, kind, sha256, size and packages[]`);
    }
    const inp = i as unknown as PlanInput;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(inp.id)) bad(`inputs[${k}]: id ${show(inp.id)} is not a plain id`);
    if (inputs.has(inp.id)) bad(`inputs[${k}]: id ${show(inp.id)} is used by inputs[${inputs.get(inp.id)!.k}] too`);
    if (!PLAN_INPUT_KINDS.includes(inp.kind)) bad(`inputs[${k}] (${inp.id}): unknown kind ${show(inp.kind)} (expected ${PLAN_INPUT_KINDS.join(', ')})`);
    const why = unsafePlanPath(inp.path);
    if (why) bad(`inputs[${k}] (${inp.id}): path ${show(inp.path)} ${why}`);
    if (paths.has(inp.path)) bad(`inputs[${k}] (${inp.id}): path ${show(inp.path)} is listed twice`);
    if (!SHA256.test(inp.sha256)) bad(`inputs[${k}] (${inp.id}): sha256 must be 64 lowercase hex digits`);
    if (!Number.isSafeInteger(inp.size) || inp.size < 0) bad(`inputs[${k}] (${inp.id}): size must be a whole number of bytes`);
    if (inp.sha1 !== undefined && (!isStr(inp.sha1) || !SHA1.test(inp.sha1))) bad(`inputs[${k}] (${inp.id}): sha1 must be 40 lowercase hex digits`);
    if (inp.scan !== undefined) {
      const sc = inp.scan as unknown as Record<string, unknown> | null;
      if (!sc || typeof sc !== 'object' || Array.isArray(sc)) bad(`inputs[${k}] (${inp.id}): scan must be an object`);
      if (!isStr(sc!.updateId) || !GUID.test(sc!.updateId)) bad(`inputs[${k}] (${inp.id}): scan.updateId ${show(sc!.updateId)} is not a lowercase GUID`);
      if (sc!.kb !== undefined && (!isStr(sc!.kb) || !KB.test(sc!.kb))) bad(`inputs[${k}] (${inp.id}): scan.kb ${show(sc!.kb)} is not a KB number (digits only)`);
      if (!Number.isSafeInteger(sc!.revisionId) || (sc!.revisionId as number) < 0) bad(`inputs[${k}] (${inp.id}): scan.revisionId must be a whole number`);
      if (sc!.matchedBy !== 'sha1' && sc!.matchedBy !== 'kb') bad(`inputs[${k}] (${inp.id}): scan.matchedBy must be sha1 or kb`);
    }
    inp.packages.forEach((p, j) => {
      if (!p || typeof p !== 'object' || !isStr(p.identity)) bad(`inputs[${k}].packages[${j}] needs identity`);
    });
    inputs.set(inp.id, { kind: inp.kind, k });
    paths.set(inp.path, k);
  });

  const images = new Set<string>();
  (o.images as unknown[]).forEach((x, k) => {
    const im = x as Record<string, unknown> | null;
    if (!im || typeof im !== 'object' || !isStr(im.image) || !Array.isArray(im.steps)) bad(`images[${k}] needs image and steps[]`);
    const name = im!.image as string;
    if (images.has(name)) bad(`images[${k}]: image ${show(name)} is listed twice`);
    images.add(name);
    const ns = new Set<number>();
    (im!.steps as unknown[]).forEach((y, j) => {
      const s = y as Record<string, unknown> | null;
      const at = `images[${k}].steps[${j}]`;
      if (!s || typeof s !== 'object' || typeof s.n !== 'number' || !isStr(s.action) || !isStrList(s.items) || !isStrList(s.inputs)) {
        bad(`${at} needs n, action, items[] and inputs[]`);
      }
      const n = s!.n as number, action = s!.action as string, used = s!.inputs as string[];
      if (!Number.isInteger(n) || n < 1 || n > MAX_STEP) bad(`${name} step ${n}: step numbers are 1..${MAX_STEP}`);
      if (ns.has(n)) bad(`${name}: step ${n} appears twice`);
      ns.add(n);
      if (!(PLAN_ACTIONS as readonly string[]).includes(action)) bad(`${name} step ${n}: unknown action ${show(action)} (expected ${PLAN_ACTIONS.join(', ')})`);
      const wantsInputs = action === 'add-package' || action === 'add-driver';
      if (wantsInputs && used.length === 0) bad(`${name} step ${n} (${action}) names no inputs`);
      if (!wantsInputs && used.length > 0) bad(`${name} step ${n} (${action}) takes no inputs`);
      if (new Set(used).size !== used.length) bad(`${name} step ${n} names an input twice`);
      for (const id of used) {
        const inp = inputs.get(id);
        if (!inp) bad(`${name} step ${n} uses unknown input ${show(id)}`);
        if ((action === 'add-driver') !== (inp!.kind === 'driver-folder')) bad(`${name} step ${n} (${action}) cannot use ${inp!.kind} input ${id}`);
      }
      const app = s!.applicability as Record<string, unknown> | undefined;
      if (app !== undefined && (!app || typeof app !== 'object' || !['applicable', 'not-applicable', 'unknown'].includes(app.result as string) || !isStr(app.detail))) {
        bad(`${name} step ${n}: applicability needs result (applicable, not-applicable or unknown) and detail`);
      }
      if (s!.reason !== undefined && !isStr(s!.reason)) bad(`${name} step ${n}: reason must be a string`);
    });
  });

  if (o.scancab !== undefined) {
    const c = o.scancab as Record<string, unknown> | null;
    if (!c || typeof c !== 'object' || Array.isArray(c)) bad('"scancab" must be an object');
    if (!isStr(c!.sha256) || !SHA256.test(c!.sha256)) bad('scancab.sha256 must be 64 lowercase hex digits');
    if (!isStr(c!.packageId) || !isStr(c!.creationDate)) bad('scancab needs packageId and creationDate');
    if (c!.rules !== undefined) {
      const r = c!.rules as Record<string, unknown> | null;
      if (!r || typeof r !== 'object' || Array.isArray(r)) bad('scancab.rules must be an object');
      if (typeof r!.defaultAllow !== 'boolean' || typeof r!.includeSuperseded !== 'boolean') bad('scancab.rules needs defaultAllow and includeSuperseded (true or false)');
      for (const l of RULE_LISTS) if (!isStrList(r![l])) bad(`scancab.rules.${l} must be a list of strings`);
    }
  }

  (o.skipped as unknown[]).forEach((x, k) => {
    const s = x as Record<string, unknown> | null;
    if (!s || typeof s !== 'object' || !isStr(s.input) || !isStr(s.reason) || !isStr(s.detail)) bad(`skipped[${k}] needs input, reason and detail`);
    if (!inputs.has(s!.input as string)) bad(`skipped[${k}] names unknown input ${show(s!.input)}`);
    if (s!.item !== undefined && !isStr(s!.item)) bad(`skipped[${k}].item must be a string`);
    if (s!.images !== undefined && !isStrList(s!.images)) bad(`skipped[${k}].images must be a list of strings`);
  });
  return v as Plan;
}

/** Read a plan file and check it (checkPlan). FormatError or IoError naming the file otherwise. */
export async function readPlanFile(file: string): Promise<Plan> {
  return checkPlan(await readJsonFile(file, 'E_PLAN'), file);
}
