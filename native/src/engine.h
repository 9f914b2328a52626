/*
 * The native records engine: an I/O thread with epoll that owns the listening sockets and
 * the connections, frames requests natively and hands JS batches of whole requests from
 * many connections at once, and writes the replies JS hands back (bytes and record slices)
 * with writev and sendfile, in each connection's request order.
 *
 * Threads. The I/O thread owns every Conn and every output queue. The JS thread talks to
 * it through one command queue (Push*, woken through an eventfd) and hears from it through
 * one Delivery (TakeDelivery, announced by `notify`, a thread-safe function call). The
 * only memory both threads read is (a) records, immutable and reference counted, and (b)
 * the input bytes of a batch in flight, which the I/O thread does not touch from the
 * moment it hands the batch over until JS has completed it.
 *
 * Files. engine.cc: starting, stopping, the command queue and the delivery. loop.cc: the
 * I/O thread's epoll loop, commands, accepting, timers. connection.{h,cc}: a connection's
 * input, batches and lifecycle. out_queue.{h,cc}: messages and output by priority.
 * transport.h: the user (user_transport.cc) and kmod (kmod_transport.cc) transports.
 */
#ifndef RECORDCACHE_ENGINE_H
#define RECORDCACHE_ENGINE_H

#include <sys/socket.h>
#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "framer.h"
#include "hit_reply.h"
#include "http_conn.h"
#include "read_index.h"
#include "record.h"

namespace recordcache {

struct EngineOptions {
  rp_limits limits = DefaultFramingLimits();
  /* -B: RP_PROTO_AUTO lets each connection's first byte choose (rp_choose). */
  uint8_t protocol = RP_PROTO_AUTO;
  /* Seconds without traffic before a connection is closed; 0 never. */
  uint32_t idle_timeout_seconds = 0;
  /* Past this much unwritten output, stop reading the connection's requests. */
  uint64_t out_limit_soft = 1024 * 1024;
  /* Past this much unwritten output, close the connection. */
  uint64_t out_limit_hard = 256ull * 1024 * 1024;
  /* -o input_mem_limit: input buffers across all connections before one is cut off; 0 none. */
  uint64_t input_mem_limit = 0;
  /* Records at least this long go into a sealed memfd (see record.h). */
  size_t memfd_threshold = kMemfdRecordThreshold;
  /* TCP_NOTSENT_LOWAT of every TCP connection (loop.cc kNotSentLowat); 0 leaves the kernel's. */
  int notsent_lowat = -1;
  /* The kmod backend: TCP connections are framed and written by the records module (kmod.h). */
  bool kmod = false;
  /* -Y: text connections send memcached's authentication request before anything else. */
  bool ascii_auth = false;
  /* -t: I/O threads, each owning its share of the connections (one with kmod). */
  uint32_t threads = 1;
  /*
   * A message queued with a higher priority goes before lower ones not yet started on the
   * same connection (the records library). Off for memcached, whose replies keep request order.
   */
  bool priority_within_connection = false;
  /*
   * The records library's backpressure events (kEventOutput): reported once when a
   * connection's unwritten output passes the high mark, and again once it is back at or
   * below the low mark. 0: not reported.
   */
  uint64_t out_high_water = 0;
  uint64_t out_low_water = 0;
};

/*
 * A small vector of trivially copyable items that keeps its first N in place: a reply
 * usually has one to three pieces and names one record, and replies are made at request rate.
 */
template <typename T, size_t N>
class SmallVector {
 public:
  SmallVector() = default;
  SmallVector(const SmallVector&) = delete;
  SmallVector& operator=(const SmallVector&) = delete;
  ~SmallVector() {
    if (data_ != inline_) free(data_);
  }
  void push_back(const T& item) {
    if (size_ == capacity_) Grow();
    data_[size_++] = item;
  }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }

 private:
  void Grow() {
    size_t capacity = capacity_ * 2;
    T* grown = static_cast<T*>(malloc(capacity * sizeof(T)));
    if (grown == nullptr) abort();
    memcpy(static_cast<void*>(grown), data_, size_ * sizeof(T));
    if (data_ != inline_) free(data_);
    data_ = grown;
    capacity_ = capacity;
  }
  T inline_[N];
  T* data_ = inline_;
  size_t size_ = 0;
  size_t capacity_ = N;
};

/*
 * One reply (a sendRecord message), shared by every connection of the group it went to.
 * Its own bytes (reply lines, short values) live in the same allocation, after it.
 */
struct MessageBody {
  static MessageBody* Create(size_t own_bytes);

  SmallVector<Piece, 4> pieces;  // each record piece holds one reference on its record
  /* initRecord records whose bytes the message carries, referenced or copied (unsend). */
  SmallVector<uint64_t, 2> record_serials;
  uint64_t total = 0;
  int32_t priority = 0;
  std::atomic<uint32_t> refs{1};
  uint8_t* bytes = nullptr;

  const uint8_t* Data(const Piece& piece) const {
    return (piece.record != nullptr ? piece.record->data() : bytes) + piece.offset;
  }
  void Ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  void Unref();
};

/* Events handed to JS, as int32 words. */
enum EventKind : int32_t {
  kEventOpen = 1,      // slot, remote string index, local string index
  kEventRequests = 2,  // slot, count, BatchFlags, buffer index
  kEventClose = 3,     // slot, CloseReason
  kEventOpenHttp = 4,  // as kEventOpen, for a connection of the HTTP listener (http_conn.h)
  kEventOutput = 5,    // slot, 1 past the high-water mark or 0 back at the low one
};

/* Why a connection closed, as kEventClose reports it. */
enum CloseReason : int32_t {
  /* JS ended or destroyed it, the server stopped, or it was idle too long. */
  kCloseLocal = 1,
  /* The peer closed its side. */
  kClosePeer = 2,
  /* A reset or another error of the socket. */
  kCloseReset = 3,
  /* Its unwritten output passed out_limit_hard (or the module's queue for it filled). */
  kCloseQueueLimit = 4,
  /* It sent what the framing closes on (a line or message too long). */
  kCloseFraming = 5,
};

/* What a kEventRequests batch says about itself. */
enum BatchFlags : int32_t {
  /* The first request completes a data block that was still arriving (RequestBatch.firstCompletesData). */
  kBatchCompletesData = 1,
  /* The connection closes after this batch: memcached drops the replies it has not yet written. */
  kBatchCloses = 2,
  /* The connection speaks the binary protocol, as the framer chose from -B and its first byte (rp_choose). */
  kBatchBinary = 4,
};

/* A batch of whole requests, read from the connection's input buffer by the JS thread. */
struct BatchRef {
  const uint8_t* base;
  uint32_t first;  // index into Delivery::starts/lengths
  uint32_t count;
  uint64_t bytes;
};

struct Delivery {
  std::vector<int32_t> events;
  std::vector<std::string> strings;
  std::vector<BatchRef> batches;
  std::vector<uint64_t> starts;  // relative to the batch's base
  std::vector<uint32_t> lengths;
  /* Natively served fetches the store is to hear of (ReadIndex::CountHit), one reference each. */
  std::vector<IndexEntry*> fetched;
  /* Bytes read since the last delivery; they go with the next one, and alone wake nobody. */
  uint64_t bytes_read = 0;

  bool empty() const { return events.empty() && fetched.empty(); }
  void Append(Delivery&& other);
  void Clear();

  /*
   * Calls visit(at, batch) for each requests event, in order: `at` is where the event
   * starts in `events` (kind, slot, count, flags, buffer), `batch` its requests.
   */
  template <typename Visit>
  void ForEachBatch(Visit&& visit) const {
    size_t batch_index = 0;
    for (size_t i = 0; i < events.size();) {
      const int32_t kind = events[i];
      if (kind == kEventOpen || kind == kEventOpenHttp) {
        i += 4;
      } else if (kind == kEventClose || kind == kEventOutput) {
        i += 3;
      } else {
        visit(i, batches[batch_index++]);
        i += 5;
      }
    }
  }
};

/* Operations the JS thread queues for the I/O thread. */
enum class CommandKind : uint8_t {
  Send,
  Complete,
  End,
  Destroy,
  AckClose,
  AddListener,
  CloseListeners,
  Drain,
  DestroyAll,
  Unsend,
  Authenticated,
  AdoptConnection,
};

struct SyncResult {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int64_t value = 0;
};

struct Command {
  explicit Command(CommandKind k) : kind(k) {}
  CommandKind kind;
  uint32_t slot = 0;
  int64_t value = 0;
  MessageBody* body = nullptr;  // Send: one reference owned by the command
  std::vector<uint32_t> slots;  // Send, Unsend
  uint64_t record_serial = 0;   // Unsend
  int fd = -1;                  // AddListener, AdoptConnection
  bool is_unix = false;
  std::string label;
  std::shared_ptr<HttpSettings> http;  // AddListener: the HTTP listener's
  SyncResult* sync = nullptr;
};

struct Conn;
struct KernelSend;
struct Listener;
struct HttpRequest;
class Engine;

/*
 * One I/O thread: its epoll, the connections it accepted, their input, output and timers,
 * and the commands JS queued for them. Connection slots are global: slot = local slot *
 * threads + this thread's index, so JS names a connection and the Engine finds its thread.
 */
class IoThread {
 public:
  IoThread(Engine* engine, uint32_t index, uint32_t count);
  ~IoThread();

  bool Start(std::string* error);
  /* Stops the thread and closes every socket it owns. */
  void Stop();
  /* JS thread: queue commands (in order) and wake the thread. */
  void Push(std::vector<Command>& commands);
  int64_t PushAndWait(Command command);

 private:
  /* What an epoll event's data.u64 names: one of these, or else a connection's slot. */
  static constexpr uint64_t kListenerTag = uint64_t{1} << 63;
  static constexpr uint64_t kWakeTag = uint64_t{1} << 62;

  void FlushDelivery();
  void ReleaseConnections();
  // loop.cc: the I/O thread's loop.
  void Run();
  void ProcessCommands();
  void Apply(Command& command);
  void Accept(Listener* listener);
  void AddConnection(int fd, bool is_unix, const std::string& label, const sockaddr_storage& peer,
                     const std::shared_ptr<HttpSettings>& http = nullptr);
  void CheckIdle();
  void Teardown();
  /* The open connection with this global slot, if this thread owns it. */
  Conn* Lookup(uint32_t slot);
  /* The connection with this global slot in any state, if this thread owns it. */
  Conn* Owned(uint32_t slot);
  // connection.cc: input, batches to JS, ending and closing.
  void MarkInput(Conn* c);
  void ServiceInput(Conn* c);
  /* What FrameAndDeliver did with the requests it framed. */
  enum class Framed { kNone, kDelivered, kServed };
  Framed FrameAndDeliver(Conn* c);
  void ReadSome(Conn* c);
  void Complete(Conn* c, uint32_t handled);
  void FreeInput(Conn* c);
  bool SettleEmptyPass(Conn* c, size_t pos, bool close_now);
  bool CutOffInput(Conn* c);
  void EndConn(Conn* c);
  /* Closes now; `reason` is reported unless an earlier one was noted (Conn::close_reason). */
  void CloseConn(Conn* c, CloseReason reason = kCloseLocal);
  // serve_hits.cc: GET hits answered from the read index.
  uint32_t ServeHits(Conn* c, uint32_t first, uint32_t count, bool* budget_spent);
  uint32_t ServeSingleGet(Conn* c, uint32_t first, int32_t now, bool* miss);
  // http_serve.cc: the HTTP listener's connections.
  Framed FrameHttp(Conn* c);
  bool RenderHttpHit(Conn* c, const uint8_t* data, const HttpRequest& request, int32_t now);
  void CheckHttpTimeouts();
  void DiscardUnread(Conn* c);
  // out_queue.cc: queued replies, written by priority.
  void MarkReady(Conn* c);
  void Enqueue(Conn* c, MessageBody* body);
  void WriteReady();
  void Advance(Conn* c, uint64_t n);
  void AfterOutputChange(Conn* c);
  /* kEventOutput when the connection's unwritten output crossed a water mark. */
  void NoteOutputLevel(Conn* c);
  int64_t Unsend(uint64_t serial, const std::vector<uint32_t>& slots);
  // user_transport.cc: plain sockets (transport.h).
  void ReadSocket(Conn* c);
  void WaitForBytes(Conn* c, uint64_t missing);
  void SetRcvLowat(Conn* c, int value);
  void WriteConn(Conn* c);
  // kmod_transport.cc: the records module (transport.h).
  bool AttachKernel(Conn* c);
  void ReadKernel(Conn* c, bool reports_only = false);
  void EnqueueKernel(Conn* c, MessageBody* body);
  bool SendKernel(Conn* c, MessageBody* body, const Piece* record_piece, const uint8_t* affix, size_t prefix_length,
                  size_t suffix_length);
  bool FitsOneKernelSend(const MessageBody* body) const;
  bool KernelFrontStarted(Conn* c, int32_t priority);
  void PlaceKernelSend(Conn* c, const KernelSend& send, bool front_started);
  bool SendKernelCopy(Conn* c, MessageBody* body);
  void RetireKernelSends(Conn* c, uint64_t total, int32_t error);
  int64_t UnsendKernel(Conn* c, uint64_t serial);
  void CloseKernel(Conn* c, bool orderly);

  Engine* engine_;
  const EngineOptions& options_;
  RecordStats& stats_;
  ReadIndex& index_;
  const uint32_t thread_index_;
  const uint32_t thread_count_;

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  std::mutex command_mu_;
  std::vector<Command> commands_;
  std::atomic<bool> wake_pending_{false};

  // Owned by the thread.
  Delivery staging_;
  std::vector<Conn*> slots_;  // by local slot
  std::vector<uint32_t> free_slots_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<Conn*> input_pending_;
  std::vector<Conn*> ready_;
  std::vector<Conn*> doomed_;
  std::vector<uint8_t> scratch_;
  // serve_hits.cc: a reply being built, and the entries it holds.
  HitReply hit_reply_;
  int64_t now_ms_ = 0;
  int64_t next_idle_check_ms_ = 0;
  int rcvlowat_cap_ = 0;
  /* An HTTP listener was added: its connections' timeouts are checked each second. */
  bool http_listening_ = false;
  // kmod backend.
  int kmod_control_ = -1;
  std::vector<uint8_t> kmod_read_;
  std::vector<uint8_t> kmod_affix_;
};

/*
 * The engine as JS sees it: its I/O threads (-t), the read index they answer hits from, the
 * records' counters, and the one delivery every thread hands its batches into.
 */
class Engine {
 public:
  Engine(const EngineOptions& options, std::function<void()> notify);
  ~Engine();

  bool Start(std::string* error);
  /* Stops the I/O threads and closes every socket they own. */
  void Stop();

  /* JS thread: queue commands (in order) for the threads they concern, and wake them. */
  void Push(std::vector<Command>& commands);
  /* JS thread: run one command (on every thread it concerns) and wait until it is done. */
  int64_t PushAndWait(Command command);
  /* JS thread: everything the I/O threads have delivered since the last call. */
  void TakeDelivery(Delivery* out);

  const EngineOptions& options() const { return options_; }
  RecordStats& stats() { return stats_; }
  /* What JS publishes for the I/O threads to answer GET hits with (read_index.h). */
  ReadIndex& index() { return index_; }
  /* kmod backend: the session records are made on, else -1. */
  int kmod_control() const { return kmod_control_; }
  uint64_t next_record_serial() { return record_serial_.fetch_add(1, std::memory_order_relaxed) + 1; }
  uint32_t threads() const { return static_cast<uint32_t>(threads_.size()); }

  /* I/O threads: hand over what a turn produced, and wake JS once for all of it. */
  void Deliver(Delivery& staging);

 private:
  EngineOptions options_;
  std::function<void()> notify_;
  RecordStats stats_;
  ReadIndex index_;
  std::atomic<uint64_t> record_serial_{0};
  int kmod_control_ = -1;
  std::vector<std::unique_ptr<IoThread>> threads_;
  /* Listening sockets: every thread polls them; the engine closes them. */
  std::vector<int> listener_fds_;
  /* The thread the next adopted connection goes to (JS thread). */
  uint32_t next_adopter_ = 0;

  std::mutex delivery_mu_;
  Delivery pending_;
  std::atomic<bool> notify_pending_{false};
};

}  // namespace recordcache

#endif
