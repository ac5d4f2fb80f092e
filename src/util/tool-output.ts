/**
 * Output a tool writes itself (wimlib-imagex, xorriso, qemu-img): it writes to a temp name
 * beside `dest`, which is renamed over `dest` only when the tool succeeded, so no partial file
 * ever carries the final name. In-memory data goes through writeFileAtomic (src/util/fsout.ts).
 */
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { ioError, MsuError } from '../errors.js';

/** The temp name beside `dest` (same directory, so the rename stays on one file system). */
export function tempNameBeside(dest: string): string {
  return path.join(path.dirname(path.resolve(dest)), `.msu-tmp-${process.pid}-${path.basename(dest)}`);
}

/** Run `write(tmp)`, then rename tmp to `dest`; on any failure tmp is removed and `dest` is untouched. */
export async function writeThroughTemp(dest: string, write: (tmp: string) => Promise<void>): Promise<void> {
  const tmp = tempNameBeside(dest);
  try {
    await write(tmp);
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err instanceof MsuError ? err : ioError(err, dest, 'write');
  }
}
