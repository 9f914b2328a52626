/*
 * The meta protocol decoder (server/protocol/meta.ts) behind the text framer: every fixture
 * is decoded whole, byte by byte and split at every offset. Lines and flags are those of
 * memcached's doc/protocol.txt; each error string is the one memcached 1.6.18 answers to
 * the same bytes (checked against /usr/bin/memcached), including which errors consume the
 * data block of an `ms` and which leave it to be read as a command.
 */

import assert from 'node:assert/strict';
import { Op, decodeText, frameText, type TextRequest } from '../server/protocol/text';
import { MetaCommand, type MetaRequest } from '../server/protocol/meta';
import { Reply } from '../server/protocol/replies';
import type { TextLimits } from '../server/protocol/limits';
import { byteByByte, feedFrames, splits } from './helpers/feed';

const limits: TextLimits = { itemSizeMax: 1024 * 1024, casEnabled: true };

type Outcome = TextRequest | 'close';

function feed(chunks: Buffer[], lim: TextLimits = limits): Outcome[] {
  return feedFrames(
    chunks,
    (buf, start, end, out) => frameText(buf, start, end, lim, out),
    (buf, start, length) => normalize(decodeText(buf, start, length, lim)),
  );
}

/** Copies views into plain values so results from different feeds compare equal. */
function normalize(req: TextRequest): TextRequest {
  if (req.op === 'meta') return { ...req, flags: [...req.flags], data: req.data === null ? null : Buffer.from(req.data) };
  return { ...req };
}

const b = (s: string) => Buffer.from(s, 'latin1');

/** A meta request as memcached's defaults leave it, with the fields a fixture names. */
function meta(command: MetaCommand, key: string, fields: Partial<MetaRequest> = {}): MetaRequest {
  return {
    op: 'meta',
    command,
    key,
    keyBinary: false,
    flags: [],
    noReply: false,
    value: false,
    noUpdate: false,
    setStale: false,
    vivify: false,
    hasCas: false,
    cas: 0n,
    clientFlags: 0,
    hasTtl: false,
    ttl: 0,
    vivifyTtl: 0,
    recacheTtl: 0,
    hasRecache: false,
    mode: 0,
    delta: 1n,
    initial: 0n,
    data: null,
    tooLarge: false,
    ...fields,
  };
}

/** A meta error: replied even under `q`. */
const metaError = (text: string, dropKey: string | null = null): TextRequest => ({ op: 'meta-error', reply: b(`${text}\r\n`), dropKey });
const ERROR: TextRequest = { op: Op.Error, reply: Reply.ERROR, noreply: false };
const BAD_FORMAT = 'CLIENT_ERROR bad command line format';

const opaque33 = 'O' + 'o'.repeat(33);
const key251 = 'k'.repeat(251);
const flags17 = ['v', 's', 't', 'c', 'f', 'k', 'q', 'h', 'l', 'u', 'O1', 'T1', 'N1', 'R1', 'I', 'P1', 'L1'];

interface Fixture {
  name: string;
  bytes: Buffer;
  expect: Outcome[];
}

const fixtures: Fixture[] = [
  // mg
  { name: 'mg without flags', bytes: b('mg foo\r\n'), expect: [meta(MetaCommand.Get, 'foo')] },
  { name: 'mg v', bytes: b('mg foo v\r\n'), expect: [meta(MetaCommand.Get, 'foo', { flags: ['v'], value: true })] },
  {
    name: 'mg return flags keep their order',
    bytes: b('mg foo s v t c f k O123 q\r\n'),
    expect: [meta(MetaCommand.Get, 'foo', { flags: ['s', 'v', 't', 'c', 'f', 'k', 'O123', 'q'], value: true, noReply: true })],
  },
  {
    name: 'mg with TTL, vivify and recache tokens',
    bytes: b('mg foo T30 N60 R10 h l u\r\n'),
    expect: [
      meta(MetaCommand.Get, 'foo', {
        flags: ['T30', 'N60', 'R10', 'h', 'l', 'u'],
        hasTtl: true,
        ttl: 30,
        vivify: true,
        vivifyTtl: 60,
        hasRecache: true,
        recacheTtl: 10,
        noUpdate: true,
      }),
    ],
  },
  {
    name: 'mg with a negative TTL',
    bytes: b('mg foo T-1\r\n'),
    expect: [meta(MetaCommand.Get, 'foo', { flags: ['T-1'], hasTtl: true, ttl: -1 })],
  },
  {
    name: 'mg of a base64 key',
    bytes: b('mg Zm9v b k v\r\n'),
    expect: [meta(MetaCommand.Get, 'foo', { flags: ['b', 'k', 'v'], keyBinary: true, value: true })],
  },
  {
    name: 'mg with 17 flags, the most memcached takes',
    bytes: b(`mg foo ${flags17.join(' ')}\r\n`),
    expect: [
      meta(MetaCommand.Get, 'foo', {
        flags: flags17,
        value: true,
        noReply: true,
        noUpdate: true,
        hasTtl: true,
        ttl: 1,
        vivify: true,
        vivifyTtl: 1,
        hasRecache: true,
        recacheTtl: 1,
        setStale: true,
      }),
    ],
  },
  // The opaque's length is checked when the reply is built.
  { name: 'mg with a long opaque', bytes: b(`mg foo ${opaque33}\r\n`), expect: [meta(MetaCommand.Get, 'foo', { flags: [opaque33] })] },
  { name: 'mg without a key', bytes: b('mg\r\n'), expect: [ERROR] },
  { name: 'mg with a 251-byte key', bytes: b(`mg ${key251} v\r\n`), expect: [metaError(BAD_FORMAT)] },
  {
    name: 'mg with 18 flags',
    bytes: b(`mg foo ${flags17.join(' ')} b\r\n`),
    expect: [metaError('CLIENT_ERROR options flags are too long')],
  },
  { name: 'mg with a repeated flag', bytes: b('mg foo v v\r\n'), expect: [metaError('CLIENT_ERROR duplicate flag')] },
  { name: 'mg with an unknown flag', bytes: b('mg foo !\r\n'), expect: [metaError('CLIENT_ERROR invalid flag')] },
  { name: 'mg with E, which 1.6.18 does not know', bytes: b('mg foo E1\r\n'), expect: [metaError('CLIENT_ERROR invalid flag')] },
  { name: 'mg with a bad TTL', bytes: b('mg foo Tabc\r\n'), expect: [metaError('CLIENT_ERROR bad token in command line format')] },
  { name: 'mg: an unknown flag outranks a bad token', bytes: b('mg foo Tx !\r\n'), expect: [metaError('CLIENT_ERROR invalid flag')] },
  { name: 'mg of a key that is not base64', bytes: b('mg !!!! b\r\n'), expect: [metaError('CLIENT_ERROR error decoding key')] },

  // ms
  {
    name: 'ms with TTL, client flags and CAS return',
    bytes: b('ms foo 3 T100 F5 c\r\nbar\r\n'),
    expect: [meta(MetaCommand.Set, 'foo', { flags: ['T100', 'F5', 'c'], hasTtl: true, ttl: 100, clientFlags: 5, data: b('bar\r\n') })],
  },
  { name: 'ms of an empty value', bytes: b('ms foo 0\r\n\r\n'), expect: [meta(MetaCommand.Set, 'foo', { data: b('\r\n') })] },
  {
    name: 'ms with CR LF inside the data',
    bytes: b('ms foo 4\r\n\r\n\r\n\r\n'),
    expect: [meta(MetaCommand.Set, 'foo', { data: b('\r\n\r\n\r\n') })],
  },
  {
    name: 'ms append, stale, compare and quiet',
    bytes: b('ms foo 2 MA I C99 q\r\nhi\r\n'),
    expect: [
      meta(MetaCommand.Set, 'foo', {
        flags: ['MA', 'I', 'C99', 'q'],
        mode: 0x41,
        setStale: true,
        hasCas: true,
        cas: 99n,
        noReply: true,
        data: b('hi\r\n'),
      }),
    ],
  },
  {
    name: 'ms client flags wrap at 32 bits',
    bytes: b('ms foo 1 F4294967296\r\nx\r\n'),
    expect: [meta(MetaCommand.Set, 'foo', { flags: ['F4294967296'], data: b('x\r\n') })],
  },
  {
    name: 'ms then mn',
    bytes: b('ms a 1 ME\r\n1\r\nmn\r\n'),
    expect: [meta(MetaCommand.Set, 'a', { flags: ['ME'], mode: 0x45, data: b('1\r\n') }), meta(MetaCommand.Noop, '')],
  },
  { name: 'ms without a length', bytes: b('ms foo\r\n'), expect: [metaError(BAD_FORMAT)] },
  // No length, no data block: the next line is a command.
  { name: 'ms with a bad length', bytes: b('ms foo abc\r\nmn\r\n'), expect: [metaError(BAD_FORMAT), meta(MetaCommand.Noop, '')] },
  { name: 'ms with a negative length', bytes: b('ms foo -1\r\nmn\r\n'), expect: [metaError(BAD_FORMAT), meta(MetaCommand.Noop, '')] },
  { name: 'ms with a 251-byte key leaves its data', bytes: b(`ms ${key251} 3\r\nbar\r\n`), expect: [metaError(BAD_FORMAT), ERROR] },
  // From here the data block is read with the line, whatever is wrong with the flags.
  {
    name: 'ms with a bad mode',
    bytes: b('ms foo 3 MX\r\nbar\r\nmn\r\n'),
    expect: [metaError('CLIENT_ERROR invalid mode for ms M token'), meta(MetaCommand.Noop, '')],
  },
  { name: 'ms with a long M token', bytes: b('ms foo 3 MSS\r\nbar\r\n'), expect: [metaError('CLIENT_ERROR incorrect length for M token')] },
  { name: 'ms with bad client flags', bytes: b('ms foo 3 Fabc\r\nbar\r\n'), expect: [metaError(BAD_FORMAT)] },
  { name: 'ms with a bad CAS', bytes: b('ms foo 3 Cabc\r\nbar\r\n'), expect: [metaError('CLIENT_ERROR bad token in command line format')] },
  { name: 'ms with a repeated flag', bytes: b('ms foo 3 T1 T2\r\nbar\r\n'), expect: [metaError('CLIENT_ERROR duplicate flag')] },
  {
    name: 'ms: a bad token outranks a bad mode',
    bytes: b('ms foo 3 Tx MX\r\nbar\r\n'),
    expect: [metaError('CLIENT_ERROR bad token in command line format')],
  },
  { name: 'ms with a long opaque', bytes: b(`ms foo 3 ${opaque33}\r\nbar\r\n`), expect: [metaError('CLIENT_ERROR opaque token too long')] },
  {
    name: 'ms: a bad mode outranks a long opaque',
    bytes: b(`ms foo 3 ${opaque33} MX\r\nbar\r\n`),
    expect: [metaError('CLIENT_ERROR invalid mode for ms M token')],
  },
  { name: 'ms of a key that is not base64', bytes: b('ms foo 3 b\r\nbar\r\n'), expect: [metaError('CLIENT_ERROR error decoding key')] },
  {
    name: 'ms whose data block does not end in CR LF',
    bytes: b('ms foo 3\r\nbarx\r\n'),
    // memcached still counts a set of the item it would have made: 48 + "foo" NUL 4 + 5 + CAS 8.
    expect: [{ op: 'meta-error', reply: Reply.BAD_DATA_CHUNK, dropKey: null, failedSetSize: 65 }, ERROR],
  },

  // md, ma
  {
    name: 'md quiet, compare, stale, with TTL',
    bytes: b('md foo q C5 I T30\r\n'),
    expect: [
      meta(MetaCommand.Delete, 'foo', {
        flags: ['q', 'C5', 'I', 'T30'],
        noReply: true,
        hasCas: true,
        cas: 5n,
        setStale: true,
        hasTtl: true,
        ttl: 30,
      }),
    ],
  },
  { name: 'md without a key', bytes: b('md\r\n'), expect: [ERROR] },
  { name: 'md with a 251-byte key', bytes: b(`md ${key251}\r\n`), expect: [metaError(BAD_FORMAT)] },
  { name: 'md with an unknown flag', bytes: b('md foo !\r\n'), expect: [metaError('CLIENT_ERROR invalid or duplicate flag')] },
  { name: 'md with a bad TTL', bytes: b('md foo Tabc\r\n'), expect: [metaError('CLIENT_ERROR invalid or duplicate flag')] },
  { name: 'ma with defaults: incr by 1', bytes: b('ma foo\r\n'), expect: [meta(MetaCommand.Arith, 'foo')] },
  {
    name: 'ma decr with delta, initial value and vivify',
    bytes: b('ma foo MD D5 J10 N0 v\r\n'),
    expect: [
      meta(MetaCommand.Arith, 'foo', {
        flags: ['MD', 'D5', 'J10', 'N0', 'v'],
        mode: 0x44,
        delta: 5n,
        initial: 10n,
        vivify: true,
        value: true,
      }),
    ],
  },
  {
    name: 'ma with the largest delta',
    bytes: b('ma foo M+ D18446744073709551615\r\n'),
    expect: [meta(MetaCommand.Arith, 'foo', { flags: ['M+', 'D18446744073709551615'], mode: 0x2b, delta: 18446744073709551615n })],
  },
  { name: 'ma without a key', bytes: b('ma\r\n'), expect: [ERROR] },
  { name: 'ma with a bad mode', bytes: b('ma foo MX\r\n'), expect: [metaError('CLIENT_ERROR invalid mode for ma M token')] },
  { name: 'ma with a bad delta', bytes: b('ma foo Dabc\r\n'), expect: [metaError('CLIENT_ERROR invalid or duplicate flag')] },
  { name: 'ma with a bad initial value', bytes: b('ma foo Jabc\r\n'), expect: [metaError('CLIENT_ERROR invalid or duplicate flag')] },
  { name: 'ma with a repeated flag', bytes: b('ma foo v v\r\n'), expect: [metaError('CLIENT_ERROR invalid or duplicate flag')] },

  // mn, me, unknown
  { name: 'mn', bytes: b('mn\r\n'), expect: [meta(MetaCommand.Noop, '')] },
  { name: 'me', bytes: b('me foo\r\n'), expect: [meta(MetaCommand.Debug, 'foo')] },
  { name: 'me of a base64 key', bytes: b('me Zm9v b\r\n'), expect: [meta(MetaCommand.Debug, 'foo', { keyBinary: true })] },
  { name: 'me without a key', bytes: b('me\r\n'), expect: [metaError(BAD_FORMAT)] },
  { name: 'me with a 251-byte key', bytes: b(`me ${key251}\r\n`), expect: [metaError(BAD_FORMAT)] },
  { name: 'me of a key that is not base64', bytes: b('me !!!! b\r\n'), expect: [metaError(BAD_FORMAT)] },
  { name: 'an unknown meta command', bytes: b('mz foo\r\n'), expect: [ERROR] },
];

describe('meta protocol: framing and decoding', () => {
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

  it('every fixture pipelined in one stream', () => {
    // Fixtures that end in a lone ERROR line are left out: it would take the next fixture's bytes.
    const all = fixtures.filter((f) => f.expect.every((e) => e !== ERROR) || f.expect.length === 1);
    const bytes = Buffer.concat(all.map((f) => f.bytes));
    assert.deepEqual(
      feed([bytes]),
      all.flatMap((f) => f.expect),
    );
    for (let size = 1; size <= 7; size += 3) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
      assert.deepEqual(
        feed(chunks),
        all.flatMap((f) => f.expect),
        `chunks of ${size}`,
      );
    }
  });

  it('swallows the data of an ms too large for -I and drops the key', () => {
    const size = limits.itemSizeMax;
    const bytes = Buffer.concat([b(`ms big ${size} T0\r\n`), Buffer.alloc(size + 2, 0x61), b('mn\r\n')]);
    const expect: Outcome[] = [metaError('SERVER_ERROR object too large for cache', 'big'), meta(MetaCommand.Noop, '')];
    assert.deepEqual(feed([bytes]), expect);
    const chunks: Buffer[] = [];
    for (let i = 0; i < bytes.length; i += 7919) chunks.push(bytes.subarray(i, i + 7919));
    assert.deepEqual(feed(chunks), expect);
  });

  it('the largest ms that fits -I is decoded with its data', () => {
    // 48 header + "a" NUL 2 + value + CR LF + 8 CAS = 1 MiB; client flags add 4.
    const vlen = limits.itemSizeMax - 48 - 2 - 2 - 8;
    const fits = feed([Buffer.concat([b(`ms a ${vlen}\r\n`), Buffer.alloc(vlen, 0x62), b('\r\n')])]);
    assert.equal(fits.length, 1);
    assert.ok(typeof fits[0] === 'object' && fits[0].op === 'meta' && fits[0].data?.length === vlen + 2);
    const withFlags = feed([Buffer.concat([b(`ms a ${vlen} F1\r\n`), Buffer.alloc(vlen, 0x62), b('\r\n')])]);
    assert.deepEqual(withFlags, [metaError('SERVER_ERROR object too large for cache', 'a')]);
    // Without CAS ids (-C) the same item has 8 bytes to spare.
    const noCas = { ...limits, casEnabled: false };
    const larger = feed([Buffer.concat([b(`ms a ${vlen + 8}\r\n`), Buffer.alloc(vlen + 8, 0x62), b('\r\n')])], noCas);
    assert.ok(typeof larger[0] === 'object' && larger[0].op === 'meta' && larger[0].data?.length === vlen + 10);
  });
});
