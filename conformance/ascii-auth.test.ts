// ASCII authentication (-Y FILE) against Debian's memcached started with the
// same password file: what an unauthenticated connection is answered (one
// request per connection, and pipelined, where memcached keeps only the last
// answer it has not yet written), the token exchange, the password file's
// quirks, SIGHUP reloading it, and the start-up refusals.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { candidateKind, startExpectingFailure, usePair, type ServerPair } from './lib/servers';
import { compareCase, defineCases, step, type Case } from './lib/cases';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-auth-'));
process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));

function authFile(name: string, contents: string | Buffer): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, contents);
  return file;
}

const PASSWORDS = authFile('passwords', 'alice:secret\nbob:pa:ss\n');

/** `set <key> 0 0 <n>\r\n<user> <password>\r\n` */
function token(user: string, password: string, key = 'auth'): string {
  const data = `${user} ${password}`;
  return `set ${key} 0 0 ${data.length}\r\n${data}\r\n`;
}

const LOGIN = token('alice', 'secret');

// Cases on a connection that never authenticates end without the `version`
// sentinel, which would itself only be answered `CLIENT_ERROR unauthenticated`.
const unauthenticated = (name: string, steps: Case['steps']): Case => ({ name, steps, sentinel: false });

describe('ascii auth (-Y): one request per connection', function () {
  const pair = usePair(['-Y', PASSWORDS]);
  defineCases(pair, [
    unauthenticated('get before authenticating', [step('get foo\r\n')]),
    unauthenticated('set with data that is not "user password"', [step('set x 0 0 6\r\nalices\r\n')]),
    unauthenticated('a wrong password', [step(token('alice', 'wrong!'))]),
    unauthenticated('an unknown user', [step(token('carol', 'secret'))]),
    unauthenticated('the token without CR LF after it', [step('set x 0 0 12\r\nalice secretXX')]),
    unauthenticated('an empty token', [step('set x 0 0 0\r\n\r\n')]),
    unauthenticated('a meta command', [step('mg foo v\r\n')]),
    unauthenticated('add with a data block: the data is a request of its own', [step('add a 0 0 5\r\nhello\r\n')]),
    unauthenticated('a set line whose length is not a number', [step('set a 0 0 +x\r\n')]),
    unauthenticated('a set line with a negative length', [step('set a 0 0 -1\r\n')]),
    unauthenticated('sets is not set', [step('sets a b c 12\r\nalice secret\r\n')]),
    unauthenticated('an HTTP request line', [step('GET / HTTP/1.1\r\n')]),
    unauthenticated('a binary request header', [
      step(Buffer.from([0x80, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0d, 0x0a])),
    ]),
    unauthenticated('a line of 3000 bytes without a newline closes', [step('x'.repeat(3000), 'close')]),
    unauthenticated('a token too long for the read buffer waits while 16 KiB fill the buffer', [
      step(`set x 0 0 20000\r\n${'a'.repeat(16384)}`, 'none'),
    ]),
    unauthenticated('a token too long for the read buffer closes once more than 16 KiB are in', [
      step(`set x 0 0 20000\r\n${'a'.repeat(17000)}`, 'close'),
    ]),
    unauthenticated('a token of exactly 16 KiB is read', [step(`set x 0 0 16382\r\n${'a'.repeat(16384)}`)]),
    { name: 'the right password, then the cache', steps: [step(LOGIN), step('set k 0 0 1\r\nv\r\n'), step('get k\r\n')] },
    { name: 'the user and password with extra words and spaces', steps: [step(token('alice', ' secret more')), step('version\r\n')] },
    { name: 'a password with a colon in it', steps: [step(token('bob', 'pa:ss')), step('version\r\n')] },
    { name: 'noreply on the token is ignored', steps: [step('set x 0 0 12 noreply\r\nalice secret\r\nversion\r\n', 2)] },
    { name: 'a bare LF ends the line', steps: [step('set a b c 12\nalice secret\r\nversion\r\n', 2)] },
    {
      name: 'the line and the token in separate packets',
      steps: [{ send: ['set a 0 0 12\r\n', 'alice ', 'secret\r\n'], delayMs: 60, expect: 1 }, step('version\r\n')],
    },
    {
      name: 'a failed attempt, then a good one, on one connection',
      steps: [step(token('alice', 'nope')), step(LOGIN), step('get auth\r\n')],
    },
    {
      name: 'after authenticating, memcached framing applies to a set line',
      steps: [step(`${LOGIN}set a b c 12\r\nalice secret\r\n`, 3)],
    },
    {
      name: 'stats settings names the file',
      steps: [
        step(LOGIN),
        step('stats settings\r\n', 1, {
          render: (reply) => /STAT auth_enabled_\w+ [^\r]*/g.exec(reply.toString('latin1'))?.[0] ?? 'missing',
        }),
      ],
    },
  ]);
});

describe('ascii auth (-Y): counters', function () {
  const pair = usePair(['-Y', PASSWORDS]);
  defineCases(pair, [
    {
      name: 'auth_cmds and auth_errors count attempts',
      steps: [
        step(token('alice', 'x'), 1, { conn: 1, hangUp: 'end' }),
        step(LOGIN),
        step('stats\r\n', 1, {
          render: (reply) =>
            reply
              .toString('latin1')
              .split('\r\n')
              .filter((line) => line.startsWith('STAT auth_'))
              .join(' | '),
        }),
      ],
    },
  ]);
});

describe('ascii auth (-Y): pipelined requests', function () {
  const pair = usePair(['-Y', PASSWORDS]);
  defineCases(pair, [
    unauthenticated('three refusals in one packet are answered once', [step('get a\r\nget b\r\nmn\r\n')]),
    unauthenticated('25 refusals in one packet: one answer per -R requests', [step('get a\r\n'.repeat(25), 2)]),
    unauthenticated('a refusal, then a wrong password', [step(`get a\r\n${token('alice', 'bad')}`)]),
    {
      name: 'refusals, the token, then requests',
      steps: [step(`get foo\r\nget bar\r\n${LOGIN}get auth\r\nset y 0 0 1\r\n1\r\nget y\r\n`, 4)],
    },
    {
      name: 'a refusal in one packet, then the token in the next',
      steps: [step('get a\r\n'), step(`${LOGIN}version\r\n`, 2)],
    },
    unauthenticated('-R 20 more requests after a refusal, with a line too long at the end', [
      step(`get a\r\n${'x'.repeat(3000)}`, 'close'),
    ]),
  ]);
});

describe('ascii auth (-Y): with -R 2', function () {
  const pair = usePair(['-Y', PASSWORDS, '-R', '2']);
  defineCases(pair, [unauthenticated('seven refusals in one packet', [step('get a\r\n'.repeat(7), 3)])]);
});

/** Cases against a pair started with `-Y <file>`, for the file's quirks. */
function withFile(title: string, contents: string | Buffer, cases: Case[]): void {
  describe(`ascii auth (-Y): ${title}`, function () {
    const pair = usePair(['-Y', authFile(title.replace(/\W+/g, '-'), contents)]);
    defineCases(pair, cases);
  });
}

const tryLogin = (user: string, password: string): Case =>
  unauthenticated(`${user} ${password.length > 12 ? password.slice(0, 12) + '...' : password}`, [step(token(user, password))]);

withFile('one line without a final newline', 'alice:secret', [tryLogin('alice', 'secret'), tryLogin('alice', 'secre')]);
withFile('two lines, the last without a newline', 'bob:pw\nalice:secret', [tryLogin('alice', 'secret'), tryLogin('bob', 'pw')]);
withFile('CR LF lines', 'alice:secret\r\nbob:pw2\r\n', [tryLogin('alice', 'secret'), tryLogin('bob', 'pw2')]);
withFile('ten entries', Array.from({ length: 10 }, (_, i) => `u${i}:p${i}\n`).join(''), [
  tryLogin('u0', 'p0'),
  tryLogin('u7', 'p7'),
  tryLogin('u8', 'p8'),
  tryLogin('u9', 'p9'),
]);
withFile('a line longer than 255 bytes', `${'u'.repeat(10)}:${'p'.repeat(300)}\nbob:pw2\n`, [
  tryLogin('u'.repeat(10), 'p'.repeat(300)),
  tryLogin('u'.repeat(10), 'p'.repeat(244)),
  tryLogin('bob', 'pw2'),
]);
withFile('an empty file', '', [tryLogin('alice', 'secret'), unauthenticated('get', [step('get a\r\n')])]);
withFile('an empty user', ':secret\n', [
  tryLogin('', 'secret'),
  unauthenticated('a token with the password alone', [step('set a 0 0 7\r\n secret\r\n')]),
]);
withFile('a NUL in a password', Buffer.from('alice:sec\0ret\nbob:pw2\n', 'latin1'), [tryLogin('alice', 'sec'), tryLogin('bob', 'pw2')]);

describe('ascii auth (-Y): SIGHUP reloads the file', function () {
  const file = authFile('reloaded', 'alice:secret\n');
  const pair = usePair(['-Y', file]);
  it('the new password works and the old one does not', async function () {
    this.timeout(20000);
    await compareCase(pair(), tryLogin('alice', 'secret'));
    fs.writeFileSync(file, 'alice:changed\n');
    signalBoth(pair(), 'SIGHUP');
    // memcached reloads from its once-a-second clock tick.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await compareCase(pair(), tryLogin('alice', 'changed'));
    await compareCase(pair(), tryLogin('alice', 'secret'));
  });
  it('a file that no longer reads keeps the entries loaded before', async function () {
    this.timeout(20000);
    fs.writeFileSync(file, 'no colon here\n');
    signalBoth(pair(), 'SIGHUP');
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await compareCase(pair(), tryLogin('alice', 'changed'));
  });
});

function signalBoth(pair: ServerPair, signal: NodeJS.Signals): void {
  pair.reference.child.kill(signal);
  pair.candidate.child.kill(signal);
}

describe('ascii auth (-Y): start-up refusals', function () {
  const refusals: [string, string[]][] = [
    ['a missing file', ['-Y', path.join(dir, 'missing')]],
    ['a line without a colon', ['-Y', authFile('no-colon', 'alice\n')]],
    ['an empty line between entries', ['-Y', authFile('blank-line', 'alice:secret\n\nbob:pw\n')]],
    ['a colon past the first 255 bytes', ['-Y', authFile('late-colon', `${'u'.repeat(300)}:p\n`)]],
    ['with -U', ['-Y', PASSWORDS, '-U', '11311']],
    ['with -B binary', ['-Y', PASSWORDS, '-B', 'binary']],
    ['with -B auto', ['-Y', PASSWORDS, '-B', 'auto']],
  ];
  for (const [name, flags] of refusals) {
    it(name, async function () {
      const [reference, candidate] = await Promise.all([
        startExpectingFailure('memcached', flags),
        startExpectingFailure(candidateKind(), flags),
      ]);
      const firstLine = (text: string): string => text.split('\n')[0];
      assert.deepEqual(
        { exit: candidate.exit, error: firstLine(candidate.stderr) },
        { exit: reference.exit, error: firstLine(reference.stderr) },
      );
    });
  }
});
