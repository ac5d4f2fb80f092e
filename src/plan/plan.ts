import type { Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { FormatError, ioError, MsuError, UsageError } from '../errors.js';
import { inspectFile, type PackageSummary } from '../msu/inspect.js';
import { checkDriverPackage, type DriverCheckReport } from '../drivers/package.js';
import { imageInventory, type InventoryImage } from '../wim/inventory.js';
import type { WindowsArch } from '../wim/types.js';
import { VERSION } from '../version.js';
import { parsePackageId, versionlessKey } from '../cbs/identity.js';
import { supersedes } from '../cbs/classify.js';
import { compareVersions, parseVersion } from '../cbs/version.js';
import { hashFile, hashFileWithSha1, hashFolder, listFiles } from './plan-hash.js';
import { judgeInput, matchInput, payloadOwners } from './plan-scan.js';
import { openScanIndex } from '../scancab/cache.js';
import { ScanQuery } from '../scancab/query.js';
import type { ScanRules } from '../scancab/rules.js';
import { unsafePlanPath } from './plan-check.js';
import {
  archAccepts, baseBuild, buildAndUbr, byCode, byInputId, CHECKPOINT_DOC, checkParent, checkpointFor, isCheckpointPackage,
  normalizeArch, PHASES, phaseFor, UNSUPPORTED_CLASSES, type ImageRole, type ParentCheck, type PhaseName,
} from './plan-rules.js';
import {
  PLAN_SCHEMA, type Plan, type PlanImage, type PlanScanCab, type PlanInput, type PlanPackage, type PlanSkip, type PlanStep, type PlanTarget,
  type PlanTargetImage,
} from './plan-types.js';

export type PlanRequestTarget =
  | { wim: string; indexes?: number[]; bootWim?: string; winre?: string }
  | { build: string; edition?: string; arch: string };

export interface PlanProgress {
  phase: 'hash' | 'inspect' | 'inventory' | 'drivers' | 'scancab';
  file: string;
  done?: number;
  total?: number;
}

export interface PlanRequest {
  /** Update files (.msu/.cab) or folders of them (searched recursively). */
  inputs: string[];
  /** Driver package folders. */
  drivers?: string[];
  target: PlanRequestTarget;
  /** Input arguments are relative to this (default: process.cwd()). */
  cwd?: string;
  /**
   * The directory the plan file goes into (default: `cwd`). Paths in the plan are relative to
   * it, and every input must lie inside it (msu run resolves them there and refuses the rest).
   */
  planDir?: string;
  /**
   * An offline-scan cabinet to find each input's update in (recorded on the input), and the
   * rules that drop superseded and forbidden ones (without rules: annotation only).
   */
  scan?: { file: string; rules?: ScanRules; cacheDir?: string | null };
  onProgress?: (p: PlanProgress) => void;
}

const UPDATE_FILE = /\.(msu|cab)$/i;
const FOUNDATION = 'microsoft-windows-foundation-package';

interface SourceInput {
  abs: string;
  rel: string;
  kind: PlanInput['kind'];
}

/** A package of an input, as the planner sees it. */
interface Cand {
  input: PlanInput;
  pkg: PackageSummary;
  cls: string;
  phase: PhaseName;
  checkpoint: boolean;
}

interface TargetImage {
  label: string;
  role: ImageRole;
  arch: string;
  foundation?: string;
  /** major.minor.build.UBR when known. */
  version?: string;
  /** major, minor and build of the target's Windows, when known (decides parents that name another Windows). */
  os?: [number, number, number];
  installed: Array<{ id: string; name: string; key: string; version: string; arch: string }>;
  /** Where the foundation/version came from, for details. */
  source: string;
}

interface DriverInput {
  input: PlanInput;
  abs: string;
}

interface SkipRec {
  input: string;
  item?: string;
  reason: string;
  detail: string;
  image?: string;
}

const toPosix = (p: string): string => p.split(path.sep).join('/');

function relTo(cwd: string, abs: string): string {
  const r = toPosix(path.relative(cwd, abs));
  return r === '' ? '.' : r;
}

/** An input as the user named it: errors name `shown`. */
async function statInput(abs: string, shown: string): Promise<Stats> {
  try {
    return await stat(abs);
  } catch (err) {
    throw ioError(err, shown);
  }
}

/**
 * The plan path of an input: relative to the plan's directory, and inside it also after
 * symbolic links, or a UsageError (msu run resolves plan paths there and refuses the rest).
 */
async function planPath(abs: string, shown: string, planDir: string): Promise<string> {
  const rel = relTo(planDir, abs);
  let inside = unsafePlanPath(rel) === undefined;
  if (inside) {
    try {
      const [root, real] = [await realpath(planDir), await realpath(abs)];
      inside = real === root || real.startsWith(root + path.sep);
    } catch (err) {
      throw ioError(err, shown);
    }
  }
  if (!inside) {
    const where = planDir === process.cwd() ? 'the current directory' : relTo(process.cwd(), planDir);
    throw new UsageError(`input is outside ${where}, the directory of the plan (plan paths are relative to it, and msu run refuses anything outside); write the plan into a directory that holds every input`, { file: shown });
  }
  return rel;
}

async function expandInputs(paths: string[], cwd: string, planDir: string): Promise<SourceInput[]> {
  const out: SourceInput[] = [];
  for (const p of paths) {
    const abs = path.resolve(cwd, p);
    const st = await statInput(abs, p);
    if (st.isDirectory()) {
      const files = (await listFiles(abs, p)).filter((f) => UPDATE_FILE.test(f));
      if (files.length === 0) throw new UsageError('folder holds no .msu or .cab file', { file: p });
      for (const f of files) out.push({ abs: path.join(abs, f), rel: await planPath(path.join(abs, f), `${p}/${f}`, planDir), kind: /\.msu$/i.test(f) ? 'msu' : 'cab' });
    } else {
      out.push({ abs, rel: await planPath(abs, p, planDir), kind: /\.msu$/i.test(abs) ? 'msu' : 'cab' });
    }
  }
  return out;
}

async function expandDrivers(paths: string[], cwd: string, planDir: string): Promise<SourceInput[]> {
  const out: SourceInput[] = [];
  for (const p of paths) {
    const abs = path.resolve(cwd, p);
    const st = await statInput(abs, p);
    if (!st.isDirectory()) throw new UsageError('a driver input must be a folder (a driver package: .inf, .cat, .sys)', { file: p });
    out.push({ abs, rel: await planPath(abs, p, planDir), kind: 'driver-folder' });
  }
  return out;
}

function targetImageOf(inv: InventoryImage, label: string, role: ImageRole): { t: TargetImage; p: PlanTargetImage } {
  const installed = inv.packages.map((x) => ({
    id: x.packageId, name: x.name, version: x.version, arch: x.arch,
    key: versionlessKey({ name: x.name, publicKeyToken: x.publicKeyToken, processorArchitecture: x.arch, language: x.language }),
  }));
  const t: TargetImage = { label, role, arch: normalizeArch(inv.arch), installed, source: label };
  if (inv.foundationVersion) t.foundation = inv.foundationVersion;
  if (inv.version && inv.version.split('.').length === 4) t.version = inv.version;
  const os = osOf(inv.version);
  if (os) t.os = os;
  const p: PlanTargetImage = {
    index: inv.index, name: inv.name, arch: inv.arch,
    installedPackages: inv.packages.map((x) => x.packageId).sort(byCode),
  };
  if (inv.edition) p.edition = inv.edition;
  if (inv.version) p.version = inv.version;
  if (inv.foundationVersion) p.foundationVersion = inv.foundationVersion;
  return { t, p };
}

const ARCHS = new Set(['x86', 'amd64', 'arm64']);

async function resolveTarget(req: PlanRequest, cwd: string, planDir: string): Promise<{ target: PlanTarget; images: TargetImage[] }> {
  const tg = req.target;
  if ('build' in tg) {
    let parts: number[];
    try {
      parts = parseVersion(tg.build).parts;
    } catch (err) {
      throw new UsageError(`--target-build ${JSON.stringify(tg.build)}: ${(err as MsuError).message}`);
    }
    if (parts.length < 3) throw new UsageError(`--target-build ${JSON.stringify(tg.build)}: give major.minor.build[.UBR], e.g. 10.0.19044.1288`);
    const arch = normalizeArch(tg.arch);
    if (!ARCHS.has(arch)) throw new UsageError(`--arch ${JSON.stringify(tg.arch)}: expected amd64, x86 or arm64`);
    const foundation = `${parts[0]}.${parts[1]}.${baseBuild(parts[2]!)}.1`;
    const img: TargetImage = { label: 'install.wim#1', role: 'install', arch, foundation, installed: [], source: `build ${tg.build}` };
    if (parts.length === 4) img.version = tg.build;
    img.os = [parts[0]!, parts[1]!, parts[2]!];
    const target: PlanTarget = { kind: 'build', version: tg.build, arch, foundationVersion: foundation };
    if (tg.edition) target.edition = tg.edition;
    return { target, images: [img] };
  }
  const progress = (file: string): void => req.onProgress?.({ phase: 'inventory', file });
  const images: TargetImage[] = [];
  const planImages: PlanTargetImage[] = [];
  const wimRel = relTo(planDir, path.resolve(cwd, tg.wim));
  progress(tg.wim);
  const invs: InventoryImage[] = [];
  if (tg.indexes && tg.indexes.length) {
    for (const i of [...new Set(tg.indexes)].sort((a, b) => a - b)) invs.push(...(await imageInventory(path.resolve(cwd, tg.wim), i)).images);
  } else {
    invs.push(...(await imageInventory(path.resolve(cwd, tg.wim))).images);
  }
  for (const inv of invs) {
    if (inv.arch === 'unknown' || !inv.version) {
      // planning amd64 packages into something that is not Windows would be a guess, not a plan
      throw new FormatError('E_PLAN_TARGET', `image ${inv.index} is not a Windows image (its ${inv.arch === 'unknown' ? 'architecture' : 'version'} is unknown): give the target with --target-build and --arch instead`, { file: tg.wim });
    }
    const { t, p } = targetImageOf(inv, `install.wim#${inv.index}`, 'install');
    images.push(t);
    planImages.push(p);
  }
  const target: PlanTarget = { kind: 'wim', file: wimRel, indexes: invs.map((i) => i.index), images: planImages };
  if (tg.bootWim) {
    progress(tg.bootWim);
    const inv = (await imageInventory(path.resolve(cwd, tg.bootWim), 2)).images[0]!;
    const { t, p } = targetImageOf(inv, 'boot.wim#2', 'boot');
    images.push(t);
    target.bootWim = { file: relTo(planDir, path.resolve(cwd, tg.bootWim)), images: [p] };
  }
  if (tg.winre) {
    progress(tg.winre);
    const inv = (await imageInventory(path.resolve(cwd, tg.winre), 1)).images[0]!;
    const { t, p } = targetImageOf(inv, 'winre.wim', 'winre');
    images.push(t);
    target.winre = { file: relTo(planDir, path.resolve(cwd, tg.winre)), images: [p] };
  }
  return { target, images };
}

/** The version of `name` the image has: installed packages first, else the known Foundation version. */
function installedVersionOf(img: TargetImage, name: string, arch: string): string | undefined {
  let best: string | undefined;
  for (const x of img.installed) {
    if (x.name.toLowerCase() !== name.toLowerCase() || !archAccepts(arch || img.arch, x.arch)) continue;
    try {
      if (best === undefined || compareVersions(x.version, best) > 0) best = x.version;
    } catch {
      /* an unparsable installed version cannot decide anything */
    }
  }
  if (best === undefined && name.toLowerCase() === FOUNDATION) best = img.foundation;
  return best;
}

function osOf(version: string | undefined): [number, number, number] | undefined {
  if (!version) return undefined;
  try {
    const p = parseVersion(version).parts;
    return p.length >= 3 ? [p[0]!, p[1]!, p[2]!] : undefined;
  } catch {
    return undefined;
  }
}

/** Lowest build number of a Windows release with CBS packages (Windows 2000 was 2195). */
const MIN_OS_BUILD = 2195;

/**
 * A parent whose version is a Windows version (major.minor.build with a real build number,
 * e.g. 6.1.7601.17514) can be decided without knowing what the image has installed: a
 * different major.minor is another Windows, and buildCompare EQ against another build can
 * never hold (docs/plan.md, "Parents naming another Windows").
 */
function otherWindows(par: { buildCompare?: string }, name: string, version: string, img: TargetImage): ParentCheck | undefined {
  const os = img.os;
  let p: number[];
  try {
    p = parseVersion(version).parts;
  } catch {
    return undefined;
  }
  if (!os || p.length < 3 || p[2]! < MIN_OS_BUILD) return undefined;
  const target = `${os[0]}.${os[1]}.${os[2]}`;
  if (p[0] !== os[0] || p[1] !== os[1]) {
    return { result: 'not-applicable', detail: `parent ${name} ${version} is Windows ${p[0]}.${p[1]}, the target is ${target} (${img.source}): a package for another Windows version can never apply` };
  }
  if (par.buildCompare?.toUpperCase() === 'EQ' && p[2] !== os[2] && p[2] !== baseBuild(os[2])) {
    return { result: 'not-applicable', detail: `parent ${name} ${version} needs build EQ ${p[2]}, the target is build ${os[2]} (${img.source})` };
  }
  return undefined;
}

/** Parents are alternatives: the package applies when one of them holds. */
function applicability(c: Cand, img: TargetImage): ParentCheck {
  const parents = c.pkg.appliesTo;
  if (parents.length === 0) return { result: 'unknown', detail: 'the package names no parent package' };
  const results: ParentCheck[] = [];
  for (const par of parents) {
    let id;
    try {
      id = parsePackageId(par.identity);
    } catch {
      results.push({ result: 'unknown', detail: `parent ${par.identity} is not a package identity` });
      continue;
    }
    const have = installedVersionOf(img, id.name, id.processorArchitecture);
    if (have === undefined) {
      results.push(otherWindows(par, id.name, id.version, img) ?? { result: 'unknown', detail: `parent ${id.name} ${id.version}: not known for ${img.source}` });
      continue;
    }
    results.push(checkParent(par, id.name, id.version, have));
  }
  const ok = results.find((r) => r.result === 'applicable');
  if (ok) return ok;
  if (results.every((r) => r.result === 'not-applicable')) return { result: 'not-applicable', detail: results.map((r) => r.detail).join('; ') };
  return { result: 'unknown', detail: results.map((r) => r.detail).join('; ') };
}

function imageBuildUbr(img: TargetImage): { build: number; ubr: number } | undefined {
  return img.version ? buildAndUbr(img.version) : undefined;
}

/** Already in the image: the same package line at the same or a higher version, or (LCUs) the image's UBR. */
function alreadyInstalled(c: Cand, img: TargetImage): string | undefined {
  const key = versionlessKey(parsePackageId(c.pkg.identity));
  for (const x of img.installed) {
    // RollupFix versions come in two shapes (10.0.19041.4170, 19041.1288.1.7): LCUs are compared by build and UBR below.
    if (x.key !== key || c.phase === 'lcu') continue;
    try {
      if (compareVersions(x.version, c.pkg.version) >= 0) return `the image already has ${x.id}`;
    } catch {
      /* unparsable: cannot tell */
    }
  }
  if (c.phase === 'lcu') {
    const have = imageBuildUbr(img), want = buildAndUbr(c.pkg.version);
    if (have && want && baseBuild(have.build) === baseBuild(want.build) && have.ubr >= want.ubr) {
      return `${img.source} is at ${img.version} (UBR ${have.ubr}); this cumulative update brings UBR ${want.ubr}`;
    }
    for (const x of img.installed) {
      if (!/^package_for_rollupfix$/i.test(x.name) || !want) continue;
      const got = buildAndUbr(x.version);
      if (got && baseBuild(got.build) === baseBuild(want.build) && got.ubr >= want.ubr) return `the image already has ${x.id} (UBR ${got.ubr})`;
    }
  }
  return undefined;
}

/** Packages of these phases replace each other whatever their names (SSUs and LCUs are cumulative). */
const CLASS_GROUPS = new Set<PhaseName>(['ssu', 'lcu', 'safeos-du']);

function groupKey(c: Cand): string {
  return CLASS_GROUPS.has(c.phase) ? `phase:${c.phase}` : versionlessKey(parsePackageId(c.pkg.identity));
}

function newer(a: Cand, b: Cand): number {
  const ua = a.phase === 'lcu' ? buildAndUbr(a.pkg.version) : undefined;
  const ub = b.phase === 'lcu' ? buildAndUbr(b.pkg.version) : undefined;
  const v = ua && ub ? Math.sign(ua.build - ub.build || ua.ubr - ub.ubr) : compareVersions(a.pkg.version, b.pkg.version);
  return v !== 0 ? v : -byInputId(a.input.id, b.input.id);
}

interface ImagePlan {
  steps: PlanStep[];
  skips: SkipRec[];
  used: Set<Cand>;
}

function planImage(img: TargetImage, cands: Cand[], drivers: Array<{ d: DriverInput; report: DriverCheckReport }>): ImagePlan {
  const skips: SkipRec[] = [];
  const used = new Set<Cand>();
  const skip = (c: Cand, reason: string, detail: string): void => {
    skips.push({ input: c.input.id, item: c.pkg.identity, reason, detail, image: img.label });
  };
  const ok: Array<{ c: Cand; app: ParentCheck }> = [];
  for (const c of cands) {
    if (!(PHASES[c.phase].roles as readonly ImageRole[]).includes(img.role)) continue;
    if (!archAccepts(img.arch, c.pkg.arch)) {
      skip(c, 'wrong-arch', `package architecture ${c.pkg.arch}, image architecture ${img.arch}`);
      continue;
    }
    const app = applicability(c, img);
    if (app.result === 'not-applicable') {
      skip(c, 'not-applicable', app.detail);
      continue;
    }
    const have = alreadyInstalled(c, img);
    if (have) {
      skip(c, 'not-applicable', have);
      continue;
    }
    ok.push({ c, app });
  }

  // Supersedence: per group, the newest wins.
  const groups = new Map<string, Array<{ c: Cand; app: ParentCheck }>>();
  for (const x of ok) {
    const k = groupKey(x.c);
    groups.set(k, [...(groups.get(k) ?? []), x]);
  }
  type Chosen = { phase: PhaseName; items: Cand[]; app: ParentCheck; reason: string };
  const chosen: Chosen[] = [];
  for (const [, members] of [...groups].sort((a, b) => byCode(a[0], b[0]))) {
    members.sort((a, b) => newer(b.c, a.c));
    const top = members[0]!;
    const rest = members.slice(1);
    let pair: { c: Cand; app: ParentCheck } | undefined;
    let app = top.app;
    let reason: string = PHASES[top.c.phase].reason;
    if (top.c.phase === 'lcu') {
      const bu = buildAndUbr(top.c.pkg.version);
      const cp = bu ? checkpointFor(bu.build) : undefined;
      const have = imageBuildUbr(img);
      const imageHasIt = have !== undefined && cp !== undefined && baseBuild(have.build) === cp.build && have.ubr >= cp.ubr;
      if (bu && cp && bu.ubr > cp.ubr && !imageHasIt) {
        pair = rest.find((r) => r.c.checkpoint && buildAndUbr(r.c.pkg.version)?.ubr === cp.ubr);
        if (pair) {
          reason = `checkpoint cumulative update ${cp.kb} and the LCU that needs it, in one add-package step from one folder so DISM applies them in order (${CHECKPOINT_DOC}); ${PHASES.lcu.reason}`;
          app = { result: top.app.result === 'applicable' && pair.app.result === 'applicable' ? 'applicable' : 'unknown', detail: `checkpoint chain complete: ${cp.kb} (UBR ${cp.ubr}) then UBR ${bu.ubr}; ${top.app.detail}` };
        } else if (have !== undefined) {
          skip(top.c, 'missing-checkpoint', `this ${cp.release} cumulative update (UBR ${bu.ubr}) needs checkpoint ${cp.kb} (UBR ${cp.ubr}) first; ${img.source} is at UBR ${have.ubr} and no input holds ${cp.kb}`);
          for (const r of rest) skip(r.c, 'superseded', `superseded by ${top.c.pkg.identity} (in ${top.c.input.id}), itself skipped for a missing checkpoint`);
          continue;
        } else {
          app = { result: 'unknown', detail: `the image's UBR is unknown: if it is below ${cp.ubr}, checkpoint ${cp.kb} is needed first and is not among the inputs; ${top.app.detail}` };
        }
      }
    }
    for (const r of rest) {
      if (r === pair) continue;
      const why = supersedes(parsePackageId(top.c.pkg.identity), parsePackageId(r.c.pkg.identity));
      const detail = why.supersedes ? why.reason : `${top.c.pkg.version} is newer than ${r.c.pkg.version} (${top.c.phase} packages are cumulative)`;
      skip(r.c, 'superseded', `superseded by ${top.c.pkg.identity} (in ${top.c.input.id}): ${detail}`);
    }
    const items = pair ? [pair.c, top.c] : [top.c];
    for (const i of items) used.add(i);
    chosen.push({ phase: top.c.phase, items, app, reason });
  }
  chosen.sort((a, b) => PHASES[a.phase].order - PHASES[b.phase].order || byCode(a.items[a.items.length - 1]!.pkg.identity, b.items[b.items.length - 1]!.pkg.identity));

  const steps: PlanStep[] = [];
  const add = (s: Omit<PlanStep, 'n'>): void => {
    steps.push({ n: steps.length + 1, ...s });
  };
  let cleaned = false;
  const cleanup = (): void => {
    if (cleaned || steps.length === 0) return;
    cleaned = true;
    add({ action: 'cleanup-components', inputs: [], items: [], reason: PHASES.cleanup.reason });
  };
  for (const ch of chosen) {
    if (PHASES[ch.phase].order > PHASES.cleanup.order) cleanup();
    add({
      action: 'add-package',
      inputs: [...new Set(ch.items.map((i) => i.input.id))],
      items: ch.items.map((i) => i.pkg.identity),
      reason: ch.reason,
      applicability: ch.app,
    });
  }
  cleanup();
  if ((PHASES.driver.roles as readonly ImageRole[]).includes(img.role)) {
    for (const { d, report } of drivers) {
      const checks = report.findings.map((f) => ({ level: f.level, code: f.code, message: f.file ? `${f.file}${f.line ? `:${f.line}` : ''}: ${f.message}` : f.message }));
      const infs = report.infs.filter((i) => !i.isTemplate).map((i) => i.file).sort(byCode);
      if (report.errors > 0 || infs.length === 0) {
        const codes = [...new Set(report.findings.filter((f) => f.level === 'error').map((f) => f.code))].sort(byCode);
        skips.push({
          input: d.input.id, reason: 'not-applicable', image: img.label,
          detail: infs.length === 0 ? 'no .inf file in the driver folder' : `driver check for ${img.arch} found ${report.errors} error(s): ${codes.join(', ')}`,
        });
        continue;
      }
      add({ action: 'add-driver', inputs: [d.input.id], items: infs, reason: PHASES.driver.reason, checks });
    }
  }
  return { steps, skips, used };
}

/**
 * Plan which packages and drivers go into which image, in which order, and why.
 * Deterministic: the same inputs give the same bytes (canonicalJson), whatever order they were given in.
 */
export async function buildPlan(req: PlanRequest): Promise<Plan> {
  const cwd = path.resolve(req.cwd ?? process.cwd());
  const planDir = path.resolve(cwd, req.planDir ?? '.');
  const sources = [...(await expandInputs(req.inputs, cwd, planDir)), ...(await expandDrivers(req.drivers ?? [], cwd, planDir))];
  const byRel = new Map<string, SourceInput>();
  for (const s of sources) byRel.set(s.rel, s);
  const sorted = [...byRel.values()].sort((a, b) => byCode(a.rel, b.rel));

  const inputs: PlanInput[] = [];
  const summaries = new Map<string, PackageSummary[]>();
  const driverInputs: DriverInput[] = [];
  const globalSkips: SkipRec[] = [];
  const bySha = new Map<string, PlanInput>();
  let scan: { q: ScanQuery; owners: ReturnType<typeof payloadOwners>; rules?: ScanRules; close: () => void } | undefined;
  let scancab: PlanScanCab | undefined;
  if (req.scan) {
    req.onProgress?.({ phase: 'scancab', file: req.scan.file });
    const o = await openScanIndex(path.resolve(cwd, req.scan.file), req.scan.cacheDir === undefined ? {} : { cacheDir: req.scan.cacheDir });
    const q = new ScanQuery(o.source);
    scan = { q, owners: payloadOwners(q), close: o.close, ...(req.scan.rules ? { rules: req.scan.rules } : {}) };
    scancab = { sha256: o.meta.sha256, packageId: o.meta.packageId, creationDate: o.meta.creationDate };
    if (req.scan.rules) scancab.rules = { ...req.scan.rules };
  }
  try {
    let n = 0;
    for (const s of sorted) {
      const id = `in${++n}`;
      const onHash = (file: string, done: number, total: number): void => req.onProgress?.({ phase: 'hash', file, done, total });
      const h: { sha256: string; size: number; sha1?: string } = s.kind === 'driver-folder'
        ? await hashFolder(s.abs, s.rel, onHash)
        : scan ? await hashFileWithSha1(s.abs, s.rel, onHash) : await hashFile(s.abs, s.rel, onHash);
      const input: PlanInput = { id, path: s.rel, kind: s.kind, sha256: h.sha256, size: h.size, packages: [] };
      if (h.sha1) input.sha1 = h.sha1;
      inputs.push(input);
      const first = bySha.get(`${s.kind}:${h.sha256}`);
      if (first) {
        globalSkips.push({ input: id, reason: 'duplicate', detail: `same content (sha256) as ${first.id} (${first.path})` });
      } else bySha.set(`${s.kind}:${h.sha256}`, input);
      if (s.kind === 'driver-folder') {
        if (!first) driverInputs.push({ input, abs: s.abs });
        continue;
      }
      req.onProgress?.({ phase: 'inspect', file: s.rel });
      const report = await inspectFile(s.abs, {
        displayName: s.rel,
        // a WIM-based MSU's payload .wim is copied for wimlib-imagex: the one long step of inspecting
        onProgress: (p) => req.onProgress?.({ phase: 'inspect', file: s.rel, done: p.done, total: p.total }),
      });
      const pkgs = report.packages.filter((p) => p.identity !== '');
      if (pkgs.length === 0) {
        const note = report.packages.find((p) => p.note)?.note;
        globalSkips.push({ input: id, reason: 'unsupported', detail: note ?? 'no CBS package found in the input' });
      }
      // A package cabinet or a package stored in a WIM/ESD is one bare package; the rest are bundles.
      input.kind = report.container === 'cab' || report.container === 'wim-package' ? 'cab' : 'msu';
      for (const p of pkgs) {
        const cls = isCheckpointPackage(p.class, p.name, p.kb, p.version) ? 'checkpoint-lcu' : p.class;
        const pp: PlanPackage = { identity: p.identity, class: cls };
        if (p.kb) pp.kb = p.kb;
        if (p.member !== '.') pp.member = p.member;
        input.packages.push(pp);
      }
      input.packages.sort((a, b) => byCode(a.identity, b.identity) || byCode(a.member ?? '', b.member ?? ''));
      if (scan && h.sha1) {
        const kbs = [...new Set(pkgs.map((p) => (p.kb ?? '').replace(/^KB/i, '')).filter((k) => /^\d+$/.test(k)))].sort(byCode);
        const m = matchInput(scan.q, { sha1: h.sha1, kbs, names: [path.basename(s.abs), ...pkgs.map((p) => path.basename(p.member))] }, scan.owners);
        if (m) input.scan = m;
        const drop = scan.rules && !first ? judgeInput(scan.q, scan.rules, m, kbs) : undefined;
        if (drop) {
          globalSkips.push({ input: id, ...drop });
          continue;
        }
      }
      if (!first) summaries.set(id, pkgs);
    }
  } finally {
    scan?.close();
  }

  // Candidates: every package once (later copies are duplicates), supported classes only.
  const cands: Cand[] = [];
  const seen = new Map<string, string>();
  for (const input of inputs) {
    const pkgs = [...(summaries.get(input.id) ?? [])].sort((a, b) => byCode(a.identity, b.identity) || byCode(a.member, b.member));
    for (const p of pkgs) {
      const key = p.identity.toLowerCase();
      const firstIn = seen.get(key);
      if (firstIn) {
        globalSkips.push({ input: input.id, item: p.identity, reason: 'duplicate', detail: `the same package is in ${firstIn}` });
        continue;
      }
      seen.set(key, input.id);
      const checkpoint = isCheckpointPackage(p.class, p.name, p.kb, p.version);
      const cls = checkpoint ? 'checkpoint-lcu' : p.class;
      const phase = phaseFor(cls, p.name);
      if (!phase) {
        globalSkips.push({ input: input.id, item: p.identity, reason: 'unsupported', detail: UNSUPPORTED_CLASSES[cls] ?? `package class ${cls} is not installed into images` });
        continue;
      }
      cands.push({ input, pkg: p, cls, phase, checkpoint });
    }
  }

  const { target, images: timgs } = await resolveTarget(req, cwd, planDir);

  // Driver checks, once per architecture.
  const driverReports = new Map<string, DriverCheckReport>();
  const driversFor = async (arch: string): Promise<Array<{ d: DriverInput; report: DriverCheckReport }>> => {
    const out = [];
    for (const d of driverInputs) {
      const k = `${d.input.id}|${arch}`;
      let r = driverReports.get(k);
      if (!r) {
        req.onProgress?.({ phase: 'drivers', file: d.input.path });
        r = await checkDriverPackage(d.abs, ARCHS.has(arch) ? { arch: arch as WindowsArch } : {});
        driverReports.set(k, r);
      }
      out.push({ d, report: r });
    }
    return out;
  };

  const images: PlanImage[] = [];
  const skipRecs: SkipRec[] = [...globalSkips];
  const usedAnywhere = new Set<Cand>();
  const routedAnywhere = new Set<Cand>();
  for (const img of timgs) {
    const drivers = (PHASES.driver.roles as readonly ImageRole[]).includes(img.role) ? await driversFor(img.arch) : [];
    const r = planImage(img, cands, drivers);
    images.push({ image: img.label, steps: r.steps });
    skipRecs.push(...r.skips);
    for (const c of r.used) usedAnywhere.add(c);
    for (const c of cands) if ((PHASES[c.phase].roles as readonly ImageRole[]).includes(img.role)) routedAnywhere.add(c);
  }
  const ROLE_HINT: Record<ImageRole, string> = { install: 'install.wim', boot: 'boot.wim index 2 (--boot-wim)', winre: 'winre.wim (--winre)' };
  for (const c of cands) {
    if (routedAnywhere.has(c)) continue;
    const wants = (PHASES[c.phase].roles as readonly ImageRole[]).map((r) => ROLE_HINT[r]).join(' or ');
    skipRecs.push({ input: c.input.id, item: c.pkg.identity, reason: 'not-applicable', detail: `${c.cls} packages go into ${wants}, which this plan does not target` });
  }

  const plan: Plan = { schema: PLAN_SCHEMA, tool: { name: 'msu-toolkit', version: VERSION }, target, inputs, images, skipped: mergeSkips(skipRecs, timgs.map((t) => t.label)) };
  if (scancab) plan.scancab = scancab;
  return plan;
}

/** One entry per (input, item, reason, detail), listing the images it applies to, in plan order. */
function mergeSkips(recs: SkipRec[], imageOrder: string[]): PlanSkip[] {
  const m = new Map<string, PlanSkip>();
  for (const r of recs) {
    const k = JSON.stringify([r.input, r.item ?? '', r.reason, r.detail]);
    let s = m.get(k);
    if (!s) {
      s = { input: r.input, reason: r.reason, detail: r.detail };
      if (r.item !== undefined) s.item = r.item;
      m.set(k, s);
    }
    if (r.image !== undefined) s.images = [...new Set([...(s.images ?? []), r.image])].sort((a, b) => imageOrder.indexOf(a) - imageOrder.indexOf(b));
  }
  return [...m.values()].sort((a, b) => byInputId(a.input, b.input) || byCode(a.item ?? '', b.item ?? '') || byCode(a.reason, b.reason) || byCode(a.detail, b.detail));
}

/** Short human summary of a plan (the CLI prints it when not --json). */
export function formatPlanSummary(plan: Plan): string {
  const lines: string[] = [];
  const t = plan.target;
  lines.push(t.kind === 'wim' ? `target: ${t.file} (images ${t.indexes.join(', ')})${t.bootWim ? `, ${t.bootWim.file}` : ''}${t.winre ? `, ${t.winre.file}` : ''}` : `target: build ${t.version} ${t.arch}${t.edition ? ` ${t.edition}` : ''}`);
  lines.push(`inputs: ${plan.inputs.length}`);
  if (plan.scancab) lines.push(`scan cabinet: package ${plan.scancab.packageId} of ${plan.scancab.creationDate}${plan.scancab.rules ? ', rules applied' : ' (annotation only)'}`);
  for (const i of plan.inputs) {
    const upd = i.scan ? `  [${i.scan.kb ? `KB${i.scan.kb} ` : ''}${i.scan.updateId}, by ${i.scan.matchedBy}]` : '';
    lines.push(`  ${i.id}  ${i.path}  ${i.packages.map((p) => `${p.class}${p.kb ? ` ${p.kb}` : ''}`).join(', ') || i.kind}${upd}`);
  }
  for (const img of plan.images) {
    lines.push(`${img.image}: ${img.steps.length} step(s)`);
    for (const s of img.steps) {
      const what = s.action === 'cleanup-components' ? '' : ` ${s.items.join(' + ')}`;
      lines.push(`  ${s.n}. ${s.action}${what}${s.applicability && s.applicability.result !== 'applicable' ? ` [${s.applicability.result}]` : ''}`);
    }
  }
  const steps = plan.images.flatMap((im) => im.steps);
  const unknown = steps.filter((s) => s.applicability?.result === 'unknown').length;
  // "unknown" steps are planned but could not be checked against the target: say how many
  lines.push(`steps: ${steps.length}, applicability unknown: ${unknown}`);
  if (plan.skipped.length) {
    lines.push(`skipped: ${plan.skipped.length}`);
    for (const s of plan.skipped) lines.push(`  ${s.input}${s.item ? ` ${s.item}` : ''}: ${s.reason}: ${s.detail}${s.images ? ` (${s.images.join(', ')})` : ''}`);
  }
  return lines.join('\n') + '\n';
}
