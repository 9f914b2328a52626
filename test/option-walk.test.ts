/*
 * Every option `recordcache -h` lists either changes what a client or `stats` shows, or is
 * refused at start: none is accepted and ignored. The walk reads the options from the help
 * text, so an option added there without an entry here fails the walk. Every -o suboption
 * is walked the same way, or named as inert (memcached's clients see no difference either).
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RECORDCACHE_CLI, freePort, startExpectingFailure, startServer, type ServerProcess } from '../conformance/lib/servers';
import { connect, request } from './helpers/client';
import { SUBOPTION_NAMES } from '../server/command-line';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-walk-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function ask(server: ServerProcess, bytes: string, terminator = '\r\n'): Promise<string> {
  const socket = await connect(server.port);
  try {
    return await request(socket, bytes, terminator);
  } finally {
    socket.destroy();
  }
}

async function setting(server: ServerProcess, name: string): Promise<string> {
  const reply = await ask(server, 'stats settings\r\n', 'END\r\n');
  const match = new RegExp(`^STAT ${name} (.*)\\r$`, 'm').exec(reply);
  return match === null ? 'missing' : match[1];
}

/** Starts recordcache with `flags`, runs `check`, stops it. */
async function observe(flags: string[], check: (server: ServerProcess) => Promise<void>): Promise<void> {
  const server = await startServer('recordcache', flags);
  try {
    assert.equal(server.hasExited(), false, `recordcache ${flags.join(' ')} exited:\n${server.output()}`);
    await check(server);
  } finally {
    await server.stop();
  }
}

/** The setting differs from the default and shows the option's value. */
const shows = (flags: string[], name: string, expected: string) => () =>
  observe(flags, async (server) => assert.equal(await setting(server, name), expected));

const refused = (flags: string[]) => async () => {
  const result = await startExpectingFailure('recordcache', flags);
  assert.notEqual(result.exit, 'still running', `${flags.join(' ')} was accepted`);
  assert.notEqual(result.exit, 0);
  assert.match(result.stderr, /\S/, 'says why');
};

/** One `stats` value, or 'missing'. */
async function stat(server: ServerProcess, command: string, name: string): Promise<string> {
  const reply = await ask(server, `${command}\r\n`, 'END\r\n');
  const match = new RegExp(`^STAT ${name} (.*)\\r$`, 'm').exec(reply);
  return match === null ? 'missing' : match[1];
}

/** The chunk size of the class a small item lands in, as `stats slabs` shows it. */
const firstClass = (flags: string[], expected: string) => () =>
  observe(flags, async (server) => {
    assert.equal(await ask(server, 'set s 0 0 1\r\na\r\n'), 'STORED\r\n');
    assert.equal(await stat(server, 'stats slabs', '1:chunk_size'), expected);
  });

const WALK: Record<string, () => Promise<void>> = {
  '-p': () => observe([], async (server) => assert.equal(await setting(server, 'tcpport'), String(server.port))),
  '-U': async () => {
    const udp = await freePort();
    await shows(['-U', String(udp)], 'udpport', String(udp))();
  },
  '-s': async () => {
    const socketPath = path.join(dir, 'walk.sock');
    const started = spawnSync(
      'bash',
      [
        '-c',
        `node ${RECORDCACHE_CLI} -s ${socketPath} & pid=$!; for i in $(seq 100); do [ -S ${socketPath} ] && break; sleep 0.1; done; ls -l ${socketPath}; kill $pid`,
      ],
      { encoding: 'utf8' },
    );
    assert.match(started.stdout, /^s/, 'a unix socket is made');
  },
  '-a': async () => {
    const socketPath = path.join(dir, 'walk-mask.sock');
    const started = spawnSync(
      'bash',
      [
        '-c',
        `node ${RECORDCACHE_CLI} -s ${socketPath} -a 777 & pid=$!; for i in $(seq 100); do [ -S ${socketPath} ] && break; sleep 0.1; done; stat -c %a ${socketPath}; kill $pid`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(started.stdout.trim(), '777');
  },
  '-A': () =>
    observe(['-A'], async (server) => {
      const socket = await connect(server.port);
      socket.write('shutdown\r\n');
      assert.equal(await server.exited, 0);
      socket.destroy();
    }),
  '-l': () => observe([], async (server) => assert.match(await ask(server, 'version\r\n'), /^VERSION/)),
  '-d': async () => {
    const port = await freePort();
    const pidFile = path.join(dir, 'walk-d.pid');
    const started = spawnSync(process.execPath, [RECORDCACHE_CLI, '-d', '-p', String(port), '-l', '127.0.0.1', '-P', pidFile], {
      encoding: 'utf8',
      timeout: 20000,
    });
    assert.equal(started.status, 0, started.stderr);
    process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGTERM');
  },
  '-r': () =>
    observe(['-r'], async (server) => {
      const limits = fs.readFileSync(`/proc/${server.child.pid}/limits`, 'utf8');
      assert.match(limits, /^Max core file size\s+unlimited/m);
    }),
  '-u': () =>
    observe(['-u', 'nobody'], async (server) => {
      if (process.getuid?.() !== 0) return void assert.equal(await setting(server, 'tcpport'), String(server.port));
      const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
      // The server changes user just after it starts listening, as the test connects.
      let uid = -1;
      for (let i = 0; i < 100 && uid !== nobody; i++) {
        uid = Number(/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]);
        if (uid !== nobody) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(uid, nobody);
    }),
  // -S forces the binary protocol: once a whole 24-byte header is in, a text request is a
  // bad magic byte, and the server closes.
  '-S': () =>
    observe(['-S'], async (server) => {
      const socket = await connect(server.port);
      const closed = new Promise((resolve) => socket.once('close', resolve));
      socket.write('get a-key-long-enough-for-a-header\r\n');
      await closed;
    }),
  '-m': shows(['-m', '128'], 'maxbytes', String(128 * 1024 * 1024)),
  '-M': shows(['-M'], 'evictions', 'off'),
  '-c': shows(['-c', '77'], 'maxconns', '77'),
  '-k': refused(['-k']),
  '-v': shows(['-v'], 'verbosity', '1'),
  '-vv': shows(['-vv'], 'verbosity', '2'),
  '-vvv': shows(['-vvv'], 'verbosity', '3'),
  '-h': async () => assert.match(spawnSync(process.execPath, [RECORDCACHE_CLI, '-h'], { encoding: 'utf8' }).stdout, /--port/),
  '-i': async () => assert.match(spawnSync(process.execPath, [RECORDCACHE_CLI, '-i'], { encoding: 'utf8' }).stdout, /License/),
  '-V': async () => assert.match(spawnSync(process.execPath, [RECORDCACHE_CLI, '-V'], { encoding: 'utf8' }).stdout, /^recordcache /),
  '-P': async () => {
    const pidFile = path.join(dir, 'walk.pid');
    await observe(['-P', pidFile], async (server) => {
      // The server writes the file once it listens, as the walk connects.
      for (let i = 0; i < 100 && !fs.existsSync(pidFile); i++) await new Promise((resolve) => setTimeout(resolve, 50));
      assert.equal(fs.readFileSync(pidFile, 'utf8').trim(), String(server.child.pid));
    });
  },
  '-f': shows(['-f', '2'], 'growth_factor', '2.00'),
  '-n': shows(['-n', '96'], 'chunk_size', '96'),
  '-L': refused(['-L']),
  '-D': shows(['-D', '#'], 'detail_enabled', 'yes'),
  // -t is checked as memcached checks it and runs that many I/O threads (native).
  '-t': async () => {
    await refused(['-t', '0'])();
    await shows(['-t', '8'], 'num_threads', '8')();
  },
  '-R': shows(['-R', '7'], 'reqs_per_event', '7'),
  '-C': shows(['-C'], 'cas_enabled', 'no'),
  '-b': shows(['-b', '99'], 'tcp_backlog', '99'),
  '-B': shows(['-B', 'ascii'], 'binding_protocol', 'ascii'),
  '-I': shows(['-I', '2m'], 'item_size_max', String(2 * 1024 * 1024)),
  '-F': () => observe(['-F'], async (server) => assert.equal(await ask(server, 'flush_all\r\n'), 'CLIENT_ERROR flush_all not allowed\r\n')),
  '-X': () =>
    observe(['-X'], async (server) =>
      assert.equal(await ask(server, 'stats cachedump 1 1\r\n'), 'CLIENT_ERROR stats cachedump not allowed\r\n'),
    ),
  '-W': () =>
    observe(['-W'], async (server) => assert.equal(await ask(server, 'watch\r\n'), 'CLIENT_ERROR watch commands not allowed\r\n')),
  '-Y': async () => {
    const file = path.join(dir, 'walk-auth');
    fs.writeFileSync(file, 'u:p\n');
    await observe(['-Y', file], async (server) => assert.equal(await ask(server, 'get a\r\n'), 'CLIENT_ERROR unauthenticated\r\n'));
  },
  '-e': refused(['-e', path.join(dir, 'memory-file')]),
  // With a certificate and key, conformance/tls.test.ts speaks TLS to it; without, it is refused.
  '-Z': refused(['-Z']),
  '-N': refused(['-N', '1']),
  '-o': shows(['-o', 'idle_timeout=9'], 'idle_timeout', '9'),
  '--records': shows(['--records=js'], 'records_backend', 'js'),
};

/** Options -h lists that the walk leaves out until they are fixed (README "Known gaps"). */
const KNOWN_GAPS: string[] = [];
for (const option of KNOWN_GAPS) delete WALK[option];

/** A client that asks for 20 MB in one request and reads nothing is cut off. */
async function closesUnreadClient(server: ServerProcess): Promise<void> {
  const socket = await connect(server.port);
  assert.equal(await request(socket, `set big 0 0 102400\r\n${'x'.repeat(102400)}\r\n`), 'STORED\r\n');
  socket.pause();
  const closed = new Promise((resolve) => {
    socket.once('close', resolve);
    socket.once('error', resolve);
  });
  socket.write(`get${' big'.repeat(200)}\r\n`);
  await closed;
  socket.destroy();
}

/** fetch, once the HTTP listener (which opens just after the memcached port) accepts. */
async function fetchWhenListening(url: string, init?: RequestInit): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fetch(url, init);
    } catch (error) {
      if (attempt >= 100) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

const SUBOPTION_WALK: Record<string, () => Promise<void>> = {
  idle_timeout: () =>
    observe(['-o', 'idle_timeout=1'], async (server) => {
      const socket = await connect(server.port);
      await new Promise((resolve) => socket.once('close', resolve));
    }),
  track_sizes: () =>
    observe(['-o', 'track_sizes'], async (server) => {
      assert.equal(await ask(server, 'set s 0 0 1\r\na\r\n'), 'STORED\r\n');
      const sizes = await ask(server, 'stats sizes\r\n', 'END\r\n');
      assert.doesNotMatch(sizes, /sizes_status disabled/);
      assert.match(sizes, /^STAT \d+ 1\r$/m);
    }),
  // A 20 KB item is chunked into the largest class, which slab_chunk_max sizes.
  slab_chunk_max: () =>
    observe(['-o', 'slab_chunk_max=16384'], async (server) => {
      assert.equal(await ask(server, `set big 0 0 20000\r\n${'x'.repeat(20000)}\r\n`), 'STORED\r\n');
      assert.match(await ask(server, 'stats slabs\r\n', 'END\r\n'), /:chunk_size 16384\r/);
    }),
  slab_sizes: firstClass(['-o', 'slab_sizes=100-200'], '104'),
  // memcached 1.6.18's case for worker_logbuf_size falls into slab_sizes.
  worker_logbuf_size: firstClass(['-o', 'worker_logbuf_size=128'], '128'),
  // A 600 KB item is one chunk of the 1 MB class instead of 512 KB chunks.
  no_chunked_items: () =>
    observe(['-o', 'no_chunked_items'], async (server) => {
      assert.equal(await ask(server, `set big 0 0 600000\r\n${'x'.repeat(600000)}\r\n`), 'STORED\r\n');
      const slabs = await ask(server, 'stats slabs\r\n', 'END\r\n');
      assert.match(slabs, /:used_chunks 1\r/);
      assert.doesNotMatch(slabs, /:chunk_size 524288\r/);
    }),
  hashpower: () => observe(['-o', 'hashpower=12'], async (server) => assert.equal(await stat(server, 'stats', 'hash_power_level'), '12')),
  // 6,145 items pass 1.5 a bucket at hashpower 12: the table grows on the next tick, unless
  // no_hashexpand. The one that may grow is asked last, so both have had that tick.
  no_hashexpand: async () => {
    const fill = Array.from({ length: 6145 }, (_, i) => `set k${i} 0 0 1 noreply\r\na\r\n`).join('');
    const fixed = await startServer('recordcache', ['-o', 'hashpower=12,no_hashexpand']);
    const growing = await startServer('recordcache', ['-o', 'hashpower=12']);
    try {
      for (const server of [fixed, growing]) assert.match(await ask(server, `${fill}version\r\n`), /^VERSION/);
      let level = '12';
      while (level === '12') level = await stat(growing, 'stats', 'hash_power_level');
      assert.equal(level, '13');
      assert.equal(await stat(fixed, 'stats', 'hash_power_level'), '12');
    } finally {
      await Promise.all([fixed.stop(), growing.stop()]);
    }
  },
  no_slab_reassign: () =>
    observe(['-o', 'no_slab_reassign'], async (server) => assert.equal(await stat(server, 'stats', 'slabs_moved'), 'missing')),
  slab_reassign: () =>
    observe(['-o', 'no_slab_reassign,slab_reassign'], async (server) => assert.equal(await stat(server, 'stats', 'slabs_moved'), '0')),
  slab_automove: async () => {
    await shows(['-o', 'slab_automove=0'], 'slab_automove', '0')();
    await refused(['-o', 'slab_automove=2'])();
  },
  no_slab_automove: shows(['-o', 'no_slab_automove'], 'slab_automove', '0'),
  read_buf_mem_limit: refused(['-o', 'read_buf_mem_limit=64']),
  // The js backend cannot honour them and refuses them; the native one stops reading a
  // client past the soft limit and cuts it off past the hard one.
  out_limit_hard: async () => {
    if (process.env.RC_RECORDS === 'js') return refused(['-o', 'out_limit_hard=1m'])();
    await observe(['-o', 'out_limit_hard=1m'], closesUnreadClient);
  },
  out_limit_soft: async () => {
    if (process.env.RC_RECORDS === 'js') return refused(['-o', 'out_limit_soft=16k'])();
    // Alone it only stops reading, which a client cannot tell from a slow server without a clock.
    await observe(['-o', 'out_limit_soft=16k,out_limit_hard=1m'], closesUnreadClient);
  },
  records_min_size: shows(['-o', 'records_min_size=1k'], 'records_min_size', '1024'),
  records_min_hits: shows(['-o', 'records_min_hits=3'], 'records_min_hits', '3'),
  input_mem_limit: shows(['-o', 'input_mem_limit=1m'], 'input_mem_limit', '1048576'),
  watcher_logbuf_size: shows(['-o', 'watcher_logbuf_size=512'], 'watcher_logbuf_size', '524288'),
  // The HTTP listener answers on its port; with http_writes, PUT stores instead of 405.
  http_port: async () => {
    const port = await freePort();
    await observe(['-o', `http_port=${port}`], async () => {
      assert.equal((await fetchWhenListening(`http://127.0.0.1:${port}/walked`)).status, 404);
      assert.equal((await fetch(`http://127.0.0.1:${port}/walked`, { method: 'PUT', body: 'x' })).status, 405);
    });
  },
  http_writes: async () => {
    const port = await freePort();
    await observe(['-o', `http_port=${port},http_writes`], async () => {
      assert.equal((await fetchWhenListening(`http://127.0.0.1:${port}/walked`, { method: 'PUT', body: 'x' })).status, 201);
    });
  },
  http_content_type: async () =>
    shows(['-o', `http_port=${await freePort()},http_content_type=text/html`], 'http_content_type', 'text/html')(),
  http_gzip_flag: async () => shows(['-o', `http_port=${await freePort()},http_gzip_flag=4`], 'http_gzip_flag', '4')(),
};
for (const name of [
  'no_maxconns_fast',
  'slab_automove_ratio=0.5',
  'slab_automove_window=10',
  'no_lru_crawler',
  'no_lru_maintainer',
  'hot_lru_pct=20',
  'warm_lru_pct=40',
  'hot_max_factor=0.5',
  'warm_max_factor=1.5',
  'temporary_ttl=30',
  'no_modern',
  'sock_cookie_id=7',
  'ssl_kernel_tls',
  `ext_path=${path.join(dir, 'ext')}:64m`,
  'slab_automove_freeratio=0.02',
]) {
  SUBOPTION_WALK[name.split('=')[0]] = refused(['-o', name]);
}

/**
 * Accepted and inert: memcached 1.6.18's clients see no difference either (server/command-line/suboptions.ts
 * gives each reason), or their effect is walked elsewhere (the ssl_* ones in
 * conformance/tls.test.ts). They must still start.
 */
const INERT_SUBOPTIONS: Record<string, string> = {
  maxconns_fast: '',
  tail_repair_time: '=60',
  hash_algorithm: '=jenkins',
  lru_crawler: '',
  lru_crawler_sleep: '=50',
  lru_crawler_tocrawl: '=10',
  lru_maintainer: '',
  inline_ascii_resp: '',
  no_inline_ascii_resp: '',
  modern: '',
  drop_privileges: '',
  no_drop_privileges: '',
  resp_obj_mem_limit: '',
  ssl_chain_cert: '=/c.pem',
  ssl_key: '=/k.pem',
  ssl_verify_mode: '=1',
  ssl_keyformat: '=1',
  ssl_ciphers: '=HIGH',
  ssl_ca_cert: '=/ca.pem',
  ssl_wbuf_size: '=32',
  ssl_session_cache: '',
  ssl_min_version: '=2',
  ext_page_size: '=32',
  ext_wbuf_size: '=8',
  ext_threads: '=2',
  ext_io_depth: '=2',
  ext_item_size: '=1024',
  ext_item_age: '=60',
  ext_low_ttl: '=5',
  ext_recache_rate: '=100',
  ext_compact_under: '=2',
  ext_drop_under: '=2',
  ext_max_sleep: '=100',
  ext_max_frag: '=0.5',
  ext_drop_unread: '',
};

function listedOptions(): string[] {
  const help = spawnSync(process.execPath, [RECORDCACHE_CLI, '-h'], { encoding: 'utf8' }).stdout;
  const options: string[] = [];
  for (const line of help.split('\n')) {
    const match = /^(-\w+|--records)\b/.exec(line);
    if (match !== null) options.push(match[1]);
  }
  return options;
}

describe('every option -h lists changes behaviour or is refused', function () {
  this.timeout(60000);
  const options = listedOptions();

  it('the help lists the options the walk knows, and no others', () => {
    assert.ok(options.length > 30, `only ${options.length} options found in -h`);
    assert.deepEqual(
      options.filter((option) => !(option in WALK) && !KNOWN_GAPS.includes(option)),
      [],
    );
  });

  for (const option of Object.keys(WALK)) {
    it(option, async function () {
      assert.ok(options.includes(option), `${option} is walked but not in -h`);
      await WALK[option]();
    });
  }
});

describe('every -o suboption changes behaviour, is refused, or is inert as in memcached', function () {
  this.timeout(60000);

  it('the walk knows every suboption', () => {
    assert.deepEqual(
      SUBOPTION_NAMES.filter((name) => !(name in SUBOPTION_WALK) && !(name in INERT_SUBOPTIONS)),
      [],
    );
  });

  for (const name of Object.keys(SUBOPTION_WALK)) {
    it(`-o ${name}`, async () => {
      assert.ok(SUBOPTION_NAMES.includes(name), `${name} is walked but not a suboption`);
      await SUBOPTION_WALK[name]();
    });
  }

  it('the inert ones start', async () => {
    const list = Object.entries(INERT_SUBOPTIONS)
      .map(([name, value]) => name + value)
      .join(',');
    await observe(['-o', list], async (server) => assert.equal(await setting(server, 'hash_algorithm'), 'jenkins'));
  });
});
