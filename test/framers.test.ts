/*
 * One framer per language, and the two agree: the TypeScript framers (the js backend's:
 * frameText, frameBinary, frameAuth and the server's protocol choice), the addon's
 * (kmod/records_parse.c rp_measure and rp_choose, linked into the native engine) and
 * the records module's, as its strparser drives it (rp_frame over a copy callback, built
 * for the host from the same file by test/helpers/framer-host.c), must frame the same
 * byte streams into the same requests.
 *
 * Each stream arrives whole, byte by byte, and in two pieces cut at every offset (a
 * sample of offsets for the few streams longer than 8 KiB). After each piece, each framer
 * frames what it can; the transcript of a run lists, in order, every request (its
 * length, the bytes swallowed after it, and whether its length was waited for), then
 * what stopped framing: more bytes needed (and how many the request needs, when known),
 * nothing left, data still being swallowed, the connection closed, or a binary header
 * without the request magic (memcached closes there too).
 */

import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FrameStatus, newFrame, type Frame } from '../server/framing';
import { frameText } from '../server/protocol/text';
import { REQUEST_MAGIC, type BinaryLimits } from '../server/protocol/binary';
import { frameBinary } from '../server/protocol/binary-frame';
import { frameAuth } from '../server/protocol/auth';
import { chooseProtocol } from '../server/server';
import type { Config } from '../server/config';
import { loadNativeBinding, type NativeBinding } from '../server/records/native-addon';
import { Random } from './helpers/random';

/** The repository (also when run from dist/test, as tsc builds it). */
const ROOT =
  [path.join(__dirname, '..'), path.join(__dirname, '..', '..')].find((dir) => fs.existsSync(path.join(dir, 'kmod', 'records_parse.c'))) ??
  path.join(__dirname, '..');

/** The framer's protocol numbers (kmod/records_parse.h enum rp_proto). */
const enum Proto {
  Text = 1,
  Binary = 2,
  Auth = 3,
}

const CHOICE: Record<Config['protocol'], number> = { auto: 0, ascii: 1, binary: 2 };

interface Stream {
  name: string;
  bytes: Buffer;
  /** -B */
  choice: Config['protocol'];
  /** -Y: text requests are authentication requests until one carrying data arrives. */
  auth: boolean;
  limits: BinaryLimits;
}

/** Small limits, so that values too large to store keep the streams short. */
const SMALL: BinaryLimits = { itemSizeMax: 2000, casEnabled: true, slabChunkMax: 1000, sasl: true };
/** memcached's defaults. */
const DEFAULT: BinaryLimits = { itemSizeMax: 1024 * 1024, casEnabled: true, slabChunkMax: 512 * 1024, sasl: false };
const NO_CAS: BinaryLimits = { itemSizeMax: 2000, casEnabled: false, slabChunkMax: 2000, sasl: false };

// ---------------------------------------------------------------------------------------------
// Streams.

const latin1 = (s: string) => Buffer.from(s, 'latin1');

/** A binary request: header fields, then extras, key and value. */
function bin(
  opcode: number,
  fields: { key?: string; extras?: Buffer; value?: Buffer | number; bodylen?: number; magic?: number; keylen?: number } = {},
): Buffer {
  const key = latin1(fields.key ?? '');
  const extras = fields.extras ?? Buffer.alloc(0);
  const value = typeof fields.value === 'number' ? Buffer.alloc(fields.value, 0x76) : (fields.value ?? Buffer.alloc(0));
  const h = Buffer.alloc(24);
  h[0] = fields.magic ?? REQUEST_MAGIC;
  h[1] = opcode;
  h.writeUInt16BE(fields.keylen ?? key.length, 2);
  h[4] = extras.length;
  h.writeUInt32BE(fields.bodylen ?? extras.length + key.length + value.length, 8);
  h.writeUInt32BE(0x12345678, 12);
  return Buffer.concat([h, extras, key, value]);
}

function setExtras(flags: number): Buffer {
  const e = Buffer.alloc(8);
  e.writeUInt32BE(flags, 0);
  return e;
}

function streams(): Stream[] {
  const out: Stream[] = [];
  const add = (name: string, bytes: Buffer | string, options: Partial<Omit<Stream, 'name' | 'bytes'>> = {}) =>
    out.push({
      name,
      bytes: typeof bytes === 'string' ? latin1(bytes) : bytes,
      choice: options.choice ?? 'auto',
      auth: options.auth ?? false,
      limits: options.limits ?? SMALL,
    });

  // Text.
  add('text pipeline', 'get a\r\nset k 0 0 5\r\nhello\r\ngets a b c\r\nset k 1 2 3 noreply\r\nabc\r\ndelete k\r\nincr n 5\r\nversion\r\n');
  add(
    'text storage commands',
    'add k 0 0 1\r\na\r\nreplace k 0 0 1\r\nb\r\nappend k 0 0 1\r\nc\r\nprepend k 0 0 1\r\nd\r\ncas k 0 0 2 99\r\nhi\r\ncas k 0 0 2\r\nhi\r\n',
  );
  add('text bare newlines and spaces', 'get a\nset  k  0  0  2  \nhi\n  get b\r\n\r\n\r\r\n');
  add(
    'text bad lengths',
    'set k 0 0 abc\r\nhello\r\nset k 0 0 -1\r\nset k 0 0 5x\r\nset k 0 0 +5\r\nhello\r\nset k 0 0 0005\r\nhello\r\nset k 0 0 4294967298\r\nab\r\nset k 0 0 99999999999999999999\r\n',
  );
  add(
    'text bad numbers',
    'set k 4294967296 0 1\r\nx\r\nset k -1 0 1\r\nx\r\nset k 0 -1 1\r\nx\r\nset k 0 0 1 noreply x\r\nx\r\nset k\t0 0 1\r\nx\r\nset k 0 0 1\0zzz\r\nx\r\nset k 0 0 1\r \r\nx\r\n',
  );
  add('text bad data chunks', 'set k 0 0 5\r\nhelloXX\r\nset k 0 0 3\r\nab\nget k\r\nset k 0 0 2\r\n\r\n\r\nmn\r\n');
  add('text too many tokens', `get ${'k '.repeat(30)}\r\nset ${'x '.repeat(25)}\r\nmg k ${'v '.repeat(30)}\r\n`);
  add('text key too long', `set ${'k'.repeat(251)} 0 0 1\r\nx\r\nset ${'k'.repeat(250)} 0 0 1\r\nx\r\n`);
  add('text values too large (-I)', `set k 0 0 1990\r\n${'v'.repeat(1990)}\r\nset k 0 0 1930\r\n${'v'.repeat(1930)}\r\nget k\r\n`);
  add('text values too large without CAS', `set k 0 0 1945\r\n${'v'.repeat(1945)}\r\nset k 1 0 1945\r\n${'v'.repeat(1945)}\r\nget k\r\n`, {
    limits: NO_CAS,
  });
  add('text noreply value too large', `set k 0 0 2100 noreply\r\n${'v'.repeat(2100)}\r\nget k\r\n`);
  add(
    'meta',
    'mg k v t f\r\nms k 2 T0 F5\r\nhi\r\nmn\r\nma n D5\r\nmd k q\r\nme k\r\nms k xx\r\nhi\r\nms k\r\nms k 1 a b c d e f g h i j k l m n o p q r\r\nx\r\nms k 2 I\r\nhi\r\n',
  );
  add('meta set too large', `ms k 1999 T0\r\n${'v'.repeat(1999)}\r\nmg k\r\nms k 2000 q\r\n${'v'.repeat(2000)}\r\nmn\r\n`);
  add('HTTP request lines', 'GET / HTTP/1.1\r\nHost: example\r\n\r\nget k HTTP/1.0\r\nPOST /set HTTP/1.1\r\n');
  add('garbage bytes', '\x01\x02\xff\n\x00\x00\r\nfoo bar baz\r\n\xc3\xa9t\xe9\r\n');
  add('line too long', `set k 0 0 5 ${'x'.repeat(2100)}`);
  add('line too long after requests', `get a\r\nset k 0 0 2\r\nhi\r\n${'y'.repeat(2049)}`);
  add('long get line', `get ${'key '.repeat(1200)}\r\nget b\r\n`);
  add('long gets line without newline', `gets ${'key '.repeat(1000)}`);
  add('long get line after spaces', `${' '.repeat(100)}get ${'k'.repeat(2100)}\r\n`);
  add('get after 101 spaces is not a get', `${' '.repeat(101)}get ${'k'.repeat(2100)}\r\n`);
  add('getx is not a get', `getx ${'k'.repeat(2100)}\r\n`);
  add('text after a 0x80 byte under -B ascii', '\x80abc\nget a\r\n', { choice: 'ascii' });
  add('text under -B binary', 'get a\r\nset k 0 0 1\r\nx\r\n', { choice: 'binary' });
  add('text under memcached defaults', 'set k 0 0 5\r\nhello\r\nget k\r\nms k 3\r\nabc\r\n', { limits: DEFAULT });

  // Binary.
  const get = bin(0x00, { key: 'abc' });
  const noop = bin(0x0a);
  add(
    'binary pipeline',
    Buffer.concat([
      get,
      bin(0x01, { key: 'k', extras: setExtras(5), value: latin1('value') }),
      noop,
      bin(0x0c, { key: 'kk' }),
      bin(0x05, { key: 'n', extras: Buffer.alloc(20) }),
      bin(0x10, { key: 'items' }),
      bin(0x07),
    ]),
  );
  add(
    'binary set too large (-I)',
    Buffer.concat([
      bin(0x01, { key: 'k', extras: setExtras(1), value: 1980 }),
      noop,
      bin(0x11, { key: 'k', extras: setExtras(0), value: 1940 }),
      get,
    ]),
  );
  add(
    'binary append too large, and empty',
    Buffer.concat([bin(0x0e, { key: 'k', value: 1990 }), bin(0x0f, { key: 'k' }), bin(0x19, { key: 'k', value: 3 }), noop]),
  );
  add(
    'binary wrong shapes',
    Buffer.concat([
      bin(0x01, { key: 'k', value: 5 }),
      bin(0x00, { key: 'k', extras: Buffer.alloc(4) }),
      bin(0x0e, { key: '', value: 4 }),
      bin(0x04, { key: 'k', value: 6 }),
      noop,
    ]),
  );
  add(
    'binary inconsistent lengths',
    Buffer.concat([bin(0x00, { key: 'abc', bodylen: 2 }), bin(0x01, { key: 'k', extras: setExtras(0), bodylen: 5 }), noop]),
  );
  add('binary key too long', Buffer.concat([bin(0x01, { key: 'k'.repeat(251), extras: setExtras(0), value: 3 }), noop]));
  add(
    'binary unknown opcodes',
    Buffer.concat([bin(0x1b, { value: 40 }), bin(0x7f, { key: 'k', value: 10 }), bin(0xff, { bodylen: 0x80000005 }), noop]),
  );
  add('binary body lengths past INT_MAX', Buffer.concat([bin(0x01, { key: 'k', extras: setExtras(0), bodylen: 0xfffffff0 }), noop]));
  add(
    'binary SASL',
    Buffer.concat([
      bin(0x20),
      bin(0x21, { key: 'PLAIN', value: latin1('\0user\0pass') }),
      bin(0x22, { key: 'PLAIN', value: 990 }),
      bin(0x21, { key: 'M'.repeat(33), value: 5 }),
      noop,
    ]),
  );
  add(
    'binary SASL without -S',
    Buffer.concat([bin(0x20), bin(0x21, { key: 'PLAIN', value: latin1('\0user\0pass') }), bin(0x22, { key: 'PLAIN' }), noop]),
    { limits: { ...SMALL, sasl: false } },
  );
  add('binary SASL past slab_chunk_max', Buffer.concat([bin(0x21, { key: 'PLAIN', value: 1200 }), noop]), {
    limits: { ...SMALL, itemSizeMax: 4000, slabChunkMax: 1000 },
  });
  add('binary bad magic', Buffer.concat([get, noop, bin(0x0a, { magic: 0x81 }), get]));
  add('binary bad magic first', Buffer.concat([bin(0x00, { magic: 0x00, key: 'abc' }), get]), { choice: 'binary' });
  add('binary after 0x80 under -B ascii', Buffer.concat([noop, latin1('\r\n')]), { choice: 'ascii' });
  add('binary under memcached defaults', Buffer.concat([get, bin(0x01, { key: 'k', extras: setExtras(7), value: 100 }), noop]), {
    limits: DEFAULT,
  });
  add('binary key past the read buffer', Buffer.concat([bin(0x00, { keylen: 20000, bodylen: 20000 }), Buffer.alloc(16500, 0x61)]));
  add('binary key past the read buffer, all of it', Buffer.concat([bin(0x00, { key: 'k'.repeat(16400) }), noop]));
  add(
    'binary extras and key at the read buffer',
    Buffer.concat([bin(0x00, { keylen: 16360, bodylen: 16360, extras: Buffer.alloc(0) }), Buffer.alloc(16360, 0x61), noop]),
  );

  // -Y: authentication first.
  add('auth then text', 'set a b c 11\r\nuser passwd\r\nget k\r\nset k 0 0 2\r\nhi\r\n', { auth: true });
  add('auth refusals', 'get k\r\nset k 0 0 2\r\nhi\r\nset a b c\r\nset a b c -1\r\nset a b c 2x\r\nset a b c +3\r\nabc\r\nget k\r\n', {
    auth: true,
  });
  add('auth token too large', `set a b c 20000\r\n${'u'.repeat(16500)}`, { auth: true });
  add('auth token at the read buffer', `set a b c 16382\r\n${'u'.repeat(16382)}\r\nget k\r\n`, { auth: true });
  add('auth line too long', `set a b c ${'9'.repeat(2100)}`, { auth: true });
  add('auth length wraps', 'set a b c 4294967297\r\nabc\r\nget k\r\n', { auth: true });
  add('auth and binary', Buffer.concat([get, noop]), { auth: true });
  add('auth bare newlines', '\n\nx\nset a b c 1\nx\r\n\n', { auth: true });

  // Generated: random mixtures of the requests above, cut anywhere.
  const r = new Random(3);
  const pieces = [
    'get a\r\n',
    'set k 0 0 3\r\nabc\r\n',
    'set k 0 0 1995\r\n' + 'v'.repeat(1995) + '\r\n',
    'ms k 5 T1\r\nhello\r\n',
    'mg k v\r\n',
    'set k 0 0 x\r\n',
    'cas k 0 0 1 5\r\nz\r\n',
    'GET / HTTP/1.1\r\n',
    'set k 0 0 3\r\nabcdef\r\n',
    '\r\n',
    'quit\r\n',
  ];
  for (let i = 0; i < 30; i++) {
    const parts: string[] = [];
    for (let n = 1 + r.below(6); n > 0; n--) parts.push(r.pick(pieces));
    if (r.below(5) === 0) parts.push('z'.repeat(2040 + r.below(20)));
    add(`generated text ${i}`, parts.join(''), { limits: r.pick([SMALL, NO_CAS, DEFAULT]) });
  }
  const binPieces = [
    get,
    noop,
    bin(0x01, { key: 'k', extras: setExtras(r.next()), value: 10 }),
    bin(0x01, { key: 'k', extras: setExtras(0), value: 1990 }),
    bin(0x21, { key: 'PLAIN', value: 20 }),
    bin(0x30, { value: 7 }),
  ];
  for (let i = 0; i < 20; i++) {
    const parts: Buffer[] = [];
    for (let n = 1 + r.below(5); n > 0; n--) parts.push(r.pick(binPieces));
    if (r.below(6) === 0) parts.push(bin(0x0a, { magic: r.below(0x80) }));
    add(`generated binary ${i}`, Buffer.concat(parts), { limits: r.pick([SMALL, { ...SMALL, sasl: false }, DEFAULT]) });
  }
  return out;
}

/** Split offsets: 0 whole, ~0 byte by byte, else one cut there. */
const WHOLE = 0;
const BYTE_BY_BYTE = 0xffffffff;
const EVERY_OFFSET_UP_TO = 8192;

function splits(length: number): number[] {
  const out = [WHOLE, BYTE_BY_BYTE];
  for (let i = 1; i < length; i++) {
    const near = (at: number) => Math.abs(i - at) <= 3;
    if (length <= EVERY_OFFSET_UP_TO || i < 64 || length - i < 64 || i % 61 === 0 || near(2048) || near(16384) || near(16385 + 24)) {
      out.push(i);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running a framer over a stream.

/** One framing decision over bytes [start, end) of buf, as [status, length, swallow, needed]. */
type FrameFn = (buf: Buffer, start: number, end: number, proto: Proto, limits: BinaryLimits) => readonly [number, number, number, number];

const tsFrame = (() => {
  const out: Frame = newFrame();
  return (buf: Buffer, start: number, end: number, proto: Proto, limits: BinaryLimits) => {
    const f =
      proto === Proto.Binary
        ? frameBinary(buf, start, end, limits, out)
        : proto === Proto.Auth
          ? frameAuth(buf, start, end, out)
          : frameText(buf, start, end, limits, out);
    return [f.status, f.length, f.swallow, f.needed] as const;
  };
})();

/** An authentication request that carried data authenticates (the test's rule, also in framer-host.c). */
function carriedData(buf: Buffer, start: number, length: number): boolean {
  const nl = buf.indexOf(0x0a, start);
  return nl !== -1 && nl + 1 < start + length;
}

/** The transcript of one run: the stream arrives up to each of `ends` in turn. */
function transcript(s: Stream, ends: number[], frame: FrameFn, choose: (choice: Config['protocol'], first: number) => Proto): string {
  const buf = s.bytes;
  const words: string[] = [];
  let proto: Proto | null = null;
  let authenticated = !s.auth;
  let pos = 0;
  let swallow = 0;
  let waited = false;
  for (const have of ends) {
    for (;;) {
      if (swallow > 0) {
        const skip = Math.min(swallow, have - pos);
        swallow -= skip;
        pos += skip;
        if (swallow > 0) {
          words.push(`D${swallow}`);
          break;
        }
      }
      if (pos === have) {
        words.push('E');
        break;
      }
      if (proto === null) proto = choose(s.choice, buf[pos]);
      const mode = proto === Proto.Text && !authenticated ? Proto.Auth : proto;
      const [status, length, swallowAfter, needed] = frame(buf, pos, have, mode, s.limits);
      if (status === FrameStatus.NeedMore) {
        words.push(`N${needed}`);
        if (needed > 0) waited = true;
        break;
      }
      if (status === FrameStatus.Close) return [...words, 'C'].join(' ');
      assert.equal(status, FrameStatus.Whole);
      if (proto === Proto.Binary && buf[pos] !== REQUEST_MAGIC) return [...words, 'X'].join(' ');
      words.push(`R${length}/${swallowAfter}${waited ? '+' : ''}`);
      waited = false;
      if (mode === Proto.Auth && carriedData(buf, pos, length)) authenticated = true;
      pos += length;
      swallow = swallowAfter;
    }
  }
  return words.join(' ');
}

function endsOf(length: number, split: number): number[] {
  if (split === WHOLE) return [length];
  if (split === BYTE_BY_BYTE) return Array.from({ length }, (_, i) => i + 1);
  return [split, length];
}

const tsChoose = (choice: Config['protocol'], first: number) => (chooseProtocol(choice, first) === 'binary' ? Proto.Binary : Proto.Text);

// ---------------------------------------------------------------------------------------------
// The module's framer on the host.

function buildHost(dir: string): string {
  const exe = path.join(dir, 'framer-host');
  const cc = process.env.CC ?? 'cc';
  const sanitize =
    spawnSync(cc, ['-fsanitize=address,undefined', '-x', 'c', '-o', path.join(dir, 'probe'), '-'], {
      input: 'int main(void) { return 0; }',
    }).status === 0;
  execFileSync(
    cc,
    [
      '-O1',
      '-g',
      '-std=gnu11',
      '-Wall',
      '-Wextra',
      '-Wno-unused-parameter',
      '-Werror',
      ...(sanitize ? ['-fsanitize=address,undefined', '-fno-sanitize-recover=all'] : []),
      '-I',
      path.join(ROOT, 'kmod'),
      '-o',
      exe,
      path.join(ROOT, 'test', 'helpers', 'framer-host.c'),
      path.join(ROOT, 'kmod', 'records_parse.c'),
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return exe;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** Every stream and split through the host framer: one transcript per line. */
function runHost(exe: string, cases: { stream: Stream; splits: number[] }[]): string[] {
  const input: Buffer[] = [];
  for (const { stream: s, splits: list } of cases) {
    input.push(Buffer.from([CHOICE[s.choice], s.auth ? 1 : 0, s.limits.casEnabled ? 1 : 0, s.limits.sasl ? 1 : 0]));
    input.push(u32(s.limits.itemSizeMax), u32(s.limits.slabChunkMax), u32(s.bytes.length), s.bytes, u32(list.length));
    for (const split of list) input.push(u32(split));
  }
  const result = spawnSync(exe, [], {
    input: Buffer.concat(input),
    maxBuffer: 1 << 30,
    env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0' },
  });
  assert.equal(result.status, 0, `framer-host failed: ${result.stderr}`);
  const lines = result.stdout.toString('latin1').split('\n');
  lines.pop();
  return lines.map((line) => line.trimEnd());
}

// ---------------------------------------------------------------------------------------------

describe('one framer per language: TypeScript, the addon and the module frame alike', function () {
  this.timeout(600000);
  const all = streams();
  const cases = all.map((stream) => ({ stream, splits: splits(stream.bytes.length) }));
  let native: NativeBinding | null = null;
  let tmp = '';
  let host: string[] = [];
  const expected: string[][] = [];

  before(function () {
    // The TypeScript framers are the reference every other framer is held to.
    for (const { stream, splits: list } of cases) {
      expected.push(list.map((split) => transcript(stream, endsOf(stream.bytes.length, split), tsFrame, tsChoose)));
    }
    try {
      native = loadNativeBinding();
    } catch {
      native = null;
    }
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'framers-'));
  });

  after(() => {
    if (tmp !== '') fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('the streams cover every outcome', () => {
    const words = new Set(
      expected
        .flat()
        .join(' ')
        .split(' ')
        .map((w) => w.replace(/[0-9]+/g, '#')),
    );
    for (const w of ['R#/#', 'R#/#+', 'N#', 'E', 'D#', 'C', 'X']) assert.ok(words.has(w), `no stream gives ${w}`);
    const swallowed = expected.flat().some((t) => /R\d+\/[1-9]/.test(t));
    assert.ok(swallowed, 'no request swallows a value');
  });

  it('the addon (rp_measure, rp_choose) frames as the TypeScript framers do', function () {
    if (native === null) this.skip();
    const addon = native as NativeBinding;
    const addonFrame: FrameFn = (buf, start, end, proto, limits) =>
      addon.frame(buf.subarray(start, end), proto, limits.itemSizeMax, limits.casEnabled ? 1 : 0, limits.slabChunkMax, limits.sasl ? 1 : 0);
    const addonChoose = (choice: Config['protocol'], first: number) => addon.chooseProtocol(CHOICE[choice], first) as Proto;
    let runs = 0;
    cases.forEach(({ stream, splits: list }, i) => {
      list.forEach((split, j) => {
        const got = transcript(stream, endsOf(stream.bytes.length, split), addonFrame, addonChoose);
        assert.equal(got, expected[i][j], `${stream.name}, ${splitName(split)}`);
        runs++;
      });
    });
    if (process.env.RC_TEST_VERBOSE) console.log(`    ${cases.length} streams, ${runs} runs`);
    assert.ok(runs > 50000, `only ${runs} runs`);
  });

  it('the module (rp_frame, built for the host) frames as the TypeScript framers do', function () {
    try {
      host = runHost(buildHost(tmp), cases);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') this.skip(); // no C compiler here
      throw err;
    }
    let k = 0;
    cases.forEach(({ stream, splits: list }, i) => {
      list.forEach((split, j) => {
        assert.equal(host[k++], expected[i][j], `${stream.name}, ${splitName(split)}`);
      });
    });
    assert.equal(k, host.length);
  });

  it('a get line of 16 MiB is the longest any of them waits for', function () {
    // GET_LINE_LIMIT and RP_GET_LINE_MAX: too long for the split runs above.
    const limit = 16 * 1024 * 1024;
    const line = Buffer.alloc(limit + 2, 0x6b);
    line.write('get ', 0, 'latin1');
    const long: Stream = { name: 'get line of 16 MiB', bytes: line, choice: 'auto', auth: false, limits: DEFAULT };
    const list = [WHOLE, 2049, limit - 1, limit, limit + 1];
    const want = list.map((split) => transcript(long, endsOf(line.length, split), tsFrame, tsChoose));
    assert.deepEqual(want, ['C', 'N0 C', 'N0 C', 'N0 C', 'C']);
    const shorter = line.subarray(0, limit);
    assert.equal(tsFrame(shorter, 0, shorter.length, Proto.Text, DEFAULT)[0], FrameStatus.NeedMore);
    if (native !== null) {
      assert.deepEqual(native.frame(line, Proto.Text, DEFAULT.itemSizeMax, 1, DEFAULT.slabChunkMax, 0), [FrameStatus.Close, 0, 0, 0]);
      assert.deepEqual(native.frame(shorter, Proto.Text, DEFAULT.itemSizeMax, 1, DEFAULT.slabChunkMax, 0), [FrameStatus.NeedMore, 0, 0, 0]);
    }
    if (host.length > 0 || fs.existsSync(path.join(tmp, 'framer-host'))) {
      const got = runHost(path.join(tmp, 'framer-host'), [{ stream: long, splits: list }]);
      assert.deepEqual(got, want);
    }
  });
});

function splitName(split: number): string {
  return split === WHOLE ? 'whole' : split === BYTE_BY_BYTE ? 'byte by byte' : `split at ${split}`;
}
