/*
 * The slab accounting (server/store/slabs.ts) against memcached 1.6.18's allocator: the
 * class tables are the ones `memcached -vv` prints for the same -n, -f and slab_chunk_max,
 * and the large-item layout is the one `stats slabs` shows after storing such an item
 * (a 600000-byte value under "big": chunks in classes 2, 39 and 31, on class 39's LRU).
 */

import assert from 'node:assert/strict';
import { SLAB_PAGE_SIZE, SlabMemory, slabClassSizes } from '../server/store/slabs';

const MB = 1024 * 1024;

/** `memcached -vv` "slab class N: chunk size S perslab P", as [S, P] by class. */
const DEFAULT_CLASSES: [number, number][] = [
  [96, 10922],
  [120, 8738],
  [152, 6898],
  [192, 5461],
  [240, 4369],
  [304, 3449],
  [384, 2730],
  [480, 2184],
  [600, 1747],
  [752, 1394],
  [944, 1110],
  [1184, 885],
  [1480, 708],
  [1856, 564],
  [2320, 451],
  [2904, 361],
  [3632, 288],
  [4544, 230],
  [5680, 184],
  [7104, 147],
  [8880, 118],
  [11104, 94],
  [13880, 75],
  [17352, 60],
  [21696, 48],
  [27120, 38],
  [33904, 30],
  [42384, 24],
  [52984, 19],
  [66232, 15],
  [82792, 12],
  [103496, 10],
  [129376, 8],
  [161720, 6],
  [202152, 5],
  [252696, 4],
  [315872, 3],
  [394840, 2],
  [524288, 2],
];
/** memcached -vv -f 2 -n 100 */
const FACTOR_2_CLASSES: [number, number][] = [
  [152, 6898],
  [304, 3449],
  [608, 1724],
  [1216, 862],
  [2432, 431],
  [4864, 215],
  [9728, 107],
  [19456, 53],
  [38912, 26],
  [77824, 13],
  [155648, 6],
  [524288, 2],
];
/** memcached -vv -o slab_chunk_max=65536: the default table cut off, then one 64 KiB class. */
const CHUNK_MAX_64K_CLASSES: [number, number][] = [...DEFAULT_CLASSES.slice(0, 28), [65536, 16]];

const geometries: [string, { chunkSize: number; factor: number; slabChunkMax: number }, [number, number][]][] = [
  ['defaults (-n 48 -f 1.25)', { chunkSize: 48, factor: 1.25, slabChunkMax: 512 * 1024 }, DEFAULT_CLASSES],
  ['-n 100 -f 2', { chunkSize: 100, factor: 2, slabChunkMax: 512 * 1024 }, FACTOR_2_CLASSES],
  ['-o slab_chunk_max=65536', { chunkSize: 48, factor: 1.25, slabChunkMax: 65536 }, CHUNK_MAX_64K_CLASSES],
];

function memory(limitBytes = 64 * MB, geometry = geometries[0][1]): SlabMemory {
  return new SlabMemory({ limitBytes, ...geometry });
}

describe('slabs: classes as memcached sizes them', () => {
  for (const [name, geometry, classes] of geometries) {
    it(`chunk sizes and chunks per page, ${name}`, () => {
      assert.deepEqual(
        slabClassSizes(geometry.chunkSize, geometry.factor, geometry.slabChunkMax),
        classes.map(([size]) => size),
      );
      const m = memory(64 * MB, geometry);
      for (let id = 1; id <= classes.length; id++) {
        assert.equal(m.chunkSizeOf(id), classes[id - 1][0], `class ${id} size`);
        assert.equal(m.chunksPerPage(id), classes[id - 1][1], `class ${id} per page`);
      }
      assert.equal(m.largestClass, classes.length);
    });
  }

  it('puts an item in the smallest class that holds it (slabs_clsid)', () => {
    const m = memory();
    const table: [number, number][] = [
      [1, 1],
      [96, 1],
      [97, 2],
      [120, 2],
      [121, 3],
      [65, 1], // "foo" = "bar": 48 + 4 + 5 + 8
      [524288, 39],
      // Larger than any chunk: chunked, on the largest class.
      [524289, 39],
      [MB, 39],
    ];
    for (const [size, id] of table) assert.equal(m.classOf(size), id, `size ${size}`);
  });
});

describe("slabs: where an item's memory sits", () => {
  it('an item up to slab_chunk_max is one chunk of its class', () => {
    const m = memory();
    assert.deepEqual(m.layout(65, 3, 0, 5, true), { lruClass: 1, chunks: [1] });
    assert.deepEqual(m.layout(524288, 3, 0, 524288 - 60, true), { lruClass: 39, chunks: [39] });
  });

  it('a larger item is a header chunk and data chunks, the last one sized down', () => {
    const m = memory();
    // "big", 600000 bytes + CR LF: 48 + 4 + 600002 + 8 = 600062 bytes.
    // Header: key 3 + NUL 1 + item 48 + item_chunk 48 + CAS 8 = 108 -> class 2 (120).
    // Data: one full 524288 chunk carries 524240 bytes; 75762 + 48 = 75810 -> class 31 (82792).
    assert.deepEqual(m.layout(600062, 3, 0, 600002, true), { lruClass: 39, chunks: [2, 39, 31] });
    // Client flags add 4 to the header (112, still class 2); without CAS it is 100 (class 2).
    assert.deepEqual(m.layout(600066, 3, 7, 600002, true), { lruClass: 39, chunks: [2, 39, 31] });
    // Data that fills whole chunks exactly needs no last small one.
    assert.deepEqual(m.layout(524300, 3, 0, 524240, true), { lruClass: 39, chunks: [2, 39] });
    // A 250-byte key: header 250 + 1 + 48 + 48 + 8 = 355 -> class 7 (384).
    assert.deepEqual(m.layout(48 + 251 + 600002 + 8, 250, 0, 600002, true), { lruClass: 39, chunks: [7, 39, 31] });
  });
});

describe('slabs: pages under the memory limit', () => {
  it('hands out chunks from a page, then new pages while the limit allows', () => {
    // -m 2: two pages. Class 39 has two chunks a page.
    const m = memory(2 * MB);
    for (let i = 0; i < 4; i++) assert.equal(m.tryTake(39), true, `chunk ${i + 1}`);
    assert.equal(m.pages[39], 2);
    assert.equal(m.used[39], 4);
    assert.equal(m.malloced, 2 * SLAB_PAGE_SIZE);
    assert.equal(m.tryTake(39), false, 'no page left');
    // A chunk given back is taken again without a new page.
    m.give(39);
    assert.equal(m.used[39], 3);
    assert.equal(m.tryTake(39), true);
    assert.equal(m.malloced, 2 * SLAB_PAGE_SIZE);
  });

  it('gives every class its first page even past the limit, and no second', () => {
    const m = memory(1 * MB);
    assert.equal(m.tryTake(39), true);
    assert.equal(m.tryTake(39), true);
    assert.equal(m.tryTake(39), false);
    // Class 1 has no page yet: it gets one past the limit (do_slabs_newslab).
    assert.equal(m.tryTake(1), true);
    assert.equal(m.malloced, 2 * SLAB_PAGE_SIZE);
    for (let i = 1; i < 10922; i++) assert.equal(m.tryTake(1), true);
    assert.equal(m.tryTake(1), false, 'the page is full and the limit reached');
    assert.equal(m.pages[1], 1);
  });
});
