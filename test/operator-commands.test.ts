/*
 * The pure parts of memcached's operator commands: `lru_crawler` and `watch` arguments
 * (proto_text.c, crawler.c lru_crawler_crawl), the url-encoding and line formats of
 * metadump and the logger (util.c uriencode, crawler.c, logger.c), and the event log's
 * bookkeeping: it observes the store only while someone watches, drops lines past a
 * watcher's buffer and says how many, and asks for native GET serving to stop while it
 * must see every GET.
 */

import assert from 'node:assert/strict';
import { decodeCrawlTarget, decodeLruCrawler, decodeWatch, WatchFlag } from '../server/protocol/admin';
import { Reply } from '../server/protocol/replies';
import {
  connCloseLine,
  connNewLine,
  itemGetLine,
  itemStoreLine,
  logPrefix,
  metadumpLine,
  peerOf,
  uriencode,
} from '../server/protocol/log-lines';
import { EventLog } from '../server/event-log';
import { Store } from '../server/store/store';
import { ManualClock } from '../server/store/clock';
import { StoreMode } from '../server/memcached/item';
import type { RecordConnection, RecordsEngine, Segment } from '../server/records/types';

const words = (line: string) => line.split(' ');

describe('lru_crawler arguments', function () {
  it('decodes each subcommand with memcached token counts', function () {
    assert.deepEqual(decodeLruCrawler(words('lru_crawler crawl all')), { kind: 'crawl', target: 'all' });
    assert.deepEqual(decodeLruCrawler(words('lru_crawler metadump 1,2')), { kind: 'metadump', target: '1,2' });
    assert.deepEqual(decodeLruCrawler(words('lru_crawler enable')), { kind: 'enable' });
    assert.deepEqual(decodeLruCrawler(words('lru_crawler disable')), { kind: 'disable' });
    assert.deepEqual(decodeLruCrawler(words('lru_crawler sleep 1000000')), { kind: 'sleep', value: 1000000 });
    assert.deepEqual(decodeLruCrawler(words('lru_crawler tocrawl 0')), { kind: 'tocrawl', value: 0 });
    for (const line of [
      'lru_crawler',
      'lru_crawler crawl',
      'lru_crawler metadump all x',
      'lru_crawler mgdump all',
      'lru_crawler enable x',
      'lru_crawler bogus',
    ]) {
      assert.deepEqual(decodeLruCrawler(words(line)), { kind: 'reply', reply: Reply.ERROR }, line);
    }
  });

  it('answers bad numbers as memcached does', function () {
    assert.deepEqual(decodeLruCrawler(words('lru_crawler sleep 1000001')), { kind: 'reply', reply: Reply.CRAWLER_SLEEP_TOO_LONG });
    for (const line of ['lru_crawler sleep x', 'lru_crawler sleep -1', 'lru_crawler tocrawl -1', 'lru_crawler tocrawl 1x']) {
      assert.deepEqual(decodeLruCrawler(words(line)), { kind: 'reply', reply: Reply.BAD_FORMAT }, line);
    }
  });

  it('reads class lists as strtok and safe_strtoul do', function () {
    assert.deepEqual(decodeCrawlTarget('all'), { kind: 'all' });
    assert.deepEqual(decodeCrawlTarget('hash'), { kind: 'hash' });
    assert.deepEqual(decodeCrawlTarget('1,,63,'), { kind: 'classes', ids: [1, 63] });
    assert.deepEqual(decodeCrawlTarget(','), { kind: 'classes', ids: [] });
    for (const bad of ['0', '64', 'abc', '-1', '1,abc', 'ALL']) assert.equal(decodeCrawlTarget(bad), null, bad);
  });
});

describe('watch arguments', function () {
  it('bare watch is fetchers; kinds combine', function () {
    assert.deepEqual(decodeWatch(['watch']), { kind: 'watch', flags: WatchFlag.Fetchers });
    assert.deepEqual(decodeWatch(words('watch mutations evictions connevents')), {
      kind: 'watch',
      flags: WatchFlag.Mutations | WatchFlag.Evictions | WatchFlag.ConnEvents,
    });
  });

  it('an unknown kind is ERROR, unheard after noreply', function () {
    assert.deepEqual(decodeWatch(words('watch fetchers bogus')), { kind: 'reply', reply: Reply.ERROR, noreply: false });
    assert.deepEqual(decodeWatch(words('watch noreply')), { kind: 'reply', reply: Reply.ERROR, noreply: true });
    assert.deepEqual(decodeWatch(words('watch toString')), { kind: 'reply', reply: Reply.ERROR, noreply: false });
  });
});

describe('metadump and log line formats', function () {
  it('url-encodes all but letters, digits and -._~, in upper case', function () {
    assert.equal(uriencode('plain-key_1.2~x'), 'plain-key_1.2~x');
    assert.equal(uriencode('a b%c/d:\x01\xff'), 'a%20b%25c%2Fd%3A%01%FF');
  });

  it('metadump lines end with LF', function () {
    const line = metadumpLine({ key: 'k:1', exp: -1, lastAccess: 1700000000, cas: 7, fetched: true, classId: 1, size: 66 });
    assert.equal(line, 'key=k%3A1 exp=-1 la=1700000000 cas=7 fetch=yes cls=1 size=66\n');
  });

  it('log lines as logger.c prints them', function () {
    assert.equal(logPrefix(1700000000_000042, 3), 'ts=1700000000.42 gid=3 ');
    assert.equal(itemGetLine('k', 1, 2, 9, 5), 'type=item_get key=k status=found clsid=2 cfd=9 size=5\n');
    assert.equal(
      itemStoreLine('k', 2, StoreMode.Add, -1, 1, 9, 1),
      'type=item_store key=k status=not_stored cmd=add ttl=4294967295 clsid=1 cfd=9 size=1\n',
    );
    assert.equal(connNewLine(peerOf('tcp:[::1]:5000'), 4), 'type=conn_new rip=::1 rport=5000 transport=tcp cfd=4\n');
    assert.equal(
      connCloseLine(peerOf('unix:/tmp/s'), 'normal', 4),
      'type=conn_close rip=unix rport=0 transport=local reason=normal cfd=4\n',
    );
  });
});

/** An engine that records what is sent to whom. */
function recordingEngine(): { engine: RecordsEngine; sent: { text: string; to: number }[] } {
  const sent: { text: string; to: number }[] = [];
  const engine = {
    sendRecord(message: readonly Segment[], group: readonly RecordConnection[]) {
      for (const conn of group) sent.push({ text: Buffer.concat(message as Buffer[]).toString('latin1'), to: conn.id });
    },
  } as unknown as RecordsEngine;
  return { engine, sent };
}

/** Connections by id: the event log knows a connection by identity. */
const connections = new Map<number, RecordConnection>();
function connection(id: number): RecordConnection {
  let conn = connections.get(id);
  if (conn === undefined) {
    conn = { id, remote: `tcp:127.0.0.1:${40000 + id}` } as RecordConnection;
    connections.set(id, conn);
  }
  return conn;
}

describe('the event log', function () {
  const setup = (bufferBytes = 262144) => {
    const store = new Store({ maxBytes: 64 << 20, itemSizeMax: 1 << 20, casEnabled: true, noEvict: false }, new ManualClock());
    const { engine, sent } = recordingEngine();
    const log = new EventLog(engine, store, bufferBytes, () => {});
    return { store, log, sent };
  };
  const flushed = () => new Promise((resolve) => setImmediate(resolve));

  it('observes the store only while a watcher needs item events or -vvv prints lookups', function () {
    const { store, log } = setup();
    assert.equal(store.observer, null);
    log.add(connection(1), WatchFlag.ConnEvents);
    assert.equal(store.observer, null);
    log.add(connection(2), WatchFlag.Fetchers);
    assert.equal(store.observer, log);
    log.remove(connection(2));
    assert.equal(store.observer, null);
    log.setVerbosity(3);
    assert.equal(store.observer, log);
  });

  it('asks for native serving to stop while any watcher exists or -vv prints', function () {
    const { log } = setup();
    const seen: boolean[] = [];
    log.onWantsEveryGet = () => seen.push(log.wantsEveryGet);
    log.add(connection(1), WatchFlag.Mutations);
    log.add(connection(2), WatchFlag.Fetchers);
    log.remove(connection(1));
    log.connectionClosed(connection(2));
    log.setVerbosity(2);
    log.setVerbosity(0);
    assert.deepEqual(seen, [true, false, true, false]);
  });

  it('sends each watcher the lines it asked for, with cfd of the connection at work', async function () {
    const { store, log, sent } = setup();
    log.add(connection(1), WatchFlag.Fetchers);
    log.add(connection(2), WatchFlag.Mutations);
    log.current = connection(7);
    store.store(StoreMode.Set, 'k', 0, 0, Buffer.from('v\r\n'));
    store.get('k');
    await flushed();
    const to = (id: number) => sent.filter((s) => s.to === id).map((s) => s.text.replace(/^ts=\S+ gid=\d+ /gm, ''));
    assert.deepEqual(to(1), [
      'type=item_get key=k status=not_found clsid=0 cfd=7 size=0\ntype=item_get key=k status=found clsid=1 cfd=7 size=1\n',
    ]);
    assert.deepEqual(to(2), ['type=item_store key=k status=stored cmd=set ttl=0 clsid=1 cfd=7 size=1\n']);
  });

  it('skips lines past a watcher buffer and says how many before the next one', async function () {
    const { store, log, sent } = setup(200);
    log.add(connection(1), WatchFlag.Fetchers);
    for (let i = 0; i < 5; i++) store.get(`key${i}`);
    await flushed();
    store.get('after');
    await flushed();
    assert.equal(sent.length, 2);
    assert.equal(sent[0].text.split('\n').length - 1, 2, sent[0].text);
    assert.match(sent[1].text, /^skipped=3\nts=\S+ gid=\d+ type=item_get key=after /);
    assert.equal(log.skipped, 3);
  });
});
