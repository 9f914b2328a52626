/*
 * Framing and decoding of what a connection sends before it authenticates under -Y
 * (server/protocol/auth.ts), every fixture whole, byte by byte and split at every offset.
 * What each request is follows memcached 1.6.18 (proto_text.c try_read_command_asciiauth):
 * each fixture was sent to /usr/bin/memcached -Y with an auth file holding user:pass, and
 * its reply names the kind of the last request (STORED or "authentication failure" for a
 * user and password, "unauthenticated", "bad authentication token format", "bad command
 * line termination").
 */

import assert from 'node:assert/strict';
import { AUTH_READ_BUFFER, AuthKind, decodeAuth, frameAuth, type AuthRequest } from '../server/protocol/auth';
import { byteByByte, feedFrames, splits } from './helpers/feed';

type Outcome = AuthRequest | 'close';

function feed(chunks: Buffer[]): Outcome[] {
  return feedFrames(
    chunks,
    (buf, start, end, out) => frameAuth(buf, start, end, out),
    (buf, start, length) => {
      const req = decodeAuth(buf, start, length);
      return req.kind === AuthKind.Credentials ? { ...req, user: Buffer.from(req.user), password: Buffer.from(req.password) } : req;
    },
  );
}

const b = (s: string) => Buffer.from(s, 'latin1');
const creds = (user: string, password: string): AuthRequest => ({ kind: AuthKind.Credentials, user: b(user), password: b(password) });
const UNAUTHENTICATED: AuthRequest = { kind: AuthKind.Unauthenticated };
const BAD_FORMAT: AuthRequest = { kind: AuthKind.BadFormat };
const BAD_TERMINATION: AuthRequest = { kind: AuthKind.BadTermination };

const fixtures: [string, string, Outcome[]][] = [
  ['any other command', 'get foo\r\n', [UNAUTHENTICATED]],
  ['several other commands', 'get foo\r\nversion\r\nbogus\r\n', [UNAUTHENTICATED, UNAUTHENTICATED, UNAUTHENTICATED]],
  ['user and password', 'set a b c 9\r\nuser pass\r\n', [creds('user', 'pass')]],
  ['a line ending in a bare LF', 'set a b c 9\nuser pass\r\n', [creds('user', 'pass')]],
  ['spaces before set', '  set a b c 9\r\nuser pass\r\n', [creds('user', 'pass')]],
  ['a sixth token', 'set a b c 9 extra\r\nuser pass\r\n', [creds('user', 'pass')]],
  ['two spaces between user and password', 'set a b c 10\r\nuser  pass\r\n', [creds('user', 'pass')]],
  ['words after the password', 'set a b c 14\r\nuser pass more\r\n', [creds('user', 'pass')]],
  // strtoul's 64-bit result truncated to 32 bits: 4294967305 is 9.
  ['a length past 32 bits', 'set a b c 4294967305\r\nuser pass\r\n', [creds('user', 'pass')]],
  ['one word', 'set a b c 5\r\nuserx\r\n', [BAD_FORMAT]],
  ['a CR inside the token', 'set a b c 5\r\nuser\r\r\n', [BAD_FORMAT]],
  ['a NUL ends the token text', 'set a b c 9\r\nuser\0pass\r\n', [BAD_FORMAT]],
  ['an empty token', 'set a b c 0\r\n\r\n', [BAD_FORMAT]],
  ['an ordinary set', 'set foo 0 0 1\r\nx\r\n', [BAD_FORMAT]],
  // The data is read by its length; what follows is a new line.
  ['a token shorter than its data', 'set a b c 3\r\nabcde\r\n', [BAD_TERMINATION, UNAUTHENTICATED]],
  ['a token ending in LF LF', 'set a b c 9\r\nuser pass\n\n', [BAD_TERMINATION]],
  ['a set without a length', 'set a b c\r\n', [UNAUTHENTICATED]],
  ['a negative length', 'set a b c -1\r\n', [UNAUTHENTICATED]],
  ['sets is not set', 'sets a b c 9\r\nuser pass\r\n', [UNAUTHENTICATED, UNAUTHENTICATED]],
];

describe('ascii authentication: framing and decoding', () => {
  for (const [name, text, expect] of fixtures) {
    describe(name, () => {
      const bytes = b(text);
      it('whole', () => assert.deepEqual(feed([bytes]), expect));
      it('byte by byte', () => assert.deepEqual(feed(byteByByte(bytes)), expect));
      it('split at every offset', () => {
        for (const parts of splits(bytes)) assert.deepEqual(feed(parts), expect);
      });
    });
  }

  it('waits for a token up to the 16 KiB read buffer, and closes past it', () => {
    // memcached -Y, sent `set a b c 20000` and then N bytes: open at N = 16384, closed at 16385.
    const line = b('set a b c 20000\r\n');
    assert.equal(AUTH_READ_BUFFER, 16384);
    assert.deepEqual(feed([line, Buffer.alloc(AUTH_READ_BUFFER, 0x61)]), []);
    assert.deepEqual(feed([line, Buffer.alloc(AUTH_READ_BUFFER + 1, 0x61)]), ['close']);
  });

  it('closes on 2049 bytes without a newline, and waits at 2048', () => {
    // try_read_command_asciiauth: "If no newline after 1k, getting junk data, close out" (rbytes > 2048).
    assert.deepEqual(feed([Buffer.alloc(2048, 0x61)]), []);
    assert.deepEqual(feed([Buffer.alloc(2049, 0x61)]), ['close']);
  });
});
