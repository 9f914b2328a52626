/*
 * Where items are linked and how they leave: the key table, each slab class's LRU, the
 * memory memcached's slab allocator would charge, the expiry index the sweep reads, and
 * eviction. store.ts builds the cache's commands on top; this part counts only what
 * memcached's allocator and LRU count (evictions, reclaims).
 */

import type { Clock } from './clock';
import { StoreCounters } from './counters';
import { type Item, NO_CHUNKS } from './item';
import { LruList } from './lru-list';
import { itemTotal, type StoreMode } from '../memcached/item';
import { SlabMemory } from './slabs';
import { StoreResult, type StoreOptions } from './types';

/** What a lookup found (memcached's do_item_get: not_found, found, flushed, expired). */
export const enum LookupResult {
  NotFound = 0,
  Found,
  Flushed,
  Expired,
}

/** Follows the store's item traffic for those who watch it; every method runs synchronously. */
export interface StoreObserver {
  lookup(key: string, result: LookupResult, item: Item | null): void;
  /**
   * A store command's outcome: the item it linked, or else the item it would have linked
   * (`item` null and size -1 when it was refused as too large before one was made).
   */
  stored(result: StoreResult, mode: StoreMode, key: string, valueLength: number, exptime: number, classId: number): void;
  evicted(item: Item): void;
}

/** The items of a Store, linked into its table, LRUs and slab memory. */
export abstract class LinkedItems {
  readonly counters = new StoreCounters();
  /** Every linked item by key. */
  protected readonly table = new Map<string, Item>();
  /** Each slab class's items, oldest first (index = class id). */
  protected readonly lrus: LruList<Item>[];
  /** Memory accounted as memcached's slab allocator accounts it. */
  readonly slabs: SlabMemory;
  protected totalBytes = 0;
  protected nextCas = 0;
  /** The CAS of the item the last successful store linked. */
  lastStoredCas = 0;
  /** flush_all: items linked at or before this relative time are gone once it has passed (0: none). */
  protected oldestLive = 0;
  /** flush_all: items with a CAS below this are gone (makes an immediate flush exact within a second). */
  protected oldestCas = 0;
  /** Items with an expiry, by relative expiry second, for the sweep. */
  protected readonly expiring = new Map<number, Set<Item>>();
  protected sweptUntil: number;
  /** `stats sizes`: item counts by size rounded up to 32 bytes, or null when not tracked. */
  sizes: Map<number, number> | null = null;
  /** Items with a CAS below this were linked before size tracking began and are not counted. */
  protected sizesSinceCas = 0;
  /** Called when an item leaves the cache (to release its record). */
  onUnlink: ((item: Item) => void) | null = null;
  /**
   * Called with an item just stored whose bytes are still the request's: true when it kept
   * them elsewhere (a record); otherwise the item copies them.
   */
  keepValue: ((item: Item) => boolean) | null = null;
  /**
   * Called when what a GET of a linked item answers may have changed (its value, flags,
   * CAS, expiry, or how meta commands see it), before the reply to the change is queued.
   */
  onChange: ((item: Item) => void) | null = null;
  /** flush_all: called with the relative second from which items stored so far are gone, and with 0 once the sweep reclaimed them. */
  onFlushDue: ((second: number) => void) | null = null;
  /** Published items by their read-index handle (Item.indexHandle), kept by read-index.ts. */
  itemsByHandle: readonly (Item | undefined)[] | null = null;
  /**
   * Where the records engine found the key of the request being run in its read index (an
   * item's handle), or -1, and the serial of the publication it found there. The next
   * lookup takes that item if it still carries the serial, and uses the hint up: a stale
   * hint only costs the check.
   */
  keyHint = -1;
  keyHintSerial = 0;
  /** Told of lookups, stores and evictions while someone watches them (`watch`, -vvv); null otherwise. */
  observer: StoreObserver | null = null;

  constructor(
    protected readonly options: StoreOptions,
    readonly clock: Clock,
  ) {
    this.sweptUntil = clock.now();
    const geometry = options.slabs ?? { chunkSize: 48, factor: 1.25, slabChunkMax: 512 * 1024 };
    this.slabs = new SlabMemory({ limitBytes: options.maxBytes, ...geometry });
    this.lrus = Array.from({ length: this.slabs.sizes.length + 1 }, () => new LruList<Item>());
  }

  /** Starts (afresh) or stops counting item sizes, as `stats sizes_enable|disable` do. */
  trackSizes(on: boolean): void {
    if (on && this.sizes === null) {
      this.sizes = new Map();
      this.sizesSinceCas = this.nextCas + 1;
    } else if (!on) {
      this.sizes = null;
    }
  }

  protected countSize(item: Item, delta: number): void {
    if (this.sizes === null || (this.options.casEnabled && item.cas < this.sizesSinceCas)) return;
    const bucket = Math.ceil(item.size / 32) * 32;
    this.sizes.set(bucket, (this.sizes.get(bucket) ?? 0) + delta);
  }

  /** Items currently linked (including expired ones not yet reclaimed, as memcached counts). */
  get currItems(): number {
    return this.table.size;
  }

  /** Sum of the items' sizes as memcached charges them. */
  get bytes(): number {
    return this.totalBytes;
  }

  protected newCas(): number {
    return this.options.casEnabled ? ++this.nextCas : 0;
  }

  /** Tells onChange that a linked item changed. */
  changed(item: Item): void {
    if (this.onChange !== null && item.linked) this.onChange(item);
  }

  protected isFlushed(item: Item, now: number): boolean {
    const oldest = this.oldestLive;
    if (oldest === 0 || oldest > now) return false;
    return item.time <= oldest || (this.oldestCas !== 0 && item.cas !== 0 && item.cas < this.oldestCas);
  }

  /**
   * Takes memory for an item as memcached's allocator would, evicting from the class that
   * needs a chunk when no page is left (do_item_alloc_pull). False when none can be had.
   */
  protected allocate(item: Item): StoreResult {
    const layout = this.slabs.layout(item.size, item.key.length, item.flags, item.dataLength, this.options.casEnabled);
    if (layout.chunks.length === 1) {
      // The common case: one chunk, and the layout's shared list of it.
      if (!this.takeChunk(layout.lruClass)) return StoreResult.NoMemory;
      item.lruClass = layout.lruClass;
      item.chunks = layout.chunks;
      return StoreResult.Stored;
    }
    const taken: number[] = [];
    for (let i = 0; i < layout.chunks.length; i++) {
      let id = layout.chunks[i];
      let ok = this.takeChunk(id);
      // A large item's last chunk falls back to a full-size chunk (do_item_alloc_chunk).
      if (!ok && i > 0 && id !== this.slabs.largestClass) {
        id = this.slabs.largestClass;
        ok = this.takeChunk(id);
      }
      if (!ok) {
        for (const t of taken) this.slabs.give(t);
        return i === 0 ? StoreResult.NoMemory : StoreResult.NoMemoryDuringRead;
      }
      taken.push(id);
    }
    item.lruClass = layout.lruClass;
    item.chunks = taken;
    return StoreResult.Stored;
  }

  protected takeChunk(id: number): boolean {
    for (let tries = 0; tries < 10; tries++) {
      if (this.slabs.tryTake(id)) return true;
      if (!this.evictOne(id)) return false;
    }
    return false;
  }

  /**
   * Frees an item from class `id`'s tail: expired ones first, active ones get a second
   * chance, and -M never evicts a live item. False when nothing could go.
   */
  protected evictOne(id: number): boolean {
    const lru = this.lrus[id];
    const now = this.clock.now();
    let tries = 0;
    for (let item = lru.oldest; item !== null && tries++ < 50; ) {
      if ((item.exptime !== 0 && item.exptime <= now) || this.isFlushed(item, now)) {
        this.counters.reclaimed++;
        if (!item.fetched) this.counters.expired_unfetched++;
        this.unlink(item);
        return true;
      }
      if (this.options.noEvict) return false;
      if (item.active) {
        item.active = false;
        // To the newest end; the walk meets it again after the others (the only one: next).
        const next = item.lruNext ?? item;
        lru.moveToNewest(item);
        // Fetches served without JS must mark it active again.
        this.changed(item);
        item = next;
        continue;
      }
      this.onEvicted(item);
      this.unlink(item);
      return true;
    }
    return false;
  }

  /**
   * Links a new item in place of any old one; `counted` false for an incr's rewrite.
   * `old`: the item linked under the key, when the caller has just looked it up.
   */
  protected link(item: Item, counted = true, old?: Item | null): StoreResult {
    const allocated = this.allocate(item);
    if (allocated !== StoreResult.Stored) {
      if (allocated === StoreResult.NoMemory) this.counters.store_no_memory++;
      return allocated;
    }
    const previous = old === undefined ? this.table.get(item.key) : old;
    // Allocation may have evicted the old item itself.
    if (previous?.linked) this.unlinkLinked(previous, true);
    item.linked = true;
    this.table.set(item.key, item);
    this.lrus[item.lruClass].push(item);
    this.totalBytes += item.size;
    this.countSize(item, 1);
    if (counted) this.counters.total_items++;
    if (item.exptime !== 0) this.expireAt(item);
    this.lastStoredCas = item.cas;
    return StoreResult.Stored;
  }

  /**
   * A store over a linked item, done where it is. memcached links a new item in the old
   * one's place; when the new item has the old one's size and a chunk is free for it (so
   * allocating it would evict nothing), the cache ends exactly as if it had, and the set
   * makes no object and no buffer. False when that does not hold: the caller links a new item.
   */
  protected rewriteLinked(old: Item, flags: number, exptime: number, data: Buffer, keyBinary: boolean): boolean {
    if (old.chunks.length !== 1 || !old.canRewrite(data.length)) return false;
    if (itemTotal(old.key.length, flags, data.length, this.options.casEnabled) !== old.size) return false;
    // The new item's chunk (a page may come with it, as it would), and the old one's given back.
    if (!this.slabs.tryTake(old.chunks[0])) return false;
    this.slabs.give(old.chunks[0]);
    this.countSize(old, -1);
    this.unexpire(old);
    old.rewrite(flags, exptime, data, this.newCas(), this.clock.now(), keyBinary);
    this.lrus[old.lruClass].moveToNewest(old);
    this.countSize(old, 1);
    this.counters.total_items++;
    if (old.exptime !== 0) this.expireAt(old);
    this.lastStoredCas = old.cas;
    return true;
  }

  /** Puts `next` in `old`'s place, in the same memory (an in-place rewrite). */
  protected relink(old: Item, next: Item): void {
    next.lruClass = old.lruClass;
    next.chunks = old.chunks;
    old.chunks = NO_CHUNKS;
    if (old.linked) this.unlinkLinked(old, true);
    next.linked = true;
    this.table.set(next.key, next);
    this.lrus[next.lruClass].push(next);
    this.totalBytes += next.size;
    this.countSize(next, 1);
    if (next.exptime !== 0) this.expireAt(next);
  }

  protected expireAt(item: Item): void {
    const at = Math.max(item.exptime, this.sweptUntil + 1);
    item.expiryBucket = at;
    let due = this.expiring.get(at);
    if (due === undefined) {
      due = new Set();
      this.expiring.set(at, due);
    }
    due.add(item);
  }

  protected setExptime(item: Item, exptime: number): void {
    this.unexpire(item);
    item.exptime = exptime;
    if (exptime !== 0) this.expireAt(item);
    this.changed(item);
  }

  protected unexpire(item: Item): void {
    if (item.expiryBucket === 0) return;
    const due = this.expiring.get(item.expiryBucket);
    if (due !== undefined) {
      due.delete(item);
      if (due.size === 0) this.expiring.delete(item.expiryBucket);
    }
    item.expiryBucket = 0;
  }

  /** Removes an item for any reason, returning its memory. */
  protected unlink(item: Item): void {
    if (item.linked) this.unlinkLinked(item);
  }

  /**
   * unlink for an item known to be the one linked under its key. `replaced`: a new item
   * takes its table slot at once (one hash update instead of two).
   */
  private unlinkLinked(item: Item, replaced = false): void {
    item.linked = false;
    if (!replaced) this.table.delete(item.key);
    this.lrus[item.lruClass].remove(item);
    for (const id of item.chunks) this.slabs.give(id);
    this.totalBytes -= item.size;
    this.countSize(item, -1);
    this.unexpire(item);
    if (this.onUnlink !== null) this.onUnlink(item);
  }

  protected onEvicted(item: Item): void {
    const now = this.clock.now();
    if (item.exptime !== 0 && item.exptime <= now) {
      this.counters.reclaimed++;
      return;
    }
    this.counters.evictions++;
    if (!item.fetched) this.counters.evicted_unfetched++;
    else if (item.active) this.counters.evicted_active++;
    this.observer?.evicted(item);
  }

  /** One class's items, least recently used first (the order lru_crawler walks them in); empty for no such class. */
  lruItems(id: number): IterableIterator<Item> {
    return (this.lrus[id] ?? new LruList<Item>()).oldestFirst();
  }

  /** Slab class `id`'s items, most recently linked or bumped first (as memcached walks an LRU). */
  classItemsNewestFirst(id: number): IterableIterator<Item> {
    return (this.lrus[id] ?? new LruList<Item>()).newestFirst();
  }

  /** Every linked item; for stats and tests. */
  items(): IterableIterator<Item> {
    return this.table.values();
  }
}
