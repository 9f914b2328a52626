/*
 * The HTTP listener's settings, as JS gives them to listenTcp (server/http/native-front.ts),
 * and the counters of the requests the I/O threads answered (http_conn.h).
 */
#include <string>

#include "engine_binding.h"

namespace recordcache {

namespace {

uint32_t Uint32Of(Napi::Object options, const char* name, uint32_t fallback) {
  Napi::Value value = options.Get(name);
  return value.IsNumber() ? value.As<Napi::Number>().Uint32Value() : fallback;
}

}  // namespace

/*
 * { contentType, gzipFlag, casEnabled, keepAliveSeconds, headTimeoutMs, itemSizeMax,
 * headLimit }: one settings object for every HTTP listener of the engine, the last given.
 */
std::shared_ptr<HttpSettings> EngineWrap::HttpSettingsFrom(Napi::Object options) {
  auto settings = std::make_shared<HttpSettings>();
  Napi::Value type = options.Get("contentType");
  if (type.IsString()) settings->content_type = type.As<Napi::String>().Utf8Value();
  settings->gzip_flag = Uint32Of(options, "gzipFlag", 0);
  Napi::Value cas = options.Get("casEnabled");
  settings->cas_enabled = !cas.IsBoolean() || cas.As<Napi::Boolean>().Value();
  settings->keep_alive_seconds = Uint32Of(options, "keepAliveSeconds", settings->keep_alive_seconds);
  settings->head_timeout_ms = Uint32Of(options, "headTimeoutMs", settings->head_timeout_ms);
  settings->item_size_max = Uint32Of(options, "itemSizeMax", static_cast<uint32_t>(settings->item_size_max));
  settings->head_limit = Uint32Of(options, "headLimit", settings->head_limit);
  if (http_settings_ == nullptr) {
    http_settings_ = settings;
    return settings;
  }
  // Further listeners share the first one's counters; their settings are the same options.
  return http_settings_;
}

/* takeHttpServed() -> Float64Array [requests, hits, not modified, partial, refused] since the last call. */
Napi::Value EngineWrap::TakeHttpServed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Float64Array result = Napi::Float64Array::New(env, 5);
  if (http_settings_ == nullptr) return result;
  HttpServedCounters& c = http_settings_->counters;
  double* out = result.Data();
  auto take = [](std::atomic<uint64_t>& counter) {
    return static_cast<double>(counter.exchange(0, std::memory_order_relaxed));
  };
  out[0] = take(c.requests);
  out[1] = take(c.hits);
  out[2] = take(c.not_modified);
  out[3] = take(c.partial);
  out[4] = take(c.refused);
  return result;
}

}  // namespace recordcache
