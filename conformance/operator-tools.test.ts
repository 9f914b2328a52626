// memcached's operator tools against both servers: `lru_crawler` (metadump, crawl
// and its settings, with memcached's replies to bad arguments) and Debian's
// memcached-tool (display, stats, settings, dump, keys), whose output is
// compared after the normalisations lib/operator-tools.ts lists.
//
// memcached runs with -o no_lru_maintainer where crawls are compared: its LRU
// maintainer starts background crawls of its own, during which a client's crawl
// or metadump is answered BUSY at moments no test can choose. recordcache has no
// such thread (and refuses the option); nothing else a client sees changes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import { promisify } from 'node:util';
import { usePair, type ServerPair, type ServerProcess } from './lib/servers';
import { defineCases, step } from './lib/cases';
import { renderMetadump, renderToolDisplay, renderToolDump, renderToolTable } from './lib/operator-tools';
import { SETTINGS_NOT_COMPARED, TRAFFIC_STATS } from './lib/stats';
import { WireConnection } from './lib/wire';
import { replies } from './lib/replies';

const run = promisify(execFile);
const MEMCACHED_TOOL = '/usr/share/memcached/scripts/memcached-tool';
const QUIET_CRAWLER = { memcachedOnly: ['-o', 'no_lru_maintainer'] };

const metadump = (sorted: boolean) => (reply: Buffer) => renderMetadump(reply, sorted);

describe('lru_crawler: replies to its subcommands and to bad arguments', function () {
  const pair = usePair([], QUIET_CRAWLER);
  defineCases(pair, [
    {
      name: 'bad class ids are BADCLASS, for metadump and crawl',
      steps: [
        step('lru_crawler metadump 0\r\n'),
        step('lru_crawler metadump 64\r\n'),
        step('lru_crawler metadump abc\r\n'),
        step('lru_crawler metadump -1\r\n'),
        step('lru_crawler metadump 1,abc\r\n'),
        step('lru_crawler crawl 0\r\n'),
        step('lru_crawler crawl 1,64\r\n'),
        step('lru_crawler crawl x\r\n'),
      ],
    },
    {
      name: 'crawl takes all and class lists, not hash; an empty list starts nothing',
      // memcached crawls in the background and answers BUSY until it is done: a pause each.
      steps: [
        step('lru_crawler crawl all\r\n'),
        step('lru_crawler crawl 1\r\n', 1, { pauseMs: 500 }),
        step('lru_crawler crawl 1,2,63\r\n', 1, { pauseMs: 500 }),
        step('lru_crawler crawl hash\r\n', 1, { pauseMs: 500 }),
        step('lru_crawler crawl ,\r\n'),
      ],
    },
    {
      name: 'unknown subcommands and wrong token counts are ERROR',
      steps: [
        step('lru_crawler\r\n'),
        step('lru_crawler bogus\r\n'),
        step('lru_crawler bogus x\r\n'),
        step('lru_crawler crawl\r\n'),
        step('lru_crawler metadump all extra\r\n'),
        step('lru_crawler metadump 1 noreply\r\n'),
        step('lru_crawler crawl 1 noreply\r\n'),
        // mgdump arrived after 1.6.18.
        step('lru_crawler mgdump all\r\n'),
        step('lru_crawler enable now\r\n'),
      ],
    },
    {
      name: 'sleep and tocrawl check their numbers and show in stats settings',
      steps: [
        step('lru_crawler sleep 50\r\n'),
        step('lru_crawler sleep 1000001\r\n'),
        step('lru_crawler sleep 1000000\r\n'),
        step('lru_crawler sleep x\r\n'),
        step('lru_crawler sleep -1\r\n'),
        step('lru_crawler tocrawl 10\r\n'),
        step('lru_crawler tocrawl -1\r\n'),
        step('lru_crawler tocrawl x\r\n'),
        { send: ['stats settings\r\n'], render: (reply) => (reply.toString('latin1').match(/STAT lru_crawler\S* \S+/g) ?? []).join('\n') },
        // Back to the default: memcached would sleep a second between items of later crawls.
        step('lru_crawler sleep 100\r\nlru_crawler tocrawl 0\r\n', 2),
      ],
    },
    {
      // (memcached leaves a command sent behind a metadump in the same packet unread until
      // more bytes arrive; recordcache answers it at once. Not compared.)
      name: 'a metadump behind other commands of the same read is refused',
      steps: [
        step('set pd 0 0 1\r\na\r\nlru_crawler metadump all\r\n', 2),
        step('set pd2 0 0 1 noreply\r\nb\r\nlru_crawler metadump all\r\n'),
        step('version\r\nlru_crawler metadump 1\r\n', 2),
        { send: ['lru_crawler metadump all\r\n'], render: metadump(true) },
      ],
    },
    {
      // Runs last: it leaves the crawler enabled again, as the others expect.
      name: 'enable, disable, and what a disabled crawler answers',
      steps: [
        step('lru_crawler enable\r\n'),
        step('lru_crawler disable\r\n'),
        step('lru_crawler disable\r\n'),
        // memcached's disable does not wait for its crawler thread, which marks the crawler
        // off as it exits; a crawl before that answers "ERROR an unknown error happened".
        step('lru_crawler crawl all\r\n', 1, { pauseMs: 500 }),
        step('lru_crawler metadump all\r\n'),
        { send: ['stats settings\r\n'], render: (reply) => /STAT lru_crawler \S+/.exec(reply.toString('latin1'))?.[0] ?? 'missing' },
        step('lru_crawler enable\r\n'),
        step('lru_crawler crawl all\r\n', 1, { pauseMs: 500 }),
      ],
    },
  ]);
});

describe('lru_crawler metadump: what it lists', function () {
  const pair = usePair([], QUIET_CRAWLER);
  const big = 'b'.repeat(3000);
  defineCases(pair, [
    {
      name: 'items of several classes, with expiry, fetched or not, keys that need encoding',
      steps: [
        step(
          [
            'set md:plain 0 0 3\r\nabc\r\n',
            'set md:ttl 7 1000 2\r\nxy\r\n',
            `set md:big 0 0 ${big.length}\r\n${big}\r\n`,
            'set md%20pct 0 0 1\r\na\r\n',
            'set md/slash+plus~tilde_under.dot-dash 0 0 1\r\na\r\n',
            'set md\x01ctl\xff 0 0 1\r\na\r\n',
            'set md:gone 0 0 1\r\na\r\n',
            'delete md:gone\r\n',
            'get md:plain\r\n',
          ].join(''),
          9,
        ),
        { send: ['lru_crawler metadump all\r\n'], render: metadump(true) },
        { send: ['lru_crawler metadump 1\r\n'], render: metadump(true) },
        { send: ['lru_crawler metadump 17,1\r\n'], render: metadump(true) },
        { send: ['lru_crawler metadump 2\r\n'], render: metadump(true) },
        { send: ['lru_crawler metadump 63\r\n'], render: metadump(true) },
        // memcached's hash table order: by bucket of the murmur3 hash, newest first in a bucket.
        { send: ['lru_crawler metadump hash\r\n'], render: metadump(false) },
      ],
    },
    {
      name: 'expired and flushed items are left out',
      steps: [
        step('set mx:short 0 1 1\r\na\r\nset mx:long 0 1000 1\r\nb\r\n', 2),
        // An item expires once the clock passes its expiry second.
        { send: ['lru_crawler metadump all\r\n'], render: metadump(true), pauseMs: 2600 },
        step('flush_all\r\n'),
        { send: ['lru_crawler metadump all\r\n'], render: metadump(true) },
        { send: ['lru_crawler metadump hash\r\n'], render: metadump(false) },
      ],
    },
    {
      // Runs last: memcached 1.6.18 keeps this connection as the crawler's client after
      // NOTSTARTED, and answers later metadumps 'ERROR an unknown error happened' until a
      // crawl runs. recordcache does not copy that.
      name: 'an empty class list starts nothing',
      steps: [step('lru_crawler metadump ,\r\n')],
    },
  ]);
});

describe('lru_crawler metadump under -X', function () {
  const pair = usePair(['-X'], QUIET_CRAWLER);
  defineCases(pair, [
    { name: 'metadump is not allowed; crawl still is', steps: [step('lru_crawler metadump all\r\n'), step('lru_crawler crawl all\r\n')] },
  ]);
});

async function tool(server: ServerProcess, mode: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run('perl', [MEMCACHED_TOOL, `127.0.0.1:${server.port}`, mode, ...args], { timeout: 30000, maxBuffer: 16 * 1024 * 1024 });
}

/** The same items on both servers, through one connection each. */
async function load(pair: ServerPair, requests: string, count: number): Promise<void> {
  for (const server of [pair.reference, pair.candidate]) {
    const connection = await WireConnection.open(server.port);
    try {
      await connection.send([requests]);
      const reply = await connection.read(replies(count), 10000);
      assert.equal(reply.outcome, 'complete', `${server.kind} did not answer the loading requests`);
    } finally {
      connection.destroy();
    }
  }
}

describe('memcached-tool (Debian) against both servers', function () {
  // As memcached runs by default: `settings` shows its LRU maintainer.
  const pair = usePair();
  before(async function () {
    if (!fs.existsSync(MEMCACHED_TOOL))
      assert.fail(`${MEMCACHED_TOOL} is missing: Debian's memcached package ships it (conformance/setup.sh)`);
    const requests = [
      'set tool:a 1 0 5\r\nhello\r\n',
      'set tool:b 0 1000 3\r\nxyz\r\n',
      `set tool:c 42 0 2000\r\n${'c'.repeat(2000)}\r\n`,
      'set tool:needs%encoding 0 5000 2\r\nhi\r\n',
      `set tool:d 0 0 100000\r\n${'d'.repeat(100000)}\r\n`,
      'get tool:a tool:missing\r\n',
    ].join('');
    await load(pair(), requests, 6);
  });

  const both = async (mode: string, render: (stdout: string) => string, ...args: string[]): Promise<void> => {
    const { reference, candidate } = pair();
    const [ref, cand] = await Promise.all([tool(reference, mode, ...args), tool(candidate, mode, ...args)]);
    assert.notEqual(ref.stdout.trim(), '', `memcached-tool ${mode} printed nothing for memcached`);
    assert.equal(cand.stderr, ref.stderr, `memcached-tool ${mode}: stderr differs`);
    assert.equal(render(cand.stdout), render(ref.stdout), `memcached-tool ${mode}\nmemcached:\n${ref.stdout}\ncandidate:\n${cand.stdout}`);
  };

  it('display: the slab classes in use', async function () {
    await both('display', renderToolDisplay);
  });

  it('stats: every name, and the values that follow from the traffic', async function () {
    // bytes_read and total_connections also count the harness's own connections and probes.
    await both('stats', (stdout) =>
      renderToolTable(stdout, (name) => TRAFFIC_STATS.has(name) && name !== 'bytes_read' && name !== 'curr_connections'),
    );
  });

  it('settings: every name and value but the port and thread counts', async function () {
    await both('settings', (stdout) => renderToolTable(stdout, (name) => !SETTINGS_NOT_COMPARED.has(name)));
  });

  it('keys: the metadump lines', async function () {
    await both('keys', (stdout) => renderMetadump(Buffer.from(stdout, 'latin1'), true));
  });

  it('dump: an add command per item, with its flags, expiry and value', async function () {
    await both('dump', renderToolDump);
  });

  it('dump with a limit stops after that many keys', async function () {
    await both('dump', (stdout) => String(stdout.split('add ').length - 1), '2');
  });
});
