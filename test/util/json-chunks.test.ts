import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalJsonChunks, readJsonFile } from '../../src/util/json.js';
import { rng } from '../helpers/rng.js';

// Values of every JSON shape, nested, with keys in random order and strings that need escaping.
function value(r: (n: number) => number, depth: number): unknown {
  const pick = r(depth > 3 ? 5 : 8);
  if (pick === 0) return null;
  if (pick === 1) return r(2) === 0;
  if (pick === 2) return r(100000) - 50000;
  if (pick === 3) return ['', 'a"b', 'line\nbreak', '\u00e9\u2028', 'tab\t'][r(5)];
  if (pick === 4) return undefined;
  if (pick === 5) return Array.from({ length: r(4) }, () => value(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = r(5); i > 0; i--) o[['z', 'a', 'm', 'updates', 'k"q', 'b\n'][r(6)]!] = value(r, depth + 1);
  return o;
}

describe('canonicalJsonChunks', () => {
  it('joined, is byte for byte canonicalJson of the whole object (array key anywhere, empty or not)', () => {
    const r = rng(20261203);
    for (let n = 0; n < 500; n++) {
      const head = value(r, 2);
      const h = head && typeof head === 'object' && !Array.isArray(head) ? (head as Record<string, unknown>) : {};
      const key = ['updates', 'a', 'zz', 'm'][r(4)]!;
      const items = Array.from({ length: r(4) }, () => value(r, 1));
      const whole = canonicalJson({ ...h, [key]: items });
      expect([...canonicalJsonChunks(h, key, items)].join('')).toBe(whole);
      JSON.parse(whole);
    }
  });

  it('takes its items lazily, one at a time', () => {
    let made = 0;
    const items = function* () {
      for (let i = 0; i < 3; i++) { made++; yield { i }; }
    };
    const it = canonicalJsonChunks({ file: 'x' }, 'updates', items());
    const first = [it.next().value, it.next().value];
    expect(first.join('')).toBe('{\n  "file": "x",\n');
    expect(made).toBe(0);
    it.next();
    expect(made).toBe(1);
  });
});

describe('readJsonFile', () => {
  it('reads a file with a UTF-8 byte order mark (as Windows editors write it); bad JSON names the file', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'msu-json-'));
    try {
      await writeFile(path.join(dir, 'bom.json'), '\ufeff{"a": [1, "é"]}');
      expect(await readJsonFile(path.join(dir, 'bom.json'), 'E_T')).toEqual({ a: [1, 'é'] });
      await writeFile(path.join(dir, 'bad.json'), '\ufeff\ufeff{}');
      await expect(readJsonFile(path.join(dir, 'bad.json'), 'E_T', 'plan file')).rejects.toMatchObject({ code: 'E_T', file: path.join(dir, 'bad.json') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
