/*
 * What the HTTP listener counts, as `http_*` lines of `stats` (shown only while it listens,
 * so `stats` without it reads as memcached's). GETs and HEADs also count as memcached's
 * fetches (cmd_get, get_hits, get_misses), PUTs as sets and DELETEs as deletes: the store
 * counts them.
 */

export class HttpCounters {
  /** Requests answered, whatever their status, and requests the parser refused. */
  requests = 0;
  /** GET and HEAD of a live item: 200, 206, 304 and 416. */
  hits = 0;
  /** GET and HEAD of a missing item: 404. */
  misses = 0;
  notModified = 0;
  partial = 0;
  puts = 0;
  deletes = 0;
  /** 400, 405, 408, 414, 431: requests refused before they reached the store (a 413 is counted by the store, as store_too_large). */
  refused = 0;
  /** Of the requests, those the native engine answered on its I/O threads (hits), without JavaScript. */
  servedNatively = 0;
  currConnections = 0;
  totalConnections = 0;
  /** Adds what was counted elsewhere (the native engine's answers) before the counters are read or reset. */
  pull: (() => void) | null = null;

  /** stats reset: events only. */
  reset(): void {
    this.pull?.();
    this.requests = 0;
    this.hits = 0;
    this.misses = 0;
    this.notModified = 0;
    this.partial = 0;
    this.puts = 0;
    this.deletes = 0;
    this.refused = 0;
    this.servedNatively = 0;
    this.totalConnections = 0;
  }

  statPairs(): [string, number][] {
    this.pull?.();
    return [
      ['http_requests', this.requests],
      ['http_hits', this.hits],
      ['http_misses', this.misses],
      ['http_not_modified', this.notModified],
      ['http_partial', this.partial],
      ['http_puts', this.puts],
      ['http_deletes', this.deletes],
      ['http_refused', this.refused],
      ['http_served_natively', this.servedNatively],
      ['http_curr_connections', this.currConnections],
      ['http_total_connections', this.totalConnections],
    ];
  }
}
