/*
 * GET hits answered by the I/O thread from the read index (read_index.h), rendered by
 * RenderHits (hit_reply.cc) byte for byte as the JavaScript path answers them.
 *
 * A framed batch is answered here only when every request in it is one of: text `get` or
 * `gets` whose keys all hit; meta `mg` with flags among s t c f k v q O whose key hits; `mn`;
 * binary GET, GETQ, GETK, GETKQ that hit, and NOOP. Anything else (a miss, an unusual
 * spelling, a flag that changes the item) sends the whole batch to JS as before, so a
 * request that makes memcached drop replies not yet written finds them still unwritten,
 * and the connection's replies stay in its request order. The connection has no batch in
 * flight to JS when this runs (connection.cc), so nothing JS owes it can come later.
 */
#include <cstring>

#include "connection.h"
#include "engine.h"
#include "hit_reply.h"
#include "read_index.h"

namespace recordcache {

/*
 * Answers the requests staged from index `first` that are hits, up to the first that is
 * not (RenderHits), queueing one message for them, and returns how many it answered (0:
 * none, nothing changed).
 */
uint32_t IoThread::ServeHits(Conn* c, uint32_t first, uint32_t count, bool* budget_spent) {
  *budget_spent = false;
  ReadIndex& index = index_;
  if (!index.serving() || index.size() == 0) return 0;
  if (c->protocol != RP_PROTO_TEXT && c->protocol != RP_PROTO_BINARY) return 0;
  // Connections in the records module keep every request for JS until hits are served
  // through the module and tested in its guest.
  if (c->kernel) return 0;
  if (c->protocol == RP_PROTO_TEXT && options_.ascii_auth && !c->authenticated) return 0;
  // SASL sessions: whether a binary request may be answered is the session's to say.
  if (c->protocol == RP_PROTO_BINARY && options_.limits.sasl) return 0;
  const int32_t now = index.Now();
  const FramedRequests requests{c->in, staging_.starts.data() + first, staging_.lengths.data() + first, count,
                                c->protocol};
  HitReply& reply = hit_reply_;
  const uint32_t answered = RenderHits(index, now, requests, &reply, budget_spent);
  if (answered == 0) return 0;
  std::vector<uint8_t>& out = reply.bytes;
  std::vector<IndexEntry*>& entries = reply.entries;
  // One message for the requests answered, in order.
  MessageBody* body = MessageBody::Create(out.size());
  if (!out.empty()) memcpy(body->bytes, out.data(), out.size());
  for (uint64_t serial : reply.serials) body->record_serials.push_back(serial);
  for (const Piece& piece : reply.pieces) {
    if (piece.record != nullptr) piece.record->Ref();
    body->pieces.push_back(piece);
    body->total += piece.length;
  }
  ServedCounters& counters = index.counters();
  counters.requests.fetch_add(answered, std::memory_order_relaxed);
  counters.bytes_written.fetch_add(body->total, std::memory_order_relaxed);
  for (IndexEntry* entry : entries) {
    if (index.CountHit(entry, now)) {
      staging_.fetched.push_back(entry);  // the reference goes with the report
    } else {
      entry->Unref();
    }
  }
  entries.clear();
  Enqueue(c, body);
  body->Unref();
  return answered;
}

}  // namespace recordcache
