// The HTTP listener (-o http_port) answering from the same store as memcached's protocols:
// the replies to hits, misses, HEAD, ranges, conditional requests and writes, through
// Node's fetch (undici) and raw sockets. Run on the backend RC_RECORDS names (npm test runs
// the conformance files on native, then on js).
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { WireConnection } from './lib/wire';
import { type HttpTarget, httpReplies, memcached, parseReplies, stat, useHttpServer } from './lib/http';

const backend = process.env.RC_RECORDS ?? 'auto';

/** The CAS `gets` shows for a key. */
async function casOf(target: HttpTarget, key: string): Promise<string> {
  const reply = await memcached(target, `gets ${key}\r\n`, 'END\r\n');
  const match = /^VALUE \S+ \d+ \d+ (\d+)\r$/m.exec(reply);
  assert.ok(match, reply);
  return match[1];
}

async function set(target: HttpTarget, key: string, value: string | Buffer, flags = 0, exptime = 0): Promise<void> {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const header = Buffer.from(`set ${key} ${flags} ${exptime} ${bytes.length}\r\n`, 'latin1');
  assert.equal(await memcached(target, Buffer.concat([header, bytes, Buffer.from('\r\n')])), 'STORED\r\n');
}

describe(`HTTP listener: reads (${backend})`, function () {
  this.timeout(60000);
  const target = useHttpServer('', ['-o', 'records_min_size=1k']);
  const url = (path: string) => target().origin + path;

  it('answers a hit with the value, its length, type, CAS as ETag and flags', async () => {
    await set(target(), 'hit', 'hello', 5);
    const response = await fetch(url('/hit'));
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'hello');
    assert.equal(response.headers.get('content-length'), '5');
    assert.equal(response.headers.get('content-type'), 'application/octet-stream');
    assert.equal(response.headers.get('etag'), `"${await casOf(target(), 'hit')}"`);
    assert.equal(response.headers.get('x-memcached-flags'), '5');
    assert.equal(response.headers.get('accept-ranges'), 'bytes');
    assert.equal(response.headers.get('cache-control'), null, 'no expiry, no max-age');
  });

  it('answers a value that became a record whole, and again from the same record', async () => {
    const value = Buffer.alloc(300 * 1024, 'abcdefghij');
    await set(target(), 'large', value);
    for (let i = 0; i < 3; i++) {
      const response = await fetch(url('/large'));
      assert.equal(response.status, 200);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(value));
    }
  });

  it('answers a miss with 404 and a Content-Length', async () => {
    const response = await fetch(url('/missing'));
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('content-length'), String(Buffer.byteLength(await response.text())));
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    await set(target(), 'headed', 'twelve bytes');
    const head = await fetch(url('/headed'), { method: 'HEAD' });
    const get = await fetch(url('/headed'));
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), '12');
    assert.equal(head.headers.get('etag'), get.headers.get('etag'));
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    assert.equal((await fetch(url('/nothing-here'), { method: 'HEAD' })).status, 404);
  });

  it('percent-decodes the key and applies memcached key rules (400)', async () => {
    await set(target(), 'caf\u00c3\u00a9/x:y', 'utf-8 key');
    assert.equal(await (await fetch(url('/caf%C3%A9/x%3ay'))).text(), 'utf-8 key');
    assert.equal((await fetch(url('/caf%C3%A9/x%3ay?cache-buster=1'))).status, 200, 'the query string is not part of the key');
    for (const bad of ['/', '/a%20b', '/a%zz', '/a%0d', `/${'k'.repeat(251)}`, `/${'%41'.repeat(251)}`]) {
      assert.equal((await fetch(url(bad))).status, 400, bad);
    }
    assert.equal((await fetch(url(`/${'k'.repeat(250)}`))).status, 404, 'a 250-byte key is a key');
  });

  it('sends Cache-Control max-age with the remaining time to live', async () => {
    await set(target(), 'expiring', 'soon', 0, 100);
    const maxAge = /^max-age=(\d+)$/.exec((await fetch(url('/expiring'))).headers.get('cache-control') ?? '');
    assert.ok(maxAge);
    assert.ok(Number(maxAge[1]) <= 100 && Number(maxAge[1]) >= 90, maxAge[1]);
  });

  it('answers a single byte range with 206 and Content-Range', async () => {
    await set(target(), 'ranged', '0123456789');
    const cases: [string, string, string][] = [
      ['bytes=2-4', '234', 'bytes 2-4/10'],
      ['bytes=7-', '789', 'bytes 7-9/10'],
      ['bytes=-3', '789', 'bytes 7-9/10'],
      ['bytes=8-100', '89', 'bytes 8-9/10'],
      ['bytes=-100', '0123456789', 'bytes 0-9/10'],
    ];
    for (const [range, body, contentRange] of cases) {
      const response = await fetch(url('/ranged'), { headers: { range } });
      assert.equal(response.status, 206, range);
      assert.equal(response.headers.get('content-range'), contentRange, range);
      assert.equal(response.headers.get('content-length'), String(body.length), range);
      assert.equal(await response.text(), body, range);
    }
  });

  it('slices a value that is a record as it slices one that is not', async () => {
    const value = Buffer.alloc(100 * 1024);
    for (let i = 0; i < value.length; i++) value[i] = i % 251;
    await set(target(), 'ranged-large', value);
    const response = await fetch(url('/ranged-large'), { headers: { range: 'bytes=50000-50999' } });
    assert.equal(response.status, 206);
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(value.subarray(50000, 51000)));
  });

  it('answers an unsatisfiable range with 416, and several ranges or a bad one with the whole value', async () => {
    await set(target(), 'ranged2', '0123456789');
    const unsatisfiable = await fetch(url('/ranged2'), { headers: { range: 'bytes=10-20' } });
    assert.equal(unsatisfiable.status, 416);
    assert.equal(unsatisfiable.headers.get('content-range'), 'bytes */10');
    for (const range of ['bytes=0-1,4-5', 'bytes=5-2', 'lines=1-2', 'bytes=x-y']) {
      const response = await fetch(url('/ranged2'), { headers: { range } });
      assert.equal(response.status, 200, range);
      assert.equal(await response.text(), '0123456789', range);
    }
    const head = await fetch(url('/ranged2'), { method: 'HEAD', headers: { range: 'bytes=0-1' } });
    assert.equal(head.status, 200, 'Range is for GET only');
    const stale = await fetch(url('/ranged2'), { headers: { range: 'bytes=0-1', 'if-range': '"1"' } });
    assert.equal(stale.status, 200, 'If-Range with another tag asks for the whole value');
    const etag = stale.headers.get('etag') ?? '';
    assert.equal((await fetch(url('/ranged2'), { headers: { range: 'bytes=0-1', 'if-range': etag } })).status, 206);
  });

  it('answers If-None-Match with the current tag with 304, and another tag with the value', async () => {
    await set(target(), 'conditional', 'value', 0, 1000);
    const first = await fetch(url('/conditional'));
    const etag = first.headers.get('etag') ?? '';
    for (const ifNoneMatch of [etag, `W/${etag}`, `"1", ${etag}`, '*']) {
      const response = await fetch(url('/conditional'), { headers: { 'if-none-match': ifNoneMatch } });
      assert.equal(response.status, 304, ifNoneMatch);
      assert.equal(response.headers.get('etag'), etag);
      assert.match(response.headers.get('cache-control') ?? '', /^max-age=\d+$/);
      assert.equal((await response.arrayBuffer()).byteLength, 0);
    }
    await set(target(), 'conditional', 'changed');
    const changed = await fetch(url('/conditional'), { headers: { 'if-none-match': etag } });
    assert.equal(changed.status, 200);
    assert.equal(await changed.text(), 'changed');
  });

  it('refuses other methods with 405 and Allow: GET, HEAD while writes are off', async () => {
    await set(target(), 'readonly', 'kept');
    for (const method of ['PUT', 'DELETE', 'POST', 'PATCH', 'OPTIONS']) {
      const response = await fetch(url('/readonly'), { method, body: method === 'PUT' || method === 'POST' ? 'x' : undefined });
      assert.equal(response.status, 405, method);
      assert.equal(response.headers.get('allow'), 'GET, HEAD', method);
    }
    assert.equal(await memcached(target(), 'get readonly\r\n', 'END\r\n'), 'VALUE readonly 0 4\r\nkept\r\nEND\r\n');
  });

  it('fetches as memcached `get` does: counted in cmd_get and get_hits, and the item marked fetched', async () => {
    await set(target(), 'counted', 'v');
    const before = {
      cmdGet: await stat(target(), 'cmd_get'),
      hits: await stat(target(), 'get_hits'),
      misses: await stat(target(), 'get_misses'),
    };
    const httpBefore = { requests: await stat(target(), 'http_requests'), hits: await stat(target(), 'http_hits') };
    assert.equal(await memcached(target(), 'mg counted h\r\n'), 'HD h0\r\n');
    await fetch(url('/counted'));
    await fetch(url('/not-counted'));
    assert.equal(await memcached(target(), 'mg counted h\r\n'), 'HD h1\r\n', 'the HTTP GET fetched the item');
    assert.equal(await stat(target(), 'cmd_get'), before.cmdGet + 2 + 2, 'two HTTP GETs and two mg');
    assert.equal(await stat(target(), 'get_hits'), before.hits + 1 + 2);
    assert.equal(await stat(target(), 'get_misses'), before.misses + 1);
    assert.equal(await stat(target(), 'http_requests'), httpBefore.requests + 2);
    assert.equal(await stat(target(), 'http_hits'), httpBefore.hits + 1);
  });

  it('shows its settings in `stats settings`, and `stats reset` zeroes its counters', async () => {
    const settings = await memcached(target(), 'stats settings\r\n', 'END\r\n');
    assert.match(settings, new RegExp(`^STAT http_port ${target().httpPort}\r$`, 'm'));
    assert.match(settings, /^STAT http_writes no\r$/m);
    assert.match(settings, /^STAT http_content_type application\/octet-stream\r$/m);
    await fetch(url('/before-reset'));
    assert.ok((await stat(target(), 'http_requests')) > 0);
    assert.equal(await memcached(target(), 'stats reset\r\n'), 'RESET\r\n');
    assert.equal(await stat(target(), 'http_requests'), 0);
    assert.equal(await stat(target(), 'http_misses'), 0);
  });

  it('keeps a connection alive and answers pipelined requests in order', async () => {
    await set(target(), 'p1', 'first');
    await set(target(), 'p2', 'second');
    const connection = await WireConnection.open(target().httpPort);
    try {
      const request = (method: string, path: string) => `${method} ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
      await connection.send([
        request('GET', '/p1') + request('GET', '/p2') + request('HEAD', '/p1') + request('GET', '/nope') + request('GET', '/p1'),
      ]);
      const heads = [false, false, true, false, false];
      const reply = await connection.read(httpReplies(5, heads), 10000);
      assert.equal(reply.outcome, 'complete');
      const replies = parseReplies(reply.bytes, heads);
      assert.deepEqual(
        replies.map((r) => [r.status, r.body.toString()]),
        [
          [200, 'first'],
          [200, 'second'],
          [200, ''],
          [404, 'Not Found\n'],
          [200, 'first'],
        ],
      );
      for (const r of replies) assert.ok(r.headers['content-length'] !== undefined);
      await connection.send([request('GET', '/p2')]);
      const again = await connection.read(httpReplies(1), 10000);
      assert.equal(parseReplies(again.bytes)[0].body.toString(), 'second', 'the connection stays open');
    } finally {
      connection.destroy();
    }
  });
});

describe(`HTTP listener: Content-Type and gzip flag options (${backend})`, function () {
  this.timeout(60000);
  const target = useHttpServer('http_content_type=text/html; charset=utf-8,http_gzip_flag=2');

  it('sends the configured Content-Type, and Content-Encoding: gzip for items with the flag bit', async () => {
    const page = '<p>compressed page</p>';
    await set(target(), 'page', zlib.gzipSync(page), 3);
    await set(target(), 'plain', 'plain page', 1);
    const compressed = await fetch(`${target().origin}/page`);
    assert.equal(compressed.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(compressed.headers.get('content-encoding'), 'gzip');
    assert.equal(await compressed.text(), page, 'fetch took it as gzip');
    const plain = await fetch(`${target().origin}/plain`);
    assert.equal(plain.headers.get('content-encoding'), null);
    assert.equal(await plain.text(), 'plain page');
  });
});

describe(`HTTP listener: writes (-o http_writes) (${backend})`, function () {
  this.timeout(60000);
  const target = useHttpServer('http_writes', ['-I', '2k', '-o', 'slab_chunk_max=1024']);
  const url = (path: string) => target().origin + path;

  it('PUT stores as set: 201 when new, 204 when replaced, with the new CAS as ETag and flags from X-Memcached-Flags', async () => {
    const created = await fetch(url('/written'), { method: 'PUT', body: 'from http', headers: { 'x-memcached-flags': '42' } });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('etag'), `"${await casOf(target(), 'written')}"`);
    assert.equal(await memcached(target(), 'get written\r\n', 'END\r\n'), 'VALUE written 42 9\r\nfrom http\r\nEND\r\n');
    const replaced = await fetch(url('/written'), { method: 'PUT', body: 'again' });
    assert.equal(replaced.status, 204);
    assert.equal(await (await fetch(url('/written'))).text(), 'again');
  });

  it('PUT with If-Match is cas: 412 on another tag, stored on the current one', async () => {
    await set(target(), 'casd', 'one');
    const etag = `"${await casOf(target(), 'casd')}"`;
    const badvalBefore = await stat(target(), 'cas_badval');
    assert.equal((await fetch(url('/casd'), { method: 'PUT', body: 'x', headers: { 'if-match': '"1"' } })).status, 412);
    assert.equal(await stat(target(), 'cas_badval'), badvalBefore + 1);
    assert.equal((await fetch(url('/casd'), { method: 'PUT', body: 'two', headers: { 'if-match': etag } })).status, 204);
    assert.equal(
      (await fetch(url('/casd'), { method: 'PUT', body: 'three', headers: { 'if-match': etag } })).status,
      412,
      'the tag changed',
    );
    assert.equal((await fetch(url('/absent'), { method: 'PUT', body: 'x', headers: { 'if-match': '*' } })).status, 412);
    assert.equal((await fetch(url('/casd'), { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } })).status, 412);
    assert.equal((await fetch(url('/fresh'), { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } })).status, 201);
    assert.equal(await (await fetch(url('/casd'))).text(), 'two');
  });

  it('PUT takes memcached exptimes from X-Memcached-Exptime and refuses bad numbers with 400', async () => {
    assert.equal((await fetch(url('/gone'), { method: 'PUT', body: 'x', headers: { 'x-memcached-exptime': '-1' } })).status, 201);
    assert.equal((await fetch(url('/gone'))).status, 404, 'a negative exptime has expired');
    await fetch(url('/timed'), { method: 'PUT', body: 'x', headers: { 'x-memcached-exptime': '500' } });
    assert.match((await fetch(url('/timed'))).headers.get('cache-control') ?? '', /^max-age=\d+$/);
    for (const [name, value] of [
      ['x-memcached-flags', '-1'],
      ['x-memcached-flags', '4294967296'],
      ['x-memcached-flags', 'abc'],
      ['x-memcached-exptime', '1.5'],
    ]) {
      assert.equal(
        (await fetch(url('/badnumber'), { method: 'PUT', body: 'x', headers: { [name]: value } })).status,
        400,
        `${name}: ${value}`,
      );
    }
    assert.equal((await fetch(url('/badnumber'))).status, 404);
  });

  it('PUT over -I is 413 and, as set, drops the old value', async () => {
    await set(target(), 'big', 'small now');
    const tooLargeBefore = await stat(target(), 'store_too_large');
    const response = await fetch(url('/big'), { method: 'PUT', body: 'x'.repeat(4096) });
    assert.equal(response.status, 413);
    assert.equal(await stat(target(), 'store_too_large'), tooLargeBefore + 1);
    assert.equal((await fetch(url('/big'))).status, 404);
    // Sent in chunks, without a Content-Length.
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 8; i++) controller.enqueue(Buffer.alloc(512, 'y'));
        controller.close();
      },
    });
    const chunked = await fetch(url('/big'), { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(chunked.status, 413);
    assert.equal((await fetch(url('/big'), { method: 'PUT', body: 'x'.repeat(1500) })).status, 201, 'under -I it stores');
  });

  it('DELETE deletes as delete does: 204, then 404; with If-Match, only the item with that tag', async () => {
    await set(target(), 'doomed', 'x');
    const etag = `"${await casOf(target(), 'doomed')}"`;
    assert.equal((await fetch(url('/doomed'), { method: 'DELETE', headers: { 'if-match': '"1"' } })).status, 412);
    assert.equal((await fetch(url('/doomed'), { method: 'DELETE', headers: { 'if-match': etag } })).status, 204);
    assert.equal((await fetch(url('/doomed'), { method: 'DELETE' })).status, 404);
    assert.equal(await memcached(target(), 'get doomed\r\n', 'END\r\n'), 'END\r\n');
  });

  it('refuses other methods with 405 and Allow listing the writes', async () => {
    const response = await fetch(url('/x'), { method: 'POST', body: 'x' });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET, HEAD, PUT, DELETE');
  });

  it('a value written over HTTP is what the memcached GETs answer, and the reverse', async () => {
    await fetch(url('/both'), { method: 'PUT', body: 'http wrote it' });
    // Twice: on native, the second get may be answered by the engine's read index.
    for (let i = 0; i < 2; i++)
      assert.equal(await memcached(target(), 'get both\r\n', 'END\r\n'), 'VALUE both 0 13\r\nhttp wrote it\r\nEND\r\n');
    await set(target(), 'both', 'memcached wrote it');
    assert.equal(await (await fetch(url('/both'))).text(), 'memcached wrote it');
    await fetch(url('/both'), { method: 'DELETE' });
    for (let i = 0; i < 2; i++) assert.equal(await memcached(target(), 'get both\r\n', 'END\r\n'), 'END\r\n');
  });
});
