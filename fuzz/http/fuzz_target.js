/*
 * Jazzer.js target over the HTTP request handling (server/http, as tsc builds it into dist/):
 * the key of a request target, the Range header, and the answer to a request (GET, HEAD,
 * PUT, DELETE and others, with conditional headers) against a real store with -m 1, a
 * clock that moves a second per input, and writes on (-o http_writes).
 *
 * An input is one or more requests separated by a line `--`; each is a request line
 * (`METHOD target`), header lines (`name: value`), an empty line, and the body. Header
 * names are lower-cased and repeated ones joined with ", ", as Node's parser gives them;
 * a request Node's parser would refuse (a target or header with a control character) is
 * answered by the parser, not here, and is skipped. The dispatch is the listener's
 * (listener.ts onRequest) without its socket.
 *
 * What must hold, besides never throwing:
 *  - a key is 1 to 250 bytes with no space or control character, and a target that is `/`
 *    and such a key percent-encoded names that key;
 *  - a single byte range lies within the value;
 *  - every answer has one of the statuses the README lists, header values Node would send,
 *    a Content-Length equal to its body's (none for HEAD, 204, 304), an ETag that is a
 *    quoted CAS, and a 206's Content-Range naming exactly the bytes of its body;
 *  - a GET that finds a key this input PUT (201, 204) and has not deleted since gets
 *    exactly the value PUT (or the slice its Range asked for).
 */
const assert = require('node:assert/strict');
const http = require('node:http');
const path = require('node:path');

const dist = path.join(__dirname, '..', '..', 'dist');
const { testContext } = require(path.join(dist, 'test', 'helpers', 'context'));
const { keyOfTarget } = require(path.join(dist, 'server', 'http', 'key'));
const { byteRange } = require(path.join(dist, 'server', 'http', 'range'));
const { HttpCounters } = require(path.join(dist, 'server', 'http', 'counters'));
const { HttpReplies } = require(path.join(dist, 'server', 'http', 'replies'));
const answers = require(path.join(dist, 'server', 'http', 'answer'));
const { replyAnswer } = answers;

/* server/http/range.ts RangeKind. */
const WHOLE = 0;
const SINGLE = 1;
const UNSATISFIABLE = 2;
const MEGABYTE = 1024 * 1024;
const STORE_LIFETIME = 10000;
const STATUSES = new Set([200, 201, 204, 206, 304, 400, 404, 405, 412, 413, 414, 416, 507]);
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

let store = null;
let inputs = 0;

function freshStore() {
  const { ctx, clock } = testContext({ maxBytes: MEGABYTE, httpWrites: true, httpPort: 8080 });
  return { ctx, clock, counters: new HttpCounters() };
}

function checkKey(target) {
  const key = keyOfTarget(target);
  if (key === null) return null;
  assert.ok(key.length >= 1 && key.length <= 250, `key of ${key.length} bytes`);
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    assert.ok(c > 0x20 && c !== 0x7f && c <= 0xff, `key with byte ${c}`);
  }
  const encoded = `/${[...Buffer.from(key, 'latin1')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')}`;
  assert.equal(keyOfTarget(encoded), key, 'the key percent-encoded names another key');
  return key;
}

function checkRange(header, length) {
  const range = byteRange(header, length);
  assert.ok([WHOLE, SINGLE, UNSATISFIABLE].includes(range.kind));
  if (range.kind === SINGLE) {
    assert.ok(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end), `${range.start}-${range.end}`);
    assert.ok(range.start >= 0 && range.start <= range.end && range.end < length, `${range.start}-${range.end} of ${length}`);
  }
  return range;
}

/* A header value Node's parser refuses: a control character other than tab. */
function hasControlCharacter(value) {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true;
  }
  return false;
}

/* One request's method, target, headers (as Node's IncomingHttpHeaders) and body; null if Node's parser would refuse it. */
function parseRequest(text) {
  const blank = text.indexOf('\n\n');
  const head = blank < 0 ? text : text.slice(0, blank);
  const body = blank < 0 ? '' : text.slice(blank + 2);
  const lines = head.split('\n');
  const [method = '', target = ''] = lines[0].split(' ');
  if (!TOKEN.test(method) || !/^[\x21-\x7e\x80-\xff]+$/.test(target)) return null;
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) return null;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || hasControlCharacter(value)) return null;
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method, target, headers, body: Buffer.from(body, 'latin1') };
}

/* The listener's dispatch (listener.ts onRequest and receivePut) on a parsed request. */
function answer(ctx, counters, request) {
  const { method, target, headers, body } = request;
  const head = { method, headers };
  if (method !== 'GET' && method !== 'HEAD' && method !== 'PUT' && method !== 'DELETE') {
    return replyAnswer(HttpReplies.METHOD_NOT_ALLOWED, false, { Allow: 'GET, HEAD, PUT, DELETE' });
  }
  const key = checkKey(target);
  if (key === null) return replyAnswer(HttpReplies.BAD_KEY, method === 'HEAD');
  if (method === 'GET' || method === 'HEAD') return answers.answerRead(ctx, counters, head, key);
  if (method === 'DELETE') return answers.answerDelete(ctx, counters, head, key);
  if (body.length + 2 > ctx.config.itemSizeMax) return answers.answerTooLarge(ctx, counters, head, key);
  return answers.answerPut(ctx, counters, head, key, Buffer.concat([body, Buffer.from('\r\n')]));
}

function checkAnswer(request, result) {
  assert.ok(STATUSES.has(result.status), `status ${result.status}`);
  for (const [name, value] of Object.entries(result.headers)) {
    http.validateHeaderName(name);
    http.validateHeaderValue(name, value);
  }
  const length = result.headers['Content-Length'];
  if (result.body !== null) {
    assert.ok(request.method !== 'HEAD' && result.status !== 204 && result.status !== 304, `a body with ${result.status}`);
    assert.equal(length, result.body.length, 'Content-Length is not the body length');
  } else if (length !== undefined && request.method !== 'HEAD') {
    assert.equal(length, 0, `Content-Length ${length} without a body`);
  }
  if (result.headers.ETag !== undefined) assert.match(String(result.headers.ETag), /^"\d+"$/);
  if (result.status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(result.headers['Content-Range']));
    assert.ok(m !== null, `Content-Range ${result.headers['Content-Range']}`);
    assert.equal(Number(m[2]) - Number(m[1]) + 1, result.body.length, 'Content-Range is not the body');
    assert.ok(Number(m[2]) < Number(m[3]));
  }
  if (result.status === 416) assert.match(String(result.headers['Content-Range']), /^bytes \*\/\d+$/);
}

module.exports.fuzz = function (data) {
  if (store === null || inputs++ % STORE_LIFETIME === 0) store = freshStore();
  const { ctx, clock, counters } = store;
  clock.advance(1);
  const text = Buffer.from(data).toString('latin1');
  checkKey(text.split('\n')[0]);
  checkRange(text, text.length % 1000);
  /* What this input stored: key to value, until it deletes or overwrites it. */
  const put = new Map();
  for (const part of text.split('\n--\n')) {
    const request = parseRequest(part);
    if (request === null) continue;
    if (request.headers.range !== undefined) checkRange(request.headers.range, request.body.length);
    const result = answer(ctx, counters, request);
    checkAnswer(request, result);
    const key = keyOfTarget(request.target);
    if (key === null) continue;
    if (request.method === 'PUT') {
      if (result.status === 201 || result.status === 204) put.set(key, request.body);
      else put.delete(key); // a refused set drops the value, or left it unknown here
    } else if (request.method === 'DELETE') {
      put.delete(key);
    } else if (request.method === 'GET' && put.has(key)) {
      const value = put.get(key);
      if (result.status === 200) assert.ok(result.body.equals(value), 'GET is not the value PUT');
      if (result.status === 206) {
        const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(String(result.headers['Content-Range']));
        assert.equal(Number(m[3]), value.length);
        assert.ok(result.body.equals(value.subarray(Number(m[1]), Number(m[2]) + 1)), 'a 206 is not the slice asked for');
      }
    }
  }
};
