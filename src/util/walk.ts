import { byCode } from './compare.js';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { ioError } from '../errors.js';

export interface ListFilesOptions {
  /** Count symbolic links as files (driver packages copied from Windows media may hold them). Default: no. */
  links?: boolean;
  /** Stop after this many files. */
  max?: number;
  /** List folders too (not counted by `max`); symbolic links to folders are never walked. */
  directories?: boolean;
}

/**
 * Every file (and with `directories`, every folder) under a folder as relative POSIX paths,
 * sorted by code unit (stable across file systems). Read errors name `display/relative path`.
 */
export async function listFiles(root: string, display: string, opts: ListFilesOptions = {}): Promise<string[]> {
  const out: string[] = [];
  const max = opts.max ?? Infinity;
  // No depth limit: links are never walked, so only a bind-mount loop could recurse, and the
  // path then outgrows PATH_MAX and readdir fails (ENAMETOOLONG, an IoError naming it)
  const walk = async (rel: string): Promise<void> => {
    if (out.length >= max) return;
    let entries;
    try {
      entries = await readdir(path.join(root, rel), { withFileTypes: true });
    } catch (err) {
      throw ioError(err, rel ? `${display}/${rel}` : display, 'read directory');
    }
    entries.sort((a, b) => byCode(a.name, b.name));
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (opts.directories === true) out.push(r);
        await walk(r);
      }
      else if (e.isFile() || (opts.links === true && e.isSymbolicLink())) {
        if (out.length >= max) return;
        out.push(r);
      }
    }
  };
  await walk('');
  return out.sort(byCode);
}
