// The HTTP listener under abuse: garbage, heads over the limits, a trickle of header bytes,
// thousands of keep-alive connections, and a client that pipelines requests and never reads.
// Each case ends by checking that the memcached listener and a new HTTP connection are still
// answered: no abuse of one connection harms the others.
import assert from 'node:assert/strict';
import { WireConnection } from './lib/wire';
import { Prng } from './lib/prng';
import { type HttpTarget, httpReplies, memcached, memcachedAnswers, parseReplies, residentKiB, stat, useHttpServer } from './lib/http';

const backend = process.env.RC_RECORDS ?? 'auto';

async function set(target: HttpTarget, key: string, value: Buffer): Promise<void> {
  const header = Buffer.from(`set ${key} 0 0 ${value.length}\r\n`, 'latin1');
  assert.equal(await memcached(target, Buffer.concat([header, value, Buffer.from('\r\n')])), 'STORED\r\n');
}

/** Both listeners still answer, on new connections. */
async function stillServing(target: HttpTarget): Promise<void> {
  assert.ok(await memcachedAnswers(target), 'the memcached listener answers');
  await set(target, 'after-abuse', Buffer.from('fine'));
  const response = await fetch(`${target.origin}/after-abuse`);
  assert.equal(response.status, 200, 'a new HTTP connection is answered');
  assert.equal(await response.text(), 'fine');
}

/** Sends `bytes` on a new connection; the reply, read until the server closes (or 10 s pass). */
async function sendAndReadToClose(target: HttpTarget, bytes: Buffer | string): Promise<{ reply: string; closed: boolean }> {
  const connection = await WireConnection.open(target.httpPort);
  try {
    await connection.send([bytes]);
    const reply = await connection.read(() => -1, 10000);
    return { reply: reply.bytes.toString('latin1'), closed: reply.outcome === 'closed' };
  } finally {
    connection.destroy();
  }
}

describe(`HTTP listener: abuse (${backend})`, function () {
  this.timeout(120000);
  const target = useHttpServer('idle_timeout=2', ['-c', '4096']);

  it('answers garbage with 400 and closes', async () => {
    const prng = new Prng(13);
    for (let round = 0; round < 5; round++) {
      const garbage = Buffer.alloc(4096);
      for (let i = 0; i < garbage.length; i++) garbage[i] = prng.int(0, 255);
      const { reply, closed } = await sendAndReadToClose(target(), garbage);
      assert.ok(closed, 'closed');
      assert.ok(reply === '' || reply.startsWith('HTTP/1.1 400 Bad Request\r\n'), reply.slice(0, 80));
    }
    const { reply, closed } = await sendAndReadToClose(target(), 'GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
    assert.ok(closed);
    assert.match(reply, /^HTTP\/1\.1 400 Bad Request\r\n/);
    await stillServing(target());
  });

  it('answers a head over 16 KiB with 431 and closes', async () => {
    const headers = Array.from({ length: 20 }, (_, i) => `X-Filler-${i}: ${'f'.repeat(1000)}\r\n`).join('');
    const { reply, closed } = await sendAndReadToClose(target(), `GET /x HTTP/1.1\r\nHost: x\r\n${headers}\r\n`);
    assert.ok(closed);
    assert.match(reply, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    await stillServing(target());
  });

  it('answers a request target over 8 KiB with 414, and a request line over the head limit too', async () => {
    for (const length of [10 * 1024, 100 * 1024]) {
      const { reply, closed } = await sendAndReadToClose(target(), `GET /${'k'.repeat(length)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.ok(closed, `${length}: closed`);
      assert.match(reply, /^HTTP\/1\.1 414 URI Too Long\r\n/, `${length}`);
    }
    await stillServing(target());
  });

  it('closes a connection that trickles its head (idle_timeout) while serving others', async () => {
    await set(target(), 'trickle', Buffer.from('served'));
    const slow = await WireConnection.open(target().httpPort);
    try {
      await slow.send(['GET /trickle HTTP/1.1\r\nHost: x\r\n']);
      let served = 0;
      // One header byte at a time, as slowloris sends them; another connection is served meanwhile.
      for (let i = 0; i < 100 && !slow.isClosed; i++) {
        await slow.send(['X']);
        const response = await fetch(`${target().origin}/trickle`);
        if ((await response.text()) === 'served') served++;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.ok(slow.isClosed, 'the trickling connection was closed');
      assert.ok(served > 0, 'others were served meanwhile');
      const reply = await slow.read(() => -1, 1000);
      assert.match(reply.bytes.toString('latin1'), /^HTTP\/1\.1 408 Request Timeout\r\n/);
    } finally {
      slow.destroy();
    }
    await stillServing(target());
  });

  it('holds 2,000 keep-alive connections, each answered, and counts them', async () => {
    await set(target(), 'many', Buffer.from('each'));
    const connections: WireConnection[] = [];
    try {
      for (let i = 0; i < 2000; i++) connections.push(await WireConnection.open(target().httpPort));
      const replies = await Promise.all(
        connections.map(async (connection) => {
          await connection.send(['GET /many HTTP/1.1\r\nHost: x\r\n\r\n']);
          return parseReplies((await connection.read(httpReplies(1), 30000)).bytes)[0];
        }),
      );
      assert.equal(replies.filter((reply) => reply?.status === 200 && reply.body.toString() === 'each').length, 2000);
      // Counted as the client sees them open (under a heavy load a connection may reach its
      // head timeout while the 2,000 are being opened; it is then closed, and not counted).
      const open = connections.filter((connection) => !connection.isClosed).length;
      assert.ok(open >= 1980, `${2000 - open} of 2,000 connections were closed`);
      assert.equal(await stat(target(), 'http_curr_connections'), open);
      assert.ok((await stat(target(), 'curr_connections')) >= open, 'counted with the memcached connections');
      await stillServing(target());
    } finally {
      for (const connection of connections) connection.destroy();
    }
  });

  it('stops reading a client that pipelines requests and never reads: memory stays bounded', async () => {
    const value = Buffer.alloc(256 * 1024, 'v');
    await set(target(), 'unread', value);
    const pid = target().server.child.pid as number;
    const before = residentKiB(pid);
    const requestsBefore = await stat(target(), 'http_requests');
    const greedy = await WireConnection.open(target().httpPort);
    const requests = 100_000;
    try {
      // 3.3 MB of requests asking for 25 GB of replies; the client reads none of them.
      void greedy.send([Buffer.from('GET /unread HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(requests))]);
      let peak = before;
      for (let i = 0; i < 20; i++) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        peak = Math.max(peak, residentKiB(pid));
      }
      const answered = (await stat(target(), 'http_requests')) - requestsBefore;
      assert.ok(answered < requests / 10, `${answered} requests were taken in`);
      assert.ok(peak - before < 64 * 1024, `resident memory grew by ${peak - before} KiB`);
      await stillServing(target());
    } finally {
      greedy.destroy();
    }
  });
});

describe(`HTTP listener: connections past -c (${backend})`, function () {
  this.timeout(60000);
  const target = useHttpServer('', ['-c', '40']);

  it('answers 503 and closes past -c, counted with the memcached connections', async () => {
    const rejectedBefore = await stat(target(), 'rejected_connections');
    const connections: WireConnection[] = [];
    try {
      // -c 40 leaves 28 client connections (memcached's reserved descriptors are 12).
      for (let i = 0; i < 28; i++) connections.push(await WireConnection.open(target().httpPort));
      const { reply, closed } = await sendAndReadToClose(target(), 'GET /x HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.ok(closed);
      assert.match(reply, /^HTTP\/1\.1 503 Service Unavailable\r\n/);
    } finally {
      for (const connection of connections) connection.destroy();
    }
    // Once the server has seen them close, memcached's listener has room again.
    let answered = false;
    for (let attempt = 0; attempt < 100 && !answered; attempt++) {
      answered = (await memcached(target(), 'version\r\n')).startsWith('VERSION ');
      if (!answered) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(answered, 'the memcached listener answers again');
    assert.ok((await stat(target(), 'rejected_connections')) > rejectedBefore);
  });
});
