#!/usr/bin/env node
// decloud's bridge between forge and solcjs.
//
// forge expects a native `solc` binary that answers `--version` and reads a
// standard-JSON compilation request on stdin. The npm `solc` package is the same
// compiler built to WebAssembly; this file gives it that command-line shape so
// the contracts build with no compiler download (the machines reach npm only).
'use strict';
const fs = require('fs');
const path = require('path');
const solc = require(path.join(__dirname, '..', '.tools', 'node_modules', 'solc'));

const args = process.argv.slice(2);

if (args.includes('--version')) {
  // forge parses the "Version: X.Y.Z+commit.HASH.PLATFORM" line.
  const v = solc.version().replace('Emscripten.clang', 'Linux.g++');
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${v}\n`);
  process.exit(0);
}

if (!args.includes('--standard-json')) {
  process.stderr.write('solc-shim: only --version and --standard-json are supported\n');
  process.exit(2);
}

// Import lookup roots, in the order forge passes them.
const searchRoots = [];
for (let i = 0; i < args.length; i += 1) {
  if (args[i] === '--base-path' || args[i] === '--include-path') searchRoots.push(args[i + 1]);
}
searchRoots.push(process.cwd());

function readImport(importPath) {
  const candidates = path.isAbsolute(importPath)
    ? [importPath]
    : searchRoots.map((root) => path.join(root, importPath));
  const found = candidates.find((p) => fs.existsSync(p));
  return found ? { contents: fs.readFileSync(found, 'utf8') } : { error: `file not found: ${importPath}` };
}

const request = fs.readFileSync(0, 'utf8');
process.stdout.write(solc.compile(request, { import: readImport }));
