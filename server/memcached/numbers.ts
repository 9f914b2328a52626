/*
 * Number tokens parsed exactly as memcached parses them (util.c safe_strto*): C strtol
 * semantics (leading white space, a sign, decimal digits), the token must end at white
 * space or its end, and the 64-bit result is then truncated to the field's width. The
 * quirks are part of the protocol: `-1` is not a valid unsigned, flags 2^32 become 0,
 * a length of 2^32 becomes 0.
 *
 * Each parser takes (buf, start, end) and returns NaN (or null for 64-bit) when memcached
 * would reject the token. A short all-digit token takes a fast path without BigInt.
 */

const TWO_64 = 1n << 64n;
const TWO_63 = 1n << 63n;

function isCSpace(byte: number): boolean {
  // isspace() in the C locale: space, \t, \n, \v, \f, \r.
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** A short run of plain digits: the common case, parsed without BigInt. */
function plainDigits(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  if (len === 0 || len > 15) return -1;
  let value = 0;
  for (let i = start; i < end; i++) {
    const digit = buf[i] - 0x30;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

interface Scanned {
  /** The value strtoull/strtoll computed, before range checks: sign applied to the magnitude. */
  negative: boolean;
  magnitude: bigint;
  /** True when the text after the digits is acceptable (end of token or white space). */
  clean: boolean;
  /** True when the token contains a '-' anywhere (memcached's strchr check). */
  hasMinus: boolean;
}

function scan(buf: Buffer, start: number, end: number): Scanned | null {
  let i = start;
  while (i < end && isCSpace(buf[i])) i++;
  let negative = false;
  if (i < end && (buf[i] === 0x2b || buf[i] === 0x2d)) {
    negative = buf[i] === 0x2d;
    i++;
  }
  const digitsStart = i;
  let magnitude = 0n;
  while (i < end && buf[i] >= 0x30 && buf[i] <= 0x39) {
    magnitude = magnitude * 10n + BigInt(buf[i] - 0x30);
    i++;
  }
  if (i === digitsStart) return null; // no conversion: endptr == str
  // A NUL ends the C string strtoull reads (a stored value may hold one).
  const clean = i === end || buf[i] === 0 || isCSpace(buf[i]);
  let hasMinus = false;
  for (let j = start; j < end && buf[j] !== 0; j++) {
    if (buf[j] === 0x2d) {
      hasMinus = true;
      break;
    }
  }
  return { negative, magnitude, clean, hasMinus };
}

/** strtoull then safe_strtoull's checks; null when rejected. */
export function parseU64(buf: Buffer, start: number, end: number): bigint | null {
  const fast = plainDigits(buf, start, end);
  if (fast >= 0) return BigInt(fast);
  const s = scan(buf, start, end);
  if (s === null || !s.clean) return null;
  if (s.magnitude >= TWO_64) return null; // ERANGE
  const value = s.negative ? (TWO_64 - s.magnitude) % TWO_64 : s.magnitude;
  if (value >= TWO_63 && s.hasMinus) return null;
  return value;
}

/** safe_strtoul: unsigned long, then truncated to 32 bits. NaN when rejected. */
export function parseU32(buf: Buffer, start: number, end: number): number {
  const fast = plainDigits(buf, start, end);
  if (fast >= 0) return fast >>> 0 === fast ? fast : Number(BigInt(fast) & 0xffffffffn);
  const v = parseU64(buf, start, end);
  return v === null ? NaN : Number(v & 0xffffffffn);
}

/** safe_strtol: signed long (64-bit), then truncated to a signed 32-bit int. NaN when rejected. */
export function parseI32(buf: Buffer, start: number, end: number): number {
  const fast = plainDigits(buf, start, end);
  if (fast >= 0) return fast | 0;
  const s = scan(buf, start, end);
  if (s === null || !s.clean) return NaN;
  const value = s.negative ? -s.magnitude : s.magnitude;
  if (value >= TWO_63 || value < -TWO_63) return NaN; // ERANGE
  return Number(BigInt.asIntN(32, value));
}

/**
 * incr/decr read the stored value with strtoull over the item's bytes, which end in "\r\n",
 * so the number ends at the first white space. Returns null for "non-numeric".
 */
export function parseStoredCounter(value: Buffer): bigint | null {
  return parseU64(value, 0, value.length);
}
