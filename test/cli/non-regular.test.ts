// A path that is not a regular file (a FIFO, a socket, a device) is refused with one line and
// exit 6 by every command that reads an input file, before any read could block: opening a
// FIFO without O_NONBLOCK waits for a writer, forever (src/util/source.ts, openInput).
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSyntheticMsu, SAMPLE_OPTIONS } from '../../src/msu/synthetic.js';
import { EXIT } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { fifoWithWaker } from '../helpers/fifo.js';
import { buildDelta, PatchWriter } from '../helpers/pa30-build.js';

/** Short: a command that opens the FIFO blocking fails here (or on its assertions, once the waker writes). */
const T = 5000;

let tmp: string;
let fifo: string;
let waker: { stop(): void };
let sample: string;
let delta: string;
let dcm: string;
const notRegular = (file: string): string => `msu: ${file}: not a regular file\n`;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-non-regular-'));
  fifo = path.join(tmp, 'pipe');
  waker = fifoWithWaker(fifo);
  sample = path.join(tmp, 'Windows10.0-KB5099999-x64.msu');
  writeFileSync(sample, buildSyntheticMsu(SAMPLE_OPTIONS).msu);
  const target = Buffer.from('hello, hello, hello world');
  const patch = new PatchWriter().literal(...target.subarray(0, 7)).distance(7, 12).literal(...target.subarray(19)).finish();
  const bytes = buildDelta({ targetSize: target.length, patch });
  delta = path.join(tmp, 'raw.pa30');
  writeFileSync(delta, bytes);
  // a DCM-compressed manifest: decoding it needs a base manifest first
  dcm = path.join(tmp, 'x.manifest');
  writeFileSync(dcm, Buffer.concat([Buffer.from('DCM\x01', 'latin1'), bytes]));
});
afterAll(() => {
  waker.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a FIFO where an input file is expected: exit 6, one line, no hang', () => {
  const cases: Array<[string, () => string[]]> = [
    ['inspect', () => ['inspect', fifo]],
    ['inspect --json', () => ['inspect', fifo, '--json']],
    ['list', () => ['list', fifo]],
    ['cbs', () => ['cbs', fifo]],
    ['cbs --base-manifest', () => ['cbs', dcm, '--base-manifest', fifo]],
    ['cbs --wcp', () => ['cbs', dcm, '--wcp', fifo]],
    ['deltas', () => ['deltas', fifo]],
    ['delta-header', () => ['delta-header', fifo]],
    ['verify', () => ['verify', fifo]],
    ['verify --base-manifest', () => ['verify', sample, '--base-manifest', fifo]],
    ['scancab', () => ['scancab', fifo, '--no-cache']],
    ['scancab --rules', () => ['scancab', sample, '--rules', fifo, '--no-cache']],
    ['extract', () => ['extract', fifo, '-d', path.join(tmp, 'out-extract')]],
    ['expand', () => ['expand', fifo, '-d', path.join(tmp, 'out-expand')]],
    ['delta apply (the delta)', () => ['delta', 'apply', fifo, '-o', path.join(tmp, 'out-a')]],
    ['delta apply --source', () => ['delta', 'apply', delta, '--source', fifo, '-o', path.join(tmp, 'out-b')]],
    ['delta apply --base-manifest', () => ['delta', 'apply', dcm, '--base-manifest', fifo, '-o', path.join(tmp, 'out-c')]],
    ['plan diff', () => ['plan', 'diff', fifo, fifo]],
    ['vm run (a run spec)', () => ['vm', 'run', fifo]],
  ];
  for (const [name, args] of cases) {
    it(name, async () => {
      const r = await runCli(...args());
      expect(r.stderr).toBe(notRegular(fifo));
      expect(r.code).toBe(EXIT.io);
      expect(r.stdout).toBe('');
    }, T);
  }

  it('plan: an update file', async () => {
    const r = await runCli('plan', fifo, '--target-build', '10.0.19044.1288', '--arch', 'amd64', '-o', path.join(tmp, 'plan.json'));
    expect(r.stderr).toMatch(/^msu: (.*\/)?pipe: not a regular file\n$/);
    expect(r.code).toBe(EXIT.io);
  }, T);

  it('a symbolic link to the FIFO is refused the same way; a symbolic link to a regular file is read', async () => {
    const toFifo = path.join(tmp, 'link-to-pipe');
    symlinkSync(fifo, toFifo);
    const r = await runCli('inspect', toFifo);
    expect([r.code, r.stderr]).toEqual([EXIT.io, notRegular(toFifo)]);
    const toSample = path.join(tmp, 'link-to-sample.msu');
    symlinkSync(sample, toSample);
    const ok = await runCli('inspect', toSample, '--json');
    expect(ok.code).toBe(EXIT.ok);
    expect(JSON.parse(ok.stdout)).toMatchObject({ kb: 'KB5099999' });
  }, T);

  it('a character device is refused unread; a directory keeps its own message', async () => {
    const dev = await runCli('inspect', '/dev/zero');
    expect([dev.code, dev.stderr]).toEqual([EXIT.io, notRegular('/dev/zero')]);
    const dir = await runCli('delta-header', tmp);
    expect([dir.code, dir.stderr]).toEqual([EXIT.io, `msu: ${tmp}: cannot read: is a directory\n`]);
  }, T);
});
