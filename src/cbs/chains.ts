import { byCode as cmpStr } from '../util/compare.js';
import type { CixBasis, CixFile, CixHash, ContainerIndex } from './container-index.js';

/**
 * What it takes to rebuild every File of a ContainerIndex (docs/cbs.md, "ContainerIndex"): which Sources are
 * RAW, which deltas are baseless, which chain onto other Files (and how deep), and which need a basis
 * from outside the container (the target image's WinSxS, a checkpoint). Works on the parsed cix alone
 * (plus the PSF size when known), so the caller may read the cix from a file, a CAB or an MSU.
 */

/**
 * raw: Source is RAW. baseless: a delta with no Basis (applied to empty).
 * file: a delta on another File of this index. external: a delta on a file known by length + hash.
 * location: a delta on a file found through a DeltaBasisSearch Location.
 * copy: no Source, only `<Basis file="N"/>`: the File is a copy of File N (same length and hash).
 */
export type BasisKind = 'raw' | 'baseless' | 'file' | 'external' | 'location' | 'copy';

/** Why a chain cannot be resolved inside the container. */
export type ChainEnd = 'ok' | 'cycle' | 'dangling';

export interface FileChain {
  id: number;
  name: string;
  /** Source@type, or '' when the File has no Source. */
  sourceType: string;
  kind: BasisKind;
  /**
   * File ids followed from this one (excluded) towards the root of the chain, for kind 'file'.
   * At most CHAIN_LIST_MAX ids (a deep chain would make the report quadratic); see chainTruncated.
   */
  chain: number[];
  chainTruncated?: boolean;
  /**
   * Delta applications needed to rebuild this File: 0 for RAW, 1 for a baseless / external / location
   * delta, 1 + the basis File's depth for a chained delta, the basis File's depth for a copy (a copy
   * applies nothing). Absent when the chain is broken.
   */
  depth?: number;
  end: ChainEnd;
  /** What the root of the chain needs from outside ('raw' or 'baseless' when nothing). */
  rootKind: BasisKind;
  /** File id at the root of the chain (this File when it is not chained). */
  rootId: number;
  component?: string;
  /** `f` forward, `r` reverse, `n` null delta folder (PSFX layout `<component>\f\<file>`). */
  subfolder?: string;
}

export type DeltaProblem =
  | { kind: 'cycle'; files: number[] }
  | { kind: 'dangling-basis'; file: number; basis: number }
  | { kind: 'dangling-location'; file: number; loc: number }
  | { kind: 'no-source'; file: number }
  | { kind: 'copy-differs'; file: number; basis: number }
  | { kind: 'source-out-of-range'; file: number; offset: number; length: number; psfSize: number }
  | { kind: 'overlapping-sources'; files: [number, number]; ranges: [[number, number], [number, number]] };

export interface ExternalBasisNeed {
  /** The File whose delta needs this basis. */
  file: number;
  name: string;
  /** The file name under the component directory (`dcomp.dll`). */
  fileName: string;
  length?: number;
  hash?: CixHash;
  loc?: number;
  /** Location path (`{windir}\winsxs`) when loc names one. */
  locPath?: string;
}

export interface ExternalBasisGroup {
  component: string;
  subfolders: Array<{ subfolder: string; needs: ExternalBasisNeed[] }>;
}

export interface SourceTypeTotal {
  files: number;
  /** Sum of Source@length where given (PSF containers). */
  sourceBytes: number;
  /** Sum of File@length (rebuilt size). */
  targetBytes: number;
}

export interface DeltaReport {
  container: { name: string; type: string; length?: number; version?: string };
  fileCount: number;
  psfSize?: number;
  /** Per Source@type, keys sorted. */
  sourceTypes: Record<string, SourceTypeTotal>;
  kinds: Record<BasisKind, number>;
  /** Files rebuilt by applying a delta (baseless, chained, external or location): copies and RAW files apply none. */
  deltaApplications: number;
  /** Files per chain depth ("0", "1", ...), only for resolvable chains. */
  depths: Record<string, number>;
  maxDepth: number;
  /** Bytes of the PSF covered by more than one File with the same exact range (deduplicated streams). */
  sharedRanges: number;
  /** Sorted by file id (numeric). */
  files: FileChain[];
  /** External bases needed, grouped by component directory then f/r/n subfolder, sorted. */
  externalBases: ExternalBasisGroup[];
  externalBasisCount: number;
  /** Sorted: by kind, then first file id. */
  problems: DeltaProblem[];
}

/** Split `<component>\f\<file>` into its parts; other shapes keep the directory as component. */
export function splitCixName(name: string): { component: string; subfolder: string; fileName: string } {
  const parts = name.split(/[\\/]/);
  const fileName = parts[parts.length - 1] ?? name;
  if (parts.length >= 3 && /^[frn]$/i.test(parts[parts.length - 2]!)) {
    return { component: parts.slice(0, -2).join('\\'), subfolder: parts[parts.length - 2]!.toLowerCase(), fileName };
  }
  return { component: parts.slice(0, -1).join('\\'), subfolder: '', fileName };
}

function directKind(f: CixFile): BasisKind {
  if (!f.source && f.basis?.file !== undefined) return 'copy';
  if (!f.source || f.source.type.toUpperCase() === 'RAW') return 'raw';
  const b: CixBasis | undefined = f.basis;
  if (!b) return 'baseless';
  if (b.file !== undefined) return 'file';
  if (b.length !== undefined || b.hash !== undefined) return 'external';
  return 'location';
}

/** Longest `chain` list reported per File; real Basis chains are a handful of Files long. */
export const CHAIN_LIST_MAX = 32;

interface Resolved {
  depth?: number;
  end: ChainEnd;
  rootKind: BasisKind;
  rootId: number;
}

export function analyzeDeltas(cix: ContainerIndex, opts: { psfSize?: number } = {}): DeltaReport {
  const byId = new Map<number, CixFile>();
  for (const f of cix.files) byId.set(f.id, f);
  const ids = [...byId.keys()].sort((a, b) => a - b);
  const locs = new Map(cix.locations.map((l) => [l.id, l]));
  const problems: DeltaProblem[] = [];

  // Each File has at most one Basis file, so the graph is functional: walk each path once with an
  // explicit stack, memoise, and a node met again on the current path closes a cycle.
  const resolved = new Map<number, Resolved>();
  for (const start of ids) {
    if (resolved.has(start)) continue;
    const path: number[] = [];
    const onPath = new Map<number, number>();
    let cur: number | undefined = start;
    let tail: Resolved | undefined;
    while (cur !== undefined) {
      const done = resolved.get(cur);
      if (done) {
        tail = done;
        break;
      }
      if (onPath.has(cur)) {
        const cycle = path.slice(onPath.get(cur)!);
        problems.push({ kind: 'cycle', files: [...cycle].sort((a, b) => a - b) });
        for (const id of cycle) resolved.set(id, { end: 'cycle', rootKind: 'file', rootId: id });
        path.length = onPath.get(cur)!;
        tail = resolved.get(cur);
        break;
      }
      onPath.set(cur, path.length);
      path.push(cur);
      const f = byId.get(cur)!;
      const kind = directKind(f);
      if (kind !== 'file' && kind !== 'copy') {
        path.pop();
        tail = { depth: kind === 'raw' ? 0 : 1, end: 'ok', rootKind: kind, rootId: cur };
        resolved.set(cur, tail);
        break;
      }
      const next: number = f.basis!.file!;
      if (!byId.has(next)) {
        problems.push({ kind: 'dangling-basis', file: cur, basis: next });
        path.pop();
        tail = { end: 'dangling', rootKind: 'file', rootId: cur };
        resolved.set(cur, tail);
        break;
      }
      cur = next;
    }
    // Unwind: everything left on the path chains onto `tail`; a delta adds one application, a copy none.
    for (let i = path.length - 1; i >= 0; i--) {
      const t: Resolved = tail!;
      const step = directKind(byId.get(path[i]!)!) === 'copy' ? 0 : 1;
      const r: Resolved = {
        end: t.end,
        rootKind: t.rootKind,
        rootId: t.rootId,
        ...(t.depth === undefined ? {} : { depth: t.depth + step }),
      };
      resolved.set(path[i]!, r);
      tail = r;
    }
  }

  const files: FileChain[] = [];
  const sourceTypes: Record<string, SourceTypeTotal> = {};
  const kinds: Record<BasisKind, number> = { raw: 0, baseless: 0, file: 0, external: 0, location: 0, copy: 0 };
  const depths: Record<string, number> = {};
  let maxDepth = 0;
  for (const id of ids) {
    const f = byId.get(id)!;
    const r = resolved.get(id)!;
    const kind = directKind(f);
    const chain: number[] = [];
    let chainTruncated = false;
    if (kind === 'file' || kind === 'copy') {
      const seen = new Set<number>([id]);
      for (let n = f.basis!.file; n !== undefined && !seen.has(n); ) {
        if (chain.length === CHAIN_LIST_MAX) {
          chainTruncated = true;
          break;
        }
        chain.push(n);
        seen.add(n);
        const g = byId.get(n);
        n = g && (directKind(g) === 'file' || directKind(g) === 'copy') ? g.basis!.file : undefined;
      }
    }
    const { component, subfolder } = splitCixName(f.name);
    files.push({
      id,
      name: f.name,
      sourceType: f.source?.type ?? '',
      kind,
      chain,
      ...(chainTruncated ? { chainTruncated } : {}),
      ...(r.depth === undefined ? {} : { depth: r.depth }),
      end: r.end,
      rootKind: r.rootKind,
      rootId: r.rootId,
      ...(component ? { component } : {}),
      ...(subfolder ? { subfolder } : {}),
    });
    kinds[kind]++;
    if (r.depth !== undefined) {
      depths[String(r.depth)] = (depths[String(r.depth)] ?? 0) + 1;
      maxDepth = Math.max(maxDepth, r.depth);
    }
    const type = f.source?.type ?? (kind === 'copy' ? '(copy)' : '(none)');
    const t = (sourceTypes[type] ??= { files: 0, sourceBytes: 0, targetBytes: 0 });
    t.files++;
    t.sourceBytes += f.source?.length ?? 0;
    t.targetBytes += f.length;
    if (!f.source && kind !== 'copy') problems.push({ kind: 'no-source', file: id });
    if (kind === 'copy') {
      const b = byId.get(f.basis!.file!);
      // A copy repeats its Basis: the same length, and the same hash when both give one.
      const differs = b !== undefined && (b.length !== f.length || (f.hash !== undefined && b.hash !== undefined && (f.hash.alg.toUpperCase() !== b.hash.alg.toUpperCase() || f.hash.value !== b.hash.value)));
      if (differs) problems.push({ kind: 'copy-differs', file: id, basis: b.id });
    }
    if (kind === 'location' || (kind === 'external' && f.basis!.loc !== undefined)) {
      if (!locs.has(f.basis!.loc!)) problems.push({ kind: 'dangling-location', file: id, loc: f.basis!.loc! });
    }
  }

  const sharedRanges = checkRanges(ids.map((id) => byId.get(id)!), opts.psfSize, problems);

  return {
    container: { name: cix.name, type: cix.type, length: cix.length, version: cix.version },
    fileCount: ids.length,
    ...(opts.psfSize === undefined ? {} : { psfSize: opts.psfSize }),
    sourceTypes: sortRecord(sourceTypes),
    kinds,
    deltaApplications: kinds.baseless + kinds.file + kinds.external + kinds.location,
    depths: sortRecord(depths, (a, b) => Number(a) - Number(b)),
    maxDepth,
    sharedRanges,
    files,
    ...externalBases(files, byId, locs),
    problems: sortProblems(problems),
  };
}

/** Out-of-range and overlapping PSF ranges; returns the bytes shared by Files with identical ranges. */
function checkRanges(files: CixFile[], psfSize: number | undefined, problems: DeltaProblem[]): number {
  const ranges: Array<{ id: number; start: number; end: number }> = [];
  for (const f of files) {
    const s = f.source;
    if (!s || s.offset === undefined || s.length === undefined) continue;
    if (psfSize !== undefined && s.offset + s.length > psfSize) {
      problems.push({ kind: 'source-out-of-range', file: f.id, offset: s.offset, length: s.length, psfSize });
    }
    if (s.length > 0) ranges.push({ id: f.id, start: s.offset, end: s.offset + s.length });
  }
  ranges.sort((a, b) => a.start - b.start || a.end - b.end || a.id - b.id);
  let shared = 0;
  // Sweep keeping the range reaching furthest so far; an identical range is a shared stream, not a clash.
  let reach: { id: number; start: number; end: number } | undefined;
  for (const r of ranges) {
    if (reach && r.start < reach.end) {
      if (r.start === reach.start && r.end === reach.end) shared += r.end - r.start;
      else {
        const [a, b] = reach.id < r.id ? [reach, r] : [r, reach];
        problems.push({ kind: 'overlapping-sources', files: [a.id, b.id], ranges: [[a.start, a.end], [b.start, b.end]] });
      }
    }
    if (!reach || r.end > reach.end) reach = r;
  }
  return shared;
}

function externalBases(
  files: FileChain[],
  byId: Map<number, CixFile>,
  locs: Map<number, { path: string }>,
): { externalBases: ExternalBasisGroup[]; externalBasisCount: number } {
  const groups = new Map<string, Map<string, ExternalBasisNeed[]>>();
  let count = 0;
  for (const fc of files) {
    if (fc.kind !== 'external' && fc.kind !== 'location') continue;
    const f = byId.get(fc.id)!;
    const b = f.basis!;
    const { component, subfolder, fileName } = splitCixName(f.name);
    const need: ExternalBasisNeed = { file: f.id, name: f.name, fileName };
    if (b.length !== undefined) need.length = b.length;
    if (b.hash) need.hash = b.hash;
    if (b.loc !== undefined) {
      need.loc = b.loc;
      const l = locs.get(b.loc);
      if (l) need.locPath = l.path;
    }
    const bySub = groups.get(component) ?? new Map<string, ExternalBasisNeed[]>();
    groups.set(component, bySub);
    const list = bySub.get(subfolder) ?? [];
    bySub.set(subfolder, list);
    list.push(need);
    count++;
  }
  const out: ExternalBasisGroup[] = [...groups.keys()].sort(cmpStr).map((component) => {
    const bySub = groups.get(component)!;
    return {
      component,
      subfolders: [...bySub.keys()].sort(cmpStr).map((subfolder) => ({
        subfolder,
        needs: bySub.get(subfolder)!.sort((a, b) => a.file - b.file),
      })),
    };
  });
  return { externalBases: out, externalBasisCount: count };
}


function sortRecord<T>(r: Record<string, T>, cmp: (a: string, b: string) => number = cmpStr): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(r).sort(cmp)) out[k] = r[k]!;
  return out;
}

function firstId(p: DeltaProblem): number {
  return 'file' in p ? p.file : p.files[0];
}

function sortProblems(ps: DeltaProblem[]): DeltaProblem[] {
  return ps.sort((a, b) => cmpStr(a.kind, b.kind) || firstId(a) - firstId(b));
}

/** One line per problem, for the CLI and logs. */
export function describeProblem(p: DeltaProblem): string {
  switch (p.kind) {
    case 'cycle':
      return `Basis cycle between File ids ${p.files.join(', ')}`;
    case 'dangling-basis':
      return `File ${p.file}: Basis file ${p.basis} is not in the index`;
    case 'dangling-location':
      return `File ${p.file}: Basis loc ${p.loc} is not a DeltaBasisSearch Location`;
    case 'no-source':
      return `File ${p.file}: no Delta/Source`;
    case 'copy-differs':
      return `File ${p.file}: a copy of Basis File ${p.basis}, but its length or hash differs from that File`;
    case 'source-out-of-range':
      return `File ${p.file}: Source ${p.offset}+${p.length} ends past the PSF (${p.psfSize} bytes)`;
    case 'overlapping-sources':
      return `Files ${p.files[0]} and ${p.files[1]}: Source ranges ${p.ranges[0][0]}-${p.ranges[0][1]} and ${p.ranges[1][0]}-${p.ranges[1][1]} overlap`;
  }
}
