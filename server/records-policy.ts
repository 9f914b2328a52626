/*
 * Which values become records: the policy between the store's items and the records
 * engine. A value is handed to the engine once it is long enough and asked for often
 * enough; until then replies carry its bytes.
 */

import type { ServerContext } from './context';
import type { Item } from './store/store';
import type { Segment } from './records/types';
import type { ReplyQueue } from './connection/reply-queue';

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
    record = handle;
  }
  return record;
}
