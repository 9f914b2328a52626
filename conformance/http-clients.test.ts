// The HTTP listener through real clients: curl (Debian's) and autocannon's request path
// (the load generator the HTTP benchmarks use), on the backend RC_RECORDS names.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import autocannon from 'autocannon';
import { type HttpTarget, memcached, stat, useHttpServer } from './lib/http';

const backend = process.env.RC_RECORDS ?? 'auto';

function curl(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['--silent', '--show-error', ...args], { encoding: 'latin1', maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      error === null ? resolve(stdout) : reject(new Error(`curl ${args.join(' ')}: ${error.message}\n${stderr}`)),
    );
  });
}

async function set(target: HttpTarget, key: string, value: string | Buffer, flags = 0): Promise<void> {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const header = Buffer.from(`set ${key} ${flags} 0 ${bytes.length}\r\n`, 'latin1');
  assert.equal(await memcached(target, Buffer.concat([header, bytes, Buffer.from('\r\n')])), 'STORED\r\n');
}

describe(`HTTP listener with curl (${backend})`, function () {
  this.timeout(60000);
  const target = useHttpServer('http_writes,http_gzip_flag=2');
  const url = (key: string) => `${target().origin}/${key}`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-http-curl-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('gets a value, a byte range and the headers of HEAD', async () => {
    await set(target(), 'curl-get', '0123456789');
    assert.equal(await curl(url('curl-get')), '0123456789');
    assert.equal(await curl('--range', '2-4', url('curl-get')), '234');
    const head = await curl('--head', url('curl-get'));
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /^Content-Length: 10\r$/m);
    assert.equal(await curl('--output', '/dev/null', '--write-out', '%{http_code}', url('curl-missing')), '404');
  });

  it('reuses one keep-alive connection for several URLs', async () => {
    await set(target(), 'curl-a', 'a');
    await set(target(), 'curl-b', 'b');
    const out = await curl(
      ...['--output', '/dev/null', '--write-out', '%{http_code} %{num_connects}\\n', url('curl-a')],
      ...['--output', '/dev/null', '--write-out', '%{http_code} %{num_connects}\\n', url('curl-b')],
    );
    assert.equal(out, '200 1\n200 0\n');
  });

  it('revalidates with --etag-save and --etag-compare (304)', async () => {
    await set(target(), 'curl-etag', 'tagged');
    const etagFile = path.join(dir, 'etag');
    assert.equal(await curl('--etag-save', etagFile, url('curl-etag')), 'tagged');
    assert.equal(await curl('--etag-compare', etagFile, '--output', '/dev/null', '--write-out', '%{http_code}', url('curl-etag')), '304');
  });

  it('uploads with PUT (-T, with Expect: 100-continue) and deletes', async () => {
    const file = path.join(dir, 'upload');
    const value = Buffer.alloc(200 * 1024, 'q');
    fs.writeFileSync(file, value);
    assert.equal(
      await curl('--upload-file', file, '--header', 'Expect: 100-continue', '--write-out', '%{http_code}', url('curl-put')),
      '201',
    );
    assert.equal(await memcached(target(), 'mg curl-put s\r\n'), `HD s${value.length}\r\n`);
    assert.equal(await curl('--request', 'DELETE', '--write-out', '%{http_code}', url('curl-put')), '204');
    assert.equal(await curl('--output', '/dev/null', '--write-out', '%{http_code}', url('curl-put')), '404');
  });

  it('decompresses an item flagged gzip (--compressed)', async () => {
    await set(target(), 'curl-gz', zlib.gzipSync('inflated by curl'), 2);
    assert.equal(await curl('--compressed', url('curl-gz')), 'inflated by curl');
  });
});

describe(`HTTP listener with autocannon (${backend})`, function () {
  this.timeout(120000);
  const target = useHttpServer();

  for (const [title, size] of [
    ['1 KB values', 1024],
    ['100 KB values (records on native)', 100 * 1024],
  ] as const) {
    it(`answers every request of a pipelined run with 200 and the whole value: ${title}`, async () => {
      const values = [0, 1, 2, 3].map((i) => String.fromCharCode(0x61 + i).repeat(size));
      for (let i = 0; i < values.length; i++) await set(target(), `ac-${size}-${i}`, values[i]);
      const hitsBefore = await stat(target(), 'http_hits');
      const amount = size > 1024 ? 400 : 4000;
      let checked = 0;
      const result = await autocannon({
        url: target().origin,
        connections: 8,
        pipelining: 4,
        amount,
        requests: values.map((_value, i) => ({ method: 'GET', path: `/ac-${size}-${i}` })),
        verifyBody: (body: string) => {
          checked++;
          return body.length === size && values.includes(body);
        },
      } as autocannon.Options);
      assert.equal(result.errors, 0, 'errors');
      assert.equal(result.timeouts, 0, 'timeouts');
      assert.equal(result.non2xx, 0, 'non-2xx replies');
      assert.equal(result.mismatches, 0, 'bodies of another length or content');
      // autocannon stops once `amount` requests are sent: the last pipelined replies go unread.
      const inFlight = 8 * 4;
      assert.ok(checked >= amount - inFlight, `${checked} of ${amount} bodies checked`);
      assert.equal(result['2xx'], checked, 'every 2xx reply had its body checked');
      assert.ok(result.throughput.total >= checked * size, `${result.throughput.total} bytes for ${checked} replies of ${size}`);
      assert.ok((await stat(target(), 'http_hits')) - hitsBefore >= checked);
    });
  }
});
