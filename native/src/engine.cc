/*
 * The Engine as the JS thread sees it: starting and stopping the I/O thread, the command
 * queue into it and the delivery out of it. What the I/O thread does is in loop.cc.
 */
#include "engine.h"

#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "connection.h"
#include "kmod.h"
#include "transport.h"

namespace recordcache {

namespace {

int ReadRcvLowatCap() {
  // SO_RCVLOWAT is capped at tcp_rmem[2] / 2 (tcp_set_rcvlowat).
  FILE* f = fopen("/proc/sys/net/ipv4/tcp_rmem", "r");
  long low = 0, def = 0, high = 0;
  int cap = 1 << 20;
  if (f != nullptr) {
    if (fscanf(f, "%ld %ld %ld", &low, &def, &high) == 3 && high > 2)
      cap = static_cast<int>(std::min<long>(high / 2, 1 << 30));
    fclose(f);
  }
  return cap;
}

}  // namespace

void Delivery::Append(Delivery&& other) {
  const uint32_t base = static_cast<uint32_t>(starts.size());
  if (events.empty() && batches.empty() && strings.empty() && fetched.empty()) {
    const uint64_t read = bytes_read + other.bytes_read;
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
  fetched.insert(fetched.end(), other.fetched.begin(), other.fetched.end());
  bytes_read += other.bytes_read;
  other.Clear();
}

void Delivery::Clear() {
  events.clear();
  strings.clear();
  batches.clear();
  starts.clear();
  lengths.clear();
  fetched.clear();
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
  // Fetch reports JS will not take now hold references to their entries.
  {
    std::lock_guard<std::mutex> lock(delivery_mu_);
    for (IndexEntry* entry : pending_.fetched) entry->Unref();
    pending_.fetched.clear();
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
    if (c->kernel) {
      for (KernelSend& send : c->kernel->sends) send.body->Unref();
    }
    free(c->in);
    delete c;
  }
  slots_.clear();
  free_slots_.clear();
}

}  // namespace recordcache
