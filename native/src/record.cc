/*
 * Record storage: one heap block, or one sealed memfd per large record.
 */
#include "record.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace recordcache {

namespace {

/* Writes all of bytes at the start of a fresh memfd and seals it; -1 on any failure. */
int MakeSealedMemfd(const uint8_t* bytes, size_t length) {
  int fd = memfd_create("recordcache-record", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  size_t done = 0;
  while (done < length) {
    ssize_t n = write(fd, bytes + done, length - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      close(fd);
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  // Sealed, the bytes cannot change under the sockets whose queues reference the pages.
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

Record* Record::Create(const uint8_t* bytes, size_t length, bool use_memfd, RecordStats* stats) {
  Record* record = nullptr;
  if (use_memfd && length > 0) {
    int fd = MakeSealedMemfd(bytes, length);
    // Mapped read-only as well: a record queued on one connection is cheaper to copy with
    // writev than to splice (user_transport.cc kSharedSendMinimum). Sealing forbids only writable maps.
    void* map = fd >= 0 ? mmap(nullptr, length, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0) : MAP_FAILED;
    if (map != MAP_FAILED) {
      record = new Record();
      record->memfd_ = fd;
      record->data_ = static_cast<uint8_t*>(map);
      record->mapped_ = true;
      record->length_ = length;
      stats->memfd_live.fetch_add(1, std::memory_order_relaxed);
    } else if (fd >= 0) {
      close(fd);
    }
  }
  if (record == nullptr) {
    record = CreateHeap(length);
    if (length > 0) memcpy(record->data_, bytes, length);
  }
  record->stats_ = stats;
  stats->created.fetch_add(1, std::memory_order_relaxed);
  stats->live.fetch_add(1, std::memory_order_relaxed);
  stats->live_bytes.fetch_add(length, std::memory_order_relaxed);
  return record;
}

Record* Record::CreateHeap(size_t length) {
  void* block = malloc(sizeof(Record) + (length == 0 ? 1 : length));
  if (block == nullptr) abort();
  Record* record = new (block) Record();
  record->data_ = reinterpret_cast<uint8_t*>(block) + sizeof(Record);
  record->length_ = length;
  return record;
}

void Record::Destroy() {
  if (stats_ != nullptr) {
    stats_->live.fetch_sub(1, std::memory_order_relaxed);
    stats_->live_bytes.fetch_sub(length_, std::memory_order_relaxed);
    if (memfd_ >= 0) stats_->memfd_live.fetch_sub(1, std::memory_order_relaxed);
    if (kernel_fd_ >= 0) stats_->kernel_live.fetch_sub(1, std::memory_order_relaxed);
  }
  // The module keeps the pages of sends still queued: closing the fd is delRecord.
  if (kernel_fd_ >= 0) close(kernel_fd_);
  if (memfd_ >= 0) {
    // Pages still referenced by socket buffers stay valid: the kernel holds its own references.
    if (mapped_) munmap(data_, length_);
    close(memfd_);
    delete this;
    return;
  }
  this->~Record();
  free(this);
}

}  // namespace recordcache
