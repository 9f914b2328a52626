/*
 * Replies to GET hits rendered from the read index (read_index.h), byte for byte as the
 * JavaScript path answers them (server/commands/text.ts, meta.ts, binary.ts).
 *
 * Rendering needs no connection or socket: IoThread::ServeHits (serve_hits.cc) decides
 * whether a connection's requests may be answered here and queues what RenderHits made,
 * and fuzz/hits renders from an index of its own.
 */
#ifndef RECORDCACHE_HIT_REPLY_H
#define RECORDCACHE_HIT_REPLY_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "read_index.h"
#include "record.h"

namespace recordcache {

/* Framed requests of one connection: request i is in[starts[i], starts[i] + lengths[i]). */
struct FramedRequests {
  const uint8_t* in;
  const uint64_t* starts;
  const uint32_t* lengths;
  uint32_t count;
  /* RP_PROTO_TEXT or RP_PROTO_BINARY. */
  uint8_t protocol;
};

/* The replies to a run of hits; kept between calls so its vectors keep their capacity. */
struct HitReply {
  /* The reply's own bytes: lines, headers, short values. */
  std::vector<uint8_t> bytes;
  /* The whole reply in order: slices of `bytes` (record null) and of records. */
  std::vector<Piece> pieces;
  /* The entries answered from, one reference each, for the caller to count and release. */
  std::vector<IndexEntry*> entries;
  /* The records the reply references (Record serials, for unsend). */
  std::vector<uint64_t> serials;
};

/* memcached's longest key (KEY_MAX_LENGTH). */
constexpr uint32_t kKeyMax = 250;

/* A key memcached and the JS decoder take as it is: 1 to 250 bytes, none a control or space. */
bool PlainKey(const uint8_t* key, size_t length);

/* Reply bytes rendered for one connection in one turn before the rest of its requests wait. */
constexpr uint64_t kServedOutputBudget = 4 * 1024 * 1024;

/*
 * Renders the replies to the requests from the first on that are hits at `now`, up to the
 * first that is not, and returns how many it answered (0: none, and `reply` holds nothing).
 * It answers none when a later request would make memcached drop the replies not yet
 * written, since theirs would be among them. `budget_spent`: it stopped early because the
 * replies reached kServedOutputBudget.
 */
uint32_t RenderHits(ReadIndex& index, int32_t now, const FramedRequests& requests, HitReply* reply, bool* budget_spent);

}  // namespace recordcache

#endif
