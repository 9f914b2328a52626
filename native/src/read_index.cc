/*
 * The read index (read_index.h): entries, the sharded table, the store's clock.
 */
#include "read_index.h"

#include <time.h>

#include <cstdlib>
#include <cstring>
#include <new>

#include "engine.h"
#include "reply_bytes.h"

namespace recordcache {

void IndexEntry::Unref() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (record != nullptr) record->Unref();
  if (MessageBody* reply = get_reply.load(std::memory_order_acquire)) reply->Unref();
  this->~IndexEntry();
  free(this);
}

ReadIndex::ReadIndex() = default;

ReadIndex::~ReadIndex() { Clear(); }

// JS thread: builds the new entry outside any lock, then swaps it in.
void ReadIndex::Publish(const PublishedItem& item) {
  // "VALUE " key " " flags " " bytes: the key is copied after, between the two parts.
  uint8_t header[2 + 2 * 20];
  size_t tail = 0;
  header[tail++] = ' ';
  tail += WriteDecimal(header + tail, item.flags);
  header[tail++] = ' ';
  tail += WriteDecimal(header + tail, item.data_length - 2);
  const uint32_t header_length = 6 + item.key_length + static_cast<uint32_t>(tail);
  const uint32_t inline_length = item.record != nullptr ? 0 : item.data_length;
  const size_t size = offsetof(IndexEntry, bytes) + item.key_length + header_length + inline_length;
  void* block = malloc(size);
  if (block == nullptr) abort();
  IndexEntry* entry = new (block) IndexEntry();
  entry->traits = item.traits;
  entry->lru_class = item.lru_class;
  entry->flags = item.flags;
  entry->exptime = item.exptime;
  entry->key_length = item.key_length;
  entry->data_length = item.data_length;
  entry->header_length = header_length;
  entry->serial = item.serial;
  entry->handle = item.handle;
  entry->cas = item.cas;
  entry->fetch_state.store(item.fetch_state, std::memory_order_relaxed);
  entry->reported_at.store(0, std::memory_order_relaxed);
  uint8_t* at = entry->bytes;
  memcpy(at, item.key, item.key_length);
  at += item.key_length;
  memcpy(at, "VALUE ", 6);
  memcpy(at + 6, item.key, item.key_length);
  memcpy(at + 6 + item.key_length, header, tail);
  at += header_length;
  if (item.record != nullptr) {
    item.record->Ref();
    entry->record = item.record;
    entry->record_serial = item.record_serial;
  } else {
    memcpy(at, item.data, item.data_length);
  }
  const std::string_view key(reinterpret_cast<const char*>(entry->key()), entry->key_length);
  const uint64_t hash = Hash(key);
  IndexEntry* old = nullptr;
  Shard& shard = ShardOf(hash);
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if ((shard.count + 1) * 2 > shard.slots.size()) Grow(shard);
    const size_t at = Probe(shard, hash, key);
    old = shard.slots[at].entry;
    shard.slots[at] = Slot{hash, entry};
    if (old == nullptr) {
      shard.count++;
      size_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (old != nullptr) Forget(old);
  if (static_cast<size_t>(item.handle) >= by_handle_.size()) by_handle_.resize(item.handle + 1, nullptr);
  by_handle_[item.handle] = entry;
  if (old != nullptr) old->Unref();
}

// The shard's mutex is held.
size_t ReadIndex::Probe(const Shard& shard, uint64_t hash, std::string_view key) {
  const size_t mask = shard.slots.size() - 1;
  for (size_t at = hash & mask;; at = (at + 1) & mask) {
    const Slot& slot = shard.slots[at];
    if (slot.entry == nullptr) return at;
    if (slot.hash == hash && slot.entry->key_length == key.size() &&
        memcmp(slot.entry->key(), key.data(), key.size()) == 0) {
      return at;
    }
  }
}

// The shard's mutex is held (JS thread).
void ReadIndex::Grow(Shard& shard) {
  std::vector<Slot> old;
  old.swap(shard.slots);
  shard.slots.assign(old.empty() ? 64 : old.size() * 2, Slot{0, nullptr});
  const size_t mask = shard.slots.size() - 1;
  for (const Slot& slot : old) {
    if (slot.entry == nullptr) continue;
    size_t at = slot.hash & mask;
    while (shard.slots[at].entry != nullptr) at = (at + 1) & mask;
    shard.slots[at] = slot;
  }
}

// The shard's mutex is held (JS thread): linear probing's backward-shift deletion.
void ReadIndex::EraseAt(Shard& shard, size_t at) {
  const size_t mask = shard.slots.size() - 1;
  size_t hole = at;
  for (size_t next = (hole + 1) & mask; shard.slots[next].entry != nullptr; next = (next + 1) & mask) {
    const size_t home = shard.slots[next].hash & mask;
    // Move the slot back into the hole unless its home lies cyclically in (hole, next].
    const bool stays = hole <= next ? (home > hole && home <= next) : (home > hole || home <= next);
    if (stays) continue;
    shard.slots[hole] = shard.slots[next];
    hole = next;
  }
  shard.slots[hole] = Slot{0, nullptr};
  shard.count--;
}

// JS thread.
void ReadIndex::Remove(const uint8_t* key_bytes, uint32_t key_length) {
  const std::string_view key(reinterpret_cast<const char*>(key_bytes), key_length);
  const uint64_t hash = Hash(key);
  IndexEntry* old = nullptr;
  Shard& shard = ShardOf(hash);
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.count == 0) return;
    const size_t at = Probe(shard, hash, key);
    old = shard.slots[at].entry;
    if (old == nullptr) return;
    EraseAt(shard, at);
    size_.fetch_sub(1, std::memory_order_relaxed);
  }
  Forget(old);
  old->Unref();
}

// JS thread. It is the only writer, so it reads the table without the shards' locks.
void ReadIndex::FindHint(const uint8_t* key_bytes, uint32_t key_length, uint64_t hash, int32_t* handle,
                         int32_t* serial) const {
  const std::string_view key(reinterpret_cast<const char*>(key_bytes), key_length);
  const Shard& shard = ShardOf(hash);
  const IndexEntry* entry = shard.count == 0 ? nullptr : shard.slots[Probe(shard, hash, key)].entry;
  *handle = entry == nullptr ? -1 : entry->handle;
  *serial = entry == nullptr ? 0 : static_cast<int32_t>(entry->serial);
}

// JS thread (and the destructor).
void ReadIndex::Clear() {
  by_handle_.clear();
  for (Shard& shard : shards_) {
    std::vector<Slot> gone;
    {
      std::lock_guard<std::mutex> lock(shard.mu);
      gone.swap(shard.slots);
      size_.fetch_sub(shard.count, std::memory_order_relaxed);
      shard.count = 0;
    }
    for (const Slot& slot : gone) {
      if (slot.entry != nullptr) slot.entry->Unref();
    }
  }
}

// JS thread, before the I/O threads read the clock (and for a manual clock, whenever it moves).
void ReadIndex::SetClock(int32_t manual, int64_t origin_ns, int32_t start) {
  origin_ns_.store(origin_ns, std::memory_order_relaxed);
  start_.store(start, std::memory_order_relaxed);
  manual_now_.store(manual, std::memory_order_release);
}

// Any thread: server/store/clock.ts SystemClock.now() over the same CLOCK_MONOTONIC origin.
int32_t ReadIndex::Now() const {
  const int32_t manual = manual_now_.load(std::memory_order_acquire);
  if (manual >= 0) return manual;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const int64_t ns = static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  return start_.load(std::memory_order_relaxed) +
         static_cast<int32_t>((ns - origin_ns_.load(std::memory_order_relaxed)) / 1000000000);
}

// Any thread.
IndexEntry* ReadIndex::Find(const uint8_t* key_bytes, uint32_t key_length, int32_t now) {
  const int32_t flush_due = flush_due_.load(std::memory_order_acquire);
  if (flush_due != 0 && flush_due <= now) return nullptr;
  const std::string_view key(reinterpret_cast<const char*>(key_bytes), key_length);
  const uint64_t hash = Hash(key);
  IndexEntry* entry;
  Shard& shard = ShardOf(hash);
  {
    std::lock_guard<std::mutex> lock(shard.mu);
    if (shard.count == 0) return nullptr;
    entry = shard.slots[Probe(shard, hash, key)].entry;
    if (entry == nullptr) return nullptr;
    entry->Ref();
  }
  // Expired: JS finds it so too, counts it and unlinks it.
  if (entry->exptime != 0 && entry->exptime <= now) {
    entry->Unref();
    return nullptr;
  }
  return entry;
}

// Any thread: memcached counts the hit; the store bumps the item on its first two fetches,
// and then its time at most once per ITEM_UPDATE_INTERVAL, as memcached's do_item_update.
bool ReadIndex::CountHit(IndexEntry* entry, int32_t now) {
  counters_.get_hits.fetch_add(1, std::memory_order_relaxed);
  counters_.cmd_get.fetch_add(1, std::memory_order_relaxed);
  counters_.class_hits[entry->lru_class % kIndexClasses].fetch_add(1, std::memory_order_relaxed);
  uint8_t state = entry->fetch_state.load(std::memory_order_relaxed);
  while (state < 2) {
    if (entry->fetch_state.compare_exchange_weak(state, state + 1, std::memory_order_relaxed)) {
      entry->reported_at.store(now, std::memory_order_relaxed);
      return true;
    }
  }
  int32_t at = entry->reported_at.load(std::memory_order_relaxed);
  return now - at >= kItemUpdateInterval &&
         entry->reported_at.compare_exchange_strong(at, now, std::memory_order_relaxed);
}

}  // namespace recordcache
