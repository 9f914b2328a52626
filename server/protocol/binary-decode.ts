/*
 * Decoding memcached's binary protocol: the request framed by frameBinary, as a BinaryRequest.
 */

import { StoreMode } from '../memcached/item';
import { BinaryOp, type BinaryLimits, HEADER_LENGTH, Opcode, type Status } from './binary';
import { classify } from './binary-frame';

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
  return (
    (opcode >= Opcode.SetQ && opcode <= Opcode.PrependQ) ||
    opcode === Opcode.GetQ ||
    opcode === Opcode.GetKQ ||
    opcode === Opcode.GatQ ||
    opcode === Opcode.GatKQ
  );
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
      const touch =
        opcode === Opcode.Touch || opcode === Opcode.Gat || opcode === Opcode.GatQ || opcode === Opcode.GatK || opcode === Opcode.GatKQ;
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
      return {
        op: BinaryOp.Flush,
        opcode,
        opaque,
        cas,
        exptime: extlen === 4 ? buf.readUInt32BE(extras) : 0,
        quiet: opcode === Opcode.FlushQ,
      };
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
