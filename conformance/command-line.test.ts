// Command lines given to both servers must end the same way. Those memcached
// refuses: memcached must refuse (the list is checked, not trusted), and the
// candidate must exit with memcached's exit status and stderr lines; except
// that an unknown option, or one missing its argument, exits 2 with getopt's
// line alone (memcached adds `Illegal argument "?"` and exits 1). Those
// memcached starts with: both must start. test/cli-args.test.ts holds many
// more, checked against memcached the same way without starting recordcache.
import assert from 'node:assert/strict';
import { candidateKind, startExpectingFailure, startServer } from './lib/servers';

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
  ['-m', '65536', '-I', '4096m'],
  ['-m', '0'],
  ['-p', '70000'],
  ['-B', 'foo'],
  ['-f', '0.5'],
  ['-f', 'x'],
  ['-n', '0'],
  ['-o', 'bogus'],
  ['-o', 'hashpower=33'],
  ['-o', 'hot_lru_pct=50,warm_lru_pct=40'],
  ['-o', 'worker_logbuf_size=10'],
  ['-o', 'slab_sizes='],
  ['-l', '127.0.0.1:port'],
  ['--nonsense'],
  ['-D'],
];

/** Command lines refused for their syntax rather than a value: recordcache exits 2 for them. */
const OPTION_ERRORS = new Set(['--nonsense', '-D']);

const STARTED: string[][] = [
  ['-b', '-1'],
  ['-o', 'lru_crawler_tocrawl=4294967296'],
  ['-o', 'worker_logbuf_size=128'],
  ['-o', 'idle_timeout=-5'],
  ['-'],
  ['--verbose', '2'],
  // Not `-l proto[foo]:127.0.0.1`: beside the harness's own `-l 127.0.0.1`, memcached binds
  // the address twice and exits 71, where recordcache listens once (README, Known gaps).
];

function stderrLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.replace(/^(\S*memcached|recordcache): /, 'PROGRAM: '));
}

describe('command line: refused flags', function () {
  for (const flags of REFUSED) {
    it(flags.join(' '), async function () {
      const [reference, candidate] = await Promise.all([
        startExpectingFailure('memcached', flags),
        startExpectingFailure(candidateKind(), flags),
      ]);
      assert.notEqual(reference.exit, 'still running', `memcached accepted ${flags.join(' ')}`);
      const expected = { exit: reference.exit, stderr: stderrLines(reference.stderr) };
      if (candidateKind() === 'recordcache' && OPTION_ERRORS.has(flags.join(' '))) {
        assert.deepEqual(expected.stderr.slice(1), ['Illegal argument "?"']);
        expected.exit = 2;
        expected.stderr = expected.stderr.slice(0, 1);
      }
      assert.deepEqual(
        { exit: candidate.exit, stderr: stderrLines(candidate.stderr) },
        expected,
        `memcached said:\n${reference.stderr}\ncandidate said:\n${candidate.stderr}`,
      );
    });
  }
});

describe('command line: flags both start with', function () {
  for (const flags of STARTED) {
    it(flags.join(' '), async function () {
      // startServer waits until the server accepts a connection, and throws if it exits.
      const servers = await Promise.allSettled([startServer('memcached', flags), startServer(candidateKind(), flags)]);
      for (const result of servers) if (result.status === 'fulfilled') await result.value.stop();
      const failures = servers.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
      assert.deepEqual(
        failures.map((failure) => String(failure.reason)),
        [],
      );
    });
  }
});
