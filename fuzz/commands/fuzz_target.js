/*
 * Jazzer.js target over the command layer against the store (server/commands, server/store,
 * as tsc builds them into dist/): each input is a connection's text and meta requests,
 * framed, decoded and executed as the server does, on a store with -m 1 (one page of
 * memory for every class that takes one) and a clock that moves a second per input.
 *
 * The store lives for 10,000 inputs, so that it fills and evicts; a finding may therefore
 * need the inputs before it (libFuzzer's -runs over the same corpus order replays them).
 * What must hold after every input:
 *  - the items fit in the memory the slabs took, and the slabs took no page past -m but a
 *    class's first (memcached's rule);
 *  - a CAS value, once given to an item, never names another key, value or flags;
 *  - every reply is one of memcached's shapes: a status line, an error with its text, a
 *    number, a stats row, or a VALUE / VA header followed by exactly its data and CR LF
 *    (free text may hold a lone CR: memcached echoes a meta opaque token as it came).
 */
const assert = require('node:assert/strict');
const path = require('node:path');

const dist = path.join(__dirname, '..', '..', 'dist');
const { testContext, wireBytes } = require(path.join(dist, 'test', 'helpers', 'context'));
const { newFrame } = require(path.join(dist, 'server', 'framing'));
const { frameText, decodeText } = require(path.join(dist, 'server', 'protocol', 'text'));
const { executeText } = require(path.join(dist, 'server', 'commands', 'text'));
const { ReplyQueue } = require(path.join(dist, 'server', 'connection', 'reply-queue'));
const { SLAB_PAGE_SIZE } = require(path.join(dist, 'server', 'store', 'slabs'));

/* server/framing.ts FrameStatus.Whole; server/connection/reply-queue.ts After.Continue. */
const WHOLE = 1;
const CONTINUE = 0;
const MEGABYTE = 1024 * 1024;
const STORE_LIFETIME = 10000;

/* Reply lines other than VALUE and VA headers (proto_text.c, proto_meta.c, and stats). */
const REPLY_LINE = new RegExp(
  [
    '[A-Z_]+',
    'ERROR: shutdown not enabled',
    '(CLIENT_ERROR|SERVER_ERROR|VERSION|STAT|ITEM|PREFIX|ME|HD|EN|NF|NS|EX|MN|OK|BUSY|BADCLASS) [^\\n]*',
    '\\d+',
    'key=[^\\n]*',
  ]
    .map((shape) => `(${shape})`)
    .join('|'),
);

let store = null;
let inputs = 0;

function freshStore() {
  const { ctx, clock } = testContext({ maxBytes: MEGABYTE });
  return { ctx, clock, casOwners: new Map() };
}

/* Walks the replies, checking each one's shape and the CAS values gets and gats show. */
function checkReplies(bytes, casOwners) {
  let off = 0;
  while (off < bytes.length) {
    const eol = bytes.indexOf('\r\n', off, 'latin1');
    assert.ok(eol >= 0, `a reply without CR LF: ${JSON.stringify(bytes.toString('latin1', off, off + 80))}`);
    const line = bytes.toString('latin1', off, eol);
    off = eol + 2;
    const value = /^VALUE ([^ ]+) (\d+) (\d+)(?: (\d+))?$/.exec(line);
    const meta = /^VA (\d+)(?: [^\n]*)?$/.exec(line);
    if (value === null && meta === null) {
      assert.ok(line.length > 0 && new RegExp(`^(${REPLY_LINE.source})$`).test(line), `not a memcached reply: ${JSON.stringify(line)}`);
      continue;
    }
    const length = Number(value !== null ? value[3] : meta[1]);
    assert.ok(off + length + 2 <= bytes.length, `${JSON.stringify(line)}: its data is cut short`);
    assert.equal(bytes.toString('latin1', off + length, off + length + 2), '\r\n', `${JSON.stringify(line)}: data not followed by CR LF`);
    if (value !== null && value[4] !== undefined) {
      const owner = `${value[1]} ${value[2]} ${bytes.toString('latin1', off, off + length)}`;
      const known = casOwners.get(value[4]);
      if (known === undefined) casOwners.set(value[4], owner);
      else assert.equal(owner, known, `CAS ${value[4]} given to two items`);
    }
    off += length + 2;
  }
}

function checkMemory(ctx) {
  const slabs = ctx.store.slabs;
  const classesWithPages = slabs.pages.filter((pages) => pages > 0).length;
  assert.ok(ctx.store.bytes <= slabs.malloced, `items take ${ctx.store.bytes} bytes, the slabs hold ${slabs.malloced}`);
  assert.ok(
    slabs.malloced <= ctx.config.maxBytes + SLAB_PAGE_SIZE * classesWithPages,
    `${slabs.malloced} bytes of pages with -m ${ctx.config.maxBytes} and ${classesWithPages} classes`,
  );
}

module.exports.fuzz = function (data) {
  if (store === null || inputs++ % STORE_LIFETIME === 0) store = freshStore();
  const { ctx, clock, casOwners } = store;
  clock.advance(1);
  const buf = Buffer.from(data);
  const limits = { itemSizeMax: ctx.config.itemSizeMax, casEnabled: !ctx.config.disableCas };
  const frame = newFrame();
  const replies = new ReplyQueue();
  let off = 0;
  while (off < buf.length) {
    frameText(buf, off, buf.length, limits, frame);
    if (frame.status !== WHOLE) break;
    const after = executeText(ctx, decodeText(buf, off, frame.length, limits), replies);
    off += frame.length + frame.swallow;
    if (after !== undefined && after !== CONTINUE) break;
  }
  checkReplies(wireBytes(replies.segments), casOwners);
  checkMemory(ctx);
};
