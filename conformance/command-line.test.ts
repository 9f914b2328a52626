// Command-line flags memcached refuses: the server must not start, and must
// exit with memcached's exit code and first line of error text; except that an
// unknown option, or one missing its argument, exits 2.
import assert from 'node:assert/strict';
import { candidateKind, startExpectingFailure } from './lib/servers';

const REFUSED: string[][] = [
  ['-c', '0'],
  ['-c', '-5'],
  ['-t', '0'],
  ['-t', 'abc'],
  ['-R', '0'],
  ['-I', '512'],
  ['-I', 'abc'],
  ['-I', '2000m'],
  ['-I', '64m', '-m', '64'],
  ['-m', '0'],
  ['-p', '70000'],
  ['-B', 'foo'],
  ['-f', '0.5'],
  ['-n', '0'],
  ['-o', 'bogus'],
  ['--nonsense'],
  ['-D'],
];

/** Command lines refused for their syntax rather than a value: recordcache exits 2 for them. */
const OPTION_ERRORS = new Set(['--nonsense', '-D']);

describe('command line: refused flags', function () {
  for (const flags of REFUSED) {
    it(flags.join(' '), async function () {
      const [reference, candidate] = await Promise.all([
        startExpectingFailure('memcached', flags),
        startExpectingFailure(candidateKind(), flags),
      ]);
      const firstLine = (text: string): string => text.split('\n')[0].replace(/^(\S*memcached|recordcache): /, 'PROGRAM: ');
      const expectedExit = candidateKind() === 'recordcache' && OPTION_ERRORS.has(flags.join(' ')) ? 2 : reference.exit;
      assert.deepEqual(
        { exit: candidate.exit, error: firstLine(candidate.stderr) },
        { exit: expectedExit, error: firstLine(reference.stderr) },
        `memcached said:\n${reference.stderr}\ncandidate said:\n${candidate.stderr}`,
      );
    });
  }
});
