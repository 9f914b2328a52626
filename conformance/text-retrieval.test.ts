// Retrieval commands of the text protocol: get, gets, gat, gats (and the old
// bget alias), single and multi-key, including long keys and long key lists.
import { usePair } from './lib/servers';
import { defineCases, step, type Case } from './lib/cases';

const keys = (prefix: string, count: number): string[] => Array.from({ length: count }, (_, i) => `${prefix}${i}`);

/** Stores every other key of `names` with a value naming it. */
function storeEveryOther(names: string[]): string {
  return names
    .filter((_, i) => i % 2 === 0)
    .map((name, i) => `set ${name} ${i} 0 ${name.length}\r\n${name}\r\n`)
    .join('');
}

const key250 = 'g'.repeat(250);
const key251 = 'g'.repeat(251);
const many = keys('mg', 150);
const thousand = keys('mk', 1000);

const cases: Case[] = [
  {
    name: 'get of a missing key',
    steps: [step('get rt-missing\r\n')],
  },
  {
    name: 'gets returns CAS, get does not',
    steps: [step('set rt1 3 0 2\r\nab\r\nget rt1\r\ngets rt1\r\ngets rt1 rt1\r\n', 4)],
  },
  {
    name: 'multiget with hits, misses and a repeated key, in request order',
    steps: [step('set rt2 1 0 1\r\na\r\nset rt3 2 0 1\r\nb\r\nget rt3 rt-miss rt2 rt3\r\ngets rt2 rt-miss rt3\r\n', 4)],
  },
  {
    name: 'multiget of 150 keys, every other one stored',
    steps: [step(storeEveryOther(many), many.length / 2), step(`get ${many.join(' ')}\r\n`), step(`gets ${many.join(' ')}\r\n`)],
  },
  {
    name: 'multiget of 1000 keys split into many packets',
    steps: [
      step(storeEveryOther(thousand), thousand.length / 2),
      { send: `get ${thousand.join(' ')}\r\n`.match(/[\s\S]{1,997}/g)!, delayMs: 1, expect: 1 },
    ],
  },
  {
    name: 'key of 250 bytes, and 251 bytes rejected',
    steps: [
      step(`set ${key250} 0 0 1\r\na\r\nget ${key250}\r\ngets ${key250}\r\n`, 3),
      step(`get ${key251}\r\n`),
      step(`gets ${key251}\r\n`),
    ],
  },
  {
    name: 'too-long key in the middle of a multiget discards the whole reply',
    steps: [step('set rt4 0 0 1\r\na\r\nset rt5 0 0 1\r\nb\r\n', 2), step(`get rt4 ${key251} rt5\r\nget rt4 rt5\r\n`, 2)],
  },
  {
    name: 'too-long key as the last of 23 tokens',
    steps: [step('set rt6 0 0 1\r\na\r\n'), step(`get ${keys('rt6-', 20).join(' ')} rt6 ${key251}\r\n`)],
  },
  {
    // memcached drops every reply still queued on the connection, not only the
    // VALUEs of that get: queued replies are written out after each successful
    // get, so those of commands between the last get and the failing one go.
    name: 'too-long key in a get drops replies queued since the last get of the packet',
    steps: [step(`set rt6b 0 0 1\r\na\r\nget rt6b\r\ndelete rt6b\r\nget ${key251}\r\nget rt6b\r\n`, 4)],
  },
  {
    // Queued replies are also written out each time memcached has run
    // reqs_per_event (-R, default 20) commands of a packet in a row.
    name: 'too-long key in a get after 25 pipelined sets drops only the replies since the last write-out',
    steps: [step(`${storeEveryOther(keys('rt6c-', 50))}get ${key251}\r\nget rt6c-0\r\n`, 23)],
  },
  {
    // Waiting for the rest of a command line writes queued replies out...
    name: 'replies written out while a command line is incomplete survive a later too-long key',
    steps: [step('set rt6d 0 0 1\r\na\r\nget ', 'unread'), step(`${key251}\r\nget rt6d\r\n`, 3, { pauseMs: 100 })],
  },
  {
    // ...waiting for the rest of a data block does not, but the block's
    // arrival does: memcached reads the rest of a block straight into the
    // item and writes out before reading what follows it.
    name: 'replies held while a data block is incomplete survive a too-long key after the block',
    steps: [
      step('set rt6e 0 0 1\r\na\r\nset rt6f 0 0 10\r\n01234', 'unread'),
      step(`56789\r\nget ${key251}\r\nget rt6e rt6f\r\n`, 4, { pauseMs: 100 }),
    ],
  },
  {
    name: 'get with no key',
    steps: [step('get\r\n'), step('gets\r\n'), step('get \r\n')],
  },
  {
    name: 'get takes no noreply: it is a key',
    steps: [step('set rt13 0 0 1\r\na\r\nset noreply 0 0 2\r\nnr\r\nget rt13 noreply\r\n', 3)],
  },
  {
    name: 'get of 10,000 missing keys',
    steps: [step(`get ${keys('absent-', 10000).join(' ')}\r\n`)],
  },
  {
    name: 'large values to several gets in one packet',
    steps: [step(`set rt14 0 0 300000\r\n${'L'.repeat(300000)}\r\n`), step('get rt14 rt14 rt14\r\nget rt14\r\ngets rt14 rt14\r\n', 3)],
  },
  {
    name: 'bget is an alias of get',
    steps: [step('set rt7 0 0 1\r\na\r\nbget rt7 rt-miss\r\n', 2)],
  },
  {
    name: 'command names are case-sensitive',
    steps: [step('GET rt7\r\nGets rt7\r\n', 2)],
  },
  {
    name: 'gat returns the value and sets the TTL; gats adds CAS',
    steps: [
      step('set rt8 4 0 3\r\nabc\r\ngat 100 rt8\r\ngats 100 rt8 rt-miss\r\ngets rt8\r\n', 4),
      step('gat 0 rt8\r\ngat -1 rt8\r\nget rt8\r\n', 3),
    ],
  },
  {
    name: 'gat keeps the CAS value',
    steps: [step('set rt9 0 0 1\r\na\r\ngets rt9\r\ngats 1000 rt9\r\ngets rt9\r\n', 4)],
  },
  {
    name: 'gat with an absolute time in the past expires the item',
    steps: [step('set rt10 0 0 1\r\na\r\ngat 2592001 rt10\r\nget rt10\r\n', 3)],
  },
  {
    name: 'gat with a bad exptime, no exptime, no key',
    steps: [step('gat abc rt10\r\n'), step('gat 1x rt10\r\n'), step('gat\r\n'), step('gats\r\n'), step('gat 10\r\n'), step('gats 10\r\n')],
  },
  {
    name: 'gat touches the keys before a too-long key',
    steps: [step('set rt11 0 0 1\r\na\r\n'), step(`gat -1 rt11 ${key251}\r\nget rt11\r\n`, 2)],
  },
  {
    name: 'gat over many keys',
    steps: [step(storeEveryOther(keys('gk', 60)), 30), step(`gats 3600 ${keys('gk', 60).join(' ')}\r\n`)],
  },
  {
    name: 'many gets pipelined in one packet',
    steps: [step('set rt12 0 0 2\r\nxy\r\n' + 'get rt12\r\n'.repeat(200), 201)],
  },
  {
    name: 'get line of 100 KB of keys',
    steps: [step(`get ${keys('long-line-key-padding-padding-', 3000).join(' ')}\r\n`)],
  },
];

describe('text protocol: retrieval commands', function () {
  const pair = usePair();
  defineCases(pair, cases);
});

describe('text protocol: reply write-out with -R 5', function () {
  const pair = usePair(['-R', '5']);
  defineCases(pair, [
    {
      name: 'too-long key in a get after 12 pipelined sets',
      steps: [step(`${storeEveryOther(keys('rr-', 24))}get ${key251}\r\nget rr-0\r\n`, 13)],
    },
    {
      name: 'stats settings shows reqs_per_event',
      steps: [
        { send: ['stats settings\r\n'], render: (reply) => /STAT reqs_per_event \S+/.exec(reply.toString('latin1'))?.[0] ?? 'missing' },
      ],
    },
  ]);
});
