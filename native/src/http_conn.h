/*
 * The HTTP/1.1 listener on the native engine (-o http_port): its settings, counters, and
 * what a connection accepted on it keeps beside its Conn.
 *
 * Requests are parsed with llhttp (generated from its npm package at build time, see
 * tools/llhttp-generate.js; http_parse.cc). GET and HEAD hits on the read index are
 * answered by the I/O thread (http_serve.cc) byte for byte as server/http/answer.ts and
 * Node's ServerResponse answer them; every other request goes to JS, in order, as llhttp
 * parsed it (HttpRequest, rendered by AppendForJs), and JS answers it (server/http/native-front.ts).
 */
#ifndef RECORDCACHE_HTTP_CONN_H
#define RECORDCACHE_HTTP_CONN_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace recordcache {

/* What the served HTTP hits count, taken by JS into the listener's counters (HttpCounters). */
struct HttpServedCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> hits{0};
  std::atomic<uint64_t> not_modified{0};
  std::atomic<uint64_t> partial{0};
  std::atomic<uint64_t> refused{0};
};

/* The listener's settings (server/http/listener.ts has the same), shared by its connections. */
struct HttpSettings {
  /* -o http_content_type */
  std::string content_type = "application/octet-stream";
  /* -o http_gzip_flag: 0 never */
  uint32_t gzip_flag = 0;
  /* Without -C, replies carry the item's CAS as ETag. */
  bool cas_enabled = true;
  /* "Keep-Alive: timeout=N", and how long an idle keep-alive connection is kept. */
  uint32_t keep_alive_seconds = 60;
  /* How long a request's head may take to arrive before 408 and close. */
  uint32_t head_timeout_ms = 10000;
  /* -I: a body that would make a larger item is not read (413, then close). */
  uint64_t item_size_max = 1024 * 1024;
  /* What llhttp may be given of one request's head (listener.ts HEAD_LIMIT). */
  uint32_t head_limit = 16 * 1024;
  HttpServedCounters counters;
};

/* A chunked body over -I being read and dropped (http_parse.cc). */
struct HttpBodyDiscard;

/* What an HTTP connection keeps beside its Conn. */
struct HttpConn {
  HttpConn();
  ~HttpConn();

  std::shared_ptr<HttpSettings> settings;
  /* The batch in flight to JS: its requests as llhttp parsed them (AppendForJs). */
  std::vector<uint8_t> parsed;
  /* Since when the request at in_head has been arriving (0: none is). */
  int64_t head_since_ms = 0;
  /* The request at this input position was sent "100 Continue" (+1; 0 none). */
  size_t continued_at = 0;
  /* The rest of a chunked body refused as too large, read and dropped; null when none is. */
  std::unique_ptr<HttpBodyDiscard> discard;
};

}  // namespace recordcache

#endif
