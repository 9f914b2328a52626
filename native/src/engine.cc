/*
 * The Engine as the JS thread sees it: starting and stopping the I/O threads, the command
 * queues into them (each command to the thread that owns its connection) and the one
 * delivery out of them. What an I/O thread does is in loop.cc.
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

/* Fetch reports that wake JS by themselves (Engine::Deliver). */
constexpr size_t kFetchReportsPerWake = 1024;

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
    if (kind == kEventOpen || kind == kEventOpenHttp) {
      other.events[i + 2] += string_base;
      other.events[i + 3] += string_base;
      i += 4;
    } else if (kind == kEventRequests) {
      i += 5;
    } else {
      i += 3;  // kEventClose, kEventOutput
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
    : options_(options), notify_(std::move(notify)) {
  // The records module's session and transport are one thread's.
  if (options_.kmod || options_.threads == 0) options_.threads = 1;
}

Engine::~Engine() { Stop(); }

bool Engine::Start(std::string* error) {
  if (options_.kmod) {
    kmod_control_ = kmod::OpenSession();
    if (kmod_control_ < 0) {
      *error = std::string("cannot open " RECORDS_DEVICE ": ") + strerror(-kmod_control_);
      kmod_control_ = -1;
      return false;
    }
  }
  for (uint32_t k = 0; k < options_.threads; k++) {
    threads_.push_back(std::make_unique<IoThread>(this, k, options_.threads));
    if (!threads_.back()->Start(error)) {
      Stop();
      return false;
    }
  }
  return true;
}

void Engine::Stop() {
  for (auto& thread : threads_) thread->Stop();
  threads_.clear();
  for (int fd : listener_fds_) close(fd);
  listener_fds_.clear();
  {
    std::lock_guard<std::mutex> lock(delivery_mu_);
    // Fetch reports JS will not take now hold references to their entries.
    for (IndexEntry* entry : pending_.fetched) entry->Unref();
    pending_.Clear();
  }
  if (kmod_control_ >= 0) close(kmod_control_);
  kmod_control_ = -1;
}

void Engine::Push(std::vector<Command>& commands) {
  if (commands.empty() || threads_.empty()) return;
  for (const Command& command : commands) {
    if (command.kind == CommandKind::AddListener) listener_fds_.push_back(command.fd);
  }
  const uint32_t n = threads();
  if (n == 1) {
    threads_[0]->Push(commands);
    return;
  }
  std::vector<std::vector<Command>> routed(n);
  for (Command& command : commands) {
    switch (command.kind) {
      case CommandKind::Send: {
        // One message, shared: each thread queues it on its own connections of the group.
        std::vector<std::vector<uint32_t>> groups(n);
        for (uint32_t slot : command.slots) groups[slot % n].push_back(slot);
        for (uint32_t k = 0; k < n; k++) {
          if (groups[k].empty()) continue;
          Command part(CommandKind::Send);
          part.body = command.body;
          part.body->Ref();
          part.slots = std::move(groups[k]);
          routed[k].push_back(std::move(part));
        }
        command.body->Unref();
        command.body = nullptr;
        break;
      }
      case CommandKind::AddListener:
      case CommandKind::CloseListeners:
      case CommandKind::Drain:
      case CommandKind::DestroyAll:
        for (uint32_t k = 0; k < n; k++) {
          Command copy(command.kind);
          copy.fd = command.fd;
          copy.is_unix = command.is_unix;
          copy.label = command.label;
          copy.http = command.http;
          routed[k].push_back(std::move(copy));
        }
        break;
      case CommandKind::AdoptConnection:
        // Adopted connections take the threads in turn.
        routed[next_adopter_++ % n].push_back(std::move(command));
        break;
      default:
        routed[command.slot % n].push_back(std::move(command));
        break;
    }
  }
  commands.clear();
  for (uint32_t k = 0; k < n; k++) threads_[k]->Push(routed[k]);
}

int64_t Engine::PushAndWait(Command command) {
  if (threads_.empty()) return 0;
  const uint32_t n = threads();
  int64_t total = 0;
  if (command.kind == CommandKind::CloseListeners) {
    for (auto& thread : threads_) thread->PushAndWait(Command(CommandKind::CloseListeners));
    for (int fd : listener_fds_) close(fd);
    listener_fds_.clear();
    return 0;
  }
  if (command.kind == CommandKind::Unsend && n > 1) {
    std::vector<std::vector<uint32_t>> groups(n);
    for (uint32_t slot : command.slots) groups[slot % n].push_back(slot);
    for (uint32_t k = 0; k < n; k++) {
      if (groups[k].empty()) continue;
      Command part(CommandKind::Unsend);
      part.record_serial = command.record_serial;
      part.slots = std::move(groups[k]);
      total += threads_[k]->PushAndWait(std::move(part));
    }
    return total;
  }
  return threads_[n == 1 ? 0 : command.slot % n]->PushAndWait(std::move(command));
}

void Engine::TakeDelivery(Delivery* out) {
  notify_pending_.store(false);
  std::lock_guard<std::mutex> lock(delivery_mu_);
  out->Clear();
  std::swap(*out, pending_);
}

// I/O threads.
void Engine::Deliver(Delivery& staging) {
  bool wake;
  {
    std::lock_guard<std::mutex> lock(delivery_mu_);
    pending_.Append(std::move(staging));
    // Fetch reports alone wait for the next batch (JS reads them before it), unless many
    // have gathered: hits answered here need not wake JavaScript one by one.
    wake = !pending_.events.empty() || pending_.fetched.size() >= kFetchReportsPerWake;
  }
  staging.Clear();
  if (wake && !notify_pending_.exchange(true)) notify_();
}

IoThread::IoThread(Engine* engine, uint32_t index, uint32_t count)
    : engine_(engine),
      options_(engine->options()),
      stats_(engine->stats()),
      index_(engine->index()),
      thread_index_(index),
      thread_count_(count) {}

IoThread::~IoThread() { Stop(); }

bool IoThread::Start(std::string* error) {
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
  kmod_control_ = engine_->kmod_control();
  if (kmod_control_ >= 0) kmod_read_.resize(kKernelReadSize);
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

void IoThread::Stop() {
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
  wake_fd_ = -1;
  epoll_fd_ = -1;
  kmod_control_ = -1;
}

void IoThread::Push(std::vector<Command>& commands) {
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

int64_t IoThread::PushAndWait(Command command) {
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

void IoThread::FlushDelivery() {
  if (staging_.empty()) return;
  engine_->Deliver(staging_);
}

void IoThread::ReleaseConnections() {
  // Only after the thread has stopped, on the JS thread: no batch of its is being read then.
  for (Conn* c : slots_) {
    if (c == nullptr) continue;
    for (OutMessage& message : c->out) Release(message);
    c->out.clear();
    if (c->kernel) {
      for (KernelSend& send : c->kernel->sends) send.body->Unref();
    }
    ReleaseInputBuffer(c);
    delete c;
  }
  slots_.clear();
  free_slots_.clear();
}

}  // namespace recordcache
