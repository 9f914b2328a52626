/*
 * The native addon under AddressSanitizer: builds native/build-asan (native/build-sanitized.sh address)
 * and runs the native parts of the records tests against it in a child Node process with
 * libasan preloaded. Any AddressSanitizer report fails the test, as does a LeakSanitizer
 * report that names the addon's code. The addon, gcc's libasan and the build are required
 * (RECORDCACHE_ALLOW_MISSING=native or asan leaves the test out, and says so); the child
 * run must load the instrumented build, pass at least MIN_PASSING tests and leave none
 * pending, so a run that quietly checked nothing cannot pass.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNativeBinding } from '../server/records/native-addon';
import { missing } from '../conformance/lib/required';

const ROOT = path.resolve(__dirname, '..');
const ASAN_ADDON = path.join(ROOT, 'native', 'build-asan', 'recordcache_native.node');
/**
 * The tests the grep below selects: the contract's native backend (12 with its check that
 * native runs), the 2 framing tests, 3 of the safety file (its native check, the slow
 * readers on native, the in-process storm) and the 6 of the read index. Fewer passing
 * means tests went missing.
 */
const MIN_PASSING = 23;
/** The child run's limit: it takes about 3 minutes on 2 loaded CPUs. */
const RUN_TIMEOUT_MS = 12 * 60 * 1000;

function libasan(): string | null {
  const found = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' });
  const file = found.status === 0 ? found.stdout.trim() : '';
  return file !== '' && path.isAbsolute(file) && fs.existsSync(file) ? file : null;
}

/**
 * Whether a leak report's allocation was made by the addon: a frame of the addon before the
 * first frame of Node itself. (Node exits without tearing V8 down, so V8 "leaks" whatever
 * it holds at exit, some of it allocated while JS was called from the addon.)
 */
function allocatedByAddon(report: string): boolean {
  const frames = report.split('\n').filter((line) => /^\s+#\d+ /.test(line));
  for (const frame of frames.slice(1)) {
    if (/recordcache/.test(frame)) return true;
    if (/\/bin\/node\b|libnode/.test(frame)) return false;
  }
  return false;
}

describe('native addon under AddressSanitizer', function () {
  this.timeout(RUN_TIMEOUT_MS + 5 * 60 * 1000);
  let preload: string | null = null;

  before(function () {
    try {
      loadNativeBinding();
    } catch (err) {
      missing(this, 'native', (err as Error).message);
    }
    preload = libasan();
    if (preload === null) missing(this, 'asan', 'gcc -print-file-name=libasan.so names no libasan (Debian: libasan8, with gcc)');
    const build = spawnSync('bash', [path.join(ROOT, 'native', 'build-sanitized.sh'), 'address'], { encoding: 'utf8' });
    if (build.status !== 0)
      missing(this, 'asan', `native/build-sanitized.sh address failed (exit ${build.status}):\n${build.stdout}\n${build.stderr}`);
    // The build made the addon, and it is instrumented.
    assert.ok(fs.existsSync(ASAN_ADDON), `native/build-sanitized.sh address left no ${ASAN_ADDON}`);
    assert.ok(fs.readFileSync(ASAN_ADDON).includes('__asan_init'), `${ASAN_ADDON} is not built with -fsanitize=address`);
  });

  it('runs the contract, framing and safety tests with no sanitizer report', () => {
    const mocha = require.resolve('mocha/bin/mocha.js');
    // Reports of every process (the test's and the servers it starts) land in files here.
    const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-asan-'));
    const run = spawnSync(
      process.execPath,
      [
        mocha,
        '--no-config',
        '--require',
        'tsx/cjs',
        '--extension',
        'ts',
        '--timeout',
        '120000',
        // Every native test but the memory baseline one: ASan's quarantine holds freed memory.
        '--grep',
        '^(?!.*baseline memory).*(native|framing|in this process)',
        'test/records-contract.test.ts',
        'test/records-native-framing.test.ts',
        'test/records-native-safety.test.ts',
        'test/read-index.test.ts',
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: {
          ...process.env,
          // The child run must not leave anything out.
          RECORDCACHE_ALLOW_MISSING: '',
          READ_INDEX_ROUNDS: '10000',
          LD_PRELOAD: preload as string,
          ASAN_OPTIONS: `detect_leaks=1:halt_on_error=1:detect_odr_violation=0:log_path=${path.join(reports, 'asan')}`,
          RECORDCACHE_NATIVE_ADDON: ASAN_ADDON,
        },
        maxBuffer: 64 * 1024 * 1024,
        // A child that hangs (a handle left open keeps mocha waiting) fails here, not never.
        timeout: RUN_TIMEOUT_MS,
        killSignal: 'SIGKILL',
      },
    );
    const logged = fs.readdirSync(reports).map((name) => fs.readFileSync(path.join(reports, name), 'utf8'));
    fs.rmSync(reports, { recursive: true, force: true });
    const output = `${run.stdout}\n${run.stderr}\n${logged.join('\n')}`;
    assert.doesNotMatch(output, /ERROR: AddressSanitizer/, output);
    const leaks = output
      .split(/(?=Direct leak|Indirect leak)/)
      .slice(1)
      .filter(allocatedByAddon);
    assert.deepEqual(leaks, [], 'no leak in the addon');
    if (run.signal !== null) assert.fail(`the ASan run was killed (${run.signal}${run.error ? `: ${run.error.message}` : ''}):\n${output}`);
    assert.equal(run.status, 0, output);
    const count = (what: string) => Number(new RegExp(`^ *(\\d+) ${what}`, 'm').exec(run.stdout)?.[1] ?? 0);
    assert.ok(count('passing') >= MIN_PASSING, `${count('passing')} tests passed under ASan, at least ${MIN_PASSING} expected:\n${output}`);
    assert.equal(count('pending'), 0, `tests left pending under ASan:\n${output}`);
    assert.equal(count('failing'), 0, output);
  });
});
