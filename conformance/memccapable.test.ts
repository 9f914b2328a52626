// libmemcached's memccapable checker, once for the text protocol (-a) and
// once for the binary protocol (-b): every check that passes against
// memcached must pass against the candidate. Each protocol gets its own pair
// of servers, as the checker flushes the server it tests.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { usePair, type ServerProcess } from './lib/servers';

const MEMCCAPABLE = '/usr/bin/memccapable';

interface CheckerRun {
  /** Check name -> outcome as printed ("pass", "FAIL", "skipped", ...). */
  outcomes: Map<string, string>;
  output: string;
}

/** memccapable's switch that limits it to one protocol. */
const PROTOCOL_SWITCH = { text: '-a', binary: '-b' } as const;

function runMemccapable(server: ServerProcess, protocol: keyof typeof PROTOCOL_SWITCH): Promise<CheckerRun> {
  return new Promise((resolve) => {
    // -v prints the failing assertion; -t bounds each I/O wait in seconds.
    const args = ['-h', '127.0.0.1', '-p', String(server.port), PROTOCOL_SWITCH[protocol], '-v', '-t', '5'];
    execFile(MEMCCAPABLE, args, { timeout: 60000 }, (error, stdout, stderr) => {
      const output = `${stdout}${stderr}${error && !('code' in error && typeof error.code === 'number') ? `\n${error.message}` : ''}`;
      const outcomes = new Map<string, string>();
      for (const line of stdout.split('\n')) {
        const match = /^(\S.*?)\s+\[(\w+)\]\s*$/.exec(line);
        if (match) outcomes.set(match[1], match[2]);
      }
      resolve({ outcomes, output });
    });
  });
}

for (const protocol of ['text', 'binary'] as const) {
  describe(`memccapable (${protocol} protocol)`, function () {
    const pair = usePair();

    it('every check that passes on memcached passes', async function () {
      this.timeout(120000);
      const { reference, candidate } = pair();
      const [onReference, onCandidate] = await Promise.all([runMemccapable(reference, protocol), runMemccapable(candidate, protocol)]);
      const passedOnReference = [...onReference.outcomes].filter(([, outcome]) => outcome === 'pass').map(([name]) => name);
      assert.ok(passedOnReference.length > 0, `memccapable reported no passing check against memcached:\n${onReference.output}`);
      const failed = passedOnReference.filter((name) => onCandidate.outcomes.get(name) !== 'pass');
      assert.deepEqual(
        failed.map((name) => `${name}: ${onCandidate.outcomes.get(name) ?? 'not run'}`),
        [],
        `checks passing on memcached but not on ${candidate.kind}; memccapable said:\n${onCandidate.output}`,
      );
    });
  });
}
