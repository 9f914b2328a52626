import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, parseListenEntry, type ParseResult, SUBOPTION_NAMES, USAGE_EXIT_CODE } from '../server/command-line';
import { type Config, MEGABYTE, defaultConfig } from '../server/config';

/** Files that command lines name (sockets, auth and memory files), made and removed here. */
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-cli-args-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
const AUTH_FILE = path.join(dir, 'auth');
fs.writeFileSync(AUTH_FILE, 'user:password\n');

/** Every command line given to parseArgs here, to be given to memcached as well (see the end). */
const commandLines = new Map<string, string[]>();

function parse(argv: string[]): ParseResult {
  commandLines.set(JSON.stringify(argv), argv);
  return parseArgs(argv);
}

function runResult(argv: string[]): Extract<ParseResult, { kind: 'run' }> {
  const result = parse(argv);
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
 * Asserts a refused command line: nothing on stdout and exactly `message` on stderr. The
 * exit status is memcached's, which the comparison at the end checks against memcached; an
 * unknown or incomplete option (its message starts with the program name) exits 2.
 */
function fails(argv: string[], message: string): void {
  const result = parse(argv);
  assert.equal(result.kind, 'exit', `expected ${JSON.stringify(argv)} to be refused`);
  if (result.kind !== 'exit') return;
  assert.notEqual(result.code, 0);
  if (message.startsWith('recordcache: ')) assert.equal(result.code, USAGE_EXIT_CODE);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, message + '\n');
}

/** A refusal of an option recordcache cannot honour: one line naming it, memcached's EXIT_FAILURE. */
function cannotHonour(argv: string[], option: string): void {
  const result = parse(argv);
  assert.equal(result.kind, 'exit', `expected ${JSON.stringify(argv)} to be refused`);
  if (result.kind !== 'exit') return;
  assert.equal(result.code, 1);
  assert.match(result.stderr, CANNOT_HONOUR);
  assert.ok(result.stderr.startsWith(option), result.stderr);
}

/** Suboptions recordcache refuses whatever their value (server/command-line/suboptions.ts says why for each). */
const REFUSED_SUBOPTIONS = [
  'no_maxconns_fast',
  'slab_automove_ratio',
  'slab_automove_window',
  'no_lru_crawler',
  'no_lru_maintainer',
  'hot_lru_pct',
  'warm_lru_pct',
  'hot_max_factor',
  'warm_max_factor',
  'temporary_ttl',
  'no_modern',
  'sock_cookie_id',
  'ssl_kernel_tls',
  'ext_path',
  'slab_automove_freeratio',
];

/** How recordcache words a refusal of an option it cannot honour (server/command-line/). */
const CANNOT_HONOUR = /^-[^\n]*: recordcache [^\n]*; remove [^\n]*\n$/;

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
      assert.equal(run('-D', '--records').prefixDelimiter, '-');
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
      assert.equal(run('--', '-p', '5').port, 11211);
    });

    it('ignores arguments that are not options, as getopt sets them aside for memcached', () => {
      assert.deepEqual(run('-l', '127.0.0.1', '11211').listen, ['127.0.0.1']);
      assert.deepEqual(run('-'), defaultConfig());
      // --verbose takes no separate value: the 2 is not an option.
      assert.equal(run('--verbose', '2').verbose, 1);
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
      const socketPath = path.join(dir, 'mc.sock');
      const config = run('-s', socketPath, '-a', '0755');
      assert.equal(config.socketPath, socketPath);
      assert.equal(config.socketMask, 0o755);
      assert.equal(run('--unix-mask=600').socketMask, 0o600);
      assert.equal(run('--unix-socket', path.join(dir, 'x')).socketPath, path.join(dir, 'x'));
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
      assert.equal(run('--conn-limit=2048').maxConns, 2048);
    });

    it('-t / --threads', () => {
      assert.equal(run('-t', '1').threads, 1);
      assert.equal(run('--threads=64').threads, 64);
    });

    it("-t above 64 runs with memcached's warning", () => {
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
      // memcached hands listen() any number; the kernel reads a negative one as its maximum.
      assert.equal(run('-b', '-1').backlog, -1);
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
      assert.equal(run('-Y', AUTH_FILE).authFile, AUTH_FILE);
      assert.equal(run(`--auth-file=${AUTH_FILE}`).authFile, AUTH_FILE);
    });

    it('-u / --user and -P / --pidfile are kept for the caller', () => {
      const pidFile = path.join(dir, 'mc.pid');
      const config = run('-u', 'nobody', '-P', pidFile);
      assert.equal(config.user, 'nobody');
      assert.equal(config.pidFile, pidFile);
      assert.equal(run('--user=nobody').user, 'nobody');
      assert.equal(run('--pidfile', pidFile).pidFile, pidFile);
    });

    it('-r asks for core files; -k -L -N -e, which cannot be honoured, are refused', () => {
      assert.equal(run('-r').coreDumps, true);
      assert.equal(run('--enable-coredumps').coreDumps, true);
      cannotHonour(['-k'], '-k');
      cannotHonour(['--lock-memory'], '-k');
      cannotHonour(['-L'], '-L');
      cannotHonour(['--enable-largepages'], '-L');
      cannotHonour(['-N', '2'], '-N');
      cannotHonour(['--napi-ids=4'], '-N');
      cannotHonour(['-e', path.join(dir, 'memory-file')], '-e');
    });

    it("refuses what it cannot honour only once memcached's own checks pass", () => {
      fails(['-k', '-c', '0'], 'Maximum connections must be greater than 0');
      fails(['-L', '-m', '1', '-I', '1m'], 'Cannot set item size limit higher than 1/2 of memory max.');
      fails(['-o', 'hot_lru_pct=50,warm_lru_pct=40'], 'hot_lru_pct + warm_lru_pct cannot be more than 80% combined');
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
    });

    it('multiplies the suffix in a 32-bit int as memcached does, so 4096m wraps to 0', () => {
      fails(['-m', '65536', '-I', '4096m'], 'Item max size cannot be less than 1024 bytes.');
      fails(['-m', '65536', '-I', '2048m'], 'Item max size cannot be less than 1024 bytes.');
    });

    it("refuses sizes below the default slab chunk (memcached's own rule)", () => {
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
    it('applies what it acts on and keeps every suboption verbatim', () => {
      const config = run('-o', 'idle_timeout=30,track_sizes,slab_chunk_max=262144,hash_algorithm=xxh3');
      assert.equal(config.idleTimeout, 30);
      assert.equal(config.trackSizes, true);
      assert.equal(config.slabChunkMax, 262144);
      assert.deepEqual(
        [...config.suboptions],
        [
          ['idle_timeout', '30'],
          ['track_sizes', ''],
          ['slab_chunk_max', '262144'],
          ['hash_algorithm', 'xxh3'],
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

    it('hashpower, no_hashexpand, slab_reassign and slab_automove set what stats report', () => {
      assert.equal(run().hashPowerInit, 0);
      assert.equal(run('-o', 'hashpower=20').hashPowerInit, 20);
      assert.equal(run('-o', 'hashpower=16x').hashPowerInit, 16);
      assert.equal(run().hashExpand, true);
      assert.equal(run('-o', 'no_hashexpand').hashExpand, false);
      assert.equal(run('-o', 'no_slab_reassign').slabReassign, false);
      assert.equal(run('-o', 'no_slab_reassign,slab_reassign').slabReassign, true);
      assert.equal(run().slabAutomove, 1);
      assert.equal(run('-o', 'slab_automove=0').slabAutomove, 0);
      assert.equal(run('-o', 'no_slab_automove,slab_automove').slabAutomove, 1);
      assert.equal(run('-o', 'slab_automove=1,no_slab_automove').slabAutomove, 0);
    });

    it('slab_sizes replaces the slab classes, and worker_logbuf_size falls into it as in memcached', () => {
      assert.equal(run().slabSizes, null);
      assert.deepEqual(run('-o', 'slab_sizes=100-200-300').slabSizes, [100, 200, 300]);
      assert.deepEqual(run('-o', 'worker_logbuf_size=128').slabSizes, [128]);
      fails(['-o', 'worker_logbuf_size=10'], 'slab size 10 is out of valid range');
    });

    it('reads out_limit_soft and out_limit_hard as bytes with an optional k, m or g', () => {
      const config = run('-o', 'out_limit_soft=64k,out_limit_hard=2g');
      assert.equal(config.outLimitSoft, 64 * 1024);
      assert.equal(config.outLimitHard, 2 * 1024 * MEGABYTE);
      assert.equal(run('-o', 'out_limit_soft=1000').outLimitSoft, 1000);
      assert.equal(run().outLimitSoft, null);
      fails(['-o', 'out_limit_soft'], 'Invalid value for out_limit_soft: "" (expected bytes, with an optional k, m or g suffix)');
      fails(['-o', 'out_limit_hard=1t'], 'Invalid value for out_limit_hard: "1t" (expected bytes, with an optional k, m or g suffix)');
      fails(['-o', 'out_limit_hard=-1'], 'Invalid value for out_limit_hard: "-1" (expected bytes, with an optional k, m or g suffix)');
    });

    it('reads input_mem_limit in bytes, 256m by default, 0 for none', () => {
      assert.equal(run().inputMemLimit, 256 * 1024 * 1024);
      assert.equal(run('-o', 'input_mem_limit=64m').inputMemLimit, 64 * 1024 * 1024);
      assert.equal(run('-o', 'input_mem_limit=0').inputMemLimit, 0);
    });

    it('reads records_min_size and records_min_hits', () => {
      const config = run('-o', 'records_min_size=64k,records_min_hits=2');
      assert.equal(config.recordsMinSize, 64 * 1024);
      assert.equal(config.recordsMinHits, 2);
      assert.equal(run('-o', 'records_min_hits=0').recordsMinHits, 0);
      assert.equal(run().recordsMinHits, 0, 'records are made when values are stored by default');
      fails(['-o', 'records_min_hits=-1'], 'records_min_hits must be 0 (when stored) or more');
      fails(
        ['-o', 'records_min_size=big'],
        'Invalid value for records_min_size: "big" (expected bytes, with an optional k, m or g suffix)',
      );
    });

    it('reads the HTTP listener suboptions, and refuses them without http_port or beside -s', () => {
      const config = run('-o', 'http_port=8080,http_writes,http_content_type=text/html; charset=utf-8,http_gzip_flag=2');
      assert.equal(config.httpPort, 8080);
      assert.equal(config.httpWrites, true);
      assert.equal(config.httpContentType, 'text/html; charset=utf-8');
      assert.equal(config.httpGzipFlag, 2);
      assert.equal(run().httpPort, 0, 'off by default');
      assert.equal(run().httpContentType, 'application/octet-stream');
      fails(['-o', 'http_port'], 'Missing http_port argument');
      fails(['-o', 'http_port=80x'], 'Invalid value for http_port: "80x" (expected a decimal number)');
      fails(['-o', 'http_port=65536'], 'http_port must be between 0 (off) and 65535');
      fails(
        ['-o', 'http_port=8080,http_content_type=html'],
        'Invalid value for http_content_type: "html" (expected a media type such as text/html)',
      );
      fails(['-o', 'http_writes'], '-o http_writes needs -o http_port=<port>');
      fails(['-o', 'http_gzip_flag=2'], '-o http_gzip_flag needs -o http_port=<port>');
      fails(['-o', 'http_port=11211'], "-o http_port=11211: the port is memcached's own (-p or -U); give HTTP a port of its own");
      fails(['-s', '/tmp/x.sock', '-o', 'http_port=8080'], '-o http_port listens on the -l addresses; -s turns TCP off');
    });

    it('accepts every suboption memcached 1.6.18 knows that it does not refuse', () => {
      const values: Record<string, string> = {
        hashpower: '16',
        out_limit_soft: '1m',
        out_limit_hard: '256m',
        records_min_size: '64k',
        records_min_hits: '2',
        input_mem_limit: '64m',
        http_port: '8080',
        http_content_type: 'text/plain',
        http_gzip_flag: '2',
        slab_automove: '0',
        tail_repair_time: '60',
        hash_algorithm: 'xxh3',
        lru_crawler_sleep: '50',
        lru_crawler_tocrawl: '100',
        idle_timeout: '10',
        watcher_logbuf_size: '512',
        worker_logbuf_size: '128',
        slab_sizes: '96-200-400',
        slab_chunk_max: '524288',
        read_buf_mem_limit: '0',
        ssl_chain_cert: '/c.pem',
        ssl_key: '/k.pem',
        ssl_verify_mode: '2',
        ssl_keyformat: '1',
        ssl_ciphers: 'HIGH',
        ssl_ca_cert: '/ca.pem',
        ssl_wbuf_size: '32',
        ssl_min_version: '3',
        ext_page_size: '32',
        ext_wbuf_size: '8',
        ext_threads: '2',
        ext_io_depth: '4',
        ext_item_size: '1024',
        ext_item_age: '60',
        ext_low_ttl: '10',
        ext_recache_rate: '100',
        ext_compact_under: '4',
        ext_drop_under: '4',
        ext_max_sleep: '100',
        ext_max_frag: '0.5',
      };
      // resp_obj_mem_limit prints memcached's notice; no_chunked_items changes slab_chunk_max.
      const alone = new Set(['resp_obj_mem_limit', 'no_chunked_items']);
      const names = SUBOPTION_NAMES.filter((name) => !REFUSED_SUBOPTIONS.includes(name) && !alone.has(name));
      const tokens = names.map((name) => (name in values ? `${name}=${values[name]}` : name));
      const result = runResult(['-o', tokens.join(',')]);
      for (const name of names) assert.equal(result.config.suboptions.get(name), values[name] ?? '', name);
      assert.equal(run('-o', 'no_chunked_items').slabChunkMax, MEGABYTE);
      assert.equal(
        runResult(['-o', 'resp_obj_mem_limit']).stderr,
        'DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,\n',
      );
      assert.ok(SUBOPTION_NAMES.length >= 60);
    });

    it('refuses, with one line, the suboptions it cannot honour', () => {
      const values: Record<string, string> = {
        slab_automove_ratio: '0.5',
        slab_automove_window: '10',
        hot_lru_pct: '20',
        warm_lru_pct: '40',
        hot_max_factor: '0.5',
        warm_max_factor: '1.5',
        temporary_ttl: '30',
        sock_cookie_id: '7',
        ext_path: `${path.join(dir, 'ext')}:64m`,
        slab_automove_freeratio: '0.02',
      };
      for (const name of REFUSED_SUBOPTIONS) {
        assert.ok(SUBOPTION_NAMES.includes(name), name);
        cannotHonour(['-o', name in values ? `${name}=${values[name]}` : name], `-o ${name}`);
      }
      cannotHonour(['-o', 'slab_automove=2'], '-o slab_automove=2');
      cannotHonour(['-o', 'read_buf_mem_limit=64'], '-o read_buf_mem_limit');
    });

    it("refuses an unknown suboption with memcached's message", () => {
      fails(['-o', 'foo'], 'Illegal suboption "foo"');
      fails(['-o', 'foo=1'], 'Illegal suboption "foo=1"');
      fails(['-o', 'idle_timeout=5,bogus'], 'Illegal suboption "bogus"');
      fails(['-o', ',idle_timeout=3'], 'Illegal suboption ""');
      fails(['-o', 'IDLE_TIMEOUT=3'], 'Illegal suboption "IDLE_TIMEOUT=3"');
      fails(['-o', 'proxy_config=/x.lua'], 'Illegal suboption "proxy_config=/x.lua"');
    });

    it("refuses missing values with memcached's messages", () => {
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

    it("refuses values out of memcached's ranges with its messages", () => {
      fails(['-o', 'hashpower=11'], 'Initial hashtable multiplier of 11 is too low');
      fails(
        ['-o', 'hashpower=33'],
        'Initial hashtable multiplier of 33 is too high\nChoose a value based on "STAT hash_power_level" from a running instance',
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
      fails(['-o', 'lru_crawler_tocrawl=12x'], 'lru_crawler_tocrawl takes a numeric 32bit value');
      fails(['-o', 'hot_lru_pct=0'], 'hot_lru_pct must be > 1 and < 80');
      fails(['-o', 'hot_lru_pct=80'], 'hot_lru_pct must be > 1 and < 80');
      fails(['-o', 'warm_lru_pct=80'], 'warm_lru_pct must be > 1 and < 80');
      fails(['-o', 'hot_max_factor=0'], 'hot_max_factor must be > 0');
      fails(['-o', 'hot_max_factor=big'], 'hot_max_factor must be > 0');
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

    it('reads unsigned values as strtoul does and keeps 32 bits of them', () => {
      assert.equal(run('-o', 'lru_crawler_tocrawl=4294967296').suboptions.get('lru_crawler_tocrawl'), '4294967296');
      run('-o', 'lru_crawler_tocrawl=+7');
      run('-o', 'lru_crawler_tocrawl= 7');
      fails(['-o', 'lru_crawler_tocrawl=18446744073709551616'], 'lru_crawler_tocrawl takes a numeric 32bit value');
      // A 64-bit slab_chunk_max keeps its low 32 bits: 4294967296 + 524288 is 524288.
      assert.equal(run('-o', 'slab_chunk_max=4295491584').slabChunkMax, 524288);
    });

    it('reads numbers memcached reads with atoi and atof the same way', () => {
      assert.equal(run('-o', 'idle_timeout=abc').idleTimeout, 0);
      // memcached never times a connection out for a negative value; stats show it as given.
      assert.equal(run('-o', 'idle_timeout=-5').idleTimeout, -5);
      assert.equal(run('-o', 'hashpower=16x').suboptions.get('hashpower'), '16x');
    });

    it('gives a message where memcached crashes', () => {
      fails(['-o', 'slab_chunk_max=abc'], 'could not parse argument to slab_chunk_max');
      fails(['-o', 'slab_chunk_max=0'], 'slab_chunk_max must be greater than 0');
    });

    it('checks slab_chunk_max against -I and the 1 MB slab page', () => {
      fails(['-o', 'slab_chunk_max=16384', '-I', '2k'], 'slab_chunk_max (bytes: 16384) cannot be larger than -I (item_size_max 2048)');
      fails(['-o', 'slab_chunk_max=1000'], '-I (item_size_max: 1048576) must be evenly divisible by slab_chunk_max (bytes: 1000)');
      fails(['-o', 'slab_chunk_max=3072', '-I', '3k'], 'slab_chunk_max (bytes: 3072) must divide evenly into 1048576 (slab_page_size)');
    });

    it("follows memcached's slab chunk adjustments for no_chunked_items, no_modern and large -I", () => {
      assert.equal(run('-o', 'no_chunked_items').slabChunkMax, MEGABYTE);
      // Items over 1 MB bring an unchanged chunk back to half a page.
      assert.equal(run('-o', 'no_chunked_items', '-I', '2m').slabChunkMax, 512 * 1024);
      // no_modern is refused, but memcached's checks of what it changes come first.
      fails(['-o', 'no_modern', '-I', '512k'], 'slab_chunk_max (bytes: 1048576) cannot be larger than -I (item_size_max 524288)');
      cannotHonour(['-o', 'slab_chunk_max=2048,no_modern', '-I', '512k'], '-o no_modern');
    });

    it('checks hot and warm LRU shares together before refusing them', () => {
      fails(['-o', 'hot_lru_pct=50,warm_lru_pct=40'], 'hot_lru_pct + warm_lru_pct cannot be more than 80% combined');
      fails(['-o', 'warm_lru_pct=70'], 'hot_lru_pct + warm_lru_pct cannot be more than 80% combined');
      cannotHonour(['-o', 'hot_lru_pct=40,warm_lru_pct=40'], '-o hot_lru_pct');
    });

    it('requires the LRU maintainer for temporary_ttl before refusing it', () => {
      fails(['-o', 'temporary_ttl=10,no_lru_maintainer'], 'temporary_ttl requires lru_maintainer to be enabled');
      fails(['-o', 'no_modern,temporary_ttl=10'], 'temporary_ttl requires lru_maintainer to be enabled');
      cannotHonour(['-o', 'no_lru_maintainer,lru_maintainer,temporary_ttl=10'], '-o no_lru_maintainer');
    });

    it('checks slab_sizes as memcached does', () => {
      // memcached exits 64 without a message for a list with no size in it.
      const empty = parse(['-o', 'slab_sizes=']);
      assert.deepEqual(empty, { kind: 'exit', code: 64, stdout: '', stderr: '' });
      fails(['-o', 'slab_sizes=10-200'], 'slab size 10 is out of valid range');
      fails(['-o', 'slab_sizes=100-x'], 'slab size 0 is out of valid range');
      fails(['-o', 'slab_sizes=100-600000'], 'slab size 600000 is out of valid range');
      fails(['-o', 'slab_sizes=200-100'], 'slab size 100 cannot be lower than or equal to a previous class size');
      fails(['-o', 'slab_sizes=100-104'], 'slab size 104 must be at least 8 bytes larger than previous class');
      const many = Array.from({ length: 63 }, (_, i) => 100 + i * 100).join('-');
      fails(['-o', `slab_sizes=${many}`], 'too many slab classes specified');
    });

    it('checks extstore settings as memcached does before refusing ext_path', () => {
      const ext = path.join(dir, 'ext');
      const failed = '\nfailed to parse ext_path argument';
      fails(['-o', 'ext_path='], failed.slice(1));
      fails(['-o', `ext_path=${ext}`], 'must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)' + failed);
      fails(['-o', `ext_path=${ext}:64m:compact`], 'ext_path only presently supports the default bucket' + failed);
      fails(['-o', `ext_path=${ext}:64m:bogus`], 'Unknown extstore bucket: bogus' + failed);
      fails(['-o', `ext_path=${ext}:64m,ext_page_size=8`], 'Must specify ext_page_size before any ext_path arguments');
      fails(['-o', `ext_path=${ext}:64m`, '-I', '5m'], '-I (item_size_max: 5242880) cannot be larger than ext_wbuf_size: 4194304');
      fails(['-o', `ext_path=${ext}:64m`, '-U', '11311'], 'Cannot use UDP with extstore enabled (-U 0 to disable)');
      cannotHonour(['-o', `ext_wbuf_size=8,ext_path=${ext}:64m:default`, '-I', '5m'], '-o ext_path');
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
      assert.equal(run('-Y', AUTH_FILE).protocol, 'ascii');
      assert.equal(run('-Y', AUTH_FILE, '-B', 'ascii').protocol, 'ascii');
      fails(['-Y', AUTH_FILE, '-B', 'binary'], 'ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.');
      fails(['-Y', AUTH_FILE, '-B', 'auto'], 'ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.');
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
      // atof, as memcached reads it: what is not a number is 0.
      fails(['-f', 'x'], 'Factor must be greater than 1');
      assert.equal(run('-f', '1.5x').factor, 1.5);
    });

    it('refuses counts memcached refuses, with its messages', () => {
      fails(['-c', '0'], 'Maximum connections must be greater than 0');
      fails(['-c', '-1'], 'Maximum connections must be greater than 0');
      fails(['-t', '0'], 'Number of threads must be greater than 0');
      fails(['-t', '-2'], 'Number of threads must be greater than 0');
      fails(['-R', '0'], 'Number of requests per event must be greater than 0');
      fails(['-n', '0'], 'Chunk size must be greater than 0');
      fails(['-N', '0'], 'Maximum number of NAPI IDs must be greater than 0');
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
        const result = parse([flag]);
        assert.equal(result.kind, 'run');
        if (result.kind === 'run') assert.equal(result.config.sslEnabled, true);
      }
      assert.equal(parse(['-l', 'notls:127.0.0.1:5', '-Z']).kind, 'run');
      assert.equal(parse(['-Z', '-l', 'notls:127.0.0.1:5']).kind, 'run');
      fails(['-Z', '-p', '0'], 'ERROR: You cannot enable SSL without a TCP port.');
    });

    it('refuses notls: without -Z as memcached does when it binds (exit 71)', () => {
      const result = parse(['-l', 'notls:127.0.0.1']);
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

    it('refuses malformed -l entries as memcached does when it binds (exit 71)', () => {
      const failed = (inter: string) => `failed to listen on one of interface(s) ${inter}: Success`;
      fails(['-l', '127.0.0.1:port'], `Invalid port number: "port"\n${failed('127.0.0.1:port')}`);
      fails(['-l', '127.0.0.1:70000'], `Invalid port number: "70000"\n${failed('127.0.0.1:70000')}`);
      fails(['-l', '127.0.0.1:'], `Invalid port number: ""\n${failed('127.0.0.1:')}`);
      // memcached ends this message without a newline.
      fails(['-l', '[::1:11211'], `Invalid IPV6 address: "[::1:11211"${failed('[::1:11211')}`);
      fails(['-l', 'proto[proxy]:127.0.0.1'], `Server not built with proxy: "proto[proxy"\n${failed('proto[proxy]:127.0.0.1')}`);
      fails(
        ['-l', 'tag[toolongname]:127.0.0.1'],
        `Listener tags must be between 1 and 8 characters: "toolongname"\n${failed('tag[toolongname]:127.0.0.1')}`,
      );
      fails(['-l', '127.0.0.1', '-l', '127.0.0.1:port'], `Invalid port number: "port"\n${failed('127.0.0.1,127.0.0.1:port')}`);
      // Nothing is bound with -s, or with neither a TCP nor a UDP port, so nothing is read.
      run('-l', '127.0.0.1:port', '-p', '0');
      run('-l', '127.0.0.1:port', '-s', path.join(dir, 'mc.sock'));
      // An unknown protocol name binds with the default protocol.
      assert.deepEqual(run('-l', 'proto[foo]:127.0.0.1').listen, ['proto[foo]:127.0.0.1']);
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

    it("refuses ambiguous long prefixes, listing the possibilities in memcached's order", () => {
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
  });

  describe('help, version and license', () => {
    function exits(argv: string[]): { stdout: string; stderr: string } {
      const result = parse(argv);
      assert.equal(result.kind, 'exit');
      if (result.kind !== 'exit') throw new Error('unreachable');
      assert.equal(result.code, 0);
      return result;
    }

    it("-h / --help prints usage in memcached's shape with defaults", () => {
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
          'I/O threads that read, frame and answer GET hits (native; default: 4)',
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
    assert.deepEqual(parseListenEntry('proto[ascii]:127.0.0.1:1'), {
      host: '127.0.0.1',
      port: 1,
      protocol: 'ascii',
      tag: null,
      notls: false,
    });
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

/*
 * Every command line above is also given to Debian's memcached 1.6.18, and the two must end
 * the same way: both start, or both exit with the same status and the same stderr lines.
 * memcached runs in a network namespace of its own, so the ports it binds are always free,
 * as root (PREFIX, given to both sides), with a SASL configuration so that -S can start.
 */
const MEMCACHED = '/usr/bin/memcached';
const PREFIX = ['-u', 'root'];
const SASL_CONF_DIR = path.join(dir, 'sasl');
fs.mkdirSync(SASL_CONF_DIR);
fs.writeFileSync(path.join(SASL_CONF_DIR, 'memcached.conf'), 'mech_list: plain\n');

type Outcome = { started: true } | { started: false; exit: number | string; stderr: string[] };

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

function recordcacheOutcome(argv: string[]): Outcome {
  const result = parseArgs([...PREFIX, ...argv]);
  if (result.kind === 'run') return { started: true };
  return { started: false, exit: result.code, stderr: lines(result.stderr) };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The main thread waits in epoll only once memcached has passed every check and bound. */
function waitingInEventLoop(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/wchan`, 'utf8') === 'do_epoll_wait';
  } catch {
    return false;
  }
}

/** Runs memcached with `argv` until it exits or settles in its event loop, then stops it. */
async function memcachedOutcome(argv: string[], index: number): Promise<Outcome> {
  const pidFile = path.join(dir, `memcached-${index}.pid`);
  // The namespace's loopback starts down; sh brings it up, then becomes memcached (same pid).
  const child = spawn('unshare', ['--net', 'sh', '-c', 'ip link set lo up; exec "$0" "$@"', MEMCACHED, ...PREFIX, '-P', pidFile, ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
    cwd: dir,
    env: { ...process.env, SASL_CONF_PATH: SASL_CONF_DIR },
  });
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString('utf8')));
  let exit: number | string | null = null;
  const closed = new Promise<void>((resolve) =>
    child.once('close', (code, signal) => {
      exit = code ?? signal ?? 'unknown';
      resolve();
    }),
  );
  // A generous bound on start-up, for a loaded machine: memcached refuses within milliseconds.
  for (let waited = 0; exit === null && waited < 30000; waited += 10) {
    if (waitingInEventLoop(child.pid!)) break;
    await sleep(10);
  }
  if (exit === null) {
    child.kill('SIGKILL');
    await closed;
    return { started: true };
  }
  // -d: the command exits 0 and the detached server writes the pid file once it runs.
  if (exit === 0 && (argv.includes('-d') || argv.includes('--daemon'))) {
    for (let waited = 0; !fs.existsSync(pidFile) && waited < 30000; waited += 10) await sleep(10);
    process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL');
    return { started: true };
  }
  return { started: false, exit, stderr: lines(stderr) };
}

/** Options and suboptions of recordcache's own, which memcached does not know. */
const OWN_OPTIONS =
  /^--rec|^--records|(^|,|=)(records_min_size|records_min_hits|input_mem_limit|out_limit_soft|out_limit_hard|http_port|http_writes|http_content_type|http_gzip_flag)\b/;

/**
 * Where recordcache ends a command line differently from memcached on purpose: what memcached
 * must do instead, and why. Keyed by the command line as JSON.
 */
const DEVIATIONS = new Map<string, { memcached: 'starts' | 'refuses' | 'crashes'; why: string }>();
function deviation(memcached: 'starts' | 'refuses' | 'crashes', why: string, ...argvs: string[][]): void {
  for (const argv of argvs) DEVIATIONS.set(JSON.stringify(argv), { memcached, why });
}
deviation(
  'starts',
  'an -a mask that is not octal is refused: memcached uses whatever strtol makes of it',
  ...['999', 'abc', '', '1000', '-1'].map((value) => ['-a', value]),
);
deviation(
  'crashes',
  'memcached dereferences or divides by a value it could not read',
  ['-o', 'slab_chunk_max'],
  ['-o', 'slab_chunk_max=abc'],
  ['-o', 'slab_chunk_max=0'],
  ['-o', 'slab_sizes'],
);
deviation('crashes', 'memcached reads past the end of a missing value', ['-o', 'sock_cookie_id']);
deviation(
  'refuses',
  'parseArgs binds nothing; recordcache fails to listen on these when it starts (exit 71)',
  ['-l', '-weird-host'],
  ['-l', '10.0.0.1', '-o', 'modern'],
  ['-l', '127.0.0.1,10.0.0.1'],
  ['-l', '127.0.0.1;10.0.0.1'],
  ['-l', 'a,,b,'],
);
deviation(
  'refuses',
  'parseArgs reads no certificate; server/tls.ts loads it at start and refuses as memcached does (conformance/tls.test.ts)',
  ['-Z'],
  ['--enable-ssl'],
  ['-Z', '-l', 'notls:127.0.0.1:5'],
  ['-l', 'notls:127.0.0.1:5', '-Z'],
);
deviation(
  'starts',
  'a port that is negative or above 65535 is refused; memcached binds it modulo 65536',
  ['-p', '-1'],
  ['-p', '11211', '-U', '70000'],
  ['-l', '127.0.0.1:70000'],
);
deviation(
  'refuses',
  'memcached sets its file limit to -c and cannot start its threads with so few; recordcache counts client connections only',
  ['-c', '1'],
  ['-c', '10.5'],
  ['--conn', '10'],
);

/** Whether recordcache's outcome, different from memcached's, is one it intends. */
function intended(argv: string[], ours: Outcome, theirs: Outcome): string | null {
  const key = JSON.stringify(argv);
  const listed = DEVIATIONS.get(key);
  if (listed !== undefined) {
    const memcached = theirs.started ? 'starts' : typeof theirs.exit === 'string' ? 'crashes' : 'refuses';
    return memcached === listed.memcached ? listed.why : null;
  }
  if (argv.some((arg) => OWN_OPTIONS.test(arg))) {
    return theirs.started ? null : "recordcache's own option, which memcached refuses";
  }
  if (ours.started || theirs.started) {
    // An option recordcache cannot honour is refused with one line; memcached starts.
    if (!ours.started && theirs.started && ours.stderr.length === 1 && CANNOT_HONOUR.test(ours.stderr[0] + '\n')) {
      return 'recordcache cannot honour it';
    }
    return null;
  }
  // An unknown or incomplete option: one line and exit 2, where memcached prints getopt's
  // line (with its path as the program name) then `Illegal argument "?"`, and exits 1.
  if (ours.exit === USAGE_EXIT_CODE && theirs.exit === 1 && ours.stderr.length === 1) {
    const getopt = ours.stderr[0].replace(/^recordcache: /, `${MEMCACHED}: `);
    if (JSON.stringify(theirs.stderr) === JSON.stringify([getopt, 'Illegal argument "?"'])) return 'getopt errors exit 2';
  }
  return null;
}

describe('the same command lines against Debian memcached 1.6.18', function () {
  this.timeout(600000);

  before(function () {
    // Without memcached, or without leave to make a network namespace, there is nothing to ask.
    if (!fs.existsSync(MEMCACHED) || spawnSync('unshare', ['--net', 'true']).status !== 0) this.skip();
  });

  it('end the same way, apart from the deviations listed', async () => {
    const argvs = [...commandLines.values()];
    assert.ok(argvs.length > 200, `only ${argvs.length} command lines were collected`);
    const mismatches: string[] = [];
    let next = 0;
    // Two at a time: the machine is shared.
    const worker = async (): Promise<void> => {
      while (next < argvs.length) {
        const index = next++;
        const argv = argvs[index];
        const ours = recordcacheOutcome(argv);
        const theirs = await memcachedOutcome(argv, index);
        if (JSON.stringify(ours) === JSON.stringify(theirs)) {
          if (DEVIATIONS.has(JSON.stringify(argv))) mismatches.push(`${JSON.stringify(argv)}: listed as a deviation but ends the same`);
          continue;
        }
        if (intended(argv, ours, theirs) === null) {
          mismatches.push(`${JSON.stringify(argv)}: recordcache ${JSON.stringify(ours)}, memcached ${JSON.stringify(theirs)}`);
        }
      }
    };
    await Promise.all([worker(), worker()]);
    assert.deepEqual(mismatches.sort(), []);
  });
});
