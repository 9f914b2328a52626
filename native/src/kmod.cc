/*
 * Wrappers over the records module's ioctls (kmod/include/uapi/records.h).
 */
#include "kmod.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>

namespace recordcache {
namespace kmod {

namespace {

int Result(long ret) { return ret < 0 ? -errno : static_cast<int>(ret); }

uint64_t Pointer(const void* p) { return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(p)); }

}  // namespace

int OpenSession() { return Result(open(RECORDS_DEVICE, O_RDWR | O_NONBLOCK | O_CLOEXEC)); }

int CreateRecord(int session, const uint8_t* bytes, size_t length) {
  records_init init{};
  init.data = Pointer(bytes);
  init.len = length;
  return Result(ioctl(session, RECORDS_IOC_INIT, &init));
}

int Attach(int session, int sock, uint64_t cookie, const AttachLimits& limits) {
  records_attach attach{};
  attach.sock_fd = sock;
  attach.flags = limits.flags;
  attach.cookie = cookie;
  attach.item_size_max = limits.item_size_max;
  attach.max_line = limits.max_line;
  attach.message_max = limits.message_max;
  attach.prefix_offset = limits.prefix_offset;
  attach.prefix_width = limits.prefix_width;
  return Result(ioctl(session, RECORDS_IOC_ATTACH, &attach));
}

int Send(int session, int sock, int record_fd, uint64_t offset, uint64_t length, const iovec& prefix,
         const iovec& suffix, int32_t priority) {
  records_dest dest{};
  dest.sock_fd = sock;
  dest.prefix = Pointer(prefix.iov_base);
  dest.prefix_len = static_cast<uint32_t>(prefix.iov_len);
  dest.suffix = Pointer(suffix.iov_base);
  dest.suffix_len = static_cast<uint32_t>(suffix.iov_len);
  records_send send{};
  send.record_fd = record_fd;
  send.priority = priority;
  send.offset = record_fd >= 0 ? offset : 0;
  send.length = record_fd >= 0 ? length : 0;
  send.ndests = 1;
  send.dests = Pointer(&dest);
  int queued = Result(ioctl(session, RECORDS_IOC_SEND, &send));
  if (queued < 0) return queued;
  return queued == 1 ? 0 : dest.result;
}

int Unsend(int session, int sock, int record_fd) {
  records_unsend unsend{};
  unsend.record_fd = record_fd;
  unsend.nsocks = 1;
  unsend.socks = Pointer(&sock);
  return Result(ioctl(session, RECORDS_IOC_UNSEND, &unsend));
}

int SockInfo(int session, int sock, records_sock_info* info) {
  *info = records_sock_info{};
  info->sock_fd = sock;
  return Result(ioctl(session, RECORDS_IOC_SOCK_INFO, info));
}

}  // namespace kmod
}  // namespace recordcache
