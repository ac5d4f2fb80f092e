/**
 * The public API is chosen on purpose: src/index.ts names every export (no `export *`), and
 * docs/api.md lists exactly those names, one line each.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as lib from '../../src/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const indexSource = readFileSync(path.join(ROOT, 'src/index.ts'), 'utf8');
const apiDoc = readFileSync(path.join(ROOT, 'docs/api.md'), 'utf8');

/** Names in `export { a, type B } from '…'` clauses of src/index.ts. */
function indexNames(): string[] {
  const names: string[] = [];
  for (const m of indexSource.matchAll(/export\s*\{([^}]*)\}\s*from/g)) {
    for (const part of m[1]!.split(',')) {
      const n = part.trim().replace(/^type\s+/, '');
      if (n) names.push(n.split(/\s+as\s+/).pop()!);
    }
  }
  return names.sort();
}

/** Names documented in docs/api.md: list items that start with `name`. */
function documentedNames(): string[] {
  return [...apiDoc.matchAll(/^- `([A-Za-z_$][\w$]*)`/gm)].map((m) => m[1]!).sort();
}

describe('public API', () => {
  it('src/index.ts names its exports one by one', () => {
    expect(indexSource).not.toMatch(/export\s*\*/);
  });

  it('docs/api.md lists every export of src/index.ts, and nothing else', () => {
    const exported = indexNames(), documented = documentedNames();
    expect(documented.filter((n) => !exported.includes(n))).toEqual([]);
    expect(exported.filter((n) => !documented.includes(n))).toEqual([]);
    expect(new Set(documented).size).toBe(documented.length);
  });

  it('every runtime export of the module is a named, documented one', () => {
    const documented = new Set(documentedNames());
    expect(Object.keys(lib).filter((n) => !documented.has(n))).toEqual([]);
  });

  it('internals are not exported', () => {
    for (const n of ['countKinds', 'mumHead', 'parseLsdl', 'summarizeMum', 'bootMachineStep']) expect(n in lib).toBe(false);
  });
});
