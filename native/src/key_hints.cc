/*
 * Key hints: for each text storage request a delivery hands JS, where the read index has its
 * key (the store's handle), so the store checks that item before its own key table.
 */
#include <algorithm>
#include <cstring>
#include <string_view>

#include "engine.h"
#include "engine_binding.h"
#include "read_index.h"

namespace recordcache {

namespace {

/*
 * The key of a text storage request (set, add, replace, append, prepend, cas, ms), or null:
 * what the store will look up first when it runs the request.
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
  *key_length = static_cast<uint32_t>(key_end - key);
  return key;
}

}  // namespace

/*
 * For each text storage request, the store's handle of its key's read-index entry, else -1:
 * the store checks the item under that handle before it looks in its own key table
 * (Store.keyHint), which on a cache of many keys costs several cache misses a request.
 */
void EngineWrap::FindStoredKeys(const Delivery& d, int32_t* handles) const {
  const ReadIndex& index = engine_->index();
  const bool any = index.size() > 0;
  d.ForEachBatch([&](size_t at, const BatchRef& batch) {
    const bool text = (d.events[at + 3] & kBatchBinary) == 0;
    for (uint32_t j = batch.first; j < batch.first + batch.count; j++) {
      uint32_t key_length = 0;
      const uint8_t* key = any && text ? StoredKey(batch.base + d.starts[j], d.lengths[j], &key_length) : nullptr;
      handles[j] = key == nullptr ? -1 : index.HandleOf(key, key_length);
    }
  });
}

}  // namespace recordcache
