/*
 * memcached's ASCII authentication (-Y): what a connection may send before it has
 * authenticated, framed and decoded as proto_text.c try_read_command_asciiauth reads it.
 *
 * Until it authenticates, a connection's only useful request is
 * `set <any> <any> <any> <bytes>\r\n<user> <password>\r\n`. Any other line is one request
 * answered `CLIENT_ERROR unauthenticated`, whatever command it names, and a storage
 * command's data is not read as data. Pure functions over (Buffer, offset).
 */

import { FrameStatus, type Frame } from '../framing';
import { LINE_NO_NEWLINE_LIMIT } from './text';

/**
 * memcached reads the token into its fixed 16 KiB read buffer: data that cannot fit there
 * fills the buffer, and the next bytes to arrive close the connection.
 */
export const AUTH_READ_BUFFER = 16384;
const UINT32_MAX = 0xffffffff;

/** The data length a `set` line announces, or -1 when the line is not an authentication line. */
function authDataLength(buf: Buffer, start: number, newline: number): number {
  // Tokens are split on spaces only; the line's CR stays in its last token.
  let token = 0;
  let p = start;
  let sizeStart = -1;
  let sizeEnd = -1;
  while (p < newline && token < 5) {
    while (p < newline && buf[p] === 0x20) p++;
    if (p === newline) break;
    const s = p;
    while (p < newline && buf[p] !== 0x20) p++;
    if (token === 0 && !(p - s === 3 && buf[s] === 0x73 && buf[s + 1] === 0x65 && buf[s + 2] === 0x74)) return -1;
    if (token === 4) {
      sizeStart = s;
      sizeEnd = p;
    }
    token++;
  }
  if (token < 5) return -1;
  return strtoul32(buf, sizeStart, sizeEnd);
}

/**
 * memcached's safe_strtoul: leading white space and a sign allowed, digits, then the end of
 * the token or white space; a value above 32 bits is truncated. -1 when it is not a number.
 */
function strtoul32(buf: Buffer, start: number, end: number): number {
  let p = start;
  while (p < end && isSpace(buf[p])) p++;
  let negative = false;
  if (p < end && (buf[p] === 0x2b || buf[p] === 0x2d)) negative = buf[p++] === 0x2d;
  const digits = p;
  let value = 0n;
  while (p < end && buf[p] >= 0x30 && buf[p] <= 0x39) value = value * 10n + BigInt(buf[p++] - 0x30);
  if (p === digits) return -1;
  if (p < end && !isSpace(buf[p])) return -1;
  if (value > 0xffffffffffffffffn) return -1; // ERANGE
  if (negative && value !== 0n) return -1; // strtoul wraps a negative number; memcached refuses it
  return Number(value & BigInt(UINT32_MAX));
}

function isSpace(byte: number): boolean {
  return byte === 0x20 || (byte >= 0x09 && byte <= 0x0d);
}

/** Finds the extent of the unauthenticated request starting at `start` in buf[start, end). */
export function frameAuth(buf: Buffer, start: number, end: number, out: Frame): Frame {
  out.swallow = 0;
  out.needed = 0;
  out.length = 0;
  out.status = FrameStatus.NeedMore;
  // memcached waits for at least two bytes before it looks for a line.
  if (end - start < 2) return out;
  let newline = buf.indexOf(0x0a, start);
  if (newline >= end) newline = -1;
  if (newline === -1) {
    if (end - start > LINE_NO_NEWLINE_LIMIT) out.status = FrameStatus.Close;
    return out;
  }
  const lineLength = newline + 1 - start;
  const size = authDataLength(buf, start, newline);
  if (size < 0) {
    out.status = FrameStatus.Whole;
    out.length = lineLength;
    return out;
  }
  const dataLength = size + 2;
  const available = end - start - lineLength;
  if (dataLength > AUTH_READ_BUFFER) {
    if (available > AUTH_READ_BUFFER) out.status = FrameStatus.Close;
    else out.needed = lineLength + AUTH_READ_BUFFER + 1;
    return out;
  }
  if (available < dataLength) {
    out.needed = lineLength + dataLength;
    return out;
  }
  out.status = FrameStatus.Whole;
  out.length = lineLength + dataLength;
  return out;
}

export const enum AuthKind {
  /** Any line other than an authentication `set`. */
  Unauthenticated = 1,
  /** The token does not end in CR LF. */
  BadTermination,
  /** The token is not `<user> <password>`. */
  BadFormat,
  Credentials,
}

export type AuthRequest =
  | { kind: AuthKind.Unauthenticated | AuthKind.BadTermination | AuthKind.BadFormat }
  | { kind: AuthKind.Credentials; user: Buffer; password: Buffer };

const UNAUTHENTICATED: AuthRequest = { kind: AuthKind.Unauthenticated };
const BAD_TERMINATION: AuthRequest = { kind: AuthKind.BadTermination };
const BAD_FORMAT: AuthRequest = { kind: AuthKind.BadFormat };

/** Decodes one request framed by frameAuth. */
export function decodeAuth(buf: Buffer, start: number, length: number): AuthRequest {
  const end = start + length;
  const newline = buf.indexOf(0x0a, start);
  if (newline + 1 === end || newline === -1 || newline >= end) return UNAUTHENTICATED;
  if (buf[end - 2] !== 0x0d || buf[end - 1] !== 0x0a) return BAD_TERMINATION;
  // "<user> <password>": the first two space-separated tokens; a NUL ends the token text.
  let limit = end - 2;
  const nul = buf.indexOf(0, newline + 1);
  if (nul !== -1 && nul < limit) limit = nul;
  const words: Buffer[] = [];
  let p = newline + 1;
  while (p < limit && words.length < 2) {
    while (p < limit && buf[p] === 0x20) p++;
    if (p === limit) break;
    const s = p;
    while (p < limit && buf[p] !== 0x20) p++;
    words.push(buf.subarray(s, p));
  }
  if (words.length < 2) return BAD_FORMAT;
  return { kind: AuthKind.Credentials, user: words[0], password: words[1] };
}
