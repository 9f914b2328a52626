/*
 * The JS face of the native records engine (server/records/native.ts drives it).
 *
 * JS owns the API surface; this file owns handles: the record table (ids JS holds), the
 * engine and its I/O thread, and the thread-safe function through which the I/O thread
 * announces deliveries. Everything here runs on the JS thread. Errors cross as data or as
 * JS exceptions thrown here, never as C++ exceptions (built with them disabled).
 *
 * JS reads no native memory after a call returns: request bytes are copied into JS Buffers
 * when a delivery is handed over, and reply bytes are copied out of JS Buffers when they
 * are submitted, so no JS Buffer has to stay pinned while the kernel works.
 */
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "engine.h"
#include "kmod.h"
#include "macros.h"

namespace recordcache {

namespace {

/* Batches up to this size share one JS Buffer per delivery; larger ones get their own. */
constexpr uint64_t kSharedBlockBatchLimit = 64 * 1024;

/* Operation words of submit(), written by native.ts (keep in sync with SubmitOp there). */
enum SubmitOp : int32_t {
  kOpSend = 1,        // priority, segment count, group size, (record id | -1, offset, length)..., slot...
  kOpComplete = 2,    // slot, handled
  kOpEnd = 3,         // slot
  kOpDestroy = 4,     // slot
  kOpAckClose = 5,    // slot
  kOpDelete = 6,      // record id
  kOpDrain = 7,
  kOpDestroyAll = 8,
  kOpAuthenticated = 9,  // slot
};

struct RecordEntry {
  Record* record;
  uint64_t serial;
};

Napi::Object ErrnoResult(Napi::Env env, int error, const char* syscall) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("errno", Napi::Number::New(env, error));
  result.Set("syscall", Napi::String::New(env, syscall));
  return result;
}

}  // namespace

class EngineWrap;

/* What the thread-safe function calls into; outlives the wrap until the function is finalized. */
struct Bridge {
  EngineWrap* wrap = nullptr;
};

void DeliverToJs(Napi::Env env, Napi::Function callback, Bridge* bridge, void* data);
using DeliveryFunction = Napi::TypedThreadSafeFunction<Bridge, void, DeliverToJs>;

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeEngine",
                       {
                           InstanceMethod<&EngineWrap::InitRecord>("initRecord"),
                           InstanceMethod<&EngineWrap::ReadRecord>("readRecord"),
                           InstanceMethod<&EngineWrap::Submit>("submit"),
                           InstanceMethod<&EngineWrap::Unsend>("unsend"),
                           InstanceMethod<&EngineWrap::ListenTcp>("listenTcp"),
                           InstanceMethod<&EngineWrap::ListenUnix>("listenUnix"),
                           InstanceMethod<&EngineWrap::StopListening>("stopListening"),
                           InstanceMethod<&EngineWrap::Ref>("ref"),
                           InstanceMethod<&EngineWrap::Unref>("unref"),
                           InstanceMethod<&EngineWrap::RecordStatsValue>("recordStats"),
                           InstanceMethod<&EngineWrap::Dispose>("dispose"),
                       });
  }

  /* new NativeEngine(options, onDelivery) */
  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      Napi::TypeError::New(env, "Expected (options: object, onDelivery: function)").ThrowAsJavaScriptException();
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    EngineOptions options;
    auto number = [&](const char* name, double fallback) {
      Napi::Value v = o.Get(name);
      return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
    };
    auto flag = [&](const char* name, bool fallback) {
      Napi::Value v = o.Get(name);
      return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : fallback;
    };
    options.limits.item_size_max = static_cast<uint32_t>(number("itemSizeMax", options.limits.item_size_max));
    options.limits.cas = flag("casEnabled", options.limits.cas);
    options.limits.slab_chunk_max = static_cast<uint32_t>(number("slabChunkMax", options.limits.slab_chunk_max));
    options.limits.sasl = flag("sasl", options.limits.sasl);
    // -B: 0 auto, 1 ascii, 2 binary (RP_PROTO_AUTO, RP_PROTO_TEXT, RP_PROTO_BINARY).
    options.protocol = static_cast<uint8_t>(number("protocol", RP_PROTO_AUTO));
    options.idle_timeout_seconds = static_cast<uint32_t>(number("idleTimeoutSeconds", 0));
    options.out_limit_soft = static_cast<uint64_t>(number("outLimitSoft", static_cast<double>(options.out_limit_soft)));
    options.out_limit_hard = static_cast<uint64_t>(number("outLimitHard", static_cast<double>(options.out_limit_hard)));
    options.memfd_threshold = static_cast<size_t>(number("memfdThreshold", static_cast<double>(options.memfd_threshold)));
    options.notsent_lowat = static_cast<int>(number("notSentLowat", -1));
    options.kmod = flag("kmod", false);
    options.ascii_auth = flag("asciiAuth", false);

    // Memfd records hold a descriptor each; leave most descriptors to connections.
    rlimit files{};
    memfd_budget_ = 1024;
    if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) memfd_budget_ = files.rlim_cur / 4;

    bridge_ = new Bridge{this};
    delivery_fn_ = DeliveryFunction::New(env, info[1].As<Napi::Function>(), "recordcache-native-delivery", 0, 1,
                                         bridge_, [](Napi::Env, void*, Bridge* bridge) { delete bridge; });
    delivery_fn_.Unref(env);
    engine_ = std::make_unique<Engine>(options, [this] { delivery_fn_.NonBlockingCall(); });
    std::string error;
    if (!engine_->Start(&error)) {
      engine_.reset();
      Napi::Error::New(env, error).ThrowAsJavaScriptException();
      return;
    }
    cleanup_ = env.AddCleanupHook(std::function<void()>([this] { Close(); }));
  }

  ~EngineWrap() override { Close(); }

  /* Runs on the JS thread when the I/O thread has delivered something. */
  void Deliver(Napi::Env env, Napi::Function callback) {
    if (engine_ == nullptr) return;
    engine_->TakeDelivery(&delivery_);
    if (delivery_.empty()) return;
    Delivery& d = delivery_;

    // Request bytes: small batches share one Buffer, large ones get their own.
    uint64_t shared_size = 0;
    for (const BatchRef& batch : d.batches) {
      if (batch.bytes <= kSharedBlockBatchLimit) shared_size += batch.bytes;
    }
    Napi::Buffer<uint8_t> shared = Napi::Buffer<uint8_t>::New(env, shared_size);
    Napi::Array own = Napi::Array::New(env);
    Napi::Int32Array starts = Napi::Int32Array::New(env, d.starts.size());
    Napi::Int32Array lengths = Napi::Int32Array::New(env, d.lengths.size());
    uint64_t shared_at = 0;
    uint32_t own_count = 0;
    size_t batch_index = 0;
    for (size_t i = 0; i < d.events.size();) {
      const int32_t kind = d.events[i];
      if (kind == kEventOpen) {
        i += 4;
        continue;
      }
      if (kind == kEventClose) {
        i += 2;
        continue;
      }
      const BatchRef& batch = d.batches[batch_index++];
      uint8_t* dst;
      uint64_t at;
      if (batch.bytes <= kSharedBlockBatchLimit) {
        dst = shared.Data();
        at = shared_at;
        shared_at += batch.bytes;
        d.events[i + 4] = -1;
      } else {
        Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, batch.bytes);
        dst = buffer.Data();
        at = 0;
        d.events[i + 4] = static_cast<int32_t>(own_count);
        own.Set(own_count++, buffer);
      }
      // Copy runs of adjacent requests at once; swallowed bytes between them are skipped.
      uint32_t j = batch.first;
      const uint32_t last = batch.first + batch.count;
      while (j < last) {
        const uint64_t run_start = d.starts[j];
        uint64_t run_end = run_start + d.lengths[j];
        uint64_t run_at = at;
        starts[j] = static_cast<int32_t>(at);
        lengths[j] = static_cast<int32_t>(d.lengths[j]);
        at += d.lengths[j];
        j++;
        while (j < last && d.starts[j] == run_end) {
          starts[j] = static_cast<int32_t>(at);
          lengths[j] = static_cast<int32_t>(d.lengths[j]);
          at += d.lengths[j];
          run_end += d.lengths[j];
          j++;
        }
        memcpy(dst + run_at, batch.base + run_start, run_end - run_start);
      }
      i += 5;
    }
    Napi::Int32Array events = Napi::Int32Array::New(env, d.events.size());
    if (!d.events.empty()) memcpy(events.Data(), d.events.data(), d.events.size() * sizeof(int32_t));
    Napi::Value strings = env.Null();
    if (!d.strings.empty()) {
      Napi::Array array = Napi::Array::New(env, d.strings.size());
      for (uint32_t k = 0; k < d.strings.size(); k++) array.Set(k, Napi::String::New(env, d.strings[k]));
      strings = array;
    }
    const double bytes_read = static_cast<double>(d.bytes_read);
    if (!d.starts.empty()) {
      RecordStats& stats = engine_->stats();
      stats.deliveries.fetch_add(1, std::memory_order_relaxed);
      stats.delivered_requests.fetch_add(d.starts.size(), std::memory_order_relaxed);
    }
    d.Clear();
    // An exception thrown by the handler stays pending and surfaces as an uncaught one.
    callback.Call({events, strings, shared, own, starts, lengths, Napi::Number::New(env, bytes_read)});
  }

 private:
  void Close() {
    if (engine_ == nullptr) return;
    engine_->Stop();
    engine_.reset();
    for (RecordEntry& entry : records_) {
      if (entry.record != nullptr) entry.record->Unref();
    }
    records_.clear();
    free_record_ids_.clear();
    bridge_->wrap = nullptr;
    delivery_fn_.Release();
    cleanup_.Remove(Env());
  }

  bool Alive(Napi::Env env) {
    if (engine_ != nullptr) return true;
    Napi::Error::New(env, "the native records engine is disposed").ThrowAsJavaScriptException();
    return false;
  }

  /* initRecord(bytes) -> id: the bytes are copied once, into addon memory. */
  Napi::Value InitRecord(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_BUFFER(info, 0, bytes);
    if (!Alive(env)) return env.Undefined();
    RecordStats& stats = engine_->stats();
    const bool use_memfd = bytes.Length() >= engine_->options().memfd_threshold &&
                           stats.memfd_live.load(std::memory_order_relaxed) < memfd_budget_;
    Record* record = Record::Create(bytes.Data(), bytes.Length(), use_memfd, &stats);
    /*
     * The record is memory JS's handle keeps alive: V8 is told, so that its collector runs
     * as values move into records and the Buffers they came from are freed in step.
     */
    Napi::MemoryManagement::AdjustExternalMemory(env, static_cast<int64_t>(bytes.Length()));
    if (use_memfd && engine_->kmod_control() >= 0) {
      // kmod backend: the module gets its own copy, sent to sockets by page reference.
      const int fd = kmod::CreateRecord(engine_->kmod_control(), bytes.Data(), bytes.Length());
      if (fd >= 0) {
        record->set_kernel_fd(fd);
        stats.kernel_live.fetch_add(1, std::memory_order_relaxed);
      }
    }
    int32_t id;
    if (free_record_ids_.empty()) {
      id = static_cast<int32_t>(records_.size());
      records_.push_back(RecordEntry{record, engine_->next_record_serial()});
    } else {
      id = free_record_ids_.back();
      free_record_ids_.pop_back();
      records_[id] = RecordEntry{record, engine_->next_record_serial()};
    }
    return Napi::Number::New(env, id);
  }

  /*
   * readRecord(id) -> Buffer: a copy of the record's bytes, for the rare reader in JS
   * (append, incr, UDP and TLS replies) of a value whose only other copy is the record.
   */
  Napi::Value ReadRecord(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_INT32(info, 0, id);
    if (!Alive(env)) return env.Undefined();
    const RecordEntry* entry = LookupRecord(id);
    if (entry == nullptr) THROW_AND_RETURN(env, RangeError, "no such record");
    return Napi::Buffer<uint8_t>::Copy(env, entry->record->data(), entry->record->length());
  }

  const RecordEntry* LookupRecord(int32_t id) const {
    if (id < 0 || static_cast<size_t>(id) >= records_.size() || records_[id].record == nullptr) return nullptr;
    return &records_[id];
  }

  /*
   * submit(bytes, ops, opsLength): replies, completions, closes and record deletions, in
   * order. Reply bytes are copied out of `bytes` here; records are referenced.
   */
  Napi::Value Submit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_BUFFER(info, 0, bytes);
    REQUIRE_ARGUMENT_INT32ARRAY(info, 1, ops_array);
    REQUIRE_ARGUMENT_INT32(info, 2, ops_length);
    if (!Alive(env)) return env.Undefined();
    if (ops_length < 0 || static_cast<size_t>(ops_length) > ops_array.ElementLength()) {
      THROW_AND_RETURN(env, RangeError, "ops length out of range");
    }
    const int32_t* ops = ops_array.Data();
    const size_t n = static_cast<size_t>(ops_length);
    std::vector<Command> commands;
    const char* error = nullptr;
    size_t i = 0;
    while (i < n && error == nullptr) {
      const int32_t op = ops[i];
      if (op == kOpSend) {
        if (i + 4 > n) {
          error = "truncated send";
          break;
        }
        const int32_t priority = ops[i + 1];
        const int32_t segments = ops[i + 2];
        const int32_t group = ops[i + 3];
        const size_t need = 4 + static_cast<size_t>(std::max(0, segments)) * 3 + static_cast<size_t>(std::max(0, group));
        if (segments < 0 || group < 0 || i + need > n) {
          error = "truncated send";
          break;
        }
        MessageBody* body = BuildMessage(ops + i + 4, segments, bytes, &error);
        if (body == nullptr) break;
        body->priority = priority;
        Command command{CommandKind::Send};
        command.body = body;
        const int32_t* slots = ops + i + 4 + segments * 3;
        command.slots.assign(slots, slots + group);
        commands.push_back(std::move(command));
        i += need;
        continue;
      }
      if (op == kOpDrain || op == kOpDestroyAll) {
        commands.push_back(Command(op == kOpDrain ? CommandKind::Drain : CommandKind::DestroyAll));
        i += 1;
        continue;
      }
      if (op == kOpComplete) {
        if (i + 3 > n) {
          error = "truncated completion";
          break;
        }
        Command command{CommandKind::Complete};
        command.slot = static_cast<uint32_t>(ops[i + 1]);
        command.value = ops[i + 2];
        commands.push_back(std::move(command));
        i += 3;
        continue;
      }
      if (i + 2 > n) {
        error = "truncated operation";
        break;
      }
      const int32_t arg = ops[i + 1];
      switch (op) {
        case kOpEnd:
        case kOpDestroy:
        case kOpAckClose:
        case kOpAuthenticated: {
          Command command(op == kOpEnd       ? CommandKind::End
                          : op == kOpDestroy ? CommandKind::Destroy
                          : op == kOpAckClose ? CommandKind::AckClose
                                              : CommandKind::Authenticated);
          command.slot = static_cast<uint32_t>(arg);
          commands.push_back(std::move(command));
          break;
        }
        case kOpDelete: {
          // Sends earlier in this submission already hold their references.
          if (LookupRecord(arg) == nullptr) {
            error = "unknown record";
            break;
          }
          Napi::MemoryManagement::AdjustExternalMemory(env, -static_cast<int64_t>(records_[arg].record->length()));
          records_[arg].record->Unref();
          records_[arg].record = nullptr;
          free_record_ids_.push_back(arg);
          break;
        }
        default:
          error = "unknown operation";
          break;
      }
      i += 2;
    }
    engine_->Push(commands);
    if (error != nullptr) THROW_AND_RETURN(env, RangeError, error);
    return env.Undefined();
  }

  /*
   * One reply: reply bytes and short record slices are copied together into its own bytes
   * (one iovec); longer record slices are referenced. Returns null and sets `error` on a bad segment.
   */
  MessageBody* BuildMessage(const int32_t* segs, int32_t count, const Napi::Buffer<uint8_t>& bytes, const char** error) {
    uint64_t copied = 0;
    for (int32_t s = 0; s < count; s++) {
      const int32_t id = segs[s * 3];
      const int64_t offset = segs[s * 3 + 1];
      const int64_t length = segs[s * 3 + 2];
      if (offset < 0 || length < 0) {
        *error = "negative segment offset or length";
        return nullptr;
      }
      if (id < 0) {
        if (static_cast<uint64_t>(offset + length) > bytes.Length()) {
          *error = "segment outside the submitted bytes";
          return nullptr;
        }
        copied += static_cast<uint64_t>(length);
        continue;
      }
      const RecordEntry* entry = LookupRecord(id);
      if (entry == nullptr) {
        *error = "unknown record";
        return nullptr;
      }
      if (static_cast<uint64_t>(offset + length) > entry->record->length()) {
        *error = "slice outside its record";
        return nullptr;
      }
      if (static_cast<uint64_t>(length) < kInlineRecordLimit) copied += length;
    }
    // The reply's own bytes (and short records, copied) go after it in one allocation.
    MessageBody* body = MessageBody::Create(copied);
    uint64_t own_at = 0;
    uint64_t run_start = 0;  // own bytes not yet covered by a piece
    auto close_run = [&]() {
      if (own_at > run_start) {
        body->pieces.push_back(Piece{nullptr, run_start, own_at - run_start});
        run_start = own_at;
      }
    };
    for (int32_t s = 0; s < count; s++) {
      const int32_t id = segs[s * 3];
      const uint64_t offset = static_cast<uint64_t>(segs[s * 3 + 1]);
      const uint64_t length = static_cast<uint64_t>(segs[s * 3 + 2]);
      if (length == 0) {
        if (id >= 0) body->record_serials.push_back(records_[id].serial);
        continue;
      }
      body->total += length;
      if (id < 0) {
        memcpy(body->bytes + own_at, bytes.Data() + offset, length);
        own_at += length;
        continue;
      }
      const RecordEntry& entry = records_[id];
      body->record_serials.push_back(entry.serial);
      if (length < kInlineRecordLimit) {
        memcpy(body->bytes + own_at, entry.record->data() + offset, length);
        own_at += length;
        continue;
      }
      close_run();
      entry.record->Ref();
      body->pieces.push_back(Piece{entry.record, offset, length});
    }
    close_run();
    return body;
  }

  /* unsend(recordId, slots, count) -> messages dropped before any of their bytes were written */
  Napi::Value Unsend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_INT32(info, 0, id);
    REQUIRE_ARGUMENT_INT32ARRAY(info, 1, slots);
    REQUIRE_ARGUMENT_INT32(info, 2, count);
    if (!Alive(env)) return env.Undefined();
    const RecordEntry* entry = LookupRecord(id);
    if (entry == nullptr) THROW_AND_RETURN(env, RangeError, "unknown record");
    if (count < 0 || static_cast<size_t>(count) > slots.ElementLength()) THROW_AND_RETURN(env, RangeError, "count out of range");
    Command command{CommandKind::Unsend};
    command.record_serial = entry->serial;
    command.slots.assign(slots.Data(), slots.Data() + count);
    return Napi::Number::New(env, static_cast<double>(engine_->PushAndWait(std::move(command))));
  }

  /* listenTcp(numericHost | "", port, backlog) -> { fd, address, port } | { errno, syscall } */
  Napi::Value ListenTcp(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_STRING(info, 0, host);
    REQUIRE_ARGUMENT_INT32(info, 1, port);
    REQUIRE_ARGUMENT_INT32(info, 2, backlog);
    if (!Alive(env)) return env.Undefined();
    sockaddr_storage address{};
    socklen_t length = 0;
    int family = AF_INET6;
    if (host.empty()) {
      sockaddr_in6* any6 = reinterpret_cast<sockaddr_in6*>(&address);
      any6->sin6_family = AF_INET6;
      any6->sin6_addr = in6addr_any;
      any6->sin6_port = htons(static_cast<uint16_t>(port));
      length = sizeof(sockaddr_in6);
    } else if (inet_pton(AF_INET, host.c_str(), &reinterpret_cast<sockaddr_in*>(&address)->sin_addr) == 1) {
      family = AF_INET;
      sockaddr_in* in4 = reinterpret_cast<sockaddr_in*>(&address);
      in4->sin_family = AF_INET;
      in4->sin_port = htons(static_cast<uint16_t>(port));
      length = sizeof(sockaddr_in);
    } else if (inet_pton(AF_INET6, host.c_str(), &reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr) == 1) {
      sockaddr_in6* in6 = reinterpret_cast<sockaddr_in6*>(&address);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(static_cast<uint16_t>(port));
      length = sizeof(sockaddr_in6);
    } else {
      return ErrnoResult(env, EINVAL, "listen");
    }
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && host.empty()) {
      // No IPv6 here: every interface means every IPv4 interface.
      family = AF_INET;
      memset(&address, 0, sizeof(address));
      sockaddr_in* in4 = reinterpret_cast<sockaddr_in*>(&address);
      in4->sin_family = AF_INET;
      in4->sin_addr.s_addr = htonl(INADDR_ANY);
      in4->sin_port = htons(static_cast<uint16_t>(port));
      length = sizeof(sockaddr_in);
      fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) return ErrnoResult(env, errno, "socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6 && host.empty()) {
      int zero = 0;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) != 0 || listen(fd, backlog) != 0) {
      int error = errno;
      close(fd);
      return ErrnoResult(env, error, "listen");
    }
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof(bound);
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
    char text[INET6_ADDRSTRLEN] = {0};
    int bound_port = 0;
    if (bound.ss_family == AF_INET) {
      const sockaddr_in* in4 = reinterpret_cast<const sockaddr_in*>(&bound);
      inet_ntop(AF_INET, &in4->sin_addr, text, sizeof(text));
      bound_port = ntohs(in4->sin_port);
    } else {
      const sockaddr_in6* in6 = reinterpret_cast<const sockaddr_in6*>(&bound);
      inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
      bound_port = ntohs(in6->sin6_port);
    }
    AddListener(fd, false, "");
    Napi::Object result = Napi::Object::New(env);
    result.Set("address", Napi::String::New(env, text));
    result.Set("port", Napi::Number::New(env, bound_port));
    return result;
  }

  /* listenUnix(path, backlog) -> { path } | { errno, syscall } */
  Napi::Value ListenUnix(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    REQUIRE_ARGUMENT_STRING(info, 0, path);
    REQUIRE_ARGUMENT_INT32(info, 1, backlog);
    if (!Alive(env)) return env.Undefined();
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof(address.sun_path)) return ErrnoResult(env, ENAMETOOLONG, "listen");
    memcpy(address.sun_path, path.c_str(), path.size() + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return ErrnoResult(env, errno, "socket");
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 || listen(fd, backlog) != 0) {
      int error = errno;
      close(fd);
      return ErrnoResult(env, error, "listen");
    }
    AddListener(fd, true, "unix:" + path);
    Napi::Object result = Napi::Object::New(env);
    result.Set("path", Napi::String::New(env, path));
    return result;
  }

  void AddListener(int fd, bool is_unix, std::string label) {
    Command command{CommandKind::AddListener};
    command.fd = fd;
    command.is_unix = is_unix;
    command.label = std::move(label);
    std::vector<Command> one;
    one.push_back(std::move(command));
    engine_->Push(one);
  }

  /* stopListening(): returns once the I/O thread has closed every listening socket. */
  Napi::Value StopListening(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!Alive(env)) return env.Undefined();
    engine_->PushAndWait(Command(CommandKind::CloseListeners));
    return env.Undefined();
  }

  /* ref()/unref(): whether pending deliveries keep Node's event loop alive. */
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (engine_ != nullptr) delivery_fn_.Ref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (engine_ != nullptr) delivery_fn_.Unref(info.Env());
    return info.Env().Undefined();
  }

  Napi::Value RecordStatsValue(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object result = Napi::Object::New(env);
    if (engine_ == nullptr) return result;
    RecordStats& s = engine_->stats();
    auto set = [&](const char* name, const std::atomic<uint64_t>& value) {
      result.Set(name, Napi::Number::New(env, static_cast<double>(value.load(std::memory_order_relaxed))));
    };
    set("created", s.created);
    set("live", s.live);
    set("bytes", s.live_bytes);
    set("memfd", s.memfd_live);
    set("kernel", s.kernel_live);
    set("kernelConnections", s.kernel_connections);
    set("kernelRefused", s.kernel_refused);
    set("sends", s.sends);
    set("sendsCompleted", s.sends_completed);
    set("deliveries", s.deliveries);
    set("deliveredRequests", s.delivered_requests);
    return result;
  }

  /* dispose(): stop the I/O thread, close every socket, release every record. */
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  std::unique_ptr<Engine> engine_;
  DeliveryFunction delivery_fn_;
  Bridge* bridge_ = nullptr;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
  Delivery delivery_;
  std::vector<RecordEntry> records_;
  std::vector<int32_t> free_record_ids_;
  uint64_t memfd_budget_ = 1024;
};

void DeliverToJs(Napi::Env env, Napi::Function callback, Bridge* bridge, void* /* data */) {
  if (env == nullptr || bridge == nullptr || bridge->wrap == nullptr) return;
  bridge->wrap->Deliver(env, callback);
}

/*
 * frame(buffer, proto, itemSizeMax, casEnabled, slabChunkMax, sasl) -> [status, length,
 * swallow, needed]: the engine's framer (kmod/records_parse.c rp_measure) on its own, with
 * proto 1 text, 2 binary or 3 authentication, so tests can hold it to the TypeScript
 * framers byte for byte. The status is 1 whole, 2 need more, 3 close, as FrameStatus.
 */
Napi::Value FrameForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_BUFFER(info, 0, bytes);
  REQUIRE_ARGUMENT_INT32(info, 1, proto);
  REQUIRE_ARGUMENT_NUMBER(info, 2, item_size_max);
  REQUIRE_ARGUMENT_INT32(info, 3, cas_enabled);
  REQUIRE_ARGUMENT_NUMBER(info, 4, slab_chunk_max);
  REQUIRE_ARGUMENT_INT32(info, 5, sasl);
  if (proto != RP_PROTO_TEXT && proto != RP_PROTO_BINARY && proto != RP_PROTO_AUTH) {
    THROW_AND_RETURN(env, TypeError, "Expected argument 1 to be 1 (text), 2 (binary) or 3 (authentication)");
  }
  rp_limits limits = DefaultFramingLimits();
  limits.item_size_max = static_cast<uint32_t>(item_size_max);
  limits.cas = cas_enabled != 0;
  limits.slab_chunk_max = static_cast<uint32_t>(slab_chunk_max);
  limits.sasl = sasl != 0;
  // Framed from a copy of exactly the given bytes, so a read past them is caught by ASan.
  std::vector<uint8_t> copy(bytes.Data(), bytes.Data() + bytes.Length());
  rp_extent frame{};
  FrameRequest(limits, static_cast<uint8_t>(proto), copy.data(), 0, copy.size(), &frame);
  Napi::Array result = Napi::Array::New(env, 4);
  result.Set(0u, Napi::Number::New(env, static_cast<double>(frame.status)));
  result.Set(1u, Napi::Number::New(env, static_cast<double>(frame.length)));
  result.Set(2u, Napi::Number::New(env, static_cast<double>(frame.swallow)));
  result.Set(3u, Napi::Number::New(env, static_cast<double>(frame.needed)));
  return result;
}

/* chooseProtocol(choice, firstByte) -> 1 text or 2 binary: rp_choose() for -B 0 auto, 1 ascii, 2 binary. */
Napi::Value ChooseProtocolForTest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_INT32(info, 0, choice);
  REQUIRE_ARGUMENT_INT32(info, 1, first_byte);
  return Napi::Number::New(env, rp_choose(static_cast<uint8_t>(choice), static_cast<uint8_t>(first_byte)));
}

/* The numbers JS and the engine exchange, exported so that JS reads them instead of repeating them. */
Napi::Object WireNumbers(Napi::Env env) {
  auto group = [&env](std::initializer_list<std::pair<const char*, int32_t>> entries) {
    Napi::Object object = Napi::Object::New(env);
    for (const auto& [name, value] : entries) object.Set(name, Napi::Number::New(env, value));
    return object;
  };
  Napi::Object wire = Napi::Object::New(env);
  wire.Set("ops", group({{"send", kOpSend},
                         {"complete", kOpComplete},
                         {"end", kOpEnd},
                         {"destroy", kOpDestroy},
                         {"ackClose", kOpAckClose},
                         {"delete", kOpDelete},
                         {"drain", kOpDrain},
                         {"destroyAll", kOpDestroyAll},
                         {"authenticated", kOpAuthenticated}}));
  wire.Set("events", group({{"open", kEventOpen}, {"requests", kEventRequests}, {"close", kEventClose}}));
  wire.Set("batchFlags",
           group({{"completesData", kBatchCompletesData}, {"closes", kBatchCloses}, {"binary", kBatchBinary}}));
  return wire;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  /*
   * Values of 128 KiB and more are mapped by malloc and unmapped when freed. glibc raises
   * that threshold each time it frees such a block, after which large values come from its
   * heap and their memory stays resident once freed: filling -m 64 with 400 KB values then
   * held about 60 MB more than the cache. A fixed threshold turns the raising off.
   */
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  exports.Set("NativeEngine", EngineWrap::Define(env));
  exports.Set("frame", Napi::Function::New(env, FrameForTest, "frame"));
  exports.Set("chooseProtocol", Napi::Function::New(env, ChooseProtocolForTest, "chooseProtocol"));
  exports.Set("memfdRecordThreshold", Napi::Number::New(env, static_cast<double>(kMemfdRecordThreshold)));
  exports.Set("wire", WireNumbers(env));
  return exports;
}

}  // namespace recordcache

static Napi::Object InitRecordcacheNative(Napi::Env env, Napi::Object exports) {
  return recordcache::Init(env, exports);
}

NODE_API_MODULE(recordcache_native, InitRecordcacheNative)
