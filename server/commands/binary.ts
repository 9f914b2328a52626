/*
 * Executes decoded binary-protocol requests against the store and appends the responses as
 * segments (values as record slices), with memcached 1.6's statuses, error bodies, CAS
 * fields and counters (proto_bin.c).
 *
 * Ordering: responses go out in request order. memcached writes quiet commands' responses
 * only when they are errors and writes everything queued so far whenever it writes an error
 * or a NOOP; replies.sent tracks that point, because an invalid magic byte closes the
 * connection at once and what was not yet written is lost.
 */

import { takeServedCounters } from '../read-index';
import { BinaryOp, Opcode, Status, type BinaryLimits } from '../protocol/binary';
import type {
  ArithRequest,
  BinaryRequest,
  DeleteRequest,
  GetRequest,
  SaslAuthRequest,
  StatRequest,
  StoreRequest,
} from '../protocol/binary-decode';
import { encodeCounter, encodeError, encodeKeyMiss, encodeResponse, encodeStat, encodeValueHeader } from '../protocol/binary-reply';
import { StoreMode } from '../memcached/item';
import type { Item } from '../store/store';
import { ArithStatus, StoreResult } from '../store/types';
import type { Segment } from '../records/types';
import type { ServerContext } from '../context';
import { After, type ReplyQueue } from '../connection/reply-queue';
import { itemValue } from '../records-policy';
import type { BinarySession } from '../connection/client-state';
import { generalStatPairs, resetStats, settingsStatPairs, statGroup, type StatPairs } from '../stats';
import { SASL_MECHANISMS, checkPlain, isPlainMechanism } from '../sasl';
import { MEMCACHED_VERSION, type Config } from '../config';

/** The binary protocol's limits under these settings. */
export function binaryLimits(config: Config): BinaryLimits {
  return {
    itemSizeMax: config.itemSizeMax,
    casEnabled: !config.disableCas,
    slabChunkMax: config.slabChunkMax,
    sasl: config.sasl,
  };
}

const VERSION_BODY = Buffer.from(MEMCACHED_VERSION, 'latin1');
const MECHANISMS_BODY = Buffer.from(SASL_MECHANISMS, 'latin1');
const AUTHENTICATED_BODY = Buffer.from('Authenticated', 'latin1');
const OUT_OF_MEMORY_STORING = Buffer.from('Out of memory allocating item', 'latin1');
const OUT_OF_MEMORY_CREATING = Buffer.from('Out of memory allocating new item', 'latin1');
/** incr/decr with this expiration never create a missing counter. */
const NO_CREATE = 0xffffffff;

/** Appends an error response; `written` when memcached writes it at once. */
function pushError(replies: ReplyQueue, opcode: number, status: Status, opaque: number, written = true, message?: Buffer): void {
  replies.segments.push(encodeError(opcode, status, opaque, message));
  if (written) replies.sent = replies.segments.length;
}

/** The commands an unauthenticated connection may send under -S. */
function allowedUnauthenticated(opcode: number): boolean {
  return opcode === Opcode.SaslListMechs || opcode === Opcode.SaslAuth || opcode === Opcode.SaslStep || opcode === Opcode.Version;
}

export function executeBinary(ctx: ServerContext, req: BinaryRequest, replies: ReplyQueue, session: BinarySession): After {
  const out = replies.segments;
  if (req.op === BinaryOp.BadMagic) {
    out.length = replies.sent;
    return After.Close;
  }
  if (req.op === BinaryOp.Inconsistent) {
    pushError(replies, req.opcode, Status.UnknownCommand, req.opaque);
    return After.Close;
  }
  if (ctx.config.sasl && !session.authenticated && !allowedUnauthenticated(req.opcode)) {
    pushError(replies, req.opcode, Status.AuthError, req.opaque);
    return After.Close;
  }
  switch (req.op) {
    case BinaryOp.Refused:
      pushError(replies, req.opcode, req.status, req.opaque, req.flush);
      return req.close ? After.Close : After.Continue;
    case BinaryOp.Get:
      executeGet(ctx, req, replies);
      return After.Continue;
    case BinaryOp.Store:
      executeStore(ctx, req, replies);
      return After.Continue;
    case BinaryOp.TooLarge:
      if (ctx.prefixStats.enabled) ctx.prefixStats.recordSet(req.key);
      // A set must not leave the old value behind.
      if (req.mode === StoreMode.Set) ctx.store.delete(req.key, false);
      pushError(replies, req.opcode, Status.TooLarge, req.opaque, false);
      return After.Continue;
    case BinaryOp.Delete:
      executeDelete(ctx, req, replies);
      return After.Continue;
    case BinaryOp.Arith:
      executeArith(ctx, req, replies);
      return After.Continue;
    case BinaryOp.Flush:
      if (ctx.config.disableFlushAll) {
        pushError(replies, req.opcode, Status.AuthError, req.opaque);
        return After.Continue;
      }
      ctx.store.flushAll(req.exptime);
      if (!req.quiet) out.push(encodeResponse(req.opcode, Status.Success, req.opaque, 0));
      return After.Continue;
    case BinaryOp.Noop:
      out.push(encodeResponse(req.opcode, Status.Success, req.opaque, 0));
      // NOOP makes memcached write out everything so far.
      replies.sent = out.length;
      return After.Continue;
    case BinaryOp.Version:
      out.push(encodeResponse(req.opcode, Status.Success, req.opaque, 0, VERSION_BODY));
      return After.Continue;
    case BinaryOp.Quit:
      if (!req.quiet) out.push(encodeResponse(req.opcode, Status.Success, req.opaque, 0));
      return After.Close;
    case BinaryOp.Stat:
      executeStat(ctx, req, replies);
      return After.Continue;
    case BinaryOp.SaslListMechs:
      // Listing the mechanisms starts authentication afresh (memcached's init_sasl_conn).
      session.authenticated = false;
      out.push(encodeResponse(req.opcode, Status.Success, req.opaque, 0, MECHANISMS_BODY));
      return After.Continue;
    case BinaryOp.SaslAuth:
      executeSasl(ctx, req, replies, session);
      return After.Continue;
  }
}

function executeGet(ctx: ServerContext, req: GetRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  const item = req.touch ? store.getAndTouch(req.key, req.exptime) : store.get(req.key);
  if (ctx.prefixStats.enabled) ctx.prefixStats.recordGet(req.key, item !== null);
  const out = replies.segments;
  if (item !== null) {
    const valueLength = req.withValue ? item.valueLength : 0;
    out.push(encodeValueHeader(req.opcode, req.opaque, item.cas, item.flags, req.withKey ? req.key : null, valueLength));
    if (valueLength > 0) {
      // The item's data ends in CR LF, which the binary protocol does not send.
      const whole = itemValue(ctx, item, replies);
      out.push(Buffer.isBuffer(whole) ? whole.subarray(0, valueLength) : { record: whole.record, offset: 0, length: valueLength });
    }
    return;
  }
  if (req.quiet) return;
  if (req.withKey) out.push(encodeKeyMiss(req.opcode, req.opaque, req.key));
  else pushError(replies, req.opcode, Status.KeyNotFound, req.opaque);
}

function executeStore(ctx: ServerContext, req: StoreRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  if (ctx.prefixStats.enabled) ctx.prefixStats.recordSet(req.key);
  // A CAS in the header turns set, add and replace alike into a compare-and-swap. Under -C
  // memcached cannot record it on the new item, so it is not compared at all.
  const cas = store.casEnabled ? req.cas : 0n;
  const mode = cas !== 0n && req.mode !== StoreMode.Append && req.mode !== StoreMode.Prepend ? StoreMode.Cas : req.mode;
  // The store keeps values with the CR LF of the text protocol.
  const data = Buffer.allocUnsafe(req.value.length + 2);
  req.value.copy(data);
  data[data.length - 2] = 0x0d;
  data[data.length - 1] = 0x0a;
  const result = store.store(mode, req.key, req.flags, req.exptime, data, cas);
  switch (result) {
    case StoreResult.Stored:
      if (!req.quiet) replies.segments.push(encodeResponse(req.opcode, Status.Success, req.opaque, store.lastStoredCas));
      return;
    case StoreResult.Exists:
      return pushError(replies, req.opcode, Status.KeyExists, req.opaque);
    case StoreResult.NotFound:
      return pushError(replies, req.opcode, Status.KeyNotFound, req.opaque);
    case StoreResult.NoMemory:
    case StoreResult.NoMemoryDuringRead:
      if (mode === StoreMode.Set) store.delete(req.key, false);
      return pushError(replies, req.opcode, Status.OutOfMemory, req.opaque, false, OUT_OF_MEMORY_STORING);
    default:
      // Not stored: add found the key, replace did not, append/prepend had nothing to extend.
      if (mode === StoreMode.Add) return pushError(replies, req.opcode, Status.KeyExists, req.opaque);
      if (mode === StoreMode.Replace) return pushError(replies, req.opcode, Status.KeyNotFound, req.opaque);
      return pushError(replies, req.opcode, Status.NotStored, req.opaque);
  }
}

function executeDelete(ctx: ServerContext, req: DeleteRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  if (ctx.prefixStats.enabled) ctx.prefixStats.recordDelete(req.key);
  const item = store.peek(req.key);
  if (item !== null && req.cas !== 0n && BigInt(item.cas) !== req.cas) {
    pushError(replies, req.opcode, Status.KeyExists, req.opaque);
  } else if (store.delete(req.key)) {
    if (!req.quiet) replies.segments.push(encodeResponse(req.opcode, Status.Success, req.opaque, 0));
  } else {
    pushError(replies, req.opcode, Status.KeyNotFound, req.opaque);
  }
}

function executeArith(ctx: ServerContext, req: ArithRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  const out = replies.segments;
  // A miss is counted only when it is not answered by creating the counter.
  const result = store.arith(req.key, req.incr, req.delta, req.cas, false);
  switch (result.status) {
    case ArithStatus.Ok:
      if (!req.quiet) out.push(encodeCounter(req.opcode, req.opaque, (result.item as Item).cas, result.value));
      return;
    case ArithStatus.NonNumeric:
      return pushError(replies, req.opcode, Status.NonNumeric, req.opaque);
    case ArithStatus.CasMismatch:
      return pushError(replies, req.opcode, Status.KeyExists, req.opaque);
    case ArithStatus.NoMemory:
      return pushError(replies, req.opcode, Status.OutOfMemory, req.opaque, false, OUT_OF_MEMORY_STORING);
    case ArithStatus.NotFound:
      break;
  }
  if (req.exptime === NO_CREATE) {
    if (req.incr) store.counters.incr_misses++;
    else store.counters.decr_misses++;
    return pushError(replies, req.opcode, Status.KeyNotFound, req.opaque);
  }
  const stored = store.createCounter(req.key, req.initial, req.exptime);
  if (stored === StoreResult.Stored) {
    if (!req.quiet) out.push(encodeCounter(req.opcode, req.opaque, store.lastStoredCas, req.initial));
  } else if (stored === StoreResult.NoMemory || stored === StoreResult.NoMemoryDuringRead) {
    pushError(replies, req.opcode, Status.OutOfMemory, req.opaque, true, OUT_OF_MEMORY_CREATING);
  } else {
    pushError(replies, req.opcode, Status.NotStored, req.opaque);
  }
}

function pushStats(out: Segment[], opaque: number, pairs: StatPairs, end: boolean): void {
  const packets: Buffer[] = [];
  for (const [name, value] of pairs) packets.push(encodeStat(opaque, name, String(value)));
  if (end) packets.push(encodeStat(opaque, '', ''));
  out.push(Buffer.concat(packets));
}

/**
 * STAT: the key names the group. As in memcached, reset, settings and detail are matched by
 * prefix and the others exactly; an unknown group is "not found".
 */
function executeStat(ctx: ServerContext, req: StatRequest, replies: ReplyQueue): void {
  takeServedCounters(ctx);
  const out = replies.segments;
  const key = req.key;
  if (key.length === 0) return pushStats(out, req.opaque, generalStatPairs(ctx), true);
  if (key.startsWith('reset')) {
    resetStats(ctx);
    return pushStats(out, req.opaque, [], true);
  }
  if (key.startsWith('settings')) return pushStats(out, req.opaque, settingsStatPairs(ctx), true);
  if (key.startsWith('detail')) {
    const sub = key.slice(6);
    if (sub.startsWith(' dump')) {
      out.push(encodeStat(req.opaque, 'detailed', ctx.prefixStats.dump()));
      return pushStats(out, req.opaque, [], true);
    }
    if (sub.startsWith(' on') || sub.startsWith(' off')) {
      ctx.prefixStats.enabled = sub.startsWith(' on');
      return pushStats(out, req.opaque, [], true);
    }
    return pushError(replies, req.opcode, Status.KeyNotFound, req.opaque);
  }
  const group = statGroup(ctx, key);
  if (group === null) return pushError(replies, req.opcode, Status.KeyNotFound, req.opaque);
  pushStats(out, req.opaque, group.pairs, group.end);
}

/**
 * SASL_AUTH and SASL_STEP with the PLAIN mechanism, as memcached drives the SASL library:
 * every attempt first drops the connection's authentication; an AUTH without data asks for
 * it (AUTH_CONTINUE) and a STEP supplies it; once an exchange has succeeded, the library
 * refuses any further one on that connection.
 */
function executeSasl(ctx: ServerContext, req: SaslAuthRequest, replies: ReplyQueue, session: BinarySession): void {
  session.authenticated = false;
  let outcome: 'ok' | 'continue' | 'fail';
  if (!req.step) {
    if (session.saslCompleted || !isPlainMechanism(req.mechanism)) outcome = 'fail';
    else if (req.data.length === 0) outcome = 'continue';
    else outcome = checkPlain(req.data) ? 'ok' : 'fail';
    session.saslStarted = outcome !== 'fail';
  } else if (!session.saslStarted || session.saslCompleted || req.data.length === 0) {
    outcome = 'fail';
  } else {
    outcome = checkPlain(req.data) ? 'ok' : 'fail';
  }
  const counters = ctx.counters;
  switch (outcome) {
    case 'ok':
      session.saslCompleted = true;
      session.authenticated = true;
      counters.authCmds++;
      replies.segments.push(encodeResponse(req.opcode, Status.Success, req.opaque, 0, AUTHENTICATED_BODY));
      return;
    case 'continue':
      replies.segments.push(encodeResponse(req.opcode, Status.AuthContinue, req.opaque, 0));
      replies.sent = replies.segments.length;
      return;
    case 'fail':
      counters.authCmds++;
      counters.authErrors++;
      pushError(replies, req.opcode, Status.AuthError, req.opaque);
      return;
  }
}
