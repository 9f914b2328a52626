/*
 * Executes decoded text-protocol requests against the store and appends the replies as
 * segments: reply bytes, and record slices for values, so values are never copied into a
 * response.
 */

import { Reply, replyLine } from '../protocol/replies';
import { StoreMode } from '../memcached/item';
import { Op, type GetRequest, type StoreRequest, type TextRequest } from '../protocol/text';
import type { Item } from '../store/store';
import { ArithStatus, StoreResult } from '../store/types';
import { After, type ReplyQueue } from '../connection/reply-queue';
import { itemValue } from '../records-policy';
import type { ServerContext } from '../context';
import { statsReply } from '../stats';
import { MEMCACHED_VERSION } from '../config';
import { executeMeta, executeMetaError } from './meta';
import { MetaCommand } from '../protocol/meta';
import { executeLruCrawler, executeWatch } from './admin';

const VERSION_REPLY = replyLine(`VERSION ${MEMCACHED_VERSION}`);

/** "VALUE <key> <flags> <bytes>[ <cas>]\r\n" */
function valueHeader(item: Item, withCas: boolean): Buffer {
  const text = withCas
    ? `VALUE ${item.key} ${item.flags} ${item.valueLength} ${item.cas}\r\n`
    : `VALUE ${item.key} ${item.flags} ${item.valueLength}\r\n`;
  return Buffer.from(text, 'latin1');
}

export function executeText(ctx: ServerContext, req: TextRequest, replies: ReplyQueue): After {
  const out = replies.segments;
  switch (req.op) {
    case Op.Get:
      executeGet(ctx, req, replies);
      return After.Continue;
    case Op.Store:
      executeStore(ctx, req, replies);
      return After.Continue;
    case Op.Delete: {
      if (ctx.prefixStats.enabled) ctx.prefixStats.recordDelete(req.key);
      const deleted = ctx.store.delete(req.key);
      answer(replies, req.noreply, deleted ? Reply.DELETED : Reply.NOT_FOUND);
      return After.Continue;
    }
    case Op.Arith: {
      const result = ctx.store.arith(req.key, req.incr, req.delta);
      if (req.noreply && replies.unsaid === null) return After.Continue;
      let reply: Buffer;
      if (result.status === ArithStatus.Ok) reply = replyLine(result.value.toString());
      else if (result.status === ArithStatus.NotFound) reply = Reply.NOT_FOUND;
      else if (result.status === ArithStatus.NoMemory) reply = Reply.OUT_OF_MEMORY;
      else reply = Reply.NON_NUMERIC;
      answer(replies, req.noreply, reply);
      return After.Continue;
    }
    case Op.Touch: {
      const item = ctx.store.touch(req.key, req.exptime);
      answer(replies, req.noreply, item !== null ? Reply.TOUCHED : Reply.NOT_FOUND);
      return After.Continue;
    }
    case Op.FlushAll: {
      let reply: Buffer = Reply.OK;
      if (ctx.config.disableFlushAll) {
        ctx.store.counters.cmd_flush++;
        reply = Reply.FLUSH_NOT_ALLOWED;
      } else if (Number.isNaN(req.delay)) {
        ctx.store.counters.cmd_flush++;
        reply = Reply.INVALID_EXPTIME;
      } else {
        ctx.store.flushAll(req.delay);
      }
      answer(replies, req.noreply, reply);
      return After.Continue;
    }
    case Op.Version:
      out.push(VERSION_REPLY);
      return After.Continue;
    case Op.Verbosity:
      ctx.settings.verbosity = Math.min(req.level, 2);
      ctx.log.setVerbosity(ctx.settings.verbosity);
      answer(replies, req.noreply, Reply.OK);
      return After.Continue;
    case Op.Quit:
      return After.Close;
    case Op.Close:
      // memcached closes at once: replies it has not yet written out are lost.
      out.length = replies.sent;
      return After.Close;
    case Op.Shutdown:
      if (!ctx.config.enableShutdown) {
        out.push(Reply.SHUTDOWN_NOT_ENABLED);
        return After.Continue;
      }
      if (req.invalid) {
        out.push(Reply.INVALID_SHUTDOWN_MODE);
        return After.Continue;
      }
      return After.Shutdown;
    case Op.Stats:
      out.push(...statsReply(ctx, req.args));
      return After.Continue;
    case Op.Error:
      if (req.failedSetSize !== undefined) ctx.store.countFailedSet(req.failedSetSize);
      answer(replies, req.noreply, req.reply);
      return After.Continue;
    case Op.RefreshCerts: {
      // memcached answers OK (unless noreply) or its error line (even with noreply).
      const error = ctx.tls === null ? 'Error TLS not enabled' : ctx.tls.refresh();
      if (error !== null) out.push(Buffer.from(`${error}\r\n`, 'latin1'));
      else if (!req.noreply) out.push(Reply.OK);
      return After.Continue;
    }
    case Op.Admin:
      if (req.args[0] === 'watch') return executeWatch(ctx, req.args, replies);
      if (req.args[0] === 'lru_crawler') return executeLruCrawler(ctx, req.args, replies);
      // Slab and LRU administration have no equivalent in this store.
      out.push(Reply.ERROR);
      return After.Continue;
    case 'meta':
      executeMeta(ctx, req, replies);
      // mn asks memcached to write out everything so far.
      if (req.command === MetaCommand.Noop) replies.sent = out.length;
      return After.Continue;
    case 'meta-error':
      executeMetaError(ctx, req, replies);
      return After.Continue;
  }
}

function executeGet(ctx: ServerContext, req: GetRequest, replies: ReplyQueue): void {
  const store = ctx.store;
  const out = replies.segments;
  const prefixStats = ctx.prefixStats.enabled ? ctx.prefixStats : null;
  const ends = replies.responseEnds;
  const keys = req.keys;
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const item = req.touch ? store.getAndTouch(key, req.exptime) : store.get(key);
    if (prefixStats !== null) prefixStats.recordGet(key, item !== null);
    if (item !== null) out.push(valueHeader(item, req.withCas), itemValue(ctx, item, replies));
    // memcached starts a response object for every key after the first; END joins the last.
    if (ends !== null && i < keys.length - 1) ends.push(out.length);
  }
  if (req.badKey) {
    // memcached drops every reply not yet written, this get's values included.
    out.length = replies.sent;
    if (ends !== null) ends.length = 0;
    out.push(Reply.BAD_FORMAT);
    return;
  }
  out.push(Reply.END);
  replies.sent = out.length;
}

const STORE_REPLIES: Record<StoreResult, Buffer> = {
  [StoreResult.Stored]: Reply.STORED,
  [StoreResult.NotStored]: Reply.NOT_STORED,
  [StoreResult.Exists]: Reply.EXISTS,
  [StoreResult.NotFound]: Reply.NOT_FOUND,
  [StoreResult.TooLarge]: Reply.TOO_LARGE,
  [StoreResult.NoMemory]: Reply.OUT_OF_MEMORY_STORING,
  [StoreResult.NoMemoryDuringRead]: Reply.OUT_OF_MEMORY_READING,
};

function executeStore(ctx: ServerContext, req: StoreRequest, replies: ReplyQueue): void {
  if (ctx.prefixStats.enabled) ctx.prefixStats.recordSet(req.key);
  const result = req.tooLarge
    ? ctx.store.refuseTooLarge(req.mode, req.key)
    : ctx.store.store(req.mode, req.key, req.flags, req.exptime, req.data, req.mode === StoreMode.Cas ? req.cas : 0n);
  answer(replies, req.noreply, STORE_REPLIES[result]);
}

/** A reply, unless noreply keeps it from the client (then -vv still prints it). */
function answer(replies: ReplyQueue, noreply: boolean, reply: Buffer): void {
  if (!noreply) replies.segments.push(reply);
  else if (replies.unsaid !== null) replies.unsaid.push(reply);
}
