/*
 * The native addon under ThreadSanitizer: builds native/build-tsan (native/build-sanitized.sh thread)
 * and runs the tests where several threads share the addon's memory (the read index read
 * by four I/O threads while JavaScript publishes into it, records sent from several
 * threads, 200 slow readers of a value overwritten and deleted under them) in a child Node
 * process with libtsan preloaded. A ThreadSanitizer report with a frame in the addon fails
 * the test. Node itself is not instrumented, so reports about Node's own threads (V8's
 * workers) are not the addon's and are left aside; the child must load the instrumented
 * build and pass at least MIN_PASSING tests, so a run that checked nothing cannot pass.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadNativeBinding } from '../server/records/native-addon';
import { missing } from '../conformance/lib/required';

const ROOT = path.resolve(__dirname, '..');
const TSAN_ADDON = path.join(ROOT, 'native', 'build-tsan', 'recordcache_native.node');
/** The read index's 6, the contract's native backend (12), the safety file's native 3. */
const MIN_PASSING = 21;
const RUN_TIMEOUT_MS = 15 * 60 * 1000;

function libtsan(): string | null {
  const found = spawnSync('gcc', ['-print-file-name=libtsan.so'], { encoding: 'utf8' });
  const file = found.status === 0 ? found.stdout.trim() : '';
  return file !== '' && path.isAbsolute(file) && fs.existsSync(file) ? file : null;
}

/**
 * Whether a report's racing accesses are the addon's: the first frame of an access that is
 * not TSan's own interceptor is in the addon. A race inside V8 that JS called from the
 * addon passes through the addon's frames further down, and is not the addon's.
 */
function isAddonRace(report: string): boolean {
  const accesses = report.split(/\n(?= {2}(?:Previous )?(?:atomic )?(?:[Ww]rite|[Rr]ead) of size)/).slice(1);
  return accesses.some((access) => {
    const frames = access.split('\n').filter((line) => /^\s+#\d+ /.test(line));
    const first = frames.find((frame) => !/libtsan|tsan_interceptors/.test(frame));
    return first !== undefined && /recordcache/.test(first);
  });
}

/** Reports of data races in the addon's code. */
function addonReports(output: string): string[] {
  return output
    .split(/(?=WARNING: ThreadSanitizer)/)
    .slice(1)
    .filter(isAddonRace);
}

describe('native addon under ThreadSanitizer', function () {
  this.timeout(RUN_TIMEOUT_MS + 5 * 60 * 1000);
  let preload: string | null = null;

  before(function () {
    try {
      loadNativeBinding();
    } catch (err) {
      missing(this, 'native', (err as Error).message);
    }
    preload = libtsan();
    if (preload === null) missing(this, 'tsan', 'gcc -print-file-name=libtsan.so names no libtsan (Debian: libtsan2, with gcc)');
    const build = spawnSync('bash', [path.join(ROOT, 'native', 'build-sanitized.sh'), 'thread'], { encoding: 'utf8' });
    if (build.status !== 0)
      missing(this, 'tsan', `native/build-sanitized.sh thread failed (exit ${build.status}):\n${build.stdout}\n${build.stderr}`);
    assert.ok(fs.existsSync(TSAN_ADDON), `native/build-sanitized.sh thread left no ${TSAN_ADDON}`);
    assert.ok(fs.readFileSync(TSAN_ADDON).includes('__tsan_init'), `${TSAN_ADDON} is not built with -fsanitize=thread`);
  });

  it('runs the read index, contract and safety tests with no data race in the addon', () => {
    const mocha = require.resolve('mocha/bin/mocha.js');
    const reports = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-tsan-'));
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
        '300000',
        '--grep',
        '^(?!.*baseline memory).*(native|in this process)',
        'test/read-index.test.ts',
        'test/records-contract.test.ts',
        'test/records-native-safety.test.ts',
      ],
      {
        cwd: ROOT,
        encoding: 'utf8',
        env: {
          ...process.env,
          RECORDCACHE_ALLOW_MISSING: '',
          READ_INDEX_ROUNDS: '10000',
          LD_PRELOAD: preload as string,
          // Node's own threads race in ways TSan cannot see are safe: reports are sorted below.
          TSAN_OPTIONS: `halt_on_error=0:exitcode=0:report_signal_unsafe=0:log_path=${path.join(reports, 'tsan')}`,
          RECORDCACHE_NATIVE_ADDON: TSAN_ADDON,
        },
        maxBuffer: 64 * 1024 * 1024,
        timeout: RUN_TIMEOUT_MS,
        killSignal: 'SIGKILL',
      },
    );
    const logged = fs.readdirSync(reports).map((name) => fs.readFileSync(path.join(reports, name), 'utf8'));
    fs.rmSync(reports, { recursive: true, force: true });
    const output = `${run.stdout}\n${run.stderr}\n${logged.join('\n')}`;
    assert.deepEqual(addonReports(output), [], 'no data race in the addon');
    if (run.signal !== null)
      assert.fail(`the TSan run was killed (${run.signal}${run.error ? `: ${run.error.message}` : ''}):\n${run.stdout}`);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    const count = (what: string) => Number(new RegExp(`^ *(\\d+) ${what}`, 'm').exec(run.stdout)?.[1] ?? 0);
    assert.ok(
      count('passing') >= MIN_PASSING,
      `${count('passing')} tests passed under TSan, at least ${MIN_PASSING} expected:\n${run.stdout}`,
    );
    assert.equal(count('pending'), 0, `tests left pending under TSan:\n${run.stdout}`);
    assert.equal(count('failing'), 0, run.stdout);
  });
});
