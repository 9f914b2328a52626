// Command-line options that change what a client sees: -B ascii (no binary
// protocol negotiation), -vv (logging must not change replies), -o
// idle_timeout (idle connections are closed), many flags at once as stats
// settings, stats, slab classes and prefix stats show them, and -o slab_sizes.
import { usePair } from './lib/servers';
import { defineCases, step } from './lib/cases';
import { renderStats, SETTINGS_NOT_COMPARED } from './lib/stats';

describe('options: -B ascii', function () {
  const pair = usePair(['-B', 'ascii']);
  defineCases(pair, [
    {
      name: 'a first byte of 0x80 is text, not a binary request',
      steps: [step(Buffer.from([0x80, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x0d, 0x0a]), 1), step('version\r\n')],
    },
    {
      name: 'stats settings shows the protocol',
      steps: [
        { send: ['stats settings\r\n'], render: (reply) => /STAT binding_protocol \S+/.exec(reply.toString('latin1'))?.[0] ?? 'missing' },
      ],
    },
  ]);
});

describe('options: -vv', function () {
  const pair = usePair(['-vv']);
  const key = 'v'.repeat(250);
  defineCases(pair, [
    {
      name: 'replies are unchanged while every command is logged',
      steps: [
        step(`set ${key} 0 0 3\r\nabc\r\nget ${key} missing\r\ndelete ${key}\r\ndelete ${key}\r\nincr ${key} 1\r\ntouch ${key} 1\r\n`, 6),
        step(`get ${key}x\r\nbogus\r\nset ${key}x 0 0 1\r\na\r\n`, 4),
      ],
    },
  ]);
});

describe('options: -o idle_timeout=1', function () {
  const pair = usePair(['-o', 'idle_timeout=1']);
  defineCases(pair, [
    {
      name: 'idle connections are closed, new ones still accepted',
      steps: [
        step('version\r\n'),
        // memcached checks idle connections about once a second.
        { send: [], expect: 'close', timeoutMs: 5000 },
        step('version\r\n', 1, { conn: 1 }),
      ],
    },
  ]);
});

describe('options: many flags at once, as stats settings and slab classes show them', function () {
  const pair = usePair([
    ...['-f', '1.5', '-n', '64', '-R', '10', '-b', '512', '-c', '500', '-m', '128', '-I', '2m', '-D', '/', '-C', '-M'],
    '-o',
    // Every suboption recordcache accepts but the slab class lists (below); the ones it
    // refuses are in test/cli-args.test.ts.
    [
      'hashpower=20',
      'tail_repair_time=10',
      'lru_crawler_sleep=200',
      'lru_crawler_tocrawl=50',
      'read_buf_mem_limit=0',
      'slab_chunk_max=262144',
      'track_sizes',
      'no_hashexpand',
      'no_slab_reassign',
      'no_slab_automove',
      'hash_algorithm=jenkins',
      'modern',
      'no_inline_ascii_resp',
      'no_drop_privileges',
      'ssl_wbuf_size=32',
      'ext_item_size=1024',
      'ext_item_age=60',
      'ext_low_ttl=5',
      'ext_recache_rate=100',
      'ext_wbuf_size=8',
      'ext_compact_under=2',
      'ext_drop_under=3',
      'ext_max_sleep=500',
      'ext_max_frag=0.5',
      'ext_drop_unread',
    ].join(','),
  ]);
  defineCases(pair, [
    {
      name: 'stats settings',
      steps: [{ send: ['stats settings\r\n'], render: (reply) => renderStats(reply, (name) => !SETTINGS_NOT_COMPARED.has(name)) }],
    },
    {
      name: 'stats shows the hash table hashpower made and no slab mover counters',
      steps: [{ send: ['stats\r\n'], render: (reply) => renderStats(reply, (name) => /^(hash_|slab_reassign|slabs_moved)/.test(name)) }],
    },
    {
      name: 'items land in the slab classes -f and -n make',
      steps: [
        step(
          [
            'set sc1 0 0 10\r\n0123456789\r\n',
            `set sc2 0 0 1000\r\n${'k'.repeat(1000)}\r\n`,
            `set sc3 0 0 300000\r\n${'k'.repeat(300000)}\r\n`,
          ].join(''),
          3,
        ),
        {
          send: ['stats slabs\r\n'],
          render: (reply) => renderStats(reply, (name) => /^\d+:(chunk_size|cmd_set)$/.test(name) || name === 'active_slabs'),
        },
        { send: ['stats items\r\n'], render: (reply) => renderStats(reply, (name) => /^items:\d+:number$/.test(name)) },
        step('stats sizes\r\n'),
      ],
    },
    {
      name: 'stats detail prefixes use the -D delimiter',
      steps: [step('set pa/b 0 0 1\r\na\r\nget pa/b pa/c\r\nstats detail dump\r\n', 3)],
    },
    { name: 'gets shows CAS 0 under -C', steps: [step('set cz 0 0 1\r\na\r\ngets cz\r\n', 2)] },
  ]);
});

describe('options: -o slab_sizes, and worker_logbuf_size falling into it', function () {
  for (const sizes of ['slab_sizes=100-200-400', 'worker_logbuf_size=128']) {
    describe(sizes, function () {
      const pair = usePair(['-o', sizes]);
      defineCases(pair, [
        {
          name: 'items land in the classes listed',
          steps: [
            step(
              [
                'set s1 0 0 10\r\n0123456789\r\n',
                `set s2 0 0 120\r\n${'k'.repeat(120)}\r\n`,
                `set s3 0 0 1000\r\n${'k'.repeat(1000)}\r\n`,
              ].join(''),
              3,
            ),
            {
              send: ['stats slabs\r\n'],
              render: (reply) =>
                renderStats(reply, (name) => /^\d+:(chunk_size|chunks_per_page|cmd_set)$/.test(name) || name === 'active_slabs'),
            },
          ],
        },
      ]);
    });
  }
});
