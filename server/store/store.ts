/*
 * The cache: items with client flags, expiry and CAS ids, a memory limit with LRU eviction,
 * lazy expiry on access plus a sweep that reclaims expired items, and memcached's item
 * counters. Pure cache semantics over an injected clock: no sockets, no wire formats.
 *
 * An item's data is immutable once anything outside the store has it (a queued reply, a
 * record): a set over an item whose bytes nothing else has seen may copy the new value
 * over them (Item.rewrite); every other mutation links a new data buffer.
 *
 * This file is the commands' semantics (get, set, cas, incr, touch, flush_all, the sweep),
 * counted as memcached counts them. Where an item is linked, its memory and its eviction
 * are lru.ts; the counters counters.ts; options and results types.ts; slab geometry slabs.ts.
 */

import type { Clock } from './clock';
import { ClassCounters, type ClassCounterName, StoreCounters } from './counters';
import { Item } from './item';
import { LinkedItems, LookupResult } from './lru';
import { StoreMode, itemTotal } from '../memcached/item';
import { parseStoredCounter } from '../memcached/numbers';
import { ArithStatus, type ArithResult, StoreResult, type StoreOptions } from './types';

export { Item, LookupResult };
export type { StoreObserver } from './lru';

/** 30 days: exptimes up to this are relative, larger ones are Unix times. */
export const REALTIME_MAXDELTA = 60 * 60 * 24 * 30;

/** memcached's HASHPOWER_DEFAULT and HASHPOWER_MAX (assoc.c). */
const HASHPOWER_DEFAULT = 16;
const HASHPOWER_MAX = 32;

const U64_MASK = (1n << 64n) - 1n;
const EMPTY_VALUE = Buffer.from('\r\n');

export class Store extends LinkedItems {
  /** Per slab class traffic, by class id. */
  private classCounters: (ClassCounters | undefined)[] = [];
  /** A flush_all whose items the sweep has yet to reclaim. */
  private flushReclaimPending = false;
  /**
   * The power of two memcached's hash table would have (`stats` hash_power_level): there is
   * no such table here, but memcached doubles its table once a second finds more than 1.5
   * items per bucket, and reports it.
   */
  hashPower: number;

  constructor(options: StoreOptions, clock: Clock) {
    super(options, clock);
    this.hashPower = options.hashPowerInit ?? HASHPOWER_DEFAULT;
  }

  /** Counts one event for the slab class of an item of `itemSize` bytes. */
  countClass(itemSize: number, name: ClassCounterName): void {
    this.classTraffic(this.slabs.classOf(itemSize))[name]++;
  }

  /** Slab class `id`'s traffic counters. */
  classTraffic(id: number): ClassCounters {
    let counters = this.classCounters[id];
    if (counters === undefined) {
      counters = new ClassCounters();
      this.classCounters[id] = counters;
    }
    return counters;
  }

  /** A set that arrived with a malformed data block still counts, as memcached counts it. */
  countFailedSet(itemSize: number): void {
    this.counters.cmd_set++;
    this.countClass(itemSize, 'cmd_set');
  }

  get maxBytes(): number {
    return this.options.maxBytes;
  }

  get casEnabled(): boolean {
    return this.options.casEnabled;
  }

  /** memcached's realtime(): a protocol exptime to a relative expiry time (0 = never). */
  realtime(exptime: number): number {
    if (exptime < 0) exptime = REALTIME_MAXDELTA + 1;
    if (exptime === 0) return 0;
    if (exptime > REALTIME_MAXDELTA) {
      if (exptime <= this.clock.processStarted) return 1;
      return exptime - this.clock.processStarted;
    }
    return exptime + this.clock.now();
  }

  /** Whether an item of this shape fits under the item size limit. */
  fits(nkey: number, flags: number, dataLength: number): boolean {
    return itemTotal(nkey, flags, dataLength, this.options.casEnabled) <= this.options.itemSizeMax;
  }

  /**
   * The live item for key, or null. Expired and flushed items are unlinked here (lazy expiry).
   * Does not count a fetch; `get` does.
   */
  peek(key: string): Item | null {
    return this.live(key, this.table.get(key));
  }

  /** item (what the key table or a key hint holds under key) if it is live; else null. */
  private live(key: string, item: Item | undefined): Item | null {
    const observer = this.observer;
    if (item === undefined) {
      if (observer !== null) observer.lookup(key, LookupResult.NotFound, null);
      return null;
    }
    const now = this.clock.now();
    if (this.isFlushed(item, now)) {
      this.counters.get_flushed++;
      this.unlink(item);
      if (observer !== null) observer.lookup(key, LookupResult.Flushed, null);
      return null;
    }
    if (item.exptime !== 0 && item.exptime <= now) {
      this.counters.get_expired++;
      this.unlink(item);
      if (observer !== null) observer.lookup(key, LookupResult.Expired, null);
      return null;
    }
    if (observer !== null) observer.lookup(key, LookupResult.Found, item);
    return item;
  }

  /**
   * Touches the items a delivery's storage requests will change (hints: handle, serial, ...
   * as setKeyHint takes them), and their LRU neighbours and bytes. Each load here is
   * independent of the others, so the processor waits for their cache misses together,
   * where the requests themselves would wait for each in turn.
   */
  prefetchHinted(hints: Int32Array): void {
    const items = this.itemsByHandle;
    if (items === null) return;
    let touched = 0;
    for (let k = 0; k < hints.length; k += 2) {
      const handle = hints[k];
      if (handle < 0) continue;
      const item = items[handle];
      if (item !== undefined) touched += item.touchNeighbours();
    }
    this.prefetchSum = touched;
  }

  /** What prefetchHinted read, kept so the compiler does not drop its loads. */
  prefetchSum = 0;

  /** Where the engine's read index found the next lookup's key: an item's handle and serial (keyHint). */
  setKeyHint(handle: number, serial: number): void {
    this.keyHint = handle;
    this.keyHintSerial = serial;
  }

  /**
   * The item keyHint names, when it is still the publication the engine found under the
   * storage request's key; the hint is used up. Only the request's own store takes it
   * (storeItem). Serials are unique among the publications one batch can see (they wrap
   * only after 2^31), an item's key never changes, and unlinking clears its serial, so a
   * matching serial is the item linked under the key, found without reading the key.
   */
  private hinted(): Item | undefined {
    const hint = this.keyHint;
    if (hint < 0) return undefined;
    this.keyHint = -1;
    const item = this.itemsByHandle?.[hint];
    return item !== undefined && item.serial === this.keyHintSerial && item.serial !== 0 ? item : undefined;
  }

  /**
   * The item linked under `key`, even one a pending flush_all already hides: what a store
   * just made, for its reply (memcached answers with the item it created, flushed or not).
   */
  linkedItem(key: string): Item | null {
    return this.table.get(key) ?? null;
  }

  /** A fetch: counts a hit or miss, bumps the item in the LRU. */
  get(key: string): Item | null {
    this.counters.cmd_get++;
    const item = this.peek(key);
    if (item === null) {
      this.counters.get_misses++;
      return null;
    }
    this.counters.get_hits++;
    this.countClass(item.size, 'get_hits');
    this.bump(item);
    return item;
  }

  /** gat: fetch and set a new expiry. Counted as a touch, as memcached counts it. */
  getAndTouch(key: string, exptime: number): Item | null {
    this.counters.cmd_touch++;
    const item = this.peek(key);
    if (item === null) {
      this.counters.touch_misses++;
      return null;
    }
    this.counters.touch_hits++;
    this.countClass(item.size, 'touch_hits');
    this.setExptime(item, this.realtime(exptime));
    this.bump(item);
    return item;
  }

  touch(key: string, exptime: number): Item | null {
    return this.getAndTouch(key, exptime);
  }

  /**
   * A fetch's effect on an item (do_item_bump): the first marks it fetched, later ones
   * mark it active and refresh its time. An active item is spared once by eviction.
   */
  bump(item: Item): void {
    if (!item.fetched) {
      item.fetched = true;
    } else {
      item.active = true;
      item.time = this.clock.now();
    }
  }

  /**
   * set/add/replace/append/prepend/cas. `data` ends in CR LF and is copied. `cas` is the
   * client's CAS (0n: none). With `setStale` (ms ... I), a cas older than the item's still
   * stores, as a stale value keeping the old expiry. `lastStoredCas` tells the new CAS.
   */
  store(
    mode: StoreMode,
    key: string,
    flags: number,
    exptime: number,
    data: Buffer,
    cas: bigint = 0n,
    setStale = false,
    keyBinary = false,
  ): StoreResult {
    const result = this.storeItem(mode, key, flags, exptime, data, cas, setStale, keyBinary);
    const observer = this.observer;
    if (observer !== null && result !== StoreResult.TooLarge) {
      // memcached logs the item it linked, or else the one it made for the request.
      const linked = result === StoreResult.Stored ? this.table.get(key) : undefined;
      if (linked !== undefined) {
        observer.stored(result, mode, key, linked.valueLength, linked.exptime, linked.lruClass);
      } else {
        const size = itemTotal(key.length, flags, data.length, this.options.casEnabled);
        observer.stored(result, mode, key, data.length - 2, this.realtime(exptime), this.slabs.classOf(size));
      }
    }
    return result;
  }

  private storeItem(
    mode: StoreMode,
    key: string,
    flags: number,
    exptime: number,
    data: Buffer,
    cas: bigint,
    setStale: boolean,
    keyBinary: boolean,
  ): StoreResult {
    if (!this.fits(key.length, flags, data.length)) return this.refuseTooLarge(mode, key);
    this.counters.cmd_set++;
    this.countClass(itemTotal(key.length, flags, data.length, this.options.casEnabled), 'cmd_set');
    const old = this.live(key, this.hinted() ?? this.table.get(key));
    let stale = false;
    if (old !== null) {
      const casMatch = cas !== 0n && cas === BigInt(old.cas);
      switch (mode) {
        case StoreMode.Add:
          this.touchLru(old);
          return StoreResult.NotStored;
        case StoreMode.Cas:
          if (casMatch) {
            this.counters.cas_hits++;
            this.countClass(old.size, 'cas_hits');
          } else if (setStale && cas !== 0n && cas < BigInt(old.cas)) {
            this.counters.cas_hits++;
            this.countClass(old.size, 'cas_hits');
            stale = true;
          } else {
            this.counters.cas_badval++;
            this.countClass(old.size, 'cas_badval');
            return StoreResult.Exists;
          }
          break;
        case StoreMode.Append:
        case StoreMode.Prepend: {
          if (cas !== 0n && !casMatch) return StoreResult.Exists;
          const oldData = old.data;
          const value = oldData.subarray(0, oldData.length - 2);
          const joined =
            mode === StoreMode.Append
              ? Buffer.concat([value, data], value.length + data.length)
              : Buffer.concat([data.subarray(0, data.length - 2), oldData], data.length - 2 + oldData.length);
          if (!this.fits(key.length, old.flags, joined.length)) return StoreResult.NotStored;
          const item = new Item(key, old.flags, old.exptime, joined, this.newCas(), this.clock.now(), this.casEnabled);
          item.keyBinary = old.keyBinary;
          const linked = this.link(item);
          this.changed(item);
          return linked;
        }
        default:
          break;
      }
    } else {
      switch (mode) {
        case StoreMode.Cas:
          this.counters.cas_misses++;
          return StoreResult.NotFound;
        case StoreMode.Replace:
        case StoreMode.Append:
        case StoreMode.Prepend:
          return StoreResult.NotStored;
        default:
          break;
      }
    }
    if (old !== null && !stale && this.rewriteLinked(old, flags, this.realtime(exptime), data, keyBinary)) {
      this.keepValue?.(old);
      this.changed(old);
      return StoreResult.Stored;
    }
    // `data` is the request's: the item borrows it until it is linked, then keeps it.
    const item = new Item(key, flags, this.realtime(exptime), data, this.newCas(), this.clock.now(), this.casEnabled);
    item.keyBinary = keyBinary;
    if (stale && old !== null) {
      item.exptime = old.exptime;
      item.stale = true;
      item.tokenSent = old.tokenSent;
    }
    const result = this.link(item, true, old);
    if (result === StoreResult.Stored) {
      if (!this.keepValue?.(item)) item.keepCopy();
      this.changed(item);
    }
    return result;
  }

  /** An item too large for -I: counted, and a set must not leave the old value behind. */
  refuseTooLarge(mode: StoreMode, key: string): StoreResult {
    this.counters.store_too_large++;
    this.observer?.stored(StoreResult.TooLarge, mode, key, -1, 0, 0);
    if (mode === StoreMode.Set) this.delete(key, false);
    return StoreResult.TooLarge;
  }

  private touchLru(item: Item): void {
    item.time = this.clock.now();
  }

  delete(key: string, count = true): boolean {
    const item = this.peek(key);
    if (item === null) {
      if (count) this.counters.delete_misses++;
      return false;
    }
    if (count) this.deleteItem(item);
    else this.unlink(item);
    return true;
  }

  /** Deletes an item a lookup has just found (md), counted as delete counts it. */
  deleteItem(item: Item): void {
    this.counters.delete_hits++;
    this.countClass(item.size, 'delete_hits');
    this.unlink(item);
  }

  /**
   * incr/decr: 64-bit unsigned, wrapping on incr, stopping at 0 on decr. With a nonzero
   * `cas` (ma ... C), only an item with that CAS changes. `countMiss` false leaves a miss
   * uncounted (ma ... N creates the item instead).
   */
  arith(key: string, incr: boolean, delta: bigint, cas = 0n, countMiss = true): ArithResult {
    const item = this.peek(key);
    if (item === null) {
      if (countMiss) {
        if (incr) this.counters.incr_misses++;
        else this.counters.decr_misses++;
      }
      return { status: ArithStatus.NotFound, value: 0n, item: null, replaced: false };
    }
    if (item.dataLength <= 2) return { status: ArithStatus.NonNumeric, value: 0n, item, replaced: false };
    if (cas !== 0n && BigInt(item.cas) !== cas) return { status: ArithStatus.CasMismatch, value: 0n, item, replaced: false };
    const current = parseStoredCounter(item.data);
    if (current === null) return { status: ArithStatus.NonNumeric, value: 0n, item, replaced: false };
    let value: bigint;
    if (incr) {
      value = (current + delta) & U64_MASK;
      this.counters.incr_hits++;
      this.countClass(item.size, 'incr_hits');
    } else {
      value = delta > current ? 0n : current - delta;
      this.counters.decr_hits++;
      this.countClass(item.size, 'decr_hits');
    }
    const digits = value.toString();
    if (digits.length + 2 <= item.dataLength) {
      // memcached rewrites a result that fits in place, padded with spaces to the old length:
      // the same item, same memory and flags, a new CAS. The bytes are a new buffer here,
      // since the old ones may still be queued on connections.
      const data = Buffer.alloc(item.dataLength, 0x20);
      data.write(digits, 0, 'latin1');
      data[data.length - 2] = 0x0d;
      data[data.length - 1] = 0x0a;
      const next = new Item(key, item.flags, item.exptime, data, this.newCas(), this.clock.now(), this.casEnabled);
      next.fetched = item.fetched;
      next.active = item.active;
      next.stale = item.stale;
      next.tokenSent = item.tokenSent;
      next.keyBinary = item.keyBinary;
      this.relink(item, next);
      this.changed(next);
      return { status: ArithStatus.Ok, value, item: next, replaced: false };
    }
    // A longer number is a new item: counted as one, with none of the old item's flags.
    const next = new Item(
      key,
      item.flags,
      item.exptime,
      Buffer.from(digits + '\r\n', 'latin1'),
      this.newCas(),
      this.clock.now(),
      this.casEnabled,
    );
    if (this.link(next, false) !== StoreResult.Stored) return { status: ArithStatus.NoMemory, value: 0n, item: null, replaced: false };
    this.changed(next);
    this.counters.total_items++;
    return { status: ArithStatus.Ok, value, item: next, replaced: true };
  }

  /**
   * A counter created by an incr/decr on a missing key (binary incr with an initial value,
   * ma ... N): linked like an add, but memcached counts no set for it.
   */
  createCounter(key: string, value: bigint, exptime: number): StoreResult {
    if (this.peek(key) !== null) return StoreResult.NotStored;
    const data = Buffer.from(value.toString() + '\r\n', 'latin1');
    if (!this.fits(key.length, 0, data.length)) return StoreResult.TooLarge;
    const item = new Item(key, 0, this.realtime(exptime), data, this.newCas(), this.clock.now(), this.casEnabled);
    const linked = this.link(item);
    this.changed(item);
    return linked;
  }

  /** flush_all [delay]: with no delay, everything stored so far is gone now. */
  flushAll(delay: number): void {
    this.counters.cmd_flush++;
    const now = this.clock.now();
    const newOldest = delay > 0 ? this.realtime(delay) : now;
    if (this.options.casEnabled) {
      this.oldestLive = newOldest - 1;
      // memcached takes a CAS id for this (get_cas_id), so the next item's is one further on.
      if (this.oldestLive <= now) this.oldestCas = ++this.nextCas;
    } else {
      this.oldestLive = newOldest;
    }
    // Flushed items stay until a fetch finds them (counted as get_flushed) or the next sweep.
    this.flushReclaimPending = true;
    this.onFlushDue?.(this.oldestLive);
  }

  /**
   * Reclaims the memory of flushed items (the effect is already visible through isFlushed),
   * counted as memcached's LRU maintainer counts the flushed items it takes off an LRU tail
   * (items.c lru_pull_tail): reclaimed, and expired_unfetched if never fetched.
   */
  private reclaimFlushed(now: number): void {
    const doomed: Item[] = [];
    for (const item of this.table.values()) if (this.isFlushed(item, now)) doomed.push(item);
    for (const item of doomed) {
      this.counters.reclaimed++;
      if (!item.fetched) this.counters.expired_unfetched++;
      this.unlink(item);
    }
  }

  /**
   * Reclaims expired items, applies a delayed flush whose time has come, and grows the hash
   * power as memcached's table grows. Call once a second.
   */
  sweep(): void {
    const now = this.clock.now();
    if (this.flushReclaimPending && this.oldestLive <= now) {
      this.flushReclaimPending = false;
      this.reclaimFlushed(now);
      // What is left was stored after the flush: GETs of it may be answered anywhere again.
      this.onFlushDue?.(0);
    }
    for (let t = this.sweptUntil + 1; t <= now; t++) {
      const due = this.expiring.get(t);
      if (due === undefined) continue;
      this.expiring.delete(t);
      for (const item of due) {
        if (!item.linked) continue;
        if (!item.fetched) this.counters.expired_unfetched++;
        this.counters.crawler_reclaimed++;
        this.unlink(item);
      }
    }
    this.sweptUntil = now;
    // memcached's clock tick asks its hash maintenance thread to double the table (assoc.c).
    if (this.options.hashExpand !== false && this.currItems > (2 ** this.hashPower * 3) / 2 && this.hashPower < HASHPOWER_MAX) {
      this.hashPower++;
    }
  }

  /** Whether memcached's LRU crawler still sees a linked item: not flushed, not past its expiry second. */
  crawlerSees(item: Item, now: number): boolean {
    return !this.isFlushed(item, now) && (item.exptime === 0 || item.exptime >= now);
  }

  /**
   * lru_crawler crawl: reclaims the expired and flushed items of one class, counted as
   * memcached's crawler counts them (crawler.c crawler_expired_eval).
   */
  crawl(id: number): void {
    const now = this.clock.now();
    const doomed: Item[] = [];
    for (const item of this.lruItems(id)) if (!this.crawlerSees(item, now)) doomed.push(item);
    for (const item of doomed) {
      this.counters.crawler_reclaimed++;
      if (!item.fetched && !this.isFlushed(item, now)) this.counters.expired_unfetched++;
      this.unlink(item);
    }
  }

  /** A new expiry (a protocol exptime) for a linked item: mg/ma T, ms/md I with T. */
  retime(item: Item, exptime: number): void {
    this.setExptime(item, this.realtime(exptime));
  }

  /**
   * mg ... N on a miss: links an empty item that the caller's request now owns (the
   * "win"), expiring after `exptime`. As in memcached (1.6.18 through 1.6.45), the item
   * does not remember a base64 (`b`) key: later `k` flags show the decoded key.
   */
  vivify(key: string, exptime: number): Item | null {
    const item = new Item(key, 0, this.realtime(exptime), EMPTY_VALUE, this.newCas(), this.clock.now(), this.casEnabled);
    if (this.link(item) !== StoreResult.Stored) return null;
    this.changed(item);
    return item;
  }

  /** md ... I: keep the item but mark it stale, with a new CAS and optionally a new expiry. */
  markStale(item: Item, exptime: number | null): void {
    if (exptime !== null) this.retime(item, exptime);
    item.stale = true;
    item.tokenSent = false;
    this.countSize(item, -1);
    item.cas = this.newCas();
    this.countSize(item, 1);
    this.changed(item);
  }

  /** mg: the item's recache token has gone out (W, then Z on later fetches). */
  sendToken(item: Item): void {
    item.tokenSent = true;
    this.changed(item);
  }

  /** Hits the records engine answered, counted per slab class as `get` counts them. */
  countClassHits(id: number, hits: number): void {
    this.classTraffic(id).get_hits += hits;
  }

  /** stats reset: zero the counters (items stay). */
  resetCounters(): void {
    Object.assign(this.counters, new StoreCounters());
    this.classCounters = [];
  }
}
