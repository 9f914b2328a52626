/*
 * The user transport: plain sockets the engine reads and writes itself.
 *
 * Bytes go out with one sendmsg over many iovecs; a memfd record queued on several
 * connections goes out with sendfile instead (with MSG_MORE on the bytes before it), so the
 * sockets share its pages.
 */
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "connection.h"
#include "engine.h"
#include "out_queue.h"

namespace recordcache {

namespace {

/* Missing value bytes below this are not worth two setsockopt calls for SO_RCVLOWAT. */
constexpr uint64_t kRcvLowatMinimum = 16 * 1024;
/*
 * A memfd record goes out with sendfile (every socket referencing the same pages) once it is
 * queued on at least this many connections; queued on fewer, it is copied with writev from
 * its mapping. One reader gains nothing from shared pages, and on loopback a 100 KB value
 * went out at 5.7-6.0 GB/s with writev against 3.2-3.6 GB/s with header + sendfile + trailer
 * (32 connections, 100 keys, the engine on one CPU).
 */
constexpr uint32_t kSharedSendMinimum = 2;
/* Bytes one connection may write per turn before the next ready connection gets its turn. */
constexpr uint64_t kWriteBudget = 512 * 1024;
constexpr int kMaxIov = 256;

}  // namespace

void IoThread::ReadSocket(Conn* c) {
  // A connection with nothing buffered reads into the loop's scratch buffer and keeps only
  // the bytes that came: one sending a short request now and then holds those bytes while
  // JS answers, not a read buffer. One that fills its reads reads into its own buffer.
  const bool into_scratch = c->in == nullptr && c->swallow == 0 && c->needed == 0 && c->read_size <= scratch_.size();
  uint8_t* into;
  size_t room;
  if (into_scratch) {
    into = scratch_.data();
    room = c->read_size;
  } else {
    size_t available = c->in_tail - c->in_head;
    size_t want = c->read_size;
    if (c->needed > available) want = std::max<size_t>(want, c->needed - available);
    ReserveInput(c, want);
    into = c->in + c->in_tail;
    room = c->in_cap - c->in_tail;
  }
  ssize_t n;
  do {
    n = read(c->fd, into, room);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    const size_t got = static_cast<size_t>(n);
    if (into_scratch) {
      ReserveInput(c, got);
      memcpy(c->in, into, got);
    }
    c->last_activity_ms = now_ms_;
    staging_.bytes_read += static_cast<uint64_t>(n);
    if (c->swallow > 0) {
      // Data of a value too large to store: dropped as it arrives, never buffered.
      const uint64_t skip = std::min<uint64_t>(c->swallow, static_cast<uint64_t>(n));
      c->swallow -= skip;
      if (skip < static_cast<uint64_t>(n)) {
        memmove(c->in + c->in_tail, c->in + c->in_tail + skip, static_cast<size_t>(n) - skip);
      }
      n -= static_cast<ssize_t>(skip);
      if (n == 0 && c->in_head == c->in_tail) FreeInput(c);
    }
    c->in_tail += static_cast<size_t>(n);
    if (got < room && !c->hangup) {
      // A short read emptied the socket; the next byte or FIN brings a new edge.
      c->can_read = false;
    } else if (c->read_size < kMaxReadSize) {
      c->read_size *= 2;
    }
    return;
  }
  c->can_read = false;
  if (n == 0) {
    c->peer_closed = true;
    return;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK) return;
  CloseConn(c, kCloseReset);
}

/*
 * Sleep until the rest of a value is in, not for every segment of it. The mark must never
 * stay above what is still to come: a stale, larger mark would never be reached.
 */
void IoThread::WaitForBytes(Conn* c, uint64_t missing) {
  // The module delivers whole requests; a low-water mark would only hold back its parser.
  if (c->kernel) return;
  SetRcvLowat(c, missing >= kRcvLowatMinimum ? static_cast<int>(std::min<uint64_t>(missing, rcvlowat_cap_)) : 1);
}

void IoThread::SetRcvLowat(Conn* c, int value) {
  if (c->rcvlowat == value) return;
  if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &value, sizeof(value)) == 0) c->rcvlowat = value;
}

void IoThread::WriteConn(Conn* c) {
  uint64_t budget = kWriteBudget;
  iovec iov[kMaxIov];
  while (!c->out.empty() && c->can_write && budget > 0) {
    int niov = 0;
    uint64_t gathered = 0;
    bool before_memfd = false;
    const Piece* memfd_piece = nullptr;
    uint64_t memfd_offset = 0;
    for (size_t m = 0; m < c->out.size() && niov < kMaxIov && gathered < budget; m++) {
      const OutMessage& message = c->out[m];
      const MessageBody& body = *message.body;
      uint64_t offset = message.piece_offset;
      for (size_t p = message.piece_index; p < body.pieces.size(); p++, offset = 0) {
        const Piece& piece = body.pieces[p];
        if (piece.record != nullptr && piece.record->is_memfd() && piece.record->queued >= kSharedSendMinimum) {
          if (niov == 0) {
            memfd_piece = &piece;
            memfd_offset = offset;
          } else {
            before_memfd = true;
          }
          goto gathered_all;
        }
        iov[niov].iov_base = const_cast<uint8_t*>(body.Data(piece) + offset);
        iov[niov].iov_len = piece.length - offset;
        gathered += piece.length - offset;
        if (++niov == kMaxIov || gathered >= budget) goto gathered_all;
      }
    }
  gathered_all:
    ssize_t n;
    if (niov > 0) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = niov;
      do {
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT | (before_memfd ? MSG_MORE : 0));
      } while (n < 0 && errno == EINTR);
    } else {
      off_t offset = static_cast<off_t>(memfd_piece->offset + memfd_offset);
      const uint64_t attempted = std::min<uint64_t>(memfd_piece->length - memfd_offset, budget);
      do {
        n = sendfile(c->fd, memfd_piece->record->memfd(), &offset, attempted);
      } while (n < 0 && errno == EINTR);
    }
    if (n <= 0) {
      // 0 cannot come from a socket with room; treat it as full rather than spin.
      if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) {
        c->can_write = false;
        return;
      }
      CloseConn(c, kCloseReset);
      return;
    }
    c->last_activity_ms = now_ms_;
    Advance(c, static_cast<uint64_t>(n));
    budget -= std::min<uint64_t>(budget, static_cast<uint64_t>(n));
    // A short write is retried: only EAGAIN guarantees an EPOLLOUT edge later.
  }
}

}  // namespace recordcache
