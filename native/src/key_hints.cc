/*
 * Key hints: for each text storage request a delivery hands JS, which item the read index
 * holds under its key (the store's handle and the publication's serial), so the store
 * checks that item before its own key table.
 */
#include <algorithm>
#include <cstring>
#include <string_view>

#include "engine.h"
#include "engine_binding.h"
#include "read_index.h"

namespace recordcache {

namespace {

/* Whether a token of the line from `at` on starts with `flag` (ms's flags follow its key). */
bool HasFlag(const uint8_t* at, const uint8_t* end, uint8_t flag) {
  for (; at < end && *at != '\r' && *at != '\n'; at++) {
    if (*at == flag && at[-1] == ' ') return true;
  }
  return false;
}

/*
 * The key of a text storage request (set, add, replace, append, prepend, cas, ms), or null:
 * what the store will look up when it runs the request. `ms ... b` names its key in base64,
 * which the store decodes: no hint for it.
 */
const uint8_t* StoredKey(const uint8_t* req, uint32_t length, uint32_t* key_length) {
  const uint8_t* end = req + std::min<uint32_t>(length, 320);
  const uint8_t* space = static_cast<const uint8_t*>(memchr(req, ' ', end - req));
  if (space == nullptr) return nullptr;
  const std::string_view command(reinterpret_cast<const char*>(req), space - req);
  if (command != "set" && command != "ms" && command != "add" && command != "cas" && command != "replace" &&
      command != "append" && command != "prepend") {
    return nullptr;
  }
  const uint8_t* key = space + 1;
  const uint8_t* key_end = key;
  while (key_end < end && *key_end != ' ' && *key_end != '\r' && *key_end != '\n') key_end++;
  if (key_end == key || key_end == end) return nullptr;
  if (command == "ms" && HasFlag(key_end, req + length, 'b')) return nullptr;
  *key_length = static_cast<uint32_t>(key_end - key);
  return key;
}

}  // namespace

/*
 * For each text storage request, two words: the store's handle of its key's read-index
 * entry and that publication's serial, else -1 and 0. The store takes the item under the
 * handle when it still carries the serial (Store.keyHint), instead of looking in its own
 * key table, which on a cache of many keys costs several cache misses a request.
 */
void EngineWrap::FindStoredKeys(const Delivery& d, int32_t* hints) {
  const ReadIndex& index = engine_->index();
  const bool any = index.size() > 0;
  stored_keys_.clear();
  d.ForEachBatch([&](size_t at, const BatchRef& batch) {
    const bool text = (d.events[at + 3] & kBatchBinary) == 0;
    for (uint32_t j = batch.first; j < batch.first + batch.count; j++) {
      hints[2 * j] = -1;
      hints[2 * j + 1] = 0;
      uint32_t key_length = 0;
      const uint8_t* key = any && text ? StoredKey(batch.base + d.starts[j], d.lengths[j], &key_length) : nullptr;
      if (key != nullptr) stored_keys_.push_back(StoredKeyRef{key, key_length, j, ReadIndex::HashOf(key, key_length)});
    }
  });
  // In three passes, so that the cache misses of all keys overlap: each key's home slot,
  // then the entry in it, then the lookup itself, which finds both in cache.
  for (const StoredKeyRef& k : stored_keys_) index.PrefetchSlot(k.hash);
  for (const StoredKeyRef& k : stored_keys_) index.PrefetchEntry(k.hash);
  for (const StoredKeyRef& k : stored_keys_) {
    index.FindHint(k.key, k.key_length, k.hash, &hints[2 * k.request], &hints[2 * k.request + 1]);
  }
}

}  // namespace recordcache
