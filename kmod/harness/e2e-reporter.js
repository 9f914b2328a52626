// SPDX-License-Identifier: GPL-2.0
//
// e2e-reporter.js - mocha's spec reporter, plus the failures of retried attempts, for the
// guest end to end stage (guest/e2e.sh runs mocha with --retries when
// RECORDS_E2E_RETRIES asks for it): a case that passes only on a retry stays visible in
// the log as "records-e2e: RETRY <title> (attempt N): <first error line>".  The first
// failing attempt of a case also gets its whole error message and, when the error has
// actual and expected values, mocha's diff of them, one "records-e2e: | " line each: the
// first difference is the one worth reading, and a retry that passes leaves nothing
// else of it.
'use strict';

const Mocha = require('mocha');

const { EVENT_TEST_RETRY } = Mocha.Runner.constants;
const { Base } = Mocha.reporters;

function asText(value) {
  return typeof value === 'string' ? value : Mocha.utils.stringify(value);
}

/** The error's message, then mocha's diff of actual and expected when it would show one. */
function fullError(err) {
  if (!err || typeof err !== 'object') return String(err);
  let text = String(err.message || err);
  if (Base.showDiff(err)) text += '\n' + Base.generateDiff(asText(err.actual), asText(err.expected));
  return text;
}

class E2EReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.on(EVENT_TEST_RETRY, (test, err) => {
      const attempt = test.currentRetry() + 1;
      const lines = fullError(err).split('\n');
      const out = [`records-e2e: RETRY ${test.fullTitle()} (attempt ${attempt}): ${lines[0]}`];
      if (attempt === 1) for (const line of lines.slice(1)) out.push(`records-e2e: | ${line}`);
      process.stdout.write(out.join('\n') + '\n');
    });
  }
}

module.exports = E2EReporter;
