/**
 * A failure in the middle of moving staged files into the target (disk full, a file created by
 * someone else meanwhile) is undone: what was moved in is removed, what was set aside for
 * --overwrite is put back. The fault is injected into node:fs/promises at the Nth rename.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';

const fault = vi.hoisted(() => ({ at: -1, calls: 0 }));
vi.mock('node:fs', async (orig) => {
  const real = await orig<typeof import('node:fs')>();
  const renameSync: typeof real.renameSync = (...a) => {
    if (fault.at >= 0 && fault.calls++ === fault.at) throw Object.assign(new Error('injected: no space left on device'), { code: 'ENOSPC' });
    return real.renameSync(...a);
  };
  return { ...real, default: { ...real, renameSync }, renameSync };
});

const { StagedDir } = await import('../../src/util/fsout.js');
const { snapshot } = await import('../helpers/snapshot.js');

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-rollback-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A target with a file to replace, a directory to merge into, and staged content new and old. */
function setup(i: number): string {
  const target = path.join(root, `t${i}`);
  mkdirSync(path.join(target, 'shared'), { recursive: true });
  writeFileSync(path.join(target, 'shared', 'old.txt'), 'user data');
  writeFileSync(path.join(target, 'replace.txt'), 'user version');
  return target;
}

async function stage(target: string): Promise<import('../../src/util/fsout.js').StagedDir> {
  const s = await StagedDir.create(target, { overwrite: true });
  const put = (rel: string, text: string): void => {
    mkdirSync(path.dirname(path.join(s.staging, rel)), { recursive: true });
    writeFileSync(path.join(s.staging, rel), text);
  };
  put('newdir/a.txt', 'a');
  put('replace.txt', 'archive version');
  put('shared/b.txt', 'b');
  put('shared/c.txt', 'c');
  put('z.txt', 'z');
  return s;
}

describe('rollback of a failed commit', () => {
  it('at every point of the move phase, the target ends exactly as it was', async () => {
    // 5 moves; `replace.txt` takes two renames (set aside, move in): 6 faultable calls
    let failures = 0;
    for (let at = 0; at < 6; at++) {
      const target = setup(at);
      const before = snapshot(target);
      const s = await stage(target);
      fault.calls = 0;
      fault.at = at;
      const err = await s.commit().then(() => null, (e: unknown) => e);
      fault.at = -1;
      expect(err, `fault at call ${at}`).toMatchObject({ code: 'E_IO_ENOSPC' });
      await s.abort();
      expect(snapshot(target), `fault at call ${at}`).toEqual(before);
      failures++;
    }
    expect(failures).toBe(6);
    // without a fault the same commit succeeds, so each of the six really was mid-way
    const target = setup(99);
    const s = await stage(target);
    await s.commit();
    expect(readFileSync(path.join(target, 'replace.txt'), 'utf8')).toBe('archive version');
    expect(readdirSync(path.join(target, 'shared')).sort()).toEqual(['b.txt', 'c.txt', 'old.txt']);
    expect(readdirSync(target).sort()).toEqual(['newdir', 'replace.txt', 'shared', 'z.txt']);
  });
});
