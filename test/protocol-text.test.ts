import assert from 'node:assert/strict';
import { FrameStatus, newFrame } from '../server/framing';
import { Op, decodeText, frameText, type TextLimits, type TextRequest } from '../server/protocol/text';
import { StoreMode } from '../server/memcached/item';
import { byteByByte, feedFrames, splits } from './helpers/feed';
import { Reply } from '../server/protocol/replies';

const limits: TextLimits = { itemSizeMax: 1024 * 1024, casEnabled: true };

type Outcome = TextRequest | 'close';

function feed(chunks: Buffer[]): Outcome[] {
  return feedFrames(
    chunks,
    (buf, start, end, out) => frameText(buf, start, end, limits, out),
    (buf, start, length) => normalize(decodeText(buf, start, length, limits)),
  );
}

/** Copies views into plain values so results from different feeds compare equal. */
function normalize(req: TextRequest): TextRequest {
  if (req.op === Op.Store) return { ...req, data: Buffer.from(req.data) };
  if (req.op === 'meta') return { ...req, data: req.data === null ? null : Buffer.from(req.data) };
  return { ...req };
}

interface Fixture {
  name: string;
  bytes: Buffer;
  expect: Outcome[];
}

const b = (s: string) => Buffer.from(s, 'latin1');
const err = (reply: Buffer, noreply = false): TextRequest => ({ op: Op.Error, reply, noreply });
const store = (
  mode: StoreMode,
  key: string,
  flags: number,
  exptime: number,
  data: string,
  extra: Partial<{ cas: bigint; noreply: boolean }> = {},
): TextRequest => ({
  op: Op.Store,
  mode,
  key,
  flags,
  exptime,
  data: b(data),
  cas: extra.cas ?? 0n,
  noreply: extra.noreply ?? false,
  tooLarge: false,
});
const get = (keys: string[], extra: Partial<{ withCas: boolean; touch: boolean; exptime: number; badKey: boolean }> = {}): TextRequest => ({
  op: Op.Get,
  keys,
  withCas: extra.withCas ?? false,
  touch: extra.touch ?? false,
  exptime: extra.exptime ?? 0,
  badKey: extra.badKey ?? false,
});

const key250 = 'k'.repeat(250);
const key251 = 'k'.repeat(251);
const manyKeys = Array.from({ length: 60 }, (_, i) => `key${i}`);

const fixtures: Fixture[] = [
  { name: 'get one key', bytes: b('get foo\r\n'), expect: [get(['foo'])] },
  { name: 'get with a bare newline', bytes: b('get foo\n'), expect: [get(['foo'])] },
  { name: 'gets many keys', bytes: b('gets a b c\r\n'), expect: [get(['a', 'b', 'c'], { withCas: true })] },
  { name: 'get of 60 keys spans tokenizer chunks', bytes: b(`get ${manyKeys.join(' ')}\r\n`), expect: [get(manyKeys)] },
  { name: 'gat with exptime', bytes: b('gat 100 a b\r\n'), expect: [get(['a', 'b'], { touch: true, exptime: 100 })] },
  { name: 'gats with no key', bytes: b('gats 5\r\n'), expect: [get([], { touch: true, withCas: true, exptime: 5 })] },
  { name: 'gat with a bad exptime', bytes: b('gat abc a\r\n'), expect: [err(Reply.INVALID_EXPTIME)] },
  { name: 'get without a key', bytes: b('get\r\n'), expect: [err(Reply.ERROR)] },
  { name: '250-byte key', bytes: b(`get ${key250}\r\n`), expect: [get([key250])] },
  { name: '251-byte key in a multiget', bytes: b(`get a ${key251} b\r\n`), expect: [get(['a'], { badKey: true })] },
  { name: 'runs of spaces', bytes: b('  get   a    b  \r\n'), expect: [get(['a', 'b'])] },
  { name: 'set with data', bytes: b('set foo 5 0 3\r\nbar\r\n'), expect: [store(StoreMode.Set, 'foo', 5, 0, 'bar\r\n')] },
  {
    name: 'set with CR LF inside the data',
    bytes: b('set k 0 0 4\r\n\r\n\r\n\r\n'),
    expect: [store(StoreMode.Set, 'k', 0, 0, '\r\n\r\n\r\n')],
  },
  { name: 'set of an empty value', bytes: b('set k 0 0 0\r\n\r\n'), expect: [store(StoreMode.Set, 'k', 0, 0, '\r\n')] },
  { name: 'set noreply', bytes: b('set k 1 2 1 noreply\r\nx\r\n'), expect: [store(StoreMode.Set, 'k', 1, 2, 'x\r\n', { noreply: true })] },
  {
    name: 'add replace append prepend',
    bytes: b('add a 0 0 1\r\n1\r\nreplace a 0 0 1\r\n2\r\nappend a 0 0 1\r\n3\r\nprepend a 0 0 1\r\n4\r\n'),
    expect: [
      store(StoreMode.Add, 'a', 0, 0, '1\r\n'),
      store(StoreMode.Replace, 'a', 0, 0, '2\r\n'),
      store(StoreMode.Append, 'a', 0, 0, '3\r\n'),
      store(StoreMode.Prepend, 'a', 0, 0, '4\r\n'),
    ],
  },
  { name: 'cas', bytes: b('cas k 0 0 1 12345\r\nx\r\n'), expect: [store(StoreMode.Cas, 'k', 0, 0, 'x\r\n', { cas: 12345n })] },
  { name: 'flags wrap at 32 bits', bytes: b('set k 4294967296 0 1\r\nx\r\n'), expect: [store(StoreMode.Set, 'k', 0, 0, 'x\r\n')] },
  { name: 'negative exptime', bytes: b('set k 0 -1 1\r\nx\r\n'), expect: [store(StoreMode.Set, 'k', 0, -1, 'x\r\n')] },
  { name: 'negative length: no data block', bytes: b('set k 0 0 -1\r\nget k\r\n'), expect: [err(Reply.BAD_FORMAT), get(['k'])] },
  {
    name: 'non-numeric length, noreply: data parsed as a command',
    bytes: b('set k 0 0 abc noreply\r\nx\r\n'),
    expect: [err(Reply.BAD_FORMAT, true), err(Reply.ERROR)],
  },
  { name: 'too many tokens for set', bytes: b('set k 0 0 1 noreply extra\r\n'), expect: [err(Reply.ERROR)] },
  {
    name: 'data block too long',
    bytes: b('set k 0 0 1\r\nxyz\r\n'),
    expect: [{ op: Op.Error, reply: Reply.BAD_DATA_CHUNK, noreply: false, failedSetSize: 48 + 2 + 3 + 8 }, err(Reply.ERROR)],
  },
  { name: 'storage key of 251 bytes', bytes: b(`set ${key251} 0 0 1\r\nx\r\n`), expect: [err(Reply.BAD_FORMAT), err(Reply.ERROR)] },
  {
    name: 'delete forms',
    bytes: b('delete a\r\ndelete a 0\r\ndelete a noreply\r\ndelete a 0 noreply\r\ndelete a 1\r\n'),
    expect: [
      { op: Op.Delete, key: 'a', noreply: false },
      { op: Op.Delete, key: 'a', noreply: false },
      { op: Op.Delete, key: 'a', noreply: true },
      { op: Op.Delete, key: 'a', noreply: true },
      err(Reply.DELETE_USAGE),
    ],
  },
  {
    name: 'incr and decr',
    bytes: b('incr a 5\r\ndecr a 18446744073709551615 noreply\r\nincr a -1\r\n'),
    expect: [
      { op: Op.Arith, incr: true, key: 'a', delta: 5n, noreply: false },
      { op: Op.Arith, incr: false, key: 'a', delta: 18446744073709551615n, noreply: true },
      err(Reply.INVALID_DELTA),
    ],
  },
  {
    name: 'touch',
    bytes: b('touch a 10\r\ntouch a x\r\n'),
    expect: [{ op: Op.Touch, key: 'a', exptime: 10, noreply: false }, err(Reply.INVALID_EXPTIME)],
  },
  {
    name: 'flush_all forms',
    bytes: b('flush_all\r\nflush_all 10\r\nflush_all noreply\r\nflush_all x\r\n'),
    expect: [
      { op: Op.FlushAll, delay: 0, noreply: false },
      { op: Op.FlushAll, delay: 10, noreply: false },
      { op: Op.FlushAll, delay: 0, noreply: true },
      { op: Op.FlushAll, delay: NaN, noreply: false },
    ],
  },
  {
    name: 'version, verbosity, quit',
    bytes: b('version\r\nverbosity 1\r\nquit\r\n'),
    expect: [{ op: Op.Version }, { op: Op.Verbosity, level: 1, noreply: false }, { op: Op.Quit }],
  },
  {
    name: 'shutdown forms',
    bytes: b('shutdown\r\nshutdown graceful\r\nshutdown now\r\n'),
    expect: [
      { op: Op.Shutdown, graceful: false, invalid: false },
      { op: Op.Shutdown, graceful: true, invalid: false },
      { op: Op.Shutdown, graceful: false, invalid: true },
    ],
  },
  {
    name: 'stats',
    bytes: b('stats\r\nstats items\r\n'),
    expect: [
      { op: Op.Stats, args: [] },
      { op: Op.Stats, args: ['items'] },
    ],
  },
  { name: 'unknown and empty lines', bytes: b('bogus\r\n\r\nx\r\n'), expect: [err(Reply.ERROR), err(Reply.ERROR), err(Reply.ERROR)] },
  { name: 'a NUL ends the command', bytes: b('get a\0b\r\n'), expect: [get(['a'])] },
  { name: 'HTTP request line closes', bytes: b('GET / HTTP/1.1\r\n'), expect: [{ op: Op.Close }] },
  { name: 'a long get line is accepted', bytes: b(`get ${'k '.repeat(2000)}\r\n`), expect: [get(Array.from({ length: 2000 }, () => 'k'))] },
];

describe('text protocol: framing and decoding', () => {
  for (const fixture of fixtures) {
    describe(fixture.name, () => {
      it('whole', () => {
        assert.deepEqual(feed([fixture.bytes]), fixture.expect);
      });
      it('byte by byte', () => {
        assert.deepEqual(feed(byteByByte(fixture.bytes)), fixture.expect);
      });
      it('split at every offset', () => {
        for (const parts of splits(fixture.bytes)) assert.deepEqual(feed(parts), fixture.expect);
      });
    });
  }

  it('closes on 2049 bytes without a newline', () => {
    assert.deepEqual(feed([b('x'.repeat(2049))]), ['close']);
  });

  it('waits at 2048 bytes without a newline', () => {
    assert.deepEqual(feed([b('x'.repeat(2048))]), []);
  });

  it('keeps reading a long get line without a newline', () => {
    assert.deepEqual(feed([b('get ' + 'k '.repeat(5000))]), []);
  });

  it('swallows the data of an item too large to store, whole or split', () => {
    const size = limits.itemSizeMax;
    const bytes = Buffer.concat([b(`set big 0 0 ${size}\r\n`), Buffer.alloc(size, 0x61), b('\r\nget big\r\n')]);
    const expect: Outcome[] = [
      {
        op: Op.Store,
        mode: StoreMode.Set,
        key: 'big',
        flags: 0,
        exptime: 0,
        data: Buffer.alloc(0),
        cas: 0n,
        noreply: false,
        tooLarge: true,
      },
      get(['big']),
    ];
    assert.deepEqual(feed([bytes]), expect);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7919) chunks.push(bytes.subarray(i, i + 7919));
    assert.deepEqual(feed(chunks), expect);
  });

  it('asks for the whole data block of a storage command', () => {
    const frame = newFrame();
    frameText(b('set k 0 0 100\r\nabc'), 0, 18, limits, frame);
    assert.equal(frame.status, FrameStatus.NeedMore);
    assert.equal(frame.needed, 15 + 102);
  });

  it('the largest value that fits -I is framed with its data', () => {
    // 48 header + key "a" + NUL + value + CR LF + 8 CAS = 1 MiB.
    const vlen = limits.itemSizeMax - 48 - 2 - 2 - 8;
    const bytes = Buffer.concat([b(`set a 0 0 ${vlen}\r\n`), Buffer.alloc(vlen, 0x62), b('\r\n')]);
    const [req] = feed([bytes]);
    assert.ok(typeof req === 'object' && req.op === Op.Store && !req.tooLarge && req.data.length === vlen + 2);
    const [over] = feed([Buffer.concat([b(`set a 0 0 ${vlen + 1}\r\n`), Buffer.alloc(vlen + 1), b('\r\n')])]);
    assert.ok(typeof over === 'object' && over.op === Op.Store && over.tooLarge);
  });
});
