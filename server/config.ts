/*
 * The server's settings, named and defaulted as memcached 1.6 names and defaults them.
 * `parseArgs` (server/command-line/) fills a Config from memcached's command line.
 */

/**
 * Default -o input_mem_limit. memcached 1.6.18 grows a connection's buffer for an ASCII
 * multiget without bound (50 connections sending 15 MB of `get` keys: 742 MB); this bounds
 * what unfinished requests may hold in all, well above what legitimate requests need at once.
 */
export const DEFAULT_INPUT_MEM_LIMIT = 256 * 1024 * 1024;

export type Protocol = 'auto' | 'ascii' | 'binary';
export type RecordsBackendName = 'auto' | 'js' | 'native' | 'kmod';

export interface Config {
  /** -p: TCP port; 0 turns TCP off. */
  port: number;
  /** -U: UDP port; 0 (the default since 1.5.6) is off. */
  udpPort: number;
  /** -l: addresses to listen on; empty means every interface. */
  listen: string[];
  /** -s: unix socket path (turns TCP and UDP off). */
  socketPath: string | null;
  /** -a: unix socket mode, parsed from octal. */
  socketMask: number;
  /** -m: memory limit in bytes (given in megabytes). */
  maxBytes: number;
  /** -M: return an error instead of evicting. */
  noEvict: boolean;
  /** -c: most simultaneous connections. */
  maxConns: number;
  /** -t: worker threads (accepted for compatibility; reported in stats). */
  threads: number;
  /** -v count; memcached does not clamp it at startup (-vvvv reports verbosity 4), only the `verbosity` command clamps. */
  verbose: number;
  /** -I: largest item in bytes, header included. */
  itemSizeMax: number;
  /** -A: allow `shutdown`. */
  enableShutdown: boolean;
  /** -R: most requests served per connection per event. */
  reqsPerEvent: number;
  /** -B: protocol negotiation. */
  protocol: Protocol;
  /** -C: CAS unique ids off. */
  disableCas: boolean;
  /** -F: `flush_all` refused. */
  disableFlushAll: boolean;
  /** -X: `stats cachedump` and `lru_crawler metadump` refused. */
  disableDumping: boolean;
  /** -W: `watch` refused. */
  disableWatch: boolean;
  /** -b: listen backlog. */
  backlog: number;
  /** -f: slab growth factor (reported; the store does not use slabs). */
  factor: number;
  /** -n: minimum chunk size (reported). */
  chunkSize: number;
  /** -D: stats prefix delimiter. */
  prefixDelimiter: string;
  /** Per-prefix stats collection (`stats detail on`); giving -D turns it on at startup. */
  detailEnabled: boolean;
  /** -S: SASL required (binary protocol). */
  sasl: boolean;
  /** -Z: TLS on every TCP listener not marked `notls:` (settings in -o ssl_*). */
  sslEnabled: boolean;
  /** -r: raise the core file size limit as far as allowed. */
  coreDumps: boolean;
  /** -d: detach once listening. */
  daemonize: boolean;
  /** -Y: ascii auth file. */
  authFile: string | null;
  /** -u: user to switch to after binding; memcached requires it when started as root and ignores it otherwise. */
  user: string | null;
  /** -P: file to write the process id to. */
  pidFile: string | null;
  /** -o idle_timeout: seconds before an idle connection is closed; 0 never. */
  idleTimeout: number;
  /** -o track_sizes. */
  trackSizes: boolean;
  /** -o slab_chunk_max, bytes: the largest slab class, above which items are chunked. */
  slabChunkMax: number;
  /** -o slab_sizes: the slab classes' chunk sizes, below slab_chunk_max; null for -n and -f's. */
  slabSizes: number[] | null;
  /** -o hashpower: the hash table's initial power of two (`stats` hash_power_level); 0 for memcached's 16. */
  hashPowerInit: number;
  /** Whether the hash table doubles once it holds 1.5 items per bucket (-o no_hashexpand turns it off). */
  hashExpand: boolean;
  /** -o slab_automove[=N] / no_slab_automove, for `stats settings` (recordcache never moves pages). */
  slabAutomove: number;
  /** -o slab_reassign (the default) / no_slab_reassign: `stats` shows the slab_reassign_* counters. */
  slabReassign: boolean;
  /** -o hot_lru_pct, warm_lru_pct, ... and any other accepted suboption, verbatim, for `stats settings`. */
  suboptions: Map<string, string>;
  /**
   * -o out_limit_soft / out_limit_hard, bytes: the native engine stops reading a connection
   * whose replies are unread past the soft limit and closes it past the hard one; null for
   * the engine's defaults.
   */
  outLimitSoft: number | null;
  outLimitHard: number | null;
  /**
   * -o input_mem_limit, bytes: the most input (request lines and values not yet whole) held
   * across all connections; a connection that takes it past this is answered memcached's
   * `SERVER_ERROR out of memory reading request` and closed. 0: no limit.
   */
  inputMemLimit: number;
  /** --records: which records backend to use. */
  records: RecordsBackendName;
  /**
   * Which values become records (-o records_min_size, records_min_hits): those at least this
   * long, once served this many times; the rest are sent as plain bytes.
   */
  recordsMinSize: number;
  recordsMinHits: number;
  /** -o http_port: the HTTP/1.1 listener's port on the -l addresses (server/http/); 0 is off. */
  httpPort: number;
  /** -o http_writes: PUT and DELETE are answered (else 405). */
  httpWrites: boolean;
  /** -o http_content_type: the Content-Type of every value. */
  httpContentType: string;
  /** -o http_gzip_flag: items whose flags have any of these bits are sent with Content-Encoding: gzip; 0 never. */
  httpGzipFlag: number;
}

export const MEGABYTE = 1024 * 1024;

/*
 * Values from 32 KiB become records the first time they are served; shorter ones go out as
 * plain bytes. Records pay off where pages are shared (the native engine's memfd threshold,
 * native/src/record.h); below it a record only adds its making. Measured (bench, quick, native,
 * ratios to memcached): W1 0.63x with every value a record vs 0.71x from 32 KiB, W4 (1 KB
 * values) 1.43x vs 1.80x, W6 (100 KB) unchanged; waiting for a second hit changed nothing.
 */
export const DEFAULT_RECORDS_MIN_SIZE = 32 * 1024;
export const DEFAULT_RECORDS_MIN_HITS = 0;

export function defaultConfig(): Config {
  return {
    port: 11211,
    udpPort: 0,
    listen: [],
    socketPath: null,
    socketMask: 0o700,
    maxBytes: 64 * MEGABYTE,
    noEvict: false,
    maxConns: 1024,
    threads: 4,
    verbose: 0,
    itemSizeMax: 1 * MEGABYTE,
    enableShutdown: false,
    reqsPerEvent: 20,
    protocol: 'auto',
    disableCas: false,
    disableFlushAll: false,
    disableDumping: false,
    disableWatch: false,
    backlog: 1024,
    factor: 1.25,
    chunkSize: 48,
    prefixDelimiter: ':',
    detailEnabled: false,
    sasl: false,
    sslEnabled: false,
    daemonize: false,
    coreDumps: false,
    authFile: null,
    user: null,
    pidFile: null,
    idleTimeout: 0,
    trackSizes: false,
    slabChunkMax: 512 * 1024,
    slabSizes: null,
    hashPowerInit: 0,
    hashExpand: true,
    slabReassign: true,
    slabAutomove: 1,
    suboptions: new Map(),
    outLimitSoft: null,
    outLimitHard: null,
    inputMemLimit: DEFAULT_INPUT_MEM_LIMIT,
    records: 'auto',
    recordsMinSize: DEFAULT_RECORDS_MIN_SIZE,
    recordsMinHits: DEFAULT_RECORDS_MIN_HITS,
    httpPort: 0,
    httpWrites: false,
    httpContentType: 'application/octet-stream',
    httpGzipFlag: 0,
  };
}

/** The memcached version recordcache answers as, so clients that gate features on it behave. */
export const MEMCACHED_VERSION = '1.6.18';
export const RECORDCACHE_VERSION = '0.1.0';

/**
 * memcached's num_threads_per_udp: each UDP socket is served by every worker thread (one
 * "connection" each, counted in curr_connections), or by one when -l lists several addresses.
 * `threads` is what runs: the native engine's -t I/O threads, or 1 (records/types.ts ioThreads).
 */
export function udpConnectionsPerSocket(config: Config, threads: number): number {
  return config.listen.join(',').includes(',') ? 1 : threads;
}
