/**
 * Output a tool writes itself (wimlib-imagex, xorriso, qemu-img): it writes to a temp name
 * beside `dest`, which is renamed over `dest` only when the tool succeeded, so no partial file
 * ever carries the final name. In-memory data goes through writeFileAtomic (src/util/fsout.ts).
 */
import { link, rename, rm, unlink } from 'node:fs/promises';
import path from 'node:path';
import { IoError, ioError, MsuError } from '../errors.js';

/** The temp name beside `dest` (same directory, so the rename stays on one file system). */
export function tempNameBeside(dest: string): string {
  return path.join(path.dirname(path.resolve(dest)), `.msu-tmp-${process.pid}-${path.basename(dest)}`);
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
        throw new IoError('E_TARGET_EXISTS', `already exists; nothing was written${opts.hint ? ` (${opts.hint})` : ''}`, { file: dest });
      }
      await unlink(tmp);
    }
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err instanceof MsuError ? err : ioError(err, dest, 'write');
  }
}
