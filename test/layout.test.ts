/*
 * The code's shape: one module, one job, none so long that its job is hard to see.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '..');
const MAX_LINES = 600;

function sourceFiles(dir: string, extensions: string[]): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(relative, extensions));
    else if (extensions.some((ext) => entry.name.endsWith(ext))) out.push(relative);
  }
  return out;
}

describe('layout', () => {
  it(`keeps every file of server/ and native/src/ to ${MAX_LINES} lines`, () => {
    const files = [...sourceFiles('server', ['.ts']), ...sourceFiles('native/src', ['.cc', '.h'])];
    assert.ok(files.length > 50, `found only ${files.length} source files`);
    const long = files
      .map((file) => ({ file, lines: fs.readFileSync(path.join(ROOT, file), 'utf8').split('\n').length - 1 }))
      .filter(({ lines }) => lines > MAX_LINES)
      .map(({ file, lines }) => `${file}: ${lines} lines`);
    assert.deepEqual(long, []);
  });
});
