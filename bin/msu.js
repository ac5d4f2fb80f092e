#!/usr/bin/env node
// CommonJS (bin/package.json), like dist/: no ES module loader at start-up.
'use strict';
const path = require('node:path');
const src = path.join(__dirname, '..', 'dist', 'src');
// the bundle and the code cache the build made for dist/src (src/cli/code-cache.ts);
// MSU_CODE_CACHE=off loads every module from its file, as when they are missing
const { main } = process.env.MSU_CODE_CACHE === 'off'
  ? require('../dist/src/cli/main.js')
  : require('../dist/src/cli/code-cache.js')
    .installCodeCache(src, path.join(src, '..', 'code-cache'), { bundle: path.join(src, 'bundle.js') })
    .load(path.join(src, 'cli', 'main.js'));
main(process.argv).then((code) => {
  process.exitCode = code;
});
