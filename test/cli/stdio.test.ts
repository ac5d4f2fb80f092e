// stdout and stderr on a pipe or a file are written with write(2) on the descriptor (src/cli/stdio.ts),
// so that a command whose output is captured does not load Node's net module; anything else gets
// Node's own stream. Checked here: the bytes, EPIPE reported as a stream reports it, a non-blocking
// descriptor handed over to Node's stream in order, the choice per kind of descriptor, and the CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCabinet } from '../../src/cab/writer.js';
import { FdOutput } from '../../src/cli/stdio.js';
import { ensureBuilt, msuBin, repoRoot } from '../helpers/built-cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-stdio-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const errno = (code: string): Error => Object.assign(new Error(`write ${code}`), { code });
const noStream = (): never => {
  throw new Error('Node stream not expected');
};

describe('FdOutput', () => {
  it('writes strings (UTF-8) and bytes to a file descriptor at once, in order', () => {
    const file = path.join(tmp, 'out.txt');
    const fd = openSync(file, 'w');
    try {
      const out = new FdOutput(fd, noStream);
      expect(out.write('größe: ')).toBe(true);
      expect(out.write(Uint8Array.from([0x31, 0x0a]))).toBe(true);
      // written before the call returns, not on a later tick
      expect(readFileSync(file, 'utf8')).toBe('größe: 1\n');
    } finally {
      closeSync(fd);
    }
  });

  it('finishes a short write', () => {
    const got: number[] = [];
    const out = new FdOutput(9, noStream, (_fd, b) => {
      got.push(b[0]!);
      return 1; // one byte per call, as a nearly full pipe may take
    });
    expect(out.write('abc')).toBe(true);
    expect(String.fromCharCode(...got)).toBe('abc');
  });

  it('reports EPIPE as a stream does: an error event on a later tick, none when nobody listens', async () => {
    const out = new FdOutput(9, noStream, () => {
      throw errno('EPIPE');
    });
    const seen: unknown[] = [];
    out.on('error', (e) => seen.push((e as NodeJS.ErrnoException).code));
    expect(out.write('x')).toBe(false);
    expect(seen).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['EPIPE']);

    const quiet = new FdOutput(9, noStream, () => {
      throw errno('EPIPE');
    });
    quiet.write('x');
    await new Promise((r) => setImmediate(r)); // would throw (an unhandled 'error' event) if emitted
  });

  it('hands a non-blocking descriptor (EAGAIN) over to Node stream, the rest of the write first', async () => {
    const stream = new PassThrough();
    let direct = '';
    let calls = 0;
    const out = new FdOutput(9, () => stream, (_fd, b) => {
      if (++calls === 2) throw errno('EAGAIN');
      const n = Math.min(3, b.length);
      direct += Buffer.from(b.subarray(0, n)).toString('utf8');
      return n;
    });
    const drained: string[] = [];
    out.on('drain', () => drained.push('drain'));
    out.write('héllo');
    out.write(' world');
    expect(direct).toBe('hé'); // 'h' + the two bytes of 'é'
    stream.end();
    const rest = (await stream.toArray()).map((c: Buffer) => c.toString('utf8')).join('');
    expect(direct + rest).toBe('héllo world');
    expect(calls).toBe(2); // after EAGAIN every write goes to the stream
  });

  it('after the hand-over, an error of Node stream reaches listeners, and throws nowhere without one', async () => {
    const failing = (): PassThrough => new PassThrough({ write: (_c, _e, cb) => cb(errno('EPIPE')) });
    const eagain = () => {
      throw errno('EAGAIN');
    };
    const heard = new FdOutput(9, failing, eagain);
    const seen: unknown[] = [];
    heard.on('error', (e) => seen.push((e as NodeJS.ErrnoException).code));
    heard.write('x');
    const quiet = new FdOutput(9, failing, eagain);
    quiet.write('x'); // an unhandled 'error' event here would fail the test run
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(['EPIPE']);
  });
});

describe('standard output and error of the built CLI', () => {
  let cab: string;
  beforeAll(() => {
    ensureBuilt();
    cab = path.join(tmp, 'listing.cab');
    const files = Array.from({ length: 3 }, (_, i) => ({ name: `file-${i}.txt`, data: Buffer.from(`file ${i}\n`) }));
    writeFileSync(cab, buildCabinet({ folders: [{ compression: 'none', files }] }));
  }, 600_000);

  const probe = (fd: 1 | 2) =>
    `const s = require(${JSON.stringify(path.join(repoRoot, 'dist/src/cli/stdio.js'))}); ` +
    `require('fs').writeSync(3, s.standardOutput(${fd}) instanceof s.FdOutput ? 'fd' : 'node')`;
  const kindOf = (fd: 1 | 2, target: 'pipe' | 'ignore' | number): string => {
    const r = spawnSync(process.execPath, ['-e', probe(fd)], { stdio: ['ignore', fd === 1 ? target : 'pipe', fd === 2 ? target : 'pipe', 'pipe'] });
    return r.output[3]!.toString();
  };

  it('a pipe (a socket from spawn), a shell pipe, a file or /dev/null gets the descriptor writer; another device Node\'s stream', () => {
    const file = openSync(path.join(tmp, 'kind.txt'), 'w');
    const zero = openSync('/dev/zero', 'w');
    try {
      // `node … | cat`: a FIFO, not a socket
      const fifo = spawnSync('sh', ['-c', `"${process.execPath}" -e "$PROBE" | cat`], { env: { ...process.env, PROBE: probe(1) }, stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
      // 'ignore' is /dev/null
      expect([kindOf(1, 'pipe'), kindOf(2, 'pipe'), fifo.output[3]!.toString(), kindOf(1, file), kindOf(1, 'ignore'), kindOf(2, 'ignore')]).toEqual(['fd', 'fd', 'fd', 'fd', 'fd', 'fd']);
      // a character device that is not /dev/null (a terminal is one too)
      expect(kindOf(1, zero)).toBe('node');
    } finally {
      closeSync(zero);
      closeSync(file);
    }
  });

  /** Node's internal modules loaded by an `msu` run whose stdout is a pipe, and its output. */
  const modulesOf = (...args: string[]): { out: string; loaded: string[] } => {
    const report = path.join(tmp, 'modules.json');
    const preload = path.join(tmp, 'modules.cjs');
    writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify(process.moduleLoadList)));`);
    const out = execFileSync(process.execPath, ['-r', preload, msuBin, ...args], { encoding: 'utf8' });
    return { out, loaded: JSON.parse(readFileSync(report, 'utf8')) as string[] };
  };

  it('`msu list` into a pipe prints its listing without loading Node net, tty or zlib modules', () => {
    const { out, loaded } = modulesOf('list', cab);
    expect(out.split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/).pop())).toEqual(['file-0.txt', 'file-1.txt', 'file-2.txt']);
    expect(loaded).toContain('NativeModule fs');
    expect(loaded.filter((m) => m === 'NativeModule net' || m === 'NativeModule tty' || m === 'NativeModule zlib')).toEqual([]);
  });

  it('node:zlib is loaded by the first MSZIP block, not before', () => {
    const mszip = path.join(tmp, 'mszip.cab');
    writeFileSync(mszip, buildCabinet({ folders: [{ compression: 'mszip', files: [{ name: 'a.txt', data: Buffer.from('inflate me\n'.repeat(50)) }] }] }));
    const dest = path.join(tmp, 'mszip-out');
    expect(modulesOf('list', mszip).loaded).not.toContain('NativeModule zlib');
    const { loaded } = modulesOf('extract', mszip, '-d', dest);
    expect(readFileSync(path.join(dest, 'a.txt'), 'utf8')).toBe('inflate me\n'.repeat(50));
    expect(loaded).toContain('NativeModule zlib');
  });
});
