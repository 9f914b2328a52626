/*
 * The store's items published into the records engine's read index (native/src/read_index.h),
 * so the engine answers GET hits without JavaScript. The store stays the authority: every
 * change to what a GET would answer is published (or the item removed) before the reply to
 * the change is queued, and what the engine served comes back here: its fetches bump the
 * items as `get` does, and its counters join the store's when `stats` asks.
 */

import type { ServerContext } from './context';
import type { Item } from './store/store';
import { CLOCK_START, type Clock, ManualClock, SystemClock } from './store/clock';
import { EntryTraits, type ReadIndex } from './records/types';

/** Item serials wrap within a positive int32 (the engine keeps 32 bits); 0 means never published. */
const SERIAL_MASK = 0x7fffffff;

export function publishItems(ctx: ServerContext, index: ReadIndex, clock: Clock): void {
  const store = ctx.store;
  const recordsMinSize = ctx.config.recordsMinSize;
  let serial = 0;
  // Published items by handle, so a fetch report finds its item without a key lookup.
  const published: (Item | undefined)[] = [];
  const freeHandles: number[] = [];
  store.itemsByHandle = published;
  store.onChange = (item: Item) => {
    // A long value that is not yet a record (records_min_hits) is served by JS until it is.
    if (item.record === null && item.valueLength >= recordsMinSize) return;
    serial = (serial + 1) & SERIAL_MASK || 1;
    const previousSerial = item.serial;
    if (previousSerial === 0) {
      item.indexHandle = freeHandles.pop() ?? published.length;
      published[item.indexHandle] = item;
    }
    item.serial = serial;
    index.publish({
      key: item.key,
      data: item.record === null ? item.dataToCopy : null,
      record: item.record as never,
      dataLength: item.dataLength,
      flags: item.flags,
      exptime: item.exptime,
      cas: item.cas,
      serial,
      handle: item.indexHandle,
      previousSerial,
      hitClass: store.slabs.classOf(item.size),
      traits: (item.stale || item.tokenSent ? 0 : EntryTraits.MetaPlain) | (item.keyBinary ? EntryTraits.KeyBinary : 0),
      fetchState: item.active ? 2 : item.fetched ? 1 : 0,
    });
  };
  const release = store.onUnlink;
  store.onUnlink = (item: Item) => {
    if (item.serial !== 0) {
      item.serial = 0;
      published[item.indexHandle] = undefined;
      freeHandles.push(item.indexHandle);
      index.unpublish(item.key);
    }
    release?.(item);
  };
  store.onFlushDue = (second) => index.flushDue(second);
  index.onFetched = (handle, itemSerial) => {
    const item = published[handle];
    // A report about an earlier publication (or an item since gone) changes nothing.
    if (item !== undefined && item.serial === itemSerial) store.bump(item);
  };
  // A clock the engine cannot read would judge expiry on another clock: never serve then.
  const clockReadable = clock instanceof SystemClock || clock instanceof ManualClock;
  // The engine answers hits only while nothing must see each GET in JavaScript: per-prefix
  // stats count them, `watch fetchers` logs them, and -vv prints them (event-log.ts).
  const serve = (): void => index.setServing(clockReadable && !ctx.prefixStats.enabled && !ctx.log.wantsEveryGet);
  ctx.prefixStats.onToggle = serve;
  ctx.log.onWantsEveryGet = serve;
  serve();
  if (clock instanceof SystemClock) {
    index.setClock(-1, clock.startedNs, CLOCK_START);
  } else if (clock instanceof ManualClock) {
    index.setClock(clock.now(), 0, 0);
    clock.onAdvance = () => index.setClock(clock.now(), 0, 0);
  }
}

/** Adds what the engine counted since the last call to the store's and server's counters (before `stats`). */
export function takeServedCounters(ctx: ServerContext): void {
  const index = ctx.engine.readIndex;
  if (index === null) return;
  const served = index.takeServed();
  const counters = ctx.store.counters;
  counters.cmd_get += served[0];
  counters.get_hits += served[1];
  ctx.counters.bytesWritten += served[3];
  for (let id = 0; id + 5 < served.length; id++) if (served[id + 5] > 0) ctx.store.countClassHits(id, served[id + 5]);
}
