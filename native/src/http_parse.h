/*
 * One HTTP/1.x request parsed by llhttp out of a connection's contiguous input, and its
 * rendering for JS (server/http/native-front.ts reads it).
 */
#ifndef RECORDCACHE_HTTP_PARSE_H
#define RECORDCACHE_HTTP_PARSE_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "http_conn.h"

extern "C" {
#include "llhttp.h"
}

namespace recordcache {

/* bytes [offset, offset + length) of the request. */
struct HttpSpan {
  uint32_t offset = 0;
  uint32_t length = 0;
};

struct HttpHeader {
  HttpSpan name;
  HttpSpan value;
  /* The value came in more than one piece (obs-fold): `value` is its first. */
  bool folded = false;
};

enum class HttpParse : uint8_t {
  /* Not all of it has arrived. */
  kNeed,
  /* Whole: `length` bytes, body included. */
  kWhole,
  /* Its head is whole and its body would be over -I: `length` is the head's; the body is not read. */
  kTooLarge,
  /* Not HTTP, or past a limit: answered with `refusal` and the connection closes. */
  kRefused,
};

struct HttpRequest {
  HttpParse status = HttpParse::kNeed;
  /* kRefused: 400, 414 or 431. */
  uint16_t refusal = 0;
  uint32_t length = 0;
  /* llhttp's method number (HTTP_GET...). */
  uint8_t method = 0;
  uint8_t http_major = 1;
  uint8_t http_minor = 1;
  bool keep_alive = false;
  /* The head is whole (kNeed: the body is still arriving). */
  bool head_complete = false;
  /* Expect: 100-continue */
  bool expects_continue = false;
  /* kTooLarge: 1 the body is to be skipped (`skip` bytes, or up to the close), 2 refused before it was sent (Expect).
   */
  uint8_t too_large = 0;
  uint64_t skip = 0;
  /* kTooLarge of a chunked body: the rest of it is to be read and dropped (StartBodyDiscard). */
  bool discard_chunked = false;
  HttpSpan target;
  std::vector<HttpHeader> headers;
  /* The body: one span, or chunks. */
  std::vector<HttpSpan> body;
};

/* Parses the request at the start of data[0, available) into *out. */
void ParseHttpRequest(const HttpSettings& settings, const uint8_t* data, size_t available, HttpRequest* out);

/*
 * Reading and dropping a request's chunked body: a parser fed the request from its first
 * byte. FeedBodyDiscard returns how many of the bytes were the request's (-1: not HTTP), and
 * sets *done when it has ended.
 */
struct HttpBodyDiscard {
  llhttp_t parser;
};
std::unique_ptr<HttpBodyDiscard> StartBodyDiscard();
int64_t FeedBodyDiscard(HttpBodyDiscard* discard, const uint8_t* data, size_t length, bool* done);

/* The method's name as llhttp spells it ("GET"). */
const char* HttpMethodName(uint8_t method);

/*
 * The request as JS reads it: "<method> <target> <major>.<minor> <keep-alive 0|1> <too_large
 * 0|1|2>\r\n", then "<name>: <value>\r\n" per header as received (of a folded value, its
 * first line; trailing blanks dropped), "\r\n", then the body (chunks joined). A refused
 * request is "!<status>\r\n\r\n".
 */
void AppendForJs(const uint8_t* data, const HttpRequest& request, std::vector<uint8_t>* out);

}  // namespace recordcache

#endif
