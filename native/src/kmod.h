/*
 * The records kernel module (kmod/, /dev/records) as the engine uses it: thin wrappers
 * over its ioctls, each returning 0 or a result, or -errno. No state of its own.
 *
 * With the kmod backend every TCP connection gets a session of its own (an open
 * /dev/records) with its socket attached for receive: the module frames the requests in
 * the kernel, and epoll on the session wakes the engine only for whole requests. One
 * session per connection keeps memcached's flow control: a connection whose requests the
 * engine does not read stops being read by the module (rx_limit), and TCP's window closes
 * on that client alone. Replies and records are queued with RECORDS_IOC_SEND on the
 * connection's session; record pages go to the socket by reference.
 */
#ifndef RECORDCACHE_KMOD_H
#define RECORDCACHE_KMOD_H

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>

#include "records.h"

namespace recordcache {
namespace kmod {

/* Opens a session, non-blocking and close-on-exec; -errno when the module is not there. */
int OpenSession();

/* RECORDS_IOC_INIT: a record fd holding a copy of the bytes, or -errno. */
int CreateRecord(int session, const uint8_t* bytes, size_t length);

struct AttachLimits {
  uint32_t flags;  // RECORDS_ATTACH_*
  uint32_t item_size_max;
  uint32_t max_line;
  // RECORDS_ATTACH_LENGTH, RECORDS_ATTACH_LINE: the records library's message framings.
  uint32_t message_max;
  uint32_t prefix_offset;
  uint32_t prefix_width;
};

int Attach(int session, int sock, uint64_t cookie, const AttachLimits& limits);

/*
 * RECORDS_IOC_SEND to one socket: [prefix][record slice][suffix], or the bytes alone when
 * record_fd is -1. prefix.iov_len + suffix.iov_len <= RECORDS_AFFIX_MAX.
 */
int Send(int session, int sock, int record_fd, uint64_t offset, uint64_t length, const iovec& prefix,
         const iovec& suffix, int32_t priority);

/* RECORDS_IOC_UNSEND on one socket: how many sends were removed, or -errno. */
int Unsend(int session, int sock, int record_fd);

int SockInfo(int session, int sock, records_sock_info* info);

}  // namespace kmod
}  // namespace recordcache

#endif
