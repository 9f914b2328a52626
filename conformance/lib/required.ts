// What the test suite needs beyond Node, and the one way to run without it.
//
// The native addon, its AddressSanitizer and ThreadSanitizer builds and Cyrus SASL's saslpasswd2 with the
// sasldb plugin are required: a test that finds one of them missing fails, naming what
// is missing and how to get it. RECORDCACHE_ALLOW_MISSING (a comma- or space-separated
// list of native, asan, tsan, sasl) lets a run go on without them; the tests that need them
// are then left out (mocha's pending), and every one of them says so on stderr and in
// the file RECORDCACHE_LEFT_OUT_FILE names (test/run-stages prints that file in its
// summary).
import fs from 'node:fs';

export type Requirement = 'native' | 'asan' | 'tsan' | 'sasl' | 'containers';

export const REQUIREMENTS: Record<Requirement, string> = {
  native: 'the native addon (native/build/Release/recordcache_native.node, built by `npm install`)',
  asan: 'the AddressSanitizer build of the native addon (native/build-sanitized.sh address, gcc with libasan)',
  tsan: 'the ThreadSanitizer build of the native addon (native/build-sanitized.sh thread, gcc with libtsan)',
  sasl: "Cyrus SASL's saslpasswd2 with the sasldb and PLAIN plugins (Debian: sasl2-bin, libsasl2-modules)",
  containers: 'podman building and running containers, as root (docker/test.sh installs podman, runc and mmdebstrap from Debian)',
};

/** The requirements this run may do without (RECORDCACHE_ALLOW_MISSING). */
export function allowedMissing(): Set<string> {
  return new Set(
    (process.env.RECORDCACHE_ALLOW_MISSING ?? '')
      .split(/[\s,]+/)
      .map((word) => word.trim().toLowerCase())
      .filter(Boolean),
  );
}

export function mayBeMissing(what: Requirement): boolean {
  const allowed = allowedMissing();
  return allowed.has(what) || allowed.has('all');
}

/** Says loudly, on stderr and in RECORDCACHE_LEFT_OUT_FILE, that tests were left out. */
export function reportLeftOut(what: Requirement, tests: string, why: string): void {
  const line = `LEFT OUT (RECORDCACHE_ALLOW_MISSING=${what}): ${tests}: ${why}`;
  process.stderr.write(`\n*** recordcache tests: ${line}\n\n`);
  const file = process.env.RECORDCACHE_LEFT_OUT_FILE;
  if (file) fs.appendFileSync(file, `${line}\n`);
}

/**
 * Called where a test finds `what` missing (`why` says how it is missing): throws an
 * error that fails the test, unless RECORDCACHE_ALLOW_MISSING names it; then the test
 * (or the suite, from a before hook) is skipped and the run says so.
 */
export function missing(context: Mocha.Context, what: Requirement, why: string): never {
  const runnable = context.test;
  // From a hook the whole suite goes; from a test, that test.
  const tests =
    runnable === undefined
      ? 'tests'
      : (runnable as Mocha.Runnable & { type?: string }).type === 'hook'
        ? `every test of "${runnable.parent?.fullTitle()}"`
        : `"${runnable.fullTitle()}"`;
  if (!mayBeMissing(what)) {
    throw new Error(
      `${REQUIREMENTS[what]} is required and missing: ${why}\n` +
        `(set RECORDCACHE_ALLOW_MISSING=${what} to run without it; the tests that need it are then left out, and the run says so)`,
    );
  }
  reportLeftOut(what, tests, why);
  context.skip();
}
