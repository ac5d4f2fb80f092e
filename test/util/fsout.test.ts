/**
 * The commit every extraction shares (src/util/fsout.ts StagedDir): all or nothing, nothing
 * the user had is removed or replaced (except a regular file with overwrite), conflicts are
 * refused before anything is written, and no symlink in the target is followed. Tested through
 * `msu extract` on cabinets built in code, and on StagedDir directly.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCabinet, type CabWriteFile } from '../../src/cab/writer.js';
import { Cabinet } from '../../src/cab/cabinet.js';
import { MsuError } from '../../src/errors.js';
import { StagedDir, safeRelativePath } from '../../src/util/fsout.js';
import { BufferSource } from '../../src/util/source.js';
import { runCli } from '../helpers/cli.js';
import { snapshot } from '../helpers/snapshot.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'msu-fsout-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = (what: string): string => {
  const d = path.join(root, `${what}-${n++}`);
  mkdirSync(d);
  return d;
};

function cabFile(files: CabWriteFile[], dir = root): string {
  const f = path.join(dir, `c${n++}.cab`);
  writeFileSync(f, buildCabinet({ folders: [{ compression: 'mszip', files }] }));
  return f;
}
const file = (name: string, text: string): CabWriteFile => ({ name, data: Buffer.from(text) });

describe('extraction never removes or replaces what the user has', () => {
  it('a member named like an existing directory is refused; the directory and its files stay (exit 6)', async () => {
    const target = fresh('t');
    mkdirSync(path.join(target, 'docs', 'keep'), { recursive: true });
    writeFileSync(path.join(target, 'docs', 'keep', 'thesis.txt'), 'four years of work');
    const before = snapshot(target);
    const cab = cabFile([file('a.txt', 'a'), file('docs', 'not a directory')]);
    for (const extra of [[], ['--overwrite']]) {
      const r = await runCli('extract', cab, '-d', target, ...extra);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('docs (a directory)');
      expect(r.stderr).toContain('nothing was written');
      expect(r.stderr).not.toMatch(/\n\s+at /); // no stack
      expect(snapshot(target)).toEqual(before);
    }
  });

  it('a regular file of the same name is refused without --overwrite and replaced with it', async () => {
    const target = fresh('t');
    mkdirSync(path.join(target, 'd'));
    writeFileSync(path.join(target, 'd', 'x.txt'), 'mine');
    writeFileSync(path.join(target, 'other.txt'), 'untouched');
    const cab = cabFile([file('d\\x.txt', 'theirs'), file('d\\new.txt', 'new'), file('top.txt', 'top')]);
    const before = snapshot(target);
    const r = await runCli('extract', cab, '-d', target);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('d/x.txt (a file)');
    expect(snapshot(target)).toEqual(before);
    const ok = await runCli('extract', cab, '-d', target, '--overwrite');
    expect(ok.code).toBe(0);
    expect(snapshot(target)).toEqual({
      d: 'dir', 'd/new.txt': 'file:new', 'd/x.txt': 'file:theirs', 'other.txt': 'file:untouched', 'top.txt': 'file:top',
    });
  });

  it('conflicts are named, the first five and a count of the rest', async () => {
    const target = fresh('t');
    const names = Array.from({ length: 8 }, (_, i) => `f${i}.txt`);
    for (const f of names) writeFileSync(path.join(target, f), 'old');
    const cab = cabFile(names.map((f) => file(f, 'new')));
    const r = await runCli('extract', cab, '-d', target);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('8 path(s) to extract already exist in the target: f0.txt (a file), f1.txt (a file), f2.txt (a file), f3.txt (a file), f4.txt (a file) and 3 more');
  });

  it('a symlink in the target is never followed: target/d -> ../outside and member d\\sub\\x.txt', async () => {
    const base = fresh('s');
    const outside = path.join(base, 'outside');
    mkdirSync(outside);
    const target = path.join(base, 'target');
    mkdirSync(target);
    symlinkSync('../outside', path.join(target, 'd'));
    const cab = cabFile([file('d\\sub\\x.txt', 'escaped?'), file('ok.txt', 'fine')]);
    for (const extra of [[], ['--overwrite']]) {
      const r = await runCli('extract', cab, '-d', target, ...extra);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain('d (a symbolic link)');
      expect(readdirSync(outside)).toEqual([]);
      expect(snapshot(target)).toEqual({ d: 'link:../outside' });
    }
    // a symlink to a file is not replaced through --overwrite either
    writeFileSync(path.join(outside, 'secret'), 'outside data');
    symlinkSync('../outside/secret', path.join(target, 'ok.txt'));
    const r = await runCli('extract', cab, '-d', target, '--overwrite');
    expect(r.code).toBe(6);
    expect(readFileSync(path.join(outside, 'secret'), 'utf8')).toBe('outside data');
  });

  it('merges into existing real directories and leaves their other files alone', async () => {
    const target = fresh('t');
    mkdirSync(path.join(target, 'a', 'b'), { recursive: true });
    writeFileSync(path.join(target, 'a', 'b', 'keep.txt'), 'keep');
    const cab = cabFile([file('a\\b\\new.txt', '1'), file('a\\c\\deep.txt', '2')]);
    const r = await runCli('extract', cab, '-d', target, '--json');
    expect(r.code).toBe(0);
    expect(snapshot(target)).toEqual({
      a: 'dir', 'a/b': 'dir', 'a/b/keep.txt': 'file:keep', 'a/b/new.txt': 'file:1', 'a/c': 'dir', 'a/c/deep.txt': 'file:2',
    });
  });

  it('a failure while decoding leaves a target it created absent, and an existing one unchanged', async () => {
    const good = Buffer.from(buildCabinet({ folders: [{ compression: 'mszip', files: [file('a.txt', 'x'.repeat(5000)), file('b.txt', 'y'.repeat(5000))] }] }));
    // damage the compressed data (the checksum catches it)
    good[good.length - 20] ^= 0xff;
    const f = path.join(root, `bad${n++}.cab`);
    writeFileSync(f, good);
    const parent = fresh('p');
    const target = path.join(parent, 'new', 'deeper');
    const r = await runCli('extract', f, '-d', target);
    expect(r.code).toBe(3);
    expect(readdirSync(parent)).toEqual([]);
    const existing = fresh('t');
    writeFileSync(path.join(existing, 'mine.txt'), 'mine');
    expect((await runCli('extract', f, '-d', existing)).code).toBe(3);
    expect(snapshot(existing)).toEqual({ 'mine.txt': 'file:mine' });
  });
});

describe('member names', () => {
  it('a 256-byte name is refused as bad input (exit 3) before anything is written, not ENAMETOOLONG half-way', async () => {
    const target = fresh('t');
    const long = 'é'.repeat(128); // 256 bytes in UTF-8, 128 characters
    const cab = cabFile([file('a.txt', 'a'), file(long, 'b')]);
    const r = await runCli('extract', cab, '-d', target);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('CFFILE 1: the name is 256 bytes long (at most 255)');
    expect(readdirSync(target)).toEqual([]);
    // the same fence for every extraction (WIM, ISO paths): per component, in bytes
    expect(safeRelativePath(`d/${'a'.repeat(255)}`)).toBe(`d/${'a'.repeat(255)}`);
    expect(() => safeRelativePath(`d/${long}`)).toThrow('has a path component of 256 bytes (at most 255)');
    expect(() => safeRelativePath('\xe9'.repeat(255), undefined, true)).not.toThrow();
  });
});

describe('StagedDir', () => {
  it('abort removes the staging dir and the target dirs create() made, not the ones that existed', async () => {
    const parent = fresh('p');
    const s = await StagedDir.create(path.join(parent, 'x', 'y'));
    writeFileSync(path.join(s.staging, 'f'), 'f');
    await s.abort();
    expect(readdirSync(parent)).toEqual([]);
    const s2 = await StagedDir.create(parent);
    await s2.abort();
    expect(existsSync(parent)).toBe(true);
  });

  it('commit of an empty staging dir changes nothing but removes staging', async () => {
    const target = fresh('t');
    writeFileSync(path.join(target, 'a'), 'a');
    const s = await StagedDir.create(target);
    await s.commit();
    expect(snapshot(target)).toEqual({ a: 'file:a' });
  });

  it('extraction through the library refuses conflicts the same way (E_TARGET_EXISTS)', async () => {
    const target = fresh('t');
    writeFileSync(path.join(target, 'a.txt'), 'mine');
    const cab = await Cabinet.open(new BufferSource(buildCabinet({ folders: [{ compression: 'none', files: [file('a.txt', 'theirs')] }] }), 'lib.cab'));
    await expect(cab.extract(target)).rejects.toMatchObject({ code: 'E_TARGET_EXISTS' });
    expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('mine');
    await cab.extract(target, { overwrite: true });
    expect(readFileSync(path.join(target, 'a.txt'), 'utf8')).toBe('theirs');
  });
});
