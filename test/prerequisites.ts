/*
 * npm test's first stage (test/run-stages): says at once whether what the suite requires
 * is here, so a machine without the native addon (npm install goes on when node-gyp
 * fails), without gcc's libasan or without Cyrus SASL fails with one clear message
 * instead of somewhere in the middle of the run. RECORDCACHE_ALLOW_MISSING
 * (conformance/lib/required.ts) lets the run go on without them, and this stage then
 * lists what the run leaves out.
 */

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIREMENTS, mayBeMissing, reportLeftOut, type Requirement } from '../conformance/lib/required';
import { loadNativeBinding } from '../server/records/native-addon';

/** null when `what` is here, else how it is missing. */
function check(what: Requirement): string | null {
  switch (what) {
    case 'native':
      try {
        loadNativeBinding();
        return null;
      } catch (err) {
        return (err as Error).message;
      }
    case 'asan': {
      const found = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' });
      const file = found.status === 0 ? found.stdout.trim() : '';
      return path.isAbsolute(file) && fs.existsSync(file) ? null : 'gcc names no libasan.so (Debian: gcc, libasan8)';
    }
    case 'tsan': {
      const found = spawnSync('gcc', ['-print-file-name=libtsan.so'], { encoding: 'utf8' });
      const file = found.status === 0 ? found.stdout.trim() : '';
      return path.isAbsolute(file) && fs.existsSync(file) ? null : 'gcc names no libtsan.so (Debian: gcc, libtsan2)';
    }
    case 'sasl': {
      const which = spawnSync('sh', ['-c', 'command -v saslpasswd2'], { encoding: 'utf8' });
      if (which.status !== 0) return 'no saslpasswd2 on PATH (Debian: sasl2-bin)';
      const dir = '/usr/lib/x86_64-linux-gnu/sasl2';
      const plugins = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
      for (const plugin of ['libplain.so', 'libsasldb.so']) {
        if (!plugins.some((name) => name.startsWith(plugin)))
          return `no ${plugin} in ${dir} (Debian: libsasl2-modules, libsasl2-modules-db)`;
      }
      return null;
    }
    case 'containers': {
      // docker/test.sh installs podman when it runs as root; whether containers then run
      // here is for test/docker-image.test.ts to find out.
      if (process.getuid?.() === 0) return null;
      return 'not root: podman needs root here for its storage and for mmdebstrap (docker/test.sh)';
    }
  }
}

let failed = 0;
for (const what of Object.keys(REQUIREMENTS) as Requirement[]) {
  const why = check(what);
  if (why === null) {
    console.log(`  ok       ${what}: ${REQUIREMENTS[what]}`);
  } else if (mayBeMissing(what)) {
    console.log(`  MISSING  ${what}: ${why} (allowed by RECORDCACHE_ALLOW_MISSING)`);
    reportLeftOut(what, `every test that needs ${what}`, why);
  } else {
    console.log(`  MISSING  ${what}: ${REQUIREMENTS[what]} is required: ${why}`);
    failed++;
  }
}
if (failed > 0) {
  console.log(
    `\n${failed} requirement${failed > 1 ? 's are' : ' is'} missing: the tests that need ${failed > 1 ? 'them' : 'it'} fail below.\n` +
      'Install what is missing (npm install builds the addon; bash conformance/setup.sh installs Cyrus SASL), or run with\n' +
      'RECORDCACHE_ALLOW_MISSING=native,asan,tsan,sasl,containers (any of them) to leave those tests out; the run then lists them at its end.',
  );
  process.exitCode = 1;
}
