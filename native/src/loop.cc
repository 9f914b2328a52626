/*
 * The I/O thread's loop: epoll over the wake eventfd, the listening sockets and the
 * connections; the commands JS queued; accepting; and the timers (idle connections,
 * paused listeners).
 *
 * Each turn reads and frames every connection with input (connection.cc), then writes
 * every connection with output, by priority (out_queue.cc), then reads again the
 * connections that writing unblocked, and hands JS what the turn produced in one delivery.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "connection.h"
#include "engine.h"
#include "out_queue.h"
#include "transport.h"

namespace recordcache {

namespace {

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
constexpr int kMaxEvents = 256;
constexpr int kAcceptsPerWake = 64;
/* After EMFILE/ENFILE, accepting pauses this long (memcached pauses too). */
constexpr int64_t kAcceptPauseMs = 100;

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

}  // namespace

Conn* IoThread::Owned(uint32_t slot) {
  if (slot % thread_count_ != thread_index_) return nullptr;
  const uint32_t local = slot / thread_count_;
  return local < slots_.size() ? slots_[local] : nullptr;
}

Conn* IoThread::Lookup(uint32_t slot) {
  Conn* c = Owned(slot);
  if (c == nullptr || c->closed()) return nullptr;
  return c;
}

// ------------------------------------------------------------------------------------------
// The loop.

namespace {

/* sched_setattr's argument (SCHED_ATTR_SIZE_VER0); glibc 2.36 has no wrapper. */
struct SchedAttr {
  uint32_t size;
  uint32_t sched_policy;
  uint64_t sched_flags;
  int32_t sched_nice;
  uint32_t sched_priority;
  uint64_t sched_runtime;
  uint64_t sched_deadline;
  uint64_t sched_period;
};

/* The time slice an I/O thread asks of the scheduler (EEVDF's shortest, 0.1 ms). */
constexpr uint64_t kIoThreadSliceNs = 100 * 1000;

/*
 * Asks for a short time slice at the thread's own nice level. Under EEVDF (Linux 6.12
 * and later) a task with a shorter slice has an earlier deadline, so a thread woken by a
 * request preempts the JavaScript thread at once instead of waiting out its slice (3 ms by
 * default): that wait was the tail of GET latency with both threads on one CPU. Older
 * kernels ignore the slice of a fair task; a refusal leaves the thread as it was.
 */
void AskForShortSlice() {
  errno = 0;
  const int nice = getpriority(PRIO_PROCESS, 0);  // the calling thread's, on Linux
  if (errno != 0) return;
  SchedAttr attr{};
  attr.size = sizeof(attr);
  attr.sched_policy = SCHED_OTHER;
  attr.sched_nice = nice;
  attr.sched_runtime = kIoThreadSliceNs;
  (void)syscall(SYS_sched_setattr, 0, &attr, 0);
}

}  // namespace

void IoThread::Run() {
  // Named so that top -H, ps -L and /proc show which threads answer requests.
  char name[16];
  snprintf(name, sizeof(name), "rc-io-%u", thread_index_);
  pthread_setname_np(pthread_self(), name);
  AskForShortSlice();
  epoll_event events[kMaxEvents];
  now_ms_ = MonotonicMs();
  next_idle_check_ms_ = now_ms_ + 1000;
  while (!stopping_.load(std::memory_order_relaxed)) {
    int timeout = -1;
    if (!input_pending_.empty() || !ready_.empty()) {
      timeout = 0;
    } else {
      if (options_.idle_timeout_seconds > 0 || http_listening_) {
        timeout = static_cast<int>(std::max<int64_t>(0, next_idle_check_ms_ - now_ms_));
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
      // Batches and fetch reports reach JS before the replies of this turn reach their
      // clients, so a request a client sends after a reply finds the store caught up.
      FlushDelivery();
      WriteReady();
    }

    if ((options_.idle_timeout_seconds > 0 || http_listening_) && now_ms_ >= next_idle_check_ms_) {
      CheckIdle();
      next_idle_check_ms_ = now_ms_ + 1000;
    }
    FlushDelivery();

    if (!doomed_.empty()) {
      auto gone = [](Conn* c) { return c->state == ConnState::kAcked; };
      input_pending_.erase(std::remove_if(input_pending_.begin(), input_pending_.end(), gone), input_pending_.end());
      ready_.erase(std::remove_if(ready_.begin(), ready_.end(), gone), ready_.end());
      for (Conn* c : doomed_) {
        // JS has acknowledged the close: it reads nothing of this connection any more.
        c->in_flight = false;
        FreeInput(c);
        const uint32_t local = c->slot / thread_count_;
        slots_[local] = nullptr;
        free_slots_.push_back(local);
        delete c;
      }
      doomed_.clear();
    }
  }
  Teardown();
}

void IoThread::ProcessCommands() {
  wake_pending_.store(false);
  std::vector<Command> commands;
  {
    std::lock_guard<std::mutex> lock(command_mu_);
    commands.swap(commands_);
  }
  for (Command& command : commands) Apply(command);
}

void IoThread::Apply(Command& command) {
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
      Conn* c = Owned(command.slot);
      if (c != nullptr) Complete(c, static_cast<uint32_t>(command.value));
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
      Conn* c = Owned(command.slot);
      if (c != nullptr && c->state == ConnState::kClosed) {
        c->state = ConnState::kAcked;
        doomed_.push_back(c);
      }
      break;
    }
    case CommandKind::AdoptConnection: {
      sockaddr_storage peer{};
      socklen_t peer_length = sizeof(peer);
      getpeername(command.fd, reinterpret_cast<sockaddr*>(&peer), &peer_length);
      AddConnection(command.fd, peer.ss_family == AF_UNIX, "unix:", peer);
      break;
    }
    case CommandKind::AddListener: {
      auto listener = std::make_unique<Listener>();
      listener->fd = command.fd;
      listener->is_unix = command.is_unix;
      listener->label = command.label;
      listener->http = command.http;
      if (command.http) http_listening_ = true;
      size_t index = listeners_.size();
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = kListenerTag | index;
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listener->fd, &ev);
      listeners_.push_back(std::move(listener));
      break;
    }
    case CommandKind::CloseListeners: {
      // The engine closes them once every thread has stopped polling them.
      for (auto& listener : listeners_) {
        if (listener) {
          epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener->fd, nullptr);
          listener.reset();
        }
      }
      break;
    }
    case CommandKind::Drain: {
      for (Conn* c : slots_) {
        if (c == nullptr || c->closed()) continue;
        c->draining = true;
        MarkInput(c);
      }
      break;
    }
    case CommandKind::DestroyAll: {
      for (Conn* c : slots_) {
        if (c != nullptr && !c->closed()) CloseConn(c);
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

void IoThread::Accept(Listener* listener) {
  // Every thread polls the listening sockets; taking one connection per wake spreads them.
  const int accepts = thread_count_ > 1 ? 1 : kAcceptsPerWake;
  for (int i = 0; i < accepts; i++) {
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
    AddConnection(fd, listener->is_unix, listener->label, peer, listener->http);
  }
}

/*
 * A connected socket joins this thread: accepted, or adopted from the application
 * (records library). `label` names a unix socket's path; `peer` is a TCP peer's address.
 */
void IoThread::AddConnection(int fd, bool is_unix, const std::string& label, const sockaddr_storage& peer,
                             const std::shared_ptr<HttpSettings>& http) {
  std::string remote;
  std::string local;
  if (is_unix) {
    remote = label;
    local = label;
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
  uint32_t local_slot;
  if (free_slots_.empty()) {
    local_slot = static_cast<uint32_t>(slots_.size());
    slots_.push_back(c);
  } else {
    local_slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[local_slot] = c;
  }
  c->slot = local_slot * thread_count_ + thread_index_;
  if (http) {
    c->http = std::make_unique<HttpConn>();
    c->http->settings = http;
    // Its first request's head is due from now: a connection that sends nothing gets 408 (http_serve.cc).
    c->http->head_since_ms = now_ms_;
  }
  // The module frames memcached's requests, not the authentication exchange that precedes them.
  const bool kernel = options_.kmod && !options_.ascii_auth && !is_unix && !http && AttachKernel(c);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = c->slot;
  if (!kernel && epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    slots_[local_slot] = nullptr;
    free_slots_.push_back(local_slot);
    delete c;
    return;
  }
  int32_t remote_index = static_cast<int32_t>(staging_.strings.size());
  staging_.strings.push_back(std::move(remote));
  staging_.strings.push_back(std::move(local));
  staging_.events.insert(staging_.events.end(), {http ? kEventOpenHttp : kEventOpen, static_cast<int32_t>(c->slot),
                                                 remote_index, remote_index + 1});
}

void IoThread::CheckIdle() {
  if (http_listening_) CheckHttpTimeouts();
  if (options_.idle_timeout_seconds == 0) return;
  const int64_t limit = static_cast<int64_t>(options_.idle_timeout_seconds) * 1000;
  for (Conn* c : slots_) {
    // HTTP connections have their own timeouts (CheckHttpTimeouts).
    if (c == nullptr || c->closed() || c->in_flight || c->http) continue;
    if (now_ms_ - c->last_activity_ms >= limit) CloseConn(c);
  }
}

void IoThread::Teardown() {
  listeners_.clear();
  // JS may still be reading a batch it was handed: keep input buffers of batches in flight.
  for (Conn* c : slots_) {
    if (c == nullptr) continue;
    if (!c->closed()) {
      c->state = ConnState::kClosed;
      if (c->kernel) close(c->kernel->session);
      close(c->fd);
      for (OutMessage& message : c->out) Release(message);
      c->out.clear();
    }
  }
  for (IndexEntry* entry : staging_.fetched) entry->Unref();
  staging_.Clear();
}

}  // namespace recordcache
