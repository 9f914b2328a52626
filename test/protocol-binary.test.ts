import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BinaryOp, Opcode, READ_BUFFER_SIZE, Status, type BinaryLimits } from '../server/protocol/binary';
import { decodeBinary, type BinaryRequest } from '../server/protocol/binary-decode';
import { frameBinary } from '../server/protocol/binary-frame';
import { encodeCounter, encodeError, encodeKeyMiss, encodeResponse, encodeStat, encodeValueHeader } from '../server/protocol/binary-reply';
import { FrameStatus, newFrame } from '../server/framing';
import { StoreMode } from '../server/memcached/item';
import { byteByByte, feedFrames, splits } from './helpers/feed';
import { checkPlain, isPlainMechanism } from '../server/sasl';

const limits: BinaryLimits = { itemSizeMax: 1024 * 1024, casEnabled: true, slabChunkMax: 512 * 1024, sasl: false };
const saslLimits: BinaryLimits = { ...limits, sasl: true };

type Outcome = BinaryRequest | 'close';

function feed(chunks: Buffer[], lim: BinaryLimits = limits): Outcome[] {
  return feedFrames(
    chunks,
    (buf, start, end, out) => frameBinary(buf, start, end, lim, out),
    (buf, start, length) => normalize(decodeBinary(buf, start, length, lim)),
    (frame, available) => assert.ok(frame.needed > available, 'NeedMore asks for more than is there'),
  );
}

/** Copies views into plain values so results from different feeds compare equal. */
function normalize(req: BinaryRequest): BinaryRequest {
  if (req.op === BinaryOp.Store) return { ...req, value: Buffer.from(req.value) };
  if (req.op === BinaryOp.SaslAuth) return { ...req, data: Buffer.from(req.data) };
  return { ...req };
}

interface Fields {
  key?: string;
  extras?: Buffer;
  value?: string | Buffer;
  cas?: bigint;
  opaque?: number;
  magic?: number;
  keylen?: number;
  extlen?: number;
  bodylen?: number;
}

/** A request's bytes; forged lengths change only the header. */
function request(opcode: number, f: Fields = {}): Buffer {
  const key = Buffer.from(f.key ?? '', 'latin1');
  const extras = f.extras ?? Buffer.alloc(0);
  const value = typeof f.value === 'string' ? Buffer.from(f.value, 'latin1') : (f.value ?? Buffer.alloc(0));
  const header = Buffer.alloc(24);
  header[0] = f.magic ?? 0x80;
  header[1] = opcode;
  header.writeUInt16BE(f.keylen ?? key.length, 2);
  header[4] = f.extlen ?? extras.length;
  header.writeUInt32BE(f.bodylen ?? extras.length + key.length + value.length, 8);
  header.writeUInt32BE(f.opaque ?? 0, 12);
  header.writeBigUInt64BE(f.cas ?? 0n, 16);
  return Buffer.concat([header, extras, key, value]);
}

function u32s(...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  for (const [i, v] of values.entries()) out.writeUInt32BE(v, i * 4);
  return out;
}

function arithExtras(delta: bigint, initial: bigint, exptime: number): Buffer {
  const out = Buffer.alloc(20);
  out.writeBigUInt64BE(delta, 0);
  out.writeBigUInt64BE(initial, 8);
  out.writeUInt32BE(exptime, 16);
  return out;
}

const h = (opcode: number, opaque = 0, cas = 0n) => ({ opcode, opaque, cas });
const getReq = (
  opcode: number,
  key: string,
  extra: Partial<{ quiet: boolean; withKey: boolean; touch: boolean; withValue: boolean; exptime: number; opaque: number }> = {},
): BinaryRequest => ({
  op: BinaryOp.Get,
  ...h(opcode, extra.opaque ?? 0),
  key,
  quiet: extra.quiet ?? false,
  withKey: extra.withKey ?? false,
  touch: extra.touch ?? false,
  withValue: extra.withValue ?? true,
  exptime: extra.exptime ?? 0,
});
const storeReq = (
  opcode: number,
  mode: StoreMode,
  key: string,
  value: string,
  extra: Partial<{ flags: number; exptime: number; quiet: boolean; cas: bigint }> = {},
): BinaryRequest => ({
  op: BinaryOp.Store,
  ...h(opcode, 0, extra.cas ?? 0n),
  mode,
  key,
  flags: extra.flags ?? 0,
  exptime: extra.exptime ?? 0,
  value: Buffer.from(value, 'latin1'),
  quiet: extra.quiet ?? false,
});
const refused = (opcode: number, status: Status, close: boolean, flush: boolean): BinaryRequest => ({
  op: BinaryOp.Refused,
  ...h(opcode),
  status,
  close,
  flush,
});
const noop = request(Opcode.Noop);
const NOOP: BinaryRequest = { op: BinaryOp.Noop, ...h(Opcode.Noop) };

interface Fixture {
  name: string;
  bytes: Buffer;
  expect: Outcome[];
  limits?: BinaryLimits;
}

const fixtures: Fixture[] = [
  {
    name: 'get',
    bytes: request(Opcode.Get, { key: 'foo', opaque: 0xdeadbeef }),
    expect: [getReq(Opcode.Get, 'foo', { opaque: 0xdeadbeef })],
  },
  {
    name: 'getq, getk, getkq',
    bytes: Buffer.concat([request(Opcode.GetQ, { key: 'a' }), request(Opcode.GetK, { key: 'b' }), request(Opcode.GetKQ, { key: 'c' })]),
    expect: [
      getReq(Opcode.GetQ, 'a', { quiet: true }),
      getReq(Opcode.GetK, 'b', { withKey: true }),
      getReq(Opcode.GetKQ, 'c', { quiet: true, withKey: true }),
    ],
  },
  { name: 'a binary key', bytes: request(Opcode.Get, { key: 'k \r\n\0\xff' }), expect: [getReq(Opcode.Get, 'k \r\n\0\xff')] },
  {
    name: 'touch, gat, gatq, gatk, gatkq',
    bytes: Buffer.concat([
      request(Opcode.Touch, { key: 't', extras: u32s(10) }),
      request(Opcode.Gat, { key: 't', extras: u32s(0xffffffff) }),
      request(Opcode.GatQ, { key: 't', extras: u32s(1) }),
      request(Opcode.GatK, { key: 't', extras: u32s(2) }),
      request(Opcode.GatKQ, { key: 't', extras: u32s(3) }),
    ]),
    expect: [
      getReq(Opcode.Touch, 't', { touch: true, withValue: false, exptime: 10 }),
      getReq(Opcode.Gat, 't', { touch: true, exptime: 0xffffffff }),
      getReq(Opcode.GatQ, 't', { touch: true, quiet: true, exptime: 1 }),
      getReq(Opcode.GatK, 't', { touch: true, withKey: true, exptime: 2 }),
      getReq(Opcode.GatKQ, 't', { touch: true, quiet: true, withKey: true, exptime: 3 }),
    ],
  },
  {
    name: 'set with flags, exptime and CAS',
    bytes: request(Opcode.Set, { key: 'k', extras: u32s(0xdeadbeef, 100), value: 'hello', cas: 0x0102030405060708n }),
    expect: [storeReq(Opcode.Set, StoreMode.Set, 'k', 'hello', { flags: 0xdeadbeef, exptime: 100, cas: 0x0102030405060708n })],
  },
  {
    name: 'set of an empty value',
    bytes: request(Opcode.Set, { key: 'k', extras: u32s(0, 0) }),
    expect: [storeReq(Opcode.Set, StoreMode.Set, 'k', '')],
  },
  {
    name: 'add, replace and quiet storage',
    bytes: Buffer.concat([
      request(Opcode.Add, { key: 'a', extras: u32s(1, 2), value: 'x' }),
      request(Opcode.ReplaceQ, { key: 'r', extras: u32s(0, 0), value: 'y' }),
      request(Opcode.SetQ, { key: 's', extras: u32s(0, 0), value: '\r\n' }),
      request(Opcode.AddQ, { key: 'a', extras: u32s(0, 0), value: 'z' }),
      request(Opcode.Replace, { key: 'r', extras: u32s(0, 0), value: 'w' }),
    ]),
    expect: [
      storeReq(Opcode.Add, StoreMode.Add, 'a', 'x', { flags: 1, exptime: 2 }),
      storeReq(Opcode.ReplaceQ, StoreMode.Replace, 'r', 'y', { quiet: true }),
      storeReq(Opcode.SetQ, StoreMode.Set, 's', '\r\n', { quiet: true }),
      storeReq(Opcode.AddQ, StoreMode.Add, 'a', 'z', { quiet: true }),
      storeReq(Opcode.Replace, StoreMode.Replace, 'r', 'w'),
    ],
  },
  {
    name: 'append, prepend and their quiet forms',
    bytes: Buffer.concat([
      request(Opcode.Append, { key: 'k', value: 'aa' }),
      request(Opcode.Prepend, { key: 'k', value: 'bb' }),
      request(Opcode.AppendQ, { key: 'k', value: 'cc' }),
      request(Opcode.PrependQ, { key: 'k', value: 'dd', cas: 9n }),
    ]),
    expect: [
      storeReq(Opcode.Append, StoreMode.Append, 'k', 'aa'),
      storeReq(Opcode.Prepend, StoreMode.Prepend, 'k', 'bb'),
      storeReq(Opcode.AppendQ, StoreMode.Append, 'k', 'cc', { quiet: true }),
      storeReq(Opcode.PrependQ, StoreMode.Prepend, 'k', 'dd', { quiet: true, cas: 9n }),
    ],
  },
  {
    name: 'delete and deleteq',
    bytes: Buffer.concat([request(Opcode.Delete, { key: 'd', cas: 5n }), request(Opcode.DeleteQ, { key: 'd' })]),
    expect: [
      { op: BinaryOp.Delete, ...h(Opcode.Delete, 0, 5n), key: 'd', quiet: false },
      { op: BinaryOp.Delete, ...h(Opcode.DeleteQ), key: 'd', quiet: true },
    ],
  },
  {
    name: 'incr, decr and quiet forms',
    bytes: Buffer.concat([
      request(Opcode.Increment, { key: 'n', extras: arithExtras(1n, 2n, 3) }),
      request(Opcode.Decrement, { key: 'n', extras: arithExtras(18446744073709551615n, 0n, 0xffffffff) }),
      request(Opcode.IncrementQ, { key: 'n', extras: arithExtras(4n, 5n, 6) }),
      request(Opcode.DecrementQ, { key: 'n', extras: arithExtras(7n, 8n, 9), cas: 1n }),
    ]),
    expect: [
      { op: BinaryOp.Arith, ...h(Opcode.Increment), incr: true, key: 'n', delta: 1n, initial: 2n, exptime: 3, quiet: false },
      {
        op: BinaryOp.Arith,
        ...h(Opcode.Decrement),
        incr: false,
        key: 'n',
        delta: 18446744073709551615n,
        initial: 0n,
        exptime: 0xffffffff,
        quiet: false,
      },
      { op: BinaryOp.Arith, ...h(Opcode.IncrementQ), incr: true, key: 'n', delta: 4n, initial: 5n, exptime: 6, quiet: true },
      { op: BinaryOp.Arith, ...h(Opcode.DecrementQ, 0, 1n), incr: false, key: 'n', delta: 7n, initial: 8n, exptime: 9, quiet: true },
    ],
  },
  {
    name: 'flush with and without a delay, flushq',
    bytes: Buffer.concat([request(Opcode.Flush), request(Opcode.Flush, { extras: u32s(60) }), request(Opcode.FlushQ, { extras: u32s(0) })]),
    expect: [
      { op: BinaryOp.Flush, ...h(Opcode.Flush), exptime: 0, quiet: false },
      { op: BinaryOp.Flush, ...h(Opcode.Flush), exptime: 60, quiet: false },
      { op: BinaryOp.Flush, ...h(Opcode.FlushQ), exptime: 0, quiet: true },
    ],
  },
  {
    name: 'noop, version, quit, quitq',
    bytes: Buffer.concat([noop, request(Opcode.Version), request(Opcode.Quit), request(Opcode.QuitQ)]),
    expect: [
      NOOP,
      { op: BinaryOp.Version, ...h(Opcode.Version) },
      { op: BinaryOp.Quit, ...h(Opcode.Quit), quiet: false },
      { op: BinaryOp.Quit, ...h(Opcode.QuitQ), quiet: true },
    ],
  },
  {
    name: 'stat with and without a group',
    bytes: Buffer.concat([request(Opcode.Stat), request(Opcode.Stat, { key: 'detail dump' })]),
    expect: [
      { op: BinaryOp.Stat, ...h(Opcode.Stat), key: '' },
      { op: BinaryOp.Stat, ...h(Opcode.Stat), key: 'detail dump' },
    ],
  },
  {
    name: 'a body past the stat key is the next request',
    bytes: request(Opcode.Stat, { key: 'items', value: noop }),
    expect: [{ op: BinaryOp.Stat, ...h(Opcode.Stat), key: 'items' }, NOOP],
  },
  {
    name: 'a body past the touch extras and key is the next request',
    bytes: request(Opcode.Touch, { key: 't', extras: u32s(5), value: noop }),
    expect: [getReq(Opcode.Touch, 't', { touch: true, withValue: false, exptime: 5 }), NOOP],
  },
  {
    name: 'SASL without -S: unknown, the data swallowed',
    bytes: Buffer.concat([request(Opcode.SaslListMechs), request(Opcode.SaslAuth, { key: 'PLAIN', value: '\0u\0p' }), noop]),
    expect: [
      refused(Opcode.SaslListMechs, Status.UnknownCommand, false, true),
      refused(Opcode.SaslAuth, Status.UnknownCommand, false, false),
      NOOP,
    ],
  },
  {
    name: 'SASL with -S',
    limits: saslLimits,
    bytes: Buffer.concat([
      request(Opcode.SaslListMechs),
      request(Opcode.SaslAuth, { key: 'PLAIN', value: '\0u\0p' }),
      request(Opcode.SaslStep, { key: 'PLAIN' }),
    ]),
    expect: [
      { op: BinaryOp.SaslListMechs, ...h(Opcode.SaslListMechs) },
      { op: BinaryOp.SaslAuth, ...h(Opcode.SaslAuth), step: false, mechanism: 'PLAIN', data: Buffer.from('\0u\0p') },
      { op: BinaryOp.SaslAuth, ...h(Opcode.SaslStep), step: true, mechanism: 'PLAIN', data: Buffer.alloc(0) },
    ],
  },
  {
    name: 'SASL mechanism longer than 32 bytes: invalid, data swallowed, not closed',
    limits: saslLimits,
    bytes: Buffer.concat([request(Opcode.SaslAuth, { key: 'M'.repeat(33), value: 'data' }), noop]),
    expect: [refused(Opcode.SaslAuth, Status.InvalidArguments, false, false), NOOP],
  },
  {
    name: 'unknown opcodes swallow the body length again after the key',
    bytes: Buffer.concat([
      request(0x1b, { extras: u32s(1) }),
      u32s(0),
      request(0x30),
      request(0x45, { key: 'ab', value: 'cd' }),
      Buffer.from('cd'),
      noop,
    ]),
    expect: [
      refused(0x1b, Status.UnknownCommand, false, false),
      refused(0x30, Status.UnknownCommand, false, true),
      refused(0x45, Status.UnknownCommand, false, false),
      NOOP,
    ],
  },
  { name: 'bad magic', bytes: request(Opcode.Noop, { magic: 0x81 }), expect: [{ op: BinaryOp.BadMagic }] },
  {
    name: 'key longer than the body (CVE-2016-8704 shape)',
    bytes: request(Opcode.Append, { key: 'abcdef', value: 'x', bodylen: 4 }),
    expect: [{ op: BinaryOp.Inconsistent, ...h(Opcode.Append) }],
  },
  {
    name: 'key and extras longer than the body (CVE-2016-8705 shape)',
    bytes: request(Opcode.Set, { key: 'abc', extras: u32s(0, 0), bodylen: 9 }),
    expect: [{ op: BinaryOp.Inconsistent, ...h(Opcode.Set) }],
  },
  {
    name: 'extlen 255 (CVE-2020-10931 shape)',
    bytes: request(Opcode.Get, { key: 'k', extras: Buffer.alloc(255, 0xaa) }),
    expect: [refused(Opcode.Get, Status.InvalidArguments, true, true)],
  },
  {
    name: 'a key of 251 bytes',
    bytes: request(Opcode.Get, { key: 'k'.repeat(251) }),
    expect: [refused(Opcode.Get, Status.InvalidArguments, true, true)],
  },
  { name: 'a key of 250 bytes', bytes: request(Opcode.Get, { key: 'k'.repeat(250) }), expect: [getReq(Opcode.Get, 'k'.repeat(250))] },
  ...(
    [
      ['get with extras', request(Opcode.Get, { key: 'k', extras: u32s(0) })],
      ['set without extras', request(Opcode.Set, { key: 'k', value: 'v' })],
      ['incr with 8 bytes of extras', request(Opcode.Increment, { key: 'k', extras: u32s(0, 0) })],
      ['noop with a body', request(Opcode.Noop, { value: 'x' })],
      ['version with a key', request(Opcode.Version, { key: 'k' })],
      ['flush with 8 bytes of extras', request(Opcode.Flush, { extras: u32s(0, 0) })],
      ['touch without extras', request(Opcode.Touch, { key: 'k' })],
      ['stat with extras', request(Opcode.Stat, { extras: u32s(0) })],
      ['delete with a value', request(Opcode.Delete, { key: 'k', value: 'v' })],
      ['append with extras', request(Opcode.Append, { key: 'k', extras: u32s(0) })],
      ['quit with extras', request(Opcode.Quit, { extras: u32s(0) })],
      ['SASL auth without a mechanism', request(Opcode.SaslAuth, { value: 'x' })],
    ] as const
  ).map(
    ([name, bytes]): Fixture => ({
      name: `${name}: invalid, and the connection closes`,
      bytes,
      expect: [refused(bytes[1], Status.InvalidArguments, true, true)],
    }),
  ),
  {
    name: 'a body length negative as a C int: too large, nothing swallowed',
    bytes: Buffer.concat([request(Opcode.Set, { key: 'k', extras: u32s(0, 0), bodylen: 0xfffffff0 }), noop]),
    expect: [{ op: BinaryOp.TooLarge, ...h(Opcode.Set), mode: StoreMode.Set, key: 'k' }, NOOP],
  },
];

describe('binary protocol: framing and decoding', () => {
  for (const fixture of fixtures) {
    describe(fixture.name, () => {
      it('whole', () => {
        assert.deepEqual(feed([fixture.bytes], fixture.limits), fixture.expect);
      });
      it('byte by byte', () => {
        assert.deepEqual(feed(byteByByte(fixture.bytes), fixture.limits), fixture.expect);
      });
      it('split at every offset', () => {
        for (const parts of splits(fixture.bytes)) assert.deepEqual(feed(parts, fixture.limits), fixture.expect);
      });
    });
  }

  it('waits for a whole header, then for extras and key, then for the value', () => {
    const frame = newFrame();
    const bytes = request(Opcode.Set, { key: 'key', extras: u32s(0, 0), value: 'v'.repeat(100) });
    frameBinary(bytes, 0, 10, limits, frame);
    assert.deepEqual([frame.status, frame.needed], [FrameStatus.NeedMore, 24]);
    frameBinary(bytes, 0, 30, limits, frame);
    assert.deepEqual([frame.status, frame.needed], [FrameStatus.NeedMore, 35]);
    frameBinary(bytes, 0, 40, limits, frame);
    assert.deepEqual([frame.status, frame.needed], [FrameStatus.NeedMore, 135]);
    frameBinary(bytes, 0, 135, limits, frame);
    assert.deepEqual([frame.status, frame.length, frame.swallow], [FrameStatus.Whole, 135, 0]);
  });

  it('a header claiming a 4 GB value is refused from the header alone, its value swallowed', () => {
    const frame = newFrame();
    const header = request(Opcode.Set, { key: 'k', extras: u32s(0, 0), bodylen: 0x7fffffff });
    frameBinary(header, 0, header.length, limits, frame);
    assert.deepEqual([frame.status, frame.length, frame.swallow], [FrameStatus.Whole, 33, 0x7fffffff - 9]);
    const append = request(Opcode.Append, { key: 'k', bodylen: 0x40000000 });
    frameBinary(append, 0, append.length, limits, frame);
    assert.deepEqual([frame.status, frame.length, frame.swallow], [FrameStatus.Whole, 25, 0x40000000 - 1]);
  });

  it('the largest value that fits -I is framed with it; one byte more is swallowed', () => {
    // 48 header + key "a" + NUL + value + CR LF + 8 CAS (+ 4 flags when nonzero) = 1 MiB.
    const vlen = limits.itemSizeMax - 48 - 2 - 2 - 8;
    const [fits] = feed([request(Opcode.Set, { key: 'a', extras: u32s(0, 0), value: Buffer.alloc(vlen) })]);
    assert.ok(typeof fits === 'object' && fits.op === BinaryOp.Store && fits.value.length === vlen);
    const tooLarge = Buffer.concat([request(Opcode.Set, { key: 'a', extras: u32s(0, 0), value: Buffer.alloc(vlen + 1) }), noop]);
    assert.deepEqual(feed([tooLarge]), [{ op: BinaryOp.TooLarge, ...h(Opcode.Set), mode: StoreMode.Set, key: 'a' }, NOOP]);
    const chunks: Buffer[] = [];
    for (let i = 0; i < tooLarge.length; i += 7919) chunks.push(tooLarge.subarray(i, i + 7919));
    assert.deepEqual(feed(chunks), [{ op: BinaryOp.TooLarge, ...h(Opcode.Set), mode: StoreMode.Set, key: 'a' }, NOOP]);
    const withFlags = request(Opcode.Set, { key: 'a', extras: u32s(1, 0), value: Buffer.alloc(vlen - 4 + 1) });
    assert.equal((feed([withFlags])[0] as BinaryRequest).op, BinaryOp.TooLarge);
  });

  it('SASL data that needs a chunked item is out of memory', () => {
    const bytes = Buffer.concat([request(Opcode.SaslAuth, { key: 'PLAIN', value: Buffer.alloc(600 * 1024) }), noop]);
    assert.deepEqual(feed([bytes], saslLimits), [refused(Opcode.SaslAuth, Status.OutOfMemory, false, false), NOOP]);
  });

  it("closes when key and extras cannot fit memcached's read buffer", () => {
    assert.equal(READ_BUFFER_SIZE, 16384, "memcached.h's READ_BUFFER_SIZE");
    const header = request(Opcode.Get, { keylen: 65535, bodylen: 65535 });
    const frame = newFrame();
    const bytes = Buffer.concat([header, Buffer.alloc(READ_BUFFER_SIZE)]);
    frameBinary(bytes, 0, READ_BUFFER_SIZE, limits, frame);
    assert.deepEqual([frame.status, frame.needed], [FrameStatus.NeedMore, READ_BUFFER_SIZE + 1]);
    frameBinary(bytes, 0, READ_BUFFER_SIZE + 1, limits, frame);
    assert.equal(frame.status, FrameStatus.Close);
    // A key of 16000 bytes does fit: it is read, then refused.
    assert.deepEqual(feed([request(Opcode.Get, { key: 'k'.repeat(16000) })]), [refused(Opcode.Get, Status.InvalidArguments, true, true)]);
  });

  it('bad magic is decided at 24 bytes', () => {
    const frame = newFrame();
    const text = Buffer.from('get foo\r\nget bar\r\nget baz\r\n');
    frameBinary(text, 0, 23, limits, frame);
    assert.equal(frame.status, FrameStatus.NeedMore);
    frameBinary(text, 0, text.length, limits, frame);
    assert.deepEqual([frame.status, frame.length], [FrameStatus.Whole, 24]);
    assert.deepEqual(decodeBinary(text, 0, 24, limits), { op: BinaryOp.BadMagic });
  });
});

describe('binary protocol: responses', () => {
  const header = (buf: Buffer) => ({
    magic: buf[0],
    opcode: buf[1],
    keylen: buf.readUInt16BE(2),
    extlen: buf[4],
    datatype: buf[5],
    status: buf.readUInt16BE(6),
    bodylen: buf.readUInt32BE(8),
    opaque: buf.readUInt32BE(12),
    cas: buf.readBigUInt64BE(16),
  });

  it('a plain response, with a CAS past 32 bits', () => {
    const buf = encodeResponse(Opcode.Set, Status.Success, 0xfffffffe, 2 ** 40 + 5);
    assert.deepEqual(header(buf), {
      magic: 0x81,
      opcode: Opcode.Set,
      keylen: 0,
      extlen: 0,
      datatype: 0,
      status: 0,
      bodylen: 0,
      opaque: 0xfffffffe,
      cas: 2n ** 40n + 5n,
    });
    assert.equal(buf.length, 24);
  });

  it("errors carry memcached's messages", () => {
    const cases: [Status, string][] = [
      [Status.KeyNotFound, 'Not found'],
      [Status.KeyExists, 'Data exists for key.'],
      [Status.TooLarge, 'Too large.'],
      [Status.InvalidArguments, 'Invalid arguments'],
      [Status.NotStored, 'Not stored.'],
      [Status.NonNumeric, 'Non-numeric server-side value for incr or decr'],
      [Status.AuthError, 'Auth failure.'],
      [Status.UnknownCommand, 'Unknown command'],
      [Status.OutOfMemory, 'Out of memory'],
    ];
    for (const [status, message] of cases) {
      const buf = encodeError(Opcode.Get, status, 7);
      assert.equal(header(buf).status, status);
      assert.equal(header(buf).bodylen, message.length);
      assert.equal(buf.toString('latin1', 24), message);
    }
  });

  it('a value header counts the value that follows it', () => {
    const buf = encodeValueHeader(Opcode.GetK, 3, 99, 0xcafef00d, 'key', 10);
    assert.deepEqual(header(buf), {
      magic: 0x81,
      opcode: Opcode.GetK,
      keylen: 3,
      extlen: 4,
      datatype: 0,
      status: 0,
      bodylen: 17,
      opaque: 3,
      cas: 99n,
    });
    assert.equal(buf.readUInt32BE(24), 0xcafef00d);
    assert.equal(buf.toString('latin1', 28), 'key');
  });

  it('a key miss, a counter, stats', () => {
    const miss = encodeKeyMiss(Opcode.GetK, 1, 'k\xff');
    assert.deepEqual(
      [header(miss).status, header(miss).keylen, header(miss).bodylen, miss.toString('latin1', 24)],
      [Status.KeyNotFound, 2, 2, 'k\xff'],
    );
    const counter = encodeCounter(Opcode.Increment, 1, 5, 18446744073709551615n);
    assert.equal(counter.readBigUInt64BE(24), 18446744073709551615n);
    const stat = encodeStat(4, 'pid', '123');
    assert.deepEqual(
      [header(stat).opcode, header(stat).keylen, header(stat).bodylen, stat.toString('latin1', 24)],
      [Opcode.Stat, 3, 6, 'pid123'],
    );
    assert.equal(encodeStat(4, '', '').length, 24);
  });
});

describe('SASL PLAIN against a password file', () => {
  let dir = '';
  let pwdb = '';
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-pwdb-'));
    pwdb = path.join(dir, 'pwdb');
    fs.writeFileSync(pwdb, `alice:wonder\r\nbob:builder:extra\nalice:second\n${'x'.repeat(300)}\ncarol:\n`);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  const plain = (s: string) => Buffer.from(s, 'latin1');

  it('accepts the first entry of a user, its password exactly', () => {
    assert.equal(checkPlain(plain('\0alice\0wonder'), pwdb), true);
    assert.equal(checkPlain(plain('\0alice\0second'), pwdb), false);
    assert.equal(checkPlain(plain('\0alice\0wonde'), pwdb), false);
    assert.equal(checkPlain(plain('\0alice\0wonderful'), pwdb), false);
    assert.equal(checkPlain(plain('\0bob\0builder'), pwdb), true);
    assert.equal(checkPlain(plain('\0carol\0'), pwdb), true);
    assert.equal(checkPlain(plain('\0nobody\0x'), pwdb), false);
    assert.equal(checkPlain(plain('\0ali\0wonder'), pwdb), false);
  });

  it('checks the PLAIN message shape and authorization identity', () => {
    assert.equal(checkPlain(plain('alice\0alice\0wonder'), pwdb), true);
    assert.equal(checkPlain(plain('bob\0alice\0wonder'), pwdb), false);
    assert.equal(checkPlain(plain('alice\0wonder'), pwdb), false);
    assert.equal(checkPlain(plain('\0alice\0wonder\0'), pwdb), false);
    assert.equal(checkPlain(plain('\0\0wonder'), pwdb), false);
    assert.equal(checkPlain(plain('\0alice\0wonder'), undefined), false);
    assert.equal(checkPlain(plain('\0alice\0wonder'), path.join(dir, 'missing')), false);
  });

  it('names the PLAIN mechanism in any case, up to a NUL', () => {
    assert.equal(isPlainMechanism('PLAIN'), true);
    assert.equal(isPlainMechanism('plain'), true);
    assert.equal(isPlainMechanism('PLAIN\0junk'), true);
    assert.equal(isPlainMechanism('PLAINX'), false);
    assert.equal(isPlainMechanism('CRAM-MD5'), false);
  });
});
