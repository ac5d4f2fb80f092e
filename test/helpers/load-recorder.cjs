// Records every file the process loads, for tests that check which code a CLI command pulls in.
// Use: node --require <this file> ..., with MSU_LOAD_LOG set to a file; each file that a
// require() resolves to (the CLI and dist/ are CommonJS; an ES module package such as execa is
// required too) is appended to it once, as a file: URL. Modules the CLI runs from its start-up
// bundle (src/cli/code-cache.ts) are not resolved by Node; they are in Node's module cache, which
// is added at exit.
'use strict';
const Module = require('node:module');
const { appendFileSync } = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const log = process.env.MSU_LOAD_LOG;
if (log) {
  const seen = new Set();
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (...args) {
    const file = resolve.apply(this, args);
    if (path.isAbsolute(file) && !seen.has(file)) {
      seen.add(file);
      appendFileSync(log, pathToFileURL(file).href + '\n');
    }
    return file;
  };
  process.on('exit', () => {
    const more = Object.keys(Module._cache).filter((f) => path.isAbsolute(f) && !seen.has(f));
    if (more.length > 0) appendFileSync(log, more.map((f) => pathToFileURL(f).href + '\n').join(''));
  });
}
