/*
 * The `stats` family of replies, with memcached 1.6's names, order and formats. Items are
 * reported in the slab classes memcached would have put them in (-n, -f, slab_chunk_max),
 * so tools that read `stats items` and `stats slabs` see familiar shapes.
 */

import { Reply } from './protocol/replies';
import type { ServerContext } from './context';
import { MEMCACHED_VERSION, udpConnectionsPerSocket } from './config';
import { SLAB_PAGE_SIZE } from './store/slabs';
import { tlsSettings, tlsSettingsStatPairs } from './tls';
import { takeServedCounters } from './read-index';

const MAX_NUMBER_OF_SLAB_CLASSES = 64;

/** Stats as name/value pairs, in memcached's order: text renders them as STAT lines, binary as packets. */
export type StatPairs = [string, string | number][];

/** A stats group, and whether memcached ends it with END (in binary, with an empty packet). */
export interface StatGroup {
  pairs: StatPairs;
  end: boolean;
}

function rows(pairs: StatPairs, end = true): Buffer {
  let text = '';
  for (const [name, value] of pairs) text += `STAT ${name} ${value}\r\n`;
  if (end) text += 'END\r\n';
  return Buffer.from(text, 'latin1');
}

function seconds(micros: number): string {
  const s = Math.floor(micros / 1e6);
  return `${s}.${String(Math.floor(micros % 1e6)).padStart(6, '0')}`;
}

export function statsReply(ctx: ServerContext, args: string[]): Buffer[] {
  takeServedCounters(ctx);
  if (args.length === 0) return [rows(generalStatPairs(ctx))];
  const sub = args[0];
  switch (sub) {
    case 'reset':
      resetStats(ctx);
      return [Reply.RESET];
    case 'detail':
      if (args.length < 2) return [Reply.STATS_DETAIL_USAGE];
      if (args[1] === 'on' || args[1] === 'off') {
        ctx.prefixStats.enabled = args[1] === 'on';
        return [Reply.OK];
      }
      if (args[1] === 'dump') return [ctx.prefixStats.dump()];
      return [Reply.STATS_DETAIL_USAGE];
    case 'settings':
      return [rows(settingsStatPairs(ctx))];
    case 'cachedump':
      return [cachedump(ctx, args)];
    case 'conns':
      return [connsStats(ctx)];
    default: {
      const group = statGroup(ctx, sub);
      return [group === null ? Reply.ERROR : rows(group.pairs, group.end)];
    }
  }
}

/** stats reset: zero the counters of events (items and connections stay). */
export function resetStats(ctx: ServerContext): void {
  ctx.store.resetCounters();
  ctx.counters.reset();
  ctx.http?.reset();
  ctx.prefixStats.clear();
}

/**
 * The sub-stats memcached's get_stats() answers for both protocols, by exact name; null for
 * any other name.
 */
export function statGroup(ctx: ServerContext, name: string): StatGroup | null {
  switch (name) {
    case 'items':
      return { pairs: itemsStatPairs(ctx), end: true };
    case 'slabs':
      return { pairs: slabsStatPairs(ctx), end: true };
    case 'sizes':
      return { pairs: ctx.store.sizes === null ? [['sizes_status', 'disabled']] : sizesStatPairs(ctx.store.sizes), end: true };
    // memcached answers these two with a single stat and no END.
    case 'sizes_enable':
      ctx.store.trackSizes(true);
      return { pairs: [['sizes_status', 'enabled']], end: false };
    case 'sizes_disable':
      ctx.store.trackSizes(false);
      return { pairs: [['sizes_status', 'disabled']], end: false };
    default:
      return null;
  }
}

/** `stats`: the general counters. */
export function generalStatPairs(ctx: ServerContext): StatPairs {
  const s = ctx.store.counters;
  const c = ctx.counters;
  const now = ctx.store.clock.now();
  const usage = process.cpuUsage();
  const threads = ctx.engine.ioThreads;
  return [
    ['pid', process.pid],
    ['uptime', now - 60],
    ['time', now + ctx.store.clock.processStarted],
    ['version', MEMCACHED_VERSION],
    ['libevent', `libuv-${process.versions.uv}`],
    ['pointer_size', 64],
    ['rusage_user', seconds(usage.user)],
    ['rusage_system', seconds(usage.system)],
    ['max_connections', ctx.config.maxConns],
    ['curr_connections', c.currConnections],
    ['total_connections', c.totalConnections],
    ['rejected_connections', c.rejectedConnections],
    ['connection_structures', c.connectionStructures],
    ['response_obj_oom', 0],
    ['response_obj_count', c.currConnections + 1],
    ['response_obj_bytes', (c.currConnections + 1) * 8192],
    ['read_buf_count', c.currConnections + 1],
    ['read_buf_bytes', (c.currConnections + 1) * 16384],
    ['read_buf_bytes_free', 0],
    ['read_buf_oom', 0],
    ['reserved_fds', 5],
    ['cmd_get', s.cmd_get],
    ['cmd_set', s.cmd_set],
    ['cmd_flush', s.cmd_flush],
    ['cmd_touch', s.cmd_touch],
    ['cmd_meta', c.cmdMeta],
    ['get_hits', s.get_hits],
    ['get_misses', s.get_misses],
    ['get_expired', s.get_expired],
    ['get_flushed', s.get_flushed],
    ['delete_misses', s.delete_misses],
    ['delete_hits', s.delete_hits],
    ['incr_misses', s.incr_misses],
    ['incr_hits', s.incr_hits],
    ['decr_misses', s.decr_misses],
    ['decr_hits', s.decr_hits],
    ['cas_misses', s.cas_misses],
    ['cas_hits', s.cas_hits],
    ['cas_badval', s.cas_badval],
    ['touch_hits', s.touch_hits],
    ['touch_misses', s.touch_misses],
    ['store_too_large', s.store_too_large],
    ['store_no_memory', s.store_no_memory],
    ['auth_cmds', c.authCmds],
    ['auth_errors', c.authErrors],
    ['bytes_read', c.bytesRead],
    ['bytes_written', c.bytesWritten],
    ['limit_maxbytes', ctx.store.maxBytes],
    ['accepting_conns', c.acceptingConns ? 1 : 0],
    ['listen_disabled_num', 0],
    ['time_in_listen_disabled_us', 0],
    ['threads', threads],
    ['conn_yields', c.connYields],
    ['hash_power_level', ctx.store.hashPower],
    // Pointers of 8 bytes, one per bucket; a doubling here is over at once.
    ['hash_bytes', 2 ** ctx.store.hashPower * 8],
    ['hash_is_expanding', 0],
    // memcached shows the page mover's counters only when -o no_slab_reassign has not turned it off.
    ...(ctx.config.slabReassign
      ? ([
          ['slab_reassign_rescues', 0],
          ['slab_reassign_chunk_rescues', 0],
          ['slab_reassign_evictions_nomem', 0],
          ['slab_reassign_inline_reclaim', 0],
          ['slab_reassign_busy_items', 0],
          ['slab_reassign_busy_deletes', 0],
          ['slab_reassign_running', 0],
          ['slabs_moved', 0],
        ] as [string, number][])
      : []),
    ['lru_crawler_running', 0],
    ['lru_crawler_starts', 1],
    ['lru_maintainer_juggles', 0],
    ['malloc_fails', 0],
    ['log_worker_dropped', 0],
    ['log_worker_written', ctx.log.written],
    ['log_watcher_skipped', ctx.log.skipped],
    ['log_watcher_sent', ctx.log.sent],
    ['log_watchers', ctx.log.watcherCount],
    ...(ctx.tls?.statPairs() ?? []),
    ['unexpected_napi_ids', 0],
    ['round_robin_fallback', 0],
    ['bytes', ctx.store.bytes],
    ['curr_items', ctx.store.currItems],
    ['total_items', s.total_items],
    ['slab_global_page_pool', 0],
    ['expired_unfetched', s.expired_unfetched],
    ['evicted_unfetched', s.evicted_unfetched],
    ['evicted_active', s.evicted_active],
    ['evictions', s.evictions],
    ['reclaimed', s.reclaimed],
    ['crawler_reclaimed', s.crawler_reclaimed],
    ['crawler_items_checked', 0],
    ['lrutail_reflocked', 0],
    ['moves_to_cold', 0],
    ['moves_to_warm', 0],
    ['moves_within_lru', 0],
    ['direct_reclaims', 0],
    ['lru_bumps_dropped', 0],
    // recordcache's own: the records engine's counters (created, live, bytes, sends).
    ...(ctx.engine.recordCounters?.() ?? []),
    // recordcache's own: the HTTP listener's (-o http_port).
    ...(ctx.http?.statPairs() ?? []),
  ];
}

/** `stats settings`. */
export function settingsStatPairs(ctx: ServerContext): StatPairs {
  const cfg = ctx.config;
  const yes = (b: boolean) => (b ? 'yes' : 'no');
  const opt = (name: string, fallback: string) => cfg.suboptions.get(name) ?? fallback;
  const inter = cfg.listen.length === 0 ? 'NULL' : cfg.listen.join(',');
  return [
    ['maxbytes', ctx.store.maxBytes],
    ['maxconns', cfg.maxConns],
    ['tcpport', cfg.socketPath === null ? cfg.port : 0],
    ['udpport', cfg.udpPort],
    ['inter', inter],
    ['verbosity', ctx.settings.verbosity],
    ['oldest', 0],
    ['evictions', cfg.noEvict ? 'off' : 'on'],
    ['domain_socket', cfg.socketPath ?? 'NULL'],
    ['umask', cfg.socketMask.toString(8)],
    ['shutdown_command', yes(cfg.enableShutdown)],
    ['growth_factor', cfg.factor.toFixed(2)],
    ['chunk_size', cfg.chunkSize],
    ['num_threads', ctx.engine.ioThreads],
    ['num_threads_per_udp', udpConnectionsPerSocket(cfg, ctx.engine.ioThreads)],
    ['stat_key_prefix', cfg.prefixDelimiter],
    ['detail_enabled', yes(ctx.prefixStats.enabled)],
    ['reqs_per_event', cfg.reqsPerEvent],
    ['cas_enabled', yes(!cfg.disableCas)],
    ['tcp_backlog', cfg.backlog],
    ['binding_protocol', cfg.protocol === 'auto' ? 'auto-negotiate' : cfg.protocol],
    ['auth_enabled_sasl', yes(cfg.sasl)],
    ['auth_enabled_ascii', cfg.authFile ?? 'no'],
    ['item_size_max', cfg.itemSizeMax],
    ['maxconns_fast', yes(!cfg.suboptions.has('no_maxconns_fast'))],
    ['hashpower_init', cfg.hashPowerInit],
    ['slab_reassign', yes(cfg.slabReassign)],
    ['slab_automove', cfg.slabAutomove],
    ['slab_automove_ratio', Number(opt('slab_automove_ratio', '0.8')).toFixed(2)],
    ['slab_automove_window', Number.parseInt(opt('slab_automove_window', '30'), 10)],
    ['slab_chunk_max', cfg.slabChunkMax],
    ['lru_crawler', yes(ctx.settings.lruCrawler)],
    ['lru_crawler_sleep', ctx.settings.lruCrawlerSleep],
    ['lru_crawler_tocrawl', ctx.settings.lruCrawlerToCrawl],
    ['tail_repair_time', opt('tail_repair_time', '0')],
    ['flush_enabled', yes(!cfg.disableFlushAll)],
    ['dump_enabled', yes(!cfg.disableDumping)],
    ['hash_algorithm', opt('hash_algorithm', 'murmur3')],
    ['lru_maintainer_thread', yes(!cfg.suboptions.has('no_lru_maintainer'))],
    ['lru_segmented', yes(!cfg.suboptions.has('no_lru_maintainer'))],
    ['hot_lru_pct', opt('hot_lru_pct', '20')],
    ['warm_lru_pct', opt('warm_lru_pct', '40')],
    ['hot_max_factor', Number(opt('hot_max_factor', '0.2')).toFixed(2)],
    ['warm_max_factor', Number(opt('warm_max_factor', '2.0')).toFixed(2)],
    ['temp_lru', yes(cfg.suboptions.has('temporary_ttl'))],
    ['temporary_ttl', opt('temporary_ttl', '61')],
    ['idle_timeout', cfg.idleTimeout],
    // These three are given in kilobytes and megabytes, and shown in bytes.
    ['watcher_logbuf_size', Number.parseInt(opt('watcher_logbuf_size', '256'), 10) * 1024],
    ['worker_logbuf_size', Number.parseInt(opt('worker_logbuf_size', '64'), 10) * 1024],
    ['read_buf_mem_limit', Number.parseInt(opt('read_buf_mem_limit', '0'), 10) * 1024 * 1024],
    ['track_sizes', yes(ctx.store.sizes !== null)],
    ['inline_ascii_response', 'no'],
    // extstore's settings, inert without ext_path (refused), shown as given.
    ['ext_item_size', opt('ext_item_size', '512')],
    ['ext_item_age', opt('ext_item_age', '4294967295')],
    ['ext_low_ttl', opt('ext_low_ttl', '0')],
    ['ext_recache_rate', opt('ext_recache_rate', '2000')],
    ['ext_wbuf_size', Number.parseInt(opt('ext_wbuf_size', '4'), 10) * 1024 * 1024],
    ['ext_compact_under', opt('ext_compact_under', '0')],
    ['ext_drop_under', opt('ext_drop_under', '0')],
    ['ext_max_sleep', opt('ext_max_sleep', '1000000')],
    ['ext_max_frag', Number(opt('ext_max_frag', '0.8')).toFixed(2)],
    ['slab_automove_freeratio', '0.010'],
    ['ext_drop_unread', yes(cfg.suboptions.has('ext_drop_unread'))],
    ...tlsSettingsStatPairs(tlsSettings(cfg)),
    ['num_napi_ids', '(null)'],
    ['memory_file', '(null)'],
    ['records_backend', ctx.engine.name],
    ['records_min_size', cfg.recordsMinSize],
    ['records_min_hits', cfg.recordsMinHits],
    ['input_mem_limit', cfg.inputMemLimit],
    ...(cfg.httpPort === 0
      ? []
      : ([
          ['http_port', cfg.httpPort],
          ['http_writes', yes(cfg.httpWrites)],
          ['http_content_type', cfg.httpContentType],
          ['http_gzip_flag', cfg.httpGzipFlag],
        ] as StatPairs)),
  ];
}

interface ClassUsage {
  count: number;
  requested: number;
  oldest: number;
}

function usageByClass(ctx: ServerContext): Map<number, ClassUsage> {
  const usage = new Map<number, ClassUsage>();
  for (const item of ctx.store.items()) {
    const id = item.lruClass;
    let u = usage.get(id);
    if (u === undefined) {
      u = { count: 0, requested: 0, oldest: item.time };
      usage.set(id, u);
    }
    u.count++;
    u.requested += item.size;
    if (item.time < u.oldest) u.oldest = item.time;
  }
  return usage;
}

/** The slab class memcached would keep an item of this size in (`me`'s cls=). */
export function slabClassOf(ctx: ServerContext, itemSize: number): number {
  return ctx.store.slabs.classOf(itemSize);
}

function itemsStatPairs(ctx: ServerContext): StatPairs {
  const usage = usageByClass(ctx);
  const now = ctx.store.clock.now();
  const out: [string, number][] = [];
  for (const id of [...usage.keys()].sort((a, b) => a - b)) {
    const u = usage.get(id) as ClassUsage;
    const p = `items:${id}:`;
    out.push(
      [p + 'number', u.count],
      [p + 'number_hot', 0],
      [p + 'number_warm', 0],
      [p + 'number_cold', u.count],
      ...(ctx.config.suboptions.has('temporary_ttl') ? [[p + 'number_temp', 0] as [string, number]] : []),
      [p + 'age_hot', 0],
      [p + 'age_warm', 0],
      [p + 'age', now - u.oldest],
      [p + 'mem_requested', u.requested],
      [p + 'evicted', 0],
      [p + 'evicted_nonzero', 0],
      [p + 'evicted_time', 0],
      [p + 'outofmemory', 0],
      [p + 'tailrepairs', 0],
      [p + 'reclaimed', 0],
      [p + 'expired_unfetched', 0],
      [p + 'evicted_unfetched', 0],
      [p + 'evicted_active', 0],
      [p + 'crawler_reclaimed', 0],
      [p + 'crawler_items_checked', 0],
      [p + 'lrutail_reflocked', 0],
      [p + 'moves_to_cold', 0],
      [p + 'moves_to_warm', 0],
      [p + 'moves_within_lru', 0],
      [p + 'direct_reclaims', 0],
      [p + 'hits_to_hot', 0],
      [p + 'hits_to_warm', 0],
      [p + 'hits_to_cold', 0],
      [p + 'hits_to_temp', 0],
    );
  }
  return out;
}

function slabsStatPairs(ctx: ServerContext): StatPairs {
  const slabs = ctx.store.slabs;
  const out: [string, number][] = [];
  let malloced = 0;
  // memcached lists the classes that hold pages.
  const ids: number[] = [];
  for (let id = 1; id < slabs.pages.length; id++) if (slabs.pages[id] > 0) ids.push(id);
  for (const id of ids) {
    const t = ctx.store.classTraffic(id);
    const perPage = slabs.chunksPerPage(id);
    const pages = slabs.pages[id];
    malloced += pages * SLAB_PAGE_SIZE;
    out.push(
      [`${id}:chunk_size`, slabs.chunkSizeOf(id)],
      [`${id}:chunks_per_page`, perPage],
      [`${id}:total_pages`, pages],
      [`${id}:total_chunks`, pages * perPage],
      [`${id}:used_chunks`, slabs.used[id]],
      [`${id}:free_chunks`, pages * perPage - slabs.used[id]],
      [`${id}:free_chunks_end`, 0],
      [`${id}:get_hits`, t.get_hits],
      [`${id}:cmd_set`, t.cmd_set],
      [`${id}:delete_hits`, t.delete_hits],
      [`${id}:incr_hits`, t.incr_hits],
      [`${id}:decr_hits`, t.decr_hits],
      [`${id}:cas_hits`, t.cas_hits],
      [`${id}:cas_badval`, t.cas_badval],
      [`${id}:touch_hits`, t.touch_hits],
    );
  }
  out.push(['active_slabs', ids.length], ['total_malloced', malloced]);
  return out;
}

function sizesStatPairs(sizes: Map<number, number>): StatPairs {
  const out: [string, number][] = [...sizes.entries()]
    .filter(([, n]) => n > 0)
    .sort((a, b) => a[0] - b[0])
    .map(([k, v]) => [String(k), v]);
  return out;
}

function cachedump(ctx: ServerContext, args: string[]): Buffer {
  if (ctx.config.disableDumping) return Reply.CACHEDUMP_NOT_ALLOWED;
  if (args.length < 3) return Reply.BAD_STATS_FORMAT;
  const id = Number(args[1]);
  const limit = Number(args[2]);
  if (!/^\d+$/.test(args[1]) || !/^\d+$/.test(args[2])) return Reply.BAD_FORMAT;
  if (id >= MAX_NUMBER_OF_SLAB_CLASSES) return Reply.ILLEGAL_SLAB_ID;
  let text = '';
  let shown = 0;
  const processStarted = ctx.store.clock.processStarted;
  // memcached walks the LRU from its head: the most recently linked item first.
  for (const item of ctx.store.classItemsNewestFirst(id)) {
    if (limit !== 0 && shown >= limit) break;
    const exp = item.exptime === 0 ? 0 : item.exptime + processStarted;
    text += `ITEM ${item.key} [${item.valueLength} b; ${exp} s]\r\n`;
    shown++;
  }
  return Buffer.from(text + 'END\r\n', 'latin1');
}

function connsStats(ctx: ServerContext): Buffer {
  const now = ctx.store.clock.now();
  const out: [string, string | number][] = [];
  for (const listener of ctx.listeners) {
    out.push(
      [`${listener.id}:addr`, listener.address],
      [`${listener.id}:state`, 'conn_listening'],
      [`${listener.id}:secs_since_last_cmd`, now - ctx.startedAt],
    );
  }
  // By id, as memcached lists its connections by file descriptor.
  const conns = [...ctx.engine.connections()].sort((a, b) => a.id - b.id);
  for (const conn of conns) {
    const remote = conn.remote;
    out.push([`${conn.id}:addr`, remote]);
    if (!remote.startsWith('unix:')) out.push([`${conn.id}:listen_addr`, conn.local]);
    out.push([`${conn.id}:state`, 'conn_parse_cmd'], [`${conn.id}:secs_since_last_cmd`, now - conn.lastCommandTime]);
  }
  return rows(out);
}
