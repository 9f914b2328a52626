/*
 * What the store is given (StoreOptions) and what its operations answer.
 */

import type { Item } from './item';

export const enum StoreResult {
  Stored = 1,
  NotStored,
  Exists,
  NotFound,
  TooLarge,
  NoMemory,
  /** A large item's data chunks could not be had (memcached finds out while reading it). */
  NoMemoryDuringRead,
}

export interface StoreOptions {
  maxBytes: number;
  itemSizeMax: number;
  casEnabled: boolean;
  /** -M: refuse to store instead of evicting. */
  noEvict: boolean;
  /** Slab geometry (-n, -f, slab_chunk_max, slab_sizes); memcached's defaults when absent. */
  slabs?: { chunkSize: number; factor: number; slabChunkMax: number; sizes?: number[] | null };
  /** -o hashpower: the hash table's initial power of two; memcached's 16 when absent. */
  hashPowerInit?: number;
  /** false for -o no_hashexpand: the table never grows. */
  hashExpand?: boolean;
}

export const enum ArithStatus {
  Ok = 1,
  NotFound,
  NonNumeric,
  CasMismatch,
  NoMemory,
}

export interface ArithResult {
  status: ArithStatus;
  value: bigint;
  item: Item | null;
  /**
   * The result did not fit and went into a new item. memcached's ma then applies T to the
   * old item, so the new TTL is lost.
   */
  replaced: boolean;
}
