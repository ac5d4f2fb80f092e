/**
 * ctx.printChunks (src/cli/context.ts): long listings written piece by piece wait for a slow
 * reader instead of piling up in memory, and arrive whole and in order.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { makeContext } from '../../src/cli/context.js';

/** A reader that takes each write a tick later, recording how much was ever waiting. */
function slowReader() {
  const got: string[] = [];
  let maxWaiting = 0;
  const out = new Writable({
    highWaterMark: 1024,
    write(chunk: Buffer, _enc, cb) {
      got.push(chunk.toString());
      setImmediate(cb);
    },
  });
  const note = () => { maxWaiting = Math.max(maxWaiting, out.writableLength); };
  const write = out.write.bind(out);
  out.write = ((c: string) => { const r = write(c); note(); return r; }) as typeof out.write;
  return { out, got, max: () => maxWaiting };
}

describe('printChunks', () => {
  it('eight megabytes through a slow reader: all of it, in order, never more than one write waiting', async () => {
    const r = slowReader();
    const err = new Writable({ write(_c, _e, cb) { cb(); } });
    const ctx = makeContext(r.out, err);
    const pieces = Array.from({ length: 8192 }, (_x, i) => `${String(i).padStart(8, '0')}${'x'.repeat(1015)}\n`);
    await ctx.printChunks(pieces);
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.got.join('')).toBe(pieces.join(''));
    // writes are gathered to 256 KiB; one may wait, not the whole listing
    expect(r.max()).toBeLessThanOrEqual((1 << 18) + 1024);
    expect(r.max()).toBeGreaterThan(0);
  });

  it('stops taking pieces once the reader has gone (EPIPE)', async () => {
    const r = slowReader();
    const ctx = makeContext(r.out, new Writable({ write(_c, _e, cb) { cb(); } }));
    let taken = 0;
    const pieces = function* () {
      for (let i = 0; i < 1000; i++) {
        taken++;
        if (i === 10) ctx.stdoutClosed = true;
        yield 'x'.repeat(1000);
      }
    };
    await ctx.printChunks(pieces());
    expect(taken).toBe(11);
  });
});
