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

namespace {

/*
 * The key of a request that is exactly `get <key>` and a line end, the commonest GET, or
 * null. The key is checked as RenderHits checks one (PlainKey).
 */
const uint8_t* SingleGetKey(const uint8_t* req, uint32_t length, uint32_t* key_length) {
  if (length < 6 || memcmp(req, "get ", 4) != 0 || req[length - 1] != '\n') return nullptr;
  const uint32_t end = length - (req[length - 2] == '\r' ? 2 : 1);
  if (end <= 4 || !PlainKey(req + 4, end - 4)) return nullptr;
  *key_length = end - 4;
  return req + 4;
}

/* The reply to `get <key>` for entry: VALUE line, the value (a record piece when long), END. */
MessageBody* RenderGetReply(IndexEntry* entry) {
  const bool inline_value = entry->record == nullptr || entry->data_length < kInlineRecordLimit;
  const size_t head = entry->header_length + 2;
  const size_t own = head + (inline_value ? entry->data_length : 0) + 5;
  MessageBody* body = MessageBody::Create(own);
  uint8_t* out = body->bytes;
  memcpy(out, entry->header(), entry->header_length);
  memcpy(out + entry->header_length, "\r\n", 2);
  if (inline_value) {
    memcpy(out + head, entry->data(), entry->data_length);
    memcpy(out + head + entry->data_length, "END\r\n", 5);
    body->pieces.push_back(Piece{nullptr, 0, own});
  } else {
    memcpy(out + head, "END\r\n", 5);
    entry->record->Ref();
    body->pieces.push_back(Piece{nullptr, 0, head});
    body->pieces.push_back(Piece{entry->record, 0, entry->data_length});
    body->pieces.push_back(Piece{nullptr, head, 5});
    body->record_serials.push_back(entry->record_serial);
  }
  body->total = own + (inline_value ? 0 : entry->data_length);
  return body;
}

}  // namespace

/*
 * A lone `get <key>` that hits a record is answered with the entry's cached reply: rendered
 * once, then one reference per connection, so a hot large value costs a queue slot, not a
 * render, on each connection that asks. Returns 1 when answered, 0 otherwise (a miss, or
 * another shape of request, which RenderHits then takes).
 */
uint32_t IoThread::ServeSingleGet(Conn* c, uint32_t first, int32_t now, bool* miss) {
  *miss = false;
  uint32_t key_length;
  const uint8_t* key = SingleGetKey(c->in + staging_.starts[first], staging_.lengths[first], &key_length);
  if (key == nullptr) return 0;
  ReadIndex& index = index_;
  IndexEntry* entry = index.Find(key, key_length, now);
  if (entry == nullptr) {
    *miss = true;
    return 0;
  }
  // A short value's reply is rendered for each request and freed once written: kept, it
  // would cost every key ever read a second copy of itself.
  const bool cached = entry->record != nullptr && entry->data_length >= kInlineRecordLimit;
  MessageBody* body = cached ? entry->get_reply.load(std::memory_order_acquire) : RenderGetReply(entry);
  if (body == nullptr) {
    MessageBody* made = RenderGetReply(entry);
    // Another thread may have made it first: keep theirs.
    if (entry->get_reply.compare_exchange_strong(body, made, std::memory_order_acq_rel)) {
      body = made;
    } else {
      made->Unref();
    }
  }
  ServedCounters& counters = index.counters();
  counters.requests.fetch_add(1, std::memory_order_relaxed);
  counters.bytes_written.fetch_add(body->total, std::memory_order_relaxed);
  // A cached body's reference lasts while the entry does; Enqueue takes its own.
  Enqueue(c, body);
  if (!cached) body->Unref();
  if (index.CountHit(entry, now)) {
    staging_.fetched.push_back(entry);  // the reference goes with the report
  } else {
    entry->Unref();
  }
  return 1;
}

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
  if (count == 1 && c->protocol == RP_PROTO_TEXT) {
    bool miss;
    const uint32_t answered = ServeSingleGet(c, first, now, &miss);
    if (answered != 0 || miss) return answered;
  }
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
