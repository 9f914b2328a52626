/*
 * The top-level Dockerfile, built and run for real: docker/test.sh makes the base images
 * from Debian's packages and this machine's Node (no image registry is needed), builds the
 * image with podman, runs it with memcached's flags after the image name and talks
 * memcached to it (set, get, a record, stats), checks that the server runs as the
 * unprivileged memcache user on every interface, the HEALTHCHECK, and a clean SIGTERM.
 *
 * Where containers cannot run (docker/test.sh exits 77 and says exactly what failed,
 * after checking what it could without running one), the test fails like any missing
 * prerequisite, unless RECORDCACHE_ALLOW_MISSING=containers (conformance/lib/required.ts).
 * About 6 minutes the first time, 30 to 70 s once docker/.cache/ and podman's layers
 * hold the base images and the build.
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { missing } from '../conformance/lib/required';

const TEST_SH = path.resolve(__dirname, '..', 'docker', 'test.sh');
/** docker/test.sh's status for "containers cannot be built or run on this machine". */
const CANNOT_RUN = 77;

describe('the Docker image (docker/test.sh: podman, offline)', function () {
  // Base images (mmdebstrap), npm ci and the addon's build on a busy two-core machine.
  this.timeout(30 * 60 * 1000);

  it('builds, serves memcached as the memcache user with the flags given after the image, passes its HEALTHCHECK, stops on SIGTERM', async function () {
    let output = '';
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn('bash', [TEST_SH], { stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (data: Buffer) => {
        output += data.toString('utf8');
        // One line per stage, as it goes: the first run takes minutes.
        process.stdout.write(data);
      };
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.on('close', resolve);
    });
    if (code === CANNOT_RUN) {
      const why = output.trim().split('\n').filter(Boolean).slice(-3).join(' / ');
      missing(this, 'containers', why);
    }
    assert.equal(code, 0, `docker/test.sh exited ${code}:\n${output}`);
    assert.match(output, /docker: PASS: built and ran /);
  });
});
