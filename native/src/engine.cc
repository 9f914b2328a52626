/*
 * The I/O thread: accept, read, frame, hand batches to JS, write replies.
 *
 * Reading. Sockets are edge triggered; a connection is read only while it has no batch in
 * flight to JS, is not held back by its own unwritten output, and is not closing, so a
 * client that pipelines gets one batch at a time in order, and a client that does not read
 * its replies stops being served (as memcached stops in conn_mwrite). When a storage
 * command's value has not all arrived, SO_RCVLOWAT is set to the bytes still missing so the
 * kernel wakes us once, when the value is in (capped at tcp_rmem[2]/2: notes/kernel.md §4).
 *
 * Writing. Each connection has a queue of messages (replies JS handed over, in its request
 * order). Bytes go out with one sendmsg over many iovecs; a memfd record queued on several
 * connections goes out with sendfile instead (with MSG_MORE on the bytes before it), so the
 * sockets share its pages. Across connections, higher priority goes first and then the
 * smaller message; TCP_NOTSENT_LOWAT keeps the kernel's unsent queue short so that
 * ordering, and unsendRecord, still have something to act on.
 */
#include "engine.h"
#include "kmod.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

namespace recordcache {

namespace {

/* Requests per batch, so one pipeline cannot starve the rest (js.ts MAX_BATCH). */
constexpr uint32_t kMaxBatch = 1024;
/* A batch stops growing past this many bytes (a run of large sets): it bounds one JS Buffer. */
constexpr uint64_t kMaxBatchBytes = 64ull * 1024 * 1024;
/* First read into an empty input buffer; doubled while reads fill it, up to the maximum. */
constexpr size_t kInitialReadSize = 16 * 1024;
constexpr size_t kMaxReadSize = 256 * 1024;
/* Missing value bytes below this are not worth two setsockopt calls for SO_RCVLOWAT. */
constexpr uint64_t kRcvLowatMinimum = 16 * 1024;
/*
 * The kernel keeps at most about this much unsent data per socket; EPOLLOUT fires again
 * below half of it (tcp_stream_memory_free). Small, so priorities and unsendRecord act on
 * queued replies rather than on bytes already handed to TCP, and a slow reader's socket
 * holds little: 500 slow readers of a 200 KB value charged TCP 52-55 MB against memcached's
 * 104-107 MB. 16 KiB to 256 KiB made no difference to 100 KB GETs at 6.5 GB/s.
 * In W7 (500 slow readers of one 200 KB value) it trades CPU for latency: server CPU per GB
 * 1.15x memcached's at 64 KiB, 0.91x at 256 KiB and 0.85x with no limit, while small GETs
 * beside it reached p99 0.33x memcached's at 64 KiB but only 0.57x and 0.54x otherwise.
 */
constexpr int kNotSentLowat = 64 * 1024;
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
constexpr int kMaxEvents = 256;
constexpr int kAcceptsPerWake = 64;
/* After EMFILE/ENFILE, accepting pauses this long (memcached pauses too). */
constexpr int64_t kAcceptPauseMs = 100;

constexpr uint64_t kListenerTag = uint64_t{1} << 63;
constexpr uint64_t kWakeTag = uint64_t{1} << 62;
/* kmod backend: the socket of a connection whose session carries the connection's slot. */
constexpr uint64_t kKernelSocketTag = uint64_t{1} << 61;

/*
 * kmod backend. The module drops the data of an item too large to store. It frames with
 * the engine's own framer (kmod/records_parse.c), and is given a larger limit than -I as
 * a margin: it only ever drops data the engine's framer would swallow too.
 */
constexpr uint32_t kKernelItemSizeSlack = 64 * 1024;
/* The longest get line, as the engine's framer allows. */
constexpr uint32_t kKernelMaxLine = RP_GET_LINE_MAX;
/* The first read(2) buffer of a session; grown when a message does not fit (EMSGSIZE). */
constexpr size_t kKernelReadSize = 256 * 1024;
/*
 * How often a connection waiting on the module's queue (to read again, or to close once its
 * replies are out) asks the module how far it got, when no EPOLLOUT edge said so first.
 */
constexpr int kKernelWatchMs = 10;
/* A binary request header (the framer frames one without the magic as 24 bytes). */
constexpr size_t kBinaryHeaderBytes = RP_BIN_HEADER;
/* Sends a connection may have in the module before the engine asks which are done. */
constexpr size_t kKernelSendsBeforeRefresh = 32;

int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

/* "127.0.0.1:5000", "[::1]:5000"; IPv4-mapped addresses shown as IPv4 (js.ts formatAddress). */
std::string FormatAddress(const sockaddr_storage& address) {
  char host[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (address.ss_family == AF_INET) {
    const sockaddr_in* in = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (address.ss_family == AF_INET6) {
    const sockaddr_in6* in6 = reinterpret_cast<const sockaddr_in6*>(&address);
    port = ntohs(in6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      inet_ntop(AF_INET, reinterpret_cast<const uint8_t*>(&in6->sin6_addr) + 12, host, sizeof(host));
      return std::string(host) + ":" + std::to_string(port);
    }
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "unknown";
}

int ReadRcvLowatCap() {
  // SO_RCVLOWAT is capped at tcp_rmem[2] / 2 (tcp_set_rcvlowat).
  FILE* f = fopen("/proc/sys/net/ipv4/tcp_rmem", "r");
  long low = 0, def = 0, high = 0;
  int cap = 1 << 20;
  if (f != nullptr) {
    if (fscanf(f, "%ld %ld %ld", &low, &def, &high) == 3 && high > 2) cap = static_cast<int>(std::min<long>(high / 2, 1 << 30));
    fclose(f);
  }
  return cap;
}

}  // namespace

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

/* A send queued in the records module (kmod backend); each holds a reference on its message. */
struct KernelSend {
  MessageBody* body;
  Record* record;  // the record it sends by reference, or null (bytes only)
  uint64_t length;
  bool last;  // the message's last send: completing it completes the message
};

struct Conn {
  int fd = -1;
  /* kmod backend: the connection's records session, or -1 when this engine reads and writes it. */
  int session = -1;
  uint32_t slot = 0;
  /* RP_PROTO_TEXT or RP_PROTO_BINARY once its first byte has chosen (rp_choose). */
  uint8_t protocol = RP_PROTO_AUTO;
  /* Under -Y, a text connection's requests are framed as authentication requests until JS says otherwise. */
  bool authenticated = false;

  // Input: bytes [in_head, in_tail) of `in` are received and not yet consumed.
  uint8_t* in = nullptr;
  size_t in_cap = 0;
  size_t in_head = 0;
  size_t in_tail = 0;
  size_t read_size = kInitialReadSize;
  uint64_t swallow = 0;
  /* The length the request at in_head is known to need (0: unknown or none). */
  uint64_t needed = 0;
  int rcvlowat = 1;

  // The batch in flight to JS: its requests' offsets in `in`, and where framing stopped.
  bool in_flight = false;
  uint32_t batch_count = 0;
  std::vector<size_t> batch_starts;
  size_t batch_end = 0;
  bool close_after_batch = false;
  /* Re-framing requests JS left unhandled: skip the wait for `needed` bytes once. */
  bool reframe = false;

  bool can_read = false;
  bool can_write = true;
  bool peer_closed = false;
  /* kmod: the module stopped framing at a line memcached closes on; the bytes before it end in a close. */
  bool kernel_close_at_end = false;
  /* epoll reported the peer's FIN or an error: read until read() says so. */
  bool hangup = false;
  /* JS handled part of a batch: the rest waits until this connection's output drains. */
  bool blocked = false;
  /* Output past the soft limit: no requests are read until it drains. */
  bool paused = false;
  bool end_requested = false;
  bool draining = false;
  bool closed = false;
  bool acked = false;
  bool in_input_list = false;
  bool in_ready_list = false;

  OutQueue out;
  uint64_t out_bytes = 0;
  int64_t last_activity_ms = 0;

  // kmod backend: sends in the module's queue of this socket, oldest first, and their bytes.
  std::vector<KernelSend> kernel_sends;
  uint64_t kernel_bytes = 0;
  /* Data the module dropped after a request line, keyed by where that line ends in `in`. */
  std::vector<std::pair<size_t, uint64_t>> kernel_discards;
  /* Where requests start in `in` whose data the module saw arrive after their line. */
  std::vector<size_t> kernel_splits;
  bool kernel_watched = false;
};

struct Listener {
  int fd;
  bool is_unix;
  std::string label;
  bool paused = false;
  int64_t resume_at_ms = 0;
};

MessageBody* MessageBody::Create(size_t own_bytes) {
  void* block = malloc(sizeof(MessageBody) + own_bytes);
  if (block == nullptr) abort();
  MessageBody* body = new (block) MessageBody();
  body->bytes = reinterpret_cast<uint8_t*>(block) + sizeof(MessageBody);
  return body;
}

void MessageBody::Unref() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  for (Piece& piece : pieces) {
    if (piece.record != nullptr) piece.record->Unref();
  }
  this->~MessageBody();
  free(this);
}

void Delivery::Append(Delivery&& other) {
  const uint32_t base = static_cast<uint32_t>(starts.size());
  if (events.empty() && batches.empty() && strings.empty()) {
    uint64_t read = bytes_read + other.bytes_read;
    *this = std::move(other);
    bytes_read = read;
    other.Clear();
    return;
  }
  // Open events refer to strings by index and batches to starts by index: shift both.
  const int32_t string_base = static_cast<int32_t>(strings.size());
  for (size_t i = 0; i < other.events.size();) {
    int32_t kind = other.events[i];
    if (kind == kEventOpen) {
      other.events[i + 2] += string_base;
      other.events[i + 3] += string_base;
      i += 4;
    } else if (kind == kEventRequests) {
      i += 5;
    } else {
      i += 2;
    }
  }
  events.insert(events.end(), other.events.begin(), other.events.end());
  for (auto& s : other.strings) strings.push_back(std::move(s));
  for (BatchRef batch : other.batches) {
    batch.first += base;
    batches.push_back(batch);
  }
  starts.insert(starts.end(), other.starts.begin(), other.starts.end());
  lengths.insert(lengths.end(), other.lengths.begin(), other.lengths.end());
  bytes_read += other.bytes_read;
  other.Clear();
}

void Delivery::Clear() {
  events.clear();
  strings.clear();
  batches.clear();
  starts.clear();
  lengths.clear();
  bytes_read = 0;
}

Engine::Engine(const EngineOptions& options, std::function<void()> notify)
    : options_(options), notify_(std::move(notify)) {}

Engine::~Engine() { Stop(); }

bool Engine::Start(std::string* error) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) {
    *error = std::string("epoll_create1: ") + strerror(errno);
    return false;
  }
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    *error = std::string("eventfd: ") + strerror(errno);
    close(epoll_fd_);
    epoll_fd_ = -1;
    return false;
  }
  if (options_.kmod) {
    kmod_control_ = kmod::OpenSession();
    if (kmod_control_ < 0) {
      *error = std::string("cannot open " RECORDS_DEVICE ": ") + strerror(-kmod_control_);
      kmod_control_ = -1;
      close(wake_fd_);
      close(epoll_fd_);
      wake_fd_ = epoll_fd_ = -1;
      return false;
    }
    kmod_read_.resize(kKernelReadSize);
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  rcvlowat_cap_ = ReadRcvLowatCap();
  scratch_.resize(64 * 1024);
  // Signals belong to Node's main thread; the I/O thread takes none (SIGPIPE included).
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  thread_ = std::thread([this] { Run(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  started_ = true;
  return true;
}

void Engine::Stop() {
  if (started_) {
    stopping_.store(true);
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
    thread_.join();
    started_ = false;
    ReleaseConnections();
  }
  // Commands queued after the thread stopped still hold references.
  std::vector<Command> left;
  {
    std::lock_guard<std::mutex> lock(command_mu_);
    left.swap(commands_);
  }
  for (Command& command : left) {
    if (command.body != nullptr) command.body->Unref();
    if (command.sync != nullptr) {
      std::lock_guard<std::mutex> lock(command.sync->mu);
      command.sync->done = true;
      command.sync->cv.notify_all();
    }
  }
  if (wake_fd_ >= 0) close(wake_fd_);
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (kmod_control_ >= 0) close(kmod_control_);
  wake_fd_ = -1;
  epoll_fd_ = -1;
  kmod_control_ = -1;
}

void Engine::Push(std::vector<Command>& commands) {
  if (commands.empty()) return;
  {
    std::lock_guard<std::mutex> lock(command_mu_);
    if (commands_.empty()) {
      commands_.swap(commands);
    } else {
      for (Command& command : commands) commands_.push_back(std::move(command));
    }
  }
  commands.clear();
  if (!wake_pending_.exchange(true)) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }
}

int64_t Engine::PushAndWait(Command command) {
  if (!started_ || stopping_.load()) return 0;
  SyncResult result;
  command.sync = &result;
  std::vector<Command> one;
  one.push_back(std::move(command));
  Push(one);
  std::unique_lock<std::mutex> lock(result.mu);
  result.cv.wait(lock, [&] { return result.done; });
  return result.value;
}

void Engine::TakeDelivery(Delivery* out) {
  notify_pending_.store(false);
  std::lock_guard<std::mutex> lock(delivery_mu_);
  out->Clear();
  std::swap(*out, pending_);
}

Conn* Engine::Lookup(uint32_t slot) {
  if (slot >= slots_.size()) return nullptr;
  Conn* c = slots_[slot];
  if (c == nullptr || c->closed) return nullptr;
  return c;
}

// ------------------------------------------------------------------------------------------
// The loop.

void Engine::Run() {
  epoll_event events[kMaxEvents];
  now_ms_ = MonotonicMs();
  next_idle_check_ms_ = now_ms_ + 1000;
  while (!stopping_.load(std::memory_order_relaxed)) {
    int timeout = -1;
    if (!input_pending_.empty() || !ready_.empty()) {
      timeout = 0;
    } else {
      if (!kmod_watch_.empty()) timeout = static_cast<int>(std::max<int64_t>(0, next_kernel_watch_ms_ - now_ms_));
      if (options_.idle_timeout_seconds > 0) {
        int wait = static_cast<int>(std::max<int64_t>(0, next_idle_check_ms_ - now_ms_));
        timeout = timeout < 0 ? wait : std::min(timeout, wait);
      }
      for (auto& listener : listeners_) {
        if (listener && listener->paused) {
          int wait = static_cast<int>(std::max<int64_t>(0, listener->resume_at_ms - now_ms_));
          timeout = timeout < 0 ? wait : std::min(timeout, wait);
        }
      }
    }
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, timeout);
    if (n < 0 && errno != EINTR) break;
    now_ms_ = MonotonicMs();
    bool woken = false;
    bool kernel_progress = false;
    for (int i = 0; i < n; i++) {
      const uint64_t tag = events[i].data.u64;
      const uint32_t flags = events[i].events;
      if (tag == kWakeTag) {
        woken = true;
        continue;
      }
      if (tag & kListenerTag) {
        size_t index = static_cast<size_t>(tag & ~kListenerTag);
        if (index < listeners_.size() && listeners_[index]) Accept(listeners_[index].get());
        continue;
      }
      if (tag & kKernelSocketTag) {
        // The socket has room again: the module moved on; see how far (ServiceKernelWatch).
        Conn* c = Lookup(static_cast<uint32_t>(tag & ~kKernelSocketTag));
        if (c != nullptr && c->kernel_watched && (c->blocked || c->paused || c->end_requested)) kernel_progress = true;
        continue;
      }
      Conn* c = Lookup(static_cast<uint32_t>(tag));
      if (c == nullptr) continue;
      if (flags & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        c->can_read = true;
        // The FIN may have come with the last data: no further edge will announce it.
        if (flags & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->hangup = true;
        MarkInput(c);
      }
      if (flags & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        c->can_write = true;
        if (!c->out.empty()) MarkReady(c);
      }
    }
    if (woken) {
      uint64_t count;
      ssize_t ignored = read(wake_fd_, &count, sizeof(count));
      (void)ignored;
    }
    ProcessCommands();
    if (!kmod_watch_.empty() && (kernel_progress || now_ms_ >= next_kernel_watch_ms_)) {
      ServiceKernelWatch();
      next_kernel_watch_ms_ = now_ms_ + kKernelWatchMs;
    }
    for (auto& listener : listeners_) {
      if (listener && listener->paused && now_ms_ >= listener->resume_at_ms) {
        listener->paused = false;
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = kListenerTag | static_cast<uint64_t>(&listener - &listeners_[0]);
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listener->fd, &ev);
      }
    }

    // Read and frame, then write; writing can unblock connections, which are read again.
    for (int pass = 0; pass < 2; pass++) {
      std::vector<Conn*> inputs;
      inputs.swap(input_pending_);
      for (Conn* c : inputs) {
        c->in_input_list = false;
        ServiceInput(c);
      }
      if (pass == 1) break;
      std::vector<Conn*> writable;
      writable.swap(ready_);
      for (Conn* c : writable) c->in_ready_list = false;
      writable.erase(std::remove_if(writable.begin(), writable.end(),
                                    [](Conn* c) { return c->closed || c->out.empty() || !c->can_write; }),
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
        if (!c->closed && c->can_write && !c->out.empty()) MarkReady(c);
      }
    }

    if (options_.idle_timeout_seconds > 0 && now_ms_ >= next_idle_check_ms_) {
      CheckIdle();
      next_idle_check_ms_ = now_ms_ + 1000;
    }
    FlushDelivery();

    if (!doomed_.empty()) {
      auto gone = [](Conn* c) { return c->acked; };
      input_pending_.erase(std::remove_if(input_pending_.begin(), input_pending_.end(), gone), input_pending_.end());
      ready_.erase(std::remove_if(ready_.begin(), ready_.end(), gone), ready_.end());
      kmod_watch_.erase(std::remove_if(kmod_watch_.begin(), kmod_watch_.end(), gone), kmod_watch_.end());
      for (Conn* c : doomed_) {
        // JS has acknowledged the close: it reads nothing of this connection any more.
        c->in_flight = false;
        FreeInput(c);
        slots_[c->slot] = nullptr;
        free_slots_.push_back(c->slot);
        delete c;
      }
      doomed_.clear();
    }
  }
  Teardown();
}

void Engine::ProcessCommands() {
  wake_pending_.store(false);
  std::vector<Command> commands;
  {
    std::lock_guard<std::mutex> lock(command_mu_);
    commands.swap(commands_);
  }
  for (Command& command : commands) Apply(command);
}

void Engine::Apply(Command& command) {
  int64_t result = 0;
  switch (command.kind) {
    case CommandKind::Send: {
      for (uint32_t slot : command.slots) {
        Conn* c = Lookup(slot);
        if (c != nullptr) Enqueue(c, command.body);
      }
      command.body->Unref();
      command.body = nullptr;
      break;
    }
    case CommandKind::Complete: {
      if (command.slot < slots_.size() && slots_[command.slot] != nullptr) {
        Complete(slots_[command.slot], static_cast<uint32_t>(command.value));
      }
      break;
    }
    case CommandKind::Authenticated: {
      Conn* c = Lookup(command.slot);
      if (c != nullptr) c->authenticated = true;
      break;
    }
    case CommandKind::End: {
      Conn* c = Lookup(command.slot);
      if (c != nullptr) EndConn(c);
      break;
    }
    case CommandKind::Destroy: {
      Conn* c = Lookup(command.slot);
      if (c != nullptr) CloseConn(c);
      break;
    }
    case CommandKind::AckClose: {
      if (command.slot < slots_.size()) {
        Conn* c = slots_[command.slot];
        if (c != nullptr && c->closed && !c->acked) {
          c->acked = true;
          doomed_.push_back(c);
        }
      }
      break;
    }
    case CommandKind::AddListener: {
      auto listener = std::make_unique<Listener>();
      listener->fd = command.fd;
      listener->is_unix = command.is_unix;
      listener->label = command.label;
      size_t index = listeners_.size();
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kListenerTag | index;
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listener->fd, &ev);
      listeners_.push_back(std::move(listener));
      break;
    }
    case CommandKind::CloseListeners: {
      for (auto& listener : listeners_) {
        if (listener) {
          close(listener->fd);
          listener.reset();
        }
      }
      break;
    }
    case CommandKind::Drain: {
      for (Conn* c : slots_) {
        if (c == nullptr || c->closed) continue;
        c->draining = true;
        MarkInput(c);
      }
      break;
    }
    case CommandKind::DestroyAll: {
      for (Conn* c : slots_) {
        if (c != nullptr && !c->closed) CloseConn(c);
      }
      break;
    }
    case CommandKind::Unsend:
      result = Unsend(command.record_serial, command.slots);
      break;
  }
  if (command.sync != nullptr) {
    std::lock_guard<std::mutex> lock(command.sync->mu);
    command.sync->value = result;
    command.sync->done = true;
    command.sync->cv.notify_all();
  }
}

void Engine::Accept(Listener* listener) {
  for (int i = 0; i < kAcceptsPerWake; i++) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    int fd = accept4(listener->fd, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: stop listening for a moment instead of spinning on the backlog.
        listener->paused = true;
        listener->resume_at_ms = now_ms_ + kAcceptPauseMs;
        epoll_event ev{};
        ev.events = 0;
        epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listener->fd, &ev);
      }
      return;
    }
    std::string remote;
    std::string local;
    if (listener->is_unix) {
      remote = listener->label;
      local = listener->label;
    } else {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      int lowat = options_.notsent_lowat < 0 ? kNotSentLowat : options_.notsent_lowat;
      if (lowat > 0) setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &lowat, sizeof(lowat));
      sockaddr_storage mine{};
      socklen_t mine_length = sizeof(mine);
      getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &mine_length);
      remote = "tcp:" + FormatAddress(peer);
      local = "tcp:" + FormatAddress(mine);
    }
    Conn* c = new Conn();
    c->fd = fd;
    c->last_activity_ms = now_ms_;
    if (free_slots_.empty()) {
      c->slot = static_cast<uint32_t>(slots_.size());
      slots_.push_back(c);
    } else {
      c->slot = free_slots_.back();
      free_slots_.pop_back();
      slots_[c->slot] = c;
    }
    // The module frames memcached's requests, not the authentication exchange that precedes them.
    const bool kernel = options_.kmod && !options_.ascii_auth && !listener->is_unix && AttachKernel(c);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = c->slot;
    if (!kernel && epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      slots_[c->slot] = nullptr;
      free_slots_.push_back(c->slot);
      delete c;
      continue;
    }
    int32_t remote_index = static_cast<int32_t>(staging_.strings.size());
    staging_.strings.push_back(std::move(remote));
    staging_.strings.push_back(std::move(local));
    staging_.events.insert(staging_.events.end(),
                           {kEventOpen, static_cast<int32_t>(c->slot), remote_index, remote_index + 1});
  }
}

// ------------------------------------------------------------------------------------------
// Input.

void Engine::MarkInput(Conn* c) {
  if (c->in_input_list || c->closed) return;
  c->in_input_list = true;
  input_pending_.push_back(c);
}

void Engine::MarkReady(Conn* c) {
  if (c->in_ready_list || c->closed) return;
  c->in_ready_list = true;
  ready_.push_back(c);
}

void Engine::ServiceInput(Conn* c) {
  if (c->closed || c->in_flight || c->end_requested || c->blocked) return;
  if (c->paused) return;
  if (c->out_bytes > options_.out_limit_soft) {
    if (c->session >= 0) RefreshKernel(c);
    if (c->closed) return;
    if (c->out_bytes > options_.out_limit_soft) {
      c->paused = true;
      if (c->session >= 0) WatchKernel(c);
      return;
    }
  }
  for (;;) {
    if (FrameAndDeliver(c)) return;
    if (!c->can_read || c->draining || c->peer_closed) break;
    const size_t before = c->in_tail - c->in_head;
    const uint64_t swallow_before = c->swallow;
    ReadSome(c);
    if (c->closed) return;
    if (c->in_tail - c->in_head == before && c->swallow == swallow_before) break;
  }
  // Nothing more will complete: a stopping server, or a client that closed its side.
  if (c->draining || c->peer_closed) EndConn(c);
}

/*
 * Sleep until the rest of a value is in, not for every segment of it. The mark must never
 * stay above what is still to come: a stale, larger mark would never be reached.
 */
void Engine::WaitForBytes(Conn* c, uint64_t missing) {
  // The module delivers whole requests; a low-water mark would only hold back its parser.
  if (c->session >= 0) return;
  SetRcvLowat(c, missing >= kRcvLowatMinimum ? static_cast<int>(std::min<uint64_t>(missing, rcvlowat_cap_)) : 1);
}

void Engine::SetRcvLowat(Conn* c, int value) {
  if (c->rcvlowat == value) return;
  if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &value, sizeof(value)) == 0) c->rcvlowat = value;
}

bool Engine::FrameAndDeliver(Conn* c) {
  const size_t available = c->in_tail - c->in_head;
  if (!c->reframe && c->needed > 0 && available < c->needed) {
    WaitForBytes(c, c->needed - available);
    return false;
  }
  c->reframe = false;
  if (c->rcvlowat != 1) SetRcvLowat(c, 1);
  auto split_at = [c](size_t at) {
    return std::find(c->kernel_splits.begin(), c->kernel_splits.end(), at) != c->kernel_splits.end();
  };
  const bool completes = c->needed > 0 || (!c->kernel_splits.empty() && split_at(c->in_head));
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
    if (count > 0 && !c->kernel_splits.empty() && split_at(pos)) break;
    if (c->protocol == RP_PROTO_AUTO) c->protocol = rp_choose(options_.protocol, c->in[pos]);
    const bool auth = c->protocol == RP_PROTO_TEXT && options_.ascii_auth && !c->authenticated;
    FrameRequest(options_.limits, auth ? static_cast<uint8_t>(RP_PROTO_AUTH) : c->protocol, c->in, pos, end, &frame);
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
    c->swallow = frame.swallow;
    if (c->swallow > 0) {
      // The module already dropped the data of this item (too large), so there is none to skip.
      for (const auto& d : c->kernel_discards) {
        if (d.first == pos) c->swallow -= std::min(c->swallow, d.second);
      }
    }
    if (count == kMaxBatch || bytes >= kMaxBatchBytes) break;
  }
  if (c->kernel_close_at_end && pos == end && c->needed == 0) close_now = true;
  if (count == 0) {
    c->in_head = pos;
    if (c->in_head == c->in_tail) FreeInput(c);
    if (close_now) {
      EndConn(c);
      return true;
    }
    if (c->needed > 0) WaitForBytes(c, c->needed - (c->in_tail - c->in_head));
    return false;
  }
  c->in_flight = true;
  c->batch_count = count;
  c->batch_end = pos;
  c->close_after_batch = close_now;
  staging_.batches.push_back(BatchRef{c->in, first, count, bytes});
  staging_.events.insert(staging_.events.end(),
                         {kEventRequests, static_cast<int32_t>(c->slot), static_cast<int32_t>(count),
                          (completes ? kBatchCompletesData : 0) | (close_now ? kBatchCloses : 0) |
                              (c->protocol == RP_PROTO_BINARY ? kBatchBinary : 0),
                          0});
  return true;
}

/* Room for `want` more bytes at in_tail, moving unconsumed bytes to the front if that helps. */
static void ReserveInput(Conn* c, size_t want) {
  const size_t available = c->in_tail - c->in_head;
  if (c->in == nullptr) {
    c->in_cap = std::max(want, kInitialReadSize);
    c->in = static_cast<uint8_t*>(malloc(c->in_cap));
    if (c->in == nullptr) abort();
    c->in_head = c->in_tail = 0;
  }
  if (c->in_head == c->in_tail) {
    c->in_head = c->in_tail = 0;
    c->kernel_discards.clear();
    c->kernel_splits.clear();
  }
  if (c->in_cap - c->in_tail < want) {
    if (c->in_head > 0) {
      memmove(c->in, c->in + c->in_head, available);
      // Discards the module reported move with the bytes; those behind in_head are done.
      auto& discards = c->kernel_discards;
      discards.erase(std::remove_if(discards.begin(), discards.end(),
                                    [&](const std::pair<size_t, uint64_t>& d) { return d.first <= c->in_head; }),
                     discards.end());
      for (auto& d : discards) d.first -= c->in_head;
      auto& splits = c->kernel_splits;
      splits.erase(std::remove_if(splits.begin(), splits.end(), [&](size_t at) { return at < c->in_head; }),
                   splits.end());
      for (size_t& at : splits) at -= c->in_head;
      c->in_tail = available;
      c->in_head = 0;
    }
    if (c->in_cap - c->in_tail < want) {
      size_t cap = std::max(c->in_cap * 2, c->in_tail + want);
      uint8_t* grown = static_cast<uint8_t*>(realloc(c->in, cap));
      if (grown == nullptr) abort();
      c->in = grown;
      c->in_cap = cap;
    }
  }
}

void Engine::ReadSome(Conn* c) {
  if (c->session >= 0) {
    ReadKernel(c);
    return;
  }
  size_t available = c->in_tail - c->in_head;
  size_t want = c->read_size;
  if (c->needed > available) want = std::max<size_t>(want, c->needed - available);
  ReserveInput(c, want);
  const size_t room = c->in_cap - c->in_tail;
  ssize_t n;
  do {
    n = read(c->fd, c->in + c->in_tail, room);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    const size_t got = static_cast<size_t>(n);
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
  CloseConn(c);
}

void Engine::Complete(Conn* c, uint32_t handled) {
  if (!c->in_flight) return;
  c->in_flight = false;
  if (c->closed) {
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
    c->blocked = true;
    c->reframe = true;
    c->close_after_batch = false;
  }
  if (c->in_head == c->in_tail) FreeInput(c);
  AfterOutputChange(c);
  MarkInput(c);
}

void Engine::FreeInput(Conn* c) {
  if (c->in_flight || c->in == nullptr) return;
  c->kernel_discards.clear();
  c->kernel_splits.clear();
  free(c->in);
  c->in = nullptr;
  c->in_cap = 0;
  c->in_head = c->in_tail = 0;
}

// ------------------------------------------------------------------------------------------
// Output.

/* Counts a message in (or out of) its records' `queued`. */
static void CountQueued(const MessageBody* body, int delta) {
  for (const Piece& piece : body->pieces) {
    if (piece.record != nullptr) piece.record->queued += delta;
  }
}

/* Drops a queued message: its records no longer wait on this connection. */
static void Release(OutMessage& message) {
  CountQueued(message.body, -1);
  message.body->Unref();
}

void Engine::Enqueue(Conn* c, MessageBody* body) {
  if (body->total == 0) return;
  if (c->session >= 0) {
    EnqueueKernel(c, body);
    return;
  }
  body->Ref();
  CountQueued(body, 1);
  c->out.push_back(OutMessage{body, 0, 0, body->total, false});
  c->out_bytes += body->total;
  stats_.sends.fetch_add(body->record_serials.size(), std::memory_order_relaxed);
  if (c->out_bytes > options_.out_limit_hard) {
    // A client that asks for more than it will ever read: let it go rather than hold it all.
    CloseConn(c);
    return;
  }
  MarkReady(c);
}

void Engine::WriteConn(Conn* c) {
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
      CloseConn(c);
      return;
    }
    c->last_activity_ms = now_ms_;
    Advance(c, static_cast<uint64_t>(n));
    budget -= std::min<uint64_t>(budget, static_cast<uint64_t>(n));
    // A short write is retried: only EAGAIN guarantees an EPOLLOUT edge later.
  }
}

void Engine::Advance(Conn* c, uint64_t n) {
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

void Engine::AfterOutputChange(Conn* c) {
  if (c->closed) return;
  const bool waiting = c->end_requested || c->blocked || c->paused;
  if (c->session >= 0 && waiting) {
    RefreshKernel(c);
    if (c->closed) return;
  }
  if (c->end_requested) {
    if (c->out.empty() && c->kernel_sends.empty() && !c->in_flight) {
      CloseConn(c);
    } else if (c->session >= 0) {
      WatchKernel(c);
    }
    return;
  }
  if ((c->blocked || c->paused) && c->out_bytes <= options_.out_limit_soft / 2) {
    c->blocked = false;
    c->paused = false;
    MarkInput(c);
  } else if (c->session >= 0 && waiting) {
    WatchKernel(c);
  }
}

void Engine::EndConn(Conn* c) {
  if (c->closed) return;
  c->end_requested = true;
  AfterOutputChange(c);
}

void Engine::CloseConn(Conn* c) {
  if (c->closed) return;
  c->closed = true;
  if (c->session >= 0) {
    // An orderly end, every reply handed to TCP: push them and the FIN out now. Bytes the
    // client sent after the closing request may still sit unread in the socket (the module
    // frames from a work queue), and TCP answers close() on unread bytes with a reset that
    // discards replies not yet transmitted.
    if (c->end_requested && c->kernel_sends.empty()) shutdown(c->fd, SHUT_WR);
    // Closing the session detaches the socket: the module drops what is still queued.
    close(c->session);
    c->session = -1;
    for (KernelSend& send : c->kernel_sends) send.body->Unref();
    c->kernel_sends.clear();
    c->kernel_bytes = 0;
  }
  close(c->fd);
  c->fd = -1;
  for (OutMessage& message : c->out) Release(message);
  c->out.clear();
  c->out_bytes = 0;
  FreeInput(c);
  staging_.events.insert(staging_.events.end(), {kEventClose, static_cast<int32_t>(c->slot)});
}

int64_t Engine::Unsend(uint64_t serial, const std::vector<uint32_t>& slots) {
  int64_t dropped = 0;
  for (uint32_t slot : slots) {
    Conn* c = Lookup(slot);
    if (c == nullptr) continue;
    if (c->session >= 0) {
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

// ------------------------------------------------------------------------------------------
// kmod backend: the records module frames a connection's requests and sends its replies.

bool Engine::AttachKernel(Conn* c) {
  const int session = kmod::OpenSession();
  if (session < 0) {
    stats_.kernel_refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  kmod::AttachLimits limits{};
  limits.flags = RECORDS_ATTACH_RECV;
  if (options_.protocol == RP_PROTO_TEXT) limits.flags |= RECORDS_ATTACH_TEXT;
  if (options_.protocol == RP_PROTO_BINARY) limits.flags |= RECORDS_ATTACH_BINARY;
  if (options_.limits.cas) limits.flags |= RECORDS_ATTACH_CAS;
  limits.item_size_max = options_.limits.item_size_max + kKernelItemSizeSlack;
  limits.max_line = kKernelMaxLine;
  epoll_event in{};
  in.events = EPOLLIN | EPOLLET;
  in.data.u64 = c->slot;
  epoll_event out{};
  out.events = EPOLLOUT | EPOLLET;
  out.data.u64 = kKernelSocketTag | c->slot;
  if (kmod::Attach(session, c->fd, c->slot, limits) < 0 || epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, session, &in) != 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, c->fd, &out) != 0) {
    // Served by the engine itself instead (the socket is detached when its session closes).
    close(session);
    stats_.kernel_refused.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  c->session = session;
  stats_.kernel_connections.fetch_add(1, std::memory_order_relaxed);
  return true;
}

/*
 * read(2) on the connection's session: whole requests, appended to its input as a socket
 * read would append bytes, so the engine's framer (which decides what memcached decides)
 * still frames them; the module only decides when the engine wakes.
 */
void Engine::ReadKernel(Conn* c) {
  ssize_t n;
  for (;;) {
    n = read(c->session, kmod_read_.data(), kmod_read_.size());
    if (n >= 0 || errno == EINTR) {
      if (n >= 0) break;
      continue;
    }
    if (errno == EMSGSIZE && kmod_read_.size() < kKernelMaxLine + options_.limits.item_size_max + 2 * kKernelItemSizeSlack) {
      kmod_read_.resize(kmod_read_.size() * 2);
      continue;
    }
    c->can_read = false;
    if (errno != EAGAIN && errno != EWOULDBLOCK) CloseConn(c);
    return;
  }
  if (n == 0) {
    c->can_read = false;
    return;
  }
  c->last_activity_ms = now_ms_;
  size_t at = 0;
  while (at + sizeof(records_msg) <= static_cast<size_t>(n)) {
    records_msg msg;
    memcpy(&msg, kmod_read_.data() + at, sizeof(msg));
    const uint8_t* payload = kmod_read_.data() + at + sizeof(msg);
    at += RECORDS_MSG_SIZE(msg.len);
    if (msg.type == RECORDS_MSG_REQUEST) {
      ReserveInput(c, msg.len);
      if (msg.flags & RECORDS_MSGF_SPLIT) c->kernel_splits.push_back(c->in_tail);
      memcpy(c->in + c->in_tail, payload, msg.len);
      c->in_tail += msg.len;
      staging_.bytes_read += msg.len;
      if (msg.flags & RECORDS_MSGF_DISCARD) {
        c->kernel_discards.emplace_back(c->in_tail, msg.discard);
        staging_.bytes_read += msg.discard;
      }
    } else if (msg.type == RECORDS_MSG_EOF && msg.error == 0) {
      c->peer_closed = true;
    } else if (msg.type == RECORDS_MSG_EOF) {
      CloseConn(c);
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
      } else {
        // As the engine's own framer's close: the requests before it are answered up to what
        // memcached would already have written, then the connection closes.
        c->kernel_close_at_end = true;
      }
      c->peer_closed = true;
    }
  }
}

void Engine::EnqueueKernel(Conn* c, MessageBody* body) {
  // Finished sends are only learnt by asking; ask now and then so few are held here.
  if (c->kernel_sends.size() >= kKernelSendsBeforeRefresh) {
    RefreshKernel(c);
    if (c->closed) return;
  }
  stats_.sends.fetch_add(body->record_serials.size(), std::memory_order_relaxed);
  // Bytes around each record piece the module holds become its prefix and suffix.
  kmod_affix_.clear();
  const Piece* record_piece = nullptr;
  size_t prefix_length = 0;
  const size_t sends_before = c->kernel_sends.size();
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
  if (c->kernel_sends.size() > sends_before) c->kernel_sends.back().last = true;
  // Its records are released once the module says the sends are done: look again soon.
  WatchKernel(c);
  if (c->out_bytes > options_.out_limit_hard) {
    // A client that asks for more than it will ever read: let it go rather than hold it all.
    CloseConn(c);
  }
}

/*
 * Queues [prefix][record piece][suffix] (or, without a record piece, the bytes alone) on
 * the connection's socket in the module, in as many sends as the affix limit needs.
 */
bool Engine::SendKernel(Conn* c, MessageBody* body, const Piece* record_piece, const uint8_t* affix,
                        size_t prefix_length, size_t suffix_length) {
  auto queue = [&](const Piece* piece, const uint8_t* bytes, size_t before, size_t after) {
    const iovec prefix{const_cast<uint8_t*>(bytes), before};
    const iovec suffix{const_cast<uint8_t*>(bytes + before), after};
    const int record_fd = piece != nullptr ? piece->record->kernel_fd() : -1;
    const int err = kmod::Send(c->session, c->fd, record_fd, piece != nullptr ? piece->offset : 0,
                               piece != nullptr ? piece->length : 0, prefix, suffix);
    if (err != 0) {
      // -ENOBUFS: the module's queue for this socket is full; like out_limit_hard, let it go.
      CloseConn(c);
      return false;
    }
    const uint64_t length = before + after + (piece != nullptr ? piece->length : 0);
    body->Ref();
    c->kernel_sends.push_back(KernelSend{body, piece != nullptr ? piece->record : nullptr, length, false});
    c->kernel_bytes += length;
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

/* Asks the module how far the socket's queue got; retires the sends it finished. */
void Engine::RefreshKernel(Conn* c) {
  if (c->kernel_sends.empty()) {
    c->out_bytes = 0;
    return;
  }
  records_sock_info info;
  if (kmod::SockInfo(c->session, c->fd, &info) < 0 || info.tx_error != 0) {
    CloseConn(c);
    return;
  }
  const size_t outstanding = static_cast<size_t>(info.tx_queued) + info.tx_started;
  if (c->kernel_sends.size() > outstanding) {
    const size_t done = c->kernel_sends.size() - outstanding;
    for (size_t i = 0; i < done; i++) {
      KernelSend& send = c->kernel_sends[i];
      c->kernel_bytes -= send.length;
      if (send.last) {
        stats_.sends_completed.fetch_add(send.body->record_serials.size(), std::memory_order_relaxed);
      }
      send.body->Unref();
    }
    c->kernel_sends.erase(c->kernel_sends.begin(), c->kernel_sends.begin() + static_cast<ptrdiff_t>(done));
    c->last_activity_ms = now_ms_;
  }
  c->out_bytes = c->kernel_bytes - (info.tx_started ? std::min<uint64_t>(info.tx_started_sent, c->kernel_bytes) : 0);
}

/*
 * Looks at the connection again soon (or, when it waits on its output, at the socket's
 * next EPOLLOUT edge), until the module has finished every send queued on it.
 */
void Engine::WatchKernel(Conn* c) {
  if (c->kernel_watched || c->closed) return;
  c->kernel_watched = true;
  kmod_watch_.push_back(c);
}

void Engine::ServiceKernelWatch() {
  std::vector<Conn*> watched;
  watched.swap(kmod_watch_);
  for (Conn* c : watched) {
    c->kernel_watched = false;
    if (c->closed) continue;
    // AfterOutputChange asks the module itself when the connection waits on its output.
    if (!(c->end_requested || c->blocked || c->paused)) RefreshKernel(c);
    AfterOutputChange(c);
    if (!c->closed && !c->kernel_sends.empty()) WatchKernel(c);
  }
}

/* unsendRecord on one connection: the module drops the record's sends that have not started. */
int64_t Engine::UnsendKernel(Conn* c, uint64_t serial) {
  auto carries = [serial](const KernelSend& send) {
    const auto& serials = send.body->record_serials;
    return send.record != nullptr && std::find(serials.begin(), serials.end(), serial) != serials.end();
  };
  auto found = std::find_if(c->kernel_sends.begin(), c->kernel_sends.end(), carries);
  if (found == c->kernel_sends.end()) return 0;
  const int removed = kmod::Unsend(c->session, c->fd, found->record->kernel_fd());
  if (removed <= 0) return 0;
  // The module removed the last `removed` of them (an unstarted send is never before a started one).
  int left = removed;
  for (size_t i = c->kernel_sends.size(); i-- > 0 && left > 0;) {
    if (!carries(c->kernel_sends[i])) continue;
    c->kernel_bytes -= c->kernel_sends[i].length;
    c->out_bytes -= std::min(c->out_bytes, c->kernel_sends[i].length);
    c->kernel_sends[i].body->Unref();
    c->kernel_sends.erase(c->kernel_sends.begin() + static_cast<ptrdiff_t>(i));
    left--;
  }
  return removed;
}

void Engine::CheckIdle() {
  const int64_t limit = static_cast<int64_t>(options_.idle_timeout_seconds) * 1000;
  for (Conn* c : slots_) {
    if (c == nullptr || c->closed || c->in_flight) continue;
    if (now_ms_ - c->last_activity_ms >= limit) CloseConn(c);
  }
}

void Engine::FlushDelivery() {
  if (staging_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(delivery_mu_);
    pending_.Append(std::move(staging_));
  }
  staging_.Clear();
  if (!notify_pending_.exchange(true)) notify_();
}

void Engine::ReleaseConnections() {
  // Only after the I/O thread has stopped, on the JS thread: no batch is being read then.
  {
    std::lock_guard<std::mutex> lock(delivery_mu_);
    pending_.Clear();
  }
  for (Conn* c : slots_) {
    if (c == nullptr) continue;
    for (OutMessage& message : c->out) Release(message);
    c->out.clear();
    for (KernelSend& send : c->kernel_sends) send.body->Unref();
    c->kernel_sends.clear();
    free(c->in);
    delete c;
  }
  slots_.clear();
  free_slots_.clear();
}

void Engine::Teardown() {
  for (auto& listener : listeners_) {
    if (listener) close(listener->fd);
  }
  listeners_.clear();
  // JS may still be reading a batch it was handed: keep input buffers of batches in flight.
  for (Conn* c : slots_) {
    if (c == nullptr) continue;
    if (!c->closed) {
      c->closed = true;
      if (c->session >= 0) close(c->session);
      c->session = -1;
      close(c->fd);
      for (OutMessage& message : c->out) Release(message);
      c->out.clear();
    }
  }
  staging_.Clear();
}

}  // namespace recordcache
