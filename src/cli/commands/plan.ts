import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { PlanRequestTarget } from '../../plan/plan.js';
import { EXIT, UsageError } from '../../errors.js';
import { canonicalJson } from '../../util/json.js';
import { writeFileAtomic } from '../../util/fsout.js';
import { percent, terminalText } from '../../util/display.js';
import type { CliContext } from '../context.js';

// Loaded when a command runs, not at CLI start (see inspect.ts).
const cbsPlan = () => import('../../plan/plan.js');
const cbsPlanDiff = () => import('../../plan/plan-diff.js');
const planCheck = () => import('../../plan/plan-check.js');
const vmReport = () => import('../../vm/report.js');
const scancabLib = () => import('../../scancab/index.js');
const jsonLib = () => import('../../util/json.js');

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function parseIndex(v: string): number {
  if (!/^[1-9][0-9]{0,3}$/.test(v)) throw new UsageError(`--index ${JSON.stringify(v)}: expected an image number (1, 2, …)`);
  return Number(v);
}

interface PlanOpts {
  wim?: string;
  index?: string[];
  bootWim?: string;
  winre?: string;
  targetBuild?: string;
  arch?: string;
  edition?: string;
  drivers?: string[];
  scancab?: string;
  rules?: string;
  output?: string;
  overwrite?: boolean;
  json?: boolean;
}

function targetOf(o: PlanOpts): PlanRequestTarget {
  if (o.wim && o.targetBuild) throw new UsageError('give either --wim or --target-build, not both');
  if (o.wim) {
    if (o.arch || o.edition) throw new UsageError('--arch and --edition go with --target-build (a WIM says its own)');
    const t: PlanRequestTarget = { wim: o.wim };
    if (o.index?.length) t.indexes = o.index.map(parseIndex);
    if (o.bootWim) t.bootWim = o.bootWim;
    if (o.winre) t.winre = o.winre;
    return t;
  }
  if (o.targetBuild) {
    if (o.index?.length || o.bootWim || o.winre) throw new UsageError('--index, --boot-wim and --winre go with --wim');
    if (!o.arch) throw new UsageError('--target-build needs --arch (amd64, x86 or arm64)');
    const t: PlanRequestTarget = { build: o.targetBuild, arch: o.arch };
    if (o.edition) t.edition = o.edition;
    return t;
  }
  throw new UsageError('say what to plan for: --wim install.wim or --target-build 10.0.19044.1288 --arch amd64');
}

/** Whether `file` is a regular file (not a link) holding a plan: -o may replace it without --overwrite. */
async function isPlanFile(file: string): Promise<boolean> {
  try {
    const st = await lstat(file);
    if (!st.isFile() || st.size > PLAN_FILE_MAX) return false;
    const v = JSON.parse(await readFile(file, 'utf8')) as { schema?: unknown } | null;
    return v?.schema === (await import('../../plan/plan-types.js')).PLAN_SCHEMA;
  } catch {
    return false;
  }
}
/** Larger than any plan msu writes: not read to find out. */
const PLAN_FILE_MAX = 64 << 20;

export function register(program: Command, ctx: CliContext): void {
  const plan = program
    .command('plan')
    .description('write down what will be installed into which image, in which order and why (docs/plan.md)')
    .argument('[inputs...]', 'update files (.msu/.cab) or folders of them')
    .option('--wim <file>', 'target install.wim (its installed packages decide applicability)')
    .option('--index <n>', 'image of the WIM to plan for (repeatable; default: all)', collect)
    .option('--boot-wim <file>', 'also plan boot.wim index 2 (Windows Setup)')
    .option('--winre <file>', 'also plan winre.wim')
    .option('--target-build <version>', 'plan for a build instead of a WIM, e.g. 10.0.19044.1288')
    .option('--arch <arch>', 'architecture with --target-build (amd64, x86, arm64)')
    .option('--edition <edition>', 'edition with --target-build (recorded only)')
    .option('--drivers <dir>', 'driver package folder to add (repeatable)', collect)
    .option('--scancab <file>', 'offline-scan cabinet (wsusscn2.cab, WSUSSCAN.cab): record each input\'s UpdateId and KB')
    .option('--rules <file>', 'with --scancab: drop superseded and forbidden updates by this rules file (docs/scancab.md)')
    .option('-o, --output <file>', 'write the plan here (atomically) instead of printing it; replaces an earlier plan, nothing else')
    .option('--overwrite', 'with -o: replace the file even when it is not a plan')
    .option('--json', 'print the plan JSON only, no summary')
    .action(async (inputs: string[], opts: PlanOpts) => {
      if (inputs.length === 0 && !(opts.drivers?.length)) throw new UsageError('give at least one update file, folder or --drivers folder');
      if (opts.rules && !opts.scancab) throw new UsageError('--rules needs --scancab (the rules judge the updates of a scan cabinet)');
      let scan: import('../../plan/plan.js').PlanRequest['scan'];
      if (opts.scancab) {
        scan = { file: opts.scancab };
        if (opts.rules) {
          const [{ parseScanRules }, { readJsonFile }] = await Promise.all([scancabLib(), jsonLib()]);
          scan.rules = parseScanRules(await readJsonFile(opts.rules, 'E_RULES', 'rules file'), opts.rules);
        }
      }
      const { buildPlan, formatPlanSummary } = await cbsPlan();
      const p = await buildPlan({
        ...(scan ? { scan } : {}),
        inputs, drivers: opts.drivers ?? [], target: targetOf(opts), cwd: process.cwd(),
        // plan paths are relative to the plan file's directory (msu run resolves them there)
        ...(opts.output ? { planDir: path.dirname(path.resolve(opts.output)) } : {}),
        onProgress: (e) => ctx.progress(e.total ? `${e.phase} ${e.file} ${percent(e.done ?? 0, e.total)}` : `${e.phase} ${e.file}`),
      });
      const text = canonicalJson(p);
      if (opts.output) {
        // regenerating plan.json is the everyday case; anything else (an input named by mistake) stays
        const replace = opts.overwrite === true || (await isPlanFile(opts.output));
        await writeFileAtomic(opts.output, text, { replace, hint: 'it is not a plan; pass --overwrite to replace it' });
        if (!opts.json) ctx.print(`${formatPlanSummary(p)}plan written to ${opts.output}`);
      } else if (opts.json) {
        ctx.printJson(p);
      } else {
        // stdout carries the plan alone (`msu plan … > plan.json` is valid JSON); the summary goes to stderr
        ctx.stderr.write(terminalText(formatPlanSummary(p)));
        ctx.stdout.write(text);
      }
    });

  plan
    .command('diff')
    .description('compare two plans, or a plan with what a run installed (NEW = run directory or report.json): exit 0 and no output when they agree, exit 1 and a Markdown review when they differ (--json: the comparison either way)')
    .argument('<old>', 'older plan.json')
    .argument('<new>', 'newer plan.json, or a run directory / report.json of msu run')
    .option('--json', 'print the differences as JSON')
    .action(async (oldFile: string, newFile: string, opts: { json?: boolean }) => {
      const json = opts.json || (plan.opts() as PlanOpts).json;
      const { diffPlans, formatPlanDiff, isEmptyDiff } = await cbsPlanDiff();
      const { readPlanFile } = await planCheck();
      const { comparePlanWithRun, formatPlanRunDiff, readPlanOrRunReport } = await vmReport();
      const older = await readPlanFile(oldFile);
      const newer = await readPlanOrRunReport(newFile);
      if ('report' in newer) {
        const d = comparePlanWithRun(older, newer.report);
        if (!d.matches) ctx.exitCode = EXIT.mismatch;
        if (json) ctx.printJson(d);
        else if (!d.matches) ctx.print(formatPlanRunDiff(d));
        return;
      }
      const d = diffPlans(older, newer.plan);
      const same = isEmptyDiff(d);
      if (!same) ctx.exitCode = EXIT.mismatch;
      // with --json, always a JSON document (scripts parse stdout); `plan` has its own --json,
      // and commander gives it the flag wherever it is written
      if (json) ctx.printJson(d);
      else if (!same) ctx.print(formatPlanDiff(d));
    });
}
