/*
 * The records API contract (server/records/types.ts), exercised directly with real
 * sockets against every backend that loads here: js everywhere, native where its addon is
 * built, kmod where the records module is loaded (the qemu guest of kmod/test.sh). Each backend frames memcached's text protocol, so the handlers below are the
 * smallest application that shows what the engine delivers and writes.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { JsRecordsEngine } from '../server/records/js';
import { KmodRecordsEngine, RECORDS_DEVICE } from '../server/records/kmod';
import { NativeRecordsEngine } from '../server/records/native';
import { loadNativeBinding } from '../server/records/native-addon';
import { frameText } from '../server/protocol/text';
import type { EngineHandlers, RecordConnection, RecordsEngine, RequestBatch, Segment } from '../server/records/types';
import { missing } from '../conformance/lib/required';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LIMITS = { itemSizeMax: 1024 * 1024, casEnabled: true };

interface Backend {
  name: string;
  make(): RecordsEngine;
  /** Stops whatever the engine runs besides its sockets (the native I/O thread). */
  close(engine: RecordsEngine): void;
}

const backends: Backend[] = [{ name: 'js', make: () => new JsRecordsEngine(), close: () => undefined }];
let nativeUnavailable: string | null = null;
try {
  loadNativeBinding();
  backends.push({
    name: 'native',
    make: () => new NativeRecordsEngine(),
    close: (engine) => (engine as NativeRecordsEngine).close(),
  });
  // The kmod backend where the records module is loaded (the qemu guest of kmod/test.sh).
  if (fs.existsSync(RECORDS_DEVICE)) {
    backends.push({
      name: 'kmod',
      make: () => new KmodRecordsEngine(),
      close: (engine) => (engine as NativeRecordsEngine).close(),
    });
  }
} catch (err) {
  nativeUnavailable = (err as Error).message;
}

/** What the test application saw. */
interface Seen {
  opened: RecordConnection[];
  closed: RecordConnection[];
  batches: { conn: RecordConnection; requests: string[]; firstCompletesData: boolean }[];
  bytesRead: number;
  bytesWritten: number;
}

type OnRequests = (conn: RecordConnection, batch: RequestBatch, requests: string[]) => number;

class Harness {
  readonly seen: Seen = { opened: [], closed: [], batches: [], bytesRead: 0, bytesWritten: 0 };
  port = 0;
  onRequests: OnRequests = (_conn, batch) => batch.count;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly engine: RecordsEngine) {}

  async start(): Promise<void> {
    const handlers: EngineHandlers = {
      onOpen: (conn) => {
        this.seen.opened.push(conn);
        this.wake();
        return null;
      },
      framerFor: () => (buf, start, end, out) => frameText(buf, start, end, LIMITS, out),
      onRequests: (conn, batch) => {
        const requests: string[] = [];
        for (let i = 0; i < batch.count; i++) {
          requests.push(batch.buf.toString('latin1', batch.starts[i], batch.starts[i] + batch.lengths[i]));
        }
        this.seen.batches.push({ conn, requests, firstCompletesData: batch.firstCompletesData });
        const handled = this.onRequests(conn, batch, requests);
        this.wake();
        return handled;
      },
      onClose: (conn) => {
        this.seen.closed.push(conn);
        this.wake();
      },
      onBytesRead: (n) => {
        this.seen.bytesRead += n;
      },
      onBytesWritten: (n) => {
        this.seen.bytesWritten += n;
      },
    };
    const port = await freePort();
    const listeners = await this.engine.listen({ tcp: [{ host: '127.0.0.1', port }], unix: null, backlog: 1024 }, handlers);
    assert.equal(listeners[0].address, `tcp:127.0.0.1:${port}`);
    this.port = port;
  }

  /** Resolves once `condition` holds, re-checked on every engine event. */
  async until(condition: () => boolean, what: string, timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await Promise.race([new Promise<void>((resolve) => this.waiters.push(resolve)), sleep(20)]);
    }
  }

  /** Connects `n` clients and returns them with the engine's connection for each, in order. */
  async connect(n: number): Promise<{ clients: Client[]; conns: RecordConnection[] }> {
    const clients: Client[] = [];
    const conns: RecordConnection[] = [];
    for (let i = 0; i < n; i++) {
      const before = this.seen.opened.length;
      const client = await Client.connect(this.port);
      await this.until(() => this.seen.opened.length > before, 'the engine to see the connection');
      clients.push(client);
      conns.push(this.seen.opened[this.seen.opened.length - 1]);
    }
    return { clients, conns };
  }

  private wake(): void {
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}

class Client {
  received = Buffer.alloc(0);
  chunks: Buffer[] = [];
  closed = false;
  private constructor(readonly socket: net.Socket) {
    socket.on('data', (data: Buffer) => this.chunks.push(data));
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number, options: { paused?: boolean } = {}): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      if (options.paused) socket.pause();
      socket.once('connect', () => resolve(new Client(socket)));
      socket.once('error', reject);
    });
  }

  bytes(): Buffer {
    if (this.chunks.length > 0) {
      this.received = Buffer.concat([this.received, ...this.chunks]);
      this.chunks = [];
    }
    return this.received;
  }

  async waitFor(length: number, timeoutMs = 20000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.bytes().length < length) {
      if (Date.now() > deadline) throw new Error(`client got ${this.bytes().length} of ${length} bytes`);
      await sleep(5);
    }
    return this.bytes();
  }

  async waitClosed(timeoutMs = 20000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('client was not closed');
      await sleep(5);
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address() as net.AddressInfo;
      probe.close(() => resolve(address.port));
    });
  });
}

/** Bytes whose every position says which message and offset it is (torn or mixed data shows). */
function pattern(tag: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (tag * 31 + i * 7 + (i >> 8)) & 0xff;
  return out;
}

function recordStats(engine: RecordsEngine): { created: number; live: number } | null {
  return engine instanceof NativeRecordsEngine ? engine.recordStats() : null;
}

describe('records contract', function () {
  this.timeout(60000);

  it('runs against the native backend (and kmod where /dev/records exists)', function () {
    // The addon is required: without it this suite would quietly check js alone.
    if (nativeUnavailable !== null) missing(this, 'native', nativeUnavailable);
    const names = backends.map((backend) => backend.name);
    assert.deepEqual(names, fs.existsSync(RECORDS_DEVICE) ? ['js', 'native', 'kmod'] : ['js', 'native']);
    // Each engine is the one its name says, and starts and stops its I/O thread.
    for (const backend of backends) {
      const engine = backend.make();
      try {
        assert.equal(engine.name, backend.name);
        if (backend.name !== 'js') {
          const stats = recordStats(engine);
          assert.ok(stats !== null, `the ${backend.name} engine reports its records`);
          assert.equal(stats.created, 0);
          assert.equal(stats.live, 0);
        }
      } finally {
        backend.close(engine);
      }
    }
  });

  for (const backend of backends) {
    describe(`${backend.name} backend`, () => {
      let harness: Harness;
      let clients: Client[] = [];

      beforeEach(async () => {
        harness = new Harness(backend.make());
        await harness.start();
        clients = [];
      });

      afterEach(async () => {
        for (const client of clients) client.socket.destroy();
        await harness.engine.stopListening();
        await harness.engine.drain(200);
        backend.close(harness.engine);
      });

      it('sends one record to a group of 50 connections, in each connection’s order', async () => {
        const { clients: group, conns } = await harness.connect(50);
        clients = group;
        const small = harness.engine.initRecord(pattern(1, 100));
        const medium = harness.engine.initRecord(pattern(2, 20000));
        const large = harness.engine.initRecord(pattern(3, 300000));
        const messages: Segment[][] = [
          [Buffer.from('A:'), small, Buffer.from('\r\n')],
          [Buffer.from('B:'), large, Buffer.from('\r\n')],
          [Buffer.from('C:'), { record: medium, offset: 100, length: 5000 }, Buffer.from('\r\n')],
          [small, medium, large],
        ];
        for (const message of messages) harness.engine.sendRecord(message, conns);
        const expected = Buffer.concat(
          messages
            .flat()
            .map((segment) =>
              Buffer.isBuffer(segment)
                ? segment
                : segment === small
                  ? pattern(1, 100)
                  : segment === medium
                    ? pattern(2, 20000)
                    : segment === large
                      ? pattern(3, 300000)
                      : pattern(2, 20000).subarray(100, 5100),
            ),
        );
        for (const client of group) {
          const got = await client.waitFor(expected.length);
          assert.equal(got.length, expected.length);
          assert.ok(got.equals(expected), 'every connection gets every message whole and in order');
        }
        assert.equal(harness.seen.bytesWritten, expected.length * 50);
        for (const record of [small, medium, large]) harness.engine.delRecord(record);
      });

      it('keeps a connection’s order whatever the priorities, and delivers every priority', async () => {
        const { clients: group, conns } = await harness.connect(10);
        clients = group;
        const expected: Buffer[] = [];
        for (let i = 0; i < 40; i++) {
          const bytes = Buffer.from(`message ${i} ${'x'.repeat(i * 100)}\r\n`);
          expected.push(bytes);
          harness.engine.sendRecord([bytes], i % 2 === 0 ? conns : conns.slice(0, 5), i % 5);
        }
        for (let c = 0; c < group.length; c++) {
          const want = Buffer.concat(expected.filter((_, i) => i % 2 === 0 || c < 5));
          const got = await group[c].waitFor(want.length);
          assert.ok(got.equals(want), `connection ${c} got its messages in the order they were sent`);
        }
      });

      it('releases a record deleted while queued only after every send of it is written', async () => {
        const { clients: group, conns } = await harness.connect(50);
        clients = group;
        const value = pattern(9, 200000);
        const record = harness.engine.initRecord(value);
        harness.engine.sendRecord([Buffer.from('V\r\n'), record], conns);
        harness.engine.delRecord(record);
        for (const client of group) {
          const got = await client.waitFor(value.length + 3);
          assert.ok(got.subarray(3).equals(value), 'the deleted record is still sent whole');
        }
        const stats = recordStats(harness.engine);
        if (stats !== null) await harness.until(() => recordStats(harness.engine)?.live === 0, 'the record to be released');
      });

      it('drops queued, unstarted sends with unsendRecord, never part of a message', async () => {
        const reader = await Client.connect(harness.port, { paused: true });
        clients = [reader];
        await harness.until(() => harness.seen.opened.length === 1, 'the connection');
        const conn = harness.seen.opened[0];
        const value = pattern(4, 256 * 1024);
        const record = harness.engine.initRecord(value);
        const count = 64;
        for (let i = 0; i < count; i++) {
          harness.engine.sendRecord([Buffer.from(`M${String(i).padStart(3, '0')}`), record, Buffer.from('\r\n')], [conn]);
        }
        await sleep(200);
        const dropped = harness.engine.unsendRecord(record, [conn]);
        if (backend.name !== 'js') assert.ok(dropped > 0, 'a reader that does not read leaves sends to drop');
        harness.engine.delRecord(record);
        reader.socket.resume();
        const messageLength = 4 + value.length + 2;
        const got = await reader.waitFor((count - dropped) * messageLength);
        await sleep(200);
        assert.equal(reader.bytes().length, (count - dropped) * messageLength, 'exactly the sends not dropped arrive');
        for (let i = 0; i < count - dropped; i++) {
          const message = got.subarray(i * messageLength, (i + 1) * messageLength);
          assert.equal(message.toString('latin1', 0, 4), `M${String(i).padStart(3, '0')}`, 'the earliest sends are the ones kept');
          assert.ok(message.subarray(4, 4 + value.length).equals(value));
        }
      });

      it('releases the records queued on a connection when it closes', async () => {
        const reader = await Client.connect(harness.port, { paused: true });
        clients = [reader];
        await harness.until(() => harness.seen.opened.length === 1, 'the connection');
        const conn = harness.seen.opened[0];
        const record = harness.engine.initRecord(pattern(5, 512 * 1024));
        for (let i = 0; i < 32; i++) harness.engine.sendRecord([record], [conn]);
        harness.engine.delRecord(record);
        await sleep(100);
        reader.socket.destroy();
        await harness.until(() => harness.seen.closed.length === 1, 'the engine to see the close');
        assert.equal(harness.seen.closed[0], conn);
        if (recordStats(harness.engine) !== null) {
          await harness.until(() => recordStats(harness.engine)?.live === 0, 'the queued record to be released');
        }
        assert.deepEqual([...harness.engine.connections()], []);
      });

      it('hands over pipelined requests in batches, whole and in order', async () => {
        const [client] = (await harness.connect(1)).clients;
        clients = [client];
        harness.onRequests = (conn, batch, requests) => {
          harness.engine.sendRecord(
            requests.map((r) => Buffer.from(`OK ${r.trim()}\r\n`)),
            [conn],
          );
          return batch.count;
        };
        const lines = Array.from({ length: 300 }, (_, i) => `get key${i}\r\n`);
        client.socket.write(lines.join(''));
        const want = lines.map((l) => `OK ${l.trim()}\r\n`).join('');
        const got = await client.waitFor(want.length);
        assert.equal(got.toString('latin1'), want);
        const requests = harness.seen.batches.flatMap((b) => b.requests);
        assert.deepEqual(requests, lines);
        assert.ok(harness.seen.batches.length < 300, `${harness.seen.batches.length} batches for 300 pipelined requests`);
        assert.equal(harness.seen.bytesRead, lines.join('').length);
      });

      it('delivers a request split across packets once, when whole', async () => {
        const [client] = (await harness.connect(1)).clients;
        clients = [client];
        const parts = ['se', 't k 0 0 1', '0\r\n0123', '4', '56789', '\r', '\nget k\r\nge', 't', ' j\r\n'];
        for (const part of parts) {
          client.socket.write(part);
          await sleep(30);
        }
        await harness.until(() => harness.seen.batches.flatMap((b) => b.requests).length === 3, 'three requests');
        assert.deepEqual(
          harness.seen.batches.flatMap((b) => b.requests),
          ['set k 0 0 10\r\n0123456789\r\n', 'get k\r\n', 'get j\r\n'],
        );
        assert.ok(harness.seen.batches[0].firstCompletesData, 'the set completed a data block that spanned reads');
        // A large value split in two: delivered once, whole.
        const value = 'v'.repeat(200000);
        client.socket.write(`set big 0 0 ${value.length}\r\n${value.slice(0, 70000)}`);
        await sleep(100);
        client.socket.write(`${value.slice(70000)}\r\n`);
        await harness.until(() => harness.seen.batches.flatMap((b) => b.requests).length === 4, 'the large set');
        assert.equal(harness.seen.batches[harness.seen.batches.length - 1].requests[0], `set big 0 0 ${value.length}\r\n${value}\r\n`);
      });

      it('swallows the data of a value too large to store instead of buffering it', async () => {
        const [client] = (await harness.connect(1)).clients;
        clients = [client];
        const size = 3 * 1024 * 1024;
        client.socket.write(`set huge 0 0 ${size}\r\n`);
        const chunk = Buffer.alloc(64 * 1024, 0x61);
        for (let sent = 0; sent < size; sent += chunk.length) {
          client.socket.write(chunk.subarray(0, Math.min(chunk.length, size - sent)));
        }
        client.socket.write('\r\nget after\r\n');
        await harness.until(() => harness.seen.batches.flatMap((b) => b.requests).length >= 2, 'the requests around the value');
        await sleep(50);
        // The value's CR LF belongs to the swallowed data block.
        const requests = harness.seen.batches.flatMap((b) => b.requests);
        assert.deepEqual(requests, [`set huge 0 0 ${size}\r\n`, 'get after\r\n']);
        assert.equal(harness.seen.bytesRead, `set huge 0 0 ${size}\r\n`.length + size + '\r\nget after\r\n'.length);
      });

      it('delivers again the requests the application did not handle, after output drains', async () => {
        const [client] = (await harness.connect(1)).clients;
        clients = [client];
        let calls = 0;
        harness.onRequests = (conn, batch, requests) => {
          calls++;
          // Take one request per call, answering each.
          harness.engine.sendRecord([Buffer.from(`R ${requests[0].trim()}\r\n`)], [conn]);
          return Math.min(1, batch.count);
        };
        client.socket.write('get a\r\nget b\r\nget c\r\n');
        const want = 'R get a\r\nR get b\r\nR get c\r\n';
        const got = await client.waitFor(want.length);
        assert.equal(got.toString('latin1'), want);
        assert.equal(calls, 3);
      });

      it('end() closes after the replies are written; destroy() closes at once', async () => {
        const { clients: pair, conns } = await harness.connect(2);
        clients = pair;
        const record = harness.engine.initRecord(pattern(6, 100000));
        harness.engine.sendRecord([Buffer.from('bye\r\n'), record], [conns[0]]);
        conns[0].end();
        const got = await pair[0].waitFor(100005);
        assert.ok(got.subarray(5).equals(pattern(6, 100000)));
        await pair[0].waitClosed();
        conns[1].destroy();
        await pair[1].waitClosed();
        await harness.until(() => harness.seen.closed.length === 2, 'both closes');
        harness.engine.delRecord(record);
      });

      it('drain() answers what was received, then closes every connection', async () => {
        const { clients: group } = await harness.connect(3);
        clients = group;
        harness.onRequests = (conn, batch) => {
          harness.engine.sendRecord([Buffer.from(`done ${batch.count}\r\n`)], [conn]);
          return batch.count;
        };
        group[0].socket.write('get x\r\n');
        await group[0].waitFor('done 1\r\n'.length);
        await harness.engine.stopListening();
        await harness.engine.drain(2000);
        for (const client of group) await client.waitClosed();
        assert.equal(harness.seen.closed.length, 3);
        assert.deepEqual([...harness.engine.connections()], []);
      });
    });
  }
});
