// The HTTP listener on the native engine (its I/O threads parse with llhttp and answer hits)
// against the same listener on js (Node's http): the same requests, on the same items, get
// the same bytes back, Date aside; and hits on native are answered without JavaScript
// (http_served_natively), the rest by it, in request order.
import assert from 'node:assert/strict';
import { WireConnection } from './lib/wire';
import { type HttpTarget, memcached, startHttpServer, stat } from './lib/http';

async function set(target: HttpTarget, key: string, value: Buffer, flags = 0, exptime = 0): Promise<void> {
  const header = Buffer.from(`set ${key} ${flags} ${exptime} ${value.length}\r\n`, 'latin1');
  assert.equal(await memcached(target, Buffer.concat([header, value, Buffer.from('\r\n')])), 'STORED\r\n');
}

/** Sends `requests` pipelined on one connection and reads until the server closes it or `idleMs` pass without a byte. */
async function exchange(target: HttpTarget, requests: string[], idleMs = 1500): Promise<Buffer> {
  const connection = await WireConnection.open(target.httpPort);
  try {
    await connection.send(requests);
    // The first bytes may be slow on a busy machine; after them, the reply is whole once
    // idleMs pass with nothing new.
    await connection.read((buf) => (buf.length > 0 ? 0 : -1), 10000);
    const reply = await connection.readQuiet(idleMs, 30000);
    return reply.bytes;
  } finally {
    connection.destroy();
  }
}

/** The reply bytes with each Date header's value, and each max-age (seconds left, which tick), masked. */
function masked(bytes: Buffer): string {
  return bytes
    .toString('latin1')
    .replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n')
    .replace(/max-age=\d+/g, 'max-age=-');
}

const LARGE = Buffer.alloc(200 * 1024, 'abcdefghij');

/** The same items, set in the same order, so their CAS values agree between the two servers. */
async function populate(target: HttpTarget): Promise<void> {
  await set(target, 'small', Buffer.from('hello world'));
  await set(target, 'flagged', Buffer.from('zipped bytes'), 6, 1000);
  await set(target, 'empty', Buffer.alloc(0));
  await set(target, 'large', LARGE, 2);
}

/** Requests that exercise every part of a native hit and every kind of request left to JS. */
const REQUESTS: string[] = [
  'GET /small HTTP/1.1\r\nHost: x\r\n\r\n',
  'HEAD /small HTTP/1.1\r\n\r\n',
  'GET /flagged HTTP/1.1\r\nUser-Agent: t\r\nAccept: */*\r\n\r\n',
  'GET /empty HTTP/1.1\r\n\r\n',
  'GET /large HTTP/1.1\r\n\r\n',
  'GET /large HTTP/1.1\r\nRange: bytes=100-150099\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: bytes=0-0\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: bytes=6-\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: bytes=-3\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: bytes=2-999999\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: bytes=99-\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: bytes=0-1,4-5\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: items=0-1\r\n\r\n',
  'HEAD /small HTTP/1.1\r\nRange: bytes=0-1\r\n\r\n',
  'GET /small HTTP/1.1\r\nIf-None-Match: "1"\r\n\r\n',
  'GET /small HTTP/1.1\r\nIf-None-Match: "999"\r\n\r\n',
  'GET /small HTTP/1.1\r\nIf-None-Match: W/"1"\r\n\r\n',
  'GET /small HTTP/1.1\r\nIf-None-Match: *\r\n\r\n',
  'GET /small HTTP/1.1\r\nIf-None-Match: "5", "1"\r\n\r\n',
  'GET /flagged HTTP/1.1\r\nIf-None-Match: "2"\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: bytes=0-1\r\nIf-Range: "1"\r\n\r\n',
  'GET /small HTTP/1.1\r\nRange: bytes=0-1\r\nIf-Range: "7"\r\n\r\n',
  'GET /missing HTTP/1.1\r\n\r\n',
  'HEAD /missing HTTP/1.1\r\n\r\n',
  'GET /sm%61ll HTTP/1.1\r\n\r\n',
  'GET /small?query=1 HTTP/1.1\r\n\r\n',
  'GET /bad%ZZ HTTP/1.1\r\n\r\n',
  'GET / HTTP/1.1\r\n\r\n',
  'POST /small HTTP/1.1\r\nContent-Length: 0\r\n\r\n',
  'GET /small HTTP/1.1\r\nX-Many: a\r\nX-Many: b\r\n\r\n',
  'GET /small HTTP/1.1\r\nConnection: close\r\n\r\n',
];

/** The same HTTP options on `js` and on `native`, started before a suite and stopped after it. */
function useHttpPair(options: string, prepare?: (target: HttpTarget) => Promise<void>): { js: HttpTarget; native: HttpTarget } {
  const pair = {} as { js: HttpTarget; native: HttpTarget };
  before(async function () {
    this.timeout(90000);
    pair.js = await startHttpServer(options, ['--records=js']);
    pair.native = await startHttpServer(options, ['--records=native']);
    await prepare?.(pair.js);
    await prepare?.(pair.native);
  });
  after(async function () {
    await pair.js?.server.stop();
    await pair.native?.server.stop();
  });
  return pair;
}

describe('HTTP listener: native engine against js, byte for byte', function () {
  this.timeout(120000);
  const options = 'http_content_type=text/plain,http_gzip_flag=2';
  const pair = useHttpPair(options, populate);

  it('answers each request alike, one connection per request', async () => {
    for (const request of REQUESTS) {
      const [fromJs, fromNative] = await Promise.all([exchange(pair.js, [request], 300), exchange(pair.native, [request], 300)]);
      assert.ok(fromJs.length > 0, request);
      assert.equal(masked(fromNative), masked(fromJs), request);
    }
  });

  it('answers them alike pipelined on one connection, hits and the rest in request order', async () => {
    const [fromJs, fromNative] = await Promise.all([exchange(pair.js, REQUESTS), exchange(pair.native, REQUESTS)]);
    assert.match(fromJs.toString('latin1'), /Connection: close\r\n/);
    assert.equal(masked(fromNative), masked(fromJs));
  });

  it('answers HTTP/1.0 alike, and closes after it', async () => {
    const requests = ['GET /small HTTP/1.0\r\n\r\n', 'GET /small HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /large HTTP/1.0\r\n\r\n'];
    for (const request of requests) {
      const [fromJs, fromNative] = await Promise.all([exchange(pair.js, [request]), exchange(pair.native, [request])]);
      assert.equal(masked(fromNative), masked(fromJs), request);
    }
  });

  it('answers hits on native without JavaScript, and on js with it', async () => {
    const requests = Array.from({ length: 20 }, () => 'GET /small HTTP/1.1\r\n\r\n');
    const before = { js: await stat(pair.js, 'http_served_natively'), native: await stat(pair.native, 'http_served_natively') };
    const requestsBefore = await stat(pair.native, 'http_requests');
    await exchange(pair.js, requests, 300);
    await exchange(pair.native, requests, 300);
    assert.equal((await stat(pair.js, 'http_served_natively')) - before.js, 0);
    assert.equal((await stat(pair.native, 'http_served_natively')) - before.native, 20);
    assert.equal((await stat(pair.native, 'http_requests')) - requestsBefore, 20);
    // A miss and a request with a header left to JS are answered by JavaScript, and counted too.
    await exchange(pair.native, ['GET /missing HTTP/1.1\r\n\r\nGET /small HTTP/1.1\r\nIf-Range: "1"\r\n\r\n'], 300);
    assert.equal((await stat(pair.native, 'http_served_natively')) - before.native, 20);
    assert.equal((await stat(pair.native, 'http_requests')) - requestsBefore, 22);
  });
});

/** Over -I (1m): refused with 413, its body read and dropped. */
const BIG = 1100 * 1024;
/** One chunk of 600 KiB: two are over -I. */
const CHUNK = `${(600 * 1024).toString(16)}\r\n${'c'.repeat(600 * 1024)}`;

describe('HTTP listener: native engine against js, writes and limits', function () {
  this.timeout(120000);
  const options = 'http_writes,idle_timeout=1';
  const pair = useHttpPair(options);

  it('stores, conditions, deletes and refuses alike', async () => {
    const sequence = [
      'PUT /w HTTP/1.1\r\nContent-Length: 5\r\nX-Memcached-Flags: 3\r\n\r\nhello',
      'GET /w HTTP/1.1\r\n\r\n',
      'PUT /w HTTP/1.1\r\nContent-Length: 3\r\nIf-Match: "1"\r\n\r\nbye',
      'PUT /w HTTP/1.1\r\nContent-Length: 3\r\nIf-Match: "1"\r\n\r\nnop',
      'PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
      'GET /c HTTP/1.1\r\n\r\n',
      `PUT /big HTTP/1.1\r\nContent-Length: ${BIG}\r\n\r\n${'x'.repeat(BIG)}`,
      'GET /big HTTP/1.1\r\n\r\n',
      'PUT /bad HTTP/1.1\r\nContent-Length: 1\r\nX-Memcached-Flags: -1\r\n\r\nx',
      // Chunks past -I: 413, the rest of the body read and dropped, and the connection answers on.
      `PUT /cbig HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n${CHUNK}\r\n${CHUNK}\r\n0\r\n\r\nGET /cbig HTTP/1.1\r\n\r\n`,
      'DELETE /w HTTP/1.1\r\n\r\n',
      'DELETE /w HTTP/1.1\r\n\r\n',
      'GET /w HTTP/1.1\r\n\r\n',
      'PATCH /w HTTP/1.1\r\n\r\n',
    ];
    // One at a time: Node's http answers a request pipelined after a PUT before the PUT's body is stored.
    for (const request of sequence) {
      const [fromJs, fromNative] = await Promise.all([exchange(pair.js, [request], 300), exchange(pair.native, [request], 300)]);
      assert.ok(fromJs.length > 0, request.slice(0, 40));
      assert.equal(masked(fromNative), masked(fromJs), request.slice(0, 40));
    }
  });

  it('refuses garbage, a long request line and a large head alike, then closes', async () => {
    const requests = [
      '\x16\x03\x01garbage\r\n\r\n',
      'GET /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n',
      `GET /${'k'.repeat(9 * 1024)} HTTP/1.1\r\n\r\n`,
      `GET /${'k'.repeat(20 * 1024)} HTTP/1.1\r\n\r\n`,
      `GET /x HTTP/1.1\r\n${'X-Filler: 0123456789abcdef\r\n'.repeat(1000)}\r\n`,
    ];
    for (const request of requests) {
      const [fromJs, fromNative] = await Promise.all([exchange(pair.js, [request]), exchange(pair.native, [request])]);
      assert.ok(fromJs.length > 0, request.slice(0, 40));
      assert.equal(masked(fromNative), masked(fromJs), request.slice(0, 40));
    }
  });

  it('answers a head that does not arrive in time with the same 408, then closes', async () => {
    for (const request of ['', 'GET /w HTTP/1.1\r\nHost:']) {
      const [fromJs, fromNative] = await Promise.all([exchange(pair.js, [request], 5000), exchange(pair.native, [request], 5000)]);
      assert.match(fromJs.toString('latin1'), /^HTTP\/1\.1 408 /);
      assert.equal(fromNative.toString('latin1'), fromJs.toString('latin1'));
    }
  });
});
