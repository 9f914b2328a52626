/*
 * The `stats` family (server/stats.ts) on a context with a fixed clock. Names and their
 * order are memcached 1.6.18's (read from /usr/bin/memcached with default settings); the
 * values are what memcached reports after the same commands, or the arithmetic of its
 * clock (uptime = now - 60 with the clock starting at 62) and its item sizes.
 */

import assert from 'node:assert/strict';
import { generalStatPairs, settingsStatPairs, statsReply } from '../server/stats';
import { StoreMode } from '../server/memcached/item';
import { testContext, wireText } from './helpers/context';

const crlf = (s: string) => Buffer.from(s + '\r\n', 'latin1');
const UNIX_START = 1_700_000_000; // the test clock's Unix time at relative time 62

const GENERAL_NAMES =
  'pid uptime time version libevent pointer_size rusage_user rusage_system max_connections curr_connections total_connections rejected_connections connection_structures response_obj_oom response_obj_count response_obj_bytes read_buf_count read_buf_bytes read_buf_bytes_free read_buf_oom reserved_fds cmd_get cmd_set cmd_flush cmd_touch cmd_meta get_hits get_misses get_expired get_flushed delete_misses delete_hits incr_misses incr_hits decr_misses decr_hits cas_misses cas_hits cas_badval touch_hits touch_misses store_too_large store_no_memory auth_cmds auth_errors bytes_read bytes_written limit_maxbytes accepting_conns listen_disabled_num time_in_listen_disabled_us threads conn_yields hash_power_level hash_bytes hash_is_expanding slab_reassign_rescues slab_reassign_chunk_rescues slab_reassign_evictions_nomem slab_reassign_inline_reclaim slab_reassign_busy_items slab_reassign_busy_deletes slab_reassign_running slabs_moved lru_crawler_running lru_crawler_starts lru_maintainer_juggles malloc_fails log_worker_dropped log_worker_written log_watcher_skipped log_watcher_sent log_watchers unexpected_napi_ids round_robin_fallback bytes curr_items total_items slab_global_page_pool expired_unfetched evicted_unfetched evicted_active evictions reclaimed crawler_reclaimed crawler_items_checked lrutail_reflocked moves_to_cold moves_to_warm moves_within_lru direct_reclaims lru_bumps_dropped'.split(
    ' ',
  );

/** memcached 1.6.18's `stats settings` with default flags (-p 11211, no -l), in order. */
const DEFAULT_SETTINGS: [string, string][] = (
  'maxbytes 67108864|maxconns 1024|tcpport 11211|udpport 0|inter NULL|verbosity 0|oldest 0|evictions on|domain_socket NULL|umask 700|' +
  'shutdown_command no|growth_factor 1.25|chunk_size 48|num_threads 4|num_threads_per_udp 4|stat_key_prefix :|detail_enabled no|' +
  'reqs_per_event 20|cas_enabled yes|tcp_backlog 1024|binding_protocol auto-negotiate|auth_enabled_sasl no|auth_enabled_ascii no|' +
  'item_size_max 1048576|maxconns_fast yes|hashpower_init 0|slab_reassign yes|slab_automove 1|slab_automove_ratio 0.80|' +
  'slab_automove_window 30|slab_chunk_max 524288|lru_crawler yes|lru_crawler_sleep 100|lru_crawler_tocrawl 0|tail_repair_time 0|' +
  'flush_enabled yes|dump_enabled yes|hash_algorithm murmur3|lru_maintainer_thread yes|lru_segmented yes|hot_lru_pct 20|' +
  'warm_lru_pct 40|hot_max_factor 0.20|warm_max_factor 2.00|temp_lru no|temporary_ttl 61|idle_timeout 0|watcher_logbuf_size 262144|' +
  'worker_logbuf_size 65536|read_buf_mem_limit 0|track_sizes no|inline_ascii_response no|ext_item_size 512|ext_item_age 4294967295|' +
  'ext_low_ttl 0|ext_recache_rate 2000|ext_wbuf_size 4194304|ext_compact_under 0|ext_drop_under 0|ext_max_sleep 1000000|' +
  'ext_max_frag 0.80|slab_automove_freeratio 0.010|ext_drop_unread no|ssl_enabled no|ssl_chain_cert (null)|ssl_key (null)|' +
  'ssl_verify_mode 0|ssl_keyformat 1|ssl_ciphers NULL|ssl_ca_cert NULL|ssl_wbuf_size 16384|ssl_session_cache no|ssl_kernel_tls no|' +
  'ssl_min_version tlsv1.2|num_napi_ids (null)|memory_file (null)'
)
  .split('|')
  .map((pair) => pair.split(' ') as [string, string]);

const ITEMS_FIELDS =
  'number number_hot number_warm number_cold age_hot age_warm age mem_requested evicted evicted_nonzero evicted_time outofmemory tailrepairs reclaimed expired_unfetched evicted_unfetched evicted_active crawler_reclaimed crawler_items_checked lrutail_reflocked moves_to_cold moves_to_warm moves_within_lru direct_reclaims hits_to_hot hits_to_warm hits_to_cold hits_to_temp'.split(
    ' ',
  );

/** `stats <args>` as the client reads it. */
function stats(ctx: ReturnType<typeof testContext>['ctx'], line: string): string {
  return wireText(statsReply(ctx, line === '' ? [] : line.split(' ')));
}

/** The value of one STAT line of a reply. */
function statOf(reply: string, name: string): string | undefined {
  return reply
    .split('\r\n')
    .find((l) => l.startsWith(`STAT ${name} `))
    ?.slice(`STAT ${name} `.length);
}

/**
 * The commands of the memcached session the expected replies were read from:
 * set foo 0 0 3 / bar, set n 5 100 2 / 10, get foo foo nope, incr n 1, delete nope, touch foo 0.
 */
function session(ctx: ReturnType<typeof testContext>['ctx']): void {
  const store = ctx.store;
  store.store(StoreMode.Set, 'foo', 0, 0, crlf('bar'));
  store.store(StoreMode.Set, 'n', 5, 100, crlf('10'));
  store.get('foo');
  store.get('foo');
  store.get('nope');
  store.arith('n', true, 1n);
  store.delete('nope');
  store.touch('foo', 0);
}

describe('stats', () => {
  it('`stats` names every counter memcached does, in its order', () => {
    const { ctx } = testContext();
    assert.deepEqual(
      generalStatPairs(ctx).map(([name]) => name),
      GENERAL_NAMES,
    );
  });

  it('`stats` counts the session as memcached did', () => {
    const { ctx, clock } = testContext();
    session(ctx);
    clock.advance(10);
    const reply = stats(ctx, '');
    assert.ok(reply.endsWith('END\r\n'));
    const expected: [string, string][] = [
      ['pid', String(process.pid)],
      // memcached's clock starts at 62 and uptime is now - 60: 2 at start, 12 ten seconds on.
      ['uptime', '12'],
      ['time', String(UNIX_START + 10)],
      ['version', '1.6.18'],
      ['pointer_size', '64'],
      ['max_connections', '1024'],
      ['cmd_get', '3'],
      ['cmd_set', '2'],
      ['cmd_touch', '1'],
      ['get_hits', '2'],
      ['get_misses', '1'],
      ['delete_misses', '1'],
      ['delete_hits', '0'],
      ['incr_hits', '1'],
      ['incr_misses', '0'],
      ['touch_hits', '1'],
      ['limit_maxbytes', '67108864'],
      // foo: 48 + 4 + 5 + 8 = 65; n with flags 5: 48 + 2 + 4 + 4 + 8 = 66.
      ['bytes', '131'],
      ['curr_items', '2'],
      ['total_items', '2'],
    ];
    for (const [name, value] of expected) assert.equal(statOf(reply, name), value, name);
  });

  it("`stats settings` shows memcached's defaults, and then its own", () => {
    const { ctx } = testContext();
    const pairs = settingsStatPairs(ctx).map(([name, value]) => [name, String(value)]);
    // The engine here runs on one thread, whatever -t says (records/types.ts ioThreads).
    const expected = DEFAULT_SETTINGS.map(([name, value]) => [name, name.startsWith('num_threads') ? '1' : value]);
    assert.deepEqual(pairs.slice(0, expected.length), expected);
    assert.deepEqual(
      pairs.slice(expected.length).map(([name]) => name),
      ['records_backend', 'records_min_size', 'records_min_hits', 'input_mem_limit'],
    );
  });

  it('`stats settings` follows the flags', () => {
    const { ctx } = testContext({
      noEvict: true,
      disableCas: true,
      listen: ['127.0.0.1'],
      maxBytes: 16 * 1024 * 1024,
      enableShutdown: true,
      factor: 2,
      chunkSize: 100,
      disableFlushAll: true,
      disableDumping: true,
    });
    const reply = stats(ctx, 'settings');
    const expected: [string, string][] = [
      ['maxbytes', '16777216'],
      ['evictions', 'off'],
      ['cas_enabled', 'no'],
      ['inter', '127.0.0.1'],
      ['shutdown_command', 'yes'],
      ['growth_factor', '2.00'],
      ['chunk_size', '100'],
      ['flush_enabled', 'no'],
      ['dump_enabled', 'no'],
    ];
    for (const [name, value] of expected) assert.equal(statOf(reply, name), value, name);
  });

  it('`stats items` reports each class that holds items', () => {
    const { ctx, clock } = testContext();
    assert.equal(stats(ctx, 'items'), 'END\r\n');
    session(ctx);
    clock.advance(5);
    const reply = stats(ctx, 'items');
    const lines = reply.split('\r\n');
    assert.deepEqual(
      lines.slice(0, -2).map((l) => l.split(' ')[1]),
      ITEMS_FIELDS.map((f) => `items:1:${f}`),
    );
    assert.equal(statOf(reply, 'items:1:number'), '2');
    assert.equal(statOf(reply, 'items:1:mem_requested'), '131');
    // age: now minus the time of the class's oldest item, linked (or bumped) five seconds ago.
    assert.equal(statOf(reply, 'items:1:age'), '5');
    assert.ok(reply.endsWith('END\r\n'));
    // memcached reads only the first word.
    assert.equal(stats(ctx, 'items extra'), reply);
  });

  it('`stats slabs` and `stats reset`, as memcached answered the same session', () => {
    const { ctx } = testContext();
    assert.equal(stats(ctx, 'slabs'), 'STAT active_slabs 0\r\nSTAT total_malloced 0\r\nEND\r\n');
    session(ctx);
    const slabs = (hits: number, sets: number, incr: number, touch: number) =>
      'STAT 1:chunk_size 96\r\nSTAT 1:chunks_per_page 10922\r\nSTAT 1:total_pages 1\r\nSTAT 1:total_chunks 10922\r\n' +
      'STAT 1:used_chunks 2\r\nSTAT 1:free_chunks 10920\r\nSTAT 1:free_chunks_end 0\r\n' +
      `STAT 1:get_hits ${hits}\r\nSTAT 1:cmd_set ${sets}\r\nSTAT 1:delete_hits 0\r\nSTAT 1:incr_hits ${incr}\r\n` +
      `STAT 1:decr_hits 0\r\nSTAT 1:cas_hits 0\r\nSTAT 1:cas_badval 0\r\nSTAT 1:touch_hits ${touch}\r\n` +
      'STAT active_slabs 1\r\nSTAT total_malloced 1048576\r\nEND\r\n';
    assert.equal(stats(ctx, 'slabs'), slabs(2, 2, 1, 1));
    assert.equal(stats(ctx, 'reset'), 'RESET\r\n');
    // Counters of events are zeroed; memory and items stay.
    assert.equal(stats(ctx, 'slabs'), slabs(0, 0, 0, 0));
    const general = stats(ctx, '');
    assert.equal(statOf(general, 'cmd_get'), '0');
    assert.equal(statOf(general, 'get_hits'), '0');
    assert.equal(statOf(general, 'total_items'), '0');
    assert.equal(statOf(general, 'curr_items'), '2');
    assert.equal(statOf(general, 'bytes'), '131');
  });

  it('`stats sizes`: off until enabled, then counting new items in 32-byte buckets', () => {
    const { ctx } = testContext();
    ctx.store.store(StoreMode.Set, 'foo', 0, 0, crlf('bar'));
    assert.equal(stats(ctx, 'sizes'), 'STAT sizes_status disabled\r\nEND\r\n');
    assert.equal(stats(ctx, 'sizes_enable'), 'STAT sizes_status enabled\r\n');
    // foo was stored before: not counted.
    assert.equal(stats(ctx, 'sizes'), 'END\r\n');
    ctx.store.store(StoreMode.Set, 'a', 0, 0, crlf('bar')); // 63 bytes
    ctx.store.store(StoreMode.Set, 'b', 0, 0, crlf('x'.repeat(100))); // 48 + 2 + 102 + 8 = 160
    ctx.store.store(StoreMode.Set, 'c', 0, 0, crlf('x'.repeat(101))); // 161
    assert.equal(stats(ctx, 'sizes'), 'STAT 64 1\r\nSTAT 160 1\r\nSTAT 192 1\r\nEND\r\n');
    ctx.store.delete('b');
    assert.equal(stats(ctx, 'sizes'), 'STAT 64 1\r\nSTAT 192 1\r\nEND\r\n');
    assert.equal(stats(ctx, 'sizes_disable'), 'STAT sizes_status disabled\r\n');
    assert.equal(stats(ctx, 'sizes'), 'STAT sizes_status disabled\r\nEND\r\n');
  });

  it('`stats detail` usage, on, dump', () => {
    const { ctx } = testContext();
    const usage = 'CLIENT_ERROR usage: stats detail on|off|dump\r\n';
    assert.equal(stats(ctx, 'detail'), usage);
    assert.equal(stats(ctx, 'detail x'), usage);
    assert.equal(stats(ctx, 'detail dump'), 'END\r\n');
    assert.equal(stats(ctx, 'detail on'), 'OK\r\n');
    assert.equal(ctx.prefixStats.enabled, true);
    assert.equal(statOf(stats(ctx, 'settings'), 'detail_enabled'), 'yes');
    assert.equal(stats(ctx, 'detail off'), 'OK\r\n');
    assert.equal(ctx.prefixStats.enabled, false);
  });

  it('an unknown group is ERROR', () => {
    const { ctx } = testContext();
    assert.equal(stats(ctx, 'bogus'), 'ERROR\r\n');
    assert.equal(stats(ctx, 'item'), 'ERROR\r\n');
  });

  it('`stats cachedump` lists a class newest first, with Unix expiry times', () => {
    const { ctx } = testContext();
    session(ctx);
    // n expires at relative 62 + 100, that is Unix UNIX_START + 100.
    assert.equal(stats(ctx, 'cachedump 1 0'), `ITEM n [2 b; ${UNIX_START + 100} s]\r\nITEM foo [3 b; 0 s]\r\nEND\r\n`);
    assert.equal(stats(ctx, 'cachedump 1 1'), `ITEM n [2 b; ${UNIX_START + 100} s]\r\nEND\r\n`);
    assert.equal(stats(ctx, 'cachedump 2 0'), 'END\r\n');
    assert.equal(stats(ctx, 'cachedump 63 0'), 'END\r\n');
    assert.equal(stats(ctx, 'cachedump 64 0'), 'CLIENT_ERROR Illegal slab id\r\n');
    assert.equal(stats(ctx, 'cachedump 1'), 'CLIENT_ERROR bad command line\r\n');
    assert.equal(stats(ctx, 'cachedump x 0'), 'CLIENT_ERROR bad command line format\r\n');
    const refused = testContext({ disableDumping: true });
    assert.equal(stats(refused.ctx, 'cachedump 1 0'), 'CLIENT_ERROR stats cachedump not allowed\r\n');
  });
});
