#!/usr/bin/env node
/*
 * Generates the llhttp request parser (C) from its npm package (the TypeScript description
 * compiled by llparse) into native/gen/llhttp/, and prints the C files for binding.gyp.
 * Run by node-gyp at configure time (binding.gyp); the output is not committed.
 *
 *   node native/tools/llhttp-generate.js [outdir]
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const outDir = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'gen', 'llhttp'));
const pkgDir = path.dirname(require.resolve('llhttp/package.json'));
const { LLParse } = require('llparse');
const llhttp = require('llhttp');

const llparse = new LLParse('llhttp__internal');
// Requests only: the engine parses what clients send.
const http = new llhttp.HTTP(llparse, 'strict');
const result = llparse.build(http.build().entry, {
  c: { header: 'llhttp' },
  generateBitcode: false,
  generateJS: false,
  headerGuard: 'INCLUDE_LLHTTP_ITSELF_H_',
});
const api = fs.readFileSync(path.join(pkgDir, 'src', 'native', 'api.h'), 'utf8');
const header = [
  '#ifndef INCLUDE_LLHTTP_H_',
  '#define INCLUDE_LLHTTP_H_',
  '',
  new llhttp.CHeaders().build(),
  result.header,
  api,
  '#endif  /* INCLUDE_LLHTTP_H_ */',
  '',
].join('\n');

const files = {
  'llhttp.h': header,
  'llhttp.c': result.c,
  'api.c': fs.readFileSync(path.join(pkgDir, 'src', 'native', 'api.c'), 'utf8'),
  'http.c': fs.readFileSync(path.join(pkgDir, 'src', 'native', 'http.c'), 'utf8'),
};
fs.mkdirSync(outDir, { recursive: true });
for (const [name, text] of Object.entries(files)) {
  const file = path.join(outDir, name);
  // Unchanged files keep their mtime, so make does not rebuild them.
  if (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') !== text) fs.writeFileSync(file, text);
}
process.stdout.write(['llhttp.c', 'api.c', 'http.c'].map((name) => path.relative(process.cwd(), path.join(outDir, name))).join(' '));
