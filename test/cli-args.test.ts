import assert from 'node:assert/strict';
import { parseArgs, parseListenEntry, ParseResult, SUBOPTION_NAMES, USAGE_EXIT_CODE } from '../server/cli-args';
import { Config, MEGABYTE, defaultConfig } from '../server/config';

function runResult(argv: string[]): Extract<ParseResult, { kind: 'run' }> {
  const result = parseArgs(argv);
  if (result.kind !== 'run') {
    assert.fail(`expected ${JSON.stringify(argv)} to run, got exit ${result.code}: ${result.stderr}`);
  }
  return result;
}

function run(...argv: string[]): Config {
  const result = runResult(argv);
  assert.equal(result.stderr, '', `unexpected notes for ${JSON.stringify(argv)}`);
  return result.config;
}

/**
 * Asserts a refused command line: nothing on stdout, exactly `message` as one line on
 * stderr, exit 2 for an unknown or incomplete option (prefixed with the program name) and
 * memcached's exit 1 for a value it refuses.
 */
function fails(argv: string[], message: string): void {
  const result = parseArgs(argv);
  assert.equal(result.kind, 'exit', `expected ${JSON.stringify(argv)} to be refused`);
  if (result.kind !== 'exit') return;
  assert.equal(result.code, message.startsWith('recordcache: ') ? 2 : EX_USAGE_MESSAGES.some((re) => re.test(message)) ? 64 : 1);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, message + '\n');
}

/** Settings memcached checks after parsing and refuses with EX_USAGE (64). */
const EX_USAGE_MESSAGES = [
  /^This server is not built with/,
  /^ERROR: You cannot enable SSL/,
  /^Invalid value for binding protocol/,
  /^Number of napi_ids/,
  /^Item max size cannot/,
  /^Cannot set item size limit/,
  /^slab_chunk_max \(bytes/,
  /^-I \(item_size_max: \d+\) must be evenly divisible/,
  /^hot_lru_pct \+ warm_lru_pct/,
  /^temporary_ttl requires/,
  /^ERROR: /,
];

describe('parseArgs', () => {
  describe('defaults', () => {
    it('gives memcached 1.6.18 defaults for an empty command line', () => {
      const result = runResult([]);
      assert.deepEqual(result.config, defaultConfig());
      assert.equal(result.stderr, '');
      const config = result.config;
      assert.equal(config.port, 11211);
      assert.equal(config.udpPort, 0);
      assert.deepEqual(config.listen, []);
      assert.equal(config.socketMask, 0o700);
      assert.equal(config.maxBytes, 64 * MEGABYTE);
      assert.equal(config.maxConns, 1024);
      assert.equal(config.threads, 4);
      assert.equal(config.itemSizeMax, MEGABYTE);
      assert.equal(config.slabChunkMax, 512 * 1024);
      assert.equal(config.protocol, 'auto');
      assert.equal(config.records, 'auto');
      assert.equal(config.suboptions.size, 0);
    });

    it('returns a fresh config each time', () => {
      const first = run('-l', '10.0.0.1', '-o', 'modern');
      const second = run();
      assert.deepEqual(second.listen, []);
      assert.equal(second.suboptions.size, 0);
      assert.notStrictEqual(first.suboptions, second.suboptions);
    });

    it('exports a usage exit code of 2', () => {
      assert.equal(USAGE_EXIT_CODE, 2);
    });
  });

  describe('argument forms', () => {
    it('takes a short option value as the next word or attached', () => {
      assert.equal(run('-p', '11300').port, 11300);
      assert.equal(run('-p11300').port, 11300);
    });

    it('takes a long option value after = or as the next word', () => {
      assert.equal(run('--port=11300').port, 11300);
      assert.equal(run('--port', '11300').port, 11300);
    });

    it('takes an unambiguous prefix of a long option', () => {
      assert.equal(run('--po=11300').port, 11300);
      assert.equal(run('--conn', '10').maxConns, 10);
      assert.equal(run('--rec=js').records, 'js');
    });

    it('takes the next word as a value even when it starts with a dash', () => {
      assert.deepEqual(run('-l', '-weird-host').listen, ['-weird-host']);
      assert.equal(run('-Y', '--records').authFile, '--records');
    });

    it('reads clusters of short flags, the last one possibly taking a value', () => {
      const config = run('-Mp', '11300');
      assert.equal(config.noEvict, true);
      assert.equal(config.port, 11300);
      const packed = run('-vCFp11400');
      assert.equal(packed.verbose, 1);
      assert.equal(packed.disableCas, true);
      assert.equal(packed.disableFlushAll, true);
      assert.equal(packed.port, 11400);
    });

    it('counts -v however it is written', () => {
      assert.equal(run('-v').verbose, 1);
      assert.equal(run('-vv').verbose, 2);
      assert.equal(run('-vvv').verbose, 3);
      assert.equal(run('-v', '-v').verbose, 2);
      assert.equal(run('-vv', '--verbose').verbose, 3);
      // memcached does not clamp the startup level.
      assert.equal(run('-vvvv').verbose, 4);
    });

    it('counts --verbose=N once, as getopt hands memcached the option once', () => {
      assert.equal(run('--verbose=3').verbose, 1);
    });

    it('lets later options override earlier ones', () => {
      assert.equal(run('-p', '1', '-p', '2').port, 2);
      assert.equal(run('-B', 'ascii', '--protocol=binary').protocol, 'binary');
    });

    it('ends options at --', () => {
      assert.equal(run('-p', '11300', '--').port, 11300);
    });
  });

  describe('each option', () => {
    it('-U / --udp-port', () => {
      const config = run('-p', '11211', '-U', '11311');
      assert.equal(config.udpPort, 11311);
      assert.equal(config.port, 11211);
      assert.equal(run('--udp-port=0').udpPort, 0);
    });

    it('-U without -p moves the TCP port too, as memcached does', () => {
      const config = run('-U', '11311');
      assert.equal(config.udpPort, 11311);
      assert.equal(config.port, 11311);
      assert.equal(run('-U', '0').port, 11211);
    });

    it('-p 0 turns TCP off', () => {
      assert.equal(run('-p', '0').port, 0);
    });

    it('-s / --unix-socket and -a / --unix-mask (octal)', () => {
      const config = run('-s', '/tmp/mc.sock', '-a', '0755');
      assert.equal(config.socketPath, '/tmp/mc.sock');
      assert.equal(config.socketMask, 0o755);
      assert.equal(run('--unix-mask=600').socketMask, 0o600);
      assert.equal(run('--unix-socket', '/run/x').socketPath, '/run/x');
      assert.equal(run('-a', '0').socketMask, 0);
    });

    it('-m / --memory-limit in megabytes, with an optional m suffix', () => {
      assert.equal(run('-m', '128').maxBytes, 128 * MEGABYTE);
      assert.equal(run('-m', '64m').maxBytes, 64 * MEGABYTE);
      assert.equal(run('-m', '64M').maxBytes, 64 * MEGABYTE);
      assert.equal(run('--memory-limit=2048').maxBytes, 2048 * MEGABYTE);
    });

    it('-M / --disable-evictions', () => {
      assert.equal(run('-M').noEvict, true);
      assert.equal(run('--disable-evictions').noEvict, true);
    });

    it('-c / --conn-limit', () => {
      assert.equal(run('-c', '1').maxConns, 1);
      assert.equal(run('--conn-limit=50000').maxConns, 50000);
    });

    it('-t / --threads', () => {
      assert.equal(run('-t', '1').threads, 1);
      assert.equal(run('--threads=64').threads, 64);
    });

    it('-t above 64 runs with memcached\'s warning', () => {
      const result = runResult(['-t', '65']);
      assert.equal(result.config.threads, 65);
      assert.match(result.stderr, /^WARNING: Setting a high number of worker threads is not recommended\./);
      assert.equal(result.stderr.split('\n').length, 2, 'one line');
    });

    it('-l / --listen: repeatable, comma and semicolon lists, duplicates dropped', () => {
      assert.deepEqual(run('-l', '127.0.0.1').listen, ['127.0.0.1']);
      assert.deepEqual(run('-l', '127.0.0.1,10.0.0.1').listen, ['127.0.0.1', '10.0.0.1']);
      assert.deepEqual(run('-l', '127.0.0.1;10.0.0.1').listen, ['127.0.0.1', '10.0.0.1']);
      assert.deepEqual(run('-l', '127.0.0.1', '--listen=::1', '-l', '127.0.0.1').listen, ['127.0.0.1', '::1']);
      assert.deepEqual(run('-l', 'a,,b,').listen, ['a', 'b']);
    });

    it('-l keeps host:port and bracketed IPv6 entries', () => {
      assert.deepEqual(run('-l', '127.0.0.1:11300,[::1]:11301,*').listen, ['127.0.0.1:11300', '[::1]:11301', '*']);
    });

    it('-A -C -F -X -W -S and their long names', () => {
      assert.equal(run('-A').enableShutdown, true);
      assert.equal(run('--enable-shutdown').enableShutdown, true);
      assert.equal(run('-C').disableCas, true);
      assert.equal(run('--disable-cas').disableCas, true);
      assert.equal(run('-F').disableFlushAll, true);
      assert.equal(run('--disable-flush-all').disableFlushAll, true);
      assert.equal(run('-X').disableDumping, true);
      assert.equal(run('--disable-dumping').disableDumping, true);
      assert.equal(run('-W').disableWatch, true);
      assert.equal(run('--disable-watch').disableWatch, true);
      assert.equal(run('-S').sasl, true);
      assert.equal(run('--enable-sasl').sasl, true);
    });

    it('-R / --max-reqs-per-event', () => {
      assert.equal(run('-R', '5').reqsPerEvent, 5);
      assert.equal(run('--max-reqs-per-event=100').reqsPerEvent, 100);
    });

    it('-B / --protocol', () => {
      assert.equal(run('-B', 'ascii').protocol, 'ascii');
      assert.equal(run('-B', 'binary').protocol, 'binary');
      assert.equal(run('--protocol=auto').protocol, 'auto');
    });

    it('-b / --listen-backlog', () => {
      assert.equal(run('-b', '4096').backlog, 4096);
      assert.equal(run('--listen-backlog=0').backlog, 0);
    });

    it('-f / --slab-growth-factor and -n / --slab-min-size', () => {
      assert.equal(run('-f', '1.08').factor, 1.08);
      assert.equal(run('--slab-growth-factor=2').factor, 2);
      assert.equal(run('-n', '96').chunkSize, 96);
      assert.equal(run('--slab-min-size=32').chunkSize, 32);
    });

    it('-D sets the prefix delimiter from its first character and turns on detail stats', () => {
      const config = run('-D', '#');
      assert.equal(config.prefixDelimiter, '#');
      assert.equal(config.detailEnabled, true);
      assert.equal(run('-D', '/x').prefixDelimiter, '/');
      assert.equal(run('-D:').detailEnabled, true);
      assert.equal(run().detailEnabled, false);
    });

    it('-Y / --auth-file', () => {
      assert.equal(run('-Y', '/etc/mc.auth').authFile, '/etc/mc.auth');
      assert.equal(run('--auth-file=/a').authFile, '/a');
    });

    it('-u / --user and -P / --pidfile are kept for the caller', () => {
      const config = run('-u', 'memcache', '-P', '/run/mc.pid');
      assert.equal(config.user, 'memcache');
      assert.equal(config.pidFile, '/run/mc.pid');
      assert.equal(run('--user=nobody').user, 'nobody');
      assert.equal(run('--pidfile', '/p').pidFile, '/p');
    });

    it('-r asks for core files; -k -L -N -e, which cannot be honoured, are refused', () => {
      assert.equal(run('-r').coreDumps, true);
      assert.equal(run('--enable-coredumps').coreDumps, true);
      for (const flags of [['-k'], ['--lock-memory'], ['-L'], ['--enable-largepages'], ['-N', '2'], ['--napi-ids=4'], ['-e', '/dev/shm/mc']]) {
        const result = parseArgs(flags);
        assert.equal(result.kind, 'exit', flags.join(' '));
        if (result.kind === 'exit') assert.equal(result.code, 1, flags.join(' '));
      }
    });

    it('-d and --daemon ask to detach', () => {
      assert.equal(run('-d').daemonize, true);
      assert.equal(run('--daemon').daemonize, true);
      assert.equal(run().daemonize, false);
    });

    it('--records picks the records backend', () => {
      for (const name of ['auto', 'js', 'native', 'kmod'] as const) {
        assert.equal(run(`--records=${name}`).records, name);
      }
      assert.equal(run('--records', 'native').records, 'native');
    });
  });

  describe('-I / --max-item-size', () => {
    it('takes bytes or a k/m suffix in either case', () => {
      assert.equal(run('-I', '2m').itemSizeMax, 2 * MEGABYTE);
      assert.equal(run('-I', '2M').itemSizeMax, 2 * MEGABYTE);
      assert.equal(run('-I', '1536k').itemSizeMax, 1536 * 1024);
      assert.equal(run('-I', '512K').itemSizeMax, 512 * 1024);
      assert.equal(run('-I', '1048576').itemSizeMax, MEGABYTE);
      assert.equal(run('--max-item-size=3m').itemSizeMax, 3 * MEGABYTE);
    });

    it('allows up to a gigabyte when memory is at least twice that', () => {
      assert.equal(run('-m', '4096', '-I', '1024m').itemSizeMax, 1024 * MEGABYTE);
      assert.equal(run('-m', '2', '-I', '1m').itemSizeMax, MEGABYTE);
    });

    it('allows small items once slab_chunk_max fits them', () => {
      const config = run('-o', 'slab_chunk_max=1024', '-I', '2k');
      assert.equal(config.itemSizeMax, 2048);
      assert.equal(config.slabChunkMax, 1024);
      assert.equal(run('-o', 'slab_chunk_max=1024', '-I', '1k').itemSizeMax, 1024);
    });

    it('refuses less than 1024 bytes', () => {
      fails(['-I', '1023'], 'Item max size cannot be less than 1024 bytes.');
      fails(['-I', '0k'], 'Item max size cannot be less than 1024 bytes.');
    });

    it('refuses more than half the memory limit', () => {
      fails(['-m', '1', '-I', '1m'], 'Cannot set item size limit higher than 1/2 of memory max.');
      fails(['-I', '2000m'], 'Cannot set item size limit higher than 1/2 of memory max.');
      fails(['-m', '0'], 'Cannot set item size limit higher than 1/2 of memory max.');
    });

    it('refuses more than a gigabyte', () => {
      fails(['-m', '4096', '-I', '1025m'], 'Cannot set item size limit higher than a gigabyte.');
      fails(['-m', '65536', '-I', '4096m'], 'Cannot set item size limit higher than a gigabyte.');
    });

    it('refuses sizes below the default slab chunk (memcached\'s own rule)', () => {
      fails(['-I', '2k'], 'slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 2048)');
      fails(['-I', '1k'], 'slab_chunk_max (bytes: 524288) cannot be larger than -I (item_size_max 1024)');
    });

    it('refuses sizes that are not a multiple of the slab chunk', () => {
      fails(['-I', '1000k'], '-I (item_size_max: 1024000) must be evenly divisible by slab_chunk_max (bytes: 524288)');
    });

    it('reads the number as atoi does, so what is not a size is too small', () => {
      for (const value of ['m', '', 'abc', '-1m']) fails(['-I', value], 'Item max size cannot be less than 1024 bytes.');
      assert.equal(run('-I', '1.5m').itemSizeMax, MEGABYTE);
    });
  });

  describe('-o / --extended', () => {
    it('applies idle_timeout, track_sizes and slab_chunk_max and keeps every suboption verbatim', () => {
      const config = run('-o', 'idle_timeout=30,track_sizes,slab_chunk_max=262144,hot_lru_pct=25');
      assert.equal(config.idleTimeout, 30);
      assert.equal(config.trackSizes, true);
      assert.equal(config.slabChunkMax, 262144);
      assert.deepEqual(
        [...config.suboptions],
        [
          ['idle_timeout', '30'],
          ['track_sizes', ''],
          ['slab_chunk_max', '262144'],
          ['hot_lru_pct', '25'],
        ],
      );
    });

    it('accumulates over several -o and lets the last value win', () => {
      const config = run('-o', 'idle_timeout=5', '--extended=modern', '-o', 'idle_timeout=9');
      assert.equal(config.idleTimeout, 9);
      assert.equal(config.suboptions.get('idle_timeout'), '9');
      assert.equal(config.suboptions.get('modern'), '');
    });

    it('keeps everything after the first = as the value', () => {
      assert.equal(run('-o', 'ssl_ciphers=A=B:C').suboptions.get('ssl_ciphers'), 'A=B:C');
    });

    it('ignores one trailing comma and an empty list', () => {
      assert.equal(run('-o', 'idle_timeout=3,').idleTimeout, 3);
      assert.equal(run('-o', '').suboptions.size, 0);
    });

    it('accepts every suboption memcached 1.6.18 knows', () => {
      const values: Record<string, string> = {
        hashpower: '16',
        out_limit_soft: '1m',
        out_limit_hard: '256m',
        records_min_size: '64k',
        records_min_hits: '2',
        slab_automove_ratio: '0.5',
        slab_automove_window: '10',
        tail_repair_time: '60',
        hash_algorithm: 'xxh3',
        lru_crawler_sleep: '50',
        lru_crawler_tocrawl: '100',
        hot_lru_pct: '20',
        warm_lru_pct: '40',
        hot_max_factor: '0.5',
        warm_max_factor: '1.5',
        temporary_ttl: '30',
        idle_timeout: '10',
        watcher_logbuf_size: '512',
        worker_logbuf_size: '128',
        slab_sizes: '96-200-400',
        slab_chunk_max: '524288',
        read_buf_mem_limit: '64',
        ssl_chain_cert: '/c.pem',
        ssl_key: '/k.pem',
        ssl_verify_mode: '2',
        ssl_keyformat: '1',
        ssl_ciphers: 'HIGH',
        ssl_ca_cert: '/ca.pem',
        ssl_wbuf_size: '32',
        ssl_min_version: '3',
        sock_cookie_id: '7',
        ext_page_size: '32',
        ext_wbuf_size: '8',
        ext_threads: '2',
        ext_io_depth: '4',
        ext_path: '/tmp/ext:1G',
        ext_item_size: '1024',
        ext_item_age: '60',
        ext_low_ttl: '10',
        ext_recache_rate: '100',
        ext_compact_under: '4',
        ext_drop_under: '4',
        ext_max_sleep: '100',
        ext_max_frag: '0.5',
        slab_automove_freeratio: '0.02',
      };
      // no_modern and no_lru_maintainer would switch off what temporary_ttl needs.
      const skipped = new Set(['no_modern', 'no_lru_maintainer', 'no_chunked_items']);
      const tokens = SUBOPTION_NAMES.filter((name) => !skipped.has(name)).map((name) =>
        name in values ? `${name}=${values[name]}` : name,
      );
      const result = runResult(['-o', tokens.join(',')]);
      for (const name of SUBOPTION_NAMES) {
        if (!skipped.has(name)) assert.equal(result.config.suboptions.get(name), values[name] ?? '', name);
      }
      run('-o', 'no_modern');
      run('-o', 'no_lru_maintainer');
      run('-o', 'no_chunked_items');
      assert.ok(SUBOPTION_NAMES.length >= 60);
    });

    it('notes what it accepts but does not do', () => {
      assert.match(runResult(['-o', 'ext_path=/tmp/ext:64m']).stderr, /^ext_path: .*memory\n$/);
      assert.match(runResult(['-o', 'resp_obj_mem_limit']).stderr, /^DEPRECATED: resp_obj_mem_limit/);
    });

    it('refuses an unknown suboption with memcached\'s message', () => {
      fails(['-o', 'records_min_hits=0'], 'records_min_hits must be at least 1');
      fails(['-o', 'records_min_size=big'], 'Invalid value for records_min_size: "big" (expected bytes, with an optional k, m or g suffix)');
      fails(['-o', 'foo'], 'Illegal suboption "foo"');
      fails(['-o', 'foo=1'], 'Illegal suboption "foo=1"');
      fails(['-o', 'idle_timeout=5,bogus'], 'Illegal suboption "bogus"');
      fails(['-o', ',idle_timeout=3'], 'Illegal suboption ""');
      fails(['-o', 'IDLE_TIMEOUT=3'], 'Illegal suboption "IDLE_TIMEOUT=3"');
      fails(['-o', 'proxy_config=/x.lua'], 'Illegal suboption "proxy_config=/x.lua"');
    });

    it('refuses missing values with memcached\'s messages', () => {
      fails(['-o', 'idle_timeout'], 'Missing numeric argument for idle_timeout');
      fails(['-o', 'hashpower'], 'Missing numeric argument for hashpower');
      fails(['-o', 'tail_repair_time'], 'Missing numeric argument for tail_repair_time');
      fails(['-o', 'hash_algorithm'], 'Missing hash_algorithm argument');
      fails(['-o', 'lru_crawler_sleep'], 'Missing lru_crawler_sleep value');
      fails(['-o', 'lru_crawler_tocrawl'], 'Missing lru_crawler_tocrawl value');
      fails(['-o', 'hot_lru_pct'], 'Missing hot_lru_pct argument');
      fails(['-o', 'warm_lru_pct'], 'Missing warm_lru_pct argument');
      fails(['-o', 'hot_max_factor'], 'Missing hot_max_factor argument');
      fails(['-o', 'warm_max_factor'], 'Missing warm_max_factor argument');
      fails(['-o', 'temporary_ttl'], 'Missing temporary_ttl argument');
      fails(['-o', 'slab_automove_ratio'], 'Missing slab_automove_ratio argument');
      fails(['-o', 'slab_automove_window'], 'Missing slab_automove_window argument');
      fails(['-o', 'watcher_logbuf_size'], 'Missing watcher_logbuf_size argument');
      fails(['-o', 'worker_logbuf_size'], 'Missing worker_logbuf_size argument');
      fails(['-o', 'read_buf_mem_limit'], 'Missing read_buf_mem_limit argument');
      fails(['-o', 'slab_chunk_max'], 'Missing slab_chunk_max argument');
      fails(['-o', 'slab_sizes'], 'Missing slab_sizes argument');
      fails(['-o', 'slab_sizes='], 'Missing slab_sizes argument');
      fails(['-o', 'ssl_chain_cert'], 'Missing ssl_chain_cert argument');
      fails(['-o', 'ssl_key'], 'Missing ssl_key argument');
      fails(['-o', 'ssl_verify_mode'], 'Missing ssl_verify_mode argument');
      fails(['-o', 'ssl_keyformat'], 'Missing ssl_keyformat argument');
      fails(['-o', 'ssl_ciphers'], 'Missing ssl_ciphers argument');
      fails(['-o', 'ssl_ca_cert'], 'Missing ssl_ca_cert argument');
      fails(['-o', 'ssl_wbuf_size'], 'Missing ssl_wbuf_size argument');
      fails(['-o', 'ssl_min_version'], 'Missing ssl_min_version argument');
      fails(['-o', 'sock_cookie_id'], 'Missing sock_cookie_id argument');
      fails(['-o', 'ext_page_size'], 'Missing ext_page_size argument');
      fails(['-o', 'ext_wbuf_size'], 'Missing ext_wbuf_size argument');
      fails(['-o', 'ext_max_frag'], 'Missing ext_max_frag argument');
      fails(['-o', 'ext_path'], 'missing argument to ext_path, ie: ext_path=/d/file:5G');
    });

    it('refuses values out of memcached\'s ranges with its messages', () => {
      fails(['-o', 'hashpower=11'], 'Initial hashtable multiplier of 11 is too low');
      fails(
        ['-o', 'hashpower=33'],
        'Initial hashtable multiplier of 33 is too high; choose a value based on "STAT hash_power_level" from a running instance',
      );
      fails(['-o', 'slab_automove=3'], 'slab_automove must be between 0 and 2');
      fails(['-o', 'slab_automove=-1'], 'slab_automove must be between 0 and 2');
      fails(['-o', 'slab_automove_ratio=0'], 'slab_automove_ratio must be > 0 and < 1');
      fails(['-o', 'slab_automove_ratio=1.5'], 'slab_automove_ratio must be > 0 and < 1');
      fails(['-o', 'slab_automove_window=2'], 'slab_automove_window must be > 2');
      fails(['-o', 'tail_repair_time=9'], 'Cannot set tail_repair_time to less than 10 seconds');
      fails(['-o', 'hash_algorithm=md5'], 'Unknown hash_algorithm option (jenkins, murmur3, xxh3)');
      fails(['-o', 'lru_crawler_sleep=1000001'], 'LRU crawler sleep must be between 0 and 1 second');
      fails(['-o', 'lru_crawler_sleep=-1'], 'LRU crawler sleep must be between 0 and 1 second');
      fails(['-o', 'lru_crawler_tocrawl=-1'], 'lru_crawler_tocrawl takes a numeric 32bit value');
      fails(['-o', 'lru_crawler_tocrawl=4294967296'], 'lru_crawler_tocrawl takes a numeric 32bit value');
      fails(['-o', 'hot_lru_pct=0'], 'hot_lru_pct must be > 1 and < 80');
      fails(['-o', 'hot_lru_pct=80'], 'hot_lru_pct must be > 1 and < 80');
      fails(['-o', 'warm_lru_pct=80'], 'warm_lru_pct must be > 1 and < 80');
      fails(['-o', 'hot_max_factor=0'], 'hot_max_factor must be > 0');
      fails(['-o', 'warm_max_factor=-1'], 'warm_max_factor must be > 0');
      fails(['-o', 'watcher_logbuf_size=x'], 'could not parse argument to watcher_logbuf_size');
      fails(['-o', 'worker_logbuf_size=-1'], 'could not parse argument to worker_logbuf_size');
      fails(['-o', 'read_buf_mem_limit=1.5'], 'could not parse argument to read_buf_mem_limit');
      fails(['-o', 'ssl_verify_mode=4'], 'Invalid ssl_verify_mode. Use help to see valid options.');
      fails(['-o', 'ssl_verify_mode=x'], 'could not parse argument to ssl_verify_mode');
      fails(['-o', 'ssl_min_version=4'], 'Invalid ssl_min_version. Use help to see valid options.');
      fails(['-o', 'ssl_keyformat=PEM'], 'could not parse argument to ssl_keyformat');
      fails(['-o', 'ext_max_frag=lots'], 'could not parse argument to ext_max_frag');
      fails(['-o', 'slab_automove_freeratio=x'], 'could not parse argument to slab_automove_freeratio');
    });

    it('refuses values memcached misreads or crashes on', () => {
      assert.equal(run('-o', 'idle_timeout=abc').idleTimeout, 0);
      fails(['-o', 'idle_timeout=-5'], 'idle_timeout must not be negative');
      fails(['-o', 'slab_chunk_max=abc'], 'could not parse argument to slab_chunk_max');
      fails(['-o', 'slab_chunk_max=0'], 'slab_chunk_max must be greater than 0');
      assert.equal(run('-o', 'hashpower=16x').suboptions.get('hashpower'), '16x');
      fails(['-o', 'hot_max_factor=big'], 'Invalid value for hot_max_factor: "big" (expected a number)');
    });

    it('checks slab_chunk_max against -I and the 1 MB slab page', () => {
      fails(['-o', 'slab_chunk_max=16384', '-I', '2k'], 'slab_chunk_max (bytes: 16384) cannot be larger than -I (item_size_max 2048)');
      fails(['-o', 'slab_chunk_max=1000'], '-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: 1000)');
      fails(
        ['-o', 'slab_chunk_max=3072', '-I', '3k'],
        'slab_chunk_max (bytes: 3072) must divide evenly into 1048576 (slab_page_size)',
      );
    });

    it('follows memcached\'s slab chunk adjustments for no_modern, no_chunked_items and large -I', () => {
      assert.equal(run('-o', 'no_chunked_items').slabChunkMax, MEGABYTE);
      assert.equal(run('-o', 'no_modern').slabChunkMax, MEGABYTE);
      // An explicit slab_chunk_max survives no_modern.
      assert.equal(run('-o', 'slab_chunk_max=2048,no_modern').slabChunkMax, 2048);
      // Items over 1 MB bring an unchanged chunk back to half a page.
      assert.equal(run('-o', 'no_chunked_items', '-I', '2m').slabChunkMax, 512 * 1024);
      fails(['-o', 'no_modern', '-I', '512k'], 'slab_chunk_max (bytes: 1048576) cannot be larger than -I (item_size_max 524288)');
    });

    it('checks hot and warm LRU shares together', () => {
      assert.deepEqual(run('-o', 'hot_lru_pct=40,warm_lru_pct=40').suboptions.get('warm_lru_pct'), '40');
      fails(['-o', 'hot_lru_pct=50,warm_lru_pct=40'], 'hot_lru_pct + warm_lru_pct cannot be more than 80% combined');
      fails(['-o', 'warm_lru_pct=70'], 'hot_lru_pct + warm_lru_pct cannot be more than 80% combined');
    });

    it('requires the LRU maintainer for temporary_ttl', () => {
      fails(['-o', 'temporary_ttl=10,no_lru_maintainer'], 'temporary_ttl requires lru_maintainer to be enabled');
      fails(['-o', 'no_modern,temporary_ttl=10'], 'temporary_ttl requires lru_maintainer to be enabled');
      run('-o', 'no_lru_maintainer,lru_maintainer,temporary_ttl=10');
    });

    it('checks slab_sizes as memcached does', () => {
      run('-o', 'slab_sizes=100-200-300');
      fails(['-o', 'slab_sizes=10-200'], 'slab size 10 is out of valid range');
      fails(['-o', 'slab_sizes=100-x'], 'slab size 0 is out of valid range');
      fails(['-o', 'slab_sizes=100-600000'], 'slab size 600000 is out of valid range');
      fails(['-o', 'slab_sizes=200-100'], 'slab size 100 cannot be lower than or equal to a previous class size');
      fails(['-o', 'slab_sizes=100-104'], 'slab size 104 must be at least 8 bytes larger than previous class');
      const many = Array.from({ length: 63 }, (_, i) => 100 + i * 100).join('-');
      fails(['-o', `slab_sizes=${many}`], 'too many slab classes specified');
    });

    it('checks extstore settings as memcached does', () => {
      fails(['-o', 'ext_path=/tmp/ext'], 'must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)');
      fails(['-o', 'ext_path=/tmp/ext:64m:compact'], 'ext_path only presently supports the default bucket');
      fails(['-o', 'ext_path=/tmp/ext:64m:bogus'], 'Unknown extstore bucket: bogus');
      fails(['-o', 'ext_path=/tmp/ext:lots'], 'Invalid size in ext_path: "lots" (expected a number with an M, G, T or P suffix)');
      fails(['-o', 'ext_path=/tmp/ext:64m,ext_page_size=8'], 'Must specify ext_page_size before any ext_path arguments');
      fails(['-o', 'ext_path=/tmp/ext:64m', '-I', '5m'], '-I (item_size_max: 5242880) cannot be larger than ext_wbuf_size: 4194304');
      assert.equal(runResult(['-o', 'ext_wbuf_size=8,ext_path=/tmp/ext:64m:default', '-I', '5m']).config.itemSizeMax, 5 * MEGABYTE);
      fails(['-o', 'ext_path=/tmp/ext:64m', '-U', '11311'], 'Cannot use UDP with extstore enabled (-U 0 to disable)');
    });
  });

  describe('protocol, SASL and auth file', () => {
    it('-S alone switches to the binary protocol', () => {
      assert.equal(run('-S').protocol, 'binary');
      assert.equal(run('-S', '-B', 'binary').protocol, 'binary');
    });

    it('-S refuses ascii or auto, and UDP', () => {
      fails(['-S', '-B', 'ascii'], 'ERROR: You cannot allow the ASCII protocol while using SASL.');
      fails(['-S', '-B', 'auto'], 'ERROR: You cannot allow the ASCII protocol while using SASL.');
      fails(['-S', '-p', '11211', '-U', '11311'], 'ERROR: Cannot enable UDP while using binary SASL authentication.');
    });

    it('-Y alone switches to the ascii protocol and refuses binary or auto', () => {
      assert.equal(run('-Y', '/a').protocol, 'ascii');
      assert.equal(run('-Y', '/a', '-B', 'ascii').protocol, 'ascii');
      fails(['-Y', '/a', '-B', 'binary'], 'ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.');
      fails(['-Y', '/a', '-B', 'auto'], 'ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.');
    });

    it('-B refuses other names', () => {
      fails(['-B', 'foo'], 'Invalid value for binding protocol: foo\n -- should be one of auto, binary, or ascii');
      fails(['-B', 'ASCII'], 'Invalid value for binding protocol: ASCII\n -- should be one of auto, binary, or ascii');
    });
  });

  describe('value errors', () => {
    it('refuses ports outside 0..65535', () => {
      fails(['-p', '70000'], 'ERROR: Invalid port number 70000.');
      fails(['-p', '65536'], 'ERROR: Invalid port number 65536.');
      fails(['-p', '-1'], 'ERROR: Invalid port number -1.');
      fails(['-p', '11211', '-U', '70000'], 'ERROR: Invalid port number 70000.');
      fails(['-U', '70000'], 'ERROR: Invalid port number 70000.');
      assert.equal(run('-p', '65535').port, 65535);
    });

    it("reads numbers as atoi does, leaving memcached's own checks to refuse them", () => {
      assert.equal(run('--port=11211x').port, 11211);
      assert.equal(run('-c', '10.5').maxConns, 10);
      fails(['-t', 'four'], 'Number of threads must be greater than 0');
      fails(['-c', 'x'], 'Maximum connections must be greater than 0');
      fails(['-R', 'x'], 'Number of requests per event must be greater than 0');
      assert.equal(run('-m', '64m').maxBytes, 64 * MEGABYTE);
      fails(['-m', 'abc'], 'Cannot set item size limit higher than 1/2 of memory max.');
    });

    it('refuses bad -a masks', () => {
      for (const value of ['999', 'abc', '', '1000', '-1']) {
        fails(['-a', value], `Invalid value for -a (--unix-mask): "${value}" (expected an octal mode such as 700)`);
      }
    });

    it('refuses bad -f factors', () => {
      fails(['-f', '1'], 'Factor must be greater than 1');
      fails(['-f', '0.5'], 'Factor must be greater than 1');
      fails(['-f', 'x'], 'Invalid value for -f (--slab-growth-factor): "x" (expected a number)');
    });

    it('refuses counts memcached refuses, with its messages', () => {
      fails(['-c', '0'], 'Maximum connections must be greater than 0');
      fails(['-c', '-1'], 'Maximum connections must be greater than 0');
      fails(['-t', '0'], 'Number of threads must be greater than 0');
      fails(['-t', '-2'], 'Number of threads must be greater than 0');
      fails(['-R', '0'], 'Number of requests per event must be greater than 0');
      fails(['-n', '0'], 'Chunk size must be greater than 0');
      fails(['-N', '0'], 'Maximum number of NAPI IDs must be greater than 0');
      fails(['-b', '-1'], 'Listen backlog must not be negative');
    });

    it('refuses more NAPI ids than threads, wherever -t comes', () => {
      fails(['-N', '5'], 'Number of napi_ids(5) cannot be greater than number of threads(4)');
      fails(['-t', '2', '-N', '3'], 'Number of napi_ids(3) cannot be greater than number of threads(2)');
      fails(['-N', '3', '-t', '2'], 'Number of napi_ids(3) cannot be greater than number of threads(2)');
    });

    it('refuses an empty -D', () => {
      fails(['-D', ''], 'No delimiter specified');
    });

    it('-Z / --enable-ssl turns TLS on; notls: may come before it; no TCP port is refused', () => {
      for (const flag of ['-Z', '--enable-ssl']) {
        const result = parseArgs([flag]);
        assert.equal(result.kind, 'run');
        if (result.kind === 'run') assert.equal(result.config.sslEnabled, true);
      }
      assert.equal(parseArgs(['-l', 'notls:127.0.0.1:5', '-Z']).kind, 'run');
      assert.equal(parseArgs(['-Z', '-l', 'notls:127.0.0.1:5']).kind, 'run');
      fails(['-Z', '-p', '0'], 'ERROR: You cannot enable SSL without a TCP port.');
    });

    it('refuses notls: without -Z as memcached does when it binds (exit 71)', () => {
      const result = parseArgs(['-l', 'notls:127.0.0.1']);
      assert.equal(result.kind, 'exit');
      if (result.kind !== 'exit') return;
      assert.equal(result.code, 71);
      assert.equal(
        result.stderr,
        "'notls' option is valid only when SSL is enabled\nfailed to listen on one of interface(s) notls:127.0.0.1: Success\n",
      );
    });

    it('refuses an unknown --records backend', () => {
      fails(['--records=rust'], 'Invalid value for --records: rust -- should be one of auto, js, native, kmod');
    });

    it('refuses malformed -l entries', () => {
      fails(['-l', '127.0.0.1:port'], 'Invalid port number: "port"');
      fails(['-l', '127.0.0.1:70000'], 'Invalid port number: "70000"');
      fails(['-l', '127.0.0.1:'], 'Invalid port number: ""');
      fails(['-l', '[::1:11211'], 'Invalid IPV6 address: "[::1:11211"');
      fails(['-l', 'proto[foo]:127.0.0.1'], 'Invalid protocol spec: "[foo]:127.0.0.1"');
      fails(['-l', 'proto[proxy]:127.0.0.1'], 'Server not built with proxy: "proto[proxy]:127.0.0.1"');
      fails(['-l', 'tag[toolongname]:127.0.0.1'], 'Listener tags must be between 1 and 8 characters: "toolongname"');
    });

    it('reports the first bad option in command-line order', () => {
      fails(['-c', '0', '-t', '0'], 'Maximum connections must be greater than 0');
      fails(['-t', '0', '-c', '0'], 'Number of threads must be greater than 0');
      // Option errors come before the checks made once all options are read.
      fails(['-p', '70000', '-c', '0'], 'Maximum connections must be greater than 0');
    });
  });

  describe('command-line errors', () => {
    it('refuses unknown short options', () => {
      fails(['-x'], "recordcache: invalid option -- 'x'");
      fails(['-vx'], "recordcache: invalid option -- 'x'");
      fails(['-G'], "recordcache: invalid option -- 'G'");
    });

    it('refuses unknown long options, showing them as given', () => {
      fails(['--bogus'], "recordcache: unrecognized option '--bogus'");
      fails(['--bogus=1'], "recordcache: unrecognized option '--bogus=1'");
      fails(['--napi_ids=1'], "recordcache: unrecognized option '--napi_ids=1'");
    });

    it('refuses ambiguous long prefixes, listing the possibilities in memcached\'s order', () => {
      fails(['--ver'], "recordcache: option '--ver' is ambiguous; possibilities: '--version' '--verbose'");
      fails(
        ['--enable-s'],
        "recordcache: option '--enable-s' is ambiguous; possibilities: '--enable-shutdown' '--enable-ssl' '--enable-sasl'",
      );
      fails(['--mem=64'], "recordcache: option '--mem=64' is ambiguous; possibilities: '--memory-limit' '--memory-file'");
    });

    it('refuses a missing value', () => {
      fails(['-p'], "recordcache: option requires an argument -- 'p'");
      fails(['-vo'], "recordcache: option requires an argument -- 'o'");
      fails(['--port'], "recordcache: option '--port' requires an argument");
      fails(['--por'], "recordcache: option '--port' requires an argument");
    });

    it('refuses a value given to a flag', () => {
      fails(['--daemon=1'], "recordcache: option '--daemon' doesn't allow an argument");
      fails(['--dae=1'], "recordcache: option '--daemon' doesn't allow an argument");
      fails(['--help=1'], "recordcache: option '--help' doesn't allow an argument");
    });

    it('refuses arguments that are not options', () => {
      fails(['-l', '127.0.0.1', '11211'], "recordcache: unexpected argument '11211'");
      fails(['-'], "recordcache: unexpected argument '-'");
      fails(['--', '-p', '5'], "recordcache: unexpected argument '-p'");
      fails(['--verbose', '2'], "recordcache: unexpected argument '2'");
    });
  });

  describe('help, version and license', () => {
    function exits(argv: string[]): { stdout: string; stderr: string } {
      const result = parseArgs(argv);
      assert.equal(result.kind, 'exit');
      if (result.kind !== 'exit') throw new Error('unreachable');
      assert.equal(result.code, 0);
      return result;
    }

    it('-h / --help prints usage in memcached\'s shape with defaults', () => {
      for (const flag of ['-h', '--help', '--he']) {
        const { stdout, stderr } = exits([flag]);
        assert.equal(stderr, '');
        const lines = stdout.split('\n');
        assert.equal(lines[0], 'recordcache 0.1.0 (memcached 1.6.18 compatible)');
        assert.equal(lines[1], '-p, --port=<num>          TCP port to listen on (default: 11211)');
        assert.ok(stdout.endsWith('\n'));
        for (const expected of [
          '(default: 0, off)',
          'in octal (default: 700)',
          'item memory in megabytes (default: 64)',
          'max simultaneous connections (default: 1024)',
          'requests run on one thread',
          'chunk size growth factor (default: 1.25)',
          '(default: 1m, min: 1k, max: 1024m)',
          '--records=<name>',
          'idle_timeout',
          'hot_lru_pct',
        ]) {
          assert.ok(stdout.includes(expected), `help mentions ${expected}`);
        }
      }
    });

    it('-V / --version prints "recordcache <version>"', () => {
      for (const flag of ['-V', '--version']) {
        const { stdout, stderr } = exits([flag]);
        assert.equal(stdout, 'recordcache 0.1.0\n');
        assert.equal(stderr, '');
      }
    });

    it('-i / --license prints the license', () => {
      const { stdout } = exits(['--license']);
      assert.match(stdout, /^recordcache 0\.1\.0\n\n.*BSD-3-Clause/);
      assert.equal(exits(['-i']).stdout, stdout);
    });

    it('acts on -h, -i and -V where they come, as memcached does', () => {
      assert.match(exits(['-p', '11211', '-h', '-c', '0', '--bogus']).stdout, /^recordcache 0\.1\.0 \(/);
      assert.equal(exits(['-vV']).stdout, 'recordcache 0.1.0\n');
      fails(['-c', '0', '-h'], 'Maximum connections must be greater than 0');
      fails(['--bogus', '-V'], "recordcache: unrecognized option '--bogus'");
      // The final checks are not reached.
      assert.equal(exits(['-m', '1', '-V']).stdout, 'recordcache 0.1.0\n');
    });
  });
});

describe('parseListenEntry', () => {
  it('reads a host alone', () => {
    assert.deepEqual(parseListenEntry('127.0.0.1'), { host: '127.0.0.1', port: null, protocol: null, tag: null, notls: false });
    assert.deepEqual(parseListenEntry('localhost'), { host: 'localhost', port: null, protocol: null, tag: null, notls: false });
  });

  it('reads host:port', () => {
    assert.deepEqual(parseListenEntry('127.0.0.1:11300'), { host: '127.0.0.1', port: 11300, protocol: null, tag: null, notls: false });
  });

  it('reads * as every interface', () => {
    assert.deepEqual(parseListenEntry('*'), { host: null, port: null, protocol: null, tag: null, notls: false });
    assert.deepEqual(parseListenEntry('*:11300'), { host: null, port: 11300, protocol: null, tag: null, notls: false });
  });

  it('reads IPv6 with and without brackets', () => {
    assert.deepEqual(parseListenEntry('::1'), { host: '::1', port: null, protocol: null, tag: null, notls: false });
    assert.deepEqual(parseListenEntry('[::1]'), { host: '::1', port: null, protocol: null, tag: null, notls: false });
    assert.deepEqual(parseListenEntry('[::1]:11300'), { host: '::1', port: 11300, protocol: null, tag: null, notls: false });
  });

  it('reads proto[] and tag[] prefixes', () => {
    assert.deepEqual(parseListenEntry('proto[ascii]:127.0.0.1:1'), { host: '127.0.0.1', port: 1, protocol: 'ascii', tag: null, notls: false });
    assert.deepEqual(parseListenEntry('proto[binary]:h'), { host: 'h', port: null, protocol: 'binary', tag: null, notls: false });
    assert.deepEqual(parseListenEntry('proto[negotiating]:h'), { host: 'h', port: null, protocol: 'auto', tag: null, notls: false });
    assert.deepEqual(parseListenEntry('tag[web]:h:5'), { host: 'h', port: 5, protocol: null, tag: 'web', notls: false });
    assert.deepEqual(parseListenEntry('notls:h:5'), { host: 'h', port: 5, protocol: null, tag: null, notls: true });
    assert.deepEqual(parseListenEntry('proto[ascii]:tag[a]:[::1]:7'), { host: '::1', port: 7, protocol: 'ascii', tag: 'a', notls: false });
  });

  it('throws on a malformed entry', () => {
    assert.throws(() => parseListenEntry('h:x'), { message: 'Invalid port number: "x"' });
    assert.throws(() => parseListenEntry('tag[]:h'), { message: 'Listener tags must be between 1 and 8 characters: ""' });
  });
});
