import assert from 'node:assert/strict';
import { type Item, REALTIME_MAXDELTA, Store } from '../server/store/store';
import { ArithStatus, StoreResult, type StoreOptions } from '../server/store/types';
import { StoreMode } from '../server/memcached/item';
import { ManualClock } from '../server/store/clock';

const MB = 1024 * 1024;
const crlf = (s: string) => Buffer.from(s + '\r\n', 'latin1');

function newStore(options: Partial<StoreOptions> = {}) {
  const clock = new ManualClock();
  const store = new Store({ maxBytes: 64 * MB, itemSizeMax: MB, casEnabled: true, noEvict: false, ...options }, clock);
  return { store, clock };
}

function value(store: Store, key: string): string | null {
  const item = store.peek(key);
  return item === null ? null : item.data.subarray(0, item.data.length - 2).toString('latin1');
}

describe('store', () => {
  it('stores by mode: add only when missing, replace only when present', () => {
    const { store } = newStore();
    assert.equal(store.store(StoreMode.Replace, 'k', 0, 0, crlf('a')), StoreResult.NotStored);
    assert.equal(store.store(StoreMode.Add, 'k', 0, 0, crlf('a')), StoreResult.Stored);
    assert.equal(store.store(StoreMode.Add, 'k', 0, 0, crlf('b')), StoreResult.NotStored);
    assert.equal(store.store(StoreMode.Replace, 'k', 0, 0, crlf('c')), StoreResult.Stored);
    assert.equal(value(store, 'k'), 'c');
  });

  it('append and prepend keep the old flags and expiry', () => {
    const { store, clock } = newStore();
    store.store(StoreMode.Set, 'k', 7, 100, crlf('mid'));
    clock.advance(3);
    store.store(StoreMode.Append, 'k', 1, 0, crlf('>'));
    store.store(StoreMode.Prepend, 'k', 2, 0, crlf('<'));
    const item = store.peek('k');
    assert.equal(value(store, 'k'), '<mid>');
    assert.equal(item?.flags, 7);
    // Relative expiry is kept in memcached's clock, which starts at 62: set at 62, +100.
    assert.equal(item?.exptime, 162);
  });

  it('converts exptimes as memcached realtime() does', () => {
    // Clock at 62 s; the process started at Unix time 1_700_000_000 - 62.
    const { store, clock } = newStore();
    const started = 1_700_000_000 - 62;
    const cases: [number, number][] = [
      [0, 0], // never
      [1, 63], // relative: now + 1
      [2592000, 62 + 2592000], // 30 days: still relative
      [2592001, 1], // past 30 days it is a Unix time; this one is long before the start
      [started, 1], // at the start itself: already past
      [started + 1, 1],
      [started + 500, 500],
      [-1, 1], // negative: expired at once (memcached turns it into REALTIME_MAXDELTA + 1 first)
    ];
    for (const [exptime, expected] of cases) assert.equal(store.realtime(exptime), expected, `exptime ${exptime}`);
    clock.advance(10);
    assert.equal(store.realtime(5), 77);
  });

  it('gives every mutation a new CAS and checks it on cas', () => {
    const { store } = newStore();
    // memcached's CAS ids count up from 1, one per linked item or in-place rewrite.
    store.store(StoreMode.Set, 'k', 0, 0, crlf('1'));
    assert.equal(store.peek('k')!.cas, 1);
    assert.equal(store.store(StoreMode.Cas, 'k', 0, 0, crlf('2'), 1001n), StoreResult.Exists);
    assert.equal(store.peek('k')!.cas, 1, 'a refused cas changes nothing');
    assert.equal(store.store(StoreMode.Cas, 'k', 0, 0, crlf('2'), 1n), StoreResult.Stored);
    assert.equal(store.peek('k')!.cas, 2);
    store.arith('k', true, 1n);
    assert.equal(store.peek('k')!.cas, 3);
    assert.equal(store.store(StoreMode.Cas, 'missing', 0, 0, crlf('x'), 1n), StoreResult.NotFound);
    assert.equal(store.counters.cas_badval, 1);
    assert.equal(store.counters.cas_hits, 1);
    assert.equal(store.counters.cas_misses, 1);
  });

  it('has no CAS ids with -C', () => {
    const { store } = newStore({ casEnabled: false });
    store.store(StoreMode.Set, 'k', 0, 0, crlf('1'));
    assert.equal(store.peek('k')!.cas, 0);
  });

  it('incr wraps at 2^64, decr stops at 0, shorter results are space padded', () => {
    const { store } = newStore();
    store.store(StoreMode.Set, 'n', 0, 0, crlf('18446744073709551615'));
    assert.equal(store.arith('n', true, 2n).value, 1n);
    store.store(StoreMode.Set, 'n', 0, 0, crlf('100'));
    const r = store.arith('n', false, 1n);
    assert.equal(r.status, ArithStatus.Ok);
    assert.equal(r.value, 99n);
    assert.equal(value(store, 'n'), '99 ');
    assert.equal(store.arith('n', false, 1000n).value, 0n);
    assert.equal(store.arith('n', true, 12345n).value, 12345n);
    assert.equal(value(store, 'n'), '12345');
  });

  it('incr on non-numbers and missing keys', () => {
    const { store } = newStore();
    store.store(StoreMode.Set, 's', 0, 0, crlf('12abc'));
    store.store(StoreMode.Set, 'e', 0, 0, crlf(''));
    assert.equal(store.arith('s', true, 1n).status, ArithStatus.NonNumeric);
    assert.equal(store.arith('e', true, 1n).status, ArithStatus.NonNumeric);
    assert.equal(store.arith('none', true, 1n).status, ArithStatus.NotFound);
    assert.equal(store.counters.incr_misses, 1);
  });

  it('expires relative, absolute and negative exptimes', () => {
    const { store, clock } = newStore();
    store.store(StoreMode.Set, 'rel', 0, 10, crlf('x'));
    store.store(StoreMode.Set, 'abs', 0, clock.processStarted + clock.now() + 20, crlf('x'));
    store.store(StoreMode.Set, 'past', 0, REALTIME_MAXDELTA + 1, crlf('x'));
    store.store(StoreMode.Set, 'neg', 0, -1, crlf('x'));
    assert.equal(store.get('past'), null);
    assert.equal(store.get('neg'), null);
    clock.advance(9);
    assert.notEqual(store.get('rel'), null);
    clock.advance(1);
    assert.equal(store.get('rel'), null);
    assert.notEqual(store.get('abs'), null);
    clock.advance(10);
    assert.equal(store.get('abs'), null);
    assert.equal(store.counters.get_expired, 4);
  });

  it('the sweep grows the hash power past 1.5 items a bucket, unless told not to (no_hashexpand)', () => {
    for (const hashExpand of [true, false]) {
      const { store, clock } = newStore({ hashPowerInit: 12, hashExpand });
      assert.equal(store.hashPower, 12);
      for (let i = 0; i <= 6144; i++) store.store(StoreMode.Set, `k${i}`, 0, 0, crlf(''));
      clock.advance(1);
      store.sweep();
      assert.equal(store.hashPower, hashExpand ? 13 : 12);
    }
    assert.equal(newStore().store.hashPower, 16);
  });

  it('the sweep reclaims expired items nobody asks for', () => {
    const { store, clock } = newStore();
    for (let i = 0; i < 100; i++) store.store(StoreMode.Set, `k${i}`, 0, 5, crlf('x'));
    store.store(StoreMode.Set, 'forever', 0, 0, crlf('x'));
    assert.equal(store.currItems, 101);
    clock.advance(5);
    store.sweep();
    assert.equal(store.currItems, 1);
    // sizeof(item) 48 + "forever" and its NUL 8 + "x\r\n" 3 + CAS 8 (memcached: `STAT bytes 67`).
    assert.equal(store.bytes, 67);
  });

  it('charges each item what memcached charges it', () => {
    const { store } = newStore();
    // 48 header + key + NUL + 4 if the flags are nonzero + value + CR LF + 8 CAS.
    store.store(StoreMode.Set, 'f2', 5, 0, crlf('x'));
    assert.equal(store.bytes, 48 + 3 + 4 + 3 + 8);
    store.store(StoreMode.Set, 'k', 0, 0, crlf('y'.repeat(1000)));
    assert.equal(store.bytes, 66 + 48 + 2 + 1002 + 8);
    store.delete('f2');
    assert.equal(store.bytes, 1060);
    const noCas = newStore({ casEnabled: false }).store;
    noCas.store(StoreMode.Set, 'k', 0, 0, crlf('y'.repeat(1000)));
    assert.equal(noCas.bytes, 1052);
  });

  it('touch moves the expiry, and the sweep follows it', () => {
    const { store, clock } = newStore();
    store.store(StoreMode.Set, 'k', 0, 5, crlf('x'));
    assert.notEqual(store.touch('k', 100), null);
    clock.advance(10);
    store.sweep();
    assert.notEqual(store.get('k'), null);
    assert.equal(store.touch('missing', 1), null);
  });

  it('flush_all hides everything stored before it, including this second', () => {
    const { store } = newStore();
    store.store(StoreMode.Set, 'a', 0, 0, crlf('1'));
    store.flushAll(0);
    assert.equal(store.get('a'), null);
    store.store(StoreMode.Set, 'b', 0, 0, crlf('2'));
    assert.notEqual(store.get('b'), null);
    // a took CAS 1 and the flush 2 (memcached's get_cas_id in flush_all): b has 3.
    assert.equal(store.peek('b')!.cas, 3);
  });

  it('the sweep reclaims flushed items nobody asks for, counting them as memcached does', () => {
    const { store } = newStore();
    store.store(StoreMode.Set, 'a', 0, 0, crlf('1'));
    store.store(StoreMode.Set, 'b', 0, 0, crlf('2'));
    assert.notEqual(store.get('b'), null);
    store.flushAll(0);
    store.sweep();
    assert.equal(store.currItems, 0);
    // memcached's LRU maintainer: reclaimed for each, expired_unfetched for the unfetched one;
    // a fetch that finds a flushed item counts get_flushed instead (so each item counts once).
    assert.equal(store.counters.reclaimed, 2);
    assert.equal(store.counters.expired_unfetched, 1);
    assert.equal(store.counters.get_flushed, 0);
    assert.equal(store.get('a'), null);
    assert.equal(store.counters.get_flushed, 0);
  });

  it('delayed flush_all takes effect when its time comes', () => {
    const { store, clock } = newStore();
    store.store(StoreMode.Set, 'a', 0, 0, crlf('1'));
    store.flushAll(5);
    assert.notEqual(store.get('a'), null);
    clock.advance(5);
    assert.equal(store.get('a'), null);
  });

  it('evicts the oldest item of the same slab class once no page is left', () => {
    // 2 MB is two pages of ten 100 KB chunks each.
    const { store } = newStore({ maxBytes: 2 * MB });
    const v = crlf('x'.repeat(100000));
    for (let i = 0; i < 20; i++) assert.equal(store.store(StoreMode.Set, `k${i}`, 0, 0, v), StoreResult.Stored);
    assert.equal(store.counters.evictions, 0);
    store.store(StoreMode.Set, 'k20', 0, 0, v);
    assert.equal(store.peek('k0'), null);
    assert.notEqual(store.peek('k1'), null);
    assert.equal(store.counters.evictions, 1);
    // Small items take a page of their own class, and evict nothing of the large ones.
    store.store(StoreMode.Set, 'small', 0, 0, crlf('s'));
    assert.equal(store.counters.evictions, 1);
  });

  it("spares an item fetched twice once, as memcached's active items are", () => {
    const { store } = newStore({ maxBytes: 2 * MB });
    const v = crlf('x'.repeat(100000));
    for (let i = 0; i < 20; i++) store.store(StoreMode.Set, `k${i}`, 0, 0, v);
    store.get('k0');
    store.get('k0');
    store.store(StoreMode.Set, 'k20', 0, 0, v);
    assert.notEqual(store.peek('k0'), null);
    assert.equal(store.peek('k1'), null);
  });

  it('-M refuses instead of evicting', () => {
    const { store } = newStore({ maxBytes: 2 * MB, noEvict: true });
    const v = crlf('x'.repeat(100000));
    for (let i = 0; i < 20; i++) store.store(StoreMode.Set, `k${i}`, 0, 0, v);
    assert.equal(store.store(StoreMode.Set, 'k20', 0, 0, v), StoreResult.NoMemory);
    assert.notEqual(store.peek('k0'), null);
    assert.equal(store.counters.store_no_memory, 1);
  });

  it('refuses items past -I, and a refused set drops the old value', () => {
    const { store } = newStore({ itemSizeMax: 1024 });
    store.store(StoreMode.Set, 'k', 0, 0, crlf('small'));
    assert.equal(store.store(StoreMode.Set, 'k', 0, 0, crlf('x'.repeat(2000))), StoreResult.TooLarge);
    assert.equal(store.peek('k'), null);
    assert.equal(store.counters.store_too_large, 1);
  });

  it('tells the server when an item leaves, for any reason', () => {
    const { store, clock } = newStore();
    const gone: string[] = [];
    store.onUnlink = (item) => gone.push(item.key);
    store.store(StoreMode.Set, 'a', 0, 0, crlf('1'));
    // A value of another length is a new item; the old one leaves.
    store.store(StoreMode.Set, 'a', 0, 0, crlf('22'));
    store.store(StoreMode.Set, 'b', 0, 1, crlf('1'));
    store.delete('a');
    clock.advance(1);
    store.sweep();
    assert.deepEqual(gone, ['a', 'a', 'b']);
  });

  it('a set over an item whose bytes nothing else has seen rewrites it, ending as a new item would', () => {
    // Two stores run one random sequence. In `linked`, every item's bytes are handed out
    // after each command, so each of its sets links a new item, as memcached does; in
    // `rewritten` a set of a value as long as the old one may rewrite the old item.
    // Small memory, so allocation evicts and -M refuses in both.
    for (const noEvict of [false, true]) {
      const rewritten = newStore({ maxBytes: 2 * MB, noEvict });
      const linked = newStore({ maxBytes: 2 * MB, noEvict });
      let seed = 12345;
      const random = (n: number) => {
        seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff;
        return seed % n;
      };
      let kept = 0;
      for (let i = 0; i < 30000; i++) {
        const key = `k${random(400)}`;
        const op = random(100);
        const length = [8, 8, 8, 9, 1500, 30000][random(6)];
        const data = crlf(String(i % 10).repeat(length));
        const flags = random(10) === 0 ? 5 : 0;
        const exptime = random(5) === 0 ? 2 : 0;
        const wrongCas = BigInt(random(2));
        const before = rewritten.store.linkedItem(key);
        const results = [rewritten, linked].map(({ store, clock }) => {
          if (op < 70) return store.store(StoreMode.Set, key, flags, exptime, data);
          if (op < 75) {
            const cas = BigInt(store.linkedItem(key)?.cas ?? 0) + wrongCas;
            return store.store(StoreMode.Cas, key, flags, exptime, data, cas);
          }
          if (op < 78) return store.store(StoreMode.Replace, key, flags, exptime, data);
          if (op < 90) return store.get(key)?.cas ?? -1;
          if (op < 95) return store.delete(key);
          if (op < 97) return store.flushAll(0);
          clock.advance(1);
          return store.sweep();
        });
        assert.deepEqual(results[0], results[1], `command ${i}`);
        if (before !== null && before === rewritten.store.linkedItem(key) && op < 78) kept++;
        void linked.store.linkedItem(key)?.data;
      }
      const state = ({ store }: ReturnType<typeof newStore>) => ({
        counters: { ...store.counters },
        pages: [...store.slabs.pages],
        used: [...store.slabs.used],
        lrus: store.slabs.sizes.map((_, i) =>
          [...store.lruItems(i + 1)].map((it) => [
            it.key,
            it.flags,
            it.exptime,
            it.cas,
            it.time,
            it.fetched,
            it.active,
            it.dataToCopy.toString('latin1'),
          ]),
        ),
      });
      assert.deepEqual(state(rewritten), state(linked));
      // The sequence did take the rewrite (an item kept its object across a set).
      assert.ok(kept > 1000, `${kept} sets rewrote their item`);
    }
  });

  it('never writes over bytes it has handed out', () => {
    const { store } = newStore();
    store.store(StoreMode.Set, 'k', 0, 0, crlf('old'));
    const handedOut = (store.peek('k') as NonNullable<ReturnType<Store['peek']>>).data;
    store.store(StoreMode.Set, 'k', 0, 0, crlf('new'));
    assert.equal(handedOut.toString('latin1'), 'old\r\n');
    assert.equal(value(store, 'k'), 'new');
    // Handed out again by value(): the next set must not write over those either.
    const again = store.peek('k')?.data as Buffer;
    store.store(StoreMode.Set, 'k', 0, 0, crlf('3rd'));
    assert.equal(again.toString('latin1'), 'new\r\n');
  });

  it("takes the engine's key hint only while the item carries the hinted serial, and uses it up", () => {
    const { store } = newStore();
    store.store(StoreMode.Set, 'a', 0, 0, crlf('1'));
    store.store(StoreMode.Set, 'b', 0, 0, crlf('2'));
    const a = store.linkedItem('a') as Item;
    const b = store.linkedItem('b') as Item;
    // What read-index.ts keeps: items by handle, each with its publication's serial.
    store.itemsByHandle = [a, b];
    a.serial = 10;
    b.serial = 11;
    // A matching serial is trusted without reading the key (the engine compared it), so a
    // hint for 'a' handed to a store of 'zz' shows it is taken: the add finds 'a'.
    store.setKeyHint(0, 10);
    assert.equal(store.store(StoreMode.Add, 'zz', 0, 0, crlf('x')), StoreResult.NotStored);
    assert.equal(store.keyHint, -1, 'used up');
    assert.equal(store.peek('zz'), null);
    // A stale serial, one past the table, none: the key table decides.
    for (const [handle, serial] of [
      [0, 9],
      [7, 10],
      [-1, 0],
    ]) {
      store.setKeyHint(handle, serial);
      assert.equal(store.store(StoreMode.Add, 'zz', 0, 0, crlf('x')), StoreResult.Stored, `hint ${handle}/${serial}`);
      assert.equal(store.keyHint, -1);
      store.delete('zz');
    }
    // A hint whose item has been unlinked (its serial cleared, as read-index.ts does): not taken.
    store.delete('b');
    b.serial = 0;
    store.setKeyHint(1, 0);
    assert.equal(store.store(StoreMode.Add, 'b', 0, 0, crlf('3')), StoreResult.Stored);
    assert.equal(value(store, 'b'), '3');
    // Only a store takes a hint: a lookup of another key is not answered from it.
    store.setKeyHint(0, 10);
    assert.equal(store.peek('c'), null);
    assert.equal(store.keyHint, 0);
  });
});
