/*
 * NativeEngine's records (engine_binding.h): the record table JS holds ids into, and the
 * messages submit() builds from reply bytes and record slices.
 */
#include <cstring>

#include "engine_binding.h"
#include "kmod.h"
#include "macros.h"

namespace recordcache {

/* initRecord(bytes) -> id: the bytes are copied once, into addon memory. */
Napi::Value EngineWrap::InitRecord(const Napi::CallbackInfo& info) {
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
Napi::Value EngineWrap::ReadRecord(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  REQUIRE_ARGUMENT_INT32(info, 0, id);
  if (!Alive(env)) return env.Undefined();
  const RecordEntry* entry = LookupRecord(id);
  if (entry == nullptr) THROW_AND_RETURN(env, RangeError, "no such record");
  return Napi::Buffer<uint8_t>::Copy(env, entry->record->data(), entry->record->length());
}

const RecordEntry* EngineWrap::LookupRecord(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= records_.size() || records_[id].record == nullptr) return nullptr;
  return &records_[id];
}

/*
 * One reply: reply bytes and short record slices are copied together into its own bytes
 * (one iovec); longer record slices are referenced. Returns null and sets `error` on a bad segment.
 */
MessageBody* EngineWrap::BuildMessage(const int32_t* segs, int32_t count, const Napi::Buffer<uint8_t>& bytes,
                                      const char** error) {
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

}  // namespace recordcache
