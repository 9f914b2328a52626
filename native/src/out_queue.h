/*
 * A connection's output in the user transport: the messages queued on it, in its request
 * order, each with how far it has been written.
 */
#ifndef RECORDCACHE_OUT_QUEUE_H
#define RECORDCACHE_OUT_QUEUE_H

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine.h"

namespace recordcache {

struct OutMessage {
  MessageBody* body;
  uint32_t piece_index;
  uint64_t piece_offset;
  uint64_t remaining;
  bool started;
};

/*
 * A connection's queue of messages: a vector read from `head_`, so an idle connection
 * holds no allocation (std::deque allocates a block as soon as it is made).
 */
class OutQueue {
 public:
  using iterator = std::vector<OutMessage>::iterator;
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  OutMessage& front() { return items_[head_]; }
  const OutMessage& front() const { return items_[head_]; }
  OutMessage& operator[](size_t i) { return items_[head_ + i]; }
  iterator begin() { return items_.begin() + static_cast<ptrdiff_t>(head_); }
  iterator end() { return items_.end(); }
  void push_back(const OutMessage& message) { items_.push_back(message); }
  /*
   * Queues a message after every message of its priority or higher and before the first
   * lower-priority one not yet started (a started message is finished first). Equal
   * priorities keep their order, so a connection that only uses one stays in request order.
   */
  void push_by_priority(const OutMessage& message) {
    const int32_t priority = message.body->priority;
    size_t at = items_.size();
    while (at > head_ && !items_[at - 1].started && items_[at - 1].body->priority < priority) at--;
    items_.insert(items_.begin() + static_cast<ptrdiff_t>(at), message);
  }
  void pop_front() {
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
      // A queue that never empties must not keep every message it ever held.
      items_.erase(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  iterator erase(iterator it) {
    iterator next = items_.erase(it);
    if (empty()) {
      clear();
      return end();
    }
    return next;
  }
  void clear() {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > 64) std::vector<OutMessage>().swap(items_);
  }

 private:
  std::vector<OutMessage> items_;
  size_t head_ = 0;
};

/* Counts a message in (or out of) its records' `queued`. */
inline void CountQueued(const MessageBody* body, int delta) {
  for (const Piece& piece : body->pieces) {
    if (piece.record != nullptr) piece.record->queued += delta;
  }
}

/* Drops a queued message: its records no longer wait on this connection. */
inline void Release(OutMessage& message) {
  CountQueued(message.body, -1);
  message.body->Unref();
}

}  // namespace recordcache

#endif
