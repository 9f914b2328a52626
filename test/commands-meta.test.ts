/*
 * The meta command handlers (server/commands/meta.ts) replaying a session recorded from
 * memcached 1.6.18: every request below was sent to /usr/bin/memcached, each followed by
 * `mn`, and the reply recorded is the one it gave. Here the same requests are decoded and
 * handed to executeMeta/executeMetaError on a store whose clock stands still (memcached's
 * clock did not tick during the recording but for one step, where its `t29` is `t30` here).
 */

import assert from 'node:assert/strict';
import { executeMeta, executeMetaError } from '../server/commands/meta';
import { executeText } from '../server/commands/text';
import { ReplyQueue } from '../server/connection/reply-queue';
import { Op, type TextRequest } from '../server/protocol/text';
import type { ServerContext } from '../server/context';
import { runText, testContext } from './helpers/context';

/** executeMeta and executeMetaError; anything else the text decoder gives is a test error. */
function execute(ctx: ServerContext, req: TextRequest, replies: ReplyQueue): void {
  if (req.op === 'meta') return executeMeta(ctx, req, replies);
  if (req.op === 'meta-error') return executeMetaError(ctx, req, replies);
  if (req.op === Op.Error) return void replies.segments.push(req.reply);
  throw new Error(`not a meta request: ${JSON.stringify(req)}`);
}

const SESSION: [string, string][] = [
  ['ms foo 3 T100 F5 c\r\nbar\r\n', 'HD c1\r\n'],
  ['mg foo s v t c f k O123\r\n', 'VA 3 s3 t100 c1 f5 kfoo O123\r\nbar\r\n'],
  ['mg foo q k\r\n', 'HD kfoo\r\n'],
  ['mg miss q\r\n', ''],
  ['mg miss k O9\r\n', 'EN kmiss O9\r\n'],
  ['mg foo h l t\r\n', 'HD h1 l0 t100\r\n'],
  ['ms foo 3 MA\r\nxyz\r\n', 'HD\r\n'],
  ['mg foo v f t c\r\n', 'VA 6 f5 t100 c2\r\nbarxyz\r\n'],
  ['ms foo 1 ME\r\nx\r\n', 'NS\r\n'],
  ['ms new 1 MR\r\nx\r\n', 'NS\r\n'],
  ['ms foo 1 C999\r\nx\r\n', 'EX\r\n'],
  ['ms foo 1 C3 c k O1\r\ny\r\n', 'EX c0 kfoo O1\r\n'],
  ['ms foo 1 q\r\nz\r\n', ''],
  ['ms foo 1 ME q\r\nz\r\n', 'NS\r\n'],
  ['mg foo s O1 k q\r\n', 'HD s1 O1 kfoo\r\n'],
  ['md foo q\r\n', ''],
  ['md foo\r\n', 'NF\r\n'],
  ['md foo q k O5\r\n', 'NF kfoo O5\r\n'],
  ['ma cnt\r\n', 'NF\r\n'],
  ['ma cnt q\r\n', 'NF\r\n'],
  ['ma cnt N0 J10 v\r\n', 'VA 2\r\n10\r\n'],
  ['ma cnt v t c\r\n', 'VA 2 t-1 c5\r\n11\r\n'],
  ['ma cnt MD D20 v\r\n', 'VA 1\r\n0\r\n'],
  ['ma cnt MI D7 q\r\n', ''],
  ['mg cnt v\r\n', 'VA 2\r\n7 \r\n'],
  ['ma cnt C1 v\r\n', 'EX\r\n'],
  ['ms s 3\r\nabc\r\n', 'HD\r\n'],
  ['ma s\r\n', 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n'],
  ['ma s q\r\n', 'CLIENT_ERROR cannot increment or decrement non-numeric value\r\n'],
  ['me s\r\n', 'ME s exp=-1 la=0 cas=8 fetch=no cls=1 size=63\r\n'],
  ['me nope\r\n', 'EN\r\n'],
  ['ms Zm9vYg== 1 b\r\nx\r\n', 'HD\r\n'],
  ['mg Zm9vYg== b k v\r\n', 'VA 1 kZm9vYg== b\r\nx\r\n'],
  ['mg Zm9vYg== b k v O7 q\r\n', 'VA 1 kZm9vYg== b O7\r\nx\r\n'],
  ['mg fooY v\r\n', 'EN\r\n'],
  ['me Zm9vYg== b\r\n', 'ME Zm9vYg== exp=-1 la=0 cas=9 fetch=yes cls=1 size=64\r\n'],
  ['mg s OAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n', 'CLIENT_ERROR opaque token too long\r\n'],
  ['mg nope OAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\r\n', 'CLIENT_ERROR opaque token too long\r\n'],
  ['mg viv N30 v c t\r\n', 'VA 0 c10 t30 W\r\n\r\n'],
  ['mg viv v t\r\n', 'VA 0 t30 Z\r\n\r\n'],
  ['mg viv v\r\n', 'VA 0 Z\r\n\r\n'],
  ['ms viv 2 T60\r\nok\r\n', 'HD\r\n'],
  ['mg viv v t c\r\n', 'VA 2 t60 c11\r\nok\r\n'],
  ['md viv I T30\r\n', 'HD\r\n'],
  ['mg viv v c t\r\n', 'VA 2 c12 t30 X W\r\nok\r\n'],
  ['mg viv v\r\n', 'VA 2 Z X\r\nok\r\n'],
  ['ms viv 3 I C99\r\nnew\r\n', 'EX\r\n'],
  ['ms viv 3 I C11\r\nnew\r\n', 'HD\r\n'],
  ['mg viv v c\r\n', 'VA 3 c13 Z X\r\nnew\r\n'],
  ['mg ttl T10 t v\r\n', 'EN\r\n'],
  ['ms ttl 1 T100\r\nx\r\n', 'HD\r\n'],
  ['mg ttl t T10 t\r\n', 'CLIENT_ERROR duplicate flag\r\n'],
  ['mg ttl R30 t v\r\n', 'VA 1 t100\r\nx\r\n'],
  ['mg ttl R30 v\r\n', 'VA 1\r\nx\r\n'],
  ['mg ttl u h\r\n', 'HD h1\r\n'],
  ['mg ttl h\r\n', 'HD h1\r\n'],
  ['me ttl\r\n', 'ME ttl exp=-100 la=0 cas=14 fetch=yes cls=1 size=63\r\n'],
];

/** memcached's counters after the session (from its `stats`). */
const COUNTERS_AFTER = {
  cmd_get: 24,
  cmd_set: 14,
  cmd_touch: 0,
  get_hits: 19,
  get_misses: 5,
  delete_misses: 2,
  delete_hits: 1,
  incr_misses: 2,
  incr_hits: 2,
  decr_misses: 0,
  decr_hits: 1,
  cas_misses: 0,
  cas_hits: 1,
  cas_badval: 3,
  touch_hits: 0,
  touch_misses: 0,
  total_items: 10,
};

describe('meta commands', () => {
  it('replay a memcached session reply for reply', () => {
    const { ctx } = testContext();
    for (const [request, expected] of SESSION) assert.equal(runText(ctx, request, execute).text, expected, request);
    for (const [name, value] of Object.entries(COUNTERS_AFTER)) {
      assert.equal(ctx.store.counters[name as keyof typeof COUNTERS_AFTER], value, name);
    }
    assert.equal(ctx.store.currItems, 5);
    // memcached counts `me` as cmd_meta (four in the session).
    assert.equal(ctx.counters.cmdMeta, 4);
  });

  it('t counts down with the clock, and T resets it', () => {
    const { ctx, clock } = testContext();
    const run = (line: string) => runText(ctx, line, execute).text;
    assert.equal(run('ms k 1 T100\r\nx\r\n'), 'HD\r\n');
    clock.advance(30);
    assert.equal(run('mg k t\r\n'), 'HD t70\r\n');
    // Flags act in order: t before T shows the old TTL, after it the new one.
    assert.equal(run('mg k t T10\r\n'), 'HD t70\r\n');
    assert.equal(run('mg k T20 t\r\n'), 'HD t20\r\n');
    // mg with T counts as a touch, not a get.
    assert.equal(ctx.store.counters.touch_hits, 2);
    assert.equal(ctx.store.counters.get_hits, 1);
    clock.advance(20);
    assert.equal(run('mg k t\r\n'), 'EN\r\n');
  });

  it('R hands out one recache token when the TTL falls below it', () => {
    const { ctx, clock } = testContext();
    const run = (line: string) => runText(ctx, line, execute).text;
    run('ms k 1 T100\r\nx\r\n');
    assert.equal(run('mg k R30 t\r\n'), 'HD t100\r\n');
    clock.advance(71);
    assert.equal(run('mg k R30 t\r\n'), 'HD t29 W\r\n');
    assert.equal(run('mg k R30 t\r\n'), 'HD t29 Z\r\n');
  });

  it('l and h report the last access and whether the item was fetched before', () => {
    const { ctx, clock } = testContext();
    const run = (line: string) => runText(ctx, line, execute).text;
    run('ms k 1\r\nx\r\n');
    clock.advance(7);
    assert.equal(run('mg k l h\r\n'), 'HD l7 h0\r\n');
    // The second fetch is the one that moves the access time (memcached's ITEM_ACTIVE).
    assert.equal(run('mg k l h\r\n'), 'HD l7 h1\r\n');
    assert.equal(run('mg k l h\r\n'), 'HD l0 h1\r\n');
    // u leaves the item as it was.
    clock.advance(3);
    assert.equal(run('mg k u l\r\n'), 'HD l3\r\n');
    assert.equal(run('mg k l\r\n'), 'HD l3\r\n');
  });

  it('values are sent as records once long enough', () => {
    const { ctx, engine } = testContext({ recordsMinSize: 10, recordsMinHits: 1 });
    const run = (line: string) => runText(ctx, line, execute).text;
    run('ms short 9\r\n123456789\r\nms long 10\r\n1234567890\r\n');
    assert.equal(run('mg short v\r\n'), 'VA 9\r\n123456789\r\n');
    assert.equal(engine.created, 0);
    assert.equal(run('mg long v\r\nmg long v\r\n'), 'VA 10\r\n1234567890\r\n'.repeat(2));
    assert.equal(engine.created, 1, 'one record, made on the first serve and reused');
    // Replies built for plain bytes (UDP) never use one.
    const plain = new ReplyQueue(false);
    assert.equal(runText(ctx, 'mg long v\r\n', execute, plain).text, 'VA 10\r\n1234567890\r\n');
    assert.ok(plain.segments.every((s) => Buffer.isBuffer(s)));
  });

  it('an ms too large for -I drops the old value, as memcached does', () => {
    const { ctx } = testContext({ itemSizeMax: 1024 });
    const run = (line: string) => runText(ctx, line, execute).text;
    assert.equal(run('ms k 1\r\nx\r\n'), 'HD\r\n');
    const big = 'y'.repeat(2000);
    assert.equal(run(`ms k ${big.length}\r\n${big}\r\n`), 'SERVER_ERROR object too large for cache\r\n');
    assert.equal(run('mg k v\r\n'), 'EN\r\n');
    assert.equal(ctx.store.counters.store_too_large, 1);
  });

  it('ma N after a delayed flush_all answers with the counter it made, which the flush then hides', () => {
    // memcached 1.6.18 replied so; found by fuzz/commands (the reply was a bare CR LF).
    const { ctx } = testContext();
    const run = (line: string) => runText(ctx, line, executeText).text;
    assert.equal(run('ma c N0 J5 v\r\nflush_all 1\r\n'), 'VA 1\r\n5\r\nOK\r\n');
    assert.equal(run('ma c N0 J5 v t\r\n'), 'VA 1 t-1\r\n5\r\n');
    assert.equal(run('mg c v\r\n'), 'EN\r\n');
  });

  it('a bad data chunk still counts as a set', () => {
    const { ctx } = testContext();
    assert.equal(runText(ctx, 'ms k 1\r\nxy\r\n', execute).text, 'CLIENT_ERROR bad data chunk\r\nERROR\r\n');
    assert.equal(ctx.store.counters.cmd_set, 1);
    assert.equal(ctx.store.currItems, 0);
  });
});
