/*
 * memcached's text protocol: framing and decoding, pure functions over (Buffer, offset).
 *
 * frameText() finds where one whole request ends (its line, and the data block of a storage
 * command) or says it needs more bytes; it never allocates. decodeText() turns one framed
 * request into a TextRequest, with every check memcached 1.6 (proto_text.c) makes and the
 * exact error it replies with. Neither touches a socket or a clock.
 */

import { Reply } from './replies';
import { parseI32, parseU32, parseU64 } from '../memcached/numbers';
import { StoreMode, itemTotal } from '../memcached/item';
import { FrameStatus, type Frame } from '../framing';
import { KEY_MAX_LENGTH, type TextLimits } from './limits';
import { decodeMeta, metaSetDataLength, type MetaError, type MetaRequest } from './meta';
import { commandEnd, hasNoreply, tokEnd, tokStart, tokenIs, tokenLength, tokenString, tokenize, tokens } from './tokens';

export { KEY_MAX_LENGTH };
/** A line with no newline in its first 2048 bytes closes the connection, unless it is a get. */
export const LINE_NO_NEWLINE_LIMIT = 2048;
/** The longest multiget line buffered before the connection is closed (memcached has none). */
export const GET_LINE_LIMIT = 16 * 1024 * 1024;
const INT_MAX = 0x7fffffff;

export type { TextLimits };

// ---------------------------------------------------------------------------------------------
// Storage headers: the checks process_update_command makes before it reads the data block.

/** Which storage command the first token names, or 0. */
function storageMode(buf: Buffer): StoreMode | 0 {
  const s = tokStart[0];
  switch (tokEnd[0] - s) {
    case 3:
      if (tokenIs(0, buf, 'set')) return StoreMode.Set;
      if (tokenIs(0, buf, 'add')) return StoreMode.Add;
      if (tokenIs(0, buf, 'cas')) return StoreMode.Cas;
      return 0;
    case 6:
      return tokenIs(0, buf, 'append') ? StoreMode.Append : 0;
    case 7:
      if (tokenIs(0, buf, 'replace')) return StoreMode.Replace;
      if (tokenIs(0, buf, 'prepend')) return StoreMode.Prepend;
      return 0;
    default:
      return 0;
  }
}

interface StorageHeader {
  /** An error replied instead of reading a data block, or null. */
  error: Buffer | null;
  flags: number;
  exptime: number;
  /** Data block length including its CR LF. */
  dataLength: number;
  cas: bigint;
  tooLarge: boolean;
}

const header: StorageHeader = { error: null, flags: 0, exptime: 0, dataLength: 0, cas: 0n, tooLarge: false };

/** Fills `header` from the current tokens; `ntokens` counts the terminal token. */
function readStorageHeader(buf: Buffer, mode: StoreMode, ntokens: number, limits: TextLimits): StorageHeader {
  header.error = null;
  header.tooLarge = false;
  header.cas = 0n;
  const withCas = mode === StoreMode.Cas;
  if (withCas ? ntokens !== 7 && ntokens !== 8 : ntokens !== 6 && ntokens !== 7) {
    header.error = Reply.ERROR;
    return header;
  }
  const nkey = tokenLength(1);
  if (nkey > KEY_MAX_LENGTH) {
    header.error = Reply.BAD_FORMAT;
    return header;
  }
  const flags = parseU32(buf, tokStart[2], tokEnd[2]);
  const exptime = parseI32(buf, tokStart[3], tokEnd[3]);
  const vlen = parseI32(buf, tokStart[4], tokEnd[4]);
  if (Number.isNaN(flags) || Number.isNaN(exptime) || Number.isNaN(vlen)) {
    header.error = Reply.BAD_FORMAT;
    return header;
  }
  if (withCas) {
    const cas = parseU64(buf, tokStart[5], tokEnd[5]);
    if (cas === null) {
      header.error = Reply.BAD_FORMAT;
      return header;
    }
    header.cas = cas;
  }
  if (vlen < 0 || vlen > INT_MAX - 2) {
    header.error = Reply.BAD_FORMAT;
    return header;
  }
  header.flags = flags;
  header.exptime = exptime;
  header.dataLength = vlen + 2;
  header.tooLarge = itemTotal(nkey, flags, vlen + 2, limits.casEnabled) > limits.itemSizeMax;
  return header;
}

// ---------------------------------------------------------------------------------------------
// Framing.

/**
 * Finds the extent of the request starting at `start` in buf[start, end).
 */
export function frameText(buf: Buffer, start: number, end: number, limits: TextLimits, out: Frame): Frame {
  out.swallow = 0;
  out.needed = 0;
  out.length = 0;
  let newline = buf.indexOf(0x0a, start);
  if (newline >= end) newline = -1;
  if (newline === -1) {
    out.status = FrameStatus.NeedMore;
    const available = end - start;
    if (available > LINE_NO_NEWLINE_LIMIT) {
      let p = start;
      while (p < end && buf[p] === 0x20) p++;
      const isGet =
        p - start <= 100 &&
        ((buf[p] === 0x67 && buf[p + 1] === 0x65 && buf[p + 2] === 0x74 && buf[p + 3] === 0x20) ||
          (buf[p] === 0x67 && buf[p + 1] === 0x65 && buf[p + 2] === 0x74 && buf[p + 3] === 0x73 && buf[p + 4] === 0x20));
      if (!isGet || available > GET_LINE_LIMIT) out.status = FrameStatus.Close;
    }
    return out;
  }
  const lineLength = newline + 1 - start;
  out.status = FrameStatus.Whole;
  out.length = lineLength;

  // Only storage commands carry a data block; look for one cheaply before tokenizing.
  let p = start;
  while (p < newline && buf[p] === 0x20) p++;
  const first = buf[p];
  if (first !== 0x73 && first !== 0x61 && first !== 0x72 && first !== 0x70 && first !== 0x63 && first !== 0x6d) {
    return out;
  }

  const cmdEnd = commandEnd(buf, start, newline);
  const ntokens = tokenize(buf, start, cmdEnd);
  if (ntokens < 2) return out;
  let dataLength: number;
  if (first === 0x6d) {
    if (!tokenIs(0, buf, 'ms')) return out;
    dataLength = metaSetDataLength(buf, ntokens);
    if (dataLength === -1) return out;
    if (dataLength > limits.itemSizeMax) {
      // Certainly too large to store: discard it as it arrives instead of buffering it.
      out.swallow = dataLength;
      return out;
    }
  } else {
    const mode = storageMode(buf);
    if (mode === 0) return out;
    const h = readStorageHeader(buf, mode, ntokens, limits);
    if (h.error !== null) return out;
    if (h.tooLarge) {
      out.swallow = h.dataLength;
      return out;
    }
    dataLength = h.dataLength;
  }
  const total = lineLength + dataLength;
  if (end - start < total) {
    out.status = FrameStatus.NeedMore;
    out.needed = total;
    return out;
  }
  out.length = total;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding.

export const enum Op {
  /** Reply with `reply` (unless noreply); the parser alone decided it. */
  Error = 1,
  Get,
  Store,
  Delete,
  Arith,
  Touch,
  FlushAll,
  Version,
  Verbosity,
  Quit,
  Shutdown,
  Stats,
  /** Close without a reply (an HTTP request line). */
  Close,
  /** Known admin commands recordcache answers in its own way (slabs, lru, watch, ...). */
  Admin,
  /** refresh_certs: reload the TLS certificates (-Z). */
  RefreshCerts,
}

export interface ErrorRequest {
  op: Op.Error;
  reply: Buffer;
  noreply: boolean;
  /** A storage command whose data block was malformed: memcached still counts a set of an item this size. */
  failedSetSize?: number;
}
export interface GetRequest {
  op: Op.Get;
  keys: string[];
  withCas: boolean;
  touch: boolean;
  /** gat/gats: the raw exptime. */
  exptime: number;
  /** A key past 250 bytes ended the list: keys before it are still looked up, then the reply is an error. */
  badKey: boolean;
}
export interface StoreRequest {
  op: Op.Store;
  mode: StoreMode;
  key: string;
  flags: number;
  exptime: number;
  /** The data block with its CR LF; a view into the request buffer. Empty when tooLarge. */
  data: Buffer;
  cas: bigint;
  noreply: boolean;
  tooLarge: boolean;
}
export interface DeleteRequest {
  op: Op.Delete;
  key: string;
  noreply: boolean;
}
export interface ArithRequest {
  op: Op.Arith;
  incr: boolean;
  key: string;
  delta: bigint;
  noreply: boolean;
}
export interface TouchRequest {
  op: Op.Touch;
  key: string;
  exptime: number;
  noreply: boolean;
}
export interface FlushAllRequest {
  op: Op.FlushAll;
  /** Raw delay; 0 or negative is immediate. */
  delay: number;
  noreply: boolean;
}
export interface VerbosityRequest {
  op: Op.Verbosity;
  level: number;
  noreply: boolean;
}
export interface ShutdownRequest {
  op: Op.Shutdown;
  graceful: boolean;
  /** Set when the mode token is not understood. */
  invalid: boolean;
}
export interface StatsRequest {
  op: Op.Stats;
  args: string[];
}
export interface AdminRequest {
  op: Op.Admin;
  args: string[];
}
export interface SimpleRequest {
  op: Op.Version | Op.Quit | Op.Close;
}

export interface RefreshCertsRequest {
  op: Op.RefreshCerts;
  noreply: boolean;
}

export type TextRequest =
  | RefreshCertsRequest
  | ErrorRequest
  | GetRequest
  | StoreRequest
  | DeleteRequest
  | ArithRequest
  | TouchRequest
  | FlushAllRequest
  | VerbosityRequest
  | ShutdownRequest
  | StatsRequest
  | AdminRequest
  | SimpleRequest
  | MetaRequest
  | MetaError;

const ERROR_REQUEST: ErrorRequest = Object.freeze({ op: Op.Error, reply: Reply.ERROR, noreply: false }) as ErrorRequest;
const VERSION_REQUEST: SimpleRequest = Object.freeze({ op: Op.Version }) as SimpleRequest;
const QUIT_REQUEST: SimpleRequest = Object.freeze({ op: Op.Quit }) as SimpleRequest;
const CLOSE_REQUEST: SimpleRequest = Object.freeze({ op: Op.Close }) as SimpleRequest;

function error(reply: Buffer, noreply: boolean): ErrorRequest {
  return noreply ? { op: Op.Error, reply, noreply } : reply === Reply.ERROR ? ERROR_REQUEST : { op: Op.Error, reply, noreply };
}

/** Every token of the current tokenization as strings (admin and stats commands; not hot). */
function allTokens(buf: Buffer, ntokens: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < ntokens - 1; i++) out.push(tokenString(buf, i));
  return out;
}

/**
 * Decodes the whole request framed at buf[start, start + length).
 */
export function decodeText(buf: Buffer, start: number, length: number, limits: TextLimits): TextRequest {
  const newline = buf.indexOf(0x0a, start);
  const cmdEnd = commandEnd(buf, start, newline);
  const ntokens = tokenize(buf, start, cmdEnd);
  if (ntokens < 2 || tokenLength(0) < 2) return ERROR_REQUEST;

  const cmdLength = tokenLength(0);
  const c0 = buf[tokStart[0]];
  if (c0 === 0x6d /* m */ && cmdLength === 2) {
    const data = newline + 1 < start + length ? buf.subarray(newline + 1, start + length) : null;
    const meta = decodeMeta(buf, ntokens, data, limits);
    return meta === 'error' ? ERROR_REQUEST : meta;
  }
  switch (cmdLength) {
    case 3:
      if (tokenIs(0, buf, 'get')) return decodeGet(buf, ntokens, false, false);
      if (tokenIs(0, buf, 'gat')) return decodeGet(buf, ntokens, false, true);
      if (tokenIs(0, buf, 'set') || tokenIs(0, buf, 'add') || tokenIs(0, buf, 'cas')) {
        return decodeStore(buf, start, length, newline, ntokens, limits);
      }
      if (tokenIs(0, buf, 'lru')) return ntokens < 3 ? ERROR_REQUEST : { op: Op.Admin, args: allTokens(buf, ntokens) };
      break;
    case 4:
      if (tokenIs(0, buf, 'gets')) return decodeGet(buf, ntokens, true, false);
      if (tokenIs(0, buf, 'gats')) return decodeGet(buf, ntokens, true, true);
      if (tokenIs(0, buf, 'incr')) return decodeArith(buf, ntokens, true);
      if (tokenIs(0, buf, 'decr')) return decodeArith(buf, ntokens, false);
      if (tokenIs(0, buf, 'quit')) return QUIT_REQUEST;
      if (tokenIs(0, buf, 'bget')) return decodeGet(buf, ntokens, false, false);
      break;
    case 5:
      if (tokenIs(0, buf, 'touch')) return decodeTouch(buf, ntokens);
      if (tokenIs(0, buf, 'stats')) return { op: Op.Stats, args: allTokens(buf, ntokens).slice(1) };
      if (tokenIs(0, buf, 'slabs')) return { op: Op.Admin, args: allTokens(buf, ntokens) };
      if (tokenIs(0, buf, 'watch')) return { op: Op.Admin, args: allTokens(buf, ntokens) };
      break;
    case 6:
      if (tokenIs(0, buf, 'delete')) return decodeDelete(buf, ntokens);
      if (tokenIs(0, buf, 'append')) return decodeStore(buf, start, length, newline, ntokens, limits);
      break;
    case 7:
      if (tokenIs(0, buf, 'replace') || tokenIs(0, buf, 'prepend')) {
        return decodeStore(buf, start, length, newline, ntokens, limits);
      }
      if (tokenIs(0, buf, 'version')) return VERSION_REQUEST;
      break;
    case 8:
      if (tokenIs(0, buf, 'shutdown')) return decodeShutdown(buf, ntokens);
      break;
    case 9:
      if (tokenIs(0, buf, 'flush_all')) return decodeFlushAll(buf, ntokens);
      if (tokenIs(0, buf, 'verbosity')) return decodeVerbosity(buf, ntokens);
      break;
    case 11:
      if (tokenIs(0, buf, 'lru_crawler')) return { op: Op.Admin, args: allTokens(buf, ntokens) };
      break;
    case 13:
      if (tokenIs(0, buf, 'refresh_certs')) return { op: Op.RefreshCerts, noreply: hasNoreply(buf, ntokens) };
      break;
    case 14:
      if (tokenIs(0, buf, 'cache_memlimit')) {
        return ntokens !== 3 && ntokens !== 4 ? ERROR_REQUEST : { op: Op.Admin, args: allTokens(buf, ntokens) };
      }
      break;
    default:
      break;
  }
  // Unknown command. memcached's dispatch answers ERROR for names starting with one of its
  // command letters; only other lines that look like an HTTP request line are closed.
  if (c0 === 0x67 || c0 === 0x73 || c0 === 0x61 || c0 === 0x63 || c0 === 0x69 || c0 === 0x64 || c0 === 0x74) {
    return ERROR_REQUEST;
  }
  const last = ntokens - 2;
  if (tokenLength(last) >= 5 && buf.toString('latin1', tokStart[last], tokStart[last] + 5) === 'HTTP/') return CLOSE_REQUEST;
  return ERROR_REQUEST;
}

function decodeGet(buf: Buffer, ntokens: number, withCas: boolean, touch: boolean): TextRequest {
  if (ntokens < 3) return ERROR_REQUEST;
  let exptime = 0;
  let first = 1;
  if (touch) {
    exptime = parseI32(buf, tokStart[1], tokEnd[1]);
    if (Number.isNaN(exptime)) return error(Reply.INVALID_EXPTIME, false);
    first = 2;
  }
  const keys: string[] = [];
  let badKey = false;
  // Lines of more than 23 tokens are read in chunks, as memcached re-tokenizes the rest.
  let n = ntokens - 1;
  for (;;) {
    for (let i = first; i < n; i++) {
      if (tokenLength(i) > KEY_MAX_LENGTH) {
        badKey = true;
        return { op: Op.Get, keys, withCas, touch, exptime, badKey };
      }
      keys.push(tokenString(buf, i));
    }
    if (tokens.rest === -1) break;
    const newline = buf.indexOf(0x0a, tokens.rest);
    n = tokenize(buf, tokens.rest, commandEnd(buf, tokens.rest, newline)) - 1;
    first = 0;
  }
  return { op: Op.Get, keys, withCas, touch, exptime, badKey };
}

function decodeStore(buf: Buffer, start: number, length: number, newline: number, ntokens: number, limits: TextLimits): TextRequest {
  const mode = storageMode(buf) as StoreMode;
  const noreply = hasNoreply(buf, ntokens);
  const h = readStorageHeader(buf, mode, ntokens, limits);
  if (h.error !== null) return error(h.error, h.error === Reply.ERROR ? false : noreply);
  const key = tokenString(buf, 1);
  if (h.tooLarge) {
    return { op: Op.Store, mode, key, flags: h.flags, exptime: h.exptime, data: EMPTY, cas: h.cas, noreply, tooLarge: true };
  }
  const dataStart = newline + 1;
  const dataEnd = start + length;
  if (buf[dataEnd - 2] !== 0x0d || buf[dataEnd - 1] !== 0x0a) {
    const failedSetSize = itemTotal(tokenLength(1), h.flags, h.dataLength, limits.casEnabled);
    return { op: Op.Error, reply: Reply.BAD_DATA_CHUNK, noreply, failedSetSize };
  }
  return {
    op: Op.Store,
    mode,
    key,
    flags: h.flags,
    exptime: h.exptime,
    data: buf.subarray(dataStart, dataEnd),
    cas: h.cas,
    noreply,
    tooLarge: false,
  };
}

const EMPTY = Buffer.alloc(0);

function decodeDelete(buf: Buffer, ntokens: number): TextRequest {
  if (ntokens < 3 || ntokens > 5) return ERROR_REQUEST;
  let noreply = false;
  if (ntokens > 3) {
    const holdIsZero = tokenIs(2, buf, '0');
    noreply = hasNoreply(buf, ntokens);
    const valid = (ntokens === 4 && (holdIsZero || noreply)) || (ntokens === 5 && holdIsZero && noreply);
    if (!valid) return error(Reply.DELETE_USAGE, noreply);
  }
  if (tokenLength(1) > KEY_MAX_LENGTH) return error(Reply.BAD_FORMAT, noreply);
  return { op: Op.Delete, key: tokenString(buf, 1), noreply };
}

function decodeArith(buf: Buffer, ntokens: number, incr: boolean): TextRequest {
  if (ntokens !== 4 && ntokens !== 5) return ERROR_REQUEST;
  const noreply = hasNoreply(buf, ntokens);
  if (tokenLength(1) > KEY_MAX_LENGTH) return error(Reply.BAD_FORMAT, noreply);
  const delta = parseU64(buf, tokStart[2], tokEnd[2]);
  if (delta === null) return error(Reply.INVALID_DELTA, noreply);
  return { op: Op.Arith, incr, key: tokenString(buf, 1), delta, noreply };
}

function decodeTouch(buf: Buffer, ntokens: number): TextRequest {
  if (ntokens !== 4 && ntokens !== 5) return ERROR_REQUEST;
  const noreply = hasNoreply(buf, ntokens);
  if (tokenLength(1) > KEY_MAX_LENGTH) return error(Reply.BAD_FORMAT, noreply);
  const exptime = parseI32(buf, tokStart[2], tokEnd[2]);
  if (Number.isNaN(exptime)) return error(Reply.INVALID_EXPTIME, noreply);
  return { op: Op.Touch, key: tokenString(buf, 1), exptime, noreply };
}

function decodeFlushAll(buf: Buffer, ntokens: number): TextRequest {
  if (ntokens < 2 || ntokens > 4) return ERROR_REQUEST;
  const noreply = hasNoreply(buf, ntokens);
  let delay = 0;
  if (ntokens !== (noreply ? 3 : 2)) {
    delay = parseI32(buf, tokStart[1], tokEnd[1]);
    if (Number.isNaN(delay)) return { op: Op.FlushAll, delay: NaN, noreply };
  }
  return { op: Op.FlushAll, delay, noreply };
}

function decodeVerbosity(buf: Buffer, ntokens: number): TextRequest {
  if (ntokens !== 3 && ntokens !== 4) return ERROR_REQUEST;
  const noreply = hasNoreply(buf, ntokens);
  const level = parseU32(buf, tokStart[1], tokEnd[1]);
  if (Number.isNaN(level)) return error(Reply.BAD_FORMAT, noreply);
  return { op: Op.Verbosity, level, noreply };
}

function decodeShutdown(buf: Buffer, ntokens: number): TextRequest {
  if (ntokens === 2) return { op: Op.Shutdown, graceful: false, invalid: false };
  if (ntokens === 3 && tokenIs(1, buf, 'graceful')) return { op: Op.Shutdown, graceful: true, invalid: false };
  return { op: Op.Shutdown, graceful: false, invalid: true };
}
