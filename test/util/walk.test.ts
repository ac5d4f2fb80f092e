// listFiles (src/util/walk.ts), the one directory walker: files, and folders when asked;
// symbolic links are not walked (vm/dism.ts changes permissions over what it lists).
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listFiles } from '../../src/util/walk.js';

let tmp: string;
let tree: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'msu-walk-'));
  tree = path.join(tmp, 'tree');
  for (const d of ['b/c', 'a', 'empty']) mkdirSync(path.join(tree, d), { recursive: true });
  for (const f of ['z.txt', 'b/c/x.bin', 'a/y', 'B.txt']) writeFileSync(path.join(tree, f), f);
  mkdirSync(path.join(tmp, 'outside'));
  writeFileSync(path.join(tmp, 'outside', 'secret'), 's');
  symlinkSync(path.join(tmp, 'outside'), path.join(tree, 'link-dir'));
  symlinkSync(path.join(tmp, 'outside', 'secret'), path.join(tree, 'link-file'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('listFiles', () => {
  it('lists files in code-unit order, no folders, no links', async () => {
    expect(await listFiles(tree, 'tree')).toEqual(['B.txt', 'a/y', 'b/c/x.bin', 'z.txt']);
  });

  it('with directories, lists the folders too (empty ones included), never through a link', async () => {
    expect(await listFiles(tree, 'tree', { directories: true })).toEqual(['B.txt', 'a', 'a/y', 'b', 'b/c', 'b/c/x.bin', 'empty', 'z.txt']);
  });

  it('links counted as files only when asked, and not walked even then', async () => {
    expect(await listFiles(tree, 'tree', { links: true })).toEqual(['B.txt', 'a/y', 'b/c/x.bin', 'link-dir', 'link-file', 'z.txt']);
  });

  it('a deep tree is listed whole (real WIMs nest hundreds of folders deep), never cut short', async () => {
    const deep = path.join(tmp, 'deep');
    const levels = Array<string>(300).fill('d');
    mkdirSync(path.join(deep, ...levels), { recursive: true });
    writeFileSync(path.join(deep, ...levels, 'f'), 'f');
    writeFileSync(path.join(deep, 'top'), 't');
    expect(await listFiles(deep, 'deep')).toEqual([`${levels.join('/')}/f`, 'top']);
  });

  it('a missing folder is an IoError naming it', async () => {
    await expect(listFiles(path.join(tmp, 'nope'), 'nope')).rejects.toMatchObject({ code: 'E_IO_ENOENT', file: 'nope' });
  });
});
