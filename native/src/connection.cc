/*
 * A connection's input and lifecycle: reading, framing, batches to JS and their completion,
 * ending and closing.
 *
 * Reading. Sockets are edge triggered; a connection is read only while it has no batch in
 * flight to JS, is not held back by its own unwritten output, and is not closing, so a
 * client that pipelines gets one batch at a time in order, and a client that does not read
 * its replies stops being served (as memcached stops in conn_mwrite). When a storage
 * command's value has not all arrived, SO_RCVLOWAT is set to the bytes still missing so the
 * kernel wakes us once, when the value is in (capped at tcp_rmem[2]/2: notes/kernel.md §4).
 */
#include "connection.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "engine.h"
#include "out_queue.h"
#include "transport.h"

namespace recordcache {

namespace {

/* Requests per batch, so one pipeline cannot starve the rest (js.ts MAX_BATCH). */
constexpr uint32_t kMaxBatch = 1024;
/* A batch stops growing past this many bytes (a run of large sets): it bounds one JS Buffer. */
constexpr uint64_t kMaxBatchBytes = 64ull * 1024 * 1024;
/* Batches of hits one connection may have answered in a turn before the others have theirs. */
constexpr int kServedRoundsPerTurn = 4;
/*
 * A connection holding at most this much unfinished input is never cut off by the input
 * limit: memcached's READ_BUFFER_SIZE, what any connection may hold for a request line.
 */
constexpr size_t kInputCutOffFloor = 16384;
/* memcached's reply when it cannot grow a connection's read buffer, before it closes it. */
constexpr char kInputCutOffReply[] = "SERVER_ERROR out of memory reading request\r\n";

/* Input buffer bytes held by every connection of every I/O thread. */
std::atomic<uint64_t> input_bytes_held{0};

}  // namespace

void IoThread::MarkInput(Conn* c) {
  if (c->in_input_list || c->closed()) return;
  c->in_input_list = true;
  input_pending_.push_back(c);
}

void IoThread::ServiceInput(Conn* c) {
  if (c->in_flight) return;
  if (c->state != ConnState::kReading) {
    // Waiting on its output: the module's report of it comes on the session, read alone.
    if (c->kernel && c->can_read && c->waits_on_output()) ReadKernel(c, true);
    return;
  }
  if (c->out_bytes > options_.out_limit_soft) {
    if (c->kernel && c->can_read) ReadKernel(c, true);
    if (c->closed() || c->state != ConnState::kReading) return;
    if (c->out_bytes > options_.out_limit_soft) {
      c->state = ConnState::kPaused;
      return;
    }
  }
  int served = 0;
  for (;;) {
    const Framed framed = FrameAndDeliver(c);
    if (framed == Framed::kDelivered || c->closed()) return;
    if (framed == Framed::kNone && CutOffInput(c)) return;
    if (framed == Framed::kServed) {
      if (c->state != ConnState::kReading) return;
      // Hits answered here: frame what is left, but let other connections and the writes
      // have a turn after a few rounds, or once this one's output is past the soft limit.
      if (++served >= kServedRoundsPerTurn || c->out_bytes > options_.out_limit_soft) {
        MarkInput(c);
        return;
      }
      continue;
    }
    if (!c->can_read || c->draining || c->peer_closed) break;
    const size_t before = c->in_tail - c->in_head;
    const uint64_t swallow_before = c->swallow;
    ReadSome(c);
    if (c->closed()) return;
    if (c->in_tail - c->in_head == before && c->swallow == swallow_before) break;
  }
  // Nothing more will complete: a stopping server, or a client that closed its side.
  if (c->draining || c->peer_closed) EndConn(c);
}

IoThread::Framed IoThread::FrameAndDeliver(Conn* c) {
  if (c->http) return FrameHttp(c);
  const size_t available = c->in_tail - c->in_head;
  if (!c->reframe && c->needed > 0 && available < c->needed) {
    WaitForBytes(c, c->needed - available);
    return Framed::kNone;
  }
  c->reframe = false;
  if (c->rcvlowat != 1) SetRcvLowat(c, 1);
  auto split_at = [c](size_t at) {
    return std::find(c->kernel->splits.begin(), c->kernel->splits.end(), at) != c->kernel->splits.end();
  };
  const bool completes = c->needed > 0 || (c->kernel && !c->kernel->splits.empty() && split_at(c->in_head));
  c->needed = 0;
  size_t pos = c->in_head;
  const size_t end = c->in_tail;
  uint32_t count = 0;
  uint64_t bytes = 0;
  bool close_now = false;
  const uint32_t first = static_cast<uint32_t>(staging_.starts.size());
  c->batch_starts.clear();
  rp_extent frame;
  while (pos < end) {
    if (c->swallow > 0) {
      const uint64_t skip = std::min<uint64_t>(c->swallow, end - pos);
      c->swallow -= skip;
      pos += skip;
      continue;
    }
    // memcached writes out the replies it holds before such a request, once its data is in.
    if (count > 0 && c->kernel && !c->kernel->splits.empty() && split_at(pos)) break;
    if (c->protocol == RP_PROTO_AUTO) c->protocol = rp_choose(options_.protocol, c->in[pos]);
    const bool auth = c->protocol == RP_PROTO_TEXT && options_.ascii_auth && !c->authenticated;
    if (c->kernel) {
      // The module framed it: the request ends where the module said (KernelConn::ends).
      const auto& ends = c->kernel->ends;
      const auto next = std::upper_bound(ends.begin(), ends.end(), pos);
      frame = rp_extent{};
      frame.status = next == ends.end() ? RP_NEED : RP_WHOLE;
      if (next != ends.end()) frame.length = static_cast<uint32_t>(*next - pos);
    } else {
      FrameRequest(options_.limits, auth ? static_cast<uint8_t>(RP_PROTO_AUTH) : c->protocol, c->in, pos, end, &frame);
    }
    if (frame.status == RP_NEED) {
      c->needed = frame.needed;
      break;
    }
    if (frame.status == RP_CLOSE) {
      close_now = true;
      break;
    }
    c->batch_starts.push_back(pos);
    staging_.starts.push_back(pos);
    staging_.lengths.push_back(static_cast<uint32_t>(frame.length));
    count++;
    bytes += frame.length;
    pos += frame.length;
    // With the module, none: it dropped a value too large itself (RECORDS_MSGF_DISCARD).
    c->swallow = frame.swallow;
    if (count == kMaxBatch || bytes >= kMaxBatchBytes) break;
  }
  if (c->kernel && c->kernel->close_at_end && pos == end && c->needed == 0) close_now = true;
  if (close_now) c->close_reason = kCloseFraming;
  if (count == 0) {
    if (SettleEmptyPass(c, pos, close_now)) return Framed::kDelivered;
    if (c->needed > 0) WaitForBytes(c, c->needed - (c->in_tail - c->in_head));
    return Framed::kNone;
  }
  bool budget_spent = false;
  const uint32_t served = close_now ? 0 : ServeHits(c, first, count, &budget_spent);
  if (budget_spent && !c->closed()) {
    // The rest are framed again once this connection's output drains (as after Complete).
    c->in_head = staging_.starts[first + served];
    staging_.starts.resize(first);
    staging_.lengths.resize(first);
    c->swallow = 0;
    c->needed = 0;
    if (c->state == ConnState::kReading) c->state = ConnState::kBlocked;
    c->reframe = true;
    AfterOutputChange(c);
    return Framed::kServed;
  }
  if (served == count) {
    staging_.starts.resize(first);
    staging_.lengths.resize(first);
    c->in_head = pos;
    if (!c->closed() && c->in_head == c->in_tail) FreeInput(c);
    return Framed::kServed;
  }
  if (c->closed()) {
    staging_.starts.resize(first);
    staging_.lengths.resize(first);
    return Framed::kDelivered;
  }
  if (served > 0) {
    // The hits that came first are answered; JS gets the rest, after them in the output.
    for (uint32_t k = 0; k < served; k++) bytes -= staging_.lengths[first + k];
    staging_.starts.erase(staging_.starts.begin() + first, staging_.starts.begin() + first + served);
    staging_.lengths.erase(staging_.lengths.begin() + first, staging_.lengths.begin() + first + served);
    c->batch_starts.erase(c->batch_starts.begin(), c->batch_starts.begin() + served);
    count -= served;
  }
  c->in_flight = true;
  c->batch_count = count;
  c->batch_end = pos;
  c->close_after_batch = close_now;
  staging_.batches.push_back(BatchRef{c->in, first, count, bytes});
  staging_.events.insert(staging_.events.end(),
                         {kEventRequests, static_cast<int32_t>(c->slot), static_cast<int32_t>(count),
                          (completes && served == 0 ? kBatchCompletesData : 0) | (close_now ? kBatchCloses : 0) |
                              (c->protocol == RP_PROTO_BINARY ? kBatchBinary : 0),
                          0});
  return Framed::kDelivered;
}

void ReserveInput(Conn* c, size_t want) {
  const size_t available = c->in_tail - c->in_head;
  if (c->in == nullptr) {
    c->in_cap = std::max<size_t>(want, 64);
    c->in = static_cast<uint8_t*>(malloc(c->in_cap));
    if (c->in == nullptr) abort();
    input_bytes_held.fetch_add(c->in_cap, std::memory_order_relaxed);
    c->in_head = c->in_tail = 0;
  }
  if (c->in_head == c->in_tail) {
    c->in_head = c->in_tail = 0;
    if (c->kernel) {
      c->kernel->splits.clear();
      c->kernel->ends.clear();
    }
  }
  if (c->in_cap - c->in_tail < want) {
    if (c->in_head > 0) {
      memmove(c->in, c->in + c->in_head, available);
      if (c->kernel) {
        // Where the module's requests start and end move with the bytes; those behind in_head are done.
        auto& splits = c->kernel->splits;
        splits.erase(std::remove_if(splits.begin(), splits.end(), [&](size_t at) { return at < c->in_head; }),
                     splits.end());
        for (size_t& at : splits) at -= c->in_head;
        auto& ends = c->kernel->ends;
        ends.erase(std::remove_if(ends.begin(), ends.end(), [&](size_t at) { return at <= c->in_head; }), ends.end());
        for (size_t& at : ends) at -= c->in_head;
      }
      c->in_tail = available;
      c->in_head = 0;
    }
    if (c->in_cap - c->in_tail < want) {
      size_t cap = std::max(c->in_cap * 2, c->in_tail + want);
      uint8_t* grown = static_cast<uint8_t*>(realloc(c->in, cap));
      if (grown == nullptr) abort();
      input_bytes_held.fetch_add(cap - c->in_cap, std::memory_order_relaxed);
      c->in = grown;
      c->in_cap = cap;
    }
  }
}

void IoThread::ReadSome(Conn* c) {
  if (c->kernel) {
    ReadKernel(c);
    return;
  }
  ReadSocket(c);
}

void IoThread::Complete(Conn* c, uint32_t handled) {
  if (!c->in_flight) return;
  c->in_flight = false;
  if (c->closed()) {
    FreeInput(c);
    return;
  }
  if (handled >= c->batch_count) {
    c->in_head = c->batch_end;
    if (c->close_after_batch) {
      c->close_after_batch = false;
      EndConn(c);
      return;
    }
  } else {
    // Requests JS did not take are framed again once this connection's output drains.
    c->in_head = c->batch_starts[handled];
    c->swallow = 0;
    if (c->state == ConnState::kReading) c->state = ConnState::kBlocked;
    c->reframe = true;
    c->close_after_batch = false;
  }
  if (c->in_head == c->in_tail) FreeInput(c);
  AfterOutputChange(c);
  MarkInput(c);
}

/*
 * After a framing pass that gave JavaScript nothing: keeps the input from `pos` on (freeing
 * the buffer once it is all consumed), and ends the connection if framing said to close.
 * True when it ended.
 */
bool IoThread::SettleEmptyPass(Conn* c, size_t pos, bool close_now) {
  c->in_head = pos;
  if (c->in_head == c->in_tail) FreeInput(c);
  if (!close_now) return false;
  EndConn(c);
  return true;
}

void IoThread::FreeInput(Conn* c) {
  if (c->in_flight || c->in == nullptr) return;
  // An idle connection keeps no allocation but itself.
  if (c->kernel) {
    std::vector<size_t>().swap(c->kernel->splits);
    std::vector<size_t>().swap(c->kernel->ends);
  }
  std::vector<size_t>().swap(c->batch_starts);
  ReleaseInputBuffer(c);
}

void ReleaseInputBuffer(Conn* c) {
  input_bytes_held.fetch_sub(c->in_cap, std::memory_order_relaxed);
  free(c->in);
  c->in = nullptr;
  c->in_cap = 0;
  c->in_head = c->in_tail = 0;
}

uint64_t InputBytesHeld() { return input_bytes_held.load(std::memory_order_relaxed); }

/*
 * Past -o input_mem_limit, a connection whose unfinished request holds more than a read
 * buffer gets memcached's reply for a read buffer it cannot grow and is closed, its input
 * dropped: so many clients sending endless `get` lines hold the limit at most, in all.
 */
bool IoThread::CutOffInput(Conn* c) {
  if (options_.input_mem_limit == 0 || c->in_tail - c->in_head <= kInputCutOffFloor) return false;
  if (InputBytesHeld() <= options_.input_mem_limit) return false;
  c->in_head = c->in_tail;
  c->swallow = 0;
  c->needed = 0;
  FreeInput(c);
  MessageBody* body = MessageBody::Create(sizeof(kInputCutOffReply) - 1);
  memcpy(body->bytes, kInputCutOffReply, sizeof(kInputCutOffReply) - 1);
  body->pieces.push_back(Piece{nullptr, 0, sizeof(kInputCutOffReply) - 1});
  body->total = sizeof(kInputCutOffReply) - 1;
  Enqueue(c, body);
  body->Unref();
  EndConn(c);
  return true;
}

void IoThread::EndConn(Conn* c) {
  if (c->closed()) return;
  c->state = ConnState::kEnding;
  AfterOutputChange(c);
}

void IoThread::CloseConn(Conn* c, CloseReason reason) {
  if (c->closed()) return;
  if (c->close_reason == kCloseLocal)
    c->close_reason = reason != kCloseLocal ? reason : c->peer_closed ? kClosePeer : kCloseLocal;
  const bool orderly = c->state == ConnState::kEnding;
  c->state = ConnState::kClosed;
  if (c->kernel) CloseKernel(c, orderly);
  if (c->http && orderly) DiscardUnread(c);
  close(c->fd);
  c->fd = -1;
  for (OutMessage& message : c->out) Release(message);
  c->out.clear();
  c->out_bytes = 0;
  FreeInput(c);
  staging_.events.insert(staging_.events.end(), {kEventClose, static_cast<int32_t>(c->slot), c->close_reason});
}

}  // namespace recordcache
