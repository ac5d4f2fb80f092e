import { lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { link, lstat, mkdir, mkdtemp, rename, rm, rmdir, unlink, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { FormatError, IoError, ioError, MsuError } from '../errors.js';
import { showByteName, showName } from './display.js';

const NON_ASCII = /[^\u0000-\u007f]/;

/** The longest file name component Linux file systems (and NTFS) accept, in bytes. */
export const NAME_MAX = 255;

/**
 * Paths as byte strings: one char per byte (latin1), so that a name which is not UTF-8 (a
 * cabinet name without the UTF-8 flag is raw bytes in some code page) reaches the disk as the
 * bytes it is, as cabextract writes it. `byteString` converts a normal (UTF-16) path; `fsPath`
 * turns a byte string into the Buffer the fs functions take; `showPath` is for messages.
 */
export function byteString(p: string): string {
  // ASCII is its own byte string (most member names): no round trip through a Buffer
  if (!NON_ASCII.test(p)) return p;
  return Buffer.from(p, 'utf8').toString('latin1');
}
export function fsPath(b: string): Buffer {
  return Buffer.from(b, 'latin1');
}
export function showPath(b: string): string {
  return Buffer.from(b, 'latin1').toString('utf8');
}

/**
 * Map an archive member name (Windows-style, possibly hostile) to a relative
 * POSIX path under the extraction root, or throw. Rejects absolute paths, drive
 * letters, `..`, empty components, NUL and control characters, and components over 255
 * bytes: nothing an archive says can make us write outside the directory the user named, and
 * a name no file system takes fails here rather than half-way through writing.
 * `oneBytePerChar`: the name is a byte string (see byteString).
 */
export function safeRelativePath(memberName: string, file?: string, oneBytePerChar = false): string {
  const bad = (why: string): never => {
    // shown as listed (src/util/display.ts): a hostile name prints no escape sequence and no line break
    throw new FormatError('E_UNSAFE_NAME', `member name "${oneBytePerChar ? showByteName(memberName) : showName(memberName)}" ${why}`, { file });
  };
  if (memberName.length === 0) bad('is empty');
  if (/[\u0000-\u001f]/.test(memberName)) bad('contains control characters');
  const unified = memberName.replace(/\\/g, '/');
  if (unified.startsWith('/')) bad('is absolute');
  if (/^[A-Za-z]:/.test(unified)) bad('has a drive letter');
  const parts = unified.split('/');
  for (const p of parts) {
    if (p === '..') bad('climbs out of the target directory');
    if (p === '' || p === '.') bad('has an empty or "." path component');
    // Linux (and NTFS) name components hold at most 255 bytes: refuse here, before anything is written
    const bytes = oneBytePerChar ? p.length : Buffer.byteLength(p);
    if (bytes > NAME_MAX) bad(`has a path component of ${bytes} bytes (at most ${NAME_MAX})`);
  }
  return parts.join('/');
}

/** Resolve a member under root, re-checking after resolution as a second fence. */
export function resolveUnder(root: string, memberName: string, file?: string): string {
  const rel = safeRelativePath(memberName, file);
  const absRoot = path.resolve(root);
  const target = path.resolve(absRoot, rel);
  if (target !== absRoot && !target.startsWith(absRoot + path.sep)) {
    throw new FormatError('E_UNSAFE_NAME', `member name "${showName(memberName)}" escapes the target directory`, { file });
  }
  return target;
}

// Output a tool writes itself (wimlib-imagex, xorriso, qemu-img) goes to a temp name beside `dest`,
// renamed over `dest` only when the tool succeeded, so no partial file ever carries the final name;
// writeFileAtomic is the same commit for data in memory.

/** The temp name beside `dest` (same directory, so the rename stays on one file system). */
export function tempNameBeside(dest: string): string {
  return path.join(path.dirname(path.resolve(dest)), `.msu-tmp-${process.pid}-${path.basename(dest)}`);
}

/** Whether anything is at `p`: a file, a directory, a symbolic link (even a dangling one). */
export async function pathTaken(p: string): Promise<boolean> {
  return lstat(p).then(() => true, () => false);
}

/** The one error for an output path the user already has. */
function targetExists(dest: string, hint: string | undefined, nothing = 'nothing was written'): IoError {
  return new IoError('E_TARGET_EXISTS', `already exists; ${nothing}${hint ? ` (${hint})` : ''}`, { file: dest });
}

/**
 * Refuse an output path that is taken before long work starts (an ISO build, a VM run), unless
 * `replace`; the commit (writeThroughTemp with `replace: false`) refuses a name taken meanwhile.
 */
export async function refuseTakenOutput(dest: string, opts: TempWriteOptions & { nothing?: string } = {}): Promise<void> {
  if (!(opts.replace ?? true) && (await pathTaken(dest))) throw targetExists(dest, opts.hint, opts.nothing);
}

export interface TempWriteOptions {
  /**
   * Whether an existing `dest` may be replaced (default true). With false, anything already at
   * `dest` (a file, a symbolic link, a directory) is left alone and the write fails with
   * E_TARGET_EXISTS: the finished temp file is hard-linked to `dest`, which fails when the name is
   * taken, so no check can race the commit.
   */
  replace?: boolean;
  /** Said after "already exists" when a write is refused, e.g. "pass --overwrite to replace it". */
  hint?: string;
}

/** Run `write(tmp)`, then rename tmp to `dest`; on any failure tmp is removed and `dest` is untouched. */
export async function writeThroughTemp(dest: string, write: (tmp: string) => Promise<void>, opts: TempWriteOptions = {}): Promise<void> {
  const tmp = tempNameBeside(dest);
  try {
    await write(tmp);
    if (opts.replace ?? true) await rename(tmp, dest);
    else {
      try {
        await link(tmp, dest);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        throw targetExists(dest, opts.hint);
      }
      await unlink(tmp);
    }
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err instanceof MsuError ? err : ioError(err, dest, 'write');
  }
}

/**
 * Write a file so that readers only ever see the complete result: temp name in the same
 * directory, then rename (or, with `replace: false`, a link that refuses an existing name).
 */
export async function writeFileAtomic(dest: string, data: Uint8Array | string | Iterable<string>, opts: TempWriteOptions = {}): Promise<void> {
  await writeThroughTemp(dest, (tmp) => writeFile(tmp, data), opts);
}

/** How many conflicting paths an error names before it says "and N more". */
const CONFLICTS_SHOWN = 5;

export interface StageOptions {
  /** Replace a regular file of the same name already in the target (never a directory, symlink or anything else). */
  overwrite?: boolean;
}

/**
 * A staging directory for multi-file output, and the one commit every extraction shares
 * (cabinets, MSUs, WIMs, ISOs). Everything is written under a hidden temp dir inside `dest`;
 * commit() then
 *   1. checks every destination path first (one listing per target directory, then lstat of
 *      each name that is there): an existing directory is entered only when it is a real
 *      directory (a symlink is never followed), a path that exists as anything else is a
 *      conflict unless it is a regular file and `overwrite` is set. Conflicts are refused,
 *      naming the first few, before anything is moved;
 *   2. moves entries in, each with one rename: a subtree missing from the target moves whole,
 *      a replaced file is first set aside. The check and the moves are not one atomic step:
 *      another process writing into the target meanwhile is not guarded against;
 *   3. on a failure while moving, undoes what it did: removes what it created, puts back what
 *      it set aside. Nothing the user had is removed.
 * abort() drops the staging dir and the target dir too when create() made it.
 */
export class StagedDir {
  /** Directories already created under staging (extracting 20,000 members must not mean 20,000 mkdir calls). */
  private readonly made = new Set<string>();
  /** The staging dir as a byte string (see byteString). */
  readonly stagingBytes: string;
  private constructor(
    readonly dest: string,
    readonly staging: string,
    private readonly opts: StageOptions,
    /** The topmost directory create() made for `dest` (undefined when dest existed). */
    private readonly createdDest: string | undefined,
  ) {
    this.stagingBytes = byteString(staging);
  }

  static async create(dest: string, opts: StageOptions = {}): Promise<StagedDir> {
    let created: string | undefined;
    try {
      created = await mkdir(dest, { recursive: true });
      const staging = path.resolve(await mkdtemp(path.join(dest, '.msu-tmp-')));
      return new StagedDir(dest, staging, opts, created);
    } catch (err) {
      if (created) await removeEmptyUpTo(path.resolve(dest), path.resolve(created));
      throw ioError(err, dest, 'create directory');
    }
  }

  /** Absolute path in the staging area for a (checked) member name; parent dirs are created. */
  async pathFor(memberName: string, file?: string): Promise<string> {
    const p = resolveUnder(this.staging, memberName, file);
    await mkdir(path.dirname(p), { recursive: true });
    return p;
  }

  /** Same as pathFor, synchronous, creating each parent directory once. */
  pathForSync(memberName: string, file?: string): string {
    // safeRelativePath has rejected every way out (absolute, drive, `..`, empty parts), so
    // joining is exact; path.resolve per member showed up in profiles of 20,000-member cabs
    const p = `${this.staging}${path.sep}${safeRelativePath(memberName, file).split('/').join(path.sep)}`;
    const dir = p.slice(0, p.lastIndexOf(path.sep));
    if (!this.made.has(dir)) {
      mkdirSync(dir, { recursive: true });
      this.made.add(dir);
    }
    return p;
  }


  /**
   * Staging path, as a byte string, for `rel`: a byte-string relative path already checked by
   * safeRelativePath. Parent directories are created once.
   */
  pathForBytesSync(rel: string): string {
    const p = `${this.stagingBytes}/${rel}`;
    const dir = p.slice(0, p.lastIndexOf('/'));
    if (!this.made.has(dir)) {
      mkdirSync(fsPath(dir), { recursive: true });
      this.made.add(dir);
    }
    return p;
  }

  /** Open a member for writing in the staging area. */
  async open(memberName: string, file?: string) {
    return open(await this.pathFor(memberName, file), 'w');
  }

  /**
   * Move everything staged into dest, all or nothing (see the class comment), then drop
   * staging. On an error the target is as it was; the caller still calls abort().
   * `sub`: commit the contents of this directory of staging instead of all of it.
   */
  async commit(sub?: string): Promise<void> {
    const S = sub ? `${this.stagingBytes}/${byteString(sub)}` : this.stagingBytes, D = byteString(path.resolve(this.dest));
    const overwrite = this.opts.overwrite ?? false;
    const moves: { rel: string; replace: boolean }[] = [];
    const conflicts: string[] = [];
    // synchronous calls, where a thread-pool hop per call would cost more than the call itself;
    // and one listing of each target directory, not an lstat per path: extracting an LCU's
    // payload into a new directory is 20,000 names that are not there (docs/performance.md)
    const visit = (rel: string): void => {
      const ents = readdirSync(fsPath(rel ? `${S}/${rel}` : S), { withFileTypes: true, encoding: 'buffer' });
      const names = ents.map((e) => ({ name: e.name.toString('latin1'), dir: e.isDirectory() }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const target = rel ? `${D}/${rel}` : D;
      let there: Set<string>;
      try {
        there = new Set(readdirSync(fsPath(target), { encoding: 'buffer' }).map((n) => n.toString('latin1')));
      } catch (err) {
        throw ioError(err, showPath(target), 'check');
      }
      for (const { name, dir } of names) {
        const r = rel ? `${rel}/${name}` : name;
        if (!there.has(name)) {
          moves.push({ rel: r, replace: false });
          continue;
        }
        let st;
        try {
          st = lstatSync(fsPath(`${D}/${r}`));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError(err, showPath(`${D}/${r}`), 'check');
          moves.push({ rel: r, replace: false });
          continue;
        }
        if (dir && st.isDirectory()) visit(r);
        else if (!dir && st.isFile() && overwrite) moves.push({ rel: r, replace: true });
        else {
          const what = st.isSymbolicLink() ? 'a symbolic link' : st.isDirectory() ? 'a directory' : st.isFile() ? 'a file' : 'a special file';
          conflicts.push(`${showPath(r)} (${what})`);
        }
      }
    };
    visit('');
    if (conflicts.length > 0) {
      const shown = conflicts.slice(0, CONFLICTS_SHOWN).join(', ');
      const more = conflicts.length > CONFLICTS_SHOWN ? ` and ${conflicts.length - CONFLICTS_SHOWN} more` : '';
      throw new IoError(
        'E_TARGET_EXISTS',
        `${conflicts.length} path(s) to extract already exist in the target: ${shown}${more}; nothing was written` +
          (overwrite ? '' : ' (overwrite replaces regular files only)'),
        { file: this.dest },
      );
    }
    // Set-aside copies of replaced files live beside staging (same file system, renames only).
    let aside: string | undefined;
    const done: { to: string; backup?: string }[] = [];
    let current = '';
    try {
      for (const [i, m] of moves.entries()) {
        const from = `${S}/${m.rel}`, to = `${D}/${m.rel}`;
        current = to;
        if (m.replace) {
          aside ??= byteString(path.resolve(mkdtempSync(path.join(this.dest, '.msu-old-'))));
          const backup = `${aside}/${i}`;
          renameSync(fsPath(to), fsPath(backup));
          done.push({ to, backup });
          renameSync(fsPath(from), fsPath(to));
        } else {
          // the path was checked absent just now; a directory that appeared meanwhile makes
          // rename fail (ENOTEMPTY/ENOTDIR). Another process writing into the target while we
          // extract is not guarded against.
          renameSync(fsPath(from), fsPath(to));
          done.push({ to });
        }
      }
    } catch (err) {
      for (const d of done.reverse()) {
        // what we moved in is ours to remove; what we set aside goes back
        try {
          rmSync(fsPath(d.to), { recursive: true, force: true });
          if (d.backup) renameSync(fsPath(d.backup), fsPath(d.to));
        } catch {
          // best effort: keep undoing the rest
        }
      }
      if (aside) rmSync(fsPath(aside), { recursive: true, force: true });
      throw ioError(err, showPath(current), 'move into place');
    }
    if (aside) await rm(fsPath(aside), { recursive: true, force: true });
    await rm(this.staging, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
    if (this.createdDest) await removeEmptyUpTo(path.resolve(this.dest), path.resolve(this.createdDest));
  }
}

/** rmdir `dir` and its parents up to and including `top`, stopping at the first that is not empty. */
async function removeEmptyUpTo(dir: string, top: string): Promise<void> {
  for (let d = dir; d === top || d.startsWith(top + path.sep); d = path.dirname(d)) {
    try {
      await rmdir(d);
    } catch {
      return;
    }
    if (d === top) return;
  }
}
