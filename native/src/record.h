/*
 * Records: immutable bytes owned by the addon, reference counted across the JS thread (one
 * reference while the JS handle is live) and the I/O thread (one per queued message).
 *
 * Small records live on the heap and are written with writev. Large ones live in a sealed
 * memfd of their own, mapped read-only: queued on several connections at once they go out
 * with sendfile, so every socket's queue references the same page-cache pages instead of
 * holding a copy (notes/kernel.md §0 finding 1); queued on one, they are copied from the
 * mapping with writev, which is faster for a single reader. A memfd record is never written
 * after it is sealed and its file is never reused: pages that TCP still references are only
 * released by the kernel when the last reader has them.
 */
#ifndef RECORDCACHE_RECORD_H
#define RECORDCACHE_RECORD_H

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace recordcache {

/*
 * Values at least this long become memfd records; shorter ones are heap records.
 * Measured with native/measure-threshold.ts (the same value sent to 200 connections, which
 * is when sendfile is used; engine and readers pinned to one CPU each, 2-vCPU VM, kernel
 * 6.18, loopback): the engine's CPU per GB delivered was 0.59 s with sendfile vs 0.24 s
 * with writev at 4 KiB, about equal at 16 KiB (0.20 vs 0.20), and lower with sendfile from
 * 32 KiB on (0.12 vs 0.16 at 32 KiB, 0.10 vs 0.15 at 48 KiB, 0.10 vs 0.15 at 128 KiB);
 * delivery rates were within the run-to-run noise of each other (a shared machine) from
 * 16 KiB up. Below 16 KiB the header, sendfile and trailer syscalls cost more than the copy
 * they save. The memory saving grows with the value: a copy per socket with writev, about
 * one page of bookkeeping per socket with sendfile (notes/kernel.md §0: 65 KiB vs 2.8 KiB
 * per socket for 64 KiB values; 500 slow readers of one 200 KB value grew the machine's
 * used memory by 5-11 MB here, against 101-132 MB for memcached). 32 KiB is the smallest
 * size where sharing pages costs no CPU.
 */
constexpr size_t kMemfdRecordThreshold = 32 * 1024;

/* Record slices this short are copied into a reply's own bytes (one iovec) instead of referenced. */
constexpr size_t kInlineRecordLimit = 1024;

struct RecordStats {
  std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> live{0};
  std::atomic<uint64_t> live_bytes{0};
  std::atomic<uint64_t> memfd_live{0};
  /* Records with a copy in the records kernel module (kmod backend). */
  std::atomic<uint64_t> kernel_live{0};
  /* Record slices queued by reference on a connection (one per connection per slice). */
  std::atomic<uint64_t> sends{0};
  /* Of those, the ones written in full. */
  std::atomic<uint64_t> sends_completed{0};
  /* Calls into JS with requests, and the requests they carried (requests per call = batching). */
  std::atomic<uint64_t> deliveries{0};
  std::atomic<uint64_t> delivered_requests{0};
  /* kmod backend: connections attached to the module, and ones it refused (served natively). */
  std::atomic<uint64_t> kernel_connections{0};
  std::atomic<uint64_t> kernel_refused{0};
};

class Record {
 public:
  /* Copies `length` bytes once; a memfd record when `use_memfd` and the memfd can be made. */
  static Record* Create(const uint8_t* bytes, size_t length, bool use_memfd, RecordStats* stats);

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) Destroy();
  }

  bool is_memfd() const { return memfd_ >= 0; }
  /*
   * The kmod backend's copy in the records module (a record fd), or -1. The bytes stay
   * here as well, for connections the module does not serve (unix sockets).
   */
  int kernel_fd() const { return kernel_fd_; }
  void set_kernel_fd(int fd) { kernel_fd_ = fd; }
  int memfd() const { return memfd_; }
  /* The bytes: heap memory, or a read-only mapping of the memfd. */
  const uint8_t* data() const { return data_; }
  size_t length() const { return length_; }

  /*
   * Messages queued on connections that carry this record by reference, on every I/O
   * thread: it decides whether a memfd record is worth sendfile.
   */
  std::atomic<uint32_t> queued{0};

 private:
  Record() = default;
  ~Record() = default;
  /* Header and bytes in one allocation. */
  static Record* CreateHeap(size_t length);
  void Destroy();

  std::atomic<int32_t> refs_{1};
  int memfd_ = -1;
  int kernel_fd_ = -1;
  uint8_t* data_ = nullptr;
  bool mapped_ = false;
  size_t length_ = 0;
  /* Counted in stats (records made by initRecord, not reply bytes). */
  RecordStats* stats_ = nullptr;
};

/* Part of a reply: a slice of a record, or (record null) of the reply's own bytes. */
struct Piece {
  Record* record;
  uint64_t offset;
  uint64_t length;
};

}  // namespace recordcache

#endif
