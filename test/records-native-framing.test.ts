/*
 * The engine's framer (kmod/records_parse.c, linked into the addon) decides exactly what
 * frameText and frameBinary decide: the same request lengths, bytes swallowed, lengths waited for and closes, for
 * generated requests of every shape, cut at every kind of place, under several limits.
 */

import assert from 'node:assert/strict';
import { newFrame } from '../server/framing';
import { frameText } from '../server/protocol/text';
import type { BinaryLimits } from '../server/protocol/binary';
import { frameBinary } from '../server/protocol/binary-frame';
import { loadNativeBinding, type NativeBinding } from '../server/records/native-addon';
import { missing } from '../conformance/lib/required';
import { Random } from './helpers/random';

const NUMBERS = [
  '0',
  '1',
  '5',
  '10',
  '100',
  '-1',
  '+5',
  '-0',
  ' 7',
  '007',
  '2147483647',
  '2147483646',
  '2147483648',
  '4294967295',
  '4294967296',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '-9223372036854775809',
  '18446744073709551615',
  '18446744073709551616',
  '99999999999999999999',
  '1048576',
  '1048500',
  '524288',
  '12a',
  'abc',
  '',
  '1\t',
  '0x10',
  '1000000',
  '999999999999999',
  '1000000000000000',
];
const COMMANDS = [
  'set',
  'add',
  'replace',
  'append',
  'prepend',
  'cas',
  'ms',
  'mg',
  'get',
  'gets',
  'incr',
  'sets',
  'se',
  'msx',
  'ma',
  'delete',
  'version',
  'mn',
  'touch',
  'gat',
];

function textCase(r: Random): Buffer {
  const command = r.pick(COMMANDS);
  const parts: string[] = [];
  const lead = r.below(8) === 0 ? ' '.repeat(1 + r.below(3)) : '';
  const key = r.below(10) === 0 ? 'k'.repeat(240 + r.below(20)) : `key${r.below(100)}`;
  parts.push(command, key);
  const length = () => String(r.pick([0, 1, 10, 100, 1900, 1930, 1950, 1990, 2000, 2100, 1048500, 1048600, 2000000]) + r.below(3));
  if (r.below(2) === 0) {
    // Mostly well formed: storage and meta-set lines whose data block is framed.
    if (command === 'ms') {
      parts.push(length());
      for (let i = r.below(4); i > 0; i--) parts.push(r.pick(['T10', 'F5', 'q', 'k', 'I', 'MA']));
    } else {
      parts.push(r.pick(['0', '0', '5', '4294967296', '-1']), r.pick(['0', '0', '100', '-1']), length());
      if (command === 'cas' || r.below(8) === 0) parts.push(r.pick(['1', '12345', '-1', 'x']));
      if (r.below(4) === 0) parts.push('noreply');
    }
  } else {
    const tokens = r.below(10) === 0 ? 20 + r.below(8) : r.below(7);
    for (let i = 0; i < tokens; i++) parts.push(r.below(4) === 0 ? r.pick(['noreply', 'T10', 'F5', 'S100', 'b', 'q']) : r.pick(NUMBERS));
  }
  const separator = r.below(6) === 0 ? '  ' : ' ';
  let line = lead + parts.join(separator);
  if (r.below(20) === 0) line += '\0junk';
  const ending = r.pick(['\r\n', '\n', '\r\n', '\r\n', '']);
  let bytes = line + ending;
  if (r.below(15) === 0) bytes = `get ${'x '.repeat(1100 + r.below(200))}`;
  if (r.below(25) === 0) bytes = r.pick(['y', ' ', 'g', 'get', ' get']) + 'y'.repeat(2040 + r.below(20));
  if (r.below(40) === 0) bytes = `${' '.repeat(r.below(120))}get${r.pick([' ', 's ', 'x'])}${'k'.repeat(2100)}`;
  // A data block of about the announced size, then maybe the next request.
  const announced = Number(parts[command === 'ms' ? 2 : 4]);
  const dataLength = Number.isFinite(announced) && announced >= 0 && announced < 3000 ? announced + r.below(4) - 1 : r.below(50);
  const data = 'd'.repeat(Math.max(0, dataLength)) + (r.below(3) === 0 ? 'X\n' : '\r\n');
  const next = r.below(2) === 0 ? 'get next\r\n' : '';
  const whole = Buffer.from(bytes + data + next, 'latin1');
  // Cut anywhere: mid line, mid data, or not at all.
  return r.below(3) === 0 ? whole.subarray(0, r.below(whole.length + 1)) : whole;
}

const OPCODES = [
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16,
  0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x7f, 0xff,
];

function binaryCase(r: Random): Buffer {
  const header = Buffer.alloc(24);
  header[0] = r.below(12) === 0 ? r.below(256) : 0x80;
  header[1] = r.pick(OPCODES);
  const keylen = r.pick([0, 1, 5, 250, 251, 300, 16000, 20000, r.below(65536)]);
  const extlen = r.pick([0, 0, 4, 8, 20, r.below(256)]);
  header.writeUInt16BE(keylen, 2);
  header[4] = extlen;
  const value = r.pick([0, 1, 10, 1000, 600000, 1048000, 2000000, 0x7fffffff, 0xfffffff0]);
  const bodylen = r.below(8) === 0 ? r.next() : Math.min(0xffffffff, keylen + extlen + value - (r.below(5) === 0 ? r.below(10) : 0));
  header.writeUInt32BE(Math.max(0, bodylen) >>> 0, 8);
  const available = Math.min(24 + keylen + extlen + r.below(3000), 24 + 40000);
  const body = Buffer.alloc(Math.max(0, available - 24), 0x61);
  if (extlen >= 4 && body.length >= 4) body.writeUInt32BE(r.pick([0, 1, 0xdeadbeef]), 0);
  const whole = Buffer.concat([header, body]);
  return r.below(3) === 0 ? whole.subarray(0, r.below(whole.length + 1)) : whole;
}

const LIMITS: BinaryLimits[] = [
  { itemSizeMax: 1024 * 1024, casEnabled: true, slabChunkMax: 512 * 1024, sasl: false },
  { itemSizeMax: 1024 * 1024, casEnabled: false, slabChunkMax: 512 * 1024, sasl: true },
  { itemSizeMax: 2000, casEnabled: true, slabChunkMax: 1000, sasl: true },
];

describe('native framing matches the TypeScript framers', function () {
  this.timeout(120000);
  let native: NativeBinding;
  before(function () {
    try {
      native = loadNativeBinding();
    } catch (err) {
      missing(this, 'native', (err as Error).message);
    }
  });

  for (const [protocol, make] of [
    ['text', textCase],
    ['binary', binaryCase],
  ] as const) {
    it(`${protocol}: 30,000 generated requests under three sets of limits`, () => {
      const r = new Random(protocol === 'text' ? 7 : 11);
      const out = newFrame();
      for (let i = 0; i < 30000; i++) {
        const bytes = make(r);
        const limits = LIMITS[i % LIMITS.length];
        const ts = protocol === 'text' ? frameText(bytes, 0, bytes.length, limits, out) : frameBinary(bytes, 0, bytes.length, limits, out);
        const expected = [ts.status, ts.length, ts.swallow, ts.needed];
        const got = native.frame(
          bytes,
          protocol === 'binary' ? 2 : 1,
          limits.itemSizeMax,
          limits.casEnabled ? 1 : 0,
          limits.slabChunkMax,
          limits.sasl ? 1 : 0,
        );
        assert.deepEqual(
          got,
          expected,
          `case ${i} (${JSON.stringify(bytes.toString('latin1').slice(0, 120))}, ${bytes.length} bytes, limits ${i % LIMITS.length})`,
        );
      }
    });
  }
});
