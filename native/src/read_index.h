/*
 * The read index: what a GET would answer, published by the store (server/read-index.ts)
 * so the I/O thread can answer hits without JavaScript (serve_hits.cc).
 *
 * The store stays the one authority on cache semantics. The JS thread publishes each live
 * item (key, value, client flags, CAS, expiry) and removes it before the reply to any
 * mutation is queued (engine_binding.cc applies a submission's index changes before its
 * replies). The I/O thread only ever answers hits it can be sure of: a live, unexpired entry
 * with no flush_all due. Anything else goes to JS, which decides.
 *
 * Threads. Entries are immutable once published and reference counted: a reader takes a
 * reference under its shard's mutex and reads the entry after letting go, so it never sees
 * a torn entry and waits only for another thread's single table operation. A change
 * replaces the entry; the old one lives until its last reader is done with it.
 */
#ifndef RECORDCACHE_READ_INDEX_H
#define RECORDCACHE_READ_INDEX_H

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string_view>
#include <vector>

#include "record.h"

namespace recordcache {

struct MessageBody;

/* What an entry says about its item beyond its value. */
enum EntryTraits : uint8_t {
  /* mg may be answered natively: the item is not stale and no recache token was sent. */
  kTraitMetaPlain = 1,
  /* The key arrived base64 encoded (mg k returns it so). */
  kTraitKeyBinary = 2,
};

/* memcached refreshes a fetched item's time at most this often (ITEM_UPDATE_INTERVAL, seconds). */
constexpr int32_t kItemUpdateInterval = 60;

/* memcached's slab classes top out at 63 (MAX_NUMBER_OF_SLAB_CLASSES - 1). */
constexpr uint32_t kIndexClasses = 64;

/* The store's handles are dense array indices (read-index.ts); past this one is a bug. */
constexpr int32_t kMaxIndexHandle = (1 << 28) - 1;

struct IndexEntry {
  std::atomic<uint32_t> refs{1};
  /* Fetches the store knows of: 0 none, 1 fetched, 2 active (Store.bump). */
  std::atomic<uint8_t> fetch_state{0};
  /* The last second a fetch was reported to the store. */
  std::atomic<int32_t> reported_at{0};
  uint8_t traits = 0;
  uint8_t lru_class = 0;
  uint32_t flags = 0;
  /* Relative expiry second, 0 for never (Item.exptime). */
  int32_t exptime = 0;
  uint32_t key_length = 0;
  /* The value's length with its CR LF (Item.dataLength). */
  uint32_t data_length = 0;
  /* "VALUE <key> <flags> <bytes>", without the CAS or CR LF. */
  uint32_t header_length = 0;
  /* Which publication of the item this is (Item.serial): reports name it. */
  uint32_t serial = 0;
  /* The store's slot for the item (read-index.ts): reports name it with the serial. */
  int32_t handle = 0;
  uint64_t cas = 0;
  /*
   * When the value is a record: the whole reply to a text `get <key>`, made by the first such
   * hit and shared by every connection that asks after it (a reference held; serve_hits.cc).
   */
  std::atomic<MessageBody*> get_reply{nullptr};
  /* The value as a record (a reference held), or null when its bytes follow the header. */
  Record* record = nullptr;
  uint64_t record_serial = 0;
  /* key, header, then (record null) the value and its CR LF. */
  uint8_t bytes[1];

  const uint8_t* key() const { return bytes; }
  const uint8_t* header() const { return bytes + key_length; }
  /* The value and its CR LF. */
  const uint8_t* data() const { return record != nullptr ? record->data() : bytes + key_length + header_length; }
  uint32_t value_length() const { return data_length - 2; }
  void Ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  void Unref();
};

/* What JS publishes for one item. */
struct PublishedItem {
  const uint8_t* key;
  uint32_t key_length;
  /* The value with its CR LF, when not a record. */
  const uint8_t* data;
  uint32_t data_length;
  Record* record;  // referenced by the entry when not null
  uint64_t record_serial;
  uint32_t flags;
  int32_t exptime;
  uint64_t cas;
  uint32_t serial;
  int32_t handle;
  uint8_t lru_class;
  uint8_t traits;
  uint8_t fetch_state;
};

/* Counters of natively served requests, taken by JS into the store's at `stats`. */
struct ServedCounters {
  std::atomic<uint64_t> cmd_get{0};
  std::atomic<uint64_t> get_hits{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> class_hits[kIndexClasses] = {};
};

class ReadIndex {
 public:
  ReadIndex();
  ~ReadIndex();
  ReadIndex(const ReadIndex&) = delete;
  ReadIndex& operator=(const ReadIndex&) = delete;

  // JS thread.
  void Publish(const PublishedItem& item);
  void Remove(const uint8_t* key, uint32_t key_length);
  void Clear();
  /* flush_all: from relative second `oldest` on, nothing is answered natively until Settle. */
  void SetFlushDue(int32_t oldest) { flush_due_.store(oldest, std::memory_order_release); }
  /* The store's clock: a manual second, or (manual < 0) seconds from a CLOCK_MONOTONIC origin. */
  void SetClock(int32_t manual, int64_t origin_ns, int32_t start);
  /* Whether hits are answered natively at all (off under `stats detail on`). */
  void SetServing(bool on) { serving_.store(on, std::memory_order_release); }
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  /*
   * The store's handle and serial of key's entry (handle -1 when there is none): a hint for
   * the store's own lookup (key_hints.cc).
   */
  void FindHint(const uint8_t* key, uint32_t key_length, uint64_t hash, int32_t* handle, int32_t* serial) const;
  static uint64_t HashOf(const uint8_t* key, uint32_t key_length) {
    return Hash(std::string_view(reinterpret_cast<const char*>(key), key_length));
  }
  /* Start loading the slot where a key of this hash would be found, then the entry in it. */
  void PrefetchSlot(uint64_t hash) const {
    const Shard& shard = ShardOf(hash);
    if (!shard.slots.empty()) __builtin_prefetch(&shard.slots[hash & (shard.slots.size() - 1)]);
  }
  void PrefetchEntry(uint64_t hash) const {
    const Shard& shard = ShardOf(hash);
    if (!shard.slots.empty()) __builtin_prefetch(shard.slots[hash & (shard.slots.size() - 1)].entry);
  }
  /* The entry published under the store's handle, or null. */
  const IndexEntry* Published(int32_t handle) const {
    return handle >= 0 && static_cast<size_t>(handle) < by_handle_.size() ? by_handle_[handle] : nullptr;
  }

  // Any thread.
  /* The entry for key with a reference, if it may be answered natively at `now`. */
  IndexEntry* Find(const uint8_t* key, uint32_t key_length, int32_t now);
  /* The store's current second. */
  int32_t Now() const;
  bool serving() const { return serving_.load(std::memory_order_acquire); }
  /* Counts a natively served hit; true when the store must hear of this fetch (Report). */
  bool CountHit(IndexEntry* entry, int32_t now);
  ServedCounters& counters() { return counters_; }

 private:
  static constexpr size_t kShards = 64;
  /* An open-addressing table (linear probing, at most half full): one cache line per probe. */
  struct Slot {
    uint64_t hash;
    IndexEntry* entry;  // null: empty
  };
  struct Shard {
    std::mutex mu;
    std::vector<Slot> slots;
    size_t count = 0;
  };
  static uint64_t Hash(std::string_view key) { return std::hash<std::string_view>{}(key); }
  Shard& ShardOf(uint64_t hash) { return shards_[(hash >> 58) % kShards]; }
  const Shard& ShardOf(uint64_t hash) const { return shards_[(hash >> 58) % kShards]; }
  /* Where key is in the shard, or where it would go; the shard's mutex is held. */
  static size_t Probe(const Shard& shard, uint64_t hash, std::string_view key);
  static void Grow(Shard& shard);
  static void EraseAt(Shard& shard, size_t at);
  /* old leaves the table: it no longer answers for its handle. */
  void Forget(const IndexEntry* old) {
    if (static_cast<size_t>(old->handle) < by_handle_.size() && by_handle_[old->handle] == old)
      by_handle_[old->handle] = nullptr;
  }

  Shard shards_[kShards];
  /* The entry in the table under each store handle (JS thread only: it alone writes the table). */
  std::vector<const IndexEntry*> by_handle_;
  std::atomic<size_t> size_{0};
  std::atomic<int32_t> flush_due_{0};
  std::atomic<bool> serving_{true};
  std::atomic<int32_t> manual_now_{-1};
  std::atomic<int64_t> origin_ns_{0};
  std::atomic<int32_t> start_{0};
  ServedCounters counters_;
};

}  // namespace recordcache

#endif
