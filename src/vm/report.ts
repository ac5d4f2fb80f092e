/**
 * The run report: what a run did, per step (DISM path) or per update (Windows Update path),
 * with outcome, exit code and duration, built from the runner's event stream
 * (`events.jsonl`) and its result (`result.json`). `comparePlanWithRun` then sets a plan
 * against what was actually installed, for `msu plan diff PLAN RUNDIR`.
 *
 * Pure functions over parsed data; `readRunDir` is the only I/O.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { FormatError, ioError } from '../errors.js';
import type { Plan } from '../plan/plan-types.js';
import { checkPlan } from '../plan/plan-check.js';
import type { RunEvent, RunResult } from './runner.js';
import type { DismRunReport } from './dism-output.js';
import { dismLayout, servicedImages } from './guest/dism-worker.js';
import { canonicalJson, readJsonFile } from '../util/json.js';
import { writeFileAtomic } from '../util/fsout.js';

export const RUN_REPORT_SCHEMA = 'msu-toolkit/run-report@1';

export type StepOutcome = 'ok' | 'failed' | 'skipped' | 'unfinished';

export interface ReportStep {
  id: string;
  name: string;
  /** The guest's boot counter when the step started. */
  boot: number;
  outcome: StepOutcome;
  exitCode?: number;
  /** Host clock, from the step's `running` line to its last state; absent when the guest sent only one line. */
  durationMs?: number;
}

/** IUpdateInstaller OperationResultCode names (WUA's documented enumeration). */
const WU_RESULT: Record<number, string> = { 0: 'not-started', 1: 'in-progress', 2: 'succeeded', 3: 'succeeded-with-errors', 4: 'failed', 5: 'aborted' };

export interface ReportUpdate {
  round: number;
  updateId: string;
  title: string;
  kb: string[];
  outcome: string;
  resultCode?: number;
  hresult?: string;
  rebootRequired?: boolean;
}

export interface RunReport {
  schema: typeof RUN_REPORT_SCHEMA;
  id: string;
  /** RunSpec kind: dism-worker, audit-wua or generic. */
  kind: string;
  ok: boolean;
  failure?: { code: string; message: string; limit?: string };
  starts: number;
  boots: number;
  durationMs: number;
  steps: ReportStep[];
  updates: ReportUpdate[];
  /** DISM path: what the serviced images report, and the differences from the plan. */
  dism?: DismRunReport;
  /** Guest logs the run left (path A failure path: dism.log, DISM and CBS logs), relative to the run directory. */
  logs?: string[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function asKbs(v: unknown): string[] {
  const list = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
  return list.filter((x): x is string => typeof x === 'string').map((s) => s.toUpperCase()).sort();
}

/** Steps in the order they started; a step id seen again in a later boot is a new entry (a retried step). */
export function stepsFromEvents(events: readonly RunEvent[]): ReportStep[] {
  const steps: ReportStep[] = [];
  const open = new Map<string, { step: ReportStep; t: number }>();
  let boot = 0;
  for (const e of events) {
    if (e.type !== 'guest') continue;
    const g = e.event;
    if (g.type === 'boot') {
      boot = g.n;
      open.clear();
      continue;
    }
    if (g.type !== 'step') continue;
    const cur = open.get(g.id);
    if (g.state === 'running') {
      const step: ReportStep = { id: g.id, name: g.name, boot, outcome: 'unfinished' };
      steps.push(step);
      open.set(g.id, { step, t: e.t });
      continue;
    }
    const step = cur?.step ?? { id: g.id, name: g.name, boot, outcome: 'unfinished' as StepOutcome };
    if (!cur) steps.push(step);
    step.outcome = g.state;
    if (g.exitCode !== undefined) step.exitCode = g.exitCode;
    if (cur) step.durationMs = Math.max(0, Math.round(e.t - cur.t));
    // a name given with the final state is the better one (the worker's running line repeats the id)
    if (g.name && g.name !== g.id) step.name = g.name;
    open.delete(g.id);
  }
  return steps;
}

/** Updates from the guest's `result` events (`{round, updates:[…]}`, the WUA runner's per-round report). */
export function updatesFromResults(results: readonly Record<string, unknown>[]): ReportUpdate[] {
  const out: ReportUpdate[] = [];
  for (const r of results) {
    if (typeof r.round !== 'number' || !Array.isArray(r.updates)) continue;
    for (const u of r.updates) {
      if (!isObj(u)) continue;
      const rc = typeof u.resultCode === 'number' ? u.resultCode : undefined;
      const item: ReportUpdate = {
        round: r.round,
        updateId: typeof u.updateId === 'string' ? u.updateId : '',
        title: typeof u.title === 'string' ? u.title : '',
        kb: asKbs(u.kb),
        outcome: rc === undefined ? 'unknown' : (WU_RESULT[rc] ?? `result-${rc}`),
      };
      if (rc !== undefined) item.resultCode = rc;
      if (typeof u.hresult === 'string') item.hresult = u.hresult;
      if (typeof u.rebootRequired === 'boolean') item.rebootRequired = u.rebootRequired;
      out.push(item);
    }
  }
  return out;
}

export function buildRunReport(kind: string, result: RunResult, events: readonly RunEvent[], dism?: DismRunReport): RunReport {
  const report: RunReport = {
    schema: RUN_REPORT_SCHEMA,
    id: result.id,
    kind,
    ok: result.ok,
    starts: result.starts,
    boots: result.boots,
    durationMs: result.durationMs,
    steps: stepsFromEvents(events),
    updates: updatesFromResults(result.results),
  };
  if (result.failure) {
    report.failure = { code: result.failure.code, message: result.failure.message };
    if (result.failure.limit) report.failure.limit = result.failure.limit;
  }
  if (dism) report.dism = dism;
  return report;
}

function fmtDuration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  return s < 120 ? `${s} s` : `${Math.floor(s / 60)} min ${s % 60} s`;
}

/** A short human summary: outcome, then one line per step or update. */
export function formatRunReport(r: RunReport): string {
  const lines = [`run ${r.id} (${r.kind}): ${r.ok ? 'succeeded' : `FAILED (${r.failure?.code ?? 'unknown'}): ${r.failure?.message ?? ''}`}`];
  lines.push(`  ${r.boots} boot(s), ${r.starts} QEMU start(s), ${fmtDuration(r.durationMs)}`);
  if (r.steps.length) {
    lines.push('steps:');
    for (const s of r.steps) {
      const code = s.exitCode !== undefined ? ` exit ${s.exitCode}` : '';
      const dur = s.durationMs !== undefined ? `  ${fmtDuration(s.durationMs)}` : '';
      lines.push(`  ${s.outcome.padEnd(10)} ${s.id}${s.name !== s.id ? ` (${s.name})` : ''}${code}${dur}`);
    }
  }
  if (r.updates.length) {
    lines.push('updates:');
    // KB and UpdateId name the update (an offline-scan run is judged by them); the title is for people
    for (const u of r.updates) lines.push(`  round ${u.round}  ${u.outcome.padEnd(21)} ${u.kb.join(',') || '-'}  ${u.updateId || '-'}  ${u.title}${u.hresult && u.hresult !== '0x00000000' ? `  ${u.hresult}` : ''}`);
  }
  const warnings = r.dism?.warnings ?? [];
  if (warnings.length) {
    lines.push('warnings:');
    for (const w of warnings) lines.push(`  ${w.step}: exit ${w.exitCode} (${w.meaning})`);
  }
  if (r.logs?.length) {
    lines.push('guest logs (relative to the run directory):');
    for (const l of r.logs) lines.push(`  ${l}`);
  }
  const diffs = r.dism?.differences ?? [];
  if (diffs.length) {
    lines.push('differences from the plan:');
    for (const d of diffs) lines.push(`  ${d.image}: ${d.kind} ${d.item} (${d.detail})`);
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------- plan vs run

export type PlannedOutcome = 'installed' | 'not-applicable' | 'failed' | 'not-run' | 'missing';

export interface PlanRunEntry {
  image: string;
  /** Plan step number within the image (absent for updates the plan did not list). */
  n?: number;
  action: string;
  item: string;
  kb?: string;
  outcome: PlannedOutcome | 'not-planned';
  detail: string;
}

export interface PlanRunDiff {
  run: { id: string; kind: string; ok: boolean };
  /** Every planned item with what happened to it, in plan order; then installed items the plan did not list. */
  entries: PlanRunEntry[];
  /** True when every planned item is installed (or accepted as not applicable) and nothing unplanned was installed. */
  matches: boolean;
}

const SUCCEEDED = new Set(['succeeded', 'succeeded-with-errors']);

function kbOf(plan: Plan, identity: string): string | undefined {
  for (const i of plan.inputs) for (const p of i.packages) if (p.identity === identity && p.kb) return p.kb.toUpperCase();
  return undefined;
}

/**
 * Set the plan against the run. DISM runs: per plan step, the worker's step outcome and the
 * image's package/driver listing (dism.differences). Windows Update runs: planned packages
 * matched by KB number to the updates that installed, plus installed updates the plan did
 * not list (`not-planned`).
 */
export function comparePlanWithRun(plan: Plan, report: RunReport): PlanRunDiff {
  const entries: PlanRunEntry[] = [];
  const byStepId = new Map<string, ReportStep>();
  for (const s of report.steps) byStepId.set(s.id, s); // the last attempt counts
  if (report.dism || report.kind === 'dism-worker') {
    const notApplicable = new Set(report.dism?.notApplicable ?? []);
    const missing = new Map<string, string>();
    for (const d of report.dism?.differences ?? []) missing.set(`${d.image}\0${d.item}`, `${d.kind}: ${d.detail}`);
    // WinRE runs once inside every install image, under its own step ids and report name
    for (const target of servicedImages(dismLayout(plan))) {
      target.layout.steps.forEach((st, k) => {
        const stepId = target.stepIds[k]!;
        const ran = byStepId.get(stepId);
        const items = st.items.length ? st.items : [st.action];
        for (const item of items) {
          const e: PlanRunEntry = { image: target.name, n: st.n, action: st.action, item, outcome: 'installed', detail: '' };
          const kb = kbOf(plan, item);
          if (kb) e.kb = kb;
          if (!ran || ran.outcome === 'unfinished') {
            e.outcome = ran ? 'failed' : 'not-run';
            e.detail = ran ? `step ${stepId} started but never finished` : `step ${stepId} did not run`;
          } else if (ran.outcome === 'failed') {
            e.outcome = 'failed';
            e.detail = `step ${stepId} failed${ran.exitCode !== undefined ? ` with exit code ${ran.exitCode}` : ''}`;
          } else if (notApplicable.has(stepId)) {
            e.outcome = 'not-applicable';
            e.detail = 'DISM said not applicable (0x800F081E), which the plan allowed';
          } else if (missing.has(`${target.name}\0${item}`)) {
            e.outcome = 'missing';
            e.detail = missing.get(`${target.name}\0${item}`)!;
          } else if (!report.dism) {
            e.outcome = 'missing';
            e.detail = `step ${stepId} ran, but the image's package listing was not read`;
          } else {
            e.detail = `step ${stepId} ok${ran.exitCode !== undefined ? ` (exit ${ran.exitCode})` : ''}`;
          }
          entries.push(e);
        }
      });
    }
  } else {
    const installed = report.updates.filter((u) => SUCCEEDED.has(u.outcome));
    const used = new Set<ReportUpdate>();
    for (const im of plan.images) {
      for (const st of im.steps) {
        if (st.action !== 'add-package') continue;
        for (const item of st.items) {
          const kb = kbOf(plan, item);
          const e: PlanRunEntry = { image: im.image, n: st.n, action: st.action, item, outcome: 'not-run', detail: '' };
          if (kb) e.kb = kb;
          const hits = kb ? report.updates.filter((u) => u.kb.includes(kb)) : [];
          const ok = hits.find((u) => SUCCEEDED.has(u.outcome));
          hits.forEach((u) => used.add(u));
          if (!kb) e.detail = 'the plan records no KB number for this package, so Windows Update results cannot be matched';
          else if (ok) {
            e.outcome = 'installed';
            e.detail = `round ${ok.round}: ${ok.title}`;
          } else if (hits.length) {
            const last = hits[hits.length - 1]!;
            e.outcome = 'failed';
            e.detail = `round ${last.round}: ${last.outcome}${last.hresult ? ` ${last.hresult}` : ''}`;
          } else e.detail = `Windows Update did not install ${kb}`;
          entries.push(e);
        }
      }
    }
    for (const u of installed) {
      if (used.has(u)) continue;
      const e: PlanRunEntry = { image: '(running system)', action: 'windows-update', item: u.title || u.updateId, outcome: 'not-planned', detail: `round ${u.round}, update ${u.updateId}` };
      if (u.kb.length) e.kb = u.kb.join(',');
      entries.push(e);
    }
  }
  const matches = entries.every((e) => e.outcome === 'installed' || e.outcome === 'not-applicable');
  return { run: { id: report.id, kind: report.kind, ok: report.ok }, entries, matches };
}

/** Markdown, like the plan-to-plan diff; the empty string when the run matches the plan. */
export function formatPlanRunDiff(d: PlanRunDiff): string {
  if (d.matches) return '';
  const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;
  const out = ['# Plan vs. run', '', `Run ${code(d.run.id)} (${d.run.kind}) ${d.run.ok ? 'succeeded' : 'failed'}.`, ''];
  const groups = new Map<string, PlanRunEntry[]>();
  for (const e of d.entries) {
    if (e.outcome === 'installed' || e.outcome === 'not-applicable') continue;
    const list = groups.get(e.image) ?? [];
    list.push(e);
    groups.set(e.image, list);
  }
  for (const [image, list] of groups) {
    out.push(`## Image ${image}`, '');
    for (const e of list) out.push(`- **${e.outcome}** ${e.n !== undefined ? `step ${e.n} ` : ''}${e.action} ${code(e.item)}${e.kb ? ` (${e.kb})` : ''}: ${e.detail}`);
    out.push('');
  }
  return out.join('\n').replace(/\n+$/, '\n');
}

// ---------------------------------------------------------------- I/O

/** Events from `events.jsonl`; a torn last line (the host died mid-write) is ignored, any other bad line is an error. */
export function parseEventsJsonl(text: string, file: string): RunEvent[] {
  const lines = text.split('\n');
  const out: RunEvent[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const v = JSON.parse(line) as unknown;
      if (!isObj(v) || typeof v.type !== 'string' || typeof v.t !== 'number') throw new Error('not an event object');
      out.push(v as unknown as RunEvent);
    } catch (e) {
      if (i === lines.length - 1) return;
      throw new FormatError('E_RUN_EVENTS', `line ${i + 1}: ${(e as Error).message}`, { file });
    }
  });
  return out;
}

/**
 * A run report from `report.json`, or from a run directory: its report.json, else rebuilt from
 * events.jsonl and result.json (`msu vm run` writes no report; an interrupted run may not have).
 */
export async function readRunReport(fileOrDir: string): Promise<RunReport> {
  if (await isDirectory(fileOrDir)) return loadRunDirReport(fileOrDir);
  return checkRunReport(await readJsonFile(fileOrDir, 'E_RUN_REPORT'), fileOrDir);
}

/**
 * The NEW side of `msu plan diff`: a run directory or report.json (by its schema), else a plan.
 * The file is read once, whichever it is.
 */
export async function readPlanOrRunReport(fileOrDir: string): Promise<{ report: RunReport } | { plan: Plan }> {
  if (await isDirectory(fileOrDir)) return { report: await readRunReport(fileOrDir) };
  const v = await readJsonFile(fileOrDir, 'E_PLAN');
  if (isObj(v) && v.schema === RUN_REPORT_SCHEMA) return { report: checkRunReport(v, fileOrDir) };
  return { plan: checkPlan(v, fileOrDir) };
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch (err) {
    throw ioError(err, p);
  }
}

function checkRunReport(v: unknown, file: string): RunReport {
  if (!isObj(v) || v.schema !== RUN_REPORT_SCHEMA) throw new FormatError('E_RUN_REPORT', `not a run report (schema ${JSON.stringify(isObj(v) ? v.schema : undefined)}, expected ${RUN_REPORT_SCHEMA})`, { file });
  if (!Array.isArray(v.steps) || !Array.isArray(v.updates) || typeof v.id !== 'string' || typeof v.kind !== 'string' || typeof v.ok !== 'boolean') {
    throw new FormatError('E_RUN_REPORT', 'run report lacks id, kind, ok, steps or updates', { file });
  }
  return v as unknown as RunReport;
}

export const RUN_FILES = { events: 'events.jsonl', result: 'result.json', report: 'report.json', spec: 'spec.json' } as const;


/** The events, result and spec kind a finished run left in its directory. */
export async function readRunDir(runDir: string): Promise<{ events: RunEvent[]; result: RunResult; kind: string }> {
  const ev = path.join(runDir, RUN_FILES.events);
  let evText: string;
  try {
    evText = await readFile(ev, 'utf8');
  } catch (err) {
    throw ioError(err, ev);
  }
  const result = await readJsonFile(path.join(runDir, RUN_FILES.result), 'E_RUN_RESULT');
  if (!isObj(result) || typeof result.id !== 'string' || typeof result.ok !== 'boolean' || !Array.isArray(result.results)) {
    throw new FormatError('E_RUN_RESULT', 'not a run result (id, ok, results)', { file: path.join(runDir, RUN_FILES.result) });
  }
  const spec = await readJsonFile(path.join(runDir, RUN_FILES.spec), 'E_RUN_SPEC');
  const kind = isObj(spec) && typeof spec.kind === 'string' ? spec.kind : 'generic';
  return { events: parseEventsJsonl(evText, ev), result: result as unknown as RunResult, kind };
}

/**
 * What `msu run report RUN-DIR` shows: report.json, or the report rebuilt from events.jsonl and
 * result.json. A path that is not a run directory (missing, a file, neither of those files) is bad
 * input (FormatError, exit 3); an unreadable one an IoError (exit 6).
 */
export async function loadRunDirReport(runDir: string): Promise<RunReport> {
  const notRunDir = (why: string): FormatError => new FormatError('E_NOT_RUN_DIR', `not a run directory: ${why}`, { file: runDir });
  let st;
  try {
    st = await stat(runDir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw notRunDir('no such directory');
    throw ioError(err, runDir);
  }
  if (!st.isDirectory()) throw notRunDir('not a directory');
  const exists = async (rel: string): Promise<boolean> => {
    try {
      await stat(path.join(runDir, rel));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw ioError(err, path.join(runDir, rel));
    }
  };
  if (await exists(RUN_FILES.report)) return readRunReport(path.join(runDir, RUN_FILES.report));
  if (!(await exists(RUN_FILES.events))) throw notRunDir(`it holds neither ${RUN_FILES.report} nor ${RUN_FILES.events}`);
  const { events, result, kind } = await readRunDir(runDir);
  return buildRunReport(kind, result, events);
}

/** Build the report from what the run left in `runDir` and write `report.json` there (atomically). */
export async function writeRunReport(runDir: string, dism?: DismRunReport, extra: { logs?: string[] } = {}): Promise<RunReport> {
  const { events, result, kind } = await readRunDir(runDir);
  const report = buildRunReport(kind, result, events, dism);
  if (extra.logs && extra.logs.length > 0) report.logs = [...extra.logs];
  await writeFileAtomic(path.join(runDir, RUN_FILES.report), canonicalJson(report));
  return report;
}
