import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { listFiles } from '../util/walk.js';
import { ioError } from '../errors.js';

/** Called while a file is hashed: bytes done of total, for the file as the user named it. */
export type HashProgress = (file: string, done: number, total: number) => void;

/** SHA-256 and size of a file, streamed (update files can be several GB). */
export async function hashFile(abs: string, display: string, onProgress?: HashProgress): Promise<{ sha256: string; size: number }> {
  let total: number;
  try {
    total = (await stat(abs)).size;
  } catch (err) {
    throw ioError(err, display);
  }
  const h = createHash('sha256');
  let done = 0;
  try {
    for await (const chunk of createReadStream(abs, { highWaterMark: 1 << 20 })) {
      h.update(chunk as Buffer);
      done += (chunk as Buffer).length;
      onProgress?.(display, done, total);
    }
  } catch (err) {
    throw ioError(err, display);
  }
  return { sha256: h.digest('hex'), size: done };
}

/** Every regular file under a folder (src/util/walk.ts), re-exported for the planner. */
export { listFiles };

/**
 * Digest of a driver folder: SHA-256 over one line per file, sorted by relative path,
 * `<path>\0<size>\0<sha256 hex>\n`. Renaming, adding, removing or changing any file
 * changes it; timestamps and the folder's own location do not.
 */
export async function hashFolder(abs: string, display: string, onProgress?: HashProgress): Promise<{ sha256: string; size: number; files: number }> {
  const files = await listFiles(abs, display);
  const h = createHash('sha256');
  let size = 0;
  for (const rel of files) {
    const f = await hashFile(path.join(abs, rel), `${display}/${rel}`, onProgress);
    size += f.size;
    h.update(`${rel}\0${f.size}\0${f.sha256}\n`);
  }
  return { sha256: h.digest('hex'), size, files: files.length };
}
