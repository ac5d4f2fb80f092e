// The LZX warm-up (src/cab/lzx-warmup.ts) is only worth its bytes if it takes every branch of the
// decoder's per-symbol and per-block code: a branch V8 has not seen run when it optimizes the symbol
// loop costs a deoptimization later, on real data. These tests pin the stream to its documented source,
// check what it decodes to, which branches it takes (V8's own block coverage of the built decoder), and
// that a real LZX:21 package then decodes without a single deoptimization for missing feedback.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { LzxDecoder } from '../../src/cab/lzx.js';
import { LZX_WARMUP_FRAMES, LZX_WARMUP_MIN_BYTES, LZX_WARMUP_WINDOW_BITS } from '../../src/cab/lzx-warmup.js';
import { ensureBuilt, msuBin, repoRoot } from '../helpers/built-cli.js';
import { corpusPath, hasCorpus } from '../helpers/corpus.js';
import { lzxEncode } from '../helpers/lzx-encode.js';
import { lzxWarmupData } from '../helpers/lzx-warmup-data.js';

describe('the LZX warm-up stream', () => {
  it('is exactly what the test encoder makes of test/helpers/lzx-warmup-data.ts', () => {
    const { data, options } = lzxWarmupData();
    const made = lzxEncode(data, options).map((c) => [Buffer.from(c.bytes).toString('base64'), c.cbUncomp]);
    // on a mismatch the diff shows the frames to put into src/cab/lzx-warmup.ts
    expect(LZX_WARMUP_FRAMES).toEqual(made);
  });

  it('decodes to that data', () => {
    const { data } = lzxWarmupData();
    const d = new LzxDecoder(LZX_WARMUP_WINDOW_BITS);
    const out = Buffer.concat(LZX_WARMUP_FRAMES.map(([b64, size]) => Buffer.from(d.decodeBlock(Buffer.from(b64, 'base64'), size))));
    expect(out.equals(Buffer.from(data))).toBe(true);
  });
});

describe('the warm-up takes every branch of the hot decoder code except its error exits', () => {
  beforeAll(() => ensureBuilt(), 600_000);

  /** V8's block coverage of dist/src/cab/lzx.js after `warmUpLzx(expected)` in a fresh process. */
  function coverageAfter(expected: number): Coverage['result'][number] {
    const dir = mkdtempSync(path.join(tmpdir(), 'msu-lzx-cov-'));
    try {
      const warmup = path.join(repoRoot, 'dist/src/cab/lzx-warmup.js');
      execFileSync(process.execPath, ['-e', `require(${JSON.stringify(warmup)}).warmUpLzx(${expected})`], {
        env: { ...process.env, NODE_V8_COVERAGE: dir },
      });
      const script = readdirSync(dir)
        .flatMap((f) => (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Coverage).result)
        .find((s) => s.url.endsWith('/dist/src/cab/lzx.js'));
      expect(script, 'coverage of lzx.js').toBeDefined();
      return script!;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('in V8 block coverage of dist/src/cab/lzx.js', () => {
    const src = readFileSync(path.join(repoRoot, 'dist/src/cab/lzx.js'), 'utf8');
    const script = coverageAfter(Infinity);
    const hot = ['runSymbols', 'decodeSymbols', 'readSymbol', 'readLengths', 'buildTable', 'readBlockHeader', 'copyUncompressed'];
    const seen = script.functions.filter((f) => hot.includes(f.functionName));
    expect(seen.map((f) => f.functionName).sort()).toEqual([...hot].sort());
    const notRun: string[] = [];
    for (const f of seen) {
      expect(f.ranges[0]!.count, `${f.functionName} runs`).toBeGreaterThan(0);
      for (const r of f.ranges) {
        const text = src.slice(r.startOffset, r.endOffset);
        if (r.count === 0 && !/\bthrow\b|\bbad = /.test(text)) notRun.push(`${f.functionName}: ${text.slice(0, 120)}`);
      }
    }
    expect(notRun).toEqual([]);
  });

  it('and is skipped before a decode too short to repay it', () => {
    const runs = (s: Coverage['result'][number], name: string) => s.functions.find((f) => f.functionName === name)?.ranges[0]?.count ?? 0;
    expect(runs(coverageAfter(LZX_WARMUP_MIN_BYTES - 1), 'runSymbols')).toBe(0);
    expect(runs(coverageAfter(LZX_WARMUP_MIN_BYTES), 'runSymbols')).toBeGreaterThan(0);
  });
});

describe.skipIf(!hasCorpus)('after the warm-up, a real LZX:21 package', () => {
  beforeAll(() => ensureBuilt(), 600_000);

  it('decodes without deoptimizing the decoder for missing type feedback', () => {
    // OpenSSH-Client: 5.3 MB of LZX:21 before update.mum, well past the warm-up threshold
    const cab = corpusPath('cab/fod/OpenSSH-Client-Package~31bf3856ad364e35~amd64~~.cab');
    const trace = execFileSync(process.execPath, ['--trace-deopt', msuBin, 'inspect', cab], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const bailouts = trace.split('\n').filter((l) => l.includes('bailout') && l.includes('Insufficient type feedback'));
    const inDecoder = bailouts.filter((l) => /<JSFunction (runSymbols|decodeSymbols|readSymbol|readLengths|buildTable|readBlockHeader|copyUncompressed|decodeBlock|undoE8Translation) /.test(l));
    expect(inDecoder).toEqual([]);
    expect(trace).toContain('OpenSSH-Client-Package');
  });
});

interface Coverage {
  result: { url: string; functions: { functionName: string; ranges: { startOffset: number; endOffset: number; count: number }[] }[] }[];
}
