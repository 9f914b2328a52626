/*
 * Framing memcached's binary protocol: what memcached makes of a header
 * (try_read_command_binary, dispatch_bin_command and the process_bin_* functions up to the
 * point where they read a value), and from that the bytes a request takes (frameBinary).
 */

import { FrameStatus, type Frame } from '../framing';
import { itemTotal } from '../memcached/item';
import {
  BinaryOp,
  type BinaryLimits,
  HEADER_LENGTH,
  MAX_SASL_MECH_LENGTH,
  Opcode,
  READ_BUFFER_SIZE,
  REQUEST_MAGIC,
  Status,
} from './binary';
import { KEY_MAX_LENGTH } from './limits';

export interface Extent {
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
export function classify(buf: Buffer, start: number, limits: BinaryLimits): Extent {
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
