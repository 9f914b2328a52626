/*
 * An item as memcached keeps it.
 */

import { itemTotal } from '../memcached/item';

/** The chunks of an item that holds none (not yet allocated, or moved to another item). */
export const NO_CHUNKS: readonly number[] = Object.freeze([]);

export class Item {
  /** Relative time the item was linked or last bumped by a fetch (memcached's it->time). */
  time: number;
  /** Fetched at least once since it was stored (ITEM_FETCHED). */
  fetched = false;
  /** Fetched again after its first fetch (ITEM_ACTIVE). */
  active = false;
  /** Marked stale by `md ... I` or stored stale by `ms ... I` (ITEM_STALE). */
  stale = false;
  /** A client has been handed the recache token (ITEM_TOKEN_SENT: `W` sent, `Z` after). */
  tokenSent = false;
  /** The key arrived base64 encoded (`b`) and is returned that way (ITEM_KEY_BINARY). */
  keyBinary = false;
  /** Bytes memcached would charge for it (ITEM_ntotal). */
  readonly size: number;
  /** A records-engine handle for the data, created on demand by the server and released with the item. */
  record: unknown = null;
  /** The value and its CR LF while the item holds them; null once they live in `record`. */
  private bytes: Buffer | null;
  /**
   * `bytes` are the item's own copy and nothing outside the store was handed them: only
   * then may a store of a value as long write over them (rewrite).
   */
  private bytesUnshared = false;
  private readRecord: (() => Buffer) | null = null;
  /** Length of the value and its CR LF. */
  readonly dataLength: number;
  /** Which publication to the records engine's read index this is (0: not published). */
  serial = 0;
  /** Its number in the read index's table while published (read-index.ts). */
  indexHandle = 0;
  /** Times the value was served before it became a record (records_min_hits). */
  serves = 0;
  /** The slab class whose LRU holds the item, and the class of each chunk of its memory. */
  lruClass = 0;
  chunks: readonly number[] = NO_CHUNKS;
  /** The expiry second the sweep files it under (0: none). */
  expiryBucket = 0;
  /** In the store's table under its key (memcached's ITEM_LINKED). */
  linked = false;
  /** Its neighbours on its slab class's LRU (lru-list.ts). */
  lruPrev: Item | null = null;
  lruNext: Item | null = null;

  constructor(
    readonly key: string,
    public flags: number,
    /** Relative expiry time; 0 never expires. */
    public exptime: number,
    /** The value followed by CR LF. Written over only by rewrite, while nothing outside the store has it. */
    data: Buffer,
    public cas: number,
    now: number,
    casEnabled: boolean,
  ) {
    this.time = now;
    this.bytes = data;
    this.dataLength = data.length;
    this.size = itemTotal(key.length, flags, data.length, casEnabled);
  }

  /** Takes its own copy of bytes it was made with but does not own (a request's buffer). */
  keepCopy(): void {
    const bytes = this.bytes as Buffer;
    const copy = Buffer.allocUnsafe(bytes.length);
    bytes.copy(copy);
    this.bytes = copy;
    this.bytesUnshared = true;
  }

  /**
   * The value followed by CR LF: the item's own bytes, or read from its record. Whoever
   * asks may keep them (a queued reply, a js record), so they are never written over after.
   */
  get data(): Buffer {
    this.bytesUnshared = false;
    return this.bytes ?? (this.readRecord as () => Buffer)();
  }

  /** The value followed by CR LF, for a caller that copies them before it returns. */
  get dataToCopy(): Buffer {
    return this.bytes ?? (this.readRecord as () => Buffer)();
  }

  /** Whether rewrite can take a value of this length (with its CR LF) into the item's own bytes. */
  canRewrite(dataLength: number): boolean {
    return this.bytesUnshared && this.record === null && (this.bytes as Buffer).length === dataLength;
  }

  /**
   * Makes this item the one a store would have linked in its place (same key, same size):
   * the new value copied over its bytes, and every other trait the new item's.
   */
  rewrite(flags: number, exptime: number, data: Buffer, cas: number, now: number, keyBinary: boolean): void {
    data.copy(this.bytes as Buffer);
    this.flags = flags;
    this.exptime = exptime;
    this.cas = cas;
    this.time = now;
    this.fetched = false;
    this.active = false;
    this.stale = false;
    this.tokenSent = false;
    this.keyBinary = keyBinary;
    this.serves = 0;
  }

  /**
   * The value now lives in a records-engine record: keep the handle, drop the item's own
   * bytes and read the record's when asked (append, incr, UDP), so the value is held once.
   */
  keepInRecord(record: unknown, readRecord: () => Buffer): void {
    this.record = record;
    this.readRecord = readRecord;
    this.bytes = null;
    this.bytesUnshared = false;
  }

  /** Reads a word of the item's LRU neighbours and of its bytes, to bring them into cache (Store.prefetchHinted). */
  touchNeighbours(): number {
    const prev = this.lruPrev;
    const next = this.lruNext;
    const bytes = this.bytes;
    return (prev === null ? 0 : prev.time) + (next === null ? 0 : next.time) + (bytes === null ? 0 : bytes[0]);
  }

  /** The value's length without its CR LF. */
  get valueLength(): number {
    return this.dataLength - 2;
  }
}
