/*
 * memcached's item model as both the protocol and the store need it: the storage modes a
 * request asks for, and the bytes memcached charges an item (ITEM_ntotal), which decide
 * both "too large" at framing time and memory use in the store.
 */

export const enum StoreMode {
  Set = 1,
  Add,
  Replace,
  Append,
  Prepend,
  Cas,
}

/** sizeof(item) on 64-bit memcached 1.6: the header every item carries. */
export const ITEM_HEADER = 48;

/** Bytes memcached charges an item: header, key + NUL, client flags if nonzero, data + CR LF, CAS. */
export function itemTotal(nkey: number, flags: number, nbytesWithCrlf: number, casEnabled: boolean): number {
  return ITEM_HEADER + nkey + 1 + (flags === 0 ? 0 : 4) + nbytesWithCrlf + (casEnabled ? 8 : 0);
}
