/*
 * The text command handlers (server/commands/text.ts) replaying a session recorded from
 * memcached 1.6.18 (run with -o no_lru_maintainer,no_lru_crawler so that no background
 * thread holds an item while incr decides whether to rewrite it in place): each request
 * was sent to /usr/bin/memcached followed by `mn`, and the reply recorded is what it gave.
 * Here the same bytes are decoded and executed on a store with a fixed clock.
 */

import assert from 'node:assert/strict';
import { After, ReplyQueue, endsEvent } from '../server/connection/reply-queue';
import { executeText } from '../server/commands/text';
import { runText, testContext } from './helpers/context';

const K251 = 'k'.repeat(251);

const SESSION: [string, string][] = [
  [`set foo 5 0 3\r\nbar\r\n`, `STORED\r\n`],
  [`get foo\r\n`, `VALUE foo 5 3\r\nbar\r\nEND\r\n`],
  [`gets foo\r\n`, `VALUE foo 5 3 1\r\nbar\r\nEND\r\n`],
  [`get foo nope foo\r\n`, `VALUE foo 5 3\r\nbar\r\nVALUE foo 5 3\r\nbar\r\nEND\r\n`],
  [`add foo 0 0 1\r\nx\r\n`, `NOT_STORED\r\n`],
  [`add new 0 0 1\r\nx\r\n`, `STORED\r\n`],
  [`replace nope 0 0 1\r\nx\r\n`, `NOT_STORED\r\n`],
  [`replace new 7 0 1\r\ny\r\n`, `STORED\r\n`],
  [`append new 0 0 2\r\nzz\r\n`, `STORED\r\n`],
  [`prepend new 0 0 1\r\na\r\n`, `STORED\r\n`],
  [`get new\r\n`, `VALUE new 7 4\r\nayzz\r\nEND\r\n`],
  [`append nope 0 0 1\r\nx\r\n`, `NOT_STORED\r\n`],
  [`cas foo 0 0 1 999\r\nx\r\n`, `EXISTS\r\n`],
  [`cas nope 0 0 1 1\r\nx\r\n`, `NOT_FOUND\r\n`],
  [`cas foo 0 0 1 1\r\nx\r\n`, `STORED\r\n`],
  [`gets foo new\r\n`, `VALUE foo 0 1 6\r\nx\r\nVALUE new 7 4 5\r\nayzz\r\nEND\r\n`],
  [`set q 0 0 1 noreply\r\nx\r\n`, ``],
  [`get q\r\n`, `VALUE q 0 1\r\nx\r\nEND\r\n`],
  [`delete q\r\n`, `DELETED\r\n`],
  [`delete q\r\n`, `NOT_FOUND\r\n`],
  [`delete q noreply\r\n`, ``],
  [`delete q 0\r\n`, `NOT_FOUND\r\n`],
  [`delete q 1\r\n`, `CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n`],
  [`set n 0 0 2\r\n10\r\n`, `STORED\r\n`],
  [`incr n 5\r\n`, `15\r\n`],
  [`decr n 100\r\n`, `0\r\n`],
  [`get n\r\n`, `VALUE n 0 2\r\n0 \r\nEND\r\n`],
  [`incr n 18446744073709551615\r\n`, `18446744073709551615\r\n`],
  [`incr n 2\r\n`, `1\r\n`],
  [`get n\r\n`, `VALUE n 0 20\r\n1                   \r\nEND\r\n`],
  [`incr nope 1\r\n`, `NOT_FOUND\r\n`],
  [`decr nope 1\r\n`, `NOT_FOUND\r\n`],
  [`incr foo 1\r\n`, `CLIENT_ERROR cannot increment or decrement non-numeric value\r\n`],
  [`incr n -1\r\n`, `CLIENT_ERROR invalid numeric delta argument\r\n`],
  [`incr n abc\r\n`, `CLIENT_ERROR invalid numeric delta argument\r\n`],
  [`incr n 1 noreply\r\n`, ``],
  [`get n\r\n`, `VALUE n 0 20\r\n2                   \r\nEND\r\n`],
  [`touch foo 100\r\n`, `TOUCHED\r\n`],
  [`touch nope 1\r\n`, `NOT_FOUND\r\n`],
  [`touch foo abc\r\n`, `CLIENT_ERROR invalid exptime argument\r\n`],
  [`gat 0 foo new nope\r\n`, `VALUE foo 0 1\r\nx\r\nVALUE new 7 4\r\nayzz\r\nEND\r\n`],
  [`gats 0 foo\r\n`, `VALUE foo 0 1 6\r\nx\r\nEND\r\n`],
  [`gat abc foo\r\n`, `CLIENT_ERROR invalid exptime argument\r\n`],
  [`version\r\n`, `VERSION 1.6.18\r\n`],
  [`verbosity 1\r\n`, `OK\r\n`],
  [`verbosity 1 noreply\r\n`, ``],
  [`verbosity\r\n`, `ERROR\r\n`],
  [`flush_all abc\r\n`, `CLIENT_ERROR invalid exptime argument\r\n`],
  [`flush_all 0\r\n`, `OK\r\n`],
  [`get foo new n\r\n`, `END\r\n`],
  [`flush_all noreply\r\n`, ``],
  [`shutdown\r\n`, `ERROR: shutdown not enabled\r\n`],
  [`bogus\r\n`, `ERROR\r\n`],
  [`\r\n`, `ERROR\r\n`],
  [`get\r\n`, `ERROR\r\n`],
  [`set foo 0 0 3\r\nbar\r\n`, `STORED\r\n`],
  [`get ${K251}\r\n`, `CLIENT_ERROR bad command line format\r\n`],
  [`get foo\r\nget ${K251}\r\n`, `VALUE foo 0 3\r\nbar\r\nEND\r\nCLIENT_ERROR bad command line format\r\n`],
  [`get foo ${K251} foo\r\n`, `CLIENT_ERROR bad command line format\r\n`],
  [`set ${K251} 0 0 1\r\nx\r\n`, `CLIENT_ERROR bad command line format\r\nERROR\r\n`],
  [`set k 0 0 1\r\nxy\r\n`, `CLIENT_ERROR bad data chunk\r\nERROR\r\n`],
  [`set k 0 0 -1\r\n`, `CLIENT_ERROR bad command line format\r\n`],
  [`set k abc 0 1\r\nx\r\n`, `CLIENT_ERROR bad command line format\r\nERROR\r\n`],
  [`set k 0 0 1 2 3 4\r\n`, `ERROR\r\n`],
  // Values larger than the table can show, in the same session.
  [`set big 0 0 2000000\r\n${'b'.repeat(2000000)}\r\n`, 'SERVER_ERROR object too large for cache\r\n'],
  [`set k 0 0 3\r\nabc\r\nset k 0 0 1000000\r\n${'c'.repeat(1000000)}\r\n`, 'STORED\r\nSTORED\r\n'],
  ['get k\r\n', `VALUE k 0 1000000\r\n${'c'.repeat(1000000)}\r\nEND\r\n`],
  // The largest value -I 1m takes with a one-byte key: 1048576 - 48 - 2 - 2 - 8.
  [`set k 0 0 1048516\r\n${'d'.repeat(1048516)}\r\n`, 'STORED\r\n'],
  ['get k\r\n', `VALUE k 0 1048516\r\n${'d'.repeat(1048516)}\r\nEND\r\n`],
];

/** memcached's counters after the session (its `stats`). */
const COUNTERS_AFTER = {
  cmd_get: 19,
  cmd_set: 18,
  cmd_flush: 3,
  cmd_touch: 6,
  get_hits: 15,
  get_misses: 4,
  get_expired: 0,
  get_flushed: 3,
  delete_misses: 3,
  delete_hits: 1,
  incr_misses: 1,
  incr_hits: 4,
  decr_misses: 1,
  decr_hits: 1,
  cas_misses: 1,
  cas_hits: 1,
  cas_badval: 1,
  touch_hits: 4,
  touch_misses: 2,
  store_too_large: 1,
  total_items: 13,
};

describe('text commands', () => {
  it('replay a memcached session reply for reply', () => {
    const { ctx } = testContext();
    for (const [request, expected] of SESSION) {
      const { text } = runText(ctx, request, executeText);
      assert.equal(text, expected, request.length > 80 ? request.slice(0, 80) + '…' : request);
    }
    for (const [name, value] of Object.entries(COUNTERS_AFTER)) {
      assert.equal(ctx.store.counters[name as keyof typeof COUNTERS_AFTER], value, name);
    }
    assert.equal(ctx.store.currItems, 2);
  });

  it('a set too large for -I drops the old value', () => {
    const { ctx } = testContext({ itemSizeMax: 1024 });
    assert.equal(runText(ctx, 'set k 0 0 1\r\nx\r\n', executeText).text, 'STORED\r\n');
    assert.equal(
      runText(ctx, `set k 0 0 2000\r\n${'y'.repeat(2000)}\r\n`, executeText).text,
      'SERVER_ERROR object too large for cache\r\n',
    );
    assert.equal(runText(ctx, 'get k\r\n', executeText).text, 'END\r\n');
    // add and replace refused for size leave it be.
    runText(ctx, 'set k 0 0 1\r\nx\r\n', executeText);
    assert.equal(
      runText(ctx, `replace k 0 0 2000\r\n${'y'.repeat(2000)}\r\n`, executeText).text,
      'SERVER_ERROR object too large for cache\r\n',
    );
    assert.equal(runText(ctx, 'get k\r\n', executeText).text, 'VALUE k 0 1\r\nx\r\nEND\r\n');
  });

  it('quit closes after the replies before it', () => {
    const { ctx } = testContext();
    const { text, after } = runText(ctx, 'set a 0 0 1\r\n1\r\nquit\r\n', executeText);
    // memcached: "STORED" and then the connection closes.
    assert.equal(text, 'STORED\r\n');
    assert.deepEqual(after, [After.Continue, After.Close]);
  });

  it('an HTTP request closes at once, losing replies not yet written', () => {
    // memcached wrote nothing for `set a ... GET / HTTP/1.1`, and only the get's reply for
    // `get a`, `set b ...`, `GET / HTTP/1.1` sent together: it writes after each get.
    const { ctx } = testContext();
    const first = runText(ctx, 'set a 0 0 1\r\n1\r\nGET / HTTP/1.1\r\n', executeText);
    assert.equal(first.text, '');
    assert.equal(first.after.at(-1), After.Close);
    const second = runText(ctx, 'get a\r\nset b 0 0 1\r\n1\r\nGET / HTTP/1.1\r\n', executeText);
    assert.equal(second.text, 'VALUE a 0 1\r\n1\r\nEND\r\n');
    assert.equal(second.after.at(-1), After.Close);
  });

  it('shutdown with -A, and its modes', () => {
    const { ctx } = testContext({ enableShutdown: true });
    assert.deepEqual(runText(ctx, 'shutdown\r\n', executeText).after, [After.Shutdown]);
    assert.deepEqual(runText(ctx, 'shutdown graceful\r\n', executeText).after, [After.Shutdown]);
    const bad = runText(ctx, 'shutdown now\r\n', executeText);
    assert.equal(bad.text, 'CLIENT_ERROR invalid shutdown mode\r\n');
    assert.deepEqual(bad.after, [After.Continue]);
  });

  it('flush_all with -F is refused but counted', () => {
    const { ctx } = testContext({ disableFlushAll: true });
    runText(ctx, 'set a 0 0 1\r\n1\r\n', executeText);
    assert.equal(runText(ctx, 'flush_all\r\n', executeText).text, 'CLIENT_ERROR flush_all not allowed\r\n');
    // memcached's out_string: noreply hides even this error.
    assert.equal(runText(ctx, 'flush_all noreply\r\n', executeText).text, '');
    assert.equal(runText(ctx, 'get a\r\n', executeText).text, 'VALUE a 0 1\r\n1\r\nEND\r\n');
    assert.equal(ctx.store.counters.cmd_flush, 2);
  });

  it('verbosity is kept, at most 2 (MAX_VERBOSITY_LEVEL)', () => {
    const { ctx } = testContext();
    runText(ctx, 'verbosity 5\r\n', executeText);
    assert.equal(ctx.settings.verbosity, 2);
    runText(ctx, 'verbosity 1 noreply\r\n', executeText);
    assert.equal(ctx.settings.verbosity, 1);
  });

  it('values go out as records once as long and as often served as configured', () => {
    const { ctx, engine } = testContext({ recordsMinSize: 5, recordsMinHits: 2 });
    runText(ctx, 'set s 0 0 4\r\nssss\r\nset l 0 0 5\r\nlllll\r\n', executeText);
    assert.equal(runText(ctx, 'get s s s\r\n', executeText).text, 'VALUE s 0 4\r\nssss\r\n'.repeat(3) + 'END\r\n');
    assert.equal(engine.created, 0, 'shorter than records_min_size');
    assert.equal(runText(ctx, 'get l\r\n', executeText).text, 'VALUE l 0 5\r\nlllll\r\nEND\r\n');
    assert.equal(engine.created, 0, 'served once of the two records_min_hits asks');
    assert.equal(runText(ctx, 'get l l\r\n', executeText).text, 'VALUE l 0 5\r\nlllll\r\n'.repeat(2) + 'END\r\n');
    assert.equal(engine.created, 1);
    // A new value is a new item: its record is made afresh, the old one released.
    runText(ctx, 'set l 0 0 5\r\nLLLLL\r\n', executeText);
    assert.equal(engine.deleted, 1);
    assert.equal(runText(ctx, 'get l l\r\n', executeText).text, 'VALUE l 0 5\r\nLLLLL\r\n'.repeat(2) + 'END\r\n');
    assert.equal(engine.created, 2);
  });

  it('with records_min_hits 0, a long value becomes a record when stored, read back through it', () => {
    const { ctx, engine } = testContext({ recordsMinSize: 5, recordsMinHits: 0 });
    const request = Buffer.from('set l 0 0 5\r\nlllll\r\nset s 0 0 4\r\nssss\r\n');
    runText(ctx, request, executeText);
    assert.equal(engine.created, 1, 'the long value only, before any get');
    // The record was copied from the request: scribbling over the request changes nothing.
    request.fill(0x21);
    const item = ctx.store.peek('l');
    assert.notEqual(item?.record, null);
    assert.equal(runText(ctx, 'get l s\r\n', executeText).text, 'VALUE l 0 5\r\nlllll\r\nVALUE s 0 4\r\nssss\r\nEND\r\n');
    assert.equal(engine.created, 1);
    // A refused store makes none; append reads the old value through its record.
    runText(ctx, 'add l 0 0 5\r\nxxxxx\r\n', executeText);
    assert.equal(engine.created, 1);
    runText(ctx, 'append l 0 0 2\r\nmm\r\n', executeText);
    assert.equal(runText(ctx, 'get l\r\n', executeText).text, 'VALUE l 0 7\r\nlllllmm\r\nEND\r\n');
    assert.equal(engine.deleted, 1, 'the replaced item released its record');
  });

  it('marks where each response object of a multi-key get ends, for UDP', () => {
    const { ctx } = testContext();
    runText(ctx, 'set a 0 0 1\r\n1\r\n', executeText);
    const replies = new ReplyQueue(false, true);
    // memcached starts a response for every key after the first; END joins the last.
    assert.equal(runText(ctx, 'get a b a\r\n', executeText, replies).text, 'VALUE a 0 1\r\n1\r\nVALUE a 0 1\r\n1\r\nEND\r\n');
    // Segments: [hdr a, value a] | (b: nothing) | [hdr a, value a, END].
    assert.deepEqual(replies.responseEnds, [2, 2]);
  });

  it('writes out after each -R requests of a read, as memcached does', () => {
    // With -R 20, memcached writes after the 21st, 41st, ... request of one read.
    const table: [number, number, boolean][] = [
      [1, 20, false],
      [20, 20, false],
      [21, 20, true],
      [22, 20, false],
      [41, 20, true],
      [61, 20, true],
      [2, 1, true],
      [3, 1, true],
      [1, 1, false],
    ];
    for (const [handled, perEvent, expected] of table) assert.equal(endsEvent(handled, perEvent), expected, `${handled} of -R ${perEvent}`);
  });
});
