/*
 * The kmod transport: the records module (kmod/, kmod.h) frames a connection's requests
 * and sends its replies; the engine reads whole requests from the connection's session,
 * and with them the module's reports of how many of its sends have completed.
 */
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "connection.h"
#include "engine.h"
#include "kmod.h"
#include "transport.h"

namespace recordcache {

namespace {

/*
 * kmod backend. The module drops the data of an item too large to store. It frames with
 * the engine's own framer (kmod/records_parse.c), and is given a larger limit than -I as
 * a margin: it only ever drops data the engine's framer would swallow too.
 */
constexpr uint32_t kKernelItemSizeSlack = 64 * 1024;
/* The longest get line, as the engine's framer allows. */
constexpr uint32_t kKernelMaxLine = RP_GET_LINE_MAX;
/* A binary request header (the framer frames one without the magic as 24 bytes). */
constexpr size_t kBinaryHeaderBytes = RP_BIN_HEADER;
/* A read with room for a RECORDS_MSG_SENT and no request longer than its payload. */
constexpr size_t kKernelReportRead = RECORDS_MSG_SIZE(sizeof(uint64_t));

}  // namespace

bool IoThread::AttachKernel(Conn* c) {
  const int session = kmod::OpenSession();
  if (session < 0) {
    stats_.kernel_refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  kmod::AttachLimits limits{};
  // The module says on the session when sends complete: the engine never has to ask.
  limits.flags = RECORDS_ATTACH_RECV | RECORDS_ATTACH_TX_REPORT;
  if (options_.protocol == RP_PROTO_TEXT) limits.flags |= RECORDS_ATTACH_TEXT;
  if (options_.protocol == RP_PROTO_BINARY) limits.flags |= RECORDS_ATTACH_BINARY;
  if (options_.limits.cas) limits.flags |= RECORDS_ATTACH_CAS;
  limits.item_size_max = options_.limits.item_size_max + kKernelItemSizeSlack;
  limits.max_line = kKernelMaxLine;
  if (options_.protocol == RP_PROTO_LENGTH || options_.protocol == RP_PROTO_LINE) {
    // The records library's messages, framed by the same rp_length/rp_line in the module.
    limits.flags = RECORDS_ATTACH_RECV | RECORDS_ATTACH_TX_REPORT |
                   (options_.protocol == RP_PROTO_LENGTH ? RECORDS_ATTACH_LENGTH : RECORDS_ATTACH_LINE);
    if (options_.protocol == RP_PROTO_LENGTH && options_.limits.prefix_le) limits.flags |= RECORDS_ATTACH_LE;
    limits.item_size_max = 0;
    limits.max_line = 0;
    limits.message_max = options_.limits.message_max;
    if (options_.protocol == RP_PROTO_LENGTH) {
      limits.prefix_offset = options_.limits.prefix_offset;
      limits.prefix_width = options_.limits.prefix_width;
    }
  }
  epoll_event in{};
  in.events = EPOLLIN | EPOLLET;
  in.data.u64 = c->slot;
  if (kmod::Attach(session, c->fd, c->slot, limits) < 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, session, &in) != 0) {
    // Served by the engine itself instead (the socket is detached when its session closes).
    close(session);
    stats_.kernel_refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  c->kernel = std::make_unique<KernelConn>();
  c->kernel->session = session;
  stats_.kernel_connections.fetch_add(1, std::memory_order_relaxed);
  return true;
}

/*
 * read(2) on the connection's session: whole requests, appended to its input with where
 * each ends, so the engine takes the module's boundaries (the same C framer decided them)
 * instead of framing the bytes again; and the module's report of the sends it completed.
 * `reports_only`, for a connection waiting on its output: a read with room for the report
 * alone, which the module puts first; the requests stay in the module, whose rx_limit then
 * holds the client back (one no longer than the report's payload may come with it).
 */
void IoThread::ReadKernel(Conn* c, bool reports_only) {
  bool only_reports;
  do {
    ssize_t n;
    for (;;) {
      n = read(c->kernel->session, kmod_read_.data(), reports_only ? kKernelReportRead : kmod_read_.size());
      if (n >= 0 || errno == EINTR) {
        if (n >= 0) break;
        continue;
      }
      // No report: a request comes first, larger than the read.
      if (errno == EMSGSIZE && reports_only) return;
      if (errno == EMSGSIZE &&
          kmod_read_.size() < kKernelMaxLine + std::max(options_.limits.item_size_max, options_.limits.message_max) +
                                  2 * kKernelItemSizeSlack) {
        kmod_read_.resize(kmod_read_.size() * 2);
        continue;
      }
      c->can_read = false;
      if (errno != EAGAIN && errno != EWOULDBLOCK) CloseConn(c, kCloseReset);
      return;
    }
    if (n == 0) {
      c->can_read = false;
      return;
    }
    c->last_activity_ms = now_ms_;
    only_reports = true;
    size_t at = 0;
    while (at + sizeof(records_msg) <= static_cast<size_t>(n)) {
      records_msg msg;
      memcpy(&msg, kmod_read_.data() + at, sizeof(msg));
      const uint8_t* payload = kmod_read_.data() + at + sizeof(msg);
      at += RECORDS_MSG_SIZE(msg.len);
      if (msg.type != RECORDS_MSG_SENT) only_reports = false;
      if (msg.type == RECORDS_MSG_REQUEST) {
        ReserveInput(c, msg.len);
        if (msg.flags & RECORDS_MSGF_SPLIT) c->kernel->splits.push_back(c->in_tail);
        memcpy(c->in + c->in_tail, payload, msg.len);
        c->in_tail += msg.len;
        c->kernel->ends.push_back(c->in_tail);
        staging_.bytes_read += msg.len;
        // The module dropped the data of a value too large to store, as memcached swallows it.
        if (msg.flags & RECORDS_MSGF_DISCARD) staging_.bytes_read += msg.discard;
      } else if (msg.type == RECORDS_MSG_SENT) {
        uint64_t total;
        memcpy(&total, payload, sizeof(total));
        RetireKernelSends(c, total, msg.error);
        if (c->closed()) return;
      } else if (msg.type == RECORDS_MSG_EOF && msg.error == 0) {
        c->peer_closed = true;
      } else if (msg.type == RECORDS_MSG_EOF) {
        CloseConn(c, kCloseReset);
        return;
      } else {
        // Framing failed: nothing more comes from this socket. A line too long closes the
        // connection as the engine's framer would. A header without the request magic is
        // handed on as one (its bytes zeroed): memcached drops the replies it has not yet
        // written when it meets one, and the application decides that from the request.
        if (msg.error == -EPROTO) {
          ReserveInput(c, kBinaryHeaderBytes);
          memset(c->in + c->in_tail, 0, kBinaryHeaderBytes);
          c->in_tail += kBinaryHeaderBytes;
          c->kernel->ends.push_back(c->in_tail);
        } else {
          // As the engine's own framer's close: the requests before it are answered up to what
          // memcached would already have written, then the connection closes.
          c->kernel->close_at_end = true;
        }
        c->peer_closed = true;
      }
    }
    // A read that brought the report alone left what follows it in the module (no room
    // beside it): no new edge will announce that, so read on.
  } while (only_reports && !reports_only);
}

void IoThread::EnqueueKernel(Conn* c, MessageBody* body) {
  stats_.sends.fetch_add(body->record_serials.size(), std::memory_order_relaxed);
  if (options_.priority_within_connection && !FitsOneKernelSend(body)) {
    // The module orders each send by priority on its own: a message in several sends could
    // have a higher-priority one between its parts. One send of a copy keeps it whole.
    if (!SendKernelCopy(c, body)) return;
    if (c->out_bytes > options_.out_limit_hard) {
      CloseConn(c, kCloseQueueLimit);
      return;
    }
    NoteOutputLevel(c);
    return;
  }
  // Bytes around each record piece the module holds become its prefix and suffix.
  kmod_affix_.clear();
  const Piece* record_piece = nullptr;
  size_t prefix_length = 0;
  const size_t sends_before = c->kernel->sends.size();
  for (const Piece& piece : body->pieces) {
    if (piece.record == nullptr || piece.record->kernel_fd() < 0) {
      const uint8_t* data = body->Data(piece);
      kmod_affix_.insert(kmod_affix_.end(), data, data + piece.length);
      continue;
    }
    if (record_piece != nullptr &&
        !SendKernel(c, body, record_piece, kmod_affix_.data(), prefix_length, kmod_affix_.size() - prefix_length)) {
      return;
    }
    if (record_piece != nullptr) kmod_affix_.clear();
    record_piece = &piece;
    prefix_length = kmod_affix_.size();
  }
  if (record_piece == nullptr) prefix_length = kmod_affix_.size();
  if (!SendKernel(c, body, record_piece, kmod_affix_.data(), prefix_length, kmod_affix_.size() - prefix_length)) {
    return;
  }
  // Its records are released once the module reports the sends done (RetireKernelSends).
  if (c->kernel->sends.size() > sends_before) c->kernel->sends[c->kernel->last_placed].last = true;
  if (c->out_bytes > options_.out_limit_hard) {
    // A client that asks for more than it will ever read: let it go rather than hold it all.
    CloseConn(c, kCloseQueueLimit);
    return;
  }
  NoteOutputLevel(c);
}

/*
 * Whether the module may have started the first of the connection's sends, asked only
 * before a send that would go ahead of it (the answer must come before that send is queued).
 */
bool IoThread::KernelFrontStarted(Conn* c, int32_t priority) {
  const auto& sends = c->kernel->sends;
  if (sends.empty() || sends.front().priority >= priority) return true;
  records_sock_info info;
  return kmod::SockInfo(c->kernel->session, c->fd, &info) < 0 || info.tx_started != 0;
}

/*
 * Keeps `sends` in the order the module writes them, so the first ones are the finished
 * ones (RetireKernelSends) and unsend finds what the module still holds: by priority, as the
 * module queues, but behind the first if the module had started it.
 */
void IoThread::PlaceKernelSend(Conn* c, const KernelSend& send, bool front_started) {
  auto& sends = c->kernel->sends;
  size_t at = sends.size();
  while (at > (front_started ? 1 : 0) && sends[at - 1].priority < send.priority) at--;
  sends.insert(sends.begin() + static_cast<ptrdiff_t>(at), send);
  c->kernel->last_placed = at;
}

/* Whether the message goes to the module as one send: one record at most, and bytes that fit beside it. */
bool IoThread::FitsOneKernelSend(const MessageBody* body) const {
  size_t records = 0;
  uint64_t bytes = 0;
  for (const Piece& piece : body->pieces) {
    if (piece.record != nullptr && piece.record->kernel_fd() >= 0) {
      records++;
    } else {
      bytes += piece.length;
    }
  }
  return records <= 1 && bytes <= RECORDS_AFFIX_MAX;
}

/*
 * The whole message copied into a record of its own in the module, queued as one send; the
 * record's fd is closed at once (the send keeps its pages). Such a message is not found by
 * unsendRecord: the module knows it by the copy.
 */
bool IoThread::SendKernelCopy(Conn* c, MessageBody* body) {
  kmod_affix_.clear();
  for (const Piece& piece : body->pieces) {
    const uint8_t* data = body->Data(piece);
    kmod_affix_.insert(kmod_affix_.end(), data, data + piece.length);
  }
  const int copy = kmod::CreateRecord(kmod_control_, kmod_affix_.data(), kmod_affix_.size());
  int err = copy;
  const bool front_started = KernelFrontStarted(c, body->priority);
  if (copy >= 0) {
    const iovec none{nullptr, 0};
    err = kmod::Send(c->kernel->session, c->fd, copy, 0, RECORDS_WHOLE, none, none, body->priority);
    close(copy);
  }
  if (err != 0) {
    CloseConn(c, err == -ENOBUFS || err == -ENOMEM ? kCloseQueueLimit : kCloseReset);
    return false;
  }
  body->Ref();
  PlaceKernelSend(c, KernelSend{body, nullptr, body->total, true, body->priority}, front_started);
  c->kernel->bytes += body->total;
  c->out_bytes += body->total;
  return true;
}

/*
 * Queues [prefix][record piece][suffix] (or, without a record piece, the bytes alone) on
 * the connection's socket in the module, in as many sends as the affix limit needs.
 */
bool IoThread::SendKernel(Conn* c, MessageBody* body, const Piece* record_piece, const uint8_t* affix,
                          size_t prefix_length, size_t suffix_length) {
  auto queue = [&](const Piece* piece, const uint8_t* bytes, size_t before, size_t after) {
    const iovec prefix{const_cast<uint8_t*>(bytes), before};
    const iovec suffix{const_cast<uint8_t*>(bytes + before), after};
    const int record_fd = piece != nullptr ? piece->record->kernel_fd() : -1;
    // Memcached's replies keep request order; the library's messages go by priority (DESIGN.md).
    const int32_t priority = options_.priority_within_connection ? body->priority : 0;
    const bool front_started = KernelFrontStarted(c, priority);
    const int err = kmod::Send(c->kernel->session, c->fd, record_fd, piece != nullptr ? piece->offset : 0,
                               piece != nullptr ? piece->length : 0, prefix, suffix, priority);
    if (err != 0) {
      // -ENOBUFS: the module's queue for this socket is full; like out_limit_hard, let it go.
      CloseConn(c, err == -ENOBUFS ? kCloseQueueLimit : kCloseReset);
      return false;
    }
    const uint64_t length = before + after + (piece != nullptr ? piece->length : 0);
    body->Ref();
    PlaceKernelSend(c, KernelSend{body, piece != nullptr ? piece->record : nullptr, length, false, priority},
                    front_started);
    c->kernel->bytes += length;
    c->out_bytes += length;
    return true;
  };
  // Bytes that do not fit beside the record go out alone, before it.
  while (prefix_length > 0 && (record_piece == nullptr || prefix_length > RECORDS_AFFIX_MAX)) {
    const size_t chunk = std::min<size_t>(prefix_length, RECORDS_AFFIX_MAX);
    if (!queue(nullptr, affix, chunk, 0)) return false;
    affix += chunk;
    prefix_length -= chunk;
  }
  if (record_piece == nullptr) return true;
  const size_t suffix_first = std::min<size_t>(suffix_length, RECORDS_AFFIX_MAX - prefix_length);
  if (!queue(record_piece, affix, prefix_length, suffix_first)) return false;
  affix += prefix_length + suffix_first;
  for (size_t left = suffix_length - suffix_first; left > 0;) {
    const size_t chunk = std::min<size_t>(left, RECORDS_AFFIX_MAX);
    if (!queue(nullptr, affix, chunk, 0)) return false;
    affix += chunk;
    left -= chunk;
  }
  return true;
}

/*
 * The module's report (RECORDS_MSG_SENT): `total` sends of the socket have completed since
 * it was attached, in the order `sends` keeps, so the first of those not yet retired are
 * done; their messages are released. A send error means the connection is broken.
 */
void IoThread::RetireKernelSends(Conn* c, uint64_t total, int32_t error) {
  KernelConn& k = *c->kernel;
  const size_t done =
      static_cast<size_t>(std::min<uint64_t>(total > k.retired ? total - k.retired : 0, k.sends.size()));
  k.retired = std::max(k.retired, total);
  for (size_t i = 0; i < done; i++) {
    KernelSend& send = k.sends[i];
    k.bytes -= send.length;
    if (send.last) stats_.sends_completed.fetch_add(send.body->record_serials.size(), std::memory_order_relaxed);
    send.body->Unref();
  }
  k.sends.erase(k.sends.begin(), k.sends.begin() + static_cast<ptrdiff_t>(done));
  // Bytes of a send under way count until it completes: the module reports whole sends.
  c->out_bytes = k.bytes;
  if (error != 0) {
    CloseConn(c, kCloseReset);
    return;
  }
  if (done > 0) c->last_activity_ms = now_ms_;
  // A connection waiting on its output reads again, or closes once its replies are out.
  AfterOutputChange(c);
}

/* unsendRecord on one connection: the module drops the record's sends that have not started. */
int64_t IoThread::UnsendKernel(Conn* c, uint64_t serial) {
  auto carries = [serial](const KernelSend& send) {
    const auto& serials = send.body->record_serials;
    return send.record != nullptr && std::find(serials.begin(), serials.end(), serial) != serials.end();
  };
  auto found = std::find_if(c->kernel->sends.begin(), c->kernel->sends.end(), carries);
  if (found == c->kernel->sends.end()) return 0;
  const int removed = kmod::Unsend(c->kernel->session, c->fd, found->record->kernel_fd());
  if (removed <= 0) return 0;
  // The module removed the last `removed` of them (an unstarted send is never before a started one).
  int left = removed;
  for (size_t i = c->kernel->sends.size(); i-- > 0 && left > 0;) {
    if (!carries(c->kernel->sends[i])) continue;
    c->kernel->bytes -= c->kernel->sends[i].length;
    c->out_bytes -= std::min(c->out_bytes, c->kernel->sends[i].length);
    c->kernel->sends[i].body->Unref();
    c->kernel->sends.erase(c->kernel->sends.begin() + static_cast<ptrdiff_t>(i));
    left--;
  }
  return removed;
}

/* Closing the session detaches the socket: the module drops what is still queued. */
void IoThread::CloseKernel(Conn* c, bool orderly) {
  // An orderly end, every reply handed to TCP: push them and the FIN out now. Bytes the
  // client sent after the closing request may still sit unread in the socket (the module
  // frames from a work queue), and TCP answers close() on unread bytes with a reset that
  // discards replies not yet transmitted.
  if (orderly && c->kernel->sends.empty()) shutdown(c->fd, SHUT_WR);
  close(c->kernel->session);
  for (KernelSend& send : c->kernel->sends) send.body->Unref();
  c->kernel.reset();
}

}  // namespace recordcache
