/*
 * Messages and the user transport's output queues.
 *
 * Each connection has a queue of messages (replies JS handed over, in its request order),
 * written by WriteConn (user_transport.cc). Across connections, higher priority goes first
 * and then the smaller message; TCP_NOTSENT_LOWAT keeps the kernel's unsent queue short so
 * that ordering, and unsendRecord, still have something to act on.
 */
#include "out_queue.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "connection.h"
#include "engine.h"
#include "transport.h"

namespace recordcache {

void IoThread::MarkReady(Conn* c) {
  if (c->in_ready_list || c->closed()) return;
  c->in_ready_list = true;
  ready_.push_back(c);
}

void IoThread::Enqueue(Conn* c, MessageBody* body) {
  if (body->total == 0) return;
  if (c->kernel) {
    EnqueueKernel(c, body);
    return;
  }
  body->Ref();
  CountQueued(body, 1);
  if (options_.priority_within_connection) {
    c->out.push_by_priority(OutMessage{body, 0, 0, body->total, false});
  } else {
    c->out.push_back(OutMessage{body, 0, 0, body->total, false});
  }
  c->out_bytes += body->total;
  stats_.sends.fetch_add(body->record_serials.size(), std::memory_order_relaxed);
  if (c->out_bytes > options_.out_limit_hard) {
    // A client that asks for more than it will ever read: let it go rather than hold it all.
    CloseConn(c, kCloseQueueLimit);
    return;
  }
  NoteOutputLevel(c);
  MarkReady(c);
}

/* Writes every connection with output and room, higher priority first. */
void IoThread::WriteReady() {
  std::vector<Conn*> writable;
  writable.swap(ready_);
  for (Conn* c : writable) c->in_ready_list = false;
  writable.erase(std::remove_if(writable.begin(), writable.end(),
                                [](Conn* c) { return c->closed() || c->out.empty() || !c->can_write; }),
                 writable.end());
  // Higher priority first; then the connection whose next reply is smaller.
  std::sort(writable.begin(), writable.end(), [](Conn* a, Conn* b) {
    const OutMessage& x = a->out.front();
    const OutMessage& y = b->out.front();
    if (x.body->priority != y.body->priority) return x.body->priority > y.body->priority;
    return x.remaining < y.remaining;
  });
  for (Conn* c : writable) {
    WriteConn(c);
    AfterOutputChange(c);
    if (!c->closed() && c->can_write && !c->out.empty()) MarkReady(c);
  }
}

void IoThread::Advance(Conn* c, uint64_t n) {
  c->out_bytes -= n;
  while (n > 0) {
    OutMessage& message = c->out.front();
    message.started = true;
    const Piece& piece = message.body->pieces[message.piece_index];
    const uint64_t take = std::min<uint64_t>(n, piece.length - message.piece_offset);
    message.piece_offset += take;
    message.remaining -= take;
    n -= take;
    if (message.piece_offset == piece.length) {
      message.piece_index++;
      message.piece_offset = 0;
    }
    if (message.remaining == 0) {
      stats_.sends_completed.fetch_add(message.body->record_serials.size(), std::memory_order_relaxed);
      Release(message);
      c->out.pop_front();
    }
  }
}

void IoThread::AfterOutputChange(Conn* c) {
  if (c->closed()) return;
  NoteOutputLevel(c);
  if (c->state == ConnState::kEnding) {
    if (c->out.empty() && (!c->kernel || c->kernel->sends.empty()) && !c->in_flight) {
      CloseConn(c);
    } else if (c->kernel && c->can_read) {
      // A report of its sends may already wait on the session, its edge taken.
      MarkInput(c);
    }
    return;
  }
  if ((c->state == ConnState::kBlocked || c->state == ConnState::kPaused) &&
      c->out_bytes <= options_.out_limit_soft / 2) {
    c->state = ConnState::kReading;
    MarkInput(c);
  } else if (c->kernel && c->can_read && c->waits_on_output()) {
    MarkInput(c);
  }
}

void IoThread::NoteOutputLevel(Conn* c) {
  if (options_.out_high_water == 0) return;
  const bool over = c->over_high_water ? c->out_bytes > options_.out_low_water : c->out_bytes > options_.out_high_water;
  if (over == c->over_high_water) return;
  c->over_high_water = over;
  staging_.events.insert(staging_.events.end(), {kEventOutput, static_cast<int32_t>(c->slot), over ? 1 : 0});
}

int64_t IoThread::Unsend(uint64_t serial, const std::vector<uint32_t>& slots) {
  int64_t dropped = 0;
  for (uint32_t slot : slots) {
    Conn* c = Lookup(slot);
    if (c == nullptr) continue;
    if (c->kernel) {
      dropped += UnsendKernel(c, serial);
      AfterOutputChange(c);
      continue;
    }
    for (auto it = c->out.begin(); it != c->out.end();) {
      const auto& serials = it->body->record_serials;
      if (!it->started && std::find(serials.begin(), serials.end(), serial) != serials.end()) {
        c->out_bytes -= it->remaining;
        Release(*it);
        it = c->out.erase(it);
        dropped++;
      } else {
        ++it;
      }
    }
    AfterOutputChange(c);
  }
  return dropped;
}

}  // namespace recordcache
