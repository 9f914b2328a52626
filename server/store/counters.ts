/*
 * memcached's item and command counters that the store keeps, in total and per slab class.
 */

/** Traffic counters memcached keeps per slab class (`stats slabs`). */
export class ClassCounters {
  get_hits = 0;
  cmd_set = 0;
  delete_hits = 0;
  incr_hits = 0;
  decr_hits = 0;
  cas_hits = 0;
  cas_badval = 0;
  touch_hits = 0;
}

export type ClassCounterName = keyof ClassCounters;

/** memcached's item and command counters that the store owns (names as in `stats`). */
export class StoreCounters {
  cmd_get = 0;
  cmd_set = 0;
  cmd_flush = 0;
  cmd_touch = 0;
  get_hits = 0;
  get_misses = 0;
  get_expired = 0;
  get_flushed = 0;
  delete_misses = 0;
  delete_hits = 0;
  incr_misses = 0;
  incr_hits = 0;
  decr_misses = 0;
  decr_hits = 0;
  cas_misses = 0;
  cas_hits = 0;
  cas_badval = 0;
  touch_hits = 0;
  touch_misses = 0;
  store_too_large = 0;
  store_no_memory = 0;
  total_items = 0;
  expired_unfetched = 0;
  evicted_unfetched = 0;
  evicted_active = 0;
  evictions = 0;
  reclaimed = 0;
  crawler_reclaimed = 0;
}
