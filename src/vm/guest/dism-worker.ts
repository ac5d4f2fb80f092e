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
} as const;

export interface DismStepFile {
  inputId: string;
  /** The input as the plan names it (host side, relative to the plan's working directory). */
  src: string;
  kind: PlanInput['kind'];
  /** Name on the inputs ISO, inside the step's folder. */
  isoName: string;
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

function allowFor(step: PlanStep): number[] {
  const allow: number[] = [EXIT_CODES.success, EXIT_CODES.rebootRequired];
  const na = step.applicability?.result;
  if (step.action === 'add-package' && (na === 'not-applicable' || na === 'unknown')) allow.push(EXIT_CODES.notApplicable);
  return allow;
}

/**
 * The plan as the worker sees it: images, step ids, and where each step's payload sits
 * on the inputs ISO. prepareDismRun copies files by this same layout.
 */
export function dismLayout(plan: Plan): DismImageLayout[] {
  const inputs = new Map(plan.inputs.map((i) => [i.id, i]));
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
      }
      return {
        id,
        imageNo,
        image: img.image,
        n: step.n,
        action: step.action,
        isoDir: needsFiles ? `steps/${id}` : '',
        files,
        allow: allowFor(step),
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

export function generateDismWorker(plan: Plan, layoutIn: DismWorkerLayout): { files: DismWorkerFile[]; images: DismImageLayout[] } {
  const layout = checkLayout(layoutIn);
  const images = dismLayout(plan);
  if (images.length === 0) throw new FormatError('E_PLAN', 'the plan has no images to service');
  const run = layout.runId;
  // WinRE is not a file of the ISO: it is serviced inside each install.wim image (dismLayout checked there is one)
  const winre = images.find((im) => im.wim === 'winre.wim');
  const wims = images.filter((im) => im.wim !== 'winre.wim');
  const finals = new Set(wims.map((im) => im.wim)).size;
  // per WinRE copy: copy out, mount, steps, packages, drivers, commit, export, copy back
  const winrePass = winre ? winre.steps.length + 7 : 0;
  const total = 1 + finals * 2 + wims.reduce((n, im) => n + im.steps.length + 4 + (im.wim === 'install.wim' ? winrePass : 0), 0);

  const W = v(V.scratch);
  const mnt = q(p(W, 'mnt'));
  const mntWinre = q(p(W, 'mnt-winre'));
  const scratchDir = q(p(W, 'scratch'));
  const work = (wim: string): string => q(p(W, 'work', wim));
  const onInputs = (dir: string, ...rest: string[]): string => p(v(V.inputs), ...dir.split('/'), ...rest);

  const main: string[] = [];
  const blocks: string[] = [];
  let ordinal = 0;

  const runStep = (id: string, name: string, label: string, allow: number[], onFail: string, commands: Command[]): void => {
    ordinal++;
    const pct = Math.min(99, Math.floor(((ordinal - 1) * 100) / total));
    main.push(emitLine({ type: 'step', id, name, state: 'running' }));
    main.push(emitLine({ type: 'progress', pct, text: `${ordinal}/${total} ${id}` }));
    main.push(`call :run ${cmdWord(id, 'step id')} ${cmdWord(label, 'label')} ${allow.map(String).join(' ')} || goto :${onFail}`);
    blocks.push(...block(label, commands));
  };

  /** The DISM command of one plan step against the image mounted at `mount`. */
  const stepCommand = (im: DismImageLayout, st: DismStepLayout, mount: string): string => {
    switch (st.action) {
      case 'add-package': {
        // One file: that file. Several (checkpoint cumulative updates): their one folder, so DISM orders them itself.
        const target = st.files.length === 1 ? onInputs(st.isoDir, st.files[0]!.isoName) : onInputs(st.isoDir);
        return `dism /English /Image:${mount} /Add-Package /PackagePath:${q(target)} /ScratchDir:${scratchDir}`;
      }
      case 'add-driver':
        return `dism /English /Image:${mount} /Add-Driver /Driver:${q(onInputs(st.isoDir))} /Recurse /ScratchDir:${scratchDir}`;
      case 'cleanup-components':
        return `dism /English /Image:${mount} /Cleanup-Image /StartComponentCleanup /ScratchDir:${scratchDir}`;
      case 'reset-base':
        return `dism /English /Image:${mount} /Cleanup-Image /StartComponentCleanup /ResetBase /ScratchDir:${scratchDir}`;
      default:
        throw new UnsupportedError('E_DISM_ACTION', `${im.image} step ${st.n}: action ${JSON.stringify(st.action)} is not supported by the DISM worker`);
    }
  };

  /** The plan steps of one serviced image mounted at `mount`, under that image's step ids. */
  const serviceMounted = (target: DismServicedImage, mount: string, label: (id: string) => string, onFail: string): void => {
    const im = target.layout;
    im.steps.forEach((st, k) => {
      const id = target.stepIds[k]!;
      // what the step is for, so the status file reads on its own (plan data: escaped, never placeholder-filled)
      main.push(statusLine(STATUS_FILES.lines, { type: 'plan-step', id, image: target.name, n: st.n, action: st.action, items: st.items, allow: st.allow }));
      runStep(id, `${st.action} (${target.name} step ${st.n})`, label(id), st.allow, onFail, [{ raw: stepCommand(im, st, mount) }]);
    });
  };
  const listings = (target: DismServicedImage, tag: string, lt: string, mount: string, onFail: string): void => {
    runStep(`${tag}-packages`, `List packages of ${target.name}`, `c_${lt}_packages`, [0], onFail, [
      { raw: `dism /English /Image:${mount} /Get-Packages /Format:List`, stdoutTo: p(v(V.status), ...target.packages.split('/')) },
    ]);
    runStep(`${tag}-drivers`, `List drivers of ${target.name}`, `c_${lt}_drivers`, [0], onFail, [
      { raw: `dism /English /Image:${mount} /Get-Drivers /Format:List`, stdoutTo: p(v(V.status), ...target.drivers.split('/')) },
    ]);
  };
  const targets = servicedImages(images);

  main.push('rem ---- prepare the scratch volume and the report folder ----');
  runStep('prepare', 'Prepare the scratch volume', 'c_prepare', [0], 'failed', [
    { raw: `if not exist ${mnt} mkdir ${mnt}` },
    ...(winre ? [{ raw: `if not exist ${mntWinre} mkdir ${mntWinre}` }] : []),
    { raw: `if not exist ${scratchDir} mkdir ${scratchDir}` },
    { raw: `if not exist ${q(p(W, 'work'))} mkdir ${q(p(W, 'work'))}` },
    { raw: 'dism /English /Cleanup-Wim' },
  ]);

  const lastUse = new Map<string, number>();
  wims.forEach((im, i) => lastUse.set(im.wim, i));
  const copied = new Set<string>();

  wims.forEach((im, i) => {
    const tag = `i${im.imageNo}`;
    const base = im.wim.replace('.wim', '');
    main.push('', `rem ---- image ${im.imageNo}: ${cmdWord(im.wim)} index ${im.index} ----`);
    if (!copied.has(im.wim)) {
      copied.add(im.wim);
      // the ISO is read-only: service a copy on the scratch volume
      runStep(`copy-${base}`, `Copy ${im.wim} to the scratch volume`, `c_copy_${base}`, [0], 'failed', [
        { raw: `copy /b /y ${q(p(v(V.source), 'sources', im.wim))} ${work(im.wim)}` },
        { raw: `attrib -r ${work(im.wim)}` },
        { raw: `dism /English /Get-WimInfo /WimFile:${work(im.wim)}` },
      ]);
    }
    runStep(`${tag}-mount`, `Mount ${im.image}`, `c_${tag}_mount`, [0], 'failed_mounted', [
      { raw: `dism /English /Mount-Image /ImageFile:${work(im.wim)} /Index:${im.index} /MountDir:${mnt} /ScratchDir:${scratchDir}` },
    ]);
    const copy = im.wim === 'install.wim' ? winre?.copies?.find((c) => c.hostNo === im.imageNo) : undefined;
    if (winre && copy) {
      const target = targets.find((t) => t.name === copy.name)!;
      const wt = copy.tag;
      const lt = wt.replace(/\./g, '_');
      const inImage = q(p(W, 'mnt', WINRE_IN_IMAGE));
      main.push(`rem ---- WinRE of ${cmdWord(copy.host)} (${WINRE_IN_IMAGE}), serviced before the image itself ----`);
      // Winre.wim is hidden+system in the image: clear that, or copy cannot read it nor later replace it.
      // The previous install image's copy goes first, so a missing Winre.wim fails the check instead of reusing it.
      runStep(`${wt}-extract`, `Copy WinRE out of ${im.image}`, `c_${lt}_extract`, [0], 'failed_mounted', [
        { raw: `if exist ${work('winre.wim')} del /f /q ${work('winre.wim')}` },
        { raw: `attrib -r -h -s ${inImage}` },
        { raw: `copy /b /y ${inImage} ${work('winre.wim')}` },
        { raw: `dism /English /Get-WimInfo /WimFile:${work('winre.wim')}` },
      ]);
      runStep(`${wt}-mount`, `Mount ${copy.name}`, `c_${lt}_mount`, [0], 'failed_winre', [
        { raw: `dism /English /Mount-Image /ImageFile:${work('winre.wim')} /Index:${winre.index} /MountDir:${mntWinre} /ScratchDir:${scratchDir}` },
      ]);
      serviceMounted(target, mntWinre, (id) => `c_${id.replace(/[.-]/g, '_')}`, 'failed_winre');
      listings(target, wt, lt, mntWinre, 'failed_winre');
      runStep(`${wt}-commit`, `Unmount ${copy.name} and commit`, `c_${lt}_commit`, [0], 'failed_winre', [
        { raw: `dism /English /Unmount-Image /MountDir:${mntWinre} /Commit /ScratchDir:${scratchDir}` },
      ]);
      // Export writes only the image's live resources, so the committed WinRE shrinks; it appends to an existing file, hence the del
      runStep(`${wt}-export`, `Export ${copy.name} (drops superseded resources)`, `c_${lt}_export`, [0], 'failed_mounted', [
        { raw: `if exist ${work('winre2.wim')} del /f /q ${work('winre2.wim')}` },
        { raw: `dism /English /Export-Image /SourceImageFile:${work('winre.wim')} /SourceIndex:${winre.index} /DestinationImageFile:${work('winre2.wim')}` },
      ]);
      // delete first: if the copy fails, the check below finds no file instead of the old WinRE
      runStep(`${wt}-replace`, `Copy the serviced WinRE back into ${im.image}`, `c_${lt}_replace`, [0], 'failed_mounted', [
        { raw: `del /f /q ${inImage}` },
        { raw: `copy /b /y ${work('winre2.wim')} ${inImage}` },
        { raw: `attrib +h +s ${inImage}` },
        { raw: `dism /English /Get-WimInfo /WimFile:${inImage}` },
      ]);
      main.push(`rem ---- ${cmdWord(im.image)} itself ----`);
    }
    const own = targets.find((t) => t.layout === im)!;
    serviceMounted(own, mnt, (id) => `c_${id}`, 'failed_mounted');
    listings(own, tag, tag, mnt, 'failed_mounted');
    runStep(`${tag}-commit`, `Unmount ${im.image} and commit`, `c_${tag}_commit`, [0], 'failed_mounted', [
      { raw: `dism /English /Unmount-Image /MountDir:${mnt} /Commit /ScratchDir:${scratchDir}` },
    ]);
    if (lastUse.get(im.wim) === i) {
      main.push(`rem ${im.wim} is complete. FAT32 holds at most 4 GiB - 1 per file: split anything larger.`);
      main.push('set "MSU_SIZE=0"');
      main.push(`for %%A in (${cmdEscape(work(im.wim))}) do set "MSU_SIZE=%%~zA"`);
      // cmd arithmetic is 32-bit: compare zero-padded decimal strings instead
      main.push('set "MSU_PAD=000000000000000%MSU_SIZE%"');
      main.push('set "MSU_PAD=%MSU_PAD:~-15%"');
      main.push(`if "%MSU_PAD%" GTR "000004294967295" goto :split_${base}`);
      runStep(`out-${base}`, `Copy ${im.wim} to the output volume`, `c_out_${base}`, [0], 'failed', [
        { raw: `copy /b /y ${work(im.wim)} ${q(p(v(V.output), im.wim))}` },
      ]);
      main.push(`goto :after_${base}`, `:split_${base}`);
      ordinal--; // only one of copy / split runs
      runStep(`split-${base}`, `Split ${im.wim} into ${layout.splitMiB} MB parts`, `c_split_${base}`, [0], 'failed', [
        { raw: `dism /English /Split-Image /ImageFile:${work(im.wim)} /SWMFile:${q(p(v(V.output), `${base}.swm`))} /FileSize:${layout.splitMiB}` },
      ]);
      main.push(`:after_${base}`);
    }
  });

  const S = `%${V.status}%`;
  const worker: string[] = [
    '@echo off',
    'rem Generated by msu-toolkit (DISM worker). Do not edit: regenerate from the plan.',
    'rem Expects MSU_I (inputs), MSU_W (scratch, NTFS), MSU_O (output), MSU_S (status), MSU_SRC (install ISO) from startnet.cmd.',
    'setlocal EnableExtensions DisableDelayedExpansion',
    `if not exist "${S}\\reports" mkdir "${S}\\reports"`,
    `set "MSU_LOG=${S}\\${STATUS_FILES.log}"`,
    `set "${V.rc}=0"`,
    'set "MSU_FAILED_STEP="',
    '',
    ...main,
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
    statusLine(STATUS_FILES.final, { run, ok: false, state: 'failed', step: dynStr('MSU_FAILED_STEP'), exitCode: dynNum(V.rc), error: `step ${dynStr('MSU_FAILED_STEP')} failed` }, true, false),
    emitLine({ type: 'result', data: { run, ok: false, state: 'failed', step: dynStr('MSU_FAILED_STEP'), exitCode: dynNum(V.rc) } }, true),
    emitLine({ type: 'error', code: 'dism-step-failed', message: `step ${dynStr('MSU_FAILED_STEP')} failed; see ${STATUS_FILES.log} on the status disk` }, true),
    emitLine({ type: 'done', ok: false }),
    'exit /b 1',
    '',
    'rem ---- :run <step id> <command label> <allowed exit codes...> ----',
    'rem Logs the command (each block echoes its commands), captures %ERRORLEVEL%, checks it against',
    'rem the allow-list, appends one JSON line to the status file and reports the step on COM1.',
    'rem Allowed codes: 0 success; 3010 reboot required (the offline image needs its next boot: success);',
    'rem -2146498530 = 0x800F081E CBS_E_NOT_APPLICABLE, only for package steps the plan marks not-applicable or unknown.',
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
    'rem ---- command blocks ----',
    ...blocks,
    ...(winre ? block('c_discard_winre', [{ raw: `dism /English /Unmount-Image /MountDir:${mntWinre} /Discard` }]) : []),
    ...block('c_discard', [{ raw: `dism /English /Unmount-Image /MountDir:${mnt} /Discard` }]),
    ...block('c_cleanupwim', [{ raw: 'dism /English /Cleanup-Wim' }]),
  ];

  const labels = layout.labels;
  const probe = (label: string, name: string): string =>
    `  vol %%d: 2>nul | find /i "${label}" >nul && if not defined ${name} set "${name}=%%d:"`;
  const failStatus = (step: string): string =>
    `if defined ${V.status} ${statusLine(STATUS_FILES.final, { run, ok: false, state: 'failed', step, error: `startup failed at ${step}` }, false, false)}`;
  const startnet: string[] = [
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

  const heartbeat: string[] = [
    '@echo off',
    'rem Generated by msu-toolkit: a heartbeat line on COM1 every interval while worker.cmd runs.',
    'setlocal EnableExtensions DisableDelayedExpansion',
    ':loop',
    // ping needs no console input (timeout.exe refuses redirected stdin); timeout is the fallback
    `ping -n ${layout.heartbeatSec + 1} 127.0.0.1 >nul 2>&1 || timeout /t ${layout.heartbeatSec} /nobreak >nul 2>&1`,
    'if exist "X:\\msu-stop" exit /b 0',
    'set "MSU_CUR="',
    'if exist "X:\\msu-current" set /p MSU_CUR=<"X:\\msu-current"',
    emitLine({ type: 'heartbeat', data: { run, step: dynStr('MSU_CUR') } }, true),
    'goto :loop',
    '',
  ];

  const diskpart = ['san policy=OnlineAll', 'rescan', ''];
  const crlf = (lines: string[]): string => lines.join('\r\n');
  return {
    images,
    files: [
      { path: 'Windows\\System32\\startnet.cmd', content: crlf(startnet) },
      { path: 'Windows\\System32\\worker.cmd', content: crlf(worker) + '\r\n' },
      { path: 'Windows\\System32\\heartbeat.cmd', content: crlf(heartbeat) },
      { path: 'Windows\\System32\\msu-diskpart.txt', content: crlf(diskpart) },
    ],
  };
}
