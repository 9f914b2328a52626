/*
 * NativeEngine, the class JS constructs (server/records/native.ts drives it): the engine
 * and its I/O thread, the record table (ids JS holds), and the thread-safe function through
 * which the I/O thread announces deliveries. Everything here runs on the JS thread.
 *
 * engine_binding.cc: construction, deliveries, submit, unsend, stats, dispose.
 * record_binding.cc: initRecord, readRecord, and the messages submit builds from records.
 * listen_binding.cc: listening sockets.
 * http_binding.cc: the HTTP listener's settings and counters.
 */
#ifndef RECORDCACHE_ENGINE_BINDING_H
#define RECORDCACHE_ENGINE_BINDING_H

#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine.h"

namespace recordcache {

/* Operation words of submit(), written by native.ts (keep in sync with SubmitOp there). */
enum SubmitOp : int32_t {
  kOpSend = 1,      // priority, segment count, group size, (record id | -1, offset, length)..., slot...
  kOpComplete = 2,  // slot, handled
  kOpEnd = 3,       // slot
  kOpDestroy = 4,   // slot
  kOpAckClose = 5,  // slot
  kOpDelete = 6,    // record id
  kOpDrain = 7,
  kOpDestroyAll = 8,
  kOpAuthenticated = 9,  // slot
  /* The read index (read_index.h), changed before the replies after it in the same submission. */
  kOpPublish = 10,     // record id | -1, bytes offset, key length, data length, flags, exptime, cas low, cas
                       // high, serial, hit class, traits | fetch state << 8, handle, previous serial (key,
                       // then data unless a record; key length 0: the key of the handle's entry, which
                       // must carry the previous serial)
  kOpUnpublish = 11,   // bytes offset, key length
  kOpClearIndex = 12,  //
  kOpFlushDue = 13,    // relative second from which nothing is answered natively, 0 none
};

struct RecordEntry {
  Record* record;
  uint64_t serial;
};

class EngineWrap;

/* What the thread-safe function calls into; outlives the wrap until the function is finalized. */
struct Bridge {
  EngineWrap* wrap = nullptr;
};

void DeliverToJs(Napi::Env env, Napi::Function callback, Bridge* bridge, void* data);
using DeliveryFunction = Napi::TypedThreadSafeFunction<Bridge, void, DeliverToJs>;

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  /* new NativeEngine(options, onDelivery) */
  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

  /* Runs on the JS thread when the I/O thread has delivered something. */
  void Deliver(Napi::Env env, Napi::Function callback);
  void FindStoredKeys(const Delivery& d, int32_t* hints);

 private:
  // engine_binding.cc
  void Close();
  bool Alive(Napi::Env env);
  Napi::Value Submit(const Napi::CallbackInfo& info);
  Napi::Value Unsend(const Napi::CallbackInfo& info);
  Napi::Value Ref(const Napi::CallbackInfo& info);
  Napi::Value Unref(const Napi::CallbackInfo& info);
  Napi::Value RecordStatsValue(const Napi::CallbackInfo& info);
  Napi::Value SetClock(const Napi::CallbackInfo& info);
  Napi::Value SetServing(const Napi::CallbackInfo& info);
  Napi::Value TakeServed(const Napi::CallbackInfo& info);
  void ApplyIndexOp(int32_t op, const int32_t* args, const Napi::Buffer<uint8_t>& bytes, const char** error);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  // record_binding.cc
  Napi::Value InitRecord(const Napi::CallbackInfo& info);
  Napi::Value ReadRecord(const Napi::CallbackInfo& info);
  const RecordEntry* LookupRecord(int32_t id) const;
  MessageBody* BuildMessage(const int32_t* segs, int32_t count, const Napi::Buffer<uint8_t>& bytes, const char** error);
  // listen_binding.cc
  Napi::Value ListenTcp(const Napi::CallbackInfo& info);
  Napi::Value ListenUnix(const Napi::CallbackInfo& info);
  void AddListener(int fd, bool is_unix, std::string label, std::shared_ptr<HttpSettings> http = nullptr);
  Napi::Value StopListening(const Napi::CallbackInfo& info);
  Napi::Value Adopt(const Napi::CallbackInfo& info);
  // http_binding.cc
  std::shared_ptr<HttpSettings> HttpSettingsFrom(Napi::Object options);
  Napi::Value TakeHttpServed(const Napi::CallbackInfo& info);

  std::unique_ptr<Engine> engine_;
  DeliveryFunction delivery_fn_;
  Bridge* bridge_ = nullptr;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
  Delivery delivery_;
  /*
   * Large batches are lent to the handler as Buffers over the connection's input and
   * detached once it returns, instead of copied into fresh memory V8 frees at its next
   * collection: the server copies what it keeps (items copy or become records), so nothing
   * reads them later. Off for the records library, whose messages are the application's.
   */
  bool release_deliveries_ = false;
  /* The storage requests of the delivery FindStoredKeys is looking at (key_hints.cc). */
  struct StoredKeyRef {
    const uint8_t* key;
    uint32_t key_length;
    uint32_t request;
    uint64_t hash;
  };
  std::vector<StoredKeyRef> stored_keys_;
  std::vector<RecordEntry> records_;
  std::vector<int32_t> free_record_ids_;
  uint64_t memfd_budget_ = 1024;
  /* The HTTP listeners' settings and counters (one for every -l address); null without them. */
  std::shared_ptr<HttpSettings> http_settings_;
};

}  // namespace recordcache

#endif
