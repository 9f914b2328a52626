/*
 * Number tokens as memcached reads them (util.c safe_strtoull, safe_strtoll, safe_strtoul,
 * safe_strtol). The expected values were printed by those functions, compiled from
 * memcached 1.6.18's util.c on this platform (glibc, 64-bit long): C's strto* quirks
 * included, such as `-1` refused as unsigned and 2^32 read as 0 for 32-bit fields.
 */

import assert from 'node:assert/strict';
import { parseI32, parseStoredCounter, parseU32, parseU64 } from '../server/memcached/numbers';

const b = (s: string) => Buffer.from(s, 'latin1');
const R = null; // refused

interface Row {
  text: string;
  u64: bigint | null;
  i64: bigint | null;
  u32: number | null;
  i32: number | null;
}

const rows: Row[] = [
  { text: '0', u64: 0n, i64: 0n, u32: 0, i32: 0 },
  { text: '5', u64: 5n, i64: 5n, u32: 5, i32: 5 },
  { text: '+5', u64: 5n, i64: 5n, u32: 5, i32: 5 },
  { text: '-0', u64: 0n, i64: 0n, u32: 0, i32: 0 },
  { text: '-1', u64: R, i64: -1n, u32: R, i32: -1 },
  { text: '-5', u64: R, i64: -5n, u32: R, i32: -5 },
  { text: '\t7', u64: 7n, i64: 7n, u32: 7, i32: 7 },
  { text: '7\t', u64: 7n, i64: 7n, u32: 7, i32: 7 },
  { text: '7x', u64: R, i64: R, u32: R, i32: R },
  { text: '', u64: R, i64: R, u32: R, i32: R },
  { text: '\t', u64: R, i64: R, u32: R, i32: R },
  { text: '-', u64: R, i64: R, u32: R, i32: R },
  { text: '0x10', u64: R, i64: R, u32: R, i32: R },
  { text: '1.5', u64: R, i64: R, u32: R, i32: R },
  { text: '000000000000000000000000012', u64: 12n, i64: 12n, u32: 12, i32: 12 },
  { text: '4294967295', u64: 4294967295n, i64: 4294967295n, u32: 4294967295, i32: -1 },
  { text: '4294967296', u64: 4294967296n, i64: 4294967296n, u32: 0, i32: 0 },
  { text: '4294967297', u64: 4294967297n, i64: 4294967297n, u32: 1, i32: 1 },
  { text: '2147483647', u64: 2147483647n, i64: 2147483647n, u32: 2147483647, i32: 2147483647 },
  { text: '2147483648', u64: 2147483648n, i64: 2147483648n, u32: 2147483648, i32: -2147483648 },
  { text: '-2147483648', u64: R, i64: -2147483648n, u32: R, i32: -2147483648 },
  { text: '-2147483649', u64: R, i64: -2147483649n, u32: R, i32: 2147483647 },
  { text: '9223372036854775807', u64: 9223372036854775807n, i64: 9223372036854775807n, u32: 4294967295, i32: -1 },
  { text: '9223372036854775808', u64: 9223372036854775808n, i64: R, u32: 0, i32: R },
  { text: '-9223372036854775808', u64: R, i64: -9223372036854775808n, u32: R, i32: 0 },
  // strtoull negates the magnitude modulo 2^64; the result is below 2^63, so the '-' goes unnoticed.
  { text: '-9223372036854775809', u64: 9223372036854775807n, i64: R, u32: 4294967295, i32: R },
  { text: '18446744073709551615', u64: 18446744073709551615n, i64: R, u32: 4294967295, i32: R },
  { text: '18446744073709551616', u64: R, i64: R, u32: R, i32: R },
  { text: '-18446744073709551615', u64: 1n, i64: R, u32: 1, i32: R },
  { text: '-18446744073709551616', u64: R, i64: R, u32: R, i32: R },
];

/** The token inside other bytes, as the decoders see it: (buf, start, end) into a line. */
function framed(text: string): [Buffer, number, number] {
  const buf = b(`set ${text} x`);
  return [buf, 4, 4 + text.length];
}

describe('numbers: memcached safe_strto*', () => {
  for (const row of rows) {
    it(JSON.stringify(row.text), () => {
      const [buf, start, end] = framed(row.text);
      assert.equal(parseU64(buf, start, end), row.u64, 'safe_strtoull');
      assert.equal(parseU32(buf, start, end), row.u32 ?? NaN, 'safe_strtoul');
      assert.equal(parseI32(buf, start, end), row.i32 ?? NaN, 'safe_strtol');
    });
  }

  it('reads only its own token: bytes after `end` do not count', () => {
    const buf = b('123456');
    assert.equal(parseU64(buf, 0, 3), 123n);
    assert.equal(parseU32(buf, 1, 4), 234);
    assert.equal(parseI32(buf, 2, 5), 345);
  });

  it('stops at a NUL, which ends the C string memcached reads', () => {
    assert.equal(parseU64(b('12\0ab'), 0, 5), 12n);
    // The '-' check of strchr() does not see past the NUL either.
    assert.equal(parseU64(b('18446744073709551615\0-'), 0, 22), 18446744073709551615n);
  });
});

describe('numbers: incr/decr read the stored value with strtoull', () => {
  const table: [string, bigint | null][] = [
    ['12345\r\n', 12345n],
    ['99 \r\n', 99n], // a decr result padded with spaces to the old length
    ['0\r\n', 0n],
    ['18446744073709551615\r\n', 18446744073709551615n],
    ['18446744073709551616\r\n', null],
    ['12abc\r\n', null],
    ['abc\r\n', null],
    ['\r\n', null],
    ['-1\r\n', null],
    [' 7\r\n', 7n],
  ];
  for (const [stored, expected] of table) {
    it(JSON.stringify(stored), () => assert.equal(parseStoredCounter(b(stored)), expected));
  }
});
