/*
 * memcached's operator commands `lru_crawler` and `watch` (proto_text.c
 * process_lru_crawler_command, process_watch_command; crawler.c): the crawler reclaims expired
 * items and dumps every item's metadata (what `memcached-tool dump` reads); a watcher
 * connection turns into a stream of log lines (server/event-log.ts).
 */

import { Reply } from '../protocol/replies';
import { type CrawlTarget, decodeCrawlTarget, decodeLruCrawler, decodeWatch } from '../protocol/admin';
import { metadumpLine } from '../protocol/log-lines';
import { After, type ReplyQueue } from '../connection/reply-queue';
import { WATCHING } from '../connection/client-state';
import type { ServerContext } from '../context';
import type { Item } from '../store/store';
import { murmur3 } from '../stats-prefix';

/** A metadump is sent in pieces of about this many bytes. */
const DUMP_PIECE_BYTES = 64 * 1024;

export function executeLruCrawler(ctx: ServerContext, args: readonly string[], replies: ReplyQueue): After {
  const out = replies.segments;
  const req = decodeLruCrawler(args);
  const settings = ctx.settings;
  switch (req.kind) {
    case 'reply':
      out.push(req.reply);
      break;
    case 'enable':
      // memcached fails to start a crawler thread that is already running.
      out.push(settings.lruCrawler ? Reply.CRAWLER_START_FAILED : Reply.OK);
      settings.lruCrawler = true;
      break;
    case 'disable':
      settings.lruCrawler = false;
      out.push(Reply.OK);
      break;
    case 'sleep':
      settings.lruCrawlerSleep = req.value;
      out.push(Reply.OK);
      break;
    case 'tocrawl':
      settings.lruCrawlerToCrawl = req.value;
      out.push(Reply.OK);
      break;
    case 'crawl': {
      if (!settings.lruCrawler) {
        out.push(Reply.CRAWLER_DISABLED);
        break;
      }
      const target = decodeCrawlTarget(req.target);
      if (target === null) out.push(Reply.CRAWLER_BAD_CLASS);
      // Only a metadump walks the hash table; memcached's crawl says so this way.
      else if (target.kind === 'hash') out.push(Reply.CRAWLER_UNKNOWN_ERROR);
      else if (target.kind === 'classes' && target.ids.length === 0) out.push(Reply.CRAWLER_NOT_STARTED);
      else {
        // memcached's crawler runs in the background and answers at once; this one is done now.
        for (const id of classesOf(ctx, target)) ctx.store.crawl(id);
        out.push(Reply.OK);
      }
      break;
    }
    case 'metadump': {
      if (!settings.lruCrawler) out.push(Reply.CRAWLER_DISABLED);
      else if (ctx.config.disableDumping) out.push(Reply.METADUMP_NOT_ALLOWED);
      else if (replies.earlier > 0) out.push(Reply.METADUMP_AFTER_PIPELINE);
      else {
        const target = decodeCrawlTarget(req.target);
        if (target === null) out.push(Reply.CRAWLER_BAD_CLASS);
        else if (target.kind === 'classes' && target.ids.length === 0) out.push(Reply.CRAWLER_NOT_STARTED);
        else metadump(ctx, target, out as Buffer[]);
      }
      break;
    }
  }
  return After.Continue;
}

function classesOf(ctx: ServerContext, target: CrawlTarget): number[] {
  if (target.kind === 'classes') return [...new Set(target.ids)];
  return Array.from({ length: ctx.store.slabs.sizes.length }, (_, i) => i + 1);
}

/**
 * The items a metadump lists, in memcached's order: by LRU, the crawler taking one item of
 * each class in turn, oldest first; for `hash`, by hash bucket, newest first in a bucket.
 * Expired and flushed items are left out.
 */
function dumpOrder(ctx: ServerContext, target: CrawlTarget): Item[] {
  const store = ctx.store;
  const now = store.clock.now();
  if (target.kind === 'hash') {
    const mask = 2 ** store.hashPower - 1;
    const listed: { item: Item; bucket: number }[] = [];
    for (const item of store.items()) if (store.crawlerSees(item, now)) listed.push({ item, bucket: (murmur3(item.key) & mask) >>> 0 });
    listed.sort((a, b) => a.bucket - b.bucket || b.item.cas - a.item.cas || b.item.time - a.item.time);
    return listed.map((entry) => entry.item);
  }
  const walks = classesOf(ctx, target).map((id) => store.lruItems(id));
  const listed: Item[] = [];
  while (walks.length > 0) {
    for (let i = 0; i < walks.length; ) {
      const next = walks[i].next();
      if (next.done === true) {
        walks.splice(i, 1);
        continue;
      }
      if (store.crawlerSees(next.value, now)) listed.push(next.value);
      i++;
    }
  }
  return listed;
}

function metadump(ctx: ServerContext, target: CrawlTarget, out: Buffer[]): void {
  const started = ctx.store.clock.processStarted;
  let text = '';
  for (const item of dumpOrder(ctx, target)) {
    text += metadumpLine({
      key: item.key,
      exp: item.exptime === 0 ? -1 : item.exptime + started,
      lastAccess: item.time + started,
      cas: item.cas,
      fetched: item.fetched,
      classId: item.lruClass,
      size: item.size,
    });
    if (text.length >= DUMP_PIECE_BYTES) {
      out.push(Buffer.from(text, 'latin1'));
      text = '';
    }
  }
  out.push(Buffer.from(text + 'END\r\n', 'latin1'));
}

export function executeWatch(ctx: ServerContext, args: readonly string[], replies: ReplyQueue): After {
  const out = replies.segments;
  // memcached notes noreply before anything else, so even its refusals go unsaid.
  const noreply = args.length > 1 && args[args.length - 1] === 'noreply';
  const refuse = (reply: Buffer): After => {
    if (!noreply) out.push(reply);
    return After.Continue;
  };
  if (ctx.config.disableWatch) return refuse(Reply.WATCH_NOT_ALLOWED);
  if (replies.earlier > 0) return refuse(Reply.WATCH_AFTER_PIPELINE);
  const req = decodeWatch(args);
  if (req.kind === 'reply') return refuse(req.reply);
  const conn = ctx.log.current;
  // UDP has no connection to stream to.
  if (conn === null) return refuse(Reply.ERROR);
  if (!ctx.log.add(conn, req.flags)) return refuse(Reply.WATCHER_TOO_MANY);
  conn.state = WATCHING;
  out.push(Reply.OK);
  return After.Detach;
}
