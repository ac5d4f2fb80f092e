import { createHash } from 'node:crypto';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { openInput } from '../util/source.js';
import { listFiles } from '../util/walk.js';
import { ioError } from '../errors.js';

/** Called while a file is hashed: bytes done of total, for the file as the user named it. */
export type HashProgress = (file: string, done: number, total: number) => void;

/** SHA-256 and size of a file, streamed (update files can be several GB). */
export async function hashFile(abs: string, display: string, onProgress?: HashProgress): Promise<{ sha256: string; size: number }> {
  return digestFile(abs, display, onProgress);
}

/** SHA-256, SHA-1 and size in one pass (SHA-1 is what scan cabinets name payload files by). */
export async function hashFileWithSha1(abs: string, display: string, onProgress?: HashProgress): Promise<{ sha256: string; sha1: string; size: number }> {
  const r = await digestFile(abs, display, onProgress, undefined, true);
  return { sha256: r.sha256, sha1: r.sha1!, size: r.size };
}

/**
 * Copy a file to `dest` (which must not exist) and hash it in the same streaming pass: the
 * digest is of exactly the bytes written, so a file replaced mid-copy cannot slip through.
 */
export async function copyFileHashed(abs: string, display: string, dest: string, onProgress?: HashProgress): Promise<{ sha256: string; size: number }> {
  return digestFile(abs, display, onProgress, dest);
}

async function digestFile(abs: string, display: string, onProgress?: HashProgress, dest?: string, sha1 = false): Promise<{ sha256: string; size: number; sha1?: string }> {
  // opened first: a FIFO or a device is refused before anything is created at `dest`
  let input: FileHandle;
  let total: number;
  try {
    ({ fh: input, size: total } = await openInput(abs));
  } catch (err) {
    throw ioError(err, display);
  }
  let out: FileHandle | undefined;
  try {
    out = dest === undefined ? undefined : await open(dest, 'wx');
  } catch (err) {
    await input.close();
    throw ioError(err, dest!, 'create');
  }
  const h = createHash('sha256');
  const h1 = sha1 ? createHash('sha1') : undefined;
  let done = 0;
  try {
    for await (const chunk of input.createReadStream({ highWaterMark: 1 << 20, autoClose: false })) {
      h.update(chunk as Buffer);
      h1?.update(chunk as Buffer);
      done += (chunk as Buffer).length;
      if (out) {
        try {
          await out.write(chunk as Buffer);
        } catch (err) {
          throw ioError(err, dest!, 'write');
        }
      }
      onProgress?.(display, done, total);
    }
  } catch (err) {
    throw ioError(err, display);
  } finally {
    await out?.close();
    await input.close();
  }
  return h1 ? { sha256: h.digest('hex'), size: done, sha1: h1.digest('hex') } : { sha256: h.digest('hex'), size: done };
}

/** Every regular file under a folder (src/util/walk.ts), re-exported for the planner. */
export { listFiles };

/**
 * Digest of a driver folder: SHA-256 over one line per file, sorted by relative path,
 * `<path>\0<size>\0<sha256 hex>\n`. Renaming, adding, removing or changing any file
 * changes it; timestamps and the folder's own location do not. Symbolic links are not
 * files of the package (listFiles skips them): never hashed, never copied.
 * With `destDir` (which must not exist), each file is copied there while it is hashed.
 */
export async function hashFolder(abs: string, display: string, onProgress?: HashProgress, destDir?: string): Promise<{ sha256: string; size: number; files: number }> {
  const files = await listFiles(abs, display);
  const h = createHash('sha256');
  let size = 0;
  if (destDir !== undefined) {
    try {
      await mkdir(destDir);
    } catch (err) {
      throw ioError(err, destDir, 'create directory');
    }
  }
  for (const rel of files) {
    const src = path.join(abs, rel), shown = `${display}/${rel}`;
    let f;
    if (destDir === undefined) f = await hashFile(src, shown, onProgress);
    else {
      const to = path.join(destDir, ...rel.split('/'));
      try {
        await mkdir(path.dirname(to), { recursive: true });
      } catch (err) {
        throw ioError(err, path.dirname(to), 'create directory');
      }
      f = await copyFileHashed(src, shown, to, onProgress);
    }
    size += f.size;
    h.update(`${rel}\0${f.size}\0${f.sha256}\n`);
  }
  return { sha256: h.digest('hex'), size, files: files.length };
}
