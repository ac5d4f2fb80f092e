/**
 * Path A guest: a WinPE worker (boot.wim index 2 of the target ISO) that runs DISM from
 * generated batch files. WinPE from the ISO has no PowerShell, hence cmd.exe.
 *
 * WinRE (plan image `winre.wim`) is not a file of the ISO: each install.wim image carries its
 * own `Windows\System32\Recovery\Winre.wim`. Following Microsoft's Dynamic Update media flow,
 * the worker services it inside every install.wim image of the plan, after mounting that
 * image and before its own steps: copy it out, mount, winre steps, report, commit, export
 * (shrinks it), copy it back.
 *
 * Files produced (all destined for `X:\Windows\System32` inside boot.wim):
 *   startnet.cmd   wpeinit, COM1 setup, volume probe by label, runs worker.cmd, `wpeutil shutdown`
 *   worker.cmd     every DISM step through the `:run` subroutine
 *   heartbeat.cmd  background loop: a heartbeat line on COM1 every minute
 *   msu-diskpart.txt  SAN policy so the data disks come online
 *   winpeshl.ini   makes WinPE's shell start cmd /k startnet.cmd instead of X:\setup.exe
 *
 * Each file is built by its own function (startnetScript, workerScript, heartbeatScript,
 * diskpartScript, winpeshlIni); the worker's steps come from WorkerSteps.
 *
 * Nothing from the plan reaches a command line unchecked: step ids, labels and ISO paths
 * are generated here from a restricted alphabet (cmdWord), and everything else is
 * echoed only inside ASCII-only JSON through cmdEscape.
 */
import { FormatError, UnsupportedError } from '../../errors.js';
import type { Plan, PlanAction, PlanImage, PlanInput, PlanStep } from '../../plan/plan-types.js';
import { cmdEchoLine, cmdEscape, cmdVar, cmdWord } from './cmd-escape.js';
import { PROTOCOL_PREFIX } from '../protocol.js';

/** Volume labels the worker looks for (FAT/ISO labels: at most 11 characters, upper case). */
export interface DismVolumeLabels {
  inputs: string;
  scratch: string;
  output: string;
  status: string;
}

export const DEFAULT_LABELS: Readonly<DismVolumeLabels> = Object.freeze({
  inputs: 'MSUINPUT',
  scratch: 'MSUSCRATCH',
  output: 'MSUOUT',
  status: 'MSUSTATUS',
});

export interface DismWorkerLayout {
  /** Run id (RunSpec.id); goes into every protocol line. */
  runId: string;
  labels?: DismVolumeLabels;
  /** Split size for /Split-Image, MB (FAT32 holds at most 4 GiB - 1 per file). */
  splitMiB?: number;
  /** Seconds between heartbeat lines. */
  heartbeatSec?: number;
}

/** DISM and cmd exit codes as %ERRORLEVEL% shows them (signed 32-bit decimal). */
export const EXIT_CODES = {
  /** ERROR_SUCCESS. */
  success: 0,
  /** ERROR_SUCCESS_REBOOT_REQUIRED (3010): the change is done; for an offline image the "reboot" is its next boot. */
  rebootRequired: 3010,
  /** CBS_E_NOT_APPLICABLE 0x800F081E: the package does not apply to this image. Allowed only where the plan says so. */
  notApplicable: -2146498530,
  /**
   * CBS_E_PENDING 0x800F0806: component cleanup or /ResetBase found actions still pending from
   * the offline servicing before it; the image finishes them on its first boot. Allowed on
   * cleanup-components and reset-base steps only, and reported as a warning.
   */
  pending: -2146498554,
  /**
   * ERROR_MOD_NOT_FOUND 0x8007007E: Microsoft's Dynamic Update sample catches and ignores it when
   * the SSU of a combined MSU is added to WinRE or WinPE. Allowed on that step only, as a warning.
   */
  modNotFound: -2147024770,
} as const;

/** Allowed exit codes that still mean "look at this": report.json lists the steps that returned them. */
export const WARNING_CODES: ReadonlyMap<number, string> = new Map([
  [EXIT_CODES.pending, '0x800F0806 CBS_E_PENDING: pending actions remain; the image completes them on its first boot'],
  [EXIT_CODES.modNotFound, '0x8007007E: the servicing stack of a combined MSU reported a missing module (documented as ignorable for WinRE and WinPE)'],
]);

export interface DismStepFile {
  inputId: string;
  /** The input as the plan names it (host side, relative to the plan's working directory). */
  src: string;
  kind: PlanInput['kind'];
  /** Name on the inputs ISO, inside the step's folder. */
  isoName: string;
  /**
   * `target`: the cumulative update Add-Package names; `checkpoint`: an earlier checkpoint
   * update beside it in the same folder, which DISM finds and installs first.
   */
  role?: 'target' | 'checkpoint';
}

export interface DismStepLayout {
  /** `i<image>s<n>`, e.g. i1s2. */
  id: string;
  imageNo: number;
  image: string;
  n: number;
  action: PlanAction;
  /** Folder on the inputs ISO (`steps/i1s2`); empty for cleanup steps. */
  isoDir: string;
  files: DismStepFile[];
  /** Exit codes that count as success for this step. */
  allow: number[];
  items: string[];
}

export interface DismImageLayout {
  imageNo: number;
  image: string;
  /** `install.wim` or `boot.wim` (from the ISO's `sources` folder); `winre.wim` lives inside each install.wim image. */
  wim: 'install.wim' | 'boot.wim' | 'winre.wim';
  index: number;
  /** For winre.wim, step ids (`i3s1`) only name the payload folders; each copy runs them under its own ids. */
  steps: DismStepLayout[];
  /** winre.wim only: one copy per install.wim image of the plan, in plan order. */
  copies?: DismWinreCopy[];
}

/** The WinRE inside one install.wim image, serviced as a plan image of its own. */
export interface DismWinreCopy {
  /** The install.wim image that carries it (`install.wim#1`) and that image's imageNo. */
  host: string;
  hostNo: number;
  /** Name in reports and differences: `install.wim#1/winre.wim`. */
  name: string;
  /** Prefix of its step ids (`i1.winre.s2`, `i1.winre-mount`) and report files. */
  tag: string;
}

/** One image the worker lists after servicing: what the reports are called and which step ids ran in it. */
export interface DismServicedImage {
  /** Key of the report maps and `image` of a difference: the plan image, or `install.wim#1/winre.wim`. */
  name: string;
  /** The plan image whose steps it ran. */
  layout: DismImageLayout;
  /** Status-disk paths of its /Get-Packages and /Get-Drivers listings. */
  packages: string;
  drivers: string;
  /** Step ids as the worker ran them, parallel to layout.steps. */
  stepIds: string[];
}

export interface DismWorkerFile {
  /** Path inside boot.wim, Windows separators. */
  path: string;
  content: string;
}

/** Every result file the worker writes on the status disk, relative to its root. */
export const STATUS_FILES = {
  final: 'status.json',
  lines: 'status.jsonl',
  log: 'worker.log',
  /** Folder the failure path copies dism.log and WinPE's DISM and CBS logs into. */
  logs: 'logs',
  packages: (imageNo: number) => `reports/i${imageNo}.packages.txt`,
  drivers: (imageNo: number) => `reports/i${imageNo}.drivers.txt`,
  /** WinRE inside install image `hostNo` (each install image has its own copy). */
  winrePackages: (hostNo: number) => `reports/i${hostNo}.winre.packages.txt`,
  winreDrivers: (hostNo: number) => `reports/i${hostNo}.winre.drivers.txt`,
} as const;

/** Where WinRE sits inside an install.wim image (Microsoft media spell the file Winre.wim; NTFS ignores case). */
export const WINRE_IN_IMAGE = 'Windows\\System32\\Recovery\\Winre.wim';

const IMAGE_RE = /^(install|boot)\.wim#([1-9][0-9]{0,3})$/i;

function parseImage(image: string): { wim: DismImageLayout['wim']; index: number } {
  // the planner's fixed label; its one image is index 1 (docs/plan.md)
  if (/^winre\.wim$/i.test(image)) return { wim: 'winre.wim', index: 1 };
  const m = IMAGE_RE.exec(image);
  if (!m) {
    throw new UnsupportedError('E_DISM_IMAGE', `plan image ${JSON.stringify(image)}: the DISM worker services install.wim#N, boot.wim#N and winre.wim only`);
  }
  return { wim: m[1]!.toLowerCase() === 'boot' ? 'boot.wim' : 'install.wim', index: Number(m[2]) };
}

const winreTag = (hostNo: number): string => `i${hostNo}.winre`;
const winreStepId = (tag: string, n: number): string => `${tag}.s${n}`;

/** A name that survives ISO 9660/Joliet and cmd.exe untouched; otherwise a neutral one built from the input id. */
function isoFileName(input: PlanInput): string {
  const base = input.path.replace(/\\/g, '/').split('/').pop() ?? '';
  if (/^[A-Za-z0-9][A-Za-z0-9._+-]{0,100}$/.test(base) && !/\.\./.test(base)) return base;
  const ext = input.kind === 'driver-folder' ? '' : `.${input.kind}`;
  return `${input.id}${ext}`;
}

const classesOf = (input: PlanInput | undefined): string[] => (input?.packages ?? []).map((p) => p.class);

function allowFor(step: PlanStep, wim: DismImageLayout['wim'], inputs: Map<string, PlanInput>): number[] {
  const allow: number[] = [EXIT_CODES.success, EXIT_CODES.rebootRequired];
  const na = step.applicability?.result;
  if (step.action === 'add-package' && (na === 'not-applicable' || na === 'unknown')) allow.push(EXIT_CODES.notApplicable);
  if (step.action === 'cleanup-components' || step.action === 'reset-base') allow.push(EXIT_CODES.pending);
  if (step.action === 'add-package' && wim !== 'install.wim' && isSsuOfCombinedMsu(step, inputs)) allow.push(EXIT_CODES.modNotFound);
  return allow;
}

/** The SSU step whose input is a combined MSU (SSU and cumulative update in one file). */
function isSsuOfCombinedMsu(step: PlanStep, inputs: Map<string, PlanInput>): boolean {
  const ins = step.inputs.map((id) => inputs.get(id));
  const ssuItems = new Set(ins.flatMap((i) => (i?.packages ?? []).filter((p) => p.class === 'ssu').map((p) => p.identity)));
  if (step.items.length === 0 || !step.items.every((it) => ssuItems.has(it))) return false;
  return ins.some((i) => i?.kind === 'msu' && classesOf(i).includes('ssu') && classesOf(i).some((c) => c !== 'ssu'));
}

/**
 * Checkpoint cumulative updates: a step that names checkpoint LCUs and the LCU that needs them
 * defines a chain. Microsoft's guidance is to call Add-Package with the target LCU only, with
 * every earlier checkpoint MSU in the same folder; DISM discovers and installs those first.
 * Returns target input id -> checkpoint input ids, in plan order.
 */
function checkpointChains(plan: Plan, inputs: Map<string, PlanInput>): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  for (const img of plan.images) {
    for (const st of img.steps) {
      if (st.action !== 'add-package') continue;
      const cps = st.inputs.filter((id) => classesOf(inputs.get(id)).includes('checkpoint-lcu'));
      if (cps.length === 0) continue;
      const rest = st.inputs.filter((id) => !cps.includes(id));
      const lcus = rest.filter((id) => classesOf(inputs.get(id)).includes('lcu'));
      const target = lcus.length === 1 ? lcus[0]! : rest.length === 1 ? rest[0]! : undefined;
      if (target === undefined) {
        throw new FormatError('E_PLAN', `${img.image} step ${st.n}: checkpoint updates need exactly one target cumulative update in the same step, found ${rest.length}`);
      }
      const known = chains.get(target) ?? [];
      chains.set(target, [...known, ...cps.filter((c) => !known.includes(c))]);
    }
  }
  return chains;
}

/**
 * The plan as the worker sees it: images, step ids, and where each step's payload sits
 * on the inputs ISO. prepareDismRun copies files by this same layout.
 */
export function dismLayout(plan: Plan): DismImageLayout[] {
  const inputs = new Map(plan.inputs.map((i) => [i.id, i]));
  const chains = checkpointChains(plan, inputs);
  const seenImages = new Set<string>();
  const layout = plan.images.map((img: PlanImage, i): DismImageLayout => {
    const imageNo = i + 1;
    if (seenImages.has(img.image)) throw new FormatError('E_PLAN', `plan lists image ${JSON.stringify(img.image)} twice`);
    seenImages.add(img.image);
    const { wim, index } = parseImage(img.image);
    const ns = new Set<number>();
    const steps = [...img.steps].sort((a, b) => a.n - b.n).map((step): DismStepLayout => {
      if (!Number.isInteger(step.n) || step.n < 1 || step.n > 9999) throw new FormatError('E_PLAN', `${img.image}: step number ${step.n} is not 1..9999`);
      if (ns.has(step.n)) throw new FormatError('E_PLAN', `${img.image}: step ${step.n} appears twice`);
      ns.add(step.n);
      const id = `i${imageNo}s${step.n}`;
      const needsFiles = step.action === 'add-package' || step.action === 'add-driver';
      const files: DismStepFile[] = [];
      if (needsFiles) {
        if (step.inputs.length === 0) throw new FormatError('E_PLAN', `${img.image} step ${step.n} (${step.action}) names no inputs`);
        const names = new Set<string>();
        for (const inputId of step.inputs) {
          const input = inputs.get(inputId);
          if (!input) throw new FormatError('E_PLAN', `${img.image} step ${step.n} uses unknown input ${JSON.stringify(inputId)}`);
          const wantDriver = step.action === 'add-driver';
          if (wantDriver !== (input.kind === 'driver-folder')) {
            throw new FormatError('E_PLAN', `${img.image} step ${step.n} (${step.action}) cannot use ${input.kind} input ${inputId}`);
          }
          let isoName = isoFileName(input);
          if (names.has(isoName.toLowerCase())) isoName = `${input.id}-${isoName}`;
          names.add(isoName.toLowerCase());
          files.push({ inputId, src: input.path, kind: input.kind, isoName });
        }
        // a target LCU with checkpoints: it is named alone, its checkpoints sit beside it (also in an SSU step)
        const targets = files.filter((f) => chains.has(f.inputId));
        if (targets.length > 1) throw new FormatError('E_PLAN', `${img.image} step ${step.n} names ${targets.length} target cumulative updates; give each its own step`);
        if (targets.length === 1) {
          const t = targets[0]!;
          const cps = chains.get(t.inputId)!;
          for (const f of files) f.role = f === t ? 'target' : cps.includes(f.inputId) ? 'checkpoint' : undefined;
          if (files.some((f) => f.role === undefined)) throw new FormatError('E_PLAN', `${img.image} step ${step.n} mixes a checkpoint chain with other packages; give them their own step`);
          for (const cp of cps) {
            if (files.some((f) => f.inputId === cp)) continue;
            const input = inputs.get(cp)!;
            let isoName = isoFileName(input);
            if (names.has(isoName.toLowerCase())) isoName = `${input.id}-${isoName}`;
            names.add(isoName.toLowerCase());
            files.push({ inputId: cp, src: input.path, kind: input.kind, isoName, role: 'checkpoint' });
          }
        }
      }
      return {
        id,
        imageNo,
        image: img.image,
        n: step.n,
        action: step.action,
        isoDir: needsFiles ? `steps/${id}` : '',
        files,
        allow: allowFor(step, wim, inputs),
        items: [...step.items],
      };
    });
    return { imageNo, image: img.image, wim, index, steps };
  });
  const winre = layout.find((im) => im.wim === 'winre.wim');
  if (winre) {
    const hosts = layout.filter((im) => im.wim === 'install.wim');
    if (hosts.length === 0) {
      throw new UnsupportedError(
        'E_DISM_IMAGE',
        `plan image ${JSON.stringify(winre.image)}: WinRE is serviced inside install.wim (${WINRE_IN_IMAGE}), and the plan services no install.wim image; plan install.wim as well`,
      );
    }
    winre.copies = hosts.map((h) => ({ host: h.image, hostNo: h.imageNo, name: `${h.image}/winre.wim`, tag: winreTag(h.imageNo) }));
  }
  return layout;
}

/**
 * Every image the worker services and lists, in plan order; the WinRE image expands into
 * its copies (one per install.wim image). Report names and step ids come from here, for
 * the worker and for the host's check alike.
 */
export function servicedImages(images: DismImageLayout[]): DismServicedImage[] {
  return images.flatMap((im): DismServicedImage[] =>
    im.wim === 'winre.wim'
      ? (im.copies ?? []).map((c) => ({
          name: c.name,
          layout: im,
          packages: STATUS_FILES.winrePackages(c.hostNo),
          drivers: STATUS_FILES.winreDrivers(c.hostNo),
          stepIds: im.steps.map((st) => winreStepId(c.tag, st.n)),
        }))
      : [{ name: im.image, layout: im, packages: STATUS_FILES.packages(im.imageNo), drivers: STATUS_FILES.drivers(im.imageNo), stepIds: im.steps.map((st) => st.id) }],
  );
}

/** JSON with every non-ASCII character as \uXXXX: batch files are read in the OEM code page. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const V = {
  inputs: 'MSU_I',
  scratch: 'MSU_W',
  output: 'MSU_O',
  status: 'MSU_S',
  source: 'MSU_SRC',
  rc: 'MSU_RC',
  ok: 'MSU_OK',
  step: 'MSU_STEP',
} as const;

const v = (name: string): string => cmdVar(name);
const p = (...parts: string[]): string => parts.join('\\');

/** A path argument as cmd.exe should receive it, quoted (escaping happens when the line is rendered). */
function q(path: string): string {
  if (/["\r\n\u0000]/.test(path)) throw new FormatError('E_CMD_UNSAFE', `path ${JSON.stringify(path)} cannot be quoted for cmd.exe`);
  return `"${path.replace(/\\+$/, '')}"`;
}

/**
 * Placeholders for values only known at run time (batch variables) inside JSON lines.
 * Only used in lines whose other content is generator-owned (no plan data), so data can
 * never smuggle a placeholder in.
 */
const dynStr = (name: string): string => `__MSUSTR_${name}__`;
const dynNum = (name: string): string => `__MSUNUM_${name}__`;

function fillDyn(line: string): string {
  return line.replace(/"__MSUNUM_(\w+)__"/g, '%$1%').replace(/__MSUSTR_(\w+)__/g, '%$1%');
}

/** Protocol line to COM1 (errors ignored: COM1 may be absent; the status disk is the authority). */
function emitLine(event: Record<string, unknown>, dynamic = false): string {
  const line = cmdEchoLine(PROTOCOL_PREFIX + asciiJson(event), '>COM1').replace(/^>COM1 /, '2>nul >COM1 ');
  return dynamic ? fillDyn(line) : line;
}

function statusLine(file: string, event: Record<string, unknown>, dynamic = false, append = true): string {
  const line = cmdEchoLine(asciiJson(event), `${append ? '>>' : '>'}"%${V.status}%\\${file}"`);
  return dynamic ? fillDyn(line) : line;
}

const LABELS_RE = /^[A-Z0-9_]{1,11}$/;

function checkLayout(layout: DismWorkerLayout): Required<DismWorkerLayout> {
  const labels = layout.labels ?? DEFAULT_LABELS;
  for (const [k, l] of Object.entries(labels)) {
    if (!LABELS_RE.test(l)) throw new FormatError('E_DISM_LAYOUT', `volume label for ${k} ${JSON.stringify(l)} must be 1-11 of A-Z 0-9 _`);
  }
  const all = Object.values(labels);
  for (const a of all) {
    // the probe matches with `find`, so no label may contain another
    if (all.some((b) => b !== a && b.includes(a))) throw new FormatError('E_DISM_LAYOUT', `volume label ${a} is part of another label`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(layout.runId)) throw new FormatError('E_DISM_LAYOUT', `run id ${JSON.stringify(layout.runId)} is not a plain id`);
  const splitMiB = layout.splitMiB ?? 4000;
  if (!Number.isInteger(splitMiB) || splitMiB < 100 || splitMiB > 4095) throw new FormatError('E_DISM_LAYOUT', `split size ${splitMiB} MB is not 100..4095`);
  const heartbeatSec = layout.heartbeatSec ?? 60;
  if (!Number.isInteger(heartbeatSec) || heartbeatSec < 5 || heartbeatSec > 3600) throw new FormatError('E_DISM_LAYOUT', `heartbeat interval ${heartbeatSec} s is not 5..3600`);
  return { runId: layout.runId, labels, splitMiB, heartbeatSec };
}

/** A command as cmd.exe should see it after parsing, plus an optional stdout file. */
interface Command {
  raw: string;
  stdoutTo?: string;
}

/** One command block: each command is echoed into the log (escaped) and then run; the block's exit code is the last command's. */
function block(label: string, commands: Command[]): string[] {
  const out = [`:${cmdWord(label, 'label')}`];
  for (const c of commands) {
    const to = c.stdoutTo === undefined ? undefined : q(c.stdoutTo);
    out.push(`echo(${cmdEscape('> ' + c.raw + (to === undefined ? '' : ` >${to}`))}`);
    out.push(cmdEscape(c.raw) + (to === undefined ? '' : ` >${cmdEscape(to)}`));
  }
  out.push('goto :eof', '');
  return out;
}

/** cmd.exe reads at most 8191 characters per line (after expansion); longer lines are cut. */
export const CMD_LINE_MAX = 8191;

/** Where a file sits inside boot.wim index 2. */
const SYS32 = 'Windows\\System32';

/**
 * Every generated .cmd line must fit cmd.exe's line limit: refuse at generation time rather
 * than let cmd cut a line in the middle of a JSON status record.
 */
function checkCmdLines(name: string, lines: string[]): void {
  lines.forEach((l, i) => {
    if (l.length > CMD_LINE_MAX) throw new FormatError('E_CMD_LINE', `${name} line ${i + 1} is ${l.length} characters; cmd.exe reads at most ${CMD_LINE_MAX}`);
  });
}

/** What the four scripts share. */
interface WorkerContext {
  layout: Required<DismWorkerLayout>;
  images: DismImageLayout[];
  run: string;
  /** The WinRE plan image, serviced inside every install.wim image. */
  winre: DismImageLayout | undefined;
  /** Plan images that are images of a WIM on the ISO (install.wim, boot.wim). */
  wims: DismImageLayout[];
}

export function generateDismWorker(plan: Plan, layoutIn: DismWorkerLayout): { files: DismWorkerFile[]; images: DismImageLayout[] } {
  const layout = checkLayout(layoutIn);
  const images = dismLayout(plan);
  if (images.length === 0) throw new FormatError('E_PLAN', 'the plan has no images to service');
  // WinRE is not a file of the ISO: it is serviced inside each install.wim image (dismLayout checked there is one)
  const ctx: WorkerContext = {
    layout,
    images,
    run: layout.runId,
    winre: images.find((im) => im.wim === 'winre.wim'),
    wims: images.filter((im) => im.wim !== 'winre.wim'),
  };
  const crlf = (lines: string[]): string => lines.join('\r\n');
  const scripts: Array<[string, string[], string]> = [
    ['startnet.cmd', startnetScript(ctx), ''],
    ['worker.cmd', workerScript(ctx), '\r\n'],
    ['heartbeat.cmd', heartbeatScript(ctx), ''],
  ];
  for (const [name, lines] of scripts) checkCmdLines(name, lines);
  return {
    images,
    files: [
      ...scripts.map(([name, lines, end]) => ({ path: `${SYS32}\\${name}`, content: crlf(lines) + end })),
      { path: `${SYS32}\\msu-diskpart.txt`, content: crlf(diskpartScript()) },
      { path: `${SYS32}\\winpeshl.ini`, content: crlf(winpeshlIni()) },
    ],
  };
}

/**
 * winpeshl.ini: WinPE's shell runs the apps it lists instead of X:\setup.exe, which boot.wim
 * index 2 (the Setup image) carries and would otherwise start. cmd /k keeps a console open, so
 * WinPE does not restart when startnet.cmd returns; startnet.cmd ends with `wpeutil shutdown`.
 */
export function winpeshlIni(): string[] {
  return ['[LaunchApps]', '%SYSTEMROOT%\\System32\\cmd.exe, /k %SYSTEMROOT%\\System32\\startnet.cmd', ''];
}

/** diskpart script: SAN policy so the data disks come online. */
export function diskpartScript(): string[] {
  return ['san policy=OnlineAll', 'rescan', ''];
}

/** heartbeat.cmd: a heartbeat line on COM1 every interval while worker.cmd runs. */
export function heartbeatScript(ctx: WorkerContext): string[] {
  return [
    '@echo off',
    'rem Generated by msu-toolkit: a heartbeat line on COM1 every interval while worker.cmd runs.',
    'setlocal EnableExtensions DisableDelayedExpansion',
    ':loop',
    // ping needs no console input (timeout.exe refuses redirected stdin); timeout is the fallback
    `ping -n ${ctx.layout.heartbeatSec + 1} 127.0.0.1 >nul 2>&1 || timeout /t ${ctx.layout.heartbeatSec} /nobreak >nul 2>&1`,
    'if exist "X:\\msu-stop" exit /b 0',
    'set "MSU_CUR="',
    'if exist "X:\\msu-current" set /p MSU_CUR=<"X:\\msu-current"',
    emitLine({ type: 'heartbeat', data: { run: ctx.run, step: dynStr('MSU_CUR') } }, true),
    'goto :loop',
    '',
  ];
}

/** startnet.cmd: wpeinit, COM1, volumes by label, scratch formatted NTFS, worker.cmd, shutdown. */
export function startnetScript(ctx: WorkerContext): string[] {
  const { labels } = ctx.layout;
  const run = ctx.run;
  const probe = (label: string, name: string): string =>
    `  vol %%d: 2>nul | find /i "${label}" >nul && if not defined ${name} set "${name}=%%d:"`;
  const failStatus = (step: string): string =>
    `if defined ${V.status} ${statusLine(STATUS_FILES.final, { run, ok: false, state: 'failed', step, error: `startup failed at ${step}` }, false, false)}`;
  return [
    '@echo off',
    'rem Generated by msu-toolkit (DISM worker, WinPE). Runs once and never reboots: a reset is a failure.',
    'setlocal EnableExtensions DisableDelayedExpansion',
    'wpeinit',
    'mode COM1 BAUD=115200 PARITY=n DATA=8 STOP=1 >nul 2>&1',
    emitLine({ type: 'boot', n: 1 }),
    'rem Data disks must be online (SAN policy); then find each volume by its label.',
    'diskpart /s "%SystemRoot%\\System32\\msu-diskpart.txt" >nul 2>&1',
    ...[V.inputs, V.scratch, V.output, V.status, V.source].map((n) => `set "${n}="`),
    'for %%d in (C D E F G H I J K L M N O P Q R S T U V W Y Z) do (',
    probe(labels.inputs, V.inputs),
    probe(labels.scratch, V.scratch),
    probe(labels.output, V.output),
    probe(labels.status, V.status),
    `  if exist "%%d:\\sources\\install.wim" if not defined ${V.source} set "${V.source}=%%d:"`,
    ')',
    ...[V.status, V.inputs, V.scratch, V.output, V.source].map((n) => `if not defined ${n} goto :no_volumes`),
    'rem The host hands the scratch disk over as FAT; DISM mounts need NTFS: reformat it, by the letter found above.',
    `>"X:\\msu-format.txt" echo(select volume %${V.scratch}:~0,1%`,
    `>>"X:\\msu-format.txt" echo(format fs=ntfs label=${labels.scratch} quick`,
    'diskpart /s "X:\\msu-format.txt" >nul 2>&1',
    'if errorlevel 1 goto :no_scratch',
    'start "heartbeat" /b cmd /d /c "%SystemRoot%\\System32\\heartbeat.cmd"',
    'call "%SystemRoot%\\System32\\worker.cmd"',
    'goto :shutdown',
    '',
    ':no_volumes',
    emitLine({ type: 'error', code: 'volumes-missing', message: `a volume was not found (labels ${labels.inputs} ${labels.scratch} ${labels.output} ${labels.status}, and a drive with sources\\install.wim)` }),
    failStatus('volumes'),
    emitLine({ type: 'done', ok: false }),
    'goto :shutdown',
    '',
    ':no_scratch',
    emitLine({ type: 'error', code: 'scratch-format-failed', message: `diskpart could not format the ${labels.scratch} volume as NTFS` }),
    failStatus('format-scratch'),
    emitLine({ type: 'done', ok: false }),
    '',
    ':shutdown',
    '>"X:\\msu-stop" echo(1',
    'wpeutil shutdown',
    '',
  ];
}

/** Paths and the DISM command line every worker step shares. */
const W = v(V.scratch);
const MNT = q(p(W, 'mnt'));
const MNT_WINRE = q(p(W, 'mnt-winre'));
const SCRATCH_DIR = q(p(W, 'scratch'));
const LOG_DIR = p(W, 'logs');
/** dism.log goes to the scratch volume: WinPE's RAM disk is small and lost at shutdown. */
const DISM_LOG = q(p(LOG_DIR, 'dism.log'));
const work = (wim: string): string => q(p(W, 'work', wim));
const dism = (args: string): string => `dism /English ${args} /LogPath:${DISM_LOG}`;
/** Where the worker leaves setup.exe / setuphost.exe of the serviced boot.wim index 2 (Setup needs them on the media). */
export const MEDIA_DIR = 'media';
export const SETUP_FILES = ['sources\\setup.exe', 'sources\\setuphost.exe'] as const;

/**
 * The main section of worker.cmd: every step in order, each through `:run`, and the command
 * blocks those steps call.
 */
class WorkerSteps {
  readonly main: string[] = [];
  readonly blocks: string[] = [];
  private ordinal = 0;
  private readonly total: number;
  private readonly targets: DismServicedImage[];

  constructor(private readonly ctx: WorkerContext) {
    const finals = new Set(ctx.wims.map((im) => im.wim)).size;
    // per WinRE copy: copy out, mount, steps, packages, drivers, commit, export, copy back
    const winrePass = ctx.winre ? ctx.winre.steps.length + 7 : 0;
    const media = ctx.wims.some(isSetupImage) ? 1 : 0;
    this.total = 1 + finals * 3 + media + ctx.wims.reduce((n, im) => n + im.steps.length + 4 + (im.wim === 'install.wim' ? winrePass : 0), 0);
    this.targets = servicedImages(ctx.images);
  }

  runStep(id: string, name: string, label: string, allow: number[], onFail: string, commands: Command[]): void {
    this.ordinal++;
    const pct = Math.min(99, Math.floor(((this.ordinal - 1) * 100) / this.total));
    this.main.push(emitLine({ type: 'step', id, name, state: 'running' }));
    this.main.push(emitLine({ type: 'progress', pct, text: `${this.ordinal}/${this.total} ${id}` }));
    this.main.push(`call :run ${cmdWord(id, 'step id')} ${cmdWord(label, 'label')} ${allow.map(String).join(' ')} || goto :${onFail}`);
    this.blocks.push(...block(label, commands));
  }

  /** Only one of two alternative steps runs: count it once. */
  uncount(): void {
    this.ordinal--;
  }

  /** The DISM command of one plan step against the image mounted at `mount`. */
  stepCommand(im: DismImageLayout, st: DismStepLayout, mount: string): string {
    const onInputs = (dir: string, ...rest: string[]): string => p(v(V.inputs), ...dir.split('/'), ...rest);
    switch (st.action) {
      case 'add-package': {
        // The target of a checkpoint chain by name (its checkpoints are beside it); one file: that file; several: their folder.
        const target = st.files.find((f) => f.role === 'target') ?? (st.files.length === 1 ? st.files[0] : undefined);
        const pkg = target ? onInputs(st.isoDir, target.isoName) : onInputs(st.isoDir);
        return dism(`/Image:${mount} /Add-Package /PackagePath:${q(pkg)} /ScratchDir:${SCRATCH_DIR}`);
      }
      case 'add-driver':
        return dism(`/Image:${mount} /Add-Driver /Driver:${q(onInputs(st.isoDir))} /Recurse /ScratchDir:${SCRATCH_DIR}`);
      case 'cleanup-components':
        return dism(`/Image:${mount} /Cleanup-Image /StartComponentCleanup /ScratchDir:${SCRATCH_DIR}`);
      case 'reset-base':
        return dism(`/Image:${mount} /Cleanup-Image /StartComponentCleanup /ResetBase /ScratchDir:${SCRATCH_DIR}`);
      default:
        throw new UnsupportedError('E_DISM_ACTION', `${im.image} step ${st.n}: action ${JSON.stringify(st.action)} is not supported by the DISM worker`);
    }
  }

  /** `plan-step` status lines: what a step is for. Long item lists are split over several lines, each within cmd's limit. */
  planStepLines(id: string, image: string, st: DismStepLayout): string[] {
    const line = (items: string[], part?: number): string =>
      statusLine(STATUS_FILES.lines, { type: 'plan-step', id, image, n: st.n, action: st.action, items, allow: st.allow, ...(part === undefined ? {} : { part }) });
    if (line(st.items).length <= CMD_LINE_MAX) return [line(st.items)];
    const out: string[] = [];
    let chunk: string[] = [];
    for (const item of st.items) {
      if (line([item], 99999).length > CMD_LINE_MAX) {
        throw new FormatError('E_CMD_LINE', `${image} step ${st.n}: item ${JSON.stringify(item.slice(0, 60))}... is too long for a cmd.exe line (${CMD_LINE_MAX} characters)`);
      }
      if (chunk.length > 0 && line([...chunk, item], 99999).length > CMD_LINE_MAX) {
        out.push(line(chunk, out.length + 1));
        chunk = [];
      }
      chunk.push(item);
    }
    out.push(line(chunk, out.length + 1));
    return out;
  }

  /** The plan steps of one serviced image mounted at `mount`, under that image's step ids. */
  serviceMounted(target: DismServicedImage, mount: string, label: (id: string) => string, onFail: string): void {
    const im = target.layout;
    im.steps.forEach((st, k) => {
      const id = target.stepIds[k]!;
      // what the step is for, so the status file reads on its own (plan data: escaped, never placeholder-filled)
      this.main.push(...this.planStepLines(id, target.name, st));
      this.runStep(id, `${st.action} (${target.name} step ${st.n})`, label(id), st.allow, onFail, [{ raw: this.stepCommand(im, st, mount) }]);
    });
  }

  listings(target: DismServicedImage, tag: string, lt: string, mount: string, onFail: string): void {
    this.runStep(`${tag}-packages`, `List packages of ${target.name}`, `c_${lt}_packages`, [0], onFail, [
      { raw: dism(`/Image:${mount} /Get-Packages /Format:List`), stdoutTo: p(v(V.status), ...target.packages.split('/')) },
    ]);
    this.runStep(`${tag}-drivers`, `List drivers of ${target.name}`, `c_${lt}_drivers`, [0], onFail, [
      { raw: dism(`/Image:${mount} /Get-Drivers /Format:List`), stdoutTo: p(v(V.status), ...target.drivers.split('/')) },
    ]);
  }

  prepare(): void {
    this.main.push('rem ---- prepare the scratch volume and the report folder ----');
    this.runStep('prepare', 'Prepare the scratch volume', 'c_prepare', [0], 'failed', [
      { raw: `if not exist ${MNT} mkdir ${MNT}` },
      ...(this.ctx.winre ? [{ raw: `if not exist ${MNT_WINRE} mkdir ${MNT_WINRE}` }] : []),
      { raw: `if not exist ${SCRATCH_DIR} mkdir ${SCRATCH_DIR}` },
      { raw: `if not exist ${q(p(W, 'work'))} mkdir ${q(p(W, 'work'))}` },
      { raw: `if not exist ${q(LOG_DIR)} mkdir ${q(LOG_DIR)}` },
      { raw: dism('/Cleanup-Wim') },
    ]);
  }

  /** WinRE inside the mounted install image: copy out, mount, steps, listings, commit, export, copy back. */
  winrePass(im: DismImageLayout, copy: DismWinreCopy): void {
    const winre = this.ctx.winre!;
    const target = this.targets.find((t) => t.name === copy.name)!;
    const wt = copy.tag;
    const lt = wt.replace(/\./g, '_');
    const inImage = q(p(W, 'mnt', WINRE_IN_IMAGE));
    this.main.push(`rem ---- WinRE of ${cmdWord(copy.host)} (${WINRE_IN_IMAGE}), serviced before the image itself ----`);
    // Winre.wim is hidden+system in the image: clear that, or copy cannot read it nor later replace it.
    // The previous install image's copy goes first, so a missing Winre.wim fails the check instead of reusing it.
    this.runStep(`${wt}-extract`, `Copy WinRE out of ${im.image}`, `c_${lt}_extract`, [0], 'failed_mounted', [
      { raw: `if exist ${work('winre.wim')} del /f /q ${work('winre.wim')}` },
      { raw: `attrib -r -h -s ${inImage}` },
      { raw: `copy /b /y ${inImage} ${work('winre.wim')}` },
      { raw: dism(`/Get-WimInfo /WimFile:${work('winre.wim')}`) },
    ]);
    this.runStep(`${wt}-mount`, `Mount ${copy.name}`, `c_${lt}_mount`, [0], 'failed_winre', [
      { raw: dism(`/Mount-Image /ImageFile:${work('winre.wim')} /Index:${winre.index} /MountDir:${MNT_WINRE} /ScratchDir:${SCRATCH_DIR}`) },
    ]);
    this.serviceMounted(target, MNT_WINRE, (id) => `c_${id.replace(/[.-]/g, '_')}`, 'failed_winre');
    this.listings(target, wt, lt, MNT_WINRE, 'failed_winre');
    this.runStep(`${wt}-commit`, `Unmount ${copy.name} and commit`, `c_${lt}_commit`, [0], 'failed_winre', [
      { raw: dism(`/Unmount-Image /MountDir:${MNT_WINRE} /Commit /ScratchDir:${SCRATCH_DIR}`) },
    ]);
    // Export writes only the image's live resources, so the committed WinRE shrinks; it appends to an existing file, hence the del
    this.runStep(`${wt}-export`, `Export ${copy.name} (drops superseded resources)`, `c_${lt}_export`, [0], 'failed_mounted', [
      { raw: `if exist ${work('winre2.wim')} del /f /q ${work('winre2.wim')}` },
      { raw: dism(`/Export-Image /SourceImageFile:${work('winre.wim')} /SourceIndex:${winre.index} /DestinationImageFile:${work('winre2.wim')}`) },
    ]);
    // delete first: if the copy fails, the check below finds no file instead of the old WinRE
    this.runStep(`${wt}-replace`, `Copy the serviced WinRE back into ${im.image}`, `c_${lt}_replace`, [0], 'failed_mounted', [
      { raw: `del /f /q ${inImage}` },
      { raw: `copy /b /y ${work('winre2.wim')} ${inImage}` },
      { raw: `attrib +h +s ${inImage}` },
      { raw: dism(`/Get-WimInfo /WimFile:${inImage}`) },
    ]);
    this.main.push(`rem ---- ${cmdWord(im.image)} itself ----`);
  }

  /** Setup's own setup.exe / setuphost.exe from the serviced Setup image go to the media (Setup fails on a mismatch). */
  setupFiles(): void {
    const dest = p(v(V.output), MEDIA_DIR, 'sources');
    this.runStep('media-setup', 'Copy setup.exe and setuphost.exe of the serviced boot.wim index 2 for the media', 'c_media_setup', [0], 'failed_mounted', [
      { raw: `if not exist ${q(dest)} mkdir ${q(dest)}` },
      { raw: `copy /b /y ${q(p(W, 'mnt', SETUP_FILES[0]))} ${q(p(dest, 'setup.exe'))}` },
      { raw: `if exist ${q(p(W, 'mnt', SETUP_FILES[1]))} copy /b /y ${q(p(W, 'mnt', SETUP_FILES[1]))} ${q(p(dest, 'setuphost.exe'))}` },
    ]);
  }

  /** A WIM whose images are all serviced: export every image into a fresh file, then copy (or split) it to the output volume. */
  exportAndCopyOut(im: DismImageLayout): void {
    const base = im.wim.replace('.wim', '');
    const fresh = `${base}-export.wim`;
    // boot.wim's WinPE image (index 2 on Microsoft media) stays the one boot manager starts
    const bootIndex = im.wim === 'boot.wim' ? 2 : 0;
    this.main.push(`rem ${im.wim} is complete: export every image into a fresh WIM (drops superseded resources).`);
    this.runStep(`export-${base}`, `Export every image of ${im.wim} into a fresh WIM`, `c_export_${base}`, [0], 'failed', [
      { raw: `call :export_wim ${work(im.wim)} ${work(fresh)} ${bootIndex}` },
    ]);
    this.main.push('rem FAT32 holds at most 4 GiB - 1 per file: split anything larger.');
    this.main.push('set "MSU_SIZE=0"');
    this.main.push(`for %%A in (${cmdEscape(work(fresh))}) do set "MSU_SIZE=%%~zA"`);
    // cmd arithmetic is 32-bit: compare zero-padded decimal strings instead
    this.main.push('set "MSU_PAD=000000000000000%MSU_SIZE%"');
    this.main.push('set "MSU_PAD=%MSU_PAD:~-15%"');
    this.main.push(`if "%MSU_PAD%" GTR "000004294967295" goto :split_${base}`);
    this.runStep(`out-${base}`, `Copy ${im.wim} to the output volume`, `c_out_${base}`, [0], 'failed', [
      { raw: `copy /b /y ${work(fresh)} ${q(p(v(V.output), im.wim))}` },
    ]);
    this.main.push(`goto :after_${base}`, `:split_${base}`);
    this.uncount(); // only one of copy / split runs
    this.runStep(`split-${base}`, `Split ${im.wim} into ${this.ctx.layout.splitMiB} MB parts`, `c_split_${base}`, [0], 'failed', [
      { raw: dism(`/Split-Image /ImageFile:${work(fresh)} /SWMFile:${q(p(v(V.output), `${base}.swm`))} /FileSize:${this.ctx.layout.splitMiB}`) },
    ]);
    this.main.push(`:after_${base}`);
  }

  /** Every image of the plan, in order. */
  all(): void {
    const { wims, winre } = this.ctx;
    this.prepare();
    const lastUse = new Map<string, number>();
    wims.forEach((im, i) => lastUse.set(im.wim, i));
    const copied = new Set<string>();
    wims.forEach((im, i) => {
      const tag = `i${im.imageNo}`;
      const base = im.wim.replace('.wim', '');
      this.main.push('', `rem ---- image ${im.imageNo}: ${cmdWord(im.wim)} index ${im.index} ----`);
      if (!copied.has(im.wim)) {
        copied.add(im.wim);
        // the ISO is read-only: service a copy on the scratch volume
        this.runStep(`copy-${base}`, `Copy ${im.wim} to the scratch volume`, `c_copy_${base}`, [0], 'failed', [
          { raw: `copy /b /y ${q(p(v(V.source), 'sources', im.wim))} ${work(im.wim)}` },
          { raw: `attrib -r ${work(im.wim)}` },
          { raw: dism(`/Get-WimInfo /WimFile:${work(im.wim)}`) },
        ]);
      }
      this.runStep(`${tag}-mount`, `Mount ${im.image}`, `c_${tag}_mount`, [0], 'failed_mounted', [
        { raw: dism(`/Mount-Image /ImageFile:${work(im.wim)} /Index:${im.index} /MountDir:${MNT} /ScratchDir:${SCRATCH_DIR}`) },
      ]);
      const copy = im.wim === 'install.wim' ? winre?.copies?.find((c) => c.hostNo === im.imageNo) : undefined;
      if (copy) this.winrePass(im, copy);
      const own = this.targets.find((t) => t.layout === im)!;
      this.serviceMounted(own, MNT, (id) => `c_${id}`, 'failed_mounted');
      if (isSetupImage(im)) this.setupFiles();
      this.listings(own, tag, tag, MNT, 'failed_mounted');
      this.runStep(`${tag}-commit`, `Unmount ${im.image} and commit`, `c_${tag}_commit`, [0], 'failed_mounted', [
        { raw: dism(`/Unmount-Image /MountDir:${MNT} /Commit /ScratchDir:${SCRATCH_DIR}`) },
      ]);
      if (lastUse.get(im.wim) === i) this.exportAndCopyOut(im);
    });
  }
}

/** boot.wim index 2 is the Setup image on Microsoft media: it carries Setup's own setup.exe. */
const isSetupImage = (im: DismImageLayout): boolean => im.wim === 'boot.wim' && im.index === 2;

/** worker.cmd: every DISM step through the `:run` subroutine; the failure paths keep the logs. */
export function workerScript(ctx: WorkerContext): string[] {
  const run = ctx.run;
  const steps = new WorkerSteps(ctx);
  steps.all();
  const S = `%${V.status}%`;
  const winre = ctx.winre !== undefined;
  const logTo = q(p(v(V.status), 'logs'));
  return [
    '@echo off',
    'rem Generated by msu-toolkit (DISM worker). Do not edit: regenerate from the plan.',
    'rem Expects MSU_I (inputs), MSU_W (scratch, NTFS), MSU_O (output), MSU_S (status), MSU_SRC (install ISO) from startnet.cmd.',
    'setlocal EnableExtensions DisableDelayedExpansion',
    `if not exist "${S}\\reports" mkdir "${S}\\reports"`,
    `set "MSU_LOG=${S}\\${STATUS_FILES.log}"`,
    `set "${V.rc}=0"`,
    'set "MSU_FAILED_STEP="',
    '',
    ...steps.main,
    '',
    'rem ---- success ----',
    statusLine(STATUS_FILES.final, { run, ok: true, state: 'done' }, false, false),
    emitLine({ type: 'result', data: { run, ok: true, state: 'done' } }),
    emitLine({ type: 'progress', pct: 100, text: 'done' }),
    emitLine({ type: 'done', ok: true }),
    'exit /b 0',
    '',
    ...(winre
      ? [
          ':failed_winre',
          'rem WinRE is mounted too (from its copy on the scratch volume): discard it first, then the install image.',
          `set "MSU_FAILED_RC=%${V.rc}%"`,
          'call :run discard-winre c_discard_winre 0',
          `set "${V.rc}=%MSU_FAILED_RC%"`,
        ]
      : []),
    ':failed_mounted',
    'rem A mounted image must not be left behind: discard its changes, then clean up stale mounts.',
    `set "MSU_FAILED_RC=%${V.rc}%"`,
    'call :run discard c_discard 0',
    'call :run cleanup-wim c_cleanupwim 0',
    `set "${V.rc}=%MSU_FAILED_RC%"`,
    ':failed',
    'rem Keep the evidence: dism.log from the scratch volume, DISM and CBS logs from the RAM disk, onto the status disk.',
    `set "MSU_FAILED_RC=%${V.rc}%"`,
    'call :run save-logs c_save_logs 0 1',
    `set "${V.rc}=%MSU_FAILED_RC%"`,
    statusLine(STATUS_FILES.final, { run, ok: false, state: 'failed', step: dynStr('MSU_FAILED_STEP'), exitCode: dynNum(V.rc), error: `step ${dynStr('MSU_FAILED_STEP')} failed` }, true, false),
    emitLine({ type: 'result', data: { run, ok: false, state: 'failed', step: dynStr('MSU_FAILED_STEP'), exitCode: dynNum(V.rc) } }, true),
    emitLine({ type: 'error', code: 'dism-step-failed', message: `step ${dynStr('MSU_FAILED_STEP')} failed; see ${STATUS_FILES.log} and ${STATUS_FILES.logs}/ on the status disk` }, true),
    emitLine({ type: 'done', ok: false }),
    'exit /b 1',
    '',
    'rem ---- :run <step id> <command label> <allowed exit codes...> ----',
    'rem Logs the command (each block echoes its commands), captures %ERRORLEVEL%, checks it against',
    'rem the allow-list, appends one JSON line to the status file and reports the step on COM1.',
    'rem Allowed codes: 0 success; 3010 reboot required (the offline image needs its next boot: success);',
    'rem -2146498530 = 0x800F081E CBS_E_NOT_APPLICABLE, only for package steps the plan marks not-applicable or unknown;',
    'rem -2146498554 = 0x800F0806 CBS_E_PENDING, only for cleanup and reset-base (pending offline actions; a warning);',
    'rem -2147024770 = 0x8007007E, only for the SSU of a combined MSU outside install.wim (a warning).',
    ':run',
    `set "${V.step}=%~1"`,
    'set "MSU_LABEL=%~2"',
    '>"X:\\msu-current" echo(%~1',
    '>>"%MSU_LOG%" echo(==== step %~1',
    'call :%MSU_LABEL% >>"%MSU_LOG%" 2>&1',
    `set "${V.rc}=%ERRORLEVEL%"`,
    `set "${V.ok}=false"`,
    'shift',
    'shift',
    ':run_allow',
    'if "%~1"=="" goto :run_report',
    `if "%${V.rc}%"=="%~1" set "${V.ok}=true"`,
    'shift',
    'goto :run_allow',
    ':run_report',
    statusLine(STATUS_FILES.lines, { type: 'step', id: dynStr(V.step), exitCode: dynNum(V.rc), ok: dynNum(V.ok) }, true),
    `if "%${V.ok}%"=="true" goto :run_ok`,
    `if not defined MSU_FAILED_STEP set "MSU_FAILED_STEP=%${V.step}%"`,
    emitLine({ type: 'step', id: dynStr(V.step), name: dynStr(V.step), state: 'failed', exitCode: dynNum(V.rc) }, true),
    'exit /b 1',
    ':run_ok',
    emitLine({ type: 'step', id: dynStr(V.step), name: dynStr(V.step), state: 'ok', exitCode: dynNum(V.rc) }, true),
    'exit /b 0',
    '',
    'rem ---- :export_wim <source WIM> <new WIM> <boot index or 0> ----',
    'rem Exports every image, in order, into a fresh file (export writes only the resources an image',
    'rem still uses); the image at the boot index is marked /Bootable. Fails when nothing was exported.',
    ':export_wim',
    'if exist "%~2" del /f /q "%~2"',
    'set "MSU_IX=1"',
    ':export_wim_next',
    `dism /English /Get-WimInfo /WimFile:"%~1" /Index:%MSU_IX% /LogPath:${cmdEscape(DISM_LOG)} >nul 2>&1 || goto :export_wim_end`,
    'set "MSU_BOOTABLE="',
    'if "%MSU_IX%"=="%~3" set "MSU_BOOTABLE=/Bootable"',
    'echo(^> dism /English /Export-Image /SourceImageFile:"%~1" /SourceIndex:%MSU_IX% /DestinationImageFile:"%~2" %MSU_BOOTABLE%',
    `dism /English /Export-Image /SourceImageFile:"%~1" /SourceIndex:%MSU_IX% /DestinationImageFile:"%~2" %MSU_BOOTABLE% /LogPath:${cmdEscape(DISM_LOG)} || exit /b 1`,
    'set /a MSU_IX+=1',
    'goto :export_wim_next',
    ':export_wim_end',
    'if "%MSU_IX%"=="1" exit /b 1',
    'exit /b 0',
    '',
    'rem ---- command blocks ----',
    ...steps.blocks,
    ...(winre ? block('c_discard_winre', [{ raw: dism(`/Unmount-Image /MountDir:${MNT_WINRE} /Discard`) }]) : []),
    ...block('c_discard', [{ raw: dism(`/Unmount-Image /MountDir:${MNT} /Discard`) }]),
    ...block('c_cleanupwim', [{ raw: dism('/Cleanup-Wim') }]),
    // copy is a built-in: it exists in every WinPE; a missing log folder only makes the last copy fail (allowed: 1)
    ...block('c_save_logs', [
      { raw: `if not exist ${logTo} mkdir ${logTo}` },
      { raw: `if not exist ${q(p(v(V.status), 'logs', 'DISM'))} mkdir ${q(p(v(V.status), 'logs', 'DISM'))}` },
      { raw: `if not exist ${q(p(v(V.status), 'logs', 'CBS'))} mkdir ${q(p(v(V.status), 'logs', 'CBS'))}` },
      { raw: `if exist ${DISM_LOG} copy /y ${DISM_LOG} ${q(p(v(V.status), 'logs', 'dism.log'))}` },
      { raw: `copy /y ${q('X:\\Windows\\Logs\\DISM\\*.log')} ${q(p(v(V.status), 'logs', 'DISM'))}` },
      { raw: `copy /y ${q('X:\\Windows\\Logs\\CBS\\*.log')} ${q(p(v(V.status), 'logs', 'CBS'))}` },
    ]),
  ];
}
