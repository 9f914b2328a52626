// `watch` and -vv against memcached: the log lines a watcher receives for a
// scripted sequence of commands (fetchers, mutations, connection events,
// evictions), watch's replies to bad arguments, and what -vv prints on stderr
// for the same commands. Normalisations: lib/operator-tools.ts.
import assert from 'node:assert/strict';
import { usePair, type ServerPair, type ServerProcess } from './lib/servers';
import { defineCases, step } from './lib/cases';
import { renderVerbose, renderWatchLines } from './lib/operator-tools';
import { WireConnection } from './lib/wire';
import { replies } from './lib/replies';
import { Op, arithExtras, get, noop, request, set, storeExtras, u32 } from './lib/binary';

const REPLY_TIMEOUT_MS = 5000;
/** How long a watcher is given to receive the last lines (memcached's logger polls). */
const SETTLE_MS = 1500;

/** Each request with the number of replies it gets (0 for noreply). */
type Script = [string, number][];

async function runScript(server: ServerProcess, script: Script): Promise<string[]> {
  const client = await WireConnection.open(server.port);
  try {
    for (const [request, count] of script) {
      await client.send([request]);
      if (count === 0) continue;
      const reply = await client.read(replies(count), REPLY_TIMEOUT_MS);
      assert.equal(reply.outcome, 'complete', `${server.kind}: no reply to ${JSON.stringify(request)}`);
    }
  } finally {
    client.end();
  }
  return [];
}

/**
 * Waits until the watcher is the server's only client. An earlier connection (the check
 * that the server is up) may be closed on another worker thread after the watcher attaches,
 * and its close would be logged to it, on memcached as on recordcache.
 */
async function waitAlone(watcher: WireConnection, server: ServerProcess): Promise<void> {
  const deadline = Date.now() + REPLY_TIMEOUT_MS;
  for (;;) {
    await watcher.send(['stats conns\r\n']);
    const reply = await watcher.read((buf) => (buf.indexOf('END\r\n') === -1 ? -1 : buf.indexOf('END\r\n') + 5), REPLY_TIMEOUT_MS);
    const clients = reply.bytes.toString('latin1').split(':listen_addr ').length - 1;
    if (clients <= 1) return;
    assert.ok(Date.now() < deadline, `${server.kind}: ${clients} clients still open`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Attaches a watcher, runs the script on another connection, and returns what the watcher got. */
async function watchScript(server: ServerProcess, kinds: string, script: Script): Promise<string> {
  const watcher = await WireConnection.open(server.port);
  try {
    await waitAlone(watcher, server);
    await watcher.send([`watch ${kinds}\r\n`]);
    const ok = await watcher.read((buf) => (buf.indexOf('\r\n') === -1 ? -1 : buf.indexOf('\r\n') + 2), REPLY_TIMEOUT_MS);
    assert.equal(ok.bytes.toString('latin1'), 'OK\r\n', `${server.kind}: watch did not answer OK`);
    await runScript(server, script);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    return (await watcher.readQuiet(300, REPLY_TIMEOUT_MS)).bytes.toString('latin1');
  } finally {
    watcher.destroy();
  }
}

async function compareWatch(pair: ServerPair, kinds: string, script: Script, render = renderWatchLines): Promise<void> {
  const [reference, candidate] = await Promise.all([
    watchScript(pair.reference, kinds, script),
    watchScript(pair.candidate, kinds, script),
  ]);
  const expected = render(reference);
  assert.ok(expected.length > 0, `memcached logged nothing:\n${reference}`);
  assert.deepEqual(render(candidate), expected, `watch ${kinds}\nmemcached:\n${reference}\ncandidate:\n${candidate}`);
}

/** Every command whose lookups and stores memcached logs, each answered before the next is sent. */
const SCRIPT: Script = [
  ['set foo 0 0 3\r\nbar\r\n', 1],
  ['get foo\r\n', 1],
  ['get nope\r\n', 1],
  ['gets foo nope\r\n', 1],
  ['add foo 0 100 1\r\nx\r\n', 1],
  ['append foo 0 0 2\r\nzz\r\n', 1],
  ['append nokey 0 0 2\r\nzz\r\n', 1],
  ['prepend foo 0 0 1\r\na\r\n', 1],
  ['replace foo 5 300 2\r\nrr\r\n', 1],
  ['cas foo 0 0 1 999\r\nc\r\n', 1],
  ['cas nokey 0 0 1 1\r\nc\r\n', 1],
  ['incr foo 1\r\n', 1],
  ['set n 0 0 1 noreply\r\n5\r\n', 0],
  ['incr n 3\r\n', 1],
  ['decr n 1\r\n', 1],
  ['touch n 100\r\n', 1],
  ['gat 50 n\r\n', 1],
  ['delete n\r\n', 1],
  ['delete n\r\n', 1],
  ['mg foo v\r\n', 1],
  ['mg nope v\r\n', 1],
  ['ms m1 2 T10\r\nhi\r\n', 1],
  ['md m1\r\n', 1],
  ['ma n\r\n', 1],
  ['set key%20with/odd:chars 0 0 1\r\nk\r\n', 1],
  ['get key%20with/odd:chars\r\n', 1],
  // In one packet, so that no background reclaim comes between: the lookup finds it flushed.
  ['flush_all\r\nget foo\r\n', 2],
];

describe('watch: log lines for a scripted sequence', function () {
  const pair = usePair();

  it('fetchers, mutations and connevents, one watcher for all', async function () {
    await compareWatch(pair(), 'fetchers mutations connevents', SCRIPT);
  });

  it('fetchers alone; hits on items stored before the watcher came are logged too', async function () {
    // Stored before the watcher: the native engine could answer their hits without JavaScript.
    await runScript(pair().reference, [['set early 0 0 5\r\nearly\r\n', 1]]);
    await runScript(pair().candidate, [['set early 0 0 5\r\nearly\r\n', 1]]);
    await compareWatch(pair(), 'fetchers', [
      ['get early\r\n', 1],
      ['get early early\r\n', 1],
      ['set other 0 0 1\r\no\r\n', 1],
    ]);
  });

  it('bare watch is fetchers', async function () {
    await compareWatch(pair(), '', [
      ['set bare 0 0 1\r\nb\r\n', 1],
      ['get bare\r\n', 1],
    ]);
  });
});

describe('watch connevents', function () {
  // Servers of their own: memcached logs the close of an earlier test's watcher whenever its
  // logger notices it.
  const pair = usePair();
  it('a client connecting and leaving', async function () {
    await compareWatch(pair(), 'connevents', [['version\r\n', 1]]);
  });
});

describe('watch evictions', function () {
  const pair = usePair(['-m', '2']);
  it('items pushed out of a full cache are logged as memcached logs them', async function () {
    const value = 'x'.repeat(10000);
    const script: Script = [];
    for (let i = 0; i < 300; i++) script.push([`set ev${i} 0 0 ${value.length}\r\n${value}\r\n`, 1]);
    script.splice(6, 0, ['get ev1\r\n', 1]);
    // la= is seconds since the last access: it depends on how long the run takes.
    await compareWatch(pair(), 'evictions', script, (text) => renderWatchLines(text).map((line) => line.replace(/ la=\d+/, ' la=*')));
  });
});

describe('watch: replies and bad arguments', function () {
  const pair = usePair();
  defineCases(pair, [
    { name: 'an unknown kind is ERROR', steps: [step('watch bogus\r\n'), step('watch fetchers bogus\r\n')] },
    // noreply is taken before the arguments are read, and then fails as a kind.
    { name: 'noreply silences the ERROR', steps: [step('watch noreply\r\nwatch fetchers noreply\r\nversion\r\n')] },
    {
      name: 'watch behind other commands of the same read is refused',
      steps: [step('version\r\nwatch\r\n', 2), step('set w 0 0 1 noreply\r\na\r\nwatch fetchers\r\n')],
    },
    {
      name: 'a watcher answers OK and then nothing to what it is sent',
      sentinel: false,
      steps: [step('watch mutations\r\n'), step('get w\r\nversion\r\n', 'none')],
    },
  ]);
});

describe('watch: the watcher limit', function () {
  // Servers of its own: memcached notices a closed watcher only when its logger next polls.
  const pair = usePair();
  defineCases(pair, [
    {
      name: 'at most 20 watchers',
      sentinel: false,
      steps: [...Array.from({ length: 20 }, (_, i) => step('watch evictions\r\n', 1, { conn: i })), step('watch\r\n', 1, { conn: 20 })],
    },
  ]);
});

describe('watch under -W', function () {
  const pair = usePair(['-W']);
  defineCases(pair, [
    { name: 'watch is refused, noreply silences that', steps: [step('watch\r\n'), step('watch fetchers noreply\r\nversion\r\n')] },
  ]);
});

/**
 * Waits until a server has printed nothing new for 300 ms: what the start-up probe's
 * connection makes it print (its close) must not land among the lines compared.
 */
async function settled(server: ServerProcess): Promise<void> {
  for (let last = server.output(); ; ) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = server.output();
    if (now === last) return;
    last = now;
  }
}

/** The lines a server printed after `before` (its output earlier). */
function printedSince(server: ServerProcess, before: string): string[] {
  const output = server.output();
  // output() keeps the last 8 KB: the start must still be there.
  assert.ok(output.startsWith(before), `${server.kind}: printed too much to compare`);
  return output
    .slice(before.length)
    .split('\n')
    .filter((line) => line !== '');
}

describe('-vv: commands and replies on stderr', function () {
  const pair = usePair(['-vv']);
  it('prints what memcached prints for a sequence of text commands', async function () {
    const script: Script = [
      ['set foo 0 0 3\r\nbar\r\n', 1],
      ['get foo nope\r\n', 1],
      ['gets foo\r\n', 1],
      ['set n 0 0 1 noreply\r\n5\r\n', 0],
      ['incr n 2 noreply\r\n', 0],
      ['incr n 2\r\n', 1],
      ['delete foo\r\n', 1],
      ['bogus\r\n', 1],
      ['mg n v\r\n', 1],
      ['stats detail on\r\n', 1],
      ['stats detail off\r\n', 1],
      ['version\r\n', 1],
      ['touch nope 1\r\n', 1],
      ['lru_crawler crawl 0\r\n', 1],
      [`get ${'k'.repeat(251)}\r\n`, 1],
      ['verbosity 2\r\n', 1],
    ];
    const { reference, candidate } = pair();
    await Promise.all([settled(reference), settled(candidate)]);
    const marks = [reference.output(), candidate.output()];
    await runScript(reference, script);
    await runScript(candidate, script);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const printed = (server: ServerProcess, mark: string): string[] => renderVerbose(printedSince(server, mark));
    const expected = printed(reference, marks[0]);
    assert.ok(expected.length > 10, `memcached printed too little:\n${expected.join('\n')}`);
    assert.deepEqual(printed(candidate, marks[1]), expected);
  });
});

describe('-vv: binary requests and responses on stderr', function () {
  // Servers of their own: the dumps are long, and each server's output is kept to its last 8 KB.
  const pair = usePair(['-vv']);
  it('dumps binary requests and responses as memcached does', async function () {
    const packets = [
      set('bk', 'hello', 5),
      get('bk'),
      get('nokey'),
      request(Op.GetK, { key: 'bk' }),
      request(Op.Increment, { key: 'cnt', extras: arithExtras(1n, 10n, 0) }),
      request(Op.Touch, { key: 'cnt', extras: u32(100) }),
      request(Op.Add, { key: 'cnt', extras: storeExtras(0, 0), value: 'x' }),
      request(Op.Append, { key: 'cnt', value: 'y' }),
      request(Op.SetQ, { key: 'q', extras: storeExtras(0, 0), value: 'z' }),
      request(Op.Delete, { key: 'bk' }),
      noop(),
    ];
    const { reference, candidate } = pair();
    const runBinary = async (server: ServerProcess): Promise<void> => {
      const client = await WireConnection.open(server.port);
      try {
        for (const packet of packets) {
          await client.send([packet]);
          await client.readQuiet(100, REPLY_TIMEOUT_MS);
        }
      } finally {
        client.end();
      }
    };
    await Promise.all([settled(reference), settled(candidate)]);
    const marks = [reference.output(), candidate.output()];
    await runBinary(reference);
    await runBinary(candidate);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const expected = renderVerbose(printedSince(reference, marks[0]));
    assert.ok(
      expected.some((line) => line.includes('Writing bin response')),
      `memcached printed no dump:\n${expected.join('\n')}`,
    );
    assert.deepEqual(renderVerbose(printedSince(candidate, marks[1])), expected);
  });
});
