import { readFile, stat } from 'node:fs/promises';
import { FormatError, ioError } from '../errors.js';

/**
 * Where the base manifest for DCM-compressed component manifests comes from, the same way for
 * every command: `--base-manifest FILE`, else the environment variable MSU_BASE_MANIFEST (a file
 * path). Commands that read a whole package fall back to the package's own servicing stack.
 */
export interface BaseManifestOptions {
  baseManifest?: string;
}

export interface BaseManifest {
  bytes: Uint8Array;
  /** How it was found, for messages: `--base-manifest FILE` or `MSU_BASE_MANIFEST=FILE`. */
  source: string;
}

/** The real one (wcp.dll, build 26100) is 9 KB; anything huge is not a base manifest. */
const MAX_BASE_MANIFEST = 16 * 1024 * 1024;

async function readSmall(file: string): Promise<Uint8Array> {
  try {
    const st = await stat(file);
    if (st.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    if (st.size > MAX_BASE_MANIFEST) throw new FormatError('E_BASE_MANIFEST_SIZE', `file is ${st.size} bytes, far more than a base manifest`, { file });
    return await readFile(file);
  } catch (err) {
    throw ioError(err, file);
  }
}

export async function resolveBaseManifest(opts: BaseManifestOptions, env: NodeJS.ProcessEnv = process.env): Promise<BaseManifest | undefined> {
  if (opts.baseManifest) return { bytes: await readSmall(opts.baseManifest), source: `--base-manifest ${opts.baseManifest}` };
  const fromEnv = env.MSU_BASE_MANIFEST;
  if (fromEnv) return { bytes: await readSmall(fromEnv), source: `MSU_BASE_MANIFEST=${fromEnv}` };
  return undefined;
}
