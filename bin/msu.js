#!/usr/bin/env node
// CommonJS (bin/package.json), like dist/: no ES module loader at start-up.
'use strict';
const path = require('node:path');
// compiled code for dist/src recorded by the build (src/cli/code-cache.ts); MSU_CODE_CACHE=off
// compiles from source, as when the cache is missing
if (process.env.MSU_CODE_CACHE !== 'off') {
  const dist = path.join(__dirname, '..', 'dist');
  require('../dist/src/cli/code-cache.js').installCodeCache(path.join(dist, 'src'), path.join(dist, 'code-cache'));
}
require('../dist/src/cli/main.js').main(process.argv).then((code) => {
  process.exitCode = code;
});
