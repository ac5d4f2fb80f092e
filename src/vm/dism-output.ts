/**
 * Parsers for the text DISM prints for `/Get-Packages` and `/Get-Drivers` (run with
 * `/English`, so the keys are stable), and the check of that inventory against the plan.
 *
 * List format (the default, and what the worker asks for): records of `Key : Value`
 * lines separated by blank lines, after a "... listing:" header, ending with
 * "The operation completed successfully.". Table format (`/Format:Table`): one header row
 * of `|`-separated column names, a row of dashes, then one row per record.
 */
import { FormatError, MismatchError, TruncatedError } from '../errors.js';
import type { Plan } from '../plan/plan-types.js';
import { decodeText } from '../util/xml.js';
import { dismLayout, servicedImages } from './guest/dism-worker.js';

export interface DismPackage {
  /** Package Identity, `Name~PublicKeyToken~Arch~Language~Version`. */
  identity: string;
  /** Installed, Install Pending, Superseded, Staged, ... */
  state: string;
  releaseType?: string;
  installTime?: string;
}

export interface DismDriver {
  /** oemN.inf */
  publishedName: string;
  /** The INF name the package was added as. */
  originalFileName: string;
  inbox?: boolean;
  className?: string;
  providerName?: string;
  date?: string;
  version?: string;
}

const DONE_RE = /^The operation completed successfully\.?$/;

type Rec = Map<string, string>;

/** Records of `Key : Value` lines (list) or table rows, keyed by lower-case column name. */
function records(input: string | Uint8Array, listingHeader: RegExp, what: string, file?: string): Rec[] {
  const text = typeof input === 'string' ? input : decodeText(input);
  const lines = text.split(/\r\n|\r|\n/).map((l) => l.trimEnd());
  if (lines.every((l) => l.trim() === '')) throw new TruncatedError(`DISM ${what} output is empty`, { file });
  const errLine = lines.findIndex((l) => /^Error: /.test(l.trim()));
  if (errLine >= 0) {
    const msg = lines.slice(errLine, errLine + 4).map((l) => l.trim()).filter(Boolean).join(' ');
    throw new FormatError('E_DISM_ERROR', `DISM reported an error instead of a ${what} listing: ${msg.slice(0, 300)}`, { file, where: `line ${errLine + 1}` });
  }
  const start = lines.findIndex((l) => listingHeader.test(l.trim()));
  const tableHeader = lines.findIndex((l, i) => /\|/.test(l) && /^[-\s|]+$/.test(lines[i + 1] ?? '') && /-/.test(lines[i + 1] ?? ''));
  if (start < 0 && tableHeader < 0) throw new FormatError('E_DISM_OUTPUT', `not DISM ${what} output: no listing header found`, { file });
  const end = lines.findIndex((l) => DONE_RE.test(l.trim()));
  if (end < 0) throw new TruncatedError(`DISM ${what} output ends before "The operation completed successfully."`, { file });

  const out: Rec[] = [];
  if (tableHeader >= 0 && (start < 0 || tableHeader > start)) {
    const cols = lines[tableHeader]!.split('|').map((c) => c.trim().toLowerCase());
    for (let i = tableHeader + 2; i < end; i++) {
      const l = lines[i]!;
      if (l.trim() === '') continue;
      const cells = l.split('|').map((c) => c.trim());
      if (cells.length !== cols.length) {
        throw new FormatError('E_DISM_OUTPUT', `table row has ${cells.length} columns, header has ${cols.length}`, { file, where: `line ${i + 1}` });
      }
      out.push(new Map(cols.map((c, k) => [c, cells[k]!])));
    }
    return out;
  }
  let cur: Rec | undefined;
  for (let i = start + 1; i < end; i++) {
    const l = lines[i]!.trim();
    if (l === '') {
      if (cur) out.push(cur);
      cur = undefined;
      continue;
    }
    const m = /^([^:]+?)\s*:\s?(.*)$/.exec(l);
    if (!m) throw new FormatError('E_DISM_OUTPUT', `expected "Key : Value", got ${JSON.stringify(l.slice(0, 80))}`, { file, where: `line ${i + 1}` });
    cur ??= new Map();
    cur.set(m[1]!.trim().toLowerCase(), m[2]!.trim());
  }
  if (cur) out.push(cur);
  return out;
}

const IDENTITY_RE = /^[^~\s]+~[0-9a-fA-F]{16}~[^~\s]*~[^~\s]*~[0-9]+(\.[0-9]+){1,3}$/;

export function parseDismPackages(input: string | Uint8Array, file?: string): DismPackage[] {
  return records(input, /^Packages listing:$/i, 'package', file).map((r, i) => {
    const identity = r.get('package identity');
    const state = r.get('state');
    if (!identity || !state) throw new FormatError('E_DISM_OUTPUT', `package record ${i + 1} lacks "Package Identity" or "State"`, { file });
    if (!IDENTITY_RE.test(identity)) throw new FormatError('E_DISM_OUTPUT', `package record ${i + 1}: ${JSON.stringify(identity.slice(0, 120))} is not a package identity`, { file });
    const p: DismPackage = { identity, state };
    const rt = r.get('release type');
    if (rt) p.releaseType = rt;
    const it = r.get('install time');
    if (it) p.installTime = it;
    return p;
  });
}

export function parseDismDrivers(input: string | Uint8Array, file?: string): DismDriver[] {
  return records(input, /^Driver packages listing:$/i, 'driver', file).map((r, i) => {
    const publishedName = r.get('published name');
    const originalFileName = r.get('original file name');
    if (!publishedName || !originalFileName) throw new FormatError('E_DISM_OUTPUT', `driver record ${i + 1} lacks "Published Name" or "Original File Name"`, { file });
    const d: DismDriver = { publishedName, originalFileName };
    const inbox = r.get('inbox');
    if (inbox !== undefined) d.inbox = /^yes$/i.test(inbox);
    const set = (k: string, f: 'className' | 'providerName' | 'date' | 'version'): void => {
      const val = r.get(k);
      if (val) d[f] = val;
    };
    set('class name', 'className');
    set('provider name', 'providerName');
    set('date', 'date');
    set('version', 'version');
    return d;
  });
}

export type PlanDifferenceKind = 'image-not-reported' | 'package-missing' | 'package-not-installed' | 'driver-missing';

export interface PlanDifference {
  image: string;
  kind: PlanDifferenceKind;
  item: string;
  detail: string;
}

/** States in which an added package counts as present in an offline image. */
const PRESENT = new Set(['installed', 'install pending']);

function splitIdentity(id: string): { key: string; version: number[] } | undefined {
  const parts = id.split('~');
  if (parts.length !== 5) return undefined;
  return { key: parts.slice(0, 4).join('~').toLowerCase(), version: parts[4]!.split('.').map((n) => Number(n)) };
}

function cmpVersion(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

const infName = (s: string): string => s.replace(/\\/g, '/').split('/').pop()!.toLowerCase();

/**
 * What the images report against what the plan added. Keys of the report maps are the
 * serviced image names of `servicedImages`: plan image names (install.wim#1, boot.wim#2)
 * and, for the plan's winre.wim, one `install.wim#N/winre.wim` per install image (each
 * carries its own WinRE). A package counts as present when it is Installed or Install
 * Pending, or when a newer version of the same package (same name, key, arch and
 * language) is: an earlier checkpoint update is Superseded, or gone after /ResetBase.
 * Steps listed in `notApplicable` (worker step ids whose 0x800F081E was accepted) are not expected.
 */
export function compareWithPlan(
  plan: Plan,
  reportedPackages: Record<string, DismPackage[]>,
  reportedDrivers: Record<string, DismDriver[]>,
  opts: { notApplicable?: ReadonlySet<string> } = {},
): PlanDifference[] {
  const diffs: PlanDifference[] = [];
  for (const target of servicedImages(dismLayout(plan))) {
    const image = target.name;
    const pkgs = reportedPackages[image];
    const drvs = reportedDrivers[image];
    if (!pkgs || !drvs) {
      diffs.push({ image, kind: 'image-not-reported', item: image, detail: `no ${!pkgs ? 'package' : 'driver'} listing for this image` });
      continue;
    }
    const byId = new Map(pkgs.map((p) => [p.identity.toLowerCase(), p]));
    target.layout.steps.forEach((st, k) => {
      if (opts.notApplicable?.has(target.stepIds[k]!)) return;
      if (st.action === 'add-package') {
        for (const item of st.items) {
          const exact = byId.get(item.toLowerCase());
          if (exact && PRESENT.has(exact.state.toLowerCase())) continue;
          const want = splitIdentity(item);
          const newer = want
            ? pkgs.find((p) => {
                const got = splitIdentity(p.identity);
                return got !== undefined && got.key === want.key && cmpVersion(got.version, want.version) > 0 && PRESENT.has(p.state.toLowerCase());
              })
            : undefined;
          if (newer) continue;
          diffs.push(
            exact
              ? { image, kind: 'package-not-installed', item, detail: `step ${st.n}: state is ${exact.state}` }
              : { image, kind: 'package-missing', item, detail: `step ${st.n}: not in the image's package list` },
          );
        }
      } else if (st.action === 'add-driver') {
        const names = new Set(drvs.map((d) => infName(d.originalFileName)));
        for (const item of st.items) {
          if (!names.has(infName(item))) diffs.push({ image, kind: 'driver-missing', item, detail: `step ${st.n}: no third-party driver with original file name ${infName(item)}` });
        }
      }
    });
  }
  return diffs;
}

/** compareWithPlan, failing loudly: one MismatchError listing every difference. */
export function assertMatchesPlan(...args: Parameters<typeof compareWithPlan>): void {
  const diffs = compareWithPlan(...args);
  if (diffs.length === 0) return;
  const list = diffs.map((d) => `${d.image}: ${d.kind} ${d.item} (${d.detail})`).join('; ');
  throw new MismatchError('E_PLAN_RESULT', `the serviced image does not match the plan: ${diffs.length} difference(s): ${list}`);
}

/** A step that ended with an exit code the worker accepts but that still deserves a look. */
export interface DismStepWarning {
  step: string;
  exitCode: number;
  meaning: string;
}

export interface DismRunReport {
  packages: Record<string, DismPackage[]>;
  drivers: Record<string, DismDriver[]>;
  notApplicable: string[];
  differences: PlanDifference[];
  /** Steps that succeeded with a documented non-fatal code (0x800F0806, 0x8007007E). */
  warnings?: DismStepWarning[];
}
