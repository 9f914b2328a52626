/*
 * The texts of -h and -i.
 */

import { MEGABYTE, MEMCACHED_VERSION, RECORDCACHE_VERSION, defaultConfig } from '../config';
import { REFUSED_SUBOPTION_NAMES } from './suboptions';
import { PROGRAM, RECORDS_BACKENDS } from './table';

export function usageText(): string {
  const d = defaultConfig();
  const lines = [
    `${PROGRAM} ${RECORDCACHE_VERSION} (memcached ${MEMCACHED_VERSION} compatible)`,
    `-p, --port=<num>          TCP port to listen on (default: ${d.port})`,
    `-U, --udp-port=<num>      UDP port to listen on (default: ${d.udpPort}, off)`,
    '-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)',
    `-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: ${d.socketMask.toString(8)})`,
    '-A, --enable-shutdown     enable ascii "shutdown" command',
    '-l, --listen=<addr>       interface to listen on (default: INADDR_ANY)',
    '                          repeatable and comma separated; <addr>:<port>, [<ipv6>]:<port>,',
    '                          proto[ascii|binary|negotiating]:<addr> and tag[<name>]:<addr> accepted;',
    "                          with -Z, 'notls:<addr>:<port>' keeps that listener plaintext",
    '-d, --daemon              run as a daemon',
    '-r, --enable-coredumps    maximize core file limit',
    '-u, --user=<user>         assume identity of <username> (only when run as root)',
    `-m, --memory-limit=<num>  item memory in megabytes (default: ${d.maxBytes / MEGABYTE})`,
    '-M, --disable-evictions   return error on memory exhausted instead of evicting',
    `-c, --conn-limit=<num>    max simultaneous connections (default: ${d.maxConns})`,
    '-k, --lock-memory         refused: memory cannot be locked',
    '-v, --verbose             verbose (print errors/warnings while in event loop)',
    '-vv                       very verbose (also print client commands/responses)',
    '-vvv                      extremely verbose (internal state transitions)',
    '-h, --help                print this help and exit',
    '-i, --license             print the license and exit',
    '-V, --version             print version and exit',
    '-P, --pidfile=<file>      save PID in <file>',
    `-f, --slab-growth-factor=<num> chunk size growth factor (default: ${d.factor.toFixed(2)})`,
    `-n, --slab-min-size=<bytes> min space used for key+value+flags (default: ${d.chunkSize})`,
    '-L, --enable-largepages   refused: no large-page preallocation',
    `-D <char>                 delimiter between key prefixes and IDs for per-prefix stats`,
    `                          (default: "${d.prefixDelimiter}"); giving it turns per-prefix stats on`,
    `-t, --threads=<num>       I/O threads that read, frame and answer GET hits (native; default: 4)`,
    '-R, --max-reqs-per-event  maximum number of requests per event, limits the',
    '                          requests processed per connection to prevent',
    `                          starvation (default: ${d.reqsPerEvent})`,
    '-C, --disable-cas         disable use of CAS',
    `-b, --listen-backlog=<num> set the backlog queue limit (default: ${d.backlog})`,
    '-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)',
    '-I, --max-item-size=<num> adjusts max item size',
    `                          (default: ${d.itemSizeMax / MEGABYTE}m, min: 1k, max: 1024m)`,
    '-S, --enable-sasl         turn on Sasl authentication',
    '-F, --disable-flush-all   disable flush_all command',
    '-X, --disable-dumping     disable stats cachedump and lru_crawler metadump',
    '-W, --disable-watch       disable watch commands (live logging)',
    '-Y, --auth-file=<file>    enable ASCII protocol authentication. format:',
    '                          user:pass\\nuser2:pass2\\n',
    '-e, --memory-file=<file>  refused: the cache is not restartable',
    '-Z, --enable-ssl          enable TLS/SSL',
    '-N, --napi-ids=<num>      refused: connections are not placed by NAPI id',
    '-o, --extended            comma separated list of extended options',
    `   - idle_timeout:        timeout for idle connections. (default: ${d.idleTimeout}, no timeout)`,
    "   - track_sizes:         enable dynamic reports for 'stats sizes' command.",
    `   - slab_chunk_max:      maximum slab chunk size in bytes (default: ${d.slabChunkMax})`,
    '   - slab_sizes, no_chunked_items, hashpower, no_hashexpand, no_slab_reassign, slab_automove=0|1:',
    "                          as in memcached (slab classes, and what 'stats' reports)",
    '   - out_limit_soft, out_limit_hard: stop reading, then close, a connection whose replies',
    '                          are unread past this many bytes (native engine; default 1m, 256m)',
    '   - input_mem_limit:     input held across all connections for unfinished requests; past it',
    `                          a connection gets SERVER_ERROR and is closed (default: ${d.inputMemLimit / 1048576}m, 0 none)`,
    '   - records_min_size, records_min_hits: which values become records (default 32k, 1)',
    '   - http_port:           an HTTP/1.1 listener on the -l addresses answering GET and HEAD /<key>',
    '                          from the same items (default: 0, off)',
    '   - http_writes:         also answer PUT (as set; If-Match as cas) and DELETE (default: 405)',
    `   - http_content_type:   the values' Content-Type (default: ${d.httpContentType})`,
    '   - http_gzip_flag:      Content-Encoding: gzip for items whose flags have any of these bits (default: 0)',
    '   - refused, as recordcache cannot honour them:',
    ...wrapNames(REFUSED_SUBOPTION_NAMES, '     ', 92),
    '   - every other memcached 1.6.18 suboption is checked as memcached checks it, shown by',
    "     'stats settings', and changes nothing a memcached client would see",
    `--records=<name>          records backend: ${RECORDS_BACKENDS.join(', ')} (default: ${d.records})`,
  ];
  return lines.join('\n') + '\n';
}

function wrapNames(names: readonly string[], indent: string, width: number): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const name of names) {
    const piece = line === indent ? name : ` ${name}`;
    if (line.length + piece.length > width && line !== indent) {
      lines.push(line);
      line = indent + name;
    } else {
      line += piece;
    }
  }
  if (line !== indent) lines.push(line);
  return lines;
}

export function licenseText(): string {
  return `${PROGRAM} ${RECORDCACHE_VERSION}\n\n` + 'Released under the BSD 3-Clause License (SPDX-License-Identifier: BSD-3-Clause).\n';
}
