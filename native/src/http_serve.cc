/*
 * The HTTP listener's connections on the I/O thread (http_conn.h): requests framed by
 * llhttp (http_parse.cc), GET and HEAD hits answered from the read index, the rest handed
 * to JS in order.
 *
 * A hit is answered here only when it is plain: HTTP/1.1 keep-alive, GET or HEAD of
 * "/<key>" with no escape or query, no body, and of the headers answer.ts reads only one
 * Range of the form bytes=a-b, a- or -n that the value satisfies, and one If-None-Match
 * with a single strong tag. The reply is the bytes server/http/answer.ts and Node's
 * ServerResponse write for it (headers in the same order, Date, Connection, Keep-Alive), the
 * value copied when short and otherwise a slice of its record. From the first request that
 * is not such a hit, every request framed in the same turn goes to JS, so replies stay in
 * request order.
 */
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "connection.h"
#include "engine.h"
#include "hit_reply.h"
#include "http_parse.h"
#include "reply_bytes.h"

extern "C" {
#include "llhttp.h"
}

namespace recordcache {

namespace {

/* Requests per batch to JS (connection.cc kMaxBatch). */
constexpr uint32_t kMaxHttpBatch = 1024;

struct ServeScratch {
  HttpRequest request;
  HitReply reply;
  /* Bytes of reply.bytes already covered by reply.pieces. */
  size_t own_covered = 0;
  /* The Date header's value and the second it is for. */
  char date[40] = {0};
  time_t date_second = -1;
};

thread_local ServeScratch scratch;

/* "Sun, 06 Nov 1994 08:49:37 GMT", as Node's utcDate (Date.prototype.toUTCString). */
const char* DateHeader() {
  const time_t now = time(nullptr);
  if (now != scratch.date_second) {
    static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    tm parts;
    gmtime_r(&now, &parts);
    snprintf(scratch.date, sizeof(scratch.date), "%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[parts.tm_wday],
             parts.tm_mday, kMonths[parts.tm_mon], parts.tm_year + 1900, parts.tm_hour, parts.tm_min, parts.tm_sec);
    scratch.date_second = now;
  }
  return scratch.date;
}

bool Named(const uint8_t* data, HttpSpan span, const char* name) {
  const size_t length = strlen(name);
  return span.length == length && strncasecmp(reinterpret_cast<const char*>(data + span.offset), name, length) == 0;
}

/* Digits only, at most 15 of them (below 2^53, as answer.ts reads them): the number, else -1. */
int64_t Digits(const uint8_t* p, size_t length) {
  if (length == 0 || length > 15) return -1;
  int64_t value = 0;
  for (size_t i = 0; i < length; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    value = value * 10 + (p[i] - '0');
  }
  return value;
}

/* The headers a native hit depends on; `plain` false when one is there in a form left to JS. */
struct HitHeaders {
  bool plain = true;
  const HttpHeader* range = nullptr;
  const HttpHeader* if_none_match = nullptr;
};

HitHeaders ReadHitHeaders(const uint8_t* data, const HttpRequest& request) {
  HitHeaders out;
  for (const HttpHeader& header : request.headers) {
    if (header.folded) out.plain = false;
    const HttpSpan name = header.name;
    if (Named(data, name, "range")) {
      if (out.range != nullptr) out.plain = false;
      out.range = &header;
    } else if (Named(data, name, "if-none-match")) {
      if (out.if_none_match != nullptr) out.plain = false;
      out.if_none_match = &header;
    } else if (Named(data, name, "if-range") || Named(data, name, "expect") || Named(data, name, "content-length") ||
               Named(data, name, "transfer-encoding")) {
      out.plain = false;
    }
  }
  return out;
}

/* Range: bytes=a-b, a- or -n, satisfiable by `length` bytes: [*start, *end]; false otherwise. */
bool SingleRange(const uint8_t* data, HttpSpan value, uint64_t length, uint64_t* start, uint64_t* end) {
  const uint8_t* p = data + value.offset;
  size_t n = value.length;
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  if (n < 7 || memcmp(p, "bytes=", 6) != 0) return false;
  p += 6;
  n -= 6;
  const uint8_t* dash = static_cast<const uint8_t*>(memchr(p, '-', n));
  if (dash == nullptr) return false;
  const size_t first_length = static_cast<size_t>(dash - p);
  const size_t last_length = n - first_length - 1;
  if (first_length == 0) {
    const int64_t suffix = Digits(dash + 1, last_length);
    if (suffix <= 0 || length == 0) return false;
    *start = length > static_cast<uint64_t>(suffix) ? length - suffix : 0;
    *end = length - 1;
    return true;
  }
  const int64_t first = Digits(p, first_length);
  if (first < 0 || static_cast<uint64_t>(first) >= length) return false;
  if (last_length == 0) {
    *start = first;
    *end = length - 1;
    return true;
  }
  const int64_t last = Digits(dash + 1, last_length);
  if (last < first) return false;
  *start = first;
  *end = std::min<uint64_t>(last, length - 1);
  return true;
}

/* If-None-Match with one strong tag "digits": whether it is `cas`'s; -1 when left to JS. */
int TagMatches(const uint8_t* data, HttpSpan value, uint64_t cas, bool cas_enabled) {
  const uint8_t* p = data + value.offset;
  size_t n = value.length;
  while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
  if (n < 3 || p[0] != '"' || p[n - 1] != '"' || Digits(p + 1, n - 2) < 0) return -1;
  if (!cas_enabled) return 0;
  char tag[24];
  const int tag_length = snprintf(tag, sizeof(tag), "%llu", static_cast<unsigned long long>(cas));
  return n - 2 == static_cast<size_t>(tag_length) && memcmp(p + 1, tag, n - 2) == 0 ? 1 : 0;
}

}  // namespace

/*
 * Renders the reply to `request` into scratch.reply when it is a plain hit (see above),
 * taking a reference on its entry; false leaves it to JS.
 */
bool IoThread::RenderHttpHit(Conn* c, const uint8_t* data, const HttpRequest& request, int32_t now) {
  const HttpSettings& settings = *c->http->settings;
  if (request.status != HttpParse::kWhole || !request.keep_alive || request.http_major != 1 ||
      request.http_minor != 1 || !request.body.empty()) {
    return false;
  }
  const bool head = request.method == HTTP_HEAD;
  if (!head && request.method != HTTP_GET) return false;
  const uint8_t* target = data + request.target.offset;
  const uint32_t target_length = request.target.length;
  if (target_length < 2 || target_length - 1 > kKeyMax || target[0] != '/') return false;
  for (uint32_t i = 1; i < target_length; i++) {
    if (target[i] <= 0x20 || target[i] >= 0x7f || target[i] == '%' || target[i] == '?' || target[i] == '#')
      return false;
  }
  const HitHeaders headers = ReadHitHeaders(data, request);
  if (!headers.plain) return false;
  IndexEntry* entry = index_.Find(target + 1, target_length - 1, now);
  if (entry == nullptr) return false;
  const uint64_t length = entry->value_length();
  int not_modified = 0;
  if (headers.if_none_match != nullptr) {
    not_modified = TagMatches(data, headers.if_none_match->value, entry->cas, settings.cas_enabled);
  }
  uint64_t start = 0;
  uint64_t end = 0;
  const bool ranged = !head && headers.range != nullptr && not_modified == 0;
  if (not_modified < 0 || (ranged && !SingleRange(data, headers.range->value, length, &start, &end))) {
    entry->Unref();
    return false;
  }
  HitReply& reply = scratch.reply;
  std::vector<uint8_t>& out = reply.bytes;
  HttpServedCounters& counters = c->http->settings->counters;
  // answer.ts: the validators, then (not 304) the entity's headers, in its order.
  AppendText(out, not_modified ? "HTTP/1.1 304 Not Modified\r\n"
                  : ranged     ? "HTTP/1.1 206 Partial Content\r\n"
                               : "HTTP/1.1 200 OK\r\n");
  if (!not_modified) {
    AppendText(out, "Content-Type: ");
    Append(out, settings.content_type.data(), settings.content_type.size());
    AppendText(out, "\r\nAccept-Ranges: bytes\r\n");
  }
  if (settings.cas_enabled) {
    AppendText(out, "ETag: \"");
    AppendDecimal(out, entry->cas);
    AppendText(out, "\"\r\n");
  }
  if (entry->exptime != 0) {
    AppendText(out, "Cache-Control: max-age=");
    AppendDecimal(out, static_cast<uint64_t>(std::max<int64_t>(0, int64_t{entry->exptime} - now)));
    AppendText(out, "\r\n");
  }
  if (!not_modified) {
    if (settings.gzip_flag != 0 && (entry->flags & settings.gzip_flag) != 0)
      AppendText(out, "Content-Encoding: gzip\r\n");
    if (entry->flags != 0) {
      AppendText(out, "X-Memcached-Flags: ");
      AppendDecimal(out, entry->flags);
      AppendText(out, "\r\n");
    }
    if (ranged) {
      AppendText(out, "Content-Range: bytes ");
      AppendDecimal(out, start);
      out.push_back('-');
      AppendDecimal(out, end);
      out.push_back('/');
      AppendDecimal(out, length);
      AppendText(out, "\r\n");
    } else {
      end = length == 0 ? 0 : length - 1;
    }
    AppendText(out, "Content-Length: ");
    AppendDecimal(out, ranged ? end - start + 1 : length);
    AppendText(out, "\r\n");
  }
  // What Node's ServerResponse adds to every keep-alive reply.
  AppendText(out, "Date: ");
  AppendText(out, DateHeader());
  AppendText(out, "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=");
  AppendDecimal(out, settings.keep_alive_seconds);
  AppendText(out, "\r\n\r\n");
  const uint64_t body_length = not_modified || head ? 0 : ranged ? end - start + 1 : length;
  if (body_length > 0) {
    if (entry->record == nullptr || body_length < kInlineRecordLimit) {
      Append(out, entry->data() + start, body_length);
    } else {
      const size_t own_start = scratch.own_covered;
      if (out.size() > own_start) reply.pieces.push_back(Piece{nullptr, own_start, out.size() - own_start});
      scratch.own_covered = out.size();
      reply.pieces.push_back(Piece{entry->record, start, body_length});
      reply.serials.push_back(entry->record_serial);
    }
  }
  counters.requests.fetch_add(1, std::memory_order_relaxed);
  counters.hits.fetch_add(1, std::memory_order_relaxed);
  if (not_modified) counters.not_modified.fetch_add(1, std::memory_order_relaxed);
  if (ranged) counters.partial.fetch_add(1, std::memory_order_relaxed);
  reply.entries.push_back(entry);
  return true;
}

/*
 * Frames the HTTP requests at in_head: hits answered here (one message for all of them),
 * then, from the first request that is not one, a batch to JS (AppendForJs).
 */
IoThread::Framed IoThread::FrameHttp(Conn* c) {
  HttpConn& http = *c->http;
  const HttpSettings& settings = *http.settings;
  c->reframe = false;
  c->needed = 0;
  size_t pos = c->in_head;
  const size_t end = c->in_tail;
  const uint32_t first = static_cast<uint32_t>(staging_.starts.size());
  c->batch_starts.clear();
  http.parsed.clear();
  HitReply& reply = scratch.reply;
  reply.bytes.clear();
  reply.pieces.clear();
  reply.entries.clear();
  reply.serials.clear();
  scratch.own_covered = 0;
  HttpRequest& request = scratch.request;
  const bool serving = index_.serving() && index_.size() > 0;
  const int32_t now = serving ? index_.Now() : 0;
  uint64_t record_bytes = 0;
  uint32_t count = 0;
  uint32_t served = 0;
  bool close_now = false;
  bool partial_head = false;
  while (pos < end && count < kMaxHttpBatch) {
    if (http.discard) {
      bool done = false;
      const int64_t used = FeedBodyDiscard(http.discard.get(), c->in + pos, end - pos, &done);
      if (used < 0) {
        // Not HTTP after all: nothing after it is read; the connection closes.
        http.discard.reset();
        pos = end;
        close_now = true;
        break;
      }
      pos += static_cast<size_t>(used);
      if (done) http.discard.reset();
      continue;
    }
    if (c->swallow > 0) {
      // The body of a PUT refused as too large: read and dropped.
      const uint64_t skip = std::min<uint64_t>(c->swallow, end - pos);
      c->swallow -= skip;
      pos += skip;
      continue;
    }
    ParseHttpRequest(settings, c->in + pos, end - pos, &request);
    if (request.status == HttpParse::kNeed) {
      partial_head = !request.head_complete;
      // Node's ServerResponse writeContinue(): the client waits for it before the body.
      if (request.expects_continue && count == 0 && http.continued_at != pos + 1) {
        AppendText(reply.bytes, "HTTP/1.1 100 Continue\r\n\r\n");
        http.continued_at = pos + 1;
      }
      break;
    }
    if (count == 0 && serving && RenderHttpHit(c, c->in + pos, request, now)) {
      served++;
      pos += request.length;
      const Piece* last = reply.pieces.empty() ? nullptr : &reply.pieces.back();
      if (last != nullptr && last->record != nullptr) record_bytes += last->length;
      if (reply.bytes.size() + record_bytes > kServedOutputBudget) break;
      continue;
    }
    staging_.starts.push_back(http.parsed.size());
    AppendForJs(c->in + pos, request, &http.parsed);
    staging_.lengths.push_back(static_cast<uint32_t>(http.parsed.size() - staging_.starts.back()));
    c->batch_starts.push_back(pos);
    count++;
    if (request.status == HttpParse::kRefused) {
      // Answered and closed: nothing after it is read.
      close_now = true;
      pos = end;
      break;
    }
    if (request.discard_chunked) {
      // Fed the head now; the loop feeds it the body as it arrives.
      bool done = false;
      http.discard = StartBodyDiscard();
      FeedBodyDiscard(http.discard.get(), c->in + pos, request.length, &done);
    }
    pos += request.length;
    if (request.status == HttpParse::kTooLarge && request.keep_alive) c->swallow = request.skip;
    if (!request.keep_alive) {
      close_now = true;
      break;
    }
  }
  http.head_since_ms = partial_head ? (http.head_since_ms != 0 ? http.head_since_ms : now_ms_) : 0;
  if (!reply.bytes.empty()) {
    std::vector<uint8_t>& out = reply.bytes;
    if (out.size() > scratch.own_covered)
      reply.pieces.push_back(Piece{nullptr, scratch.own_covered, out.size() - scratch.own_covered});
    MessageBody* body = MessageBody::Create(out.size());
    memcpy(body->bytes, out.data(), out.size());
    for (uint64_t serial : reply.serials) body->record_serials.push_back(serial);
    for (const Piece& piece : reply.pieces) {
      if (piece.record != nullptr) piece.record->Ref();
      body->pieces.push_back(piece);
      body->total += piece.length;
    }
    index_.counters().bytes_written.fetch_add(body->total, std::memory_order_relaxed);
    for (IndexEntry* entry : reply.entries) {
      if (index_.CountHit(entry, now)) {
        staging_.fetched.push_back(entry);  // the reference goes with the report
      } else {
        entry->Unref();
      }
    }
    reply.entries.clear();
    Enqueue(c, body);
    body->Unref();
  }
  if (count == 0) {
    if (SettleEmptyPass(c, pos, close_now)) return Framed::kDelivered;
    return served > 0 ? Framed::kServed : Framed::kNone;
  }
  c->in_flight = true;
  c->batch_count = count;
  c->batch_end = pos;
  c->close_after_batch = close_now;
  staging_.batches.push_back(BatchRef{http.parsed.data(), first, count, http.parsed.size()});
  staging_.events.insert(staging_.events.end(), {kEventRequests, static_cast<int32_t>(c->slot),
                                                 static_cast<int32_t>(count), close_now ? kBatchCloses : 0, 0});
  return Framed::kDelivered;
}

/*
 * Once a second: a request head that has been arriving past the head timeout gets 408 and
 * the connection closes (Node's headersTimeout); a keep-alive connection idle past its
 * timeout closes (keepAliveTimeout).
 */
void IoThread::CheckHttpTimeouts() {
  static const char kTimedOut[] =
      "HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 16\r\n"
      "Connection: close\r\n\r\nRequest Timeout\n";
  for (Conn* c : slots_) {
    if (c == nullptr || !c->http || c->closed() || c->in_flight || c->state != ConnState::kReading) continue;
    const HttpSettings& settings = *c->http->settings;
    if (c->http->head_since_ms != 0) {
      if (now_ms_ - c->http->head_since_ms < settings.head_timeout_ms) continue;
      MessageBody* body = MessageBody::Create(sizeof(kTimedOut) - 1);
      memcpy(body->bytes, kTimedOut, sizeof(kTimedOut) - 1);
      body->pieces.push_back(Piece{nullptr, 0, sizeof(kTimedOut) - 1});
      body->total = sizeof(kTimedOut) - 1;
      c->http->settings->counters.requests.fetch_add(1, std::memory_order_relaxed);
      c->http->settings->counters.refused.fetch_add(1, std::memory_order_relaxed);
      Enqueue(c, body);
      body->Unref();
      EndConn(c);
    } else if (c->in_head == c->in_tail && c->out.empty() &&
               now_ms_ - c->last_activity_ms >= int64_t{settings.keep_alive_seconds} * 1000) {
      CloseConn(c);
    }
  }
}

/*
 * Before an HTTP connection closes after its last reply: the request bytes not read (the
 * rest of a refused request) are read and dropped, so the close is a FIN and not a reset
 * that could discard the reply before the client reads it (as Node, reading on, does).
 */
void IoThread::DiscardUnread(Conn* c) {
  constexpr size_t kDiscardLimit = 4 * 1024 * 1024;
  uint8_t sink[16 * 1024];
  size_t discarded = 0;
  while (discarded < kDiscardLimit) {
    const ssize_t n = read(c->fd, sink, sizeof(sink));
    if (n <= 0) break;
    discarded += static_cast<size_t>(n);
  }
}

}  // namespace recordcache
