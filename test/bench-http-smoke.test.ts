/*
 * Keeps the HTTP benchmark working: one short H1 run per generator and server, and the
 * report rendered from them. It checks that every server answered and the figures are
 * reported, never how large they are (`npm run bench:http` measures).
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

interface SmokeResults {
  results: {
    row: { id: string };
    runs: { server: string; generator: string; requests: number; figure: number; problems: { kind: string }[] }[];
  }[];
}

describe('bench:http smoke', function () {
  this.timeout(180000);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-http-'));
  after(() => fs.rmSync(out, { recursive: true, force: true }));

  it('measures H1 on nginx + memcached and recordcache with autocannon and wrk, and reports it', async () => {
    // Both on CPU 0, so that a one-CPU machine runs it too.
    const args = [
      'bench/http.ts',
      '--rows',
      'H1',
      '--runs',
      '1',
      '--duration',
      '1',
      '--warmup',
      '0',
      '--server-cpu',
      '0',
      '--loadgen-cpu',
      '0',
      '--out',
      out,
    ];
    await new Promise<void>((resolve, reject) =>
      execFile(path.resolve('node_modules/.bin/tsx'), args, { encoding: 'utf8' }, (error, _stdout, stderr) =>
        error === null ? resolve() : reject(new Error(`${error.message}\n${stderr}`)),
      ),
    );
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as SmokeResults;
    const runs = results.results[0].runs;
    assert.deepEqual(runs.map((run) => `${run.generator} ${run.server}`).sort(), [
      'autocannon nginx+memcached',
      'autocannon recordcache/native',
      'wrk nginx+memcached',
      'wrk recordcache/native',
    ]);
    for (const run of runs) {
      assert.ok(run.requests > 0 && run.figure > 0, `${run.generator} ${run.server} measured nothing`);
      assert.ok(!run.problems.some((problem) => problem.kind === 'failed replies'), `${run.generator} ${run.server} had failed replies`);
    }
    const report = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    assert.match(report, /^\| H1 \| .* \| wrk \| recordcache\/native \| \d+ requests\/s \| [\d.]+× /m);
  });
});
