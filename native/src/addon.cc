/*
 * The addon's module: what it exports (the NativeEngine class of engine_binding.h, the
 * framer for tests, the wire numbers) and the process-wide settings it makes at load.
 */
#include <malloc.h>

#include <string>
#include <vector>

#include "engine_binding.h"
#include "macros.h"

namespace recordcache {

/*
 * frame(buffer, proto, itemSizeMax, casEnabled, slabChunkMax, sasl[, messageMax,
 * prefixOffset, prefixWidth, prefixLittleEndian]) -> [status, length, swallow, needed]: the
 * engine's framer (kmod/records_parse.c rp_measure) on its own, with proto 1 text, 2 binary,
 * 3 authentication, 4 length-prefixed or 5 line, so tests can hold it to the TypeScript
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
  if (proto < RP_PROTO_TEXT || proto > RP_PROTO_LINE) {
    THROW_AND_RETURN(env, TypeError,
                     "Expected argument 1 to be 1 (text), 2 (binary), 3 (authentication), 4 (length) or 5 (line)");
  }
  rp_limits limits = DefaultFramingLimits();
  // Message framings: messageMax, prefixOffset, prefixWidth, prefixLittleEndian follow.
  if (info.Length() >= 10) {
    limits.message_max = info[6].As<Napi::Number>().Uint32Value();
    limits.prefix_offset = info[7].As<Napi::Number>().Uint32Value();
    limits.prefix_width = static_cast<uint8_t>(info[8].As<Napi::Number>().Uint32Value());
    limits.prefix_le = info[9].As<Napi::Number>().Uint32Value() != 0;
  }
  if (proto == RP_PROTO_LENGTH && (limits.prefix_width == 0 || limits.prefix_width > 8 ||
                                   limits.message_max < limits.prefix_offset + limits.prefix_width)) {
    THROW_AND_RETURN(env, RangeError, "Expected a length field of 1, 2, 4 or 8 bytes within messageMax");
  }
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
                         {"authenticated", kOpAuthenticated},
                         {"publish", kOpPublish},
                         {"unpublish", kOpUnpublish},
                         {"clearIndex", kOpClearIndex},
                         {"flushDue", kOpFlushDue}}));
  wire.Set("events", group({{"open", kEventOpen},
                            {"requests", kEventRequests},
                            {"close", kEventClose},
                            {"openHttp", kEventOpenHttp},
                            {"output", kEventOutput}}));
  wire.Set("closeReasons", group({{"local", kCloseLocal},
                                  {"peer", kClosePeer},
                                  {"reset", kCloseReset},
                                  {"queueLimit", kCloseQueueLimit},
                                  {"framing", kCloseFraming}}));
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
