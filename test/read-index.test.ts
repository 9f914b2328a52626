/*
 * GET hits answered by the native engine from its read index (native/src/read_index.h,
 * serve_hits.cc), held to the replies of the js engine, where every request is answered by
 * JavaScript: the same pipelined sequences to both, byte for byte; a write on one
 * connection seen by the next read on another; expiry and flush_all seen to the second on
 * a manual clock. Each check also asserts that the engine really answered most hits.
 */

import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, request } from './helpers/client';
import { defaultConfig } from '../server/config';
import { JsRecordsEngine } from '../server/records/js';
import { NativeRecordsEngine } from '../server/records/native';
import { DEFAULT_NATIVE_OPTIONS } from '../server/records/native-options';
import { loadNativeBinding } from '../server/records/native-addon';
import type { RecordsEngine } from '../server/records/types';
import { Server } from '../server/server';
import { ManualClock } from '../server/store/clock';
import { missing } from '../conformance/lib/required';
import { Random } from './helpers/random';

let nativeUnavailable: string | null = null;
try {
  loadNativeBinding();
} catch (err) {
  nativeUnavailable = (err as Error).message;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

interface Running {
  server: Server;
  engine: RecordsEngine;
  port: number;
  clock: ManualClock;
}

async function start(engine: RecordsEngine, options: { recordsMinSize?: number } = {}): Promise<Running> {
  const config = defaultConfig();
  config.listen = ['127.0.0.1'];
  config.port = await freePort();
  if (options.recordsMinSize !== undefined) config.recordsMinSize = options.recordsMinSize;
  const clock = new ManualClock();
  const server = new Server(config, engine, clock);
  await server.start();
  return { server, engine, port: config.port, clock };
}

async function stop(running: Running): Promise<void> {
  await running.server.stop();
  (running.engine as { close?: () => void }).close?.();
}

/** Requests answered by the engine itself so far (the `records_index_served` stat). */
async function served(port: number): Promise<number> {
  const socket = await connect(port);
  const reply = await request(socket, 'stats\r\n', 'END\r\n');
  socket.destroy();
  const line = reply.split('\r\n').find((l) => l.startsWith('STAT records_index_served '));
  return line === undefined ? 0 : Number(line.split(' ')[2]);
}

/** Sends bytes and collects what comes back until `done` says the reply is whole. */
function exchange(socket: net.Socket, bytes: Buffer, done: (got: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (data: Buffer) => {
      chunks.push(data);
      length += data.length;
      const got = Buffer.concat(chunks, length);
      if (done(got)) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.write(bytes);
  });
}

/** Text sequences end in `version`, whose reply nothing else gives. */
const VERSION_LINE = Buffer.from('VERSION 1.6.18\r\n');
const endsWithVersion = (got: Buffer) =>
  got.length >= VERSION_LINE.length && got.subarray(got.length - VERSION_LINE.length).equals(VERSION_LINE);

/** A binary request (memcached's binary protocol header, then extras, key, value). */
function binary(opcode: number, key: string, opaque: number, extras = Buffer.alloc(0), value = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(24);
  header[0] = 0x80;
  header[1] = opcode;
  header.writeUInt16BE(key.length, 2);
  header[4] = extras.length;
  header.writeUInt32BE(extras.length + key.length + value.length, 8);
  header.writeUInt32BE(opaque, 12);
  return Buffer.concat([header, extras, Buffer.from(key, 'latin1'), value]);
}

/** Binary replies are whole once the last NOOP's reply (opaque 0xffffffff) is in. */
function binaryDone(got: Buffer): boolean {
  let at = 0;
  let last = -1;
  while (at + 24 <= got.length) {
    const length = 24 + got.readUInt32BE(at + 8);
    if (at + length > got.length) return false;
    last = at;
    at += length;
  }
  return last >= 0 && at === got.length && got[last + 1] === 0x0a && got.readUInt32BE(last + 12) === 0xffffffff;
}

/**
 * One random pipelined sequence over a few keys, text and meta: writes, reads, deletes.
 * 'YQ==' is also 'a' in base64, which `ms YQ== ... b` stores under 'a'.
 */
function textSequence(random: Random): Buffer {
  const keys = ['a', 'b', 'c', 'long', 'YQ=='];
  const parts: string[] = [];
  const n = 1 + random.below(8);
  for (let i = 0; i < n; i++) {
    const key = random.pick(keys);
    const value = key === 'long' ? 'L'.repeat(200 + random.below(3000)) : 'v'.repeat(random.below(12));
    switch (random.below(13)) {
      case 0:
      case 1:
        parts.push(`set ${key} ${random.below(5)} 0 ${value.length}\r\n${value}\r\n`);
        break;
      case 2:
        parts.push(`delete ${key}\r\n`);
        break;
      case 3:
        parts.push(`append ${key} 0 0 2\r\nxy\r\n`);
        break;
      case 4:
        parts.push(`ms ${key} ${value.length} F${random.below(9)}\r\n${value}\r\n`);
        break;
      case 5:
        parts.push(`get ${key} ${random.pick(keys)}\r\n`);
        break;
      case 6:
        parts.push(`gets ${key}\r\n`);
        break;
      case 7:
        parts.push(`mg ${key} s v f c k t O${random.below(1000)}\r\n`);
        break;
      case 8:
        parts.push(`mg ${key} v q\r\nmn\r\n`);
        break;
      case 9:
        parts.push(`incr ${key} 3\r\n`);
        break;
      case 10:
        parts.push(`touch ${key} ${random.below(3) * 100}\r\n`);
        break;
      case 11:
        parts.push(`ms YQ== ${value.length} T0 b\r\n${value}\r\n`);
        break;
      default:
        parts.push(`get ${key}\r\n`);
        break;
    }
    // Often a run of reads, so that whole batches are hits.
    if (random.below(2) === 0) parts.push(`get ${key}\r\nmg ${key} v\r\n`);
  }
  return Buffer.from(parts.join('') + 'version\r\n', 'latin1');
}

/** The same in the binary protocol: SET, GET, GETK, GETQ, GETKQ, DELETE, each sequence ending in NOOP. */
function binarySequence(random: Random, opaque: { next: number }): Buffer {
  const keys = ['a', 'b', 'c'];
  const parts: Buffer[] = [];
  const n = 1 + random.below(8);
  for (let i = 0; i < n; i++) {
    const key = random.pick(keys);
    const op = random.below(8);
    if (op < 2) {
      const extras = Buffer.alloc(8);
      extras.writeUInt32BE(random.below(100), 0);
      parts.push(binary(0x01, key, opaque.next++, extras, Buffer.from('x'.repeat(random.below(20)))));
    } else if (op === 2) {
      parts.push(binary(0x04, key, opaque.next++));
    } else {
      parts.push(binary(random.pick([0x00, 0x09, 0x0c, 0x0d]), key, opaque.next++));
    }
  }
  parts.push(binary(0x0a, '', 0xffffffff));
  return Buffer.concat(parts);
}

describe('the native read index: hits answered by the engine', function () {
  this.timeout(300000);
  let native: Running;
  let js: Running;

  before(async function () {
    if (nativeUnavailable !== null) missing(this, 'native', nativeUnavailable);
  });

  beforeEach(async () => {
    // Four I/O threads, as memcached's default -t: connections land on different threads.
    native = await start(new NativeRecordsEngine({ ...DEFAULT_NATIVE_OPTIONS, threads: 4 }));
    js = await start(new JsRecordsEngine());
  });

  afterEach(async () => {
    await stop(native);
    await stop(js);
  });

  it('answers 10,000 random pipelined text and meta sequences as JavaScript does, hits by the engine', async () => {
    const random = new Random(0x1d3);
    const a = await connect(native.port);
    const b = await connect(js.port);
    let hits = 0;
    for (let round = 0; round < 10000; round++) {
      const bytes = textSequence(random);
      const [got, expected] = await Promise.all([exchange(a, bytes, endsWithVersion), exchange(b, bytes, endsWithVersion)]);
      assert.equal(got.toString('latin1'), expected.toString('latin1'), `sequence ${round}: ${bytes.toString('latin1')}`);
      hits += (expected.toString('latin1').match(/^(VALUE|VA) /gm) ?? []).length;
    }
    a.destroy();
    b.destroy();
    const answered = await served(native.port);
    assert.ok(answered > 0, 'the engine answered some requests itself');
    assert.equal(await served(js.port), 0, 'the js engine has no index');
    console.log(`    ${answered} requests answered by the engine, ${hits} values in the replies`);
  });

  it('answers 10,000 random pipelined binary sequences as JavaScript does', async () => {
    const random = new Random(0xb1);
    const a = await connect(native.port);
    const b = await connect(js.port);
    const opaque = { next: 1 };
    for (let round = 0; round < 10000; round++) {
      const bytes = binarySequence(random, opaque);
      const [got, expected] = await Promise.all([exchange(a, bytes, binaryDone), exchange(b, bytes, binaryDone)]);
      assert.equal(got.toString('hex'), expected.toString('hex'), `sequence ${round}`);
    }
    a.destroy();
    b.destroy();
    assert.ok((await served(native.port)) > 1000, 'the engine answered binary hits itself');
  });

  it('counts the hits it answers in stats as memcached counts them', async () => {
    const socket = await connect(native.port);
    await request(socket, 'set k 0 0 1\r\nx\r\n');
    const before = await served(native.port);
    await exchange(socket, Buffer.from('get k k\r\nget k\r\nmg k v\r\nmn\r\n'), (got) => got.toString().endsWith('MN\r\n'));
    assert.equal((await served(native.port)) - before, 4, 'all four requests answered by the engine');
    const stats = await request(socket, 'stats\r\n', 'END\r\n');
    const stat = (name: string) => Number((stats.match(new RegExp(`STAT ${name} (\\d+)`)) as RegExpMatchArray)[1]);
    assert.equal(stat('cmd_get'), 4);
    assert.equal(stat('get_hits'), 4);
    assert.equal(stat('get_misses'), 0);
    const slabs = await request(socket, 'stats slabs\r\n', 'END\r\n');
    assert.match(slabs, /STAT \d+:get_hits 4\r\n/);
    socket.destroy();
  });

  it('ends a meta get line at a NUL byte, as memcached does, also when the flag after it would ask for the value', async () => {
    // memcached 1.6.18: `mg k \0 v` is `mg k`, answered HD without the value (found by fuzz/hits).
    const bytes = Buffer.from('mg k \0 v\r\nmg k s \0 v\r\nmn\r\n', 'latin1');
    const expected = 'HD\r\nHD s1\r\nMN\r\n';
    for (const running of [native, js]) {
      const socket = await connect(running.port);
      // Stored first: a batch with a set in it is answered by JavaScript whole.
      await request(socket, 'set k 0 0 1\r\nx\r\n');
      const got = await exchange(socket, bytes, (reply) => reply.toString('latin1').endsWith('MN\r\n'));
      assert.equal(got.toString('latin1'), expected);
      socket.destroy();
    }
  });

  it('sees a write on one connection from the next read on another, 8 pairs', async () => {
    // 100,000 rounds a pair; the sanitizer runs ask for fewer (READ_INDEX_ROUNDS).
    const rounds = Number(process.env.READ_INDEX_ROUNDS ?? 100000);
    await Promise.all(
      Array.from({ length: 8 }, async (_, pair) => {
        const writer = await connect(native.port);
        const reader = await connect(native.port);
        for (let round = 0; round < rounds; round++) {
          const value = `${pair}:${round}`;
          if (round % 10 === 9) {
            assert.equal(await request(writer, `delete p${pair}\r\n`), 'DELETED\r\n');
            assert.equal(await request(reader, `get p${pair}\r\n`), 'END\r\n', `pair ${pair} round ${round}`);
            continue;
          }
          assert.equal(await request(writer, `set p${pair} 0 0 ${value.length}\r\n${value}\r\n`), 'STORED\r\n');
          assert.equal(
            await request(reader, `get p${pair}\r\n`, 'END\r\n'),
            `VALUE p${pair} 0 ${value.length}\r\n${value}\r\nEND\r\n`,
            `pair ${pair} round ${round}`,
          );
        }
        writer.destroy();
        reader.destroy();
      }),
    );
    assert.ok((await served(native.port)) >= 8 * rounds * 0.5, 'most reads answered by the engine');
  });

  it('keeps 20,000 keys through sets, overwrites and deletes: every live one answered by the engine, no dead one', async () => {
    const random = new Random(0x5eed);
    const socket = await connect(native.port);
    const live = new Map<string, string>();
    const batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      batch.push('mn\r\n');
      await exchange(socket, Buffer.from(batch.join('')), (got) => got.toString('latin1').endsWith('MN\r\n'));
      batch.length = 0;
    };
    for (let i = 0; i < 60000; i++) {
      const key = `key:${random.below(20000)}`;
      if (random.below(3) === 0) {
        batch.push(`delete ${key} noreply\r\n`);
        live.delete(key);
      } else {
        const value = `${i}`;
        batch.push(`set ${key} 0 0 ${value.length} noreply\r\n${value}\r\n`);
        live.set(key, value);
      }
      if (batch.length === 500) await flush();
    }
    await flush();
    const all = Array.from({ length: 20000 }, (_, k) => `key:${k}`);
    const liveKeys = all.filter((key) => live.has(key));
    const deadKeys = all.filter((key) => !live.has(key));
    assert.ok(liveKeys.length > 5000 && deadKeys.length > 5000, `${liveKeys.length} live and ${deadKeys.length} dead keys`);
    const ask = async (keys: string[]) =>
      (
        await exchange(socket, Buffer.from(`${keys.map((key) => `get ${key}\r\n`).join('')}mn\r\n`), (g) =>
          g.toString('latin1').endsWith('MN\r\n'),
        )
      ).toString('latin1');
    // Live keys in batches of hits, all answered by the engine; dead ones go to JS.
    const before = await served(native.port);
    for (let i = 0; i < liveKeys.length; i += 500) {
      const keys = liveKeys.slice(i, i + 500);
      const expected = keys.map((key) => `VALUE ${key} 0 ${(live.get(key) as string).length}\r\n${live.get(key)}\r\nEND\r\n`);
      assert.equal(await ask(keys), `${expected.join('')}MN\r\n`, `live keys from ${keys[0]}`);
    }
    const answered = (await served(native.port)) - before;
    assert.ok(answered >= liveKeys.length, `${answered} requests answered by the engine for ${liveKeys.length} live keys`);
    for (let i = 0; i < deadKeys.length; i += 500) {
      const keys = deadKeys.slice(i, i + 500);
      assert.equal(await ask(keys), `${'END\r\n'.repeat(keys.length)}MN\r\n`, `dead keys from ${keys[0]}`);
    }
    socket.destroy();
  });

  it('sees expiry and a delayed flush_all to the second on a manual clock', async () => {
    const socket = await connect(native.port);
    const clock = native.clock;
    await request(socket, 'set t 0 10 1\r\nx\r\n');
    let before = await served(native.port);
    assert.equal(await request(socket, 'get t\r\n', 'END\r\n'), 'VALUE t 0 1\r\nx\r\nEND\r\n');
    assert.equal(await request(socket, 'mg t t v\r\n'), 'VA 1 t10\r\nx\r\n');
    clock.advance(9);
    assert.equal(await request(socket, 'mg t t\r\n'), 'HD t1\r\n');
    assert.equal((await served(native.port)) - before, 3, 'hits before expiry answered by the engine');
    clock.advance(1);
    assert.equal(await request(socket, 'get t\r\n', 'END\r\n'), 'END\r\n', 'expired at its second');

    await request(socket, 'set f 0 0 1\r\ny\r\n');
    assert.equal(await request(socket, 'flush_all 5\r\n'), 'OK\r\n');
    before = await served(native.port);
    // memcached flushes what was stored at or before one second ahead of the delay (oldest_live).
    clock.advance(3);
    assert.equal(await request(socket, 'get f\r\n', 'END\r\n'), 'VALUE f 0 1\r\ny\r\nEND\r\n');
    assert.equal((await served(native.port)) - before, 1, 'a hit before the flush answered by the engine');
    clock.advance(1);
    assert.equal(await request(socket, 'get f\r\n', 'END\r\n'), 'END\r\n', 'flushed at its second');
    // Stored in the flush's last second, an item is flushed too (memcached's oldest_live); one after is not.
    clock.advance(1);
    await request(socket, 'set g 0 0 1\r\nz\r\n');
    assert.equal(await request(socket, 'get g\r\n', 'END\r\n'), 'VALUE g 0 1\r\nz\r\nEND\r\n');
    socket.destroy();
  });
});
