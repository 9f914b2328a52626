/*
 * memcached's binary protocol: framing, decoding and response encoding, pure functions over
 * (Buffer, offset).
 *
 * A request is a 24-byte header, extras, key and value. memcached (proto_bin.c) reads the
 * header, extras and key, decides from them alone what the request is, and only then reads a
 * value, for the commands that have one (set, add, replace, append, prepend, SASL auth and
 * step). frameBinary() makes the same decisions, so the bytes each request consumes are the
 * bytes memcached consumes: a value the item limit refuses is swallowed as it arrives rather
 * than buffered, a body longer than a command reads is left to be parsed as the next request,
 * and a header claiming lengths larger than memcached's read buffer closes the connection as
 * memcached does. decodeBinary() turns the framed bytes into a BinaryRequest.
 */

import { FrameStatus, type Frame } from '../framing';
import { KEY_MAX_LENGTH } from './limits';
import { StoreMode, itemTotal } from '../memcached/item';

export const REQUEST_MAGIC = 0x80;
export const RESPONSE_MAGIC = 0x81;
export const HEADER_LENGTH = 24;
/** memcached reads header, extras and key into a 16 KB buffer; a request whose do not fit closes the connection. */
export const READ_BUFFER_SIZE = 16384;
/** Longest SASL mechanism name (sasl_defs.h MAX_SASL_MECH_LEN). */
export const MAX_SASL_MECH_LENGTH = 32;

export const enum Opcode {
  Get = 0x00,
  Set = 0x01,
  Add = 0x02,
  Replace = 0x03,
  Delete = 0x04,
  Increment = 0x05,
  Decrement = 0x06,
  Quit = 0x07,
  Flush = 0x08,
  GetQ = 0x09,
  Noop = 0x0a,
  Version = 0x0b,
  GetK = 0x0c,
  GetKQ = 0x0d,
  Append = 0x0e,
  Prepend = 0x0f,
  Stat = 0x10,
  SetQ = 0x11,
  AddQ = 0x12,
  ReplaceQ = 0x13,
  DeleteQ = 0x14,
  IncrementQ = 0x15,
  DecrementQ = 0x16,
  QuitQ = 0x17,
  FlushQ = 0x18,
  AppendQ = 0x19,
  PrependQ = 0x1a,
  Touch = 0x1c,
  Gat = 0x1d,
  GatQ = 0x1e,
  SaslListMechs = 0x20,
  SaslAuth = 0x21,
  SaslStep = 0x22,
  GatK = 0x23,
  GatKQ = 0x24,
}

export const enum Status {
  Success = 0x00,
  KeyNotFound = 0x01,
  KeyExists = 0x02,
  TooLarge = 0x03,
  InvalidArguments = 0x04,
  NotStored = 0x05,
  NonNumeric = 0x06,
  AuthError = 0x20,
  AuthContinue = 0x21,
  UnknownCommand = 0x81,
  OutOfMemory = 0x82,
}

export interface BinaryLimits {
  itemSizeMax: number;
  casEnabled: boolean;
  /** Items larger than this are chunked, which a SASL exchange cannot use. */
  slabChunkMax: number;
  /** -S: SASL commands are served (otherwise they are unknown commands). */
  sasl: boolean;
}

// ---------------------------------------------------------------------------------------------
// What memcached makes of a header (try_read_command_binary, dispatch_bin_command and the
// process_bin_* functions up to the point where they read a value).

export const enum BinaryOp {
  /** The first byte is not 0x80: memcached closes at once, losing replies not yet written. */
  BadMagic = 1,
  /** Key and extras longer than the body: "Unknown command", then close. Checked before SASL. */
  Inconsistent,
  /** An error reply decided from the header: lengths wrong for the opcode, an unknown opcode, ... */
  Refused,
  Get,
  Store,
  /** A set/add/replace/append/prepend whose value the item limit refuses; the value is swallowed. */
  TooLarge,
  Delete,
  Arith,
  Flush,
  Noop,
  Version,
  Quit,
  Stat,
  SaslListMechs,
  SaslAuth,
}

interface Extent {
  op: BinaryOp;
  /** Value bytes read after the key (set, append, SASL data). */
  valueLength: number;
  /** Bytes after the request that memcached reads and discards. */
  swallow: number;
  /** Refused: its status, whether the connection then closes, and whether memcached writes it at once. */
  status: Status;
  close: boolean;
  flush: boolean;
}

/** The last classification; the hot path allocates nothing to frame a request. */
const extent: Extent = { op: BinaryOp.BadMagic, valueLength: 0, swallow: 0, status: Status.Success, close: false, flush: false };

function refuse(status: Status, close: boolean, swallow: number, flush: boolean): Extent {
  extent.op = BinaryOp.Refused;
  extent.status = status;
  extent.close = close;
  extent.swallow = swallow;
  extent.flush = flush;
  return extent;
}

function accept(op: BinaryOp, valueLength = 0): Extent {
  extent.op = op;
  extent.valueLength = valueLength;
  return extent;
}

/** memcached keeps these lengths in C ints: a uint32 above INT_MAX becomes negative. */
function toInt(n: number): number {
  return n | 0;
}

/** A swallow count as memcached passes it (an int; nothing is swallowed unless positive). */
function swallowOf(n: number): number {
  const v = toInt(n);
  return v > 0 ? v : 0;
}

/** The value of a storage command, or its refusal when the item limit cannot hold it (item_alloc). */
function storeExtent(nkey: number, flags: number, vlen: number, limits: BinaryLimits): Extent {
  const nbytes = toInt(vlen + 2);
  if (nbytes < 2 || itemTotal(nkey, flags, nbytes, limits.casEnabled) > limits.itemSizeMax) {
    extent.op = BinaryOp.TooLarge;
    extent.swallow = vlen > 0 ? vlen : 0;
    return extent;
  }
  return accept(BinaryOp.Store, vlen);
}

/** process_bin_sasl_auth: the data is read into an item, which must fit and not be chunked. */
function saslExtent(nkey: number, bodylen: number, limits: BinaryLimits): Extent {
  if (!limits.sasl) return refuse(Status.UnknownCommand, false, swallowOf(bodylen - nkey), toInt(bodylen - nkey) <= 0);
  const vlen = toInt(bodylen - nkey);
  const swallow = vlen > 0 ? vlen : 0;
  if (nkey > MAX_SASL_MECH_LENGTH) return refuse(Status.InvalidArguments, false, swallow, false);
  const nbytes = toInt(vlen + 2);
  const total = itemTotal(nkey, 0, nbytes, limits.casEnabled);
  if (nbytes < 2 || total > limits.itemSizeMax || total > limits.slabChunkMax) {
    return refuse(Status.OutOfMemory, false, swallow, false);
  }
  return accept(BinaryOp.SaslAuth, vlen);
}

/** Classifies the request at `start`, whose header, extras and key are all in `buf`. */
function classify(buf: Buffer, start: number, limits: BinaryLimits): Extent {
  extent.valueLength = 0;
  extent.swallow = 0;
  extent.close = false;
  extent.flush = false;
  if (buf[start] !== REQUEST_MAGIC) return accept(BinaryOp.BadMagic);
  const opcode = buf[start + 1];
  const keylen = buf.readUInt16BE(start + 2);
  const extlen = buf[start + 4];
  const bodylen = buf.readUInt32BE(start + 8);
  if (keylen > bodylen || keylen + extlen > bodylen) return accept(BinaryOp.Inconsistent);
  if (keylen > KEY_MAX_LENGTH) return refuse(Status.InvalidArguments, true, 0, true);
  // Shapes each opcode requires; any other is a protocol error that closes the connection.
  let valid: boolean;
  switch (opcode) {
    case Opcode.Version:
      valid = extlen === 0 && keylen === 0 && bodylen === 0;
      if (valid) return accept(BinaryOp.Version);
      break;
    case Opcode.Flush:
    case Opcode.FlushQ:
      valid = keylen === 0 && bodylen === extlen && (extlen === 0 || extlen === 4);
      if (valid) return accept(BinaryOp.Flush);
      break;
    case Opcode.Noop:
      valid = extlen === 0 && keylen === 0 && bodylen === 0;
      if (valid) return accept(BinaryOp.Noop);
      break;
    case Opcode.Set:
    case Opcode.SetQ:
    case Opcode.Add:
    case Opcode.AddQ:
    case Opcode.Replace:
    case Opcode.ReplaceQ:
      valid = extlen === 8 && keylen !== 0 && bodylen >= keylen + 8;
      if (valid) return storeExtent(keylen, buf.readUInt32BE(start + HEADER_LENGTH), toInt(bodylen - keylen - extlen), limits);
      break;
    case Opcode.Get:
    case Opcode.GetQ:
    case Opcode.GetK:
    case Opcode.GetKQ:
      valid = extlen === 0 && bodylen === keylen && keylen > 0;
      if (valid) return accept(BinaryOp.Get);
      break;
    case Opcode.Delete:
    case Opcode.DeleteQ:
      valid = keylen > 0 && extlen === 0 && bodylen === keylen;
      if (valid) return accept(BinaryOp.Delete);
      break;
    case Opcode.Increment:
    case Opcode.IncrementQ:
    case Opcode.Decrement:
    case Opcode.DecrementQ:
      valid = keylen > 0 && extlen === 20 && bodylen === keylen + extlen;
      if (valid) return accept(BinaryOp.Arith);
      break;
    case Opcode.Append:
    case Opcode.AppendQ:
    case Opcode.Prepend:
    case Opcode.PrependQ:
      valid = keylen > 0 && extlen === 0;
      if (valid) return storeExtent(keylen, 0, toInt(bodylen - keylen), limits);
      break;
    case Opcode.Stat:
      // Body bytes past the key are not read: they are parsed as the next request.
      valid = extlen === 0;
      if (valid) return accept(BinaryOp.Stat);
      break;
    case Opcode.Quit:
    case Opcode.QuitQ:
      valid = keylen === 0 && extlen === 0 && bodylen === 0;
      if (valid) return accept(BinaryOp.Quit);
      break;
    case Opcode.SaslListMechs:
      valid = extlen === 0 && keylen === 0 && bodylen === 0;
      if (valid) return limits.sasl ? accept(BinaryOp.SaslListMechs) : refuse(Status.UnknownCommand, false, 0, true);
      break;
    case Opcode.SaslAuth:
    case Opcode.SaslStep:
      valid = extlen === 0 && keylen !== 0;
      if (valid) return saslExtent(keylen, bodylen, limits);
      break;
    case Opcode.Touch:
    case Opcode.Gat:
    case Opcode.GatQ:
    case Opcode.GatK:
    case Opcode.GatKQ:
      valid = extlen === 4 && keylen !== 0;
      if (valid) return accept(BinaryOp.Get);
      break;
    default:
      // memcached swallows the whole body length, counted from after the key it has read.
      return refuse(Status.UnknownCommand, false, swallowOf(bodylen), toInt(bodylen) <= 0);
  }
  return refuse(Status.InvalidArguments, true, 0, true);
}

// ---------------------------------------------------------------------------------------------
// Framing.

/**
 * Finds the extent of the request starting at `start` in buf[start, end), with the same
 * contract as frameText: Whole with the bytes to hand to decodeBinary and any to swallow
 * after them, NeedMore with the length to wait for, or Close.
 */
export function frameBinary(buf: Buffer, start: number, end: number, limits: BinaryLimits, out: Frame): Frame {
  out.swallow = 0;
  out.needed = 0;
  out.length = 0;
  const available = end - start;
  if (available < HEADER_LENGTH) {
    out.status = FrameStatus.NeedMore;
    out.needed = HEADER_LENGTH;
    return out;
  }
  out.status = FrameStatus.Whole;
  if (buf[start] !== REQUEST_MAGIC) {
    out.length = HEADER_LENGTH;
    return out;
  }
  const head = HEADER_LENGTH + buf[start + 4] + buf.readUInt16BE(start + 2);
  if (available < head) {
    out.status = FrameStatus.NeedMore;
    if (head <= READ_BUFFER_SIZE) {
      out.needed = head;
    } else if (available > READ_BUFFER_SIZE) {
      // memcached's read buffer is full and the header's key and extras are still not in it.
      out.status = FrameStatus.Close;
    } else {
      out.needed = READ_BUFFER_SIZE + 1;
    }
    return out;
  }
  const e = classify(buf, start, limits);
  const total = head + e.valueLength;
  if (available < total) {
    out.status = FrameStatus.NeedMore;
    out.needed = total;
    return out;
  }
  out.length = total;
  out.swallow = e.swallow;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Decoding.

interface Header {
  /** The request's opcode, echoed in every response to it. */
  opcode: number;
  opaque: number;
  /** The header's CAS (0n: none). */
  cas: bigint;
}

export interface BadMagicRequest {
  op: BinaryOp.BadMagic;
}
export interface InconsistentRequest extends Header {
  op: BinaryOp.Inconsistent;
}
export interface RefusedRequest extends Header {
  op: BinaryOp.Refused;
  status: Status;
  /** The connection closes once the reply is written. */
  close: boolean;
  /** memcached writes the reply at once (it is not waiting to swallow a body). */
  flush: boolean;
}
export interface GetRequest extends Header {
  op: BinaryOp.Get;
  key: string;
  /** GETQ, GETKQ, GATQ, GATKQ: a miss is not answered. */
  quiet: boolean;
  /** GETK, GETKQ, GATK, GATKQ: the key is returned. */
  withKey: boolean;
  /** TOUCH and GAT*: set a new expiration. */
  touch: boolean;
  /** All but TOUCH return the value. */
  withValue: boolean;
  exptime: number;
}
export interface StoreRequest extends Header {
  op: BinaryOp.Store;
  mode: StoreMode;
  key: string;
  flags: number;
  exptime: number;
  /** The value, a view into the request buffer. */
  value: Buffer;
  quiet: boolean;
}
export interface TooLargeRequest extends Header {
  op: BinaryOp.TooLarge;
  mode: StoreMode;
  key: string;
}
export interface DeleteRequest extends Header {
  op: BinaryOp.Delete;
  key: string;
  quiet: boolean;
}
export interface ArithRequest extends Header {
  op: BinaryOp.Arith;
  incr: boolean;
  key: string;
  delta: bigint;
  initial: bigint;
  /** 0xffffffff: do not create a missing counter. */
  exptime: number;
  quiet: boolean;
}
export interface FlushRequest extends Header {
  op: BinaryOp.Flush;
  /** The delay extra, 0 when absent. */
  exptime: number;
  quiet: boolean;
}
export interface QuitRequest extends Header {
  op: BinaryOp.Quit;
  quiet: boolean;
}
export interface SimpleRequest extends Header {
  op: BinaryOp.Noop | BinaryOp.Version | BinaryOp.SaslListMechs;
}
export interface StatRequest extends Header {
  op: BinaryOp.Stat;
  /** The sub-stat ("" for the general stats). */
  key: string;
}
export interface SaslAuthRequest extends Header {
  op: BinaryOp.SaslAuth;
  /** SASL_STEP continues an exchange; SASL_AUTH starts one. */
  step: boolean;
  mechanism: string;
  data: Buffer;
}

export type BinaryRequest =
  | BadMagicRequest
  | InconsistentRequest
  | RefusedRequest
  | GetRequest
  | StoreRequest
  | TooLargeRequest
  | DeleteRequest
  | ArithRequest
  | FlushRequest
  | QuitRequest
  | SimpleRequest
  | StatRequest
  | SaslAuthRequest;

const BAD_MAGIC: BadMagicRequest = Object.freeze({ op: BinaryOp.BadMagic }) as BadMagicRequest;

function readCas(buf: Buffer, at: number): bigint {
  const high = buf.readUInt32BE(at);
  const low = buf.readUInt32BE(at + 4);
  return high === 0 && low === 0 ? 0n : (BigInt(high) << 32n) | BigInt(low);
}

function storeMode(opcode: number): StoreMode {
  switch (opcode) {
    case Opcode.Add:
    case Opcode.AddQ:
      return StoreMode.Add;
    case Opcode.Replace:
    case Opcode.ReplaceQ:
      return StoreMode.Replace;
    case Opcode.Append:
    case Opcode.AppendQ:
      return StoreMode.Append;
    case Opcode.Prepend:
    case Opcode.PrependQ:
      return StoreMode.Prepend;
    default:
      return StoreMode.Set;
  }
}

/** The quiet variants of memcached's dispatch table. */
function isQuiet(opcode: number): boolean {
  return (opcode >= Opcode.SetQ && opcode <= Opcode.PrependQ) || opcode === Opcode.GetQ || opcode === Opcode.GetKQ || opcode === Opcode.GatQ || opcode === Opcode.GatKQ;
}

/**
 * Decodes the request framed at buf[start, start + length).
 */
export function decodeBinary(buf: Buffer, start: number, length: number, limits: BinaryLimits): BinaryRequest {
  const e = classify(buf, start, limits);
  if (e.op === BinaryOp.BadMagic) return BAD_MAGIC;
  const opcode = buf[start + 1];
  const opaque = buf.readUInt32BE(start + 12);
  const cas = readCas(buf, start + 16);
  if (e.op === BinaryOp.Inconsistent) return { op: BinaryOp.Inconsistent, opcode, opaque, cas };
  if (e.op === BinaryOp.Refused) return { op: BinaryOp.Refused, opcode, opaque, cas, status: e.status, close: e.close, flush: e.flush };
  const extlen = buf[start + 4];
  const keyStart = start + HEADER_LENGTH + extlen;
  const keyEnd = keyStart + buf.readUInt16BE(start + 2);
  const key = buf.toString('latin1', keyStart, keyEnd);
  const extras = start + HEADER_LENGTH;
  switch (e.op) {
    case BinaryOp.Get: {
      const touch = opcode === Opcode.Touch || opcode === Opcode.Gat || opcode === Opcode.GatQ || opcode === Opcode.GatK || opcode === Opcode.GatKQ;
      return {
        op: BinaryOp.Get,
        opcode,
        opaque,
        cas,
        key,
        quiet: isQuiet(opcode),
        withKey: opcode === Opcode.GetK || opcode === Opcode.GetKQ || opcode === Opcode.GatK || opcode === Opcode.GatKQ,
        touch,
        withValue: opcode !== Opcode.Touch,
        exptime: touch ? buf.readUInt32BE(extras) : 0,
      };
    }
    case BinaryOp.Store: {
      const withExtras = extlen === 8;
      return {
        op: BinaryOp.Store,
        opcode,
        opaque,
        cas,
        mode: storeMode(opcode),
        key,
        flags: withExtras ? buf.readUInt32BE(extras) : 0,
        exptime: withExtras ? buf.readUInt32BE(extras + 4) : 0,
        value: buf.subarray(keyEnd, start + length),
        quiet: isQuiet(opcode),
      };
    }
    case BinaryOp.TooLarge:
      return { op: BinaryOp.TooLarge, opcode, opaque, cas, mode: storeMode(opcode), key };
    case BinaryOp.Delete:
      return { op: BinaryOp.Delete, opcode, opaque, cas, key, quiet: isQuiet(opcode) };
    case BinaryOp.Arith:
      return {
        op: BinaryOp.Arith,
        opcode,
        opaque,
        cas,
        incr: opcode === Opcode.Increment || opcode === Opcode.IncrementQ,
        key,
        delta: buf.readBigUInt64BE(extras),
        initial: buf.readBigUInt64BE(extras + 8),
        exptime: buf.readUInt32BE(extras + 16),
        quiet: isQuiet(opcode),
      };
    case BinaryOp.Flush:
      return { op: BinaryOp.Flush, opcode, opaque, cas, exptime: extlen === 4 ? buf.readUInt32BE(extras) : 0, quiet: opcode === Opcode.FlushQ };
    case BinaryOp.Quit:
      return { op: BinaryOp.Quit, opcode, opaque, cas, quiet: opcode === Opcode.QuitQ };
    case BinaryOp.Stat:
      return { op: BinaryOp.Stat, opcode, opaque, cas, key };
    case BinaryOp.SaslAuth:
      return {
        op: BinaryOp.SaslAuth,
        opcode,
        opaque,
        cas,
        step: opcode === Opcode.SaslStep,
        mechanism: key,
        data: buf.subarray(keyEnd, start + length),
      };
    default:
      return { op: e.op as SimpleRequest['op'], opcode, opaque, cas };
  }
}

// ---------------------------------------------------------------------------------------------
// Responses.

/** memcached's error bodies (write_bin_error), by status. */
export const ERROR_MESSAGES: { readonly [status: number]: Buffer } = {
  [Status.KeyNotFound]: Buffer.from('Not found'),
  [Status.KeyExists]: Buffer.from('Data exists for key.'),
  [Status.TooLarge]: Buffer.from('Too large.'),
  [Status.InvalidArguments]: Buffer.from('Invalid arguments'),
  [Status.NotStored]: Buffer.from('Not stored.'),
  [Status.NonNumeric]: Buffer.from('Non-numeric server-side value for incr or decr'),
  [Status.AuthError]: Buffer.from('Auth failure.'),
  [Status.UnknownCommand]: Buffer.from('Unknown command'),
  [Status.OutOfMemory]: Buffer.from('Out of memory'),
};

/** Writes a 24-byte response header at `at`. `cas` is a CAS id (a safe integer) or a bigint. */
export function writeHeader(
  out: Buffer,
  at: number,
  opcode: number,
  status: number,
  extlen: number,
  keylen: number,
  bodylen: number,
  opaque: number,
  cas: number | bigint,
): void {
  out[at] = RESPONSE_MAGIC;
  out[at + 1] = opcode;
  out.writeUInt16BE(keylen, at + 2);
  out[at + 4] = extlen;
  out[at + 5] = 0;
  out.writeUInt16BE(status, at + 6);
  out.writeUInt32BE(bodylen, at + 8);
  out.writeUInt32BE(opaque, at + 12);
  if (typeof cas === 'bigint') {
    out.writeBigUInt64BE(cas, at + 16);
  } else {
    out.writeUInt32BE(Math.floor(cas / 0x100000000), at + 16);
    out.writeUInt32BE(cas >>> 0, at + 20);
  }
}

/** A response with a body of `body` (or none). */
export function encodeResponse(opcode: number, status: number, opaque: number, cas: number | bigint, body: Buffer | null = null): Buffer {
  const bodylen = body === null ? 0 : body.length;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + bodylen);
  writeHeader(out, 0, opcode, status, 0, 0, bodylen, opaque, cas);
  if (body !== null) body.copy(out, HEADER_LENGTH);
  return out;
}

/** An error response with memcached's message for `status`, or `message`. */
export function encodeError(opcode: number, status: Status, opaque: number, message: Buffer = ERROR_MESSAGES[status]): Buffer {
  return encodeResponse(opcode, status, opaque, 0, message);
}

/**
 * The header, flags extra and key of a get/touch response; the value (valueLength bytes)
 * follows as its own segment.
 */
export function encodeValueHeader(opcode: number, opaque: number, cas: number, flags: number, key: string | null, valueLength: number): Buffer {
  const keylen = key === null ? 0 : key.length;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + 4 + keylen);
  writeHeader(out, 0, opcode, Status.Success, 4, keylen, 4 + keylen + valueLength, opaque, cas);
  out.writeUInt32BE(flags, HEADER_LENGTH);
  if (key !== null) out.write(key, HEADER_LENGTH + 4, 'latin1');
  return out;
}

/** A miss answered with the key (GETK, GATK): status "not found", the key as the body. */
export function encodeKeyMiss(opcode: number, opaque: number, key: string): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + key.length);
  writeHeader(out, 0, opcode, Status.KeyNotFound, 0, key.length, key.length, opaque, 0);
  out.write(key, HEADER_LENGTH, 'latin1');
  return out;
}

/** An incr/decr result: the new value as 8 bytes. */
export function encodeCounter(opcode: number, opaque: number, cas: number, value: bigint): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + 8);
  writeHeader(out, 0, opcode, Status.Success, 0, 0, 8, opaque, cas);
  out.writeBigUInt64BE(value, HEADER_LENGTH);
  return out;
}

/** One stat as memcached's append_bin_stats writes it; an empty name ends the list. */
export function encodeStat(opaque: number, name: string, value: string | Buffer): Buffer {
  const valueLength = typeof value === 'string' ? Buffer.byteLength(value, 'latin1') : value.length;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + name.length + valueLength);
  writeHeader(out, 0, Opcode.Stat, Status.Success, 0, name.length, name.length + valueLength, opaque, 0);
  out.write(name, HEADER_LENGTH, 'latin1');
  if (typeof value === 'string') out.write(value, HEADER_LENGTH + name.length, 'latin1');
  else value.copy(out, HEADER_LENGTH + name.length);
  return out;
}
