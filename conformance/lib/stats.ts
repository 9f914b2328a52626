// Renders `stats` replies for comparison. Some values can never match between
// two correct servers (process id, clock, memory addresses and sizes, ports,
// file descriptors, resource usage), so the comparison keeps the set of stat
// names and only those values that follow from the traffic and the flags.
// recordcache's own names (isRecordcacheOwn) are left out.

export interface StatLine {
  name: string;
  value: string;
}

/** The `STAT name value` lines of a reply, and whatever else it holds. */
export function parseStats(reply: Buffer): { stats: StatLine[]; other: string[] } {
  const stats: StatLine[] = [];
  const other: string[] = [];
  for (const line of reply.toString('latin1').split('\r\n')) {
    if (line === '') continue;
    const match = /^STAT (\S+) ?(.*)$/.exec(line);
    if (match) stats.push({ name: match[1], value: match[2] });
    else other.push(line);
  }
  return { stats, other };
}

/**
 * recordcache's own additions, which memcached does not have: its records backend's
 * counters and settings, the HTTP listener's settings (-o http_port and the rest) and the
 * bound on input held across connections (-o input_mem_limit), all shown in `stats` or
 * `stats settings` by design.
 */
export function isRecordcacheOwn(name: string): boolean {
  return name.startsWith('records') || name.startsWith('http_') || name === 'input_mem_limit';
}

/**
 * Sorted names (the order of lines is not part of the contract), then
 * `name = value` for each name `compareValue` selects, then non-STAT lines.
 */
export function renderStats(reply: Buffer, compareValue: (name: string) => boolean): string {
  const { stats: all, other } = parseStats(reply);
  const stats = all.filter((stat) => !isRecordcacheOwn(stat.name));
  const names = stats.map((stat) => stat.name).sort();
  const values = stats
    .filter((stat) => compareValue(stat.name))
    .map((stat) => `${stat.name} = ${stat.value}`)
    .sort();
  return [`names: ${names.join(' ')}`, ...values, ...other].join('\n');
}

/**
 * General `stats` values that follow from the commands sent. Left out:
 * pid, uptime, time, rusage_*, libevent, pointer_size (the process and its
 * build); total_connections (the harness probes the port while waiting for
 * the server); bytes, bytes_written, and every memory, buffer, hash-table,
 * LRU, slab and thread counter (they measure the implementation, not the
 * cache contents).
 */
export const TRAFFIC_STATS = new Set([
  'version',
  'max_connections',
  'curr_connections',
  'rejected_connections',
  'cmd_get',
  'cmd_set',
  'cmd_flush',
  'cmd_touch',
  'cmd_meta',
  'get_hits',
  'get_misses',
  'get_expired',
  'get_flushed',
  'delete_misses',
  'delete_hits',
  'incr_misses',
  'incr_hits',
  'decr_misses',
  'decr_hits',
  'cas_misses',
  'cas_hits',
  'cas_badval',
  'touch_hits',
  'touch_misses',
  'store_too_large',
  'store_no_memory',
  'auth_cmds',
  'auth_errors',
  'bytes_read',
  'limit_maxbytes',
  'accepting_conns',
  'curr_items',
  'total_items',
  'evictions',
  'reclaimed',
  'expired_unfetched',
  'evicted_unfetched',
]);

/**
 * `stats settings` values all follow from the command line, except the TCP
 * port (each server has its own) and the thread counts (memcached is run
 * with -t 1 so that its behaviour repeats; recordcache gets no -t).
 */
export const SETTINGS_NOT_COMPARED = new Set(['tcpport', 'num_threads', 'num_threads_per_udp']);

/**
 * `stats conns` names start with file descriptors and its addresses hold
 * ports: descriptors become their order of appearance, the server's port
 * becomes <port> and a client's port <client>. Values of state and
 * secs_since_last_cmd are internal and left out.
 */
export function renderConns(reply: Buffer, serverPort: number): string {
  const { stats, other } = parseStats(reply);
  const fds = new Map<string, number>();
  const lines = stats.map((stat) => {
    const [fd, field] = stat.name.split(':');
    if (!fds.has(fd)) fds.set(fd, fds.size + 1);
    const name = `conn${fds.get(fd)}:${field}`;
    if (field === 'addr' || field === 'listen_addr') {
      const value = stat.value.replace(/:(\d+)$/, (_, port: string) => (Number(port) === serverPort ? ':<port>' : ':<client>'));
      return `${name} ${value}`;
    }
    return name;
  });
  return [...lines, ...other].join('\n');
}
