/*
 * The records library (server/records/library.ts, the package's entry point) on every
 * backend this machine runs: messages framed as the C framer and TypeScript agree, a record
 * sent to 500 peers arrives exact, priorities and unsend observed on the wire, deleted
 * records still arriving whole, adopted and connected sockets working as accepted ones, and
 * what happens to peers (backpressure, resets, closes, queues past their limit, messages
 * the framing refuses) reported as events with codes.
 *
 * js and native run on the host (npm test); kmod runs where the records module is loaded,
 * in the qemu guest of kmod/test.sh, which runs this file's compiled copy (dist/test) for
 * kmod alone: the other two are proven on the host.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { type Frame, FrameStatus, newFrame } from '../server/framing';
import { type MessageFraming, messageFramer } from '../server/records/message-framing';
import { loadNativeBinding } from '../server/records/native-addon';
import { RECORDS_DEVICE } from '../server/records/kmod';
import { type Peer, type PeerError, type Records, type RecordsLibraryError, openRecords } from '../server/records/library';
import type { CloseReason } from '../server/records/types';
import { missing } from '../conformance/lib/required';

/** Why the native addon cannot be loaded here, or null. */
function nativeUnavailable(): string | null {
  try {
    loadNativeBinding();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

const LENGTH4: MessageFraming = { kind: 'length', width: 4 };

/** A length-prefixed message: 4-byte big-endian length, then the payload. */
function message(payload: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return Buffer.concat([head, payload]);
}

function payload(n: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed * 7) & 0xff;
  return b;
}

/** Reads length-prefixed messages from a socket. */
class MessageReader {
  private pending = Buffer.alloc(0);
  readonly messages: Buffer[] = [];
  private waiters: (() => void)[] = [];
  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      while (this.pending.length >= 4) {
        const n = this.pending.readUInt32BE(0);
        if (this.pending.length < 4 + n) break;
        this.messages.push(this.pending.subarray(4, 4 + n));
        this.pending = this.pending.subarray(4 + n);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async waitFor(count: number): Promise<void> {
    while (this.messages.length < count) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  get partial(): number {
    return this.pending.length;
  }
}

function connectTo(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function accepted(records: Records, count: number): Promise<Peer[]> {
  const peers: Peer[] = [];
  return new Promise((resolve) => {
    const on = (peer: Peer) => {
      peers.push(peer);
      if (peers.length === count) {
        records.off('connection', on);
        resolve(peers);
      }
    };
    records.on('connection', on);
  });
}

function frameAll(framer: ReturnType<typeof messageFramer>, bytes: Buffer, out: Frame): string {
  framer(bytes, 0, bytes.length, out);
  return out.status === FrameStatus.Whole ? `whole ${out.length}` : out.status === FrameStatus.Close ? 'close' : `need ${out.needed}`;
}

describe('records library: framings', () => {
  const framings: MessageFraming[] = [
    { kind: 'length', width: 1 },
    { kind: 'length', width: 2, littleEndian: true, offset: 1, maxMessage: 300 },
    { kind: 'length', width: 4 },
    { kind: 'length', width: 8, littleEndian: true, maxMessage: 1000 },
    { kind: 'line', maxMessage: 64 },
  ];

  it('the C framer (addon) and the TypeScript framer agree on every prefix of random streams', function () {
    const why = nativeUnavailable();
    if (why !== null) missing(this, 'native', why);
    const binding = loadNativeBinding();
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (const framing of framings) {
      const framer = messageFramer(framing);
      const out = newFrame();
      const proto = framing.kind === 'length' ? 4 : 5;
      const f = framing as { width?: number; littleEndian?: boolean; offset?: number; maxMessage?: number };
      for (let round = 0; round < 300; round++) {
        const bytes = Buffer.from(Array.from({ length: 1 + (rand() % 40) }, () => (rand() % 5 === 0 ? 0x0a : rand() % 256)));
        if (framing.kind === 'length' && round % 3 === 0)
          bytes.fill(0, Math.min(bytes.length, f.offset ?? 0), Math.min(bytes.length, (f.offset ?? 0) + (f.width ?? 4) - 1));
        for (let end = 0; end <= bytes.length; end++) {
          const part = bytes.subarray(0, end);
          const ts = frameAll(framer, part, out);
          const [status, length, , needed] = binding.frame(
            part,
            proto,
            1 << 20,
            1,
            512 * 1024,
            0,
            f.maxMessage ?? 1 << 20,
            f.offset ?? 0,
            f.width ?? 4,
            f.littleEndian ? 1 : 0,
          );
          const c = status === 1 ? `whole ${length}` : status === 3 ? 'close' : `need ${needed}`;
          assert.equal(c, ts, `${JSON.stringify(framing)} on ${part.toString('hex')}`);
        }
      }
    }
  });

  it('refuses framings that cannot be framed', () => {
    assert.throws(() => messageFramer({ kind: 'length', width: 3 as 4 }), RangeError);
    assert.throws(() => messageFramer({ kind: 'length', width: 4, offset: 10, maxMessage: 12 }), RangeError);
    for (const backend of ['native', 'kmod'] as const) {
      assert.throws(
        () => openRecords({ framing: () => 0, backend }),
        (err: RecordsLibraryError) => err.code === 'RC_FRAMING_UNSUPPORTED',
      );
    }
    assert.throws(() => openRecords({ framing: LENGTH4, highWaterMark: 10, lowWaterMark: 20 }), RangeError);
  });
});

/** The peer's close, with its reason, and the peerError before it if any. */
function closeOf(records: Records, peer: Peer): Promise<{ reason: CloseReason; errors: PeerError[] }> {
  const errors: PeerError[] = [];
  const onError = (e: PeerError) => {
    if (e.peer === peer) errors.push(e);
  };
  records.on('peerError', onError);
  return new Promise((resolve) => {
    const onClose = (closed: Peer, reason: CloseReason) => {
      if (closed !== peer) return;
      records.off('close', onClose);
      records.off('peerError', onError);
      resolve({ reason, errors });
    };
    records.on('close', onClose);
  });
}

const inGuest = fs.existsSync(RECORDS_DEVICE);
const BACKENDS = inGuest ? (['kmod'] as const) : (['js', 'native'] as const);

for (const backend of BACKENDS) {
  describe(`records library on ${backend}`, function () {
    this.timeout(inGuest ? 600000 : 60000);
    let records: Records;
    let options = {};

    before(function () {
      const why = backend !== 'js' ? nativeUnavailable() : null;
      if (why !== null) missing(this, 'native', why);
    });
    beforeEach(() => {
      records = openRecords({ backend, framing: LENGTH4, ...options });
      assert.equal(records.backend, backend);
    });
    afterEach(async () => {
      await records.close();
    });

    it('delivers whole messages sent a byte at a time, in order', async () => {
      const { port } = await records.listen(0);
      const socket = await connectTo(port);
      const sent = [0, 1, 100, 70000].map((n, i) => message(payload(n, i)));
      const got = records.messages();
      const stream = Buffer.concat(sent);
      for (let i = 0; i < stream.length; i += i < 200 ? 1 : 4096) socket.write(stream.subarray(i, i < 200 ? i + 1 : i + 4096));
      for (const expected of sent) {
        const { value } = await got.next();
        assert.ok(value.data.equals(expected), `a message of ${expected.length} bytes`);
      }
      socket.destroy();
    });

    it('keeps messages that arrive before messages() is called', async () => {
      const { port } = await records.listen(0);
      const peerReady = accepted(records, 1);
      const socket = await connectTo(port);
      await peerReady;
      const sent = [message(payload(10, 1)), message(payload(300_000, 2))];
      socket.write(Buffer.concat(sent));
      // The bytes reach the engine before anything iterates: nothing may be dropped.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const got = records.messages();
      for (const expected of sent) {
        const { value } = await got.next();
        assert.ok(value.data.equals(expected), `a message of ${expected.length} bytes`);
      }
      socket.destroy();
    });

    it('sends one record of 200 KB to a group of 500 peers, each getting it exact', async () => {
      const { port } = await records.listen(0);
      const peersReady = accepted(records, 500);
      const sockets = await Promise.all(Array.from({ length: 500 }, () => connectTo(port)));
      const readers = sockets.map((s) => new MessageReader(s));
      const group = records.group(await peersReady);
      assert.equal(group.size, 500);
      const body = payload(200_000, 3);
      const record = records.initRecord(message(body));
      records.sendRecord(record, group);
      records.delRecord(record);
      await Promise.all(readers.map((r) => r.waitFor(1)));
      for (const r of readers) {
        assert.equal(r.messages.length, 1);
        assert.ok(r.messages[0].equals(body));
      }
      for (const s of sockets) s.destroy();
    });

    it('connects out and adopts sockets: they send and receive as accepted ones do', async () => {
      const received: Buffer[] = [];
      const server = net.createServer((s) => {
        const reader = new MessageReader(s);
        s.write(message(Buffer.from('hello from the server')));
        void reader.waitFor(1).then(() => received.push(reader.messages[0]));
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      const got = records.messages();
      const peer = await records.connect(port);
      assert.match(peer.remote, new RegExp(`^tcp:127\\.0\\.0\\.1:${port}$`));
      const first = await got.next();
      assert.equal(first.value.peer, peer);
      assert.equal(first.value.data.subarray(4).toString(), 'hello from the server');
      records.sendRecord([message(Buffer.from('hello from the peer'))], peer);
      while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(received[0].toString(), 'hello from the peer');
      server.close();
    });

    /** A listening engine with one accepted peer and the client's socket. */
    async function onePeer(): Promise<{ peer: Peer; socket: net.Socket }> {
      const { port } = await records.listen(0);
      const peerReady = accepted(records, 1);
      const socket = await connectTo(port);
      const [peer] = await peerReady;
      return { peer, socket };
    }

    describe('peer events', () => {
      before(() => {
        options = { highWaterMark: 256 * 1024, lowWaterMark: 64 * 1024, maxQueuedBytes: 256 << 20 };
      });
      after(() => {
        options = {};
      });

      it("reports a peer that stops reading once ('backpressure'), and once when it drains ('drain')", async () => {
        const { peer, socket } = await onePeer();
        socket.pause();
        const events: string[] = [];
        records.on('backpressure', (p: Peer) => p === peer && events.push('backpressure'));
        records.on('drain', (p: Peer) => p === peer && events.push('drain'));
        const block = records.initRecord(message(payload(1 << 20, 5)));
        for (let i = 0; i < 8; i++) records.sendRecord(block, peer);
        records.delRecord(block);
        while (events.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.deepEqual(events, ['backpressure']);
        const reader = new MessageReader(socket);
        socket.resume();
        await reader.waitFor(8);
        while (events.length < 2) await new Promise((resolve) => setTimeout(resolve, 10));
        assert.deepEqual(events, ['backpressure', 'drain']);
        for (const m of reader.messages) assert.ok(m.equals(payload(1 << 20, 5)));
        socket.destroy();
      });
    });

    describe('a queue limit', () => {
      before(() => {
        options = { maxQueuedBytes: 2 << 20 };
      });
      after(() => {
        options = {};
      });

      it('closes a peer whose queued bytes pass maxQueuedBytes, with RC_QUEUE_LIMIT; the others go on', async () => {
        const { port } = await records.listen(0);
        const peersReady = accepted(records, 2);
        const slow = await connectTo(port);
        const fast = await connectTo(port);
        const peers = await peersReady;
        const slowPeer = peers.find((p) => p.remote.endsWith(`:${slow.localPort}`)) as Peer;
        const fastPeer = peers.find((p) => p !== slowPeer) as Peer;
        slow.pause();
        slow.on('error', () => undefined);
        const closed = closeOf(records, slowPeer);
        const reader = new MessageReader(fast);
        const block = records.initRecord(message(payload(512 * 1024, 9)));
        for (let i = 0; i < 64; i++) {
          records.sendRecord(block, [slowPeer]);
          // The reading peer keeps up: its queue never nears the limit.
          if (i % 8 === 0) {
            records.sendRecord(block, [fastPeer]);
            await reader.waitFor(i / 8 + 1);
          }
        }
        records.delRecord(block);
        const { reason, errors } = await closed;
        assert.equal(reason, 'RC_QUEUE_LIMIT');
        assert.deepEqual(
          errors.map((e) => e.code),
          ['RC_QUEUE_LIMIT'],
        );
        assert.equal(reader.messages.length, 8);
        for (const m of reader.messages) assert.ok(m.equals(payload(512 * 1024, 9)));
        slow.destroy();
        fast.destroy();
      });
    });

    it('reports a reset (RC_PEER_RESET) with peerError, a peer that ends (RC_PEER_CLOSED) and a local close (RC_CLOSED) without', async () => {
      const reset = await onePeer();
      const resetClosed = closeOf(records, reset.peer);
      reset.socket.resetAndDestroy();
      const r = await resetClosed;
      assert.equal(r.reason, 'RC_PEER_RESET');
      assert.deepEqual(
        r.errors.map((e) => e.code),
        ['RC_PEER_RESET'],
      );

      const ended = await onePeer();
      const endClosed = closeOf(records, ended.peer);
      ended.socket.end();
      const e = await endClosed;
      assert.equal(e.reason, 'RC_PEER_CLOSED');
      assert.deepEqual(e.errors, []);

      const local = await onePeer();
      const localClosed = closeOf(records, local.peer);
      local.peer.destroy();
      const l = await localClosed;
      assert.equal(l.reason, 'RC_CLOSED');
      assert.deepEqual(l.errors, []);
      local.socket.destroy();
    });

    it('closes a peer whose message is longer than maxMessage, with RC_FRAMING, after the whole ones before it', async () => {
      const { peer, socket } = await onePeer();
      const closed = closeOf(records, peer);
      const got = records.messages();
      const head = Buffer.alloc(4);
      head.writeUInt32BE(2 << 20);
      socket.write(Buffer.concat([message(Buffer.from('fine')), head, Buffer.alloc(100)]));
      const first = await got.next();
      assert.equal(first.value.data.subarray(4).toString(), 'fine');
      const { reason, errors } = await closed;
      assert.equal(reason, 'RC_FRAMING');
      assert.deepEqual(
        errors.map((x) => x.code),
        ['RC_FRAMING'],
      );
      socket.destroy();
    });

    it('refuses to send a record after delRecord (RC_RECORD_DELETED); sends queued before still arrive whole', async () => {
      const { peer, socket } = await onePeer();
      const reader = new MessageReader(socket);
      const record = records.initRecord(message(payload(300_000, 4)));
      records.sendRecord(record, peer);
      records.delRecord(record);
      assert.throws(
        () => records.sendRecord(record, peer),
        (err: RecordsLibraryError) => err.code === 'RC_RECORD_DELETED',
      );
      assert.throws(
        () => records.sendRecord([{ record, offset: 0, length: 4 }], peer),
        (err: RecordsLibraryError) => err.code === 'RC_RECORD_DELETED',
      );
      await reader.waitFor(1);
      assert.ok(reader.messages[0].equals(payload(300_000, 4)));
      socket.destroy();
    });

    if (backend === 'js') {
      it('refuses priorities and unsend, which a net.Socket cannot honour, with codes', async () => {
        const record = records.initRecord(message(Buffer.from('x')));
        assert.throws(
          () => records.sendRecord(record, [], 1),
          (err: RecordsLibraryError) => err.code === 'RC_PRIORITY_UNSUPPORTED',
        );
        assert.throws(
          () => records.unsendRecord(record, []),
          (err: RecordsLibraryError) => err.code === 'RC_UNSEND_UNSUPPORTED',
        );
      });
    } else {
      it('writes a higher-priority message before lower ones not yet started', async () => {
        const { port } = await records.listen(0);
        const peerReady = accepted(records, 1);
        const socket = await connectTo(port);
        const [peer] = await peerReady;
        socket.pause();
        const low = Array.from({ length: 8 }, (_, i) => records.initRecord(message(payload(1 << 20, i))));
        for (const r of low) records.sendRecord(r, peer, 0);
        const urgent = message(Buffer.from('urgent'));
        // Let the first ones start: the socket's buffers fill while the client does not read.
        await new Promise((resolve) => setTimeout(resolve, 200));
        records.sendRecord([urgent], peer, 10);
        const reader = new MessageReader(socket);
        socket.resume();
        await reader.waitFor(9);
        const at = reader.messages.findIndex((m) => m.toString() === 'urgent');
        assert.ok(at >= 0 && at < 8, `the urgent message arrived at position ${at} of 9`);
        for (const m of reader.messages) if (m.length !== 6) assert.equal(m.length, 1 << 20, 'only whole messages');
        socket.destroy();
      });

      it('unsends only what has not started; what arrives is whole, and deleted records still arrive', async () => {
        const { port } = await records.listen(0);
        const peerReady = accepted(records, 1);
        const socket = await connectTo(port);
        const [peer] = await peerReady;
        socket.pause();
        const kept = records.initRecord(message(payload(1 << 20, 1)));
        const dropped = records.initRecord(message(payload(1 << 20, 2)));
        records.sendRecord(kept, peer);
        for (let i = 0; i < 6; i++) records.sendRecord(dropped, peer);
        records.delRecord(kept);
        await new Promise((resolve) => setTimeout(resolve, 200));
        const n = records.unsendRecord(dropped, peer);
        assert.ok(n >= 1 && n <= 6, `unsent ${n} of 6`);
        records.sendRecord([message(Buffer.from('end'))], peer);
        const reader = new MessageReader(socket);
        socket.resume();
        await reader.waitFor(1 + (6 - n) + 1);
        assert.equal(reader.messages.length, 8 - n);
        assert.ok(reader.messages[0].equals(payload(1 << 20, 1)), 'the deleted record arrived whole');
        for (let i = 1; i < 7 - n; i++) assert.ok(reader.messages[i].equals(payload(1 << 20, 2)));
        assert.equal(reader.messages.at(-1)?.toString(), 'end');
        assert.equal(reader.partial, 0);
        socket.destroy();
      });
    }
  });
}

// The guest packs no examples (kmod/harness/stage-app.sh): the example runs on the host.
const EXAMPLE = path.resolve(__dirname, '..', 'examples', 'broadcast.js');
(inGuest ? () => undefined : describe)('records library: the broadcast example', function () {
  this.timeout(120000);
  for (const backend of ['js', 'native'] as const) {
    it(`runs on ${backend} through the package's public entry point`, function () {
      if (backend === 'native') {
        const why = nativeUnavailable();
        if (why !== null) missing(this, 'native', why);
      }
      const run = spawnSync(process.execPath, [EXAMPLE, '4', '3', backend], { encoding: 'utf8', timeout: 100000 });
      assert.equal(run.status, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^${backend}: 3 blocks of 1 MB to 4 validators in .* every validator saw 3 commits$`, 'm'));
    });
  }
});
