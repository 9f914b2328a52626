/*
 * NativeEngine (engine_binding.h): construction, deliveries to JS, submit, unsend, stats
 * and dispose.
 *
 * JS reads no native memory after a call returns: request bytes are copied into JS Buffers
 * when a delivery is handed over (the server's large batches are lent for the call and
 * detached when it returns), and reply bytes are copied out of JS Buffers when they
 * are submitted, so no JS Buffer has to stay pinned while the kernel works. Errors cross
 * as data or as JS exceptions thrown here, never as C++ exceptions (built with them disabled).
 */
#include "engine_binding.h"

#include <sys/resource.h>

#include <algorithm>
#include <cstring>

#include "macros.h"

namespace recordcache {

namespace {

/* Batches up to this size share one JS Buffer per delivery; larger ones get their own. */
constexpr uint64_t kSharedBlockBatchLimit = 64 * 1024;

}  // namespace

Napi::Function EngineWrap::Define(Napi::Env env) {
  return DefineClass(env, "NativeEngine",
                     {
                         InstanceMethod<&EngineWrap::InitRecord>("initRecord"),
                         InstanceMethod<&EngineWrap::ReadRecord>("readRecord"),
                         InstanceMethod<&EngineWrap::Submit>("submit"),
                         InstanceMethod<&EngineWrap::Unsend>("unsend"),
                         InstanceMethod<&EngineWrap::ListenTcp>("listenTcp"),
                         InstanceMethod<&EngineWrap::ListenUnix>("listenUnix"),
                         InstanceMethod<&EngineWrap::StopListening>("stopListening"),
                         InstanceMethod<&EngineWrap::Adopt>("adopt"),
                         InstanceMethod<&EngineWrap::Ref>("ref"),
                         InstanceMethod<&EngineWrap::Unref>("unref"),
                         InstanceMethod<&EngineWrap::RecordStatsValue>("recordStats"),
                         InstanceMethod<&EngineWrap::SetClock>("setClock"),
                         InstanceMethod<&EngineWrap::SetServing>("setServing"),
                         InstanceMethod<&EngineWrap::TakeServed>("takeServed"),
                         InstanceMethod<&EngineWrap::TakeHttpServed>("takeHttpServed"),
                         InstanceMethod<&EngineWrap::Dispose>("dispose"),
                     });
}

/* new NativeEngine(options, onDelivery) */
EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
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
  // -B: 0 auto, 1 ascii, 2 binary (RP_PROTO_AUTO, RP_PROTO_TEXT, RP_PROTO_BINARY); or the
  // records library's message framings, 4 length-prefixed and 5 line (RP_PROTO_LENGTH, _LINE).
  options.protocol = static_cast<uint8_t>(number("protocol", RP_PROTO_AUTO));
  options.limits.message_max = static_cast<uint32_t>(number("messageMax", 1 << 20));
  options.limits.prefix_offset = static_cast<uint32_t>(number("prefixOffset", 0));
  options.limits.prefix_width = static_cast<uint8_t>(number("prefixWidth", 4));
  options.limits.prefix_le = flag("prefixLittleEndian", false);
  const bool messages = options.protocol == RP_PROTO_LENGTH || options.protocol == RP_PROTO_LINE;
  const uint8_t width = options.limits.prefix_width;
  if (options.protocol > RP_PROTO_LINE || options.protocol == RP_PROTO_AUTH ||
      (messages && (width == 0 || width > 8 || (width & (width - 1)) != 0 ||
                    options.limits.message_max < options.limits.prefix_offset + width))) {
    Napi::RangeError::New(env, "Unknown protocol or framing").ThrowAsJavaScriptException();
    return;
  }
  options.idle_timeout_seconds = static_cast<uint32_t>(number("idleTimeoutSeconds", 0));
  options.out_limit_soft = static_cast<uint64_t>(number("outLimitSoft", static_cast<double>(options.out_limit_soft)));
  options.out_limit_hard = static_cast<uint64_t>(number("outLimitHard", static_cast<double>(options.out_limit_hard)));
  options.input_mem_limit = static_cast<uint64_t>(number("inputMemLimit", 0));
  options.memfd_threshold = static_cast<size_t>(number("memfdThreshold", static_cast<double>(options.memfd_threshold)));
  options.notsent_lowat = static_cast<int>(number("notSentLowat", -1));
  options.kmod = flag("kmod", false);
  options.ascii_auth = flag("asciiAuth", false);
  options.threads = static_cast<uint32_t>(std::max(1.0, number("threads", 1)));
  options.priority_within_connection = flag("priorityWithinConnection", false);
  release_deliveries_ = flag("releaseDeliveries", false);
  options.out_high_water = static_cast<uint64_t>(number("outHighWater", 0));
  options.out_low_water = static_cast<uint64_t>(number("outLowWater", static_cast<double>(options.out_high_water / 2)));

  // Memfd records hold a descriptor each; leave most descriptors to connections.
  rlimit files{};
  memfd_budget_ = 1024;
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) memfd_budget_ = files.rlim_cur / 4;

  bridge_ = new Bridge{this};
  delivery_fn_ = DeliveryFunction::New(env, info[1].As<Napi::Function>(), "recordcache-native-delivery", 0, 1, bridge_,
                                       [](Napi::Env, void*, Bridge* bridge) { delete bridge; });
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

EngineWrap::~EngineWrap() { Close(); }

/* Runs on the JS thread when the I/O thread has delivered something. */
void EngineWrap::Deliver(Napi::Env env, Napi::Function callback) {
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
  SmallVector<napi_value, 4> released;
  Napi::Int32Array starts = Napi::Int32Array::New(env, d.starts.size());
  Napi::Int32Array lengths = Napi::Int32Array::New(env, d.lengths.size());
  Napi::Int32Array key_hints = Napi::Int32Array::New(env, d.starts.size() * 2);
  FindStoredKeys(d, key_hints.Data());
  uint64_t shared_at = 0;
  uint32_t own_count = 0;
  d.ForEachBatch([&](size_t i, const BatchRef& batch) {
    uint8_t* dst;
    uint64_t at;
    if (batch.bytes <= kSharedBlockBatchLimit) {
      dst = shared.Data();
      at = shared_at;
      shared_at += batch.bytes;
      d.events[i + 4] = -1;
    } else if (release_deliveries_) {
      /*
       * A large batch is lent, not copied: the Buffer views the connection's input, which
       * the I/O thread leaves alone until JS completes the batch, and is detached before
       * this returns. A megabyte copied into fresh memory cost milliseconds of page faults.
       */
      uint64_t low = UINT64_MAX;
      uint64_t high = 0;
      for (uint32_t j = batch.first; j < batch.first + batch.count; j++) {
        low = std::min<uint64_t>(low, d.starts[j]);
        high = std::max<uint64_t>(high, d.starts[j] + d.lengths[j]);
      }
      if (batch.count == 0) low = high = 0;
      Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(env, const_cast<uint8_t*>(batch.base) + low, high - low,
                                                                [](Napi::Env, uint8_t*) {});
      for (uint32_t j = batch.first; j < batch.first + batch.count; j++) {
        starts[j] = static_cast<int32_t>(d.starts[j] - low);
        lengths[j] = static_cast<int32_t>(d.lengths[j]);
      }
      d.events[i + 4] = static_cast<int32_t>(own_count);
      own.Set(own_count++, buffer);
      released.push_back(buffer);
      return;
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
  });
  Napi::Int32Array events = Napi::Int32Array::New(env, d.events.size());
  if (!d.events.empty()) memcpy(events.Data(), d.events.data(), d.events.size() * sizeof(int32_t));
  Napi::Value strings = env.Null();
  if (!d.strings.empty()) {
    Napi::Array array = Napi::Array::New(env, d.strings.size());
    for (uint32_t k = 0; k < d.strings.size(); k++) array.Set(k, Napi::String::New(env, d.strings[k]));
    strings = array;
  }
  const double bytes_read = static_cast<double>(d.bytes_read);
  // Natively served fetches the store is to hear of: handle, serial, handle, serial...
  // (numbers only: no key strings to make and hash again).
  Napi::Value fetched = env.Null();
  if (!d.fetched.empty()) {
    Napi::Int32Array array = Napi::Int32Array::New(env, d.fetched.size() * 2);
    int32_t* out = array.Data();
    for (IndexEntry* entry : d.fetched) {
      *out++ = entry->handle;
      *out++ = static_cast<int32_t>(entry->serial);
      entry->Unref();
    }
    fetched = array;
  }
  if (!d.starts.empty()) {
    RecordStats& stats = engine_->stats();
    stats.deliveries.fetch_add(1, std::memory_order_relaxed);
    stats.delivered_requests.fetch_add(d.starts.size(), std::memory_order_relaxed);
  }
  d.Clear();
  // An exception thrown by the handler stays pending and surfaces as an uncaught one.
  callback.Call(
      {events, strings, shared, own, starts, lengths, fetched, Napi::Number::New(env, bytes_read), key_hints});
  // Detached even when the handler threw: a lent Buffer must not outlive this call.
  for (napi_value buffer : released) {
    napi_value array_buffer;
    if (napi_get_typedarray_info(env, buffer, nullptr, nullptr, nullptr, &array_buffer, nullptr) == napi_ok) {
      napi_detach_arraybuffer(env, array_buffer);
    }
  }
}

void EngineWrap::Close() {
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

bool EngineWrap::Alive(Napi::Env env) {
  if (engine_ != nullptr) return true;
  Napi::Error::New(env, "the native records engine is disposed").ThrowAsJavaScriptException();
  return false;
}

/*
 * submit(bytes, ops, opsLength): replies, completions, closes and record deletions, in
 * order. Reply bytes are copied out of `bytes` here; records are referenced.
 */
Napi::Value EngineWrap::Submit(const Napi::CallbackInfo& info) {
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
    if (op >= kOpPublish && op <= kOpFlushDue) {
      const size_t words = op == kOpPublish ? 14 : op == kOpUnpublish ? 3 : op == kOpFlushDue ? 2 : 1;
      if (i + words > n) {
        error = "truncated index operation";
        break;
      }
      ApplyIndexOp(op, ops + i + 1, bytes, &error);
      i += words;
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
        Command command(op == kOpEnd        ? CommandKind::End
                        : op == kOpDestroy  ? CommandKind::Destroy
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
 * A change to the read index, made now on the JS thread: the sends after it in the same
 * submission reach the I/O thread after it, so no reply to a mutation goes out before the
 * index shows the mutation.
 */
void EngineWrap::ApplyIndexOp(int32_t op, const int32_t* args, const Napi::Buffer<uint8_t>& bytes, const char** error) {
  ReadIndex& index = engine_->index();
  if (op == kOpClearIndex) {
    index.Clear();
    return;
  }
  if (op == kOpFlushDue) {
    index.SetFlushDue(args[0]);
    return;
  }
  const uint64_t offset = static_cast<uint32_t>(args[op == kOpPublish ? 1 : 0]);
  const uint64_t key_length = static_cast<uint32_t>(args[op == kOpPublish ? 2 : 1]);
  if (op == kOpUnpublish) {
    if (offset + key_length > bytes.Length()) {
      *error = "index key out of range";
      return;
    }
    index.Remove(bytes.Data() + offset, static_cast<uint32_t>(key_length));
    return;
  }
  const int32_t record_id = args[0];
  const uint64_t data_length = static_cast<uint32_t>(args[3]);
  const int32_t handle = args[11];
  // A republication names its key by the entry the store's handle has (its serial checked).
  const IndexEntry* current = nullptr;
  if (key_length == 0) {
    current = index.Published(handle);
    if (current == nullptr || current->serial != static_cast<uint32_t>(args[12])) {
      *error = "republished item not in the index";
      return;
    }
  } else if (handle < 0 || handle > kMaxIndexHandle) {
    *error = "index handle out of range";
    return;
  }
  const RecordEntry* record = record_id >= 0 ? LookupRecord(record_id) : nullptr;
  if (record_id >= 0 && record == nullptr) {
    *error = "unknown record";
    return;
  }
  if (data_length < 2 || offset + key_length + (record == nullptr ? data_length : 0) > bytes.Length() ||
      (record != nullptr && record->record->length() != data_length)) {
    *error = "published item out of range";
    return;
  }
  PublishedItem item{};
  item.key = current != nullptr ? current->key() : bytes.Data() + offset;
  item.key_length = current != nullptr ? current->key_length : static_cast<uint32_t>(key_length);
  item.data = record == nullptr ? bytes.Data() + offset + key_length : nullptr;
  item.data_length = static_cast<uint32_t>(data_length);
  item.record = record != nullptr ? record->record : nullptr;
  item.record_serial = record != nullptr ? record->serial : 0;
  item.flags = static_cast<uint32_t>(args[4]);
  item.exptime = args[5];
  item.cas = static_cast<uint64_t>(static_cast<uint32_t>(args[6])) |
             static_cast<uint64_t>(static_cast<uint32_t>(args[7])) << 32;
  item.serial = static_cast<uint32_t>(args[8]);
  item.lru_class = static_cast<uint8_t>(args[9]);
  item.traits = static_cast<uint8_t>(args[10] & 0xff);
  item.fetch_state = static_cast<uint8_t>((args[10] >> 8) & 0xff);
  item.handle = handle;
  index.Publish(item);
}

/* setClock(manual, originNs, start): the store's clock (read_index.h SetClock). */
Napi::Value EngineWrap::SetClock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_INT32(info, 0, manual);
  REQUIRE_ARGUMENT_NUMBER(info, 1, origin_ns);
  REQUIRE_ARGUMENT_INT32(info, 2, start);
  if (!Alive(env)) return env.Undefined();
  engine_->index().SetClock(manual, static_cast<int64_t>(origin_ns), start);
  return env.Undefined();
}

/* setServing(on): whether the I/O thread answers hits from the read index. */
Napi::Value EngineWrap::SetServing(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBoolean()) THROW_AND_RETURN(env, TypeError, "Expected a boolean");
  if (!Alive(env)) return env.Undefined();
  engine_->index().SetServing(info[0].As<Napi::Boolean>().Value());
  return env.Undefined();
}

/*
 * takeServed() -> Float64Array [cmd_get, get_hits, 0, bytes_written, requests, hits by slab
 * class...]: what the I/O thread counted since the last call (bytes read go with deliveries).
 */
Napi::Value EngineWrap::TakeServed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float64Array result = Napi::Float64Array::New(env, 5 + kIndexClasses);
  if (engine_ == nullptr) return result;
  ServedCounters& c = engine_->index().counters();
  double* out = result.Data();
  auto take = [](std::atomic<uint64_t>& counter) {
    return static_cast<double>(counter.exchange(0, std::memory_order_relaxed));
  };
  out[0] = take(c.cmd_get);
  out[1] = take(c.get_hits);
  out[2] = 0;
  out[3] = take(c.bytes_written);
  out[4] = take(c.requests);
  for (uint32_t k = 0; k < kIndexClasses; k++) out[5 + k] = take(c.class_hits[k]);
  return result;
}

/* unsend(recordId, slots, count) -> messages dropped before any of their bytes were written */
Napi::Value EngineWrap::Unsend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_INT32(info, 0, id);
  REQUIRE_ARGUMENT_INT32ARRAY(info, 1, slots);
  REQUIRE_ARGUMENT_INT32(info, 2, count);
  if (!Alive(env)) return env.Undefined();
  const RecordEntry* entry = LookupRecord(id);
  if (entry == nullptr) THROW_AND_RETURN(env, RangeError, "unknown record");
  if (count < 0 || static_cast<size_t>(count) > slots.ElementLength())
    THROW_AND_RETURN(env, RangeError, "count out of range");
  Command command{CommandKind::Unsend};
  command.record_serial = entry->serial;
  command.slots.assign(slots.Data(), slots.Data() + count);
  return Napi::Number::New(env, static_cast<double>(engine_->PushAndWait(std::move(command))));
}

/* ref()/unref(): whether pending deliveries keep Node's event loop alive. */
Napi::Value EngineWrap::Ref(const Napi::CallbackInfo& info) {
  if (engine_ != nullptr) delivery_fn_.Ref(info.Env());
  return info.Env().Undefined();
}

Napi::Value EngineWrap::Unref(const Napi::CallbackInfo& info) {
  if (engine_ != nullptr) delivery_fn_.Unref(info.Env());
  return info.Env().Undefined();
}

Napi::Value EngineWrap::RecordStatsValue(const Napi::CallbackInfo& info) {
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
Napi::Value EngineWrap::Dispose(const Napi::CallbackInfo& info) {
  Close();
  return info.Env().Undefined();
}

void DeliverToJs(Napi::Env env, Napi::Function callback, Bridge* bridge, void* /* data */) {
  if (env == nullptr || bridge == nullptr || bridge->wrap == nullptr) return;
  bridge->wrap->Deliver(env, callback);
}

}  // namespace recordcache
