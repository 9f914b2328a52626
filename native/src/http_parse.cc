/*
 * HTTP requests parsed with llhttp (http_parse.h). A fresh parser reads each request from
 * its first byte: it pauses once the head is whole (to measure it against the head limit
 * and, for a body over -I, to stop there) and once the message is, so the request's length
 * is where it paused. A request still arriving is parsed again when more of it has.
 */
#include "http_parse.h"

#include <strings.h>

#include <cstring>

extern "C" {
#include "llhttp.h"
}

namespace recordcache {

namespace {

enum class Last : uint8_t { kNone, kField, kValue };

struct ParseState {
  const uint8_t* base;
  HttpRequest* out;
  const HttpSettings* settings;
  Last last = Last::kNone;
  bool too_large = false;
  uint64_t body_bytes = 0;
};

ParseState* StateOf(llhttp_t* parser) { return static_cast<ParseState*>(parser->data); }

HttpSpan SpanOf(const ParseState* state, const char* at, size_t length) {
  return HttpSpan{static_cast<uint32_t>(reinterpret_cast<const uint8_t*>(at) - state->base),
                  static_cast<uint32_t>(length)};
}

int OnUrl(llhttp_t* parser, const char* at, size_t length) {
  ParseState* state = StateOf(parser);
  HttpSpan& target = state->out->target;
  // A target still arriving comes in pieces, one per execute: parsing restarts each time.
  if (target.length == 0) target = SpanOf(state, at, length);
  return 0;
}

int OnHeaderField(llhttp_t* parser, const char* at, size_t length) {
  ParseState* state = StateOf(parser);
  auto& headers = state->out->headers;
  if (state->last == Last::kField && !headers.empty()) {
    // One contiguous buffer: a name comes in one piece; a second one is a new header.
    headers.back().name.length += static_cast<uint32_t>(length);
  } else {
    HttpHeader header;
    header.name = SpanOf(state, at, length);
    header.value = HttpSpan{header.name.offset + header.name.length, 0};
    headers.push_back(header);
  }
  state->last = Last::kField;
  return 0;
}

int OnHeaderValue(llhttp_t* parser, const char* at, size_t length) {
  ParseState* state = StateOf(parser);
  auto& headers = state->out->headers;
  if (headers.empty()) return 0;
  HttpHeader& header = headers.back();
  if (state->last == Last::kValue) {
    header.folded = true;
  } else {
    header.value = SpanOf(state, at, length);
  }
  state->last = Last::kValue;
  return 0;
}

int OnHeadersComplete(llhttp_t* parser) {
  ParseState* state = StateOf(parser);
  HttpRequest* out = state->out;
  out->head_complete = true;
  out->method = parser->method;
  out->http_major = parser->http_major;
  out->http_minor = parser->http_minor;
  out->keep_alive = llhttp_should_keep_alive(parser) != 0 && !parser->upgrade;
  if ((parser->flags & F_CONTENT_LENGTH) && parser->content_length + 2 > state->settings->item_size_max) {
    state->too_large = true;
  }
  // Paused so the head's length is known (error_pos); resumed unless the body is refused.
  return HPE_PAUSED;
}

int OnBody(llhttp_t* parser, const char* at, size_t length) {
  ParseState* state = StateOf(parser);
  state->out->body.push_back(SpanOf(state, at, length));
  state->body_bytes += length;
  if (state->body_bytes + 2 > state->settings->item_size_max) {
    state->too_large = true;
    return HPE_USER;
  }
  return 0;
}

int OnMessageComplete(llhttp_t* parser) { return HPE_PAUSED; }

const llhttp_settings_t* ParserSettings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_url = OnUrl;
    s.on_header_field = OnHeaderField;
    s.on_header_value = OnHeaderValue;
    s.on_headers_complete = OnHeadersComplete;
    s.on_body = OnBody;
    s.on_message_complete = OnMessageComplete;
    return s;
  }();
  return &settings;
}

bool EqualsIgnoringCase(const uint8_t* data, HttpSpan span, const char* text) {
  const size_t length = strlen(text);
  return span.length == length && strncasecmp(reinterpret_cast<const char*>(data + span.offset), text, length) == 0;
}

void Append(std::vector<uint8_t>* out, const void* bytes, size_t length) {
  const uint8_t* p = static_cast<const uint8_t*>(bytes);
  out->insert(out->end(), p, p + length);
}

void AppendText(std::vector<uint8_t>* out, const char* text) { Append(out, text, strlen(text)); }

int DiscardMessageComplete(llhttp_t* parser) { return HPE_PAUSED; }

}  // namespace

HttpConn::HttpConn() = default;
HttpConn::~HttpConn() = default;

std::unique_ptr<HttpBodyDiscard> StartBodyDiscard() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_complete = DiscardMessageComplete;
    return s;
  }();
  auto discard = std::make_unique<HttpBodyDiscard>();
  llhttp_init(&discard->parser, HTTP_REQUEST, &settings);
  return discard;
}

int64_t FeedBodyDiscard(HttpBodyDiscard* discard, const uint8_t* data, size_t length, bool* done) {
  const char* start = reinterpret_cast<const char*>(data);
  const llhttp_errno_t error = llhttp_execute(&discard->parser, start, length);
  *done = error == HPE_PAUSED;
  if (error == HPE_OK) return static_cast<int64_t>(length);
  if (error == HPE_PAUSED) return llhttp_get_error_pos(&discard->parser) - start;
  return -1;
}

const char* HttpMethodName(uint8_t method) {
  switch (method) {
#define RC_HTTP_METHOD_NAME(number, name, text) \
  case number:                                  \
    return #text;
    HTTP_METHOD_MAP(RC_HTTP_METHOD_NAME)
#undef RC_HTTP_METHOD_NAME
  }
  return "";
}

void ParseHttpRequest(const HttpSettings& settings, const uint8_t* data, size_t available, HttpRequest* out) {
  out->status = HttpParse::kNeed;
  out->refusal = 0;
  out->length = 0;
  out->keep_alive = false;
  out->head_complete = false;
  out->expects_continue = false;
  out->too_large = 0;
  out->skip = 0;
  out->discard_chunked = false;
  out->target = HttpSpan{};
  out->headers.clear();
  out->body.clear();
  // Past 4 GiB nothing changes the answer: the head limit and -I are far below it.
  if (available > UINT32_MAX) available = UINT32_MAX;
  ParseState state{data, out, &settings};
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, ParserSettings());
  parser.data = &state;
  const char* start = reinterpret_cast<const char*>(data);
  const char* end = start + available;
  llhttp_errno_t error = llhttp_execute(&parser, start, available);
  uint32_t head_length = 0;
  if (error == HPE_PAUSED && out->head_complete && head_length == 0) {
    head_length = static_cast<uint32_t>(llhttp_get_error_pos(&parser) - start);
    for (const HttpHeader& header : out->headers) {
      if (EqualsIgnoringCase(data, header.name, "expect") && EqualsIgnoringCase(data, header.value, "100-continue")) {
        out->expects_continue = true;
      }
    }
    if (head_length > settings.head_limit) {
      // 414 when the request line alone is past the limit, as Node's parser overflows in it (listener.ts).
      out->status = HttpParse::kRefused;
      out->refusal = out->target.offset + out->target.length > settings.head_limit ? 414 : 431;
      return;
    }
    if (state.too_large) {
      // listener.ts: 413 at once, the body read and dropped; under Expect, 413 and close.
      out->status = HttpParse::kTooLarge;
      out->length = head_length;
      out->too_large = out->expects_continue ? 2 : 1;
      out->skip = parser.content_length;
      if (out->expects_continue) out->keep_alive = false;
      return;
    }
    const char* resume_at = llhttp_get_error_pos(&parser);
    llhttp_resume(&parser);
    error = llhttp_execute(&parser, resume_at, static_cast<size_t>(end - resume_at));
  }
  if (error == HPE_PAUSED || error == HPE_PAUSED_UPGRADE) {
    out->status = HttpParse::kWhole;
    out->length = static_cast<uint32_t>(llhttp_get_error_pos(&parser) - start);
    if (error == HPE_PAUSED_UPGRADE) out->keep_alive = false;
    return;
  }
  if (error == HPE_USER && state.too_large) {
    // Chunks past -I: 413 at once, and the rest of the body is read and dropped (listener.ts).
    out->status = HttpParse::kTooLarge;
    out->length = head_length;
    out->too_large = 1;
    out->discard_chunked = true;
    return;
  }
  if (error != HPE_OK) {
    out->status = HttpParse::kRefused;
    out->refusal = 400;
    return;
  }
  if (!out->head_complete && available > settings.head_limit) {
    out->status = HttpParse::kRefused;
    // Node's parser says 414 when the overflow is in the request line (listener.ts): no header yet.
    out->refusal = out->headers.empty() ? 414 : 431;
  }
}

void AppendForJs(const uint8_t* data, const HttpRequest& request, std::vector<uint8_t>* out) {
  if (request.status == HttpParse::kRefused) {
    char line[16];
    snprintf(line, sizeof(line), "!%u\r\n\r\n", request.refusal);
    AppendText(out, line);
    return;
  }
  char fields[48];
  AppendText(out, HttpMethodName(request.method));
  out->push_back(' ');
  Append(out, data + request.target.offset, request.target.length);
  snprintf(fields, sizeof(fields), " %u.%u %d %d\r\n", request.http_major, request.http_minor,
           request.keep_alive ? 1 : 0, request.too_large);
  AppendText(out, fields);
  for (const HttpHeader& header : request.headers) {
    Append(out, data + header.name.offset, header.name.length);
    AppendText(out, ": ");
    uint32_t value_length = header.value.length;
    const uint8_t* value = data + header.value.offset;
    while (value_length > 0 && (value[value_length - 1] == ' ' || value[value_length - 1] == '\t')) value_length--;
    Append(out, value, value_length);
    AppendText(out, "\r\n");
  }
  AppendText(out, "\r\n");
  if (request.status == HttpParse::kTooLarge) return;
  for (const HttpSpan& chunk : request.body) Append(out, data + chunk.offset, chunk.length);
}

}  // namespace recordcache
