/*
 * The key an HTTP request names: its path without the leading slash, percent-decoded into
 * bytes, with memcached's key rules. Keys are strings of bytes (latin1), as the memcached
 * protocols keep them, so `GET /caf%C3%A9` names the key the text protocol's `get café` does.
 */

import { KEY_MAX_LENGTH } from '../protocol/limits';

/**
 * The key of a request target, or null where it names none memcached would accept: a target
 * not starting with '/', a malformed escape, an empty key, one over 250 bytes, or one with a
 * control character or space (bytes up to 0x20, and 0x7f). A query string is ignored.
 */
export function keyOfTarget(target: string): string | null {
  if (target.charCodeAt(0) !== 0x2f) return null;
  let end = target.indexOf('?');
  if (end < 0) end = target.length;
  if (end === 1 || end - 1 > KEY_MAX_LENGTH * 3) return null;
  let key = target.indexOf('%') < 0 ? target.slice(1, end) : percentDecoded(target, 1, end);
  if (key === null || key.length === 0 || key.length > KEY_MAX_LENGTH) return null;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f || c > 0xff) {
      key = null;
      break;
    }
  }
  return key;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** target[start, end) with each %XX turned into its byte; null for a % not followed by two hex digits. */
function percentDecoded(target: string, start: number, end: number): string | null {
  let out = '';
  for (let i = start; i < end; i++) {
    const c = target.charCodeAt(i);
    if (c !== 0x25) {
      out += target[i];
      continue;
    }
    if (i + 2 >= end) return null;
    const high = hexValue(target.charCodeAt(i + 1));
    const low = hexValue(target.charCodeAt(i + 2));
    if (high < 0 || low < 0) return null;
    out += String.fromCharCode(high * 16 + low);
    i += 2;
  }
  return out;
}
