/*
 * The handler of requests from connections not yet authenticated under -Y
 * (server/commands/auth.ts), replaying connections recorded against memcached 1.6.18 run
 * with -Y and a file of `user:pass` and `other:secret`. Each row is one connection: the
 * reads it sent, in order, and what memcached answered to each. Until a connection has
 * authenticated, memcached answers from one response object that each request overwrites
 * until it is written out (after a read, or after each -R requests).
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { executeAuth } from '../server/commands/auth';
import { ReplyQueue, endsEvent } from '../server/connection/reply-queue';
import { executeText } from '../server/commands/text';
import { decodeAuth, frameAuth } from '../server/protocol/auth';
import { FrameStatus, newFrame } from '../server/framing';
import { decodeText, frameText } from '../server/protocol/text';
import { AuthFile } from '../server/auth-file';
import type { ServerContext } from '../server/context';
import { testContext, wireText } from './helpers/context';

/** A client connection as the server drives it: auth framing until authenticated, then text. */
class Connection {
  authenticated = false;
  /** Bytes of a request not yet whole, kept for the next read. */
  private pending = Buffer.alloc(0);
  constructor(private readonly ctx: ServerContext) {}

  /** One read: every whole request so far executed as one batch; returns what is written. */
  read(bytes: string): string {
    const ctx = this.ctx;
    const buf = Buffer.concat([this.pending, Buffer.from(bytes, 'latin1')]);
    const limits = { itemSizeMax: ctx.config.itemSizeMax, casEnabled: true };
    const replies = new ReplyQueue();
    const frame = newFrame();
    let handled = 0;
    let off = 0;
    while (off < buf.length) {
      if (!this.authenticated) {
        frameAuth(buf, off, buf.length, frame);
        if (frame.status !== FrameStatus.Whole) break;
        handled++;
        this.authenticated = executeAuth(ctx, decodeAuth(buf, off, frame.length), replies);
        if (!this.authenticated && endsEvent(handled, ctx.config.reqsPerEvent)) replies.sent = replies.segments.length;
      } else {
        frameText(buf, off, buf.length, limits, frame);
        if (frame.status !== FrameStatus.Whole) break;
        executeText(ctx, decodeText(buf, off, frame.length, limits), replies);
      }
      off += frame.length;
    }
    this.pending = Buffer.from(buf.subarray(off));
    return wireText(replies.segments);
  }
}

const CONNECTIONS: [string[], string[]][] = [
  [['get foo\r\n'], ['CLIENT_ERROR unauthenticated\r\n']],
  [['get foo\r\nversion\r\nbogus\r\n'], ['CLIENT_ERROR unauthenticated\r\n']],
  [
    ['set a b c 9\r\nuser pass\r\n', 'get foo\r\n'],
    ['STORED\r\n', 'END\r\n'],
  ],
  [
    ['set a b c 10\r\nuser wrong\r\n', 'get foo\r\n'],
    ['CLIENT_ERROR authentication failure\r\n', 'CLIENT_ERROR unauthenticated\r\n'],
  ],
  [['set a b c 9\r\nuser pass\r\nset k 0 0 1\r\nx\r\nget k\r\n'], ['STORED\r\nSTORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n']],
  [['set a b c 5\r\nuserx\r\n'], ['CLIENT_ERROR bad authentication token format\r\n']],
  [['set a b c 5\r\nuser\r\r\n'], ['CLIENT_ERROR bad authentication token format\r\n']],
  [['set a b c 3\r\nabcde\r\n'], ['CLIENT_ERROR unauthenticated\r\n']],
  [
    ['set a b c 11\r\nother secret\r\n', 'version\r\n'],
    ['CLIENT_ERROR bad command line termination\r\n', 'CLIENT_ERROR unauthenticated\r\n'],
  ],
  [
    ['set a b c 10\r\nuser wrong\r\nset a b c 9\r\nuser pass\r\n', 'version\r\n'],
    ['STORED\r\n', 'VERSION 1.6.18\r\n'],
  ],
  [
    ['set a b c 9\r\nuser pass\r\nset a b c 10\r\nuser wrong\r\n', 'version\r\n'],
    ['STORED\r\nCLIENT_ERROR bad command line format\r\nERROR\r\n', 'VERSION 1.6.18\r\n'],
  ],
  [
    ['set a b c 13\r\nuser pass more\r\n', 'version\r\n'],
    ['CLIENT_ERROR bad command line termination\r\n', 'CLIENT_ERROR unauthenticated\r\n'],
  ],
  [['set foo 0 0 1\r\nx\r\n'], ['CLIENT_ERROR bad authentication token format\r\n']],
  [['set a b c\r\n'], ['CLIENT_ERROR unauthenticated\r\n']],
  [
    ['set a b c 12\r\nother secret\r\n', 'version\r\n'],
    ['STORED\r\n', 'VERSION 1.6.18\r\n'],
  ],
  [
    ['set a b c 14\r\nuser pass more\r\n', 'version\r\n'],
    ['STORED\r\n', 'VERSION 1.6.18\r\n'],
  ],
  // -R 20: memcached writes its one response out after the 21st request and again at the end.
  [['get foo\r\n'.repeat(25)], ['CLIENT_ERROR unauthenticated\r\n'.repeat(2)]],
  [
    ['get foo\r\n'.repeat(41) + 'set a b c 10\r\nuser wrong\r\n'],
    ['CLIENT_ERROR unauthenticated\r\n'.repeat(2) + 'CLIENT_ERROR authentication failure\r\n'],
  ],
];

describe('ascii authentication (-Y)', () => {
  let dir = '';
  let file = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-auth-'));
    file = path.join(dir, 'auth');
    fs.writeFileSync(file, 'user:pass\nother:secret\n');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('answers connections as memcached did', () => {
    const { ctx } = testContext({ authFile: file });
    ctx.authFile = AuthFile.load(file);
    for (const [reads, expected] of CONNECTIONS) {
      const conn = new Connection(ctx);
      assert.deepEqual(
        reads.map((r) => conn.read(r)),
        expected,
        JSON.stringify(reads),
      );
    }
    // Every user and password pair checked counts in auth_cmds, those refused in auth_errors.
    // memcached counted 9 and 2 after the recorded rows and one more connection that logged
    // in; the -R rows add one refused pair.
    assert.equal(ctx.counters.authCmds, 8 + 1);
    assert.equal(ctx.counters.authErrors, 2 + 1);
  });

  it('refuses everyone without a file loaded', () => {
    const { ctx } = testContext();
    const conn = new Connection(ctx);
    assert.equal(conn.read('set a b c 9\r\nuser pass\r\n'), 'CLIENT_ERROR authentication failure\r\n');
    assert.equal(conn.authenticated, false);
  });
});
