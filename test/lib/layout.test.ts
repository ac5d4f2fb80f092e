/**
 * The layout shows the architecture (docs/development.md, "Layout"): every file of src/ sits on a
 * floor and imports only from its own floor or below, and neither files nor folders import each
 * other in a cycle. Static imports, re-exports, `import type` and dynamic `import()` all count:
 * a type-only edge is still a dependency of the design.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

/** Floor of each top-level folder (or root file) of src/; higher floors may use lower ones. */
const FLOORS: Record<string, number> = {
  util: 1, 'errors.ts': 1, 'version.ts': 1,
  cab: 2, wim: 2, iso: 2, delta: 2, pe: 2, cbs: 2, drivers: 2, scancab: 2,
  msu: 3,
  plan: 4, verify: 4, expand: 4,
  vm: 5,
  cli: 6,
  'index.ts': 7,
};

function sources(dir = SRC, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const abs = path.join(dir, name), r = rel ? `${rel}/${name}` : name;
    if (statSync(abs).isDirectory()) out.push(...sources(abs, r));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(r);
  }
  return out;
}

/** The folder (or root file) a source path belongs to: its unit on the floor plan. */
const unitOf = (file: string): string => file.split('/')[0]!;

/** Import graph of src/: file -> files it imports (relative specifiers only; packages are not ours). */
function importGraph(): Map<string, string[]> {
  const files = sources();
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(path.join(SRC, file), 'utf8'), true, true);
    const deps = new Set<string>();
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), fileName)).replace(/\.js$/, '.ts');
      const resolved = known.has(target) ? target : known.has(`${target}/index.ts`) ? `${target}/index.ts` : undefined;
      if (!resolved) throw new Error(`${file}: import '${fileName}' does not resolve to a file of src/`);
      deps.add(resolved);
    }
    graph.set(file, [...deps].sort());
  }
  return graph;
}

/** Strongly connected components with more than one member (or a self-loop): the cycles. */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>();
  const stack: string[] = [], out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index); low.set(v, index); index++;
    stack.push(v); onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do { w = stack.pop()!; onStack.delete(w); comp.push(w); } while (w !== v);
      if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(comp.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out.sort((a, b) => (a[0]! < b[0]! ? -1 : 1));
}

function folderGraph(graph: Map<string, string[]>): Map<string, string[]> {
  const out = new Map<string, Set<string>>();
  for (const [file, deps] of graph) {
    const from = unitOf(file);
    const set = out.get(from) ?? new Set<string>();
    out.set(from, set);
    for (const d of deps) if (unitOf(d) !== from) set.add(unitOf(d));
  }
  return new Map([...out].map(([k, v]) => [k, [...v].sort()]));
}

describe('source layout', () => {
  const graph = importGraph();

  it('every folder of src/ has a floor', () => {
    const unplaced = [...new Set([...graph.keys()].map(unitOf))].filter((u) => !(u in FLOORS));
    expect(unplaced).toEqual([]);
  });

  it('no file imports from a higher floor', () => {
    const upward: string[] = [];
    for (const [file, deps] of graph) {
      for (const d of deps) {
        const a = FLOORS[unitOf(file)], b = FLOORS[unitOf(d)];
        if (a !== undefined && b !== undefined && b > a) upward.push(`${file} (floor ${a}) -> ${d} (floor ${b})`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('no import cycle between files', () => {
    expect(cycles(graph)).toEqual([]);
  });

  it('no import cycle between folders', () => {
    expect(cycles(folderGraph(graph))).toEqual([]);
  });

  it('the checker itself sees cycles and dynamic imports', () => {
    const g = new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]]);
    expect(cycles(g)).toEqual([['a', 'b', 'c']]);
    const dyn = ts.preProcessFile("const m = await import('./x.js'); import type { T } from './y.js';", true, true);
    expect(dyn.importedFiles.map((f) => f.fileName)).toEqual(['./x.js', './y.js']);
  });
});

describe('one comparator', () => {
  it('no source file orders strings by locale (localeCompare, Intl.Collator): output would follow LANG', () => {
    // src/util/compare.ts byCode is the one string comparator (code-unit order)
    const offenders = sources().filter((f) => /\.localeCompare\(|Intl\.Collator/.test(readFileSync(path.join(SRC, f), 'utf8')));
    expect(offenders).toEqual([]);
  });
});
