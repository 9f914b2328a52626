/*
 * The arguments of memcached's `lru_crawler` and `watch` commands (proto_text.c
 * process_lru_crawler_command, process_watch_command; crawler.c lru_crawler_crawl), decoded
 * with the checks memcached makes and the replies it gives. Pure: tokens in, requests out.
 */

import { Reply } from './replies';
import { parseU32 } from '../memcached/numbers';

/** memcached's MAX_NUMBER_OF_SLAB_CLASSES: crawlable class ids are 1 to 63. */
const CRAWLER_CLASS_LIMIT = 64;
/** `lru_crawler sleep` takes microseconds up to one second. */
const CRAWLER_SLEEP_MAX = 1_000_000;

/** Which items a crawl or metadump visits. */
export type CrawlTarget = { kind: 'all' } | { kind: 'hash' } | { kind: 'classes'; ids: number[] };

export type LruCrawlerRequest =
  | { kind: 'crawl'; target: string }
  | { kind: 'metadump'; target: string }
  | { kind: 'tocrawl'; value: number }
  | { kind: 'sleep'; value: number }
  | { kind: 'enable' }
  | { kind: 'disable' }
  | { kind: 'reply'; reply: Buffer };

function u32(text: string): number {
  return parseU32(Buffer.from(text, 'latin1'), 0, text.length);
}

/** `lru_crawler ...`: args are every token, the command name first. */
export function decodeLruCrawler(args: readonly string[]): LruCrawlerRequest {
  const sub = args[1];
  if (args.length === 3) {
    switch (sub) {
      case 'crawl':
        return { kind: 'crawl', target: args[2] };
      case 'metadump':
        return { kind: 'metadump', target: args[2] };
      case 'tocrawl': {
        const value = u32(args[2]);
        return Number.isNaN(value) ? { kind: 'reply', reply: Reply.BAD_FORMAT } : { kind: 'tocrawl', value };
      }
      case 'sleep': {
        const value = u32(args[2]);
        if (Number.isNaN(value)) return { kind: 'reply', reply: Reply.BAD_FORMAT };
        if (value > CRAWLER_SLEEP_MAX) return { kind: 'reply', reply: Reply.CRAWLER_SLEEP_TOO_LONG };
        return { kind: 'sleep', value };
      }
      default:
        return { kind: 'reply', reply: Reply.ERROR };
    }
  }
  if (args.length === 2) {
    if (sub === 'enable') return { kind: 'enable' };
    if (sub === 'disable') return { kind: 'disable' };
  }
  return { kind: 'reply', reply: Reply.ERROR };
}

/**
 * A crawl's class list: `all`, `hash` (metadump only), or ids separated by commas (empty
 * parts skipped, as strtok skips them); null for a bad id (BADCLASS).
 */
export function decodeCrawlTarget(text: string): CrawlTarget | null {
  if (text === 'all') return { kind: 'all' };
  if (text === 'hash') return { kind: 'hash' };
  const ids: number[] = [];
  for (const part of text.split(',')) {
    if (part === '') continue;
    const id = u32(part);
    if (Number.isNaN(id) || id < 1 || id >= CRAWLER_CLASS_LIMIT) return null;
    ids.push(id);
  }
  return { kind: 'classes', ids };
}

/** What a watcher receives (logger.h LOG_* flags). */
export const enum WatchFlag {
  RawCommands = 1,
  Evictions = 2,
  Fetchers = 4,
  Mutations = 8,
  SysEvents = 16,
  ConnEvents = 32,
  ProxyRequests = 64,
  ProxyEvents = 128,
  ProxyUser = 256,
}

const WATCH_NAMES: Record<string, WatchFlag> = {
  rawcmds: WatchFlag.RawCommands,
  evictions: WatchFlag.Evictions,
  fetchers: WatchFlag.Fetchers,
  mutations: WatchFlag.Mutations,
  sysevents: WatchFlag.SysEvents,
  connevents: WatchFlag.ConnEvents,
  proxyreqs: WatchFlag.ProxyRequests,
  proxyevents: WatchFlag.ProxyEvents,
  proxyuser: WatchFlag.ProxyUser,
};

export type WatchRequest = { kind: 'watch'; flags: number } | { kind: 'reply'; reply: Buffer; noreply: boolean };

/**
 * `watch [kinds...]`: no kind means fetchers. A trailing `noreply` is noted first, as
 * memcached's set_noreply_maybe does, and then fails as an unknown kind: an ERROR nobody sees.
 */
export function decodeWatch(args: readonly string[]): WatchRequest {
  const noreply = args.length > 1 && args[args.length - 1] === 'noreply';
  if (args.length === 1) return { kind: 'watch', flags: WatchFlag.Fetchers };
  let flags = 0;
  for (let i = 1; i < args.length; i++) {
    const flag = Object.hasOwn(WATCH_NAMES, args[i]) ? WATCH_NAMES[args[i]] : undefined;
    if (flag === undefined) return { kind: 'reply', reply: Reply.ERROR, noreply };
    flags |= flag;
  }
  return { kind: 'watch', flags };
}
