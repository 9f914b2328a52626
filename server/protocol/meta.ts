/*
 * memcached's meta protocol (mg ms md ma mn me): decoding, with the checks and error
 * strings of memcached 1.6.18's proto_text.c. Flags are single characters, some carrying a
 * token (`T30`, `O123`); they are kept in request order because replies echo them in that
 * order. The tokens of the line are already split by the text decoder.
 */

import { Reply } from './replies';
import { parseI32, parseU32, parseU64 } from '../memcached/numbers';
import { base64Decode } from './base64';
import { KEY_MAX_LENGTH, type TextLimits } from './limits';
import { itemTotal } from '../memcached/item';
import { tokEnd, tokStart, tokenLength } from './tokens';

/** Meta commands take at most this many tokens (memcached's MFLAG_MAX_OPT_LENGTH). */
export const META_MAX_TOKENS = 20;
/** `O` opaque tokens longer than this are refused. */
export const META_MAX_OPAQUE_LENGTH = 32;
const INT_MAX = 0x7fffffff;

export const enum MetaCommand {
  Get = 1,
  Set,
  Delete,
  Arith,
  Noop,
  Debug,
}

/** A meta request, flags parsed; `flags` keeps every flag token as written, in order. */
export interface MetaRequest {
  op: 'meta';
  command: MetaCommand;
  key: string;
  keyBinary: boolean;
  flags: string[];
  noReply: boolean;
  value: boolean;
  noUpdate: boolean;
  setStale: boolean;
  vivify: boolean;
  hasCas: boolean;
  cas: bigint;
  clientFlags: number;
  /** Raw exptimes as sent; `hasTtl` tells whether T was given. */
  hasTtl: boolean;
  ttl: number;
  vivifyTtl: number;
  recacheTtl: number;
  hasRecache: boolean;
  /** The M flag's mode character code, or 0. */
  mode: number;
  delta: bigint;
  initial: bigint;
  /** ms: the data block with its CR LF. */
  data: Buffer | null;
  /** ms: the item would exceed -I. */
  tooLarge: boolean;
}

/** A meta error: always replied, even with `q`. `swallowed` tells the data block was consumed. */
export interface MetaError {
  op: 'meta-error';
  reply: Buffer;
  /** ms only: an item too large must not leave an old value behind. */
  dropKey: string | null;
  /** ms with a malformed data block: memcached still counts a set of an item this size. */
  failedSetSize?: number;
}

export type MetaDecoded = MetaRequest | MetaError;

function fail(reply: Buffer, dropKey: string | null = null): MetaError {
  return { op: 'meta-error', reply, dropKey };
}

function failWith(reply: Buffer): MetaError {
  return { op: 'meta-error', reply, dropKey: null };
}

function newRequest(command: MetaCommand): MetaRequest {
  return {
    op: 'meta',
    command,
    key: '',
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
  };
}

/** The length of the data block an `ms` line announces, or -1 when it has none (an error). */
export function metaSetDataLength(buf: Buffer, ntokens: number): number {
  if (ntokens < 4 || tokenLength(1) > KEY_MAX_LENGTH || ntokens > META_MAX_TOKENS) return -1;
  const vlen = parseI32(buf, tokStart[2], tokEnd[2]);
  if (Number.isNaN(vlen) || vlen < 0 || vlen > INT_MAX - 2) return -1;
  return vlen + 2;
}

/**
 * _meta_flag_preparse: reads flags from token `first` on. Returns an error text, or null.
 * A repeated or unknown flag stops at once; other errors are remembered, the last one wins.
 */
function preparse(buf: Buffer, ntokens: number, first: number, req: MetaRequest): Buffer | null {
  const seen = new Uint8Array(128);
  let error: Buffer | null = null;
  let hasError = false;
  for (let i = first; i < ntokens - 1; i++) {
    const s = tokStart[i];
    const e = tokEnd[i];
    const o = buf[s];
    if (o >= 127 || seen[o] !== 0) return Reply.META_DUPLICATE_FLAG;
    seen[o] = 1;
    req.flags.push(buf.toString('latin1', s, e));
    switch (o) {
      case 0x62: {
        // b: the key is base64
        const decoded = base64Decode(buf, tokStart[1], tokEnd[1]);
        if (decoded === null) {
          error = Reply.META_BAD_KEY_ENCODING;
          hasError = true;
        } else {
          req.key = decoded.toString('latin1');
        }
        req.keyBinary = true;
        break;
      }
      case 0x4e: // N: vivify on miss, with this TTL
      case 0x54: // T: new TTL
      case 0x52: {
        // R: recache when the TTL is below this
        const ttl = parseI32(buf, s + 1, e);
        if (Number.isNaN(ttl)) {
          error = Reply.META_BAD_TOKEN;
          hasError = true;
        } else if (o === 0x4e) {
          req.vivify = true;
          req.vivifyTtl = ttl;
        } else if (o === 0x54) {
          req.hasTtl = true;
          req.ttl = ttl;
        } else {
          req.hasRecache = true;
          req.recacheTtl = ttl;
        }
        break;
      }
      case 0x6c: // l
      case 0x4f: // O
      case 0x50: // P
      case 0x4c: // L
      case 0x6b: // k
      case 0x73: // s
      case 0x74: // t
      case 0x63: // c
      case 0x66: // f
      case 0x68: // h
        break;
      case 0x76: // v
        req.value = true;
        break;
      case 0x75: // u
        req.noUpdate = true;
        break;
      case 0x71: // q
        req.noReply = true;
        break;
      case 0x46: {
        // F: client flags (an error here keeps the default message)
        const flags = parseU32(buf, s + 1, e);
        if (Number.isNaN(flags)) hasError = true;
        else req.clientFlags = flags;
        break;
      }
      case 0x43: {
        // C: compare CAS
        const cas = parseU64(buf, s + 1, e);
        if (cas === null) {
          error = Reply.META_BAD_TOKEN;
          hasError = true;
        } else {
          req.hasCas = true;
          req.cas = cas;
        }
        break;
      }
      case 0x4d: // M: mode
        if (e - s !== 2) {
          error = Reply.META_BAD_MODE_LENGTH;
          hasError = true;
        } else {
          req.mode = buf[s + 1];
        }
        break;
      case 0x4a: {
        // J: initial value
        const initial = parseU64(buf, s + 1, e);
        if (initial === null) {
          error = Reply.META_INVALID_INITIAL;
          hasError = true;
        } else {
          req.initial = initial;
        }
        break;
      }
      case 0x44: {
        // D: delta
        const delta = parseU64(buf, s + 1, e);
        if (delta === null) {
          error = Reply.META_INVALID_DELTA;
          hasError = true;
        } else {
          req.delta = delta;
        }
        break;
      }
      case 0x49: // I: invalidate / set stale
        req.setStale = true;
        break;
      default:
        return Reply.META_INVALID_FLAG;
    }
  }
  return hasError ? (error ?? Reply.BAD_FORMAT) : null;
}

/** Any O token longer than memcached allows. */
function opaqueTooLong(req: MetaRequest): boolean {
  for (const flag of req.flags) if (flag.charCodeAt(0) === 0x4f && flag.length > META_MAX_OPAQUE_LENGTH) return true;
  return false;
}

/**
 * Decodes a meta command whose line is tokenized (ntokens counts the terminal token).
 * `data` is the ms data block framed with the request (with CR LF), or null.
 */
export function decodeMeta(buf: Buffer, ntokens: number, data: Buffer | null, limits: TextLimits): MetaDecoded | 'error' {
  switch (buf[tokStart[0] + 1]) {
    case 0x67: // mg
      return decodeGet(buf, ntokens);
    case 0x73: // ms
      return decodeSet(buf, ntokens, data, limits);
    case 0x64: // md
      return decodeDeleteOrArith(buf, ntokens, MetaCommand.Delete);
    case 0x61: // ma
      return decodeDeleteOrArith(buf, ntokens, MetaCommand.Arith);
    case 0x6e: // mn
      return newRequest(MetaCommand.Noop);
    case 0x65: // me
      return decodeDebug(buf, ntokens);
    default:
      return 'error';
  }
}

function withKey(buf: Buffer, req: MetaRequest): MetaRequest {
  req.key = buf.toString('latin1', tokStart[1], tokEnd[1]);
  return req;
}

function decodeGet(buf: Buffer, ntokens: number): MetaDecoded | 'error' {
  if (ntokens < 3) return 'error';
  if (tokenLength(1) > KEY_MAX_LENGTH) return failWith(Reply.BAD_FORMAT);
  if (ntokens > META_MAX_TOKENS) return failWith(Reply.META_GET_FLAGS_TOO_LONG);
  const req = withKey(buf, newRequest(MetaCommand.Get));
  const error = preparse(buf, ntokens, 2, req);
  if (error !== null) return fail(error);
  return req;
}

function decodeSet(buf: Buffer, ntokens: number, data: Buffer | null, limits: TextLimits): MetaDecoded | 'error' {
  if (ntokens < 3) return 'error';
  if (tokenLength(1) > KEY_MAX_LENGTH || ntokens === 3) return failWith(Reply.BAD_FORMAT);
  if (ntokens > META_MAX_TOKENS) return failWith(Reply.META_FLAGS_TOO_LONG);
  if (metaSetDataLength(buf, ntokens) === -1) return failWith(Reply.BAD_FORMAT);
  // From here on the data block has been consumed with the request, whatever the outcome.
  const req = withKey(buf, newRequest(MetaCommand.Set));
  const error = preparse(buf, ntokens, 3, req);
  if (error !== null) return fail(error);
  const opaqueError = opaqueTooLong(req);
  switch (req.mode) {
    case 0:
    case 0x45: // E: add
    case 0x41: // A: append
    case 0x50: // P: prepend
    case 0x52: // R: replace
    case 0x53: // S: set
      break;
    default:
      return failWith(Reply.META_SET_INVALID_MODE);
  }
  if (opaqueError) return failWith(Reply.META_OPAQUE_TOO_LONG);
  const dataLength = metaSetDataLength(buf, ntokens);
  const casEnabled = limits.casEnabled;
  if (data === null || itemTotal(req.key.length, req.clientFlags, dataLength, casEnabled) > limits.itemSizeMax) {
    return fail(Reply.TOO_LARGE, req.key);
  }
  if (data[data.length - 2] !== 0x0d || data[data.length - 1] !== 0x0a) {
    const failedSetSize = itemTotal(req.key.length, req.clientFlags, dataLength, casEnabled);
    return { op: 'meta-error', reply: Reply.BAD_DATA_CHUNK, dropKey: null, failedSetSize };
  }
  req.data = data;
  return req;
}

function decodeDeleteOrArith(buf: Buffer, ntokens: number, command: MetaCommand): MetaDecoded | 'error' {
  if (ntokens < 3) return 'error';
  if (tokenLength(1) > KEY_MAX_LENGTH) return failWith(Reply.BAD_FORMAT);
  if (ntokens > META_MAX_TOKENS) return failWith(Reply.META_FLAGS_TOO_LONG);
  const req = withKey(buf, newRequest(command));
  if (preparse(buf, ntokens, 2, req) !== null) return failWith(Reply.META_INVALID_OR_DUPLICATE_FLAG);
  if (command === MetaCommand.Arith) {
    switch (req.mode) {
      case 0:
      case 0x49: // I
      case 0x2b: // +
      case 0x44: // D
      case 0x2d: // -
        break;
      default:
        return failWith(Reply.META_ARITH_INVALID_MODE);
    }
  }
  return req;
}

function decodeDebug(buf: Buffer, ntokens: number): MetaDecoded {
  if (ntokens < 3 || tokenLength(1) > KEY_MAX_LENGTH) return failWith(Reply.BAD_FORMAT);
  const req = withKey(buf, newRequest(MetaCommand.Debug));
  if (ntokens >= 4 && tokenLength(2) === 1 && buf[tokStart[2]] === 0x62) {
    const decoded = base64Decode(buf, tokStart[1], tokEnd[1]);
    if (decoded === null) return failWith(Reply.BAD_FORMAT);
    req.key = decoded.toString('latin1');
    req.keyBinary = true;
  }
  return req;
}
