/*
 * One slab class's LRU as memcached keeps it: items linked to each other through their
 * own prev/next fields, so moving an item costs no hashing and no allocation.
 */

/** What an item carries to be on an LRU list. */
export interface LruLinks<T> {
  lruPrev: T | null;
  lruNext: T | null;
}

/** Items oldest first; an item is on at most one list at a time. */
export class LruList<T extends LruLinks<T>> {
  oldest: T | null = null;
  newest: T | null = null;
  size = 0;

  /** Links `item` as the newest. */
  push(item: T): void {
    item.lruPrev = this.newest;
    item.lruNext = null;
    if (this.newest === null) this.oldest = item;
    else this.newest.lruNext = item;
    this.newest = item;
    this.size++;
  }

  /** Unlinks `item`, which must be on this list. */
  remove(item: T): void {
    if (item.lruPrev === null) this.oldest = item.lruNext;
    else item.lruPrev.lruNext = item.lruNext;
    if (item.lruNext === null) this.newest = item.lruPrev;
    else item.lruNext.lruPrev = item.lruPrev;
    item.lruPrev = null;
    item.lruNext = null;
    this.size--;
  }

  /** Moves `item`, which must be on this list, to the newest end. */
  moveToNewest(item: T): void {
    if (this.newest === item) return;
    this.remove(item);
    this.push(item);
  }

  /** Oldest first, as memcached's LRU crawler walks a class. */
  *oldestFirst(): IterableIterator<T> {
    for (let item = this.oldest; item !== null; item = item.lruNext) yield item;
  }

  /** Newest first, as memcached walks an LRU from its head. */
  *newestFirst(): IterableIterator<T> {
    for (let item = this.newest; item !== null; item = item.lruPrev) yield item;
  }
}
