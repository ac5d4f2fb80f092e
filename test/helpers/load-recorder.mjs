// Records every module the process loads, for tests that check which code a CLI
// command pulls in. Use: node --import <this file's URL> ..., with MSU_LOAD_LOG set
// to a file; each loaded module URL is appended to it, one per line.
// One file serves both sides: in the main thread it registers itself as the
// loader-hooks module; in the loader thread (Node 20 runs hooks off-thread) only
// the exported hooks are used.
import { appendFileSync } from 'node:fs';
import { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';

let logFile;

export function initialize(data) {
  logFile = data.logFile;
}

export async function load(url, context, nextLoad) {
  // A load hook fires once per module actually evaluated (a resolve hook would also
  // see specifiers of modules already in the cache). CommonJS files pulled in by
  // require() inside CommonJS packages are not seen; the ESM entry of a package is.
  if (logFile) appendFileSync(logFile, url + '\n');
  return nextLoad(url, context);
}

if (isMainThread && process.env.MSU_LOAD_LOG) {
  register(import.meta.url, { data: { logFile: process.env.MSU_LOAD_LOG } });
}
