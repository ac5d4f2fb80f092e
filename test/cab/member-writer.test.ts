/**
 * The member writers on their own: the same files from the calling thread and from the
 * writer thread, and a writer thread that dies is an error, never a silent short extraction.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SyncMemberWriter, ThreadedMemberWriter, type MemberWriter } from '../../src/cab/member-writer.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-mw-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function feed(w: MemberWriter, dir: string): Record<string, Buffer> {
  const want: Record<string, Buffer> = {};
  const when = new Date('2021-03-04T05:06:08Z');
  // empty; whole in one call; split over three calls; streamed (over 64 KiB) in 32 KiB pieces
  const shapes: Array<[string, Buffer, number]> = [
    ['empty', Buffer.alloc(0), 1],
    ['one', Buffer.from('x'.repeat(3000)), 1],
    ['three', Buffer.from(Array.from({ length: 50_000 }, (_, i) => i & 0xff)), 3],
    ['big', Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff)), 10],
  ];
  for (let n = 0; n < 40; n++) {
    for (const [name, data, pieces] of shapes) {
      const p = path.join(dir, `${name}-${n}`);
      const m = w.begin(p, data.length, when);
      const step = Math.ceil(data.length / pieces) || 1;
      // the caller reuses its buffer after each call, so the writer must copy what it keeps;
      // a whole member in one call is the exception the contract names: end() comes first
      let last: Buffer | undefined;
      for (let at = 0; at < data.length; at += step) {
        last?.fill(0xee);
        last = Buffer.from(data.subarray(at, at + step));
        w.data(m, last);
      }
      w.end(m);
      last?.fill(0xee);
      want[`${name}-${n}`] = data;
    }
  }
  return want;
}

describe.each([['calling thread', () => new SyncMemberWriter()], ['writer thread', () => new ThreadedMemberWriter()]] as const)('%s', (_name, make) => {
  it('writes every shape byte for byte, with its time, copying what it keeps', async () => {
    const dir = mkdtempSync(path.join(root, 'w-'));
    const w = make();
    const want = feed(w, dir);
    await w.finish();
    expect(readdirSync(dir).sort()).toEqual(Object.keys(want).sort());
    for (const [name, data] of Object.entries(want)) {
      expect(readFileSync(path.join(dir, name)).equals(data), name).toBe(true);
      expect(statSync(path.join(dir, name)).mtime.toISOString()).toBe('2021-03-04T05:06:08.000Z');
    }
  });
});

describe('ThreadedMemberWriter', () => {
  it('when the worker is behind, the calling thread writes members itself, byte for byte with their times', async () => {
    const dirs = [0, 1, 2].map((i) => mkdtempSync(path.join(root, `steal-${i}-`)));
    const w = new ThreadedMemberWriter();
    // about 42 MB queued without yielding: the worker cannot keep up, so some members are written here
    const wants = dirs.map((d) => feed(w, d));
    await w.finish();
    expect(w.localWrites).toBeGreaterThan(0);
    expect(w.localWrites).toBeLessThan(3 * 160);
    for (const [i, want] of wants.entries()) {
      expect(readdirSync(dirs[i]!).sort()).toEqual(Object.keys(want).sort());
      for (const [name, data] of Object.entries(want)) {
        expect(readFileSync(path.join(dirs[i]!, name)).equals(data), name).toBe(true);
        expect(statSync(path.join(dirs[i]!, name)).mtime.toISOString()).toBe('2021-03-04T05:06:08.000Z');
      }
    }
  });

  it('a member written on the calling thread that cannot be created is an error naming its shown path', async () => {
    const dir = mkdtempSync(path.join(root, 'steal-err-'));
    const w = new ThreadedMemberWriter((p) => `shown:${path.basename(p)}`);
    feed(w, dir);
    feed(w, mkdtempSync(path.join(root, 'steal-err2-')));
    // the worker is behind now: the next member is written here, into a directory that is not there
    const m = w.begin(path.join(dir, 'missing', 'x.dll'), 10, undefined);
    w.data(m, new Uint8Array(10));
    expect(w.localWrites).toBeGreaterThan(0);
    let thrown: unknown;
    try {
      w.end(m);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toMatchObject({ code: 'E_IO_ENOENT', file: 'shown:x.dll' });
    await w.abandon();
  });

  it('a member the writer thread cannot create is an error naming its shown path, and later members are not written', async () => {
    const dir = mkdtempSync(path.join(root, 'worker-err-'));
    const w = new ThreadedMemberWriter((p) => `shown:${path.basename(p)}`);
    const when = new Date('2021-03-04T05:06:08Z');
    for (const name of ['a', 'missing/b', 'c']) {
      const m = w.begin(path.join(dir, name), 3, when);
      w.data(m, Buffer.from('abc'));
      w.end(m);
    }
    expect(w.localWrites).toBe(0); // all three went to the thread
    await expect(w.finish()).rejects.toMatchObject({ code: 'E_IO_ENOENT', file: 'shown:b' });
    // the thread stops at its first error: `a` came before it, `c` after
    expect(readdirSync(dir)).toEqual(['a']);
  });

  it('a writer thread that stops before it was told to fails finish()', async () => {
    const dir = mkdtempSync(path.join(root, 'dead-'));
    const w = new ThreadedMemberWriter();
    feed(w, dir);
    await (w as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await expect(w.finish()).rejects.toMatchObject({ code: 'E_IO_WRITER' });
  });
});
