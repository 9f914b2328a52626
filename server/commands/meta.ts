/*
 * Executes meta commands (mg ms md ma mn me) against the store, replying as memcached
 * 1.6.18 does: a status code, then the requested return flags in request order. `q` hides
 * only the nominal reply of each command (EN for mg, HD for ms/md/ma).
 */

import { Reply, replyLine } from '../protocol/replies';
import { MetaCommand, META_MAX_OPAQUE_LENGTH, type MetaError, type MetaRequest } from '../protocol/meta';
import { base64Encode } from '../protocol/base64';
import type { Item } from '../store/store';
import { ArithStatus, StoreResult } from '../store/types';
import { StoreMode } from '../memcached/item';
import type { ServerContext } from '../context';
import type { ReplyQueue } from '../connection/reply-queue';
import { itemValue } from '../records-policy';
import { slabClassOf } from '../stats';

const MN = replyLine('MN');

/** " k<key>", base64 and followed by " b" when the key is binary. */
function keyFlag(key: string, binary: boolean): string {
  return binary ? ` k${base64Encode(Buffer.from(key, 'latin1'))} b` : ` k${key}`;
}

/** Seconds left before expiry, as memcached prints it (uint32, -1 for never). */
function ttlLeft(item: Item, now: number): string {
  return item.exptime === 0 ? '-1' : String((item.exptime - now) >>> 0);
}

function opaqueTooLong(flag: string): boolean {
  return flag.length > META_MAX_OPAQUE_LENGTH;
}

/** The O and k flags a reply without an item echoes, or null when an opaque is too long. */
function opaqueAndKey(req: MetaRequest): string | null {
  let flags = '';
  for (const flag of req.flags) {
    const f = flag.charCodeAt(0);
    if (f === 0x4f) {
      if (opaqueTooLong(flag)) return null;
      flags += ' ' + flag;
    } else if (f === 0x6b) {
      flags += keyFlag(req.key, req.keyBinary);
    }
  }
  return flags;
}

export function executeMetaError(ctx: ServerContext, req: MetaError, replies: ReplyQueue): void {
  if (req.dropKey !== null) ctx.store.refuseTooLarge(StoreMode.Set, req.dropKey);
  if (req.failedSetSize !== undefined) ctx.store.countFailedSet(req.failedSetSize);
  replies.segments.push(req.reply);
}

export function executeMeta(ctx: ServerContext, req: MetaRequest, replies: ReplyQueue): void {
  switch (req.command) {
    case MetaCommand.Get:
      return metaGet(ctx, req, replies);
    case MetaCommand.Set:
      return metaSet(ctx, req, replies);
    case MetaCommand.Delete:
      return metaDelete(ctx, req, replies);
    case MetaCommand.Arith:
      return metaArith(ctx, req, replies);
    case MetaCommand.Noop:
      replies.segments.push(MN);
      return;
    case MetaCommand.Debug:
      return metaDebug(ctx, req, replies);
  }
}

function metaGet(ctx: ServerContext, req: MetaRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  const out = replies.segments;
  const now = store.clock.now();
  let item = store.peek(req.key);
  let created = false;
  if (item === null && req.vivify) {
    item = store.vivify(req.key, 0);
    created = item !== null;
  }
  if (item === null) {
    store.counters.get_misses++;
    store.counters.cmd_get++;
    const flags = opaqueAndKey(req);
    if (flags === null) return void out.push(Reply.META_OPAQUE_TOO_LONG);
    if (!req.noReply) out.push(replyLine('EN' + flags));
    return;
  }

  let line = req.value ? `VA ${item.valueLength}` : 'HD';
  let won = false;
  let ttlSet = false;
  for (const flag of req.flags) {
    switch (flag.charCodeAt(0)) {
      case 0x54: // T
        ttlSet = true;
        store.retime(item, req.ttl);
        break;
      case 0x4e: // N
        if (created) {
          store.retime(item, req.vivifyTtl);
          won = true;
        }
        break;
      case 0x52: // R
        if (!item.tokenSent && !created && item.exptime !== 0 && item.exptime < store.realtime(req.recacheTtl)) won = true;
        break;
      case 0x73: // s
        line += ` s${item.valueLength}`;
        break;
      case 0x74: // t
        line += ` t${ttlLeft(item, now)}`;
        break;
      case 0x63: // c
        line += ` c${item.cas}`;
        break;
      case 0x66: // f
        line += ` f${item.flags}`;
        break;
      case 0x6c: // l
        line += ` l${(now - item.time) >>> 0}`;
        break;
      case 0x68: // h
        line += item.fetched ? ' h1' : ' h0';
        break;
      case 0x4f: // O
        if (opaqueTooLong(flag)) return void out.push(Reply.META_OPAQUE_TOO_LONG);
        line += ' ' + flag;
        break;
      case 0x6b: // k
        line += keyFlag(item.key, item.keyBinary);
        break;
      default:
        break;
    }
  }
  if (item.tokenSent) line += ' Z';
  if (item.stale) {
    line += ' X';
    if (!item.tokenSent) won = true;
  }
  if (won) {
    line += ' W';
    store.sendToken(item);
  }
  out.push(replyLine(line));
  if (req.value) out.push(itemValue(ctx, item, replies));
  if (!req.noUpdate) store.bump(item);
  if (ttlSet) {
    store.counters.cmd_touch++;
    store.counters.touch_hits++;
    store.countClass(item.size, 'touch_hits');
  } else {
    store.counters.get_hits++;
    store.counters.cmd_get++;
    store.countClass(item.size, 'get_hits');
  }
}

const SET_MODES: Record<number, StoreMode> = {
  0: StoreMode.Set,
  0x45: StoreMode.Add,
  0x41: StoreMode.Append,
  0x50: StoreMode.Prepend,
  0x52: StoreMode.Replace,
  0x53: StoreMode.Set,
};

const SET_STATUS: Partial<Record<StoreResult, string>> = {
  [StoreResult.Stored]: 'HD',
  [StoreResult.Exists]: 'EX',
  [StoreResult.NotFound]: 'NF',
  [StoreResult.NotStored]: 'NS',
};

function metaSet(ctx: ServerContext, req: MetaRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  let mode = SET_MODES[req.mode];
  // A CAS turns set and replace into a compare-and-swap.
  if (req.hasCas && (mode === StoreMode.Set || mode === StoreMode.Replace)) mode = StoreMode.Cas;
  const result = store.store(
    mode,
    req.key,
    req.clientFlags,
    req.hasTtl ? req.ttl : 0,
    req.data as Buffer,
    req.hasCas ? req.cas : 0n,
    req.setStale && mode === StoreMode.Cas,
    req.keyBinary,
  );
  const status = SET_STATUS[result];
  if (status === undefined) {
    replies.segments.push(
      result === StoreResult.NoMemory
        ? Reply.OUT_OF_MEMORY_STORING
        : result === StoreResult.NoMemoryDuringRead
          ? Reply.OUT_OF_MEMORY_READING
          : Reply.TOO_LARGE,
    );
    return;
  }
  if (result === StoreResult.Stored && req.noReply) return;
  let line = status;
  for (const flag of req.flags) {
    switch (flag.charCodeAt(0)) {
      case 0x4f:
        line += ' ' + flag;
        break;
      case 0x6b:
        line += keyFlag(req.key, req.keyBinary);
        break;
      case 0x63:
        line += ` c${result === StoreResult.Stored ? store.lastStoredCas : 0}`;
        break;
      default:
        break;
    }
  }
  replies.segments.push(replyLine(line));
}

function metaDelete(ctx: ServerContext, req: MetaRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  const flags = opaqueAndKey(req);
  if (flags === null) return void replies.segments.push(Reply.META_OPAQUE_TOO_LONG);
  const item = store.peek(req.key);
  let status: string;
  if (item === null) {
    store.counters.delete_misses++;
    status = 'NF';
  } else if (req.hasCas && BigInt(item.cas) !== req.cas) {
    store.counters.delete_misses++;
    status = 'EX';
  } else {
    if (req.setStale) {
      store.markStale(item, req.hasTtl ? req.ttl : null);
    } else {
      // The item just found: memcached looks a key up once per md (watch fetchers shows it).
      store.deleteItem(item);
    }
    if (req.noReply) return;
    status = 'HD';
  }
  replies.segments.push(replyLine(status + flags));
}

function metaArith(ctx: ServerContext, req: MetaRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  const out = replies.segments;
  const incr = !(req.mode === 0x44 || req.mode === 0x2d);
  const result = store.arith(req.key, incr, req.delta, req.hasCas ? req.cas : 0n, !req.vivify);
  let item: Item | null = null;
  let value = '';
  let status = '';
  let created = false;
  let suppressed = false;
  switch (result.status) {
    case ArithStatus.Ok:
      item = result.item;
      value = result.value.toString();
      suppressed = req.noReply;
      break;
    case ArithStatus.NonNumeric:
      out.push(Reply.NON_NUMERIC);
      return;
    case ArithStatus.NoMemory:
      out.push(Reply.OUT_OF_MEMORY);
      return;
    case ArithStatus.CasMismatch:
      status = 'EX';
      break;
    case ArithStatus.NotFound:
      if (req.vivify) {
        value = req.initial.toString();
        const stored = store.createCounter(req.key, req.initial, 0);
        if (stored === StoreResult.Stored) {
          item = store.linkedItem(req.key);
          created = true;
        } else {
          status = 'NS';
        }
      } else {
        status = 'NF';
      }
      break;
  }
  const now = store.clock.now();
  let line: string;
  if (item !== null) {
    line = req.value ? `VA ${value.length}` : 'HD';
    for (const flag of req.flags) {
      switch (flag.charCodeAt(0)) {
        case 0x63:
          line += ` c${item.cas}`;
          break;
        case 0x74:
          line += ` t${ttlLeft(item, now)}`;
          break;
        case 0x54:
          if (!result.replaced) store.retime(item, req.ttl);
          break;
        case 0x4e:
          if (created) store.retime(item, req.vivifyTtl);
          break;
        case 0x4f:
          if (opaqueTooLong(flag)) return void out.push(Reply.META_OPAQUE_TOO_LONG);
          line += ' ' + flag;
          break;
        case 0x6b:
          line += keyFlag(req.key, req.keyBinary);
          break;
        default:
          break;
      }
    }
    if (req.value) line += '\r\n' + value;
  } else {
    const flags = opaqueAndKey(req);
    if (flags === null) return void out.push(Reply.META_OPAQUE_TOO_LONG);
    line = status + flags;
  }
  if (!suppressed) out.push(replyLine(line));
}

function metaDebug(ctx: ServerContext, req: MetaRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  ctx.counters.cmdMeta++;
  const item = store.peek(req.key);
  if (item === null) {
    replies.segments.push(replyLine('EN'));
    return;
  }
  const now = store.clock.now();
  const key = item.keyBinary ? base64Encode(Buffer.from(item.key, 'latin1')) : item.key;
  const exp = item.exptime === 0 ? -1 : (now - item.exptime) | 0;
  const cls = slabClassOf(ctx, item.size);
  replies.segments.push(
    replyLine(
      `ME ${key} exp=${exp} la=${now - item.time} cas=${item.cas} fetch=${item.fetched ? 'yes' : 'no'} cls=${cls} size=${item.size}`,
    ),
  );
}
