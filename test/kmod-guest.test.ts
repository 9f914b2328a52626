/*
 * The records kernel module, proven in a real kernel: kmod/test.sh builds it against
 * Debian 12's kernels, boots each under qemu and runs the guest selftests there. The
 * build machines cannot load modules, so the guest is the only place the module runs.
 * RECORDS_E2E=1 adds the end to end stage: in the same guests, the server (dist/, the
 * native addon) runs the scripted conformance cases against Debian's memcached, with the
 * records backend named in kmod/test.sh (E2E_BACKEND). On failure the whole output of
 * kmod/test.sh is the message: it carries every failed case's whole diff
 * ("records-e2e: |" lines) and the summary of each kernel.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';

const TEST_SH = path.resolve(__dirname, '..', 'kmod', 'test.sh');

describe('records kernel module in a qemu guest', function () {
  // Two guests, each bounded by run-guest.sh's qemu limit (50 minutes), and the builds.
  this.timeout((2 * 50 + 15) * 60 * 1000);

  it('builds warning-free and passes every guest test, and the server end to end, on each kernel', async () => {
    let output = '';
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('bash', [TEST_SH], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, RECORDS_E2E: process.env.RECORDS_E2E ?? '1' },
      });
      const keep = (data: Buffer) => {
        output += data.toString('utf8');
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.on('close', resolve);
    });
    assert.equal(code, 0, `kmod/test.sh failed:\n${output}`);
  });
});
