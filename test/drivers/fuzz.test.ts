/**
 * Bad input is normal input, for the text formats too: real INFs (virtio-win) with bytes
 * changed, lines cut or cut short, in ANSI and in UTF-16LE, parse or give one InfError with a
 * line; never a TypeError or a hang. Seeded, so a failure reproduces.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { rng } from '../helpers/rng.js';
import { MsuError } from '../../src/errors.js';
import { InfError, parseInf } from '../../src/drivers/inf.js';
import { checkDriverPackage } from '../../src/drivers/package.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PIECES = ['[', ']', '%', '"', ',', '=', ';', '\\', '\r\n', '\n', '\0', 'Strings', 'Version', '%x%', '[Manufacturer]'];

function mutate(text: string, rnd: (n: number) => number): string {
  const at = rnd(text.length + 1);
  switch (rnd(3)) {
    case 0:
      return text.slice(0, at) + PIECES[rnd(PIECES.length)] + text.slice(at);
    case 1:
      return text.slice(0, at) + text.slice(at + 1 + rnd(20));
    default:
      return text.slice(0, at);
  }
}

describe.skipIf(!hasCorpus)('mutated real INFs', () => {
  const dir = corpusPath('inf');
  // collected even when skipped: read the corpus only when it is there
  const infs = !hasCorpus ? [] : readdirSync(dir).filter((f) => /\.inf$/i.test(f)).map((f) => ({ f, text: readFileSync(`${dir}/${f}`, 'latin1') }));

  it('3,000 mutations, ANSI and UTF-16LE: parsed, or one InfError naming a line', () => {
    expect(infs.length).toBeGreaterThan(3);
    const rnd = rng(1059);
    let errors = 0;
    for (let i = 0; i < 3000; i++) {
      const { f, text } = infs[rnd(infs.length)]!;
      const m = mutate(text, rnd);
      const bytes = i % 2 ? Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(m, 'utf16le')]) : Buffer.from(m, 'latin1');
      try {
        parseInf(bytes, f);
      } catch (e) {
        if (!(e instanceof MsuError)) throw new Error(`${f} mutation ${i}: ${(e as Error).stack}`);
        expect(e.describe().startsWith(`${f}:`), e.describe()).toBe(true);
        if (e instanceof InfError) expect(e.line, e.describe()).toBeGreaterThan(0);
        errors++;
      }
    }
    // some mutations break the syntax, most leave a parseable INF
    expect(errors).toBeGreaterThan(30);
  });

  it('driver check on packages holding a mutated INF: a report with counted findings, or one MsuError', async () => {
    const rnd = rng(25);
    const root = mkdtempSync(path.join(os.tmpdir(), 'msu-inffuzz-'));
    try {
      let reports = 0;
      for (let i = 0; i < 40; i++) {
        const d = path.join(root, `p${i}`);
        mkdirSync(d);
        const { f, text } = infs[rnd(infs.length)]!;
        writeFileSync(path.join(d, f), mutate(text, rnd), 'latin1');
        try {
          const r = await checkDriverPackage(d, { device: 'virtio-sound-pci' });
          expect(r.errors).toBe(r.findings.filter((x) => x.level === 'error').length);
          reports++;
        } catch (e) {
          if (!(e instanceof MsuError)) throw e;
        }
      }
      expect(reports).toBeGreaterThan(0);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
