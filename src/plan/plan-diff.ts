import { FormatError } from '../errors.js';
import { parsePackageId, versionlessKey } from '../cbs/identity.js';
import { byCode } from '../util/compare.js';
import { type Plan, type PlanSkip, type PlanStep } from './plan-types.js';
import { compareVersions } from '../cbs/version.js';

/**
 * What changed between two plans, for review. Inputs are matched by path (ids may shift when
 * an input is added), steps by action and the versionless identities of their items (so an
 * LCU replaced by a newer one is a changed step, not a removal plus an addition).
 */
export interface PlanDiff {
  tool?: { old: string; new: string };
  target: TargetChange[];
  inputs: {
    added: Array<{ path: string; sha256: string; size: number }>;
    removed: Array<{ path: string; sha256: string; size: number }>;
    changed: Array<{ path: string; oldSha256: string; newSha256: string; oldSize: number; newSize: number }>;
  };
  /** Same package name (and token, arch, culture), different version. */
  versionBumps: Array<{ package: string; old: string[]; new: string[] }>;
  images: ImageDiff[];
  skipped: { added: SkipView[]; removed: SkipView[] };
  /** Changes of the scan cabinet or rules (`msu plan --scancab`), as for the target; absent when none. */
  scancab?: TargetChange[];
  /** Inputs (by path) whose scan-cabinet update changed: `KB… <UpdateId> (matched by …)`; absent when none. */
  updates?: Array<{ path: string; old?: string; new?: string }>;
}

export interface TargetChange {
  /** Dotted path in the target object, e.g. `images[index=1].version`. */
  field: string;
  old?: string;
  new?: string;
  /** For lists (installed packages): entries only in the new / old plan. */
  added?: string[];
  removed?: string[];
}

export interface StepView {
  n: number;
  action: string;
  items: string[];
  /** Input paths (not ids: ids shift between plans). */
  inputs: string[];
}

export interface ImageDiff {
  image: string;
  /** The image is only in the new plan (`added`) or only in the old one (`removed`). */
  status?: 'added' | 'removed';
  added: StepView[];
  removed: StepView[];
  changed: Array<{ old: StepView; new: StepView; what: string[] }>;
  /** Steps present in both whose order relative to the other common steps changed. */
  reordered: Array<{ action: string; items: string[]; oldN: number; newN: number }>;
}

export interface SkipView {
  input: string;
  item?: string;
  reason: string;
  detail: string;
  images?: string[];
}

function inputPaths(p: Plan): Map<string, string> {
  return new Map(p.inputs.map((i) => [i.id, i.path]));
}

function stepView(s: PlanStep, paths: Map<string, string>): StepView {
  return { n: s.n, action: s.action, items: [...s.items], inputs: s.inputs.map((i) => paths.get(i) ?? i) };
}

function lineOf(item: string): string {
  try {
    return versionlessKey(parsePackageId(item));
  } catch {
    return item.toLowerCase();
  }
}

function stepKey(s: StepView): string {
  return `${s.action}|${s.items.map(lineOf).sort(byCode).join('+')}`;
}

/** Longest common subsequence of two key lists: the steps that kept their relative order. */
function lcs(a: string[], b: string[]): Set<string> {
  const m = a.length, n = b.length;
  const t: number[][] = Array.from({ length: m + 1 }, () => new Array<number>(n + 1).fill(0));
  for (let i = m - 1; i >= 0; i--) for (let j = n - 1; j >= 0; j--) t[i]![j] = a[i] === b[j] ? t[i + 1]![j + 1]! + 1 : Math.max(t[i + 1]![j]!, t[i]![j + 1]!);
  const keep = new Set<string>();
  let i = 0, j = 0;
  while (i < m && j < n) {
    if (a[i] === b[j]) {
      keep.add(a[i]!);
      i++;
      j++;
    } else if (t[i + 1]![j]! >= t[i]![j + 1]!) i++;
    else j++;
  }
  return keep;
}

function diffSteps(image: string, oldSteps: StepView[], newSteps: StepView[]): ImageDiff {
  const d: ImageDiff = { image, added: [], removed: [], changed: [], reordered: [] };
  // Keys are made unique by occurrence so two identical steps (rare) still pair up one to one.
  const keyed = (steps: StepView[]): Map<string, StepView> => {
    const seen = new Map<string, number>();
    const m = new Map<string, StepView>();
    for (const s of steps) {
      const k = stepKey(s);
      const c = (seen.get(k) ?? 0) + 1;
      seen.set(k, c);
      m.set(`${k}#${c}`, s);
    }
    return m;
  };
  const a = keyed(oldSteps), b = keyed(newSteps);
  for (const [k, s] of a) if (!b.has(k)) d.removed.push(s);
  for (const [k, s] of b) if (!a.has(k)) d.added.push(s);
  const common = [...a.keys()].filter((k) => b.has(k));
  for (const k of common) {
    const o = a.get(k)!, nw = b.get(k)!;
    const what: string[] = [];
    if (JSON.stringify(o.items) !== JSON.stringify(nw.items)) what.push('items');
    if (JSON.stringify(o.inputs) !== JSON.stringify(nw.inputs)) what.push('inputs');
    if (what.length) d.changed.push({ old: o, new: nw, what });
  }
  const newOrder = [...b.keys()].filter((k) => a.has(k));
  const kept = lcs(common, newOrder);
  for (const k of common) {
    if (kept.has(k)) continue;
    const o = a.get(k)!, nw = b.get(k)!;
    d.reordered.push({ action: nw.action, items: nw.items, oldN: o.n, newN: nw.n });
  }
  return d;
}

function imageDiffEmpty(d: ImageDiff): boolean {
  return !d.status && !d.added.length && !d.removed.length && !d.changed.length && !d.reordered.length;
}

type Flat = Map<string, string | string[]>;

/** Flatten the target into field → value; lists of strings stay lists (compared as sets); image lists are keyed by index. */
function flatten(v: unknown, prefix: string, out: Flat, depth = 0): Flat {
  // Plans come from files: a hostile one must not exhaust the stack.
  if (depth > 32) throw new FormatError('E_PLAN', `target is nested too deeply at ${prefix.slice(0, 80)}`);
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x !== 'object' || x === null)) {
      out.set(prefix, v.map(String));
      return out;
    }
    v.forEach((x, i) => {
      const idx = x && typeof x === 'object' && 'index' in x ? `index=${String((x as { index: unknown }).index)}` : String(i);
      flatten(x, `${prefix}[${idx}]`, out, depth + 1);
    });
    return out;
  }
  if (v && typeof v === 'object') {
    for (const k of Object.keys(v).sort(byCode)) flatten((v as Record<string, unknown>)[k], prefix ? `${prefix}.${k}` : k, out, depth + 1);
    return out;
  }
  if (v !== undefined) out.set(prefix, String(v));
  return out;
}

function diffTarget(a: unknown, b: unknown): TargetChange[] {
  const fa = flatten(a, '', new Map()), fb = flatten(b, '', new Map());
  const out: TargetChange[] = [];
  for (const k of [...new Set([...fa.keys(), ...fb.keys()])].sort(byCode)) {
    const x = fa.get(k), y = fb.get(k);
    if (Array.isArray(x) || Array.isArray(y)) {
      const xs = new Set(Array.isArray(x) ? x : x !== undefined ? [x] : []);
      const ys = new Set(Array.isArray(y) ? y : y !== undefined ? [y] : []);
      const added = [...ys].filter((e) => !xs.has(e)).sort(byCode);
      const removed = [...xs].filter((e) => !ys.has(e)).sort(byCode);
      const c: TargetChange = { field: k };
      if (added.length) c.added = added;
      if (removed.length) c.removed = removed;
      if (added.length || removed.length) out.push(c);
      continue;
    }
    if (x === y) continue;
    const c: TargetChange = { field: k };
    if (x !== undefined) c.old = x;
    if (y !== undefined) c.new = y;
    out.push(c);
  }
  return out;
}

function packageVersions(p: Plan): Map<string, { name: string; versions: Set<string> }> {
  const m = new Map<string, { name: string; versions: Set<string> }>();
  for (const i of p.inputs) {
    for (const pk of i.packages) {
      let id;
      try {
        id = parsePackageId(pk.identity);
      } catch {
        continue;
      }
      const k = versionlessKey(id);
      const e = m.get(k) ?? { name: `${id.name} (${id.processorArchitecture || 'neutral'}${id.language && id.language !== 'neutral' ? `, ${id.language}` : ''})`, versions: new Set<string>() };
      e.versions.add(id.version);
      m.set(k, e);
    }
  }
  return m;
}

const byVersion = (a: string, b: string): number => {
  try {
    return compareVersions(a, b);
  } catch {
    return byCode(a, b);
  }
};

function skipView(s: PlanSkip, paths: Map<string, string>): SkipView {
  const v: SkipView = { input: paths.get(s.input) ?? s.input, reason: s.reason, detail: s.detail.replace(/\(in (in\d+)\)/g, (_, id: string) => `(in ${paths.get(id) ?? id})`) };
  if (s.item !== undefined) v.item = s.item;
  if (s.images) v.images = [...s.images];
  return v;
}

/** Differences from plan `a` (old) to plan `b` (new). Two identical plans give an empty diff (isEmptyDiff). */
export function diffPlans(a: Plan, b: Plan): PlanDiff {
  const pa = inputPaths(a), pb = inputPaths(b);
  let target: TargetChange[];
  try {
    target = diffTarget(a.target, b.target);
  } catch (err) {
    if (err instanceof RangeError) throw new FormatError('E_PLAN', 'target is nested too deeply');
    throw err;
  }
  const d: PlanDiff = {
    target,
    inputs: { added: [], removed: [], changed: [] },
    versionBumps: [],
    images: [],
    skipped: { added: [], removed: [] },
  };
  if (a.tool.version !== b.tool.version) d.tool = { old: a.tool.version, new: b.tool.version };

  const ia = new Map(a.inputs.map((i) => [i.path, i])), ib = new Map(b.inputs.map((i) => [i.path, i]));
  for (const [p, i] of ia) if (!ib.has(p)) d.inputs.removed.push({ path: p, sha256: i.sha256, size: i.size });
  for (const [p, i] of ib) {
    const o = ia.get(p);
    if (!o) d.inputs.added.push({ path: p, sha256: i.sha256, size: i.size });
    else if (o.sha256 !== i.sha256 || o.size !== i.size) d.inputs.changed.push({ path: p, oldSha256: o.sha256, newSha256: i.sha256, oldSize: o.size, newSize: i.size });
  }
  for (const l of [d.inputs.added, d.inputs.removed, d.inputs.changed]) l.sort((x, y) => byCode(x.path, y.path));

  const sc = diffTarget(a.scancab ?? {}, b.scancab ?? {});
  if (sc.length) d.scancab = sc;
  const upd = (i: Plan['inputs'][number] | undefined): string | undefined =>
    i?.scan ? `${i.scan.kb ? `KB${i.scan.kb} ` : ''}${i.scan.updateId} (matched by ${i.scan.matchedBy})` : undefined;
  const updates: NonNullable<PlanDiff['updates']> = [];
  for (const p of [...new Set([...ia.keys(), ...ib.keys()])].sort(byCode)) {
    const x = upd(ia.get(p)), y = upd(ib.get(p));
    if (x === y) continue;
    const e: { path: string; old?: string; new?: string } = { path: p };
    if (x !== undefined) e.old = x;
    if (y !== undefined) e.new = y;
    updates.push(e);
  }
  if (updates.length) d.updates = updates;

  const va = packageVersions(a), vb = packageVersions(b);
  for (const [k, x] of [...va].sort((p, q) => byCode(p[0], q[0]))) {
    const y = vb.get(k);
    if (!y) continue;
    const o = [...x.versions].sort(byVersion), n = [...y.versions].sort(byVersion);
    if (JSON.stringify(o) !== JSON.stringify(n)) d.versionBumps.push({ package: x.name, old: o, new: n });
  }

  const imgA = new Map(a.images.map((i) => [i.image, i])), imgB = new Map(b.images.map((i) => [i.image, i]));
  const order = [...b.images.map((i) => i.image), ...a.images.map((i) => i.image).filter((n) => !imgB.has(n))];
  for (const name of order) {
    const x = imgA.get(name), y = imgB.get(name);
    const id = diffSteps(name, (x?.steps ?? []).map((s) => stepView(s, pa)), (y?.steps ?? []).map((s) => stepView(s, pb)));
    if (!x) id.status = 'added';
    if (!y) id.status = 'removed';
    if (!imageDiffEmpty(id)) d.images.push(id);
  }

  const key = (s: SkipView): string => JSON.stringify([s.input, s.item ?? '', s.reason, s.detail, s.images ?? []]);
  const sa = new Map(a.skipped.map((s) => skipView(s, pa)).map((s) => [key(s), s]));
  const sb = new Map(b.skipped.map((s) => skipView(s, pb)).map((s) => [key(s), s]));
  for (const [k, s] of sb) if (!sa.has(k)) d.skipped.added.push(s);
  for (const [k, s] of sa) if (!sb.has(k)) d.skipped.removed.push(s);
  return d;
}

export function isEmptyDiff(d: PlanDiff): boolean {
  return !d.tool && !d.target.length && !d.inputs.added.length && !d.inputs.removed.length && !d.inputs.changed.length
    && !d.versionBumps.length && !d.images.length && !d.skipped.added.length && !d.skipped.removed.length
    && !d.scancab?.length && !d.updates?.length;
}

const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;
const short = (sha: string): string => sha.slice(0, 12);

function stepLine(s: StepView): string {
  if (s.action === 'cleanup-components' || s.action === 'reset-base') return `${s.n}. ${s.action}`;
  return `${s.n}. ${s.action} ${s.items.map(code).join(' + ')} from ${s.inputs.map(code).join(', ')}`;
}

/** Review-friendly Markdown; the empty string for an empty diff. */
export function formatPlanDiff(d: PlanDiff): string {
  if (isEmptyDiff(d)) return '';
  const out: string[] = ['# Plan changes', ''];
  const section = (title: string, lines: string[]): void => {
    if (!lines.length) return;
    out.push(`## ${title}`, '', ...lines, '');
  };
  section('Tool', d.tool ? [`- msu-toolkit ${d.tool.old} → ${d.tool.new}`] : []);
  section('Target', d.target.map((c) => {
    if (c.added || c.removed) {
      return [`- ${code(c.field)}:`, ...(c.added ?? []).map((x) => `  - added ${code(x)}`), ...(c.removed ?? []).map((x) => `  - removed ${code(x)}`)].join('\n');
    }
    return `- ${code(c.field)}: ${c.old !== undefined ? code(c.old) : '(none)'} → ${c.new !== undefined ? code(c.new) : '(none)'}`;
  }));
  section('Inputs', [
    ...d.inputs.added.map((i) => `- added ${code(i.path)} (sha256 ${short(i.sha256)}…, ${i.size} bytes)`),
    ...d.inputs.removed.map((i) => `- removed ${code(i.path)} (sha256 ${short(i.sha256)}…)`),
    ...d.inputs.changed.map((i) => `- **content changed** ${code(i.path)}: sha256 ${short(i.oldSha256)}… → ${short(i.newSha256)}…, ${i.oldSize} → ${i.newSize} bytes`),
  ]);
  section('Scan cabinet', (d.scancab ?? []).map((c) => {
    if (c.added || c.removed) return [`- ${code(c.field)}:`, ...(c.added ?? []).map((x) => `  - added ${code(x)}`), ...(c.removed ?? []).map((x) => `  - removed ${code(x)}`)].join('\n');
    return `- ${code(c.field)}: ${c.old !== undefined ? code(c.old) : '(none)'} → ${c.new !== undefined ? code(c.new) : '(none)'}`;
  }));
  section('Updates', (d.updates ?? []).map((u) => `- ${code(u.path)}: ${u.old ?? '(none)'} → ${u.new ?? '(none)'}`));
  section('Package versions', d.versionBumps.map((v) => `- ${v.package}: ${v.old.join(', ')} → ${v.new.join(', ')}`));
  for (const img of d.images) {
    const lines: string[] = [];
    if (img.status) lines.push(`- image ${img.status} in the new plan`);
    for (const s of img.added) lines.push(`- added step ${stepLine(s)}`);
    for (const s of img.removed) lines.push(`- removed step ${stepLine(s)}`);
    for (const c of img.changed) lines.push(`- changed step (${c.what.join(', ')}): ${stepLine(c.old)}  →  ${stepLine(c.new)}`);
    for (const r of img.reordered) lines.push(`- moved ${r.action} ${r.items.map(code).join(' + ')}: step ${r.oldN} → ${r.newN}`);
    section(`Image ${img.image}`, lines);
  }
  const skipLine = (s: SkipView): string => `${code(s.input)}${s.item ? ` ${code(s.item)}` : ''}: **${s.reason}**: ${s.detail}${s.images ? ` (${s.images.join(', ')})` : ''}`;
  section('Skipped', [...d.skipped.added.map((s) => `- newly skipped ${skipLine(s)}`), ...d.skipped.removed.map((s) => `- no longer skipped ${skipLine(s)}`)]);
  return out.join('\n').replace(/\n+$/, '\n');
}
