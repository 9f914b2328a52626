/*
 * Jazzer.js target over the UDP front (server/udp.ts, server/protocol/udp.ts, as tsc builds
 * them into dist/): each input is one request datagram, served by the real UdpFront on a
 * store with -m 1 and a clock that moves a second per input; the datagrams it would send
 * are collected instead of sent (the socket is the only thing left out).
 *
 * What must hold, besides never throwing:
 *  - a datagram memcached drops (8 bytes or less, or a header announcing other than one
 *    datagram) gets nothing back;
 *  - every reply datagram is at most 1400 bytes, carries the request's id and a zero
 *    reserved word; the datagrams of one response are numbered 0, 1, ... up to the count
 *    each of them announces, and all but the last are full;
 *  - the responses put together are memcached's shapes: text replies as in the commands
 *    fuzzer (a status or error line, or VALUE / VA headers with exactly their data), binary
 *    responses with the response magic and a body of the length their header gives.
 */
const assert = require('node:assert/strict');
const path = require('node:path');

const dist = path.join(__dirname, '..', '..', 'dist');
const { testContext } = require(path.join(dist, 'test', 'helpers', 'context'));
const { UdpFront } = require(path.join(dist, 'server', 'udp'));
const { UDP_HEADER_SIZE, UDP_MAX_PAYLOAD_SIZE, UDP_DATA_SIZE } = require(path.join(dist, 'server', 'protocol', 'udp'));

const MEGABYTE = 1024 * 1024;
const STORE_LIFETIME = 10000;
const RESPONSE_MAGIC = 0x81;
const REPLY_LINE = new RegExp(
  `^(${[
    '[A-Z_]+',
    'ERROR: shutdown not enabled',
    '(CLIENT_ERROR|SERVER_ERROR|VERSION|STAT|ITEM|PREFIX|ME|HD|EN|NF|NS|EX|MN|OK|BUSY|BADCLASS) [^\\n]*',
    '\\d+',
    'key=[^\\n]*',
  ]
    .map((shape) => `(${shape})`)
    .join('|')})$`,
);

let store = null;
let inputs = 0;
const sent = [];
const socket = {
  send(datagram, _port, _address, done) {
    sent.push(datagram);
    done(null);
  },
};
const rinfo = { address: '127.0.0.1', family: 'IPv4', port: 9, size: 0 };

function freshStore() {
  const { ctx, clock } = testContext({ maxBytes: MEGABYTE, udpPort: 11211 });
  return { ctx, clock, front: new UdpFront(ctx, () => undefined) };
}

function checkText(bytes) {
  let off = 0;
  while (off < bytes.length) {
    const eol = bytes.indexOf('\r\n', off, 'latin1');
    assert.ok(eol >= 0, `a reply without CR LF: ${JSON.stringify(bytes.toString('latin1', off, off + 80))}`);
    const line = bytes.toString('latin1', off, eol);
    off = eol + 2;
    const value = /^VALUE [^ ]+ \d+ (\d+)(?: \d+)?$/.exec(line);
    const meta = /^VA (\d+)(?: [^\n]*)?$/.exec(line);
    if (value === null && meta === null) {
      assert.ok(line.length > 0 && REPLY_LINE.test(line), `not a memcached reply: ${JSON.stringify(line)}`);
      continue;
    }
    const length = Number(value !== null ? value[1] : meta[1]);
    assert.ok(off + length + 2 <= bytes.length, `${JSON.stringify(line)}: its data is cut short`);
    assert.equal(bytes.toString('latin1', off + length, off + length + 2), '\r\n', `${JSON.stringify(line)}: data not followed by CR LF`);
    off += length + 2;
  }
}

function checkBinary(bytes) {
  let off = 0;
  while (off < bytes.length) {
    assert.ok(off + 24 <= bytes.length, 'a binary response shorter than its header');
    assert.equal(bytes[off], RESPONSE_MAGIC, 'not the response magic');
    const body = bytes.readUInt32BE(off + 8);
    assert.ok(bytes[off + 4] + bytes.readUInt16BE(off + 2) <= body, 'extras and key longer than the body');
    off += 24 + body;
    assert.ok(off <= bytes.length, 'a binary response cut short');
  }
}

/* Whether `sent` datagrams make a whole response announcing `count` (an empty one: a bare header announcing 0). */
function complete(sent, count) {
  return sent === count || (count === 0 && sent === 1);
}

module.exports.fuzz = function (data) {
  if (store === null || inputs++ % STORE_LIFETIME === 0) store = freshStore();
  const { ctx, clock, front } = store;
  clock.advance(1);
  const datagram = Buffer.from(data);
  sent.length = 0;
  front.serve(socket, datagram, rinfo);
  const served = datagram.length > UDP_HEADER_SIZE && datagram[4] === 0 && datagram[5] === 1;
  if (!served) {
    assert.equal(sent.length, 0, 'a datagram memcached drops was answered');
    return;
  }
  const id = datagram.readUInt16BE(0);
  const binary = datagram[UDP_HEADER_SIZE] === 0x80;
  const payloads = [];
  let expected = 0;
  let total = 0;
  let previousFull = true;
  for (const reply of sent) {
    assert.ok(reply.length >= UDP_HEADER_SIZE && reply.length <= UDP_MAX_PAYLOAD_SIZE, `a datagram of ${reply.length} bytes`);
    assert.equal(reply.readUInt16BE(0), id, 'another request id');
    assert.equal(reply.readUInt16BE(6), 0, 'reserved word not zero');
    const sequence = reply.readUInt16BE(2);
    const count = reply.readUInt16BE(4);
    if (sequence === 0) {
      assert.ok(complete(expected, total), `a response cut short at datagram ${expected} of ${total}`);
      expected = 0;
      total = count;
      previousFull = true;
    } else {
      assert.equal(count, total, 'datagrams of one response announce different counts');
      assert.ok(previousFull, 'a datagram that is not full before the last');
    }
    assert.equal(sequence, expected, `datagram ${sequence} where ${expected} was due`);
    assert.ok(sequence < Math.max(total, 1), `datagram ${sequence} of ${total}`);
    if (total === 0) assert.equal(reply.length, UDP_HEADER_SIZE, 'a datagram announcing 0 datagrams carries data');
    expected++;
    previousFull = reply.length === UDP_HEADER_SIZE + UDP_DATA_SIZE;
    payloads.push(reply.subarray(UDP_HEADER_SIZE));
  }
  assert.ok(complete(expected, total), `the last response ended at ${expected} of ${total}`);
  const bytes = Buffer.concat(payloads);
  if (binary) checkBinary(bytes);
  else checkText(bytes);
  assert.ok(ctx.store.bytes <= ctx.store.slabs.malloced);
};
