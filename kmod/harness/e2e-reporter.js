// SPDX-License-Identifier: GPL-2.0
//
// e2e-reporter.js - mocha's spec reporter for the guest end to end stage (guest/e2e.sh),
// plus every failure in full at the moment it happens: "records-e2e: FAIL <title>", then
// the whole error message and, when the error has actual and expected values, mocha's
// whole diff of them (never cut at mocha's default 8 KB), one "records-e2e: | " line
// each.  run-guest.sh copies those lines from the guest's console to the host's stderr,
// so the first difference of a failed case is read there without opening the log.
'use strict';

const Mocha = require('mocha');

const { EVENT_TEST_FAIL } = Mocha.Runner.constants;
const { Base } = Mocha.reporters;

function asText(value) {
  return typeof value === 'string' ? value : Mocha.utils.stringify(value);
}

/** The error's message, then mocha's diff of actual and expected when it would show one. */
function fullError(err) {
  if (!err || typeof err !== 'object') return String(err);
  let text = String(err.stack || err.message || err);
  if (Base.showDiff(err)) text += '\n' + Base.generateDiff(asText(err.actual), asText(err.expected));
  return text;
}

class E2EReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    // The whole diff, here and in the spec reporter's closing list of failures.
    Base.maxDiffSize = 0;
    runner.on(EVENT_TEST_FAIL, (test, err) => {
      const out = [`records-e2e: FAIL ${test.fullTitle()}`];
      for (const line of fullError(err).split('\n')) out.push(`records-e2e: | ${line}`);
      process.stdout.write(out.join('\n') + '\n');
    });
  }
}

module.exports = E2EReporter;
