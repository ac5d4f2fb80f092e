import { mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm, writeFile, open } from 'node:fs/promises';
import path from 'node:path';
import { FormatError, ioError } from '../errors.js';

/**
 * Map an archive member name (Windows-style, possibly hostile) to a relative
 * POSIX path under the extraction root, or throw. Rejects absolute paths, drive
 * letters, `..`, empty components, NUL and control characters: nothing an
 * archive says can make us write outside the directory the user named.
 */
export function safeRelativePath(memberName: string, file?: string): string {
  const bad = (why: string): never => {
    throw new FormatError('E_UNSAFE_NAME', `member name ${JSON.stringify(memberName)} ${why}`, { file });
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
  }
  return parts.join('/');
}

/** Resolve a member under root, re-checking after resolution as a second fence. */
export function resolveUnder(root: string, memberName: string, file?: string): string {
  const rel = safeRelativePath(memberName, file);
  const absRoot = path.resolve(root);
  const target = path.resolve(absRoot, rel);
  if (target !== absRoot && !target.startsWith(absRoot + path.sep)) {
    throw new FormatError('E_UNSAFE_NAME', `member name ${JSON.stringify(memberName)} escapes the target directory`, { file });
  }
  return target;
}

/** Write a file so that readers only ever see the complete result: temp name in the same directory, then rename. */
export async function writeFileAtomic(dest: string, data: Uint8Array | string | Iterable<string>): Promise<void> {
  const tmp = path.join(path.dirname(dest), `.msu-tmp-${process.pid}-${path.basename(dest)}`);
  try {
    await writeFile(tmp, data);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw ioError(err, dest, 'write');
  }
}

/**
 * A staging directory for multi-file output: everything is written under a
 * hidden temp dir inside `dest`, then moved into place only when all of it
 * succeeded. On failure the staging dir is removed and `dest` is as before.
 */
export class StagedDir {
  /** Directories already created under staging (extracting 20,000 members must not mean 20,000 mkdir calls). */
  private readonly made = new Set<string>();
  private constructor(readonly dest: string, readonly staging: string) {}

  static async create(dest: string): Promise<StagedDir> {
    try {
      await mkdir(dest, { recursive: true });
      const staging = path.resolve(await mkdtemp(path.join(dest, '.msu-tmp-')));
      return new StagedDir(dest, staging);
    } catch (err) {
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

  /** Open a member for writing in the staging area. */
  async open(memberName: string, file?: string) {
    return open(await this.pathFor(memberName, file), 'w');
  }

  /** Move every staged top-level entry into dest (replacing same-named files), then drop staging. */
  async commit(relNames: string[]): Promise<void> {
    const tops = [...new Set(relNames.map((n) => safeRelativePath(n).split('/')[0]!))].sort();
    for (const top of tops) {
      const from = path.join(this.staging, top);
      const to = path.join(this.dest, top);
      try {
        await rename(from, to);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EISDIR') {
          await mergeInto(from, to);
        } else throw ioError(err, to, 'move into place');
      }
    }
    await rm(this.staging, { recursive: true, force: true });
  }

  async abort(): Promise<void> {
    await rm(this.staging, { recursive: true, force: true });
  }
}

async function mergeInto(from: string, to: string): Promise<void> {
  const { readdir, stat } = await import('node:fs/promises');
  const st = await stat(from);
  if (!st.isDirectory()) {
    await rm(to, { recursive: true, force: true });
    await rename(from, to);
    return;
  }
  await mkdir(to, { recursive: true });
  for (const name of await readdir(from)) await mergeInto(path.join(from, name), path.join(to, name));
}
