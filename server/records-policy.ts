/*
 * Which values become records: the policy between the store's items and the records
 * engine. A value long enough is handed to the engine when it is stored (-o
 * records_min_hits=0, the default) or once it has been served that many times; until then
 * replies carry its bytes.
 */

import type { ServerContext } from './context';
import type { Item } from './store/store';
import type { Segment } from './records/types';
import type { ReplyQueue } from './connection/reply-queue';

/**
 * Keeps the value of an item just stored, while its bytes are still the request's: with
 * -o records_min_hits=0 (the default) a value long enough becomes a record now, copied
 * once from the request into the engine, so no copy of it is ever held in JavaScript.
 * False (the item copies the bytes) otherwise, and always with the js engine, whose records
 * are the items' own Buffers.
 */
export function keepStoredValue(ctx: ServerContext, item: Item): boolean {
  const config = ctx.config;
  const engine = ctx.engine;
  if (config.recordsMinHits > 0 || item.valueLength < config.recordsMinSize || !engine.initCopies) return false;
  const handle = engine.initRecord(item.data);
  item.keepInRecord(handle, () => engine.readRecord(handle));
  return true;
}

/**
 * The value segment of an item: its record, made once the item is long enough and has been
 * served often enough (-o records_min_size, records_min_hits); until then its bytes. Replies
 * that are not sent through the records engine (UDP) always get the bytes.
 */
export function itemValue(ctx: ServerContext, item: Item, replies: ReplyQueue): Segment {
  if (!replies.recordValues) return item.data;
  let record = item.record as Segment | null;
  if (record === null) {
    const config = ctx.config;
    if (item.valueLength < config.recordsMinSize) return item.data;
    if (config.recordsMinHits > 1 && ++item.serves < config.recordsMinHits) return item.data;
    const engine = ctx.engine;
    const handle = engine.initRecord(item.data);
    // One owner for the value's bytes: from now on the item reads them from the record.
    item.keepInRecord(handle, () => engine.readRecord(handle));
    ctx.store.changed(item);
    record = handle;
  }
  return record;
}
