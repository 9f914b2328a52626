// SPDX-License-Identifier: GPL-2.0
//
// e2e-reporter.js - mocha's spec reporter, plus one line per retried case, for the guest
// end to end stage (guest/e2e.sh runs mocha with --retries): a case that passes only on
// a retry stays visible in the log as "records-e2e: RETRY <title>: <first error line>".
'use strict';

const Mocha = require('mocha');

const { EVENT_TEST_RETRY } = Mocha.Runner.constants;

class E2EReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.on(EVENT_TEST_RETRY, (test, err) => {
      const why = String((err && err.message) || err).split('\n')[0];
      process.stdout.write(`records-e2e: RETRY ${test.fullTitle()}: ${why}\n`);
    });
  }
}

module.exports = E2EReporter;
