/**
 * Bad input is normal input: a cabinet (and an MSU around it) with random bytes changed,
 * cut short or with a run overwritten must give a clean outcome for every reader: success,
 * or one MsuError. Never a TypeError/RangeError from inside the engine, never a hang, and a
 * failed extraction leaves nothing behind. Seeded, so a failure reproduces.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rng, uniform } from '../helpers/rng.js';
import { Cabinet } from '../../src/cab/cabinet.js';
import { buildCabinet } from '../../src/cab/writer.js';
import { MsuError } from '../../src/errors.js';
import { inspectFile } from '../../src/msu/inspect.js';
import { buildSyntheticMsu, SAMPLE_OPTIONS } from '../../src/msu/synthetic.js';
import { BufferSource } from '../../src/util/source.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-fuzz-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** One of: flip a few bytes, cut the end, overwrite a run with 0x00 or 0xFF. */
function mutate(good: Uint8Array, rnd: (n: number) => number): Uint8Array {
  const b = Buffer.from(good);
  switch (rnd(4)) {
    case 0:
      for (let k = 1 + rnd(4); k > 0; k--) b[rnd(b.length)] = rnd(256);
      return b;
    case 1:
      return b.subarray(0, rnd(b.length));
    case 2: {
      const at = rnd(b.length);
      b.fill(rnd(2) ? 0xff : 0x00, at, Math.min(b.length, at + 1 + rnd(64)));
      return b;
    }
    default: {
      // header fields are what a hostile file aims at: hit the first 200 bytes
      const at = rnd(Math.min(200, b.length));
      b.writeUInt32LE(rnd(2) ? 0xffffffff : rnd(1 << 20), Math.min(at, b.length - 4));
      return b;
    }
  }
}

/** Seeded noise: the same cabinet, and so the same 600 mutants, on every run. */
function noise(len: number, seed: number): Buffer {
  const r = uniform(seed);
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = Math.floor(r() * 256);
  return b;
}

const text = (i: number): Buffer => Buffer.from(`<file name="f${i}.dll" destinationPath="$(runtime.system32)\\"/>\n`.repeat(40 + i));

async function exercise(bytes: Uint8Array, name: string, verify: boolean): Promise<string> {
  let cab: Cabinet;
  try {
    cab = await Cabinet.open(new BufferSource(bytes, name));
  } catch (e) {
    if (e instanceof MsuError) return 'open-error';
    throw e;
  }
  const dest = mkdtempSync(path.join(root, 'x-'));
  try {
    await cab.extract(dest, { verifyChecksums: verify });
    return 'ok';
  } catch (e) {
    if (!(e instanceof MsuError)) throw e;
    expect(readdirSync(dest), `${name}: partial output after "${e.message}"`).toEqual([]);
    return 'extract-error';
  } finally {
    rmSync(dest, { recursive: true, force: true });
  }
}

describe('mutated cabinets', () => {
  const build = () => buildCabinet({
    folders: [
      { compression: 'mszip', files: Array.from({ length: 12 }, (_, i) => ({ name: `m\\${i}.manifest`, data: text(i) })) },
      { compression: 'none', files: [{ name: 'bin\\a.dll', data: noise(40_000, 4242) }, { name: 'empty', data: new Uint8Array(0) }] },
    ],
    reserve: { header: 20, folder: 4, data: 2 },
  });
  const good = build();

  it('the fixture is the same bytes on every run (no unseeded randomness)', () => {
    expect(Buffer.from(build()).equals(Buffer.from(good))).toBe(true);
    expect(noise(16, 4242).equals(noise(16, 4242))).toBe(true);
    expect(noise(16, 4242).equals(noise(16, 4243))).toBe(false);
  });

  it('600 mutations: success or one MsuError, and nothing partial on disk', async () => {
    const rnd = rng(20261123);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 600; i++) {
      // without checksum verification, damaged data reaches the decoders themselves
      const o = await exercise(mutate(good, rnd), `m${i}.cab`, i % 2 === 0);
      outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    // the mutations reach every stage: header checks, checksums, decoders, and some survive
    expect(outcomes['open-error']).toBeGreaterThan(0);
    expect(outcomes['extract-error']).toBeGreaterThan(100);
    expect(outcomes.ok).toBeGreaterThan(5);
  }, 60_000);
});

/**
 * The same, read from a file: the reader then recycles its buffers and reads ahead
 * (FileSource.readInto), and an inner cabinet stored in an outer one is read in place
 * (StoredFolderSource.readInto) with its CFDATA headers squeezed out.
 */
async function exerciseFile(bytes: Uint8Array, name: string, verify: boolean, inner?: string): Promise<string> {
  const file = path.join(root, name);
  writeFileSync(file, bytes);
  const dest = mkdtempSync(path.join(root, 'x-'));
  let cab: Cabinet | undefined;
  try {
    cab = await Cabinet.openFile(file);
    const target = inner ? cab.find(inner) : undefined;
    const src = target ? cab.storedSource(target) : null;
    const what = src ? await Cabinet.open(src) : cab;
    await what.extract(dest, { verifyChecksums: verify });
    return 'ok';
  } catch (e) {
    if (!(e instanceof MsuError)) throw new Error(`${name}: ${(e as Error).stack}`);
    expect(readdirSync(dest), `${name}: partial output after "${e.message}"`).toEqual([]);
    return 'error';
  } finally {
    await cab?.close();
    rmSync(dest, { recursive: true, force: true });
    rmSync(file, { force: true });
  }
}

describe('mutated cabinets read from files', () => {
  const big = (seed: number) => buildCabinet({
    folders: [
      { compression: 'mszip', files: Array.from({ length: 40 }, (_, i) => ({ name: `m\\${i}.manifest`, data: text(i * 3) })) },
      { compression: 'none', files: [{ name: 'bin\\a.dll', data: noise(300_000, seed) }] },
    ],
    reserve: { header: 20, folder: 4, data: 2 },
  });

  it('200 mutations of a cabinet on disk: success or one MsuError, nothing partial', async () => {
    const good = big(77);
    const rnd = rng(20261204);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const o = await exerciseFile(mutate(good, rnd), `f${i}.cab`, i % 2 === 0);
      outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    expect(outcomes.error).toBeGreaterThan(50);
    expect(outcomes.ok).toBeGreaterThan(5);
  }, 120_000);

  it('200 mutations of an outer cabinet storing an inner one, the inner extracted in place', async () => {
    const inner = big(78);
    const outer = buildCabinet({ folders: [{ compression: 'none', files: [{ name: 'x.txt', data: noise(5000, 1) }, { name: 'inner.cab', data: inner }] }], reserve: { data: 3 } });
    // unmutated, it extracts to the inner cabinet's members
    expect(await exerciseFile(outer, 'outer-good.cab', true, 'inner.cab')).toBe('ok');
    const rnd = rng(20261205);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const o = await exerciseFile(mutate(outer, rnd), `o${i}.cab`, i % 2 === 0, 'inner.cab');
      outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    expect(outcomes.error).toBeGreaterThan(30);
    expect(outcomes.ok).toBeGreaterThan(5);
  }, 120_000);
});

describe.skipIf(!hasCorpus)('mutated real LZX cabinet (KB2883457)', () => {
  it('300 mutations of Microsoft\'s LZX data: success or one MsuError', async () => {
    const good = readFileSync(corpusPath('cab', 'Windows6.1-KB2883457-amd64.cab'));
    const rnd = rng(2883457);
    const outcomes: Record<string, number> = {};
    for (let i = 0; i < 300; i++) {
      const o = await exercise(mutate(good, rnd), `l${i}.cab`, i % 2 === 0);
      outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    expect(outcomes['extract-error']).toBeGreaterThan(50);
  }, 120_000);
});

describe('mutated MSUs', () => {
  it('300 mutations of the sample MSU: inspect answers or names the problem', async () => {
    const { msu } = buildSyntheticMsu(SAMPLE_OPTIONS);
    const rnd = rng(7);
    let errors = 0;
    for (let i = 0; i < 300; i++) {
      const f = path.join(root, `k${i}.msu`);
      writeFileSync(f, mutate(msu, rnd));
      try {
        await inspectFile(f);
      } catch (e) {
        if (!(e instanceof MsuError)) throw new Error(`k${i}.msu: ${(e as Error).stack}`);
        expect(e.describe()).toMatch(/^\S/);
        errors++;
      }
      rmSync(f);
    }
    // inspect reads headers and a few small members; most damage lands in payload it never reads
    expect(errors).toBeGreaterThan(5);
  }, 60_000);
});
