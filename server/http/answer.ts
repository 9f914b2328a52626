/*
 * What an HTTP request gets from the store: GET and HEAD as memcached's `get` (counted and
 * bumped as `get` does), PUT as `set` (or `cas`, `add`, `replace` under If-Match and
 * If-None-Match), DELETE as `delete`. Each answer is a status, headers and a body, written
 * out by the listener (listener.ts); nothing here touches a socket.
 */

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import type { ServerContext } from '../context';
import type { Item } from '../store/store';
import { StoreMode } from '../memcached/item';
import { StoreResult } from '../store/types';
import { RecordcacheError } from '../errors';
import type { HttpCounters } from './counters';
import { EXPTIME_HEADER, FLAGS_HEADER, FLAGS_REPLY_HEADER, type HttpReply, HttpReplies } from './replies';
import { RangeKind, byteRange } from './range';

export interface HttpRequestHead {
  method?: string;
  headers: IncomingHttpHeaders;
}

export interface HttpAnswer {
  status: number;
  headers: OutgoingHttpHeaders;
  /** null: none (HEAD, 204, 304). */
  body: Buffer | null;
}

/** A header recordcache reads that does not parse: the request is answered with `reply`. */
export class BadHttpHeaderError extends RecordcacheError {
  constructor(readonly reply: HttpReply) {
    super('RC_HTTP_BAD_HEADER', reply.body.trim());
  }
}

const TEXT_BODIES = new Map<HttpReply, Buffer>();

/** One of the replies table's, with its text body (none for HEAD). */
export function replyAnswer(reply: HttpReply, headOnly = false, extra: OutgoingHttpHeaders = {}): HttpAnswer {
  let body = TEXT_BODIES.get(reply);
  if (body === undefined) {
    body = Buffer.from(reply.body, 'utf8');
    TEXT_BODIES.set(reply, body);
  }
  return {
    status: reply.status,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...extra },
    body: headOnly ? null : body,
  };
}

/** The entity tag of an item: its CAS, quoted; none with -C. */
function entityTag(ctx: ServerContext, item: Item): string | null {
  return ctx.store.casEnabled ? `"${item.cas}"` : null;
}

/** Whether an If-Match / If-None-Match list names the tag; `weak` lets W/"x" match "x" (If-None-Match). */
function tagListMatches(list: string, tag: string | null, weak: boolean): boolean {
  if (list.trim() === '*') return true;
  if (tag === null) return false;
  for (const entry of list.split(',')) {
    let candidate = entry.trim();
    if (candidate.startsWith('W/')) {
      if (!weak) continue;
      candidate = candidate.slice(2);
    }
    if (candidate === tag) return true;
  }
  return false;
}

/*
 * A value that lives in a native record is read out of it as a copy (engine.readRecord);
 * while one copy is still being sent, the next request for the same record is sent the same
 * copy, so a hot value is held once in JavaScript however many connections are being sent it.
 */
const recordCopies = new WeakMap<object, WeakRef<Buffer>>();

function valueBytes(ctx: ServerContext, item: Item): Buffer {
  const record = item.record as object | null;
  if (record === null || !ctx.engine.initCopies) return item.data.subarray(0, item.valueLength);
  const shared = recordCopies.get(record)?.deref();
  if (shared !== undefined) return shared;
  const bytes = item.data.subarray(0, item.valueLength);
  recordCopies.set(record, new WeakRef(bytes));
  return bytes;
}

/** GET and HEAD: the value, or a slice of it (Range), or 304 (If-None-Match). */
export function answerRead(ctx: ServerContext, counters: HttpCounters, head: HttpRequestHead, key: string): HttpAnswer {
  const headOnly = head.method === 'HEAD';
  const store = ctx.store;
  const item = store.get(key);
  if (ctx.prefixStats.enabled) ctx.prefixStats.recordGet(key, item !== null);
  if (item === null) {
    counters.misses++;
    return replyAnswer(HttpReplies.NOT_FOUND, headOnly);
  }
  counters.hits++;
  const config = ctx.config;
  const tag = entityTag(ctx, item);
  const validators: OutgoingHttpHeaders = {};
  if (tag !== null) validators.ETag = tag;
  if (item.exptime !== 0) validators['Cache-Control'] = `max-age=${Math.max(0, item.exptime - store.clock.now())}`;
  const ifNoneMatch = head.headers['if-none-match'];
  if (ifNoneMatch !== undefined && tagListMatches(ifNoneMatch, tag, true)) {
    counters.notModified++;
    return { status: 304, headers: validators, body: null };
  }
  const length = item.valueLength;
  // Range is defined for GET only (RFC 9110 14.2); If-Range with another tag asks for the whole value.
  const ifRange = head.headers['if-range'];
  const range = headOnly || (ifRange !== undefined && ifRange !== tag) ? null : byteRange(head.headers.range, length);
  if (range !== null && range.kind === RangeKind.Unsatisfiable) {
    return replyAnswer(HttpReplies.RANGE_NOT_SATISFIABLE, false, { ...validators, 'Content-Range': `bytes */${length}` });
  }
  const headers: OutgoingHttpHeaders = { 'Content-Type': config.httpContentType, 'Accept-Ranges': 'bytes', ...validators };
  if (config.httpGzipFlag !== 0 && (item.flags & config.httpGzipFlag) !== 0) headers['Content-Encoding'] = 'gzip';
  if (item.flags !== 0) headers[FLAGS_REPLY_HEADER] = item.flags;
  if (range !== null && range.kind === RangeKind.Single) {
    counters.partial++;
    headers['Content-Range'] = `bytes ${range.start}-${range.end}/${length}`;
    headers['Content-Length'] = range.end - range.start + 1;
    return { status: 206, headers, body: valueBytes(ctx, item).subarray(range.start, range.end + 1) };
  }
  headers['Content-Length'] = length;
  return { status: 200, headers, body: headOnly ? null : valueBytes(ctx, item) };
}

/** A decimal header within [min, max], or `fallback` when absent. */
function numericHeader(head: HttpRequestHead, name: string, min: number, max: number, fallback: number, reply: HttpReply): number {
  const text = head.headers[name];
  if (text === undefined) return fallback;
  if (typeof text !== 'string' || !/^\s*-?\d{1,10}\s*$/.test(text)) throw new BadHttpHeaderError(reply);
  const value = Number(text);
  if (value < min || value > max) throw new BadHttpHeaderError(reply);
  return value;
}

/**
 * PUT: `set`, with X-Memcached-Flags and X-Memcached-Exptime (memcached's exptime: seconds
 * up to 30 days, a Unix time past that). If-Match with the item's tag is `cas` (`*`:
 * `replace`), If-None-Match: * is `add`; a precondition that fails is 412. `data` is the
 * value followed by CR LF, as the store keeps it.
 */
export function answerPut(ctx: ServerContext, counters: HttpCounters, head: HttpRequestHead, key: string, data: Buffer): HttpAnswer {
  counters.puts++;
  const store = ctx.store;
  let flags: number;
  let exptime: number;
  try {
    flags = numericHeader(head, FLAGS_HEADER, 0, 0xffffffff, 0, HttpReplies.BAD_FLAGS);
    exptime = numericHeader(head, EXPTIME_HEADER, -0x80000000, 0x7fffffff, 0, HttpReplies.BAD_EXPTIME);
  } catch (error) {
    if (!(error instanceof BadHttpHeaderError)) throw error;
    counters.refused++;
    return replyAnswer(error.reply);
  }
  let mode = StoreMode.Set;
  let cas = 0n;
  const ifMatch = head.headers['if-match'];
  if (ifMatch !== undefined) {
    if (ifMatch.trim() === '*') {
      mode = StoreMode.Replace;
    } else {
      // A CAS of 0 never matches: the store counts the mismatch (cas_badval, cas_misses) as for `cas`.
      mode = StoreMode.Cas;
      const current = store.peek(key);
      if (current !== null && tagListMatches(ifMatch, entityTag(ctx, current), false)) cas = BigInt(current.cas);
    }
  } else if (head.headers['if-none-match']?.trim() === '*') {
    mode = StoreMode.Add;
  }
  if (ctx.prefixStats.enabled) ctx.prefixStats.recordSet(key);
  const existed = mode === StoreMode.Set ? store.peek(key) !== null : mode !== StoreMode.Add;
  switch (store.store(mode, key, flags, exptime, data, cas)) {
    case StoreResult.Stored: {
      const headers: OutgoingHttpHeaders = store.casEnabled ? { ETag: `"${store.lastStoredCas}"` } : {};
      if (existed) return { status: 204, headers, body: null };
      headers['Content-Length'] = 0;
      return { status: 201, headers, body: null };
    }
    case StoreResult.TooLarge:
      return replyAnswer(HttpReplies.TOO_LARGE);
    case StoreResult.NoMemory:
    case StoreResult.NoMemoryDuringRead:
      return replyAnswer(HttpReplies.OUT_OF_MEMORY);
    default:
      // Exists, NotFound, NotStored: If-Match or If-None-Match did not hold.
      return replyAnswer(HttpReplies.PRECONDITION_FAILED);
  }
}

/** DELETE: `delete`; with If-Match, only the item with that tag. */
export function answerDelete(ctx: ServerContext, counters: HttpCounters, head: HttpRequestHead, key: string): HttpAnswer {
  counters.deletes++;
  const store = ctx.store;
  const ifMatch = head.headers['if-match'];
  if (ifMatch !== undefined) {
    const current = store.peek(key);
    if (current === null || !tagListMatches(ifMatch, entityTag(ctx, current), false)) {
      return replyAnswer(HttpReplies.PRECONDITION_FAILED);
    }
  }
  if (ctx.prefixStats.enabled) ctx.prefixStats.recordDelete(key);
  return store.delete(key) ? { status: 204, headers: {}, body: null } : replyAnswer(HttpReplies.NOT_FOUND);
}

/** A PUT whose value is over -I: refused as `set` refuses it, which also drops the old value (not under a precondition). */
export function answerTooLarge(ctx: ServerContext, counters: HttpCounters, head: HttpRequestHead, key: string): HttpAnswer {
  counters.puts++;
  const conditional = head.headers['if-match'] !== undefined || head.headers['if-none-match'] !== undefined;
  ctx.store.refuseTooLarge(conditional ? StoreMode.Cas : StoreMode.Set, key);
  return replyAnswer(HttpReplies.TOO_LARGE);
}
