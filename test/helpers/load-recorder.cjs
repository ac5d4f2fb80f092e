// Records every file the process loads, for tests that check which code a CLI command pulls in.
// Use: node --require <this file> ..., with MSU_LOAD_LOG set to a file; each file that a
// require() resolves to (the CLI and dist/ are CommonJS; an ES module package such as execa is
// required too) is appended to it once, as a file: URL.
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
}
