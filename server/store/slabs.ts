/*
 * Memory as memcached's slab allocator accounts it, so that the same items fit and the
 * same ones are evicted. Memory comes in 1 MB pages, each given to one slab class and cut
 * into that class's chunks; every class may take its first page even past the limit;
 * once no page is left, an item evicts from its own class. Items larger than
 * slab_chunk_max are a header plus chunks of the largest class, the last one sized down.
 * Only the accounting is kept: values live in their own Buffers.
 */

import { ITEM_HEADER } from '../memcached/item';

export const SLAB_PAGE_SIZE = 1024 * 1024;
/** sizeof(item_chunk): the header of each chunk of a large item. */
export const CHUNK_HEADER = 48;
const CHUNK_ALIGN_BYTES = 8;
const MAX_NUMBER_OF_SLAB_CLASSES = 64;

/**
 * Chunk sizes of memcached's slab classes for these settings (slabs_init); index i is class
 * i + 1. `explicit` (-o slab_sizes) replaces the classes that -n and -f would make.
 */
export function slabClassSizes(chunkSize: number, factor: number, slabChunkMax: number, explicit: number[] | null = null): number[] {
  const sizes: number[] = [];
  let size = ITEM_HEADER + chunkSize;
  while (sizes.length < MAX_NUMBER_OF_SLAB_CLASSES - 2) {
    if (explicit !== null) {
      if (sizes.length >= explicit.length) break;
      size = explicit[sizes.length];
    } else if (size >= slabChunkMax / factor) break;
    if (size % CHUNK_ALIGN_BYTES !== 0) size += CHUNK_ALIGN_BYTES - (size % CHUNK_ALIGN_BYTES);
    sizes.push(size);
    size = Math.floor(size * factor);
  }
  sizes.push(slabChunkMax);
  return sizes;
}

export interface SlabSettings {
  limitBytes: number;
  chunkSize: number;
  factor: number;
  slabChunkMax: number;
  /** -o slab_sizes, or null. */
  sizes?: number[] | null;
}

/** Where an item's memory sits: the class whose LRU it is on, and each chunk's class. */
export interface ItemLayout {
  lruClass: number;
  /** Shared when the item fits one chunk: never written. */
  chunks: readonly number[];
}

export class SlabMemory {
  readonly sizes: number[];
  private readonly perPage: number[];
  /** Pages given to each class (index = class id). */
  readonly pages: number[];
  /** Chunks in use in each class. */
  readonly used: number[];
  /** Bytes of pages handed out. */
  malloced = 0;
  private readonly largest: number;
  /** The layout of an item that fits one chunk of each class, made once (index = class id). */
  private readonly oneChunk: ItemLayout[];

  constructor(private readonly settings: SlabSettings) {
    this.sizes = slabClassSizes(settings.chunkSize, settings.factor, settings.slabChunkMax, settings.sizes ?? null);
    this.largest = this.sizes.length;
    this.perPage = [0, ...this.sizes.map((size) => Math.max(1, Math.floor(SLAB_PAGE_SIZE / size)))];
    this.pages = new Array(this.sizes.length + 1).fill(0);
    this.used = new Array(this.sizes.length + 1).fill(0);
    this.oneChunk = this.perPage.map((_, id) => ({ lruClass: id, chunks: [id] }));
  }

  /** memcached's slabs_clsid: the smallest class whose chunks hold `size` bytes. */
  classOf(size: number): number {
    for (let i = 0; i < this.sizes.length; i++) if (size <= this.sizes[i]) return i + 1;
    return this.largest;
  }

  chunkSizeOf(id: number): number {
    return this.sizes[id - 1];
  }

  chunksPerPage(id: number): number {
    return this.perPage[id];
  }

  /**
   * The chunks an item of `ntotal` bytes takes (do_item_alloc): one chunk, or for a large
   * item a header chunk plus data chunks, the last in the smallest class that holds it.
   */
  layout(ntotal: number, nkey: number, flags: number, nbytes: number, casEnabled: boolean): ItemLayout {
    const chunkMax = this.settings.slabChunkMax;
    const lruClass = this.classOf(ntotal);
    if (ntotal <= chunkMax) return this.oneChunk[lruClass];
    const headerBytes = nkey + 1 + (flags === 0 ? 0 : 4) + ITEM_HEADER + CHUNK_HEADER + (casEnabled ? 8 : 0);
    const chunks = [this.classOf(headerBytes)];
    let remain = nbytes;
    while (remain > 0) {
      const size = Math.min(remain + CHUNK_HEADER, chunkMax);
      chunks.push(this.classOf(size));
      remain -= size - CHUNK_HEADER;
    }
    return { lruClass, chunks };
  }

  /** Takes a free chunk of class `id`, with a new page if the limit allows. */
  tryTake(id: number): boolean {
    if (this.used[id] < this.pages[id] * this.perPage[id]) {
      this.used[id]++;
      return true;
    }
    // Every class gets its first page, even past the limit (do_slabs_newslab).
    if (this.malloced + SLAB_PAGE_SIZE > this.settings.limitBytes && this.pages[id] > 0) return false;
    this.pages[id]++;
    this.malloced += SLAB_PAGE_SIZE;
    this.used[id]++;
    return true;
  }

  give(id: number): void {
    this.used[id]--;
  }

  /** The largest class: the fallback for a large item's last chunk. */
  get largestClass(): number {
    return this.largest;
  }
}
