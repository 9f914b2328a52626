/*
 * Base64 decoding of meta protocol keys (`b` flag) as memcached 1.6.18's base64.c decodes:
 * bytes outside the alphabet are skipped, what is left must be whole groups of four, at
 * most two '=' and decoding stops after the first padded group. Expected bytes were
 * printed by memcached's base64_decode compiled from its source; null is its 0 (failure).
 */

import assert from 'node:assert/strict';
import { base64Decode, base64Encode } from '../server/protocol/base64';

const b = (s: string) => Buffer.from(s, 'latin1');
const hex = (h: string) => Buffer.from(h, 'hex');

const table: [string, Buffer | null][] = [
  ['Zm9v', b('foo')],
  ['Zm9vYmFy', b('foobar')],
  ['Zm8=', b('fo')],
  ['Zg==', b('f')],
  ['AA==', hex('00')],
  ['+/+/', hex('fbffbf')],
  // Bytes outside the alphabet are skipped wherever they are.
  ['Zm9v YmFy', b('foobar')],
  ['Zm9v*YmFy', b('foobar')],
  ['Zm9v\nYmFy', b('foobar')],
  // Decoding ends with the first group that has padding; the rest is ignored.
  ['Zg==Zm9v', b('f')],
  ['Zm=v', hex('6660')],
  ['=Zg=', hex('01')],
  // Failures: nothing to decode, not whole groups of four, three '=' in a group.
  ['', null],
  ['!!!!', null],
  ['-_-_', null], // the URL-safe alphabet is not memcached's
  ['Zm9', null],
  ['Zm9vY', null],
  ['Zg=', null],
  ['Zg===', null],
  ['Z===', null],
  ['====', null],
];

describe('base64 keys', () => {
  for (const [text, expected] of table) {
    it(`decodes ${JSON.stringify(text)}`, () => {
      const decoded = base64Decode(b(text), 0, text.length);
      assert.deepEqual(decoded === null ? null : Buffer.from(decoded), expected);
    });
  }

  it('decodes only [start, end) of a line', () => {
    const line = b('mg Zm9vYmFy b v');
    assert.deepEqual(Buffer.from(base64Decode(line, 3, 11)!), b('foobar'));
    assert.deepEqual(Buffer.from(base64Decode(line, 3, 7)!), b('foo'));
  });

  it('encodes with padding, as keys are returned (`k` with `b`)', () => {
    const table: [Buffer, string][] = [
      [b('f'), 'Zg=='],
      [b('fo'), 'Zm8='],
      [b('foo'), 'Zm9v'],
      [hex('fbffbf'), '+/+/'],
      [hex('00ff0d0a'), 'AP8NCg=='],
    ];
    for (const [bytes, text] of table) assert.equal(base64Encode(bytes), text);
  });
});
