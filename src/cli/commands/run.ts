import path from 'node:path';
import type { Command } from 'commander';
import { EXIT, MismatchError, MsuError, UsageError } from '../../errors.js';
import type { PreparedRun } from '../../vm/prepared-run.js';
import type { RunResult } from '../../vm/runner.js';
import type { WuaFilter } from '../../vm/guest/wua-runner.js';
import type { RunReport } from '../../vm/report.js';
import type { CliContext } from '../context.js';
import { shownPath } from '../paths.js';
import { addRunConsoleOptions, timeoutOverrides, withVmConsole, type RunConsoleFlags } from '../vm-console.js';

// Loaded when a command runs, not at CLI start (see inspect.ts).
const vmDism = () => import('../../vm/dism.js');
const vmWua = () => import('../../vm/wua.js');
const vmRunner = () => import('../../vm/runner.js');
const vmReport = () => import('../../vm/report.js');
const scancabLib = () => import('../../scancab/index.js');
const jsonLib = () => import('../../util/json.js');

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

function positiveInt(v: string, what: string): number {
  const n = Number(v);
  if (!/^[0-9]+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`${what} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

/** --include/--exclude: KB1234567, or field=value for title=REGEX, category=NAME, update=GUID. */
export function parseFilterArg(v: string): WuaFilter {
  const m = /^(title|category|update|kb)=(.+)$/i.exec(v);
  if (!m) return { kb: v };
  const key = m[1]!.toLowerCase();
  if (key === 'title') return { title: m[2]! };
  if (key === 'category') return { category: m[2]! };
  if (key === 'update') return { updateId: m[2]! };
  return { kb: m[2]! };
}

function differenceError(n: number): MismatchError {
  return new MismatchError('E_PLAN_MISMATCH', `the serviced images differ from the plan: ${n} difference(s), listed in the report above and in report.json`);
}

/** What the commands print: paths as the user gave them or relative to the run directory. */
function summary(p: PreparedRun, shownRunDir: string): Record<string, unknown> {
  return { id: p.spec.id, kind: p.spec.kind, dryRun: p.dryRun, runDir: shownPath(shownRunDir), artifacts: p.artifacts, hostCommands: p.commands.map((c) => c.tool) };
}

function printDryRun(ctx: CliContext, p: PreparedRun, runDir: string, json: boolean): void {
  if (json) return ctx.printJson(summary(p, runDir));
  ctx.print(`dry run ${p.spec.id}: nothing started; files in ${runDir}`);
  for (const a of p.artifacts) ctx.print(`  ${a.path}  ${a.description}`);
}

/** Run the prepared spec with progress on stderr and Ctrl-C handling (src/cli/vm-console.ts). */
async function execute(ctx: CliContext, p: PreparedRun, json: boolean, flags: RunConsoleFlags): Promise<{ result: RunResult; interrupted: boolean }> {
  const overrides = await timeoutOverrides(flags);
  const { runVm } = await vmRunner();
  const { value, interrupted } = await withVmConsole(ctx, { json, jsonEvents: flags.jsonEvents === true }, (c) =>
    runVm(p.spec, { runDir: p.runDir, signal: c.signal, killSignal: c.killSignal, timeoutOverrides: overrides, onEvent: c.onEvent }),
  );
  return { result: value, interrupted };
}

export function register(program: Command, ctx: CliContext): void {
  const run = program.command('run').description('execute a plan in QEMU: DISM in a WinPE worker, or Windows Update in an Audit Mode image');

  addRunConsoleOptions(run
    .command('dism')
    .description('service install.wim/boot.wim from PLAN with DISM in a WinPE worker VM; exit 1 if the result differs from the plan, 7 if the run fails')
    .argument('<plan>', 'plan file (msu plan)')
    .requiredOption('--iso <file>', 'the Windows installation ISO (required)')
    .option('--worker <qcow2>', 'a prepared worker system disk instead of WinPE from the ISO')
    .option('--run-dir <dir>', 'run directory (default: ./msu-run-dism)')
    .option('--base-dir <dir>', 'directory the plan\'s input paths are relative to; no input may lie outside it (default: the plan file\'s directory)')
    .option('--dry-run', 'write the generated scripts, spec and QEMU argv, start nothing')
    .option('--json', 'canonical JSON output'))
    .action(async (planFile: string, opts: { iso: string; worker?: string; runDir?: string; baseDir?: string; dryRun?: boolean; json?: boolean } & RunConsoleFlags) => {
      const { loadPlanFile, prepareDismRun } = await vmDism();
      const { formatRunReport } = await vmReport();
      const plan = await loadPlanFile(planFile);
      const runDir = opts.runDir ?? 'msu-run-dism';
      let prepared: PreparedRun;
      try {
        prepared = await prepareDismRun(plan, {
          iso: opts.iso,
          ...(opts.worker ? { worker: opts.worker } : {}),
          runDir,
          // a plan's input paths are relative to the plan file (msu plan writes them so)
          baseDir: opts.baseDir ?? path.dirname(planFile),
          dryRun: opts.dryRun === true,
        });
      } catch (err) {
        throw err instanceof MsuError ? err.inFile(planFile) : err;
      }
      if (opts.dryRun) return printDryRun(ctx, prepared, runDir, opts.json === true);
      const { result, interrupted } = await execute(ctx, prepared, opts.json === true, opts);
      const { finishDismRun } = await vmDism();
      const { report, differences, outputs } = await finishDismRun(plan, prepared.runDir, result);
      const shownOutputs = outputs.map((o) => path.relative(prepared.runDir, o));
      if (opts.json) ctx.printJson({ ...summary(prepared, runDir), result, report, ...(result.ok && !differences.length ? { outputs: shownOutputs } : {}) });
      else ctx.print(formatRunReport(report));
      if (interrupted || !result.ok) {
        ctx.exitCode = interrupted ? EXIT.interrupted : EXIT.runtime;
        return;
      }
      if (differences.length > 0) {
        // the same exit code in both modes; the report (printed, and on disk) says what differs
        ctx.exitCode = EXIT.mismatch;
        if (!opts.json) ctx.stderr.write(`msu: ${differenceError(differences.length).describe()}\n`);
        return;
      }
      if (!opts.json) {
        ctx.print('the serviced images match the plan; output:');
        for (const o of outputs) ctx.print(`  ${shownPath(o)}`);
      }
    });

  /** --arch: the unattend's processorArchitecture. */
  const wuaArch = (v: string): 'amd64' | 'x86' | 'arm64' => {
    if (v === 'amd64' || v === 'x86' || v === 'arm64') return v;
    throw new UsageError(`--arch must be amd64, x86 or arm64, got ${JSON.stringify(v)}`);
  };

  addRunConsoleOptions(run
    .command('wua')
    .description('install Windows updates in an Audit Mode image over as many reboots as needed; exit 7 if the run fails')
    .argument('<image>', 'Audit Mode qcow2 image (left unchanged: the run works on an overlay)')
    .option('--criteria <text>', 'Windows Update search criteria')
    .option('--include <filter>', 'only these updates: KB1234567, title=REGEX, category=NAME, update=GUID (repeatable)', collect)
    .option('--exclude <filter>', 'never these updates (same forms as --include; repeatable)', collect)
    .option('--max-rounds <n>', 'install rounds (one per boot) before giving up', '8')
    .option('--offline-scan <cab>', 'search this offline-scan cabinet (wsusscn2.cab) instead of Microsoft\'s servers; needs --updates and --rules; no network')
    .option('--updates <dir>', 'with --offline-scan: the payloads msu fetch wrote (checked by SHA-1 before the VM starts)')
    .option('--rules <file>', 'with --offline-scan: the rules file that selects the updates (docs/scancab.md)')
    .option('--arch <arch>', "the image's architecture for the unattend: amd64, x86 or arm64 (default: read from the image)")
    .option('--run-dir <dir>', 'run directory (default: ./msu-run-wua)')
    .option('--output <qcow2>', 'after a clean run, the updated image flattened into a standalone qcow2 (default: RUN-DIR/serviced.qcow2)')
    .option('--overwrite', 'replace the --output file when it exists (default: refuse before the run starts)')
    .option('--compress', 'compress the output qcow2 (qemu-img convert -c)')
    .option('--dry-run', 'write the generated files, spec and QEMU argv, start nothing')
    .option('--json', 'canonical JSON output'))
    .action(async (image: string, opts: { criteria?: string; include?: string[]; exclude?: string[]; maxRounds: string; arch?: string; runDir?: string; output?: string; overwrite?: boolean; compress?: boolean; dryRun?: boolean; json?: boolean; offlineScan?: string; updates?: string; rules?: string } & RunConsoleFlags) => {
      const runDir = opts.runDir ?? 'msu-run-wua';
      // found out now, not after hours of Windows Update: a file the user has is not replaced unasked
      if (opts.output !== undefined) {
        const { refuseTakenOutput } = await import('../../util/fsout.js');
        await refuseTakenOutput(opts.output, { replace: opts.overwrite === true, hint: 'pass --overwrite to replace it', nothing: 'nothing was started' });
      }
      const offlineGiven = [opts.offlineScan, opts.updates, opts.rules].filter((x) => x !== undefined).length;
      if (offlineGiven > 0 && offlineGiven < 3) throw new UsageError('--offline-scan, --updates and --rules go together (the cabinet, the payloads msu fetch wrote, and the rules that select them)');
      if (opts.offlineScan && (opts.include?.length || opts.exclude?.length)) {
        throw new UsageError('with --offline-scan the rules file selects the updates: use its allow/forbid lists instead of --include/--exclude');
      }
      let offline: import('../../vm/wua-offline.js').OfflineInputs | undefined;
      if (opts.offlineScan && opts.updates && opts.rules) {
        const [{ parseScanRules }, { readJsonFile }] = await Promise.all([scancabLib(), jsonLib()]);
        offline = { scancab: opts.offlineScan, updatesDir: opts.updates, rules: parseScanRules(await readJsonFile(opts.rules, 'E_RULES', 'rules file'), opts.rules) };
      }
      const { prepareWuaRun, finishWuaRun } = await vmWua();
      const { formatRunReport } = await vmReport();
      const prepared = await prepareWuaRun(image, {
        runDir,
        dryRun: opts.dryRun === true,
        ...(opts.criteria !== undefined ? { criteria: opts.criteria } : {}),
        include: (opts.include ?? []).map(parseFilterArg),
        exclude: (opts.exclude ?? []).map(parseFilterArg),
        maxRounds: positiveInt(opts.maxRounds, '--max-rounds'),
        ...(opts.arch !== undefined ? { arch: wuaArch(opts.arch) } : {}),
        ...(offline ? { offline } : {}),
      });
      if (opts.dryRun) return printDryRun(ctx, prepared, runDir, opts.json === true);
      const { result, interrupted } = await execute(ctx, prepared, opts.json === true, opts);
      if (result.ok && !interrupted) ctx.progress('compacting the updated image');
      const done = await finishWuaRun(prepared.runDir, result, { ...(opts.output ? { output: opts.output } : {}), compress: opts.compress === true });
      const { report } = done;
      // shown relative to the working directory: no machine paths in the JSON
      const output = done.output ? shownPath(done.output) : undefined;
      if (opts.json) ctx.printJson({ ...summary(prepared, runDir), result, report, ...(output ? { output } : {}) });
      else {
        ctx.print(formatRunReport(report));
        if (output) ctx.print(`updated image: ${output}`);
      }
      if (interrupted) ctx.exitCode = EXIT.interrupted;
      else if (!result.ok) ctx.exitCode = EXIT.runtime;
    });

  run
    .command('report')
    .description('show what a finished run did, per step or per update (report.json, or rebuilt from events.jsonl and result.json)')
    .argument('<run-dir>', 'the run directory')
    .option('--json', 'print the report JSON')
    .action(async (runDir: string, opts: { json?: boolean }) => {
      const { formatRunReport, loadRunDirReport } = await vmReport();
      const report: RunReport = await loadRunDirReport(runDir);
      if (opts.json) ctx.printJson(report);
      else ctx.print(formatRunReport(report));
      if (!report.ok) ctx.exitCode = EXIT.runtime;
    });
}
