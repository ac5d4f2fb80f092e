#!/usr/bin/env node
// CommonJS (bin/package.json), like dist/: no ES module loader at start-up.
'use strict';
require('../dist/src/cli/main.js').main(process.argv).then((code) => {
  process.exitCode = code;
});
