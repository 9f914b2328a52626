/*
 * Native framing of text, meta and binary requests. Every rule here is a line-for-line
 * port of the TypeScript framers, whose comments explain what memcached does and why;
 * when one of them changes, this file changes with it (the records contract test and the
 * conformance suite run both against the same clients).
 */
#include "framing.h"

#include <cstring>

namespace recordcache {

namespace {

constexpr size_t kLineNoNewlineLimit = 2048;  // text.ts LINE_NO_NEWLINE_LIMIT
constexpr size_t kAuthReadBuffer = 16384;      // auth.ts AUTH_READ_BUFFER
constexpr size_t kGetLineLimit = 16 * 1024 * 1024;  // text.ts GET_LINE_LIMIT
constexpr int kMaxTokens = 24;  // tokens.ts MAX_TOKENS
constexpr uint64_t kKeyMaxLength = 250;
constexpr int kMetaMaxTokens = 20;  // meta.ts META_MAX_TOKENS
constexpr int64_t kIntMax = 0x7fffffff;
constexpr size_t kBinaryHeaderLength = 24;
constexpr size_t kBinaryReadBufferSize = 16384;  // binary.ts READ_BUFFER_SIZE
constexpr uint32_t kMaxSaslMechLength = 32;

/* tokens.ts tokenize(): memcached's tokenize_command over [start, end). */
struct Tokens {
  size_t start[kMaxTokens];
  size_t end[kMaxTokens];
};

int Tokenize(const uint8_t* buf, size_t start, size_t end, Tokens* t) {
  int n = 0;
  size_t s = start;
  size_t e = start;
  for (; e < end; e++) {
    if (buf[e] == ' ') {
      if (s != e) {
        t->start[n] = s;
        t->end[n] = e;
        n++;
        if (n == kMaxTokens - 1) {
          e++;
          s = e;
          break;
        }
      }
      s = e + 1;
    }
  }
  if (s != e) {
    t->start[n] = s;
    t->end[n] = e;
    n++;
  }
  return n + 1;
}

bool TokenIs(const Tokens& t, int i, const uint8_t* buf, const char* text) {
  size_t len = strlen(text);
  if (t.end[i] - t.start[i] != len) return false;
  return memcmp(buf + t.start[i], text, len) == 0;
}

size_t TokenLength(const Tokens& t, int i) { return t.end[i] - t.start[i]; }

/* tokens.ts commandEnd(): before CR LF, and before any NUL byte. */
size_t CommandEnd(const uint8_t* buf, size_t start, size_t newline) {
  size_t end = newline - start > 1 && buf[newline - 1] == '\r' ? newline - 1 : newline;
  for (size_t i = start; i < end; i++) {
    if (buf[i] == 0) return i;
  }
  return end;
}

// ----------------------------------------------------------------------------------------
// numbers.ts: util.c safe_strto* with C strtol semantics.

bool IsCSpace(uint8_t b) { return b == 0x20 || (b >= 0x09 && b <= 0x0d); }

/* A short run of plain digits, or -1. */
int64_t PlainDigits(const uint8_t* buf, size_t start, size_t end) {
  size_t len = end - start;
  if (len == 0 || len > 15) return -1;
  int64_t value = 0;
  for (size_t i = start; i < end; i++) {
    int digit = static_cast<int>(buf[i]) - '0';
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

struct Scanned {
  bool negative;
  /* The magnitude modulo 2^64, and whether it reached 2^64 (strtoull's ERANGE). */
  uint64_t magnitude;
  bool overflow;
  bool clean;
  bool has_minus;
};

bool Scan(const uint8_t* buf, size_t start, size_t end, Scanned* s) {
  size_t i = start;
  while (i < end && IsCSpace(buf[i])) i++;
  s->negative = false;
  if (i < end && (buf[i] == '+' || buf[i] == '-')) {
    s->negative = buf[i] == '-';
    i++;
  }
  size_t digits_start = i;
  s->magnitude = 0;
  s->overflow = false;
  while (i < end && buf[i] >= '0' && buf[i] <= '9') {
    uint64_t digit = buf[i] - '0';
    if (s->magnitude > (UINT64_MAX - digit) / 10) s->overflow = true;
    s->magnitude = s->magnitude * 10 + digit;
    i++;
  }
  if (i == digits_start) return false;
  s->clean = i == end || buf[i] == 0 || IsCSpace(buf[i]);
  s->has_minus = false;
  for (size_t j = start; j < end && buf[j] != 0; j++) {
    if (buf[j] == '-') {
      s->has_minus = true;
      break;
    }
  }
  return true;
}

/* parseU64: strtoull then safe_strtoull's checks. */
bool ParseU64(const uint8_t* buf, size_t start, size_t end, uint64_t* out) {
  int64_t fast = PlainDigits(buf, start, end);
  if (fast >= 0) {
    *out = static_cast<uint64_t>(fast);
    return true;
  }
  Scanned s;
  if (!Scan(buf, start, end, &s) || !s.clean || s.overflow) return false;
  uint64_t value = s.negative ? (0 - s.magnitude) : s.magnitude;
  if (value >= (uint64_t{1} << 63) && s.has_minus) return false;
  *out = value;
  return true;
}

/* parseU32: safe_strtoul, truncated to 32 bits. */
bool ParseU32(const uint8_t* buf, size_t start, size_t end, uint32_t* out) {
  uint64_t v;
  if (!ParseU64(buf, start, end, &v)) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

/* parseI32: safe_strtol (64-bit), truncated to a signed 32-bit int. */
bool ParseI32(const uint8_t* buf, size_t start, size_t end, int32_t* out) {
  int64_t fast = PlainDigits(buf, start, end);
  if (fast >= 0) {
    *out = static_cast<int32_t>(static_cast<uint32_t>(fast));
    return true;
  }
  Scanned s;
  if (!Scan(buf, start, end, &s) || !s.clean || s.overflow) return false;
  const uint64_t two63 = uint64_t{1} << 63;
  if (!s.negative && s.magnitude >= two63) return false;
  if (s.negative && s.magnitude > two63) return false;
  uint64_t bits = s.negative ? (0 - s.magnitude) : s.magnitude;
  *out = static_cast<int32_t>(static_cast<uint32_t>(bits));
  return true;
}

/* store/item.ts itemTotal: the bytes memcached charges an item. */
uint64_t ItemTotal(uint64_t nkey, uint32_t flags, uint64_t nbytes_with_crlf, bool cas_enabled) {
  return 48 + nkey + 1 + (flags == 0 ? 0 : 4) + nbytes_with_crlf + (cas_enabled ? 8 : 0);
}

// ----------------------------------------------------------------------------------------
// Text.

enum StoreMode { kNotStorage = 0, kSet, kAdd, kReplace, kAppend, kPrepend, kCas };

StoreMode StorageMode(const Tokens& t, const uint8_t* buf) {
  switch (TokenLength(t, 0)) {
    case 3:
      if (TokenIs(t, 0, buf, "set")) return kSet;
      if (TokenIs(t, 0, buf, "add")) return kAdd;
      if (TokenIs(t, 0, buf, "cas")) return kCas;
      return kNotStorage;
    case 6:
      return TokenIs(t, 0, buf, "append") ? kAppend : kNotStorage;
    case 7:
      if (TokenIs(t, 0, buf, "replace")) return kReplace;
      if (TokenIs(t, 0, buf, "prepend")) return kPrepend;
      return kNotStorage;
    default:
      return kNotStorage;
  }
}

struct StorageHeader {
  bool error;
  uint64_t data_length;
  bool too_large;
};

/* text.ts readStorageHeader, keeping only what framing needs. */
StorageHeader ReadStorageHeader(const Tokens& t, const uint8_t* buf, StoreMode mode, int ntokens,
                                const FramingLimits& limits) {
  StorageHeader h{true, 0, false};
  bool with_cas = mode == kCas;
  if (with_cas ? ntokens != 7 && ntokens != 8 : ntokens != 6 && ntokens != 7) return h;
  uint64_t nkey = TokenLength(t, 1);
  if (nkey > kKeyMaxLength) return h;
  uint32_t flags;
  int32_t exptime;
  int32_t vlen;
  if (!ParseU32(buf, t.start[2], t.end[2], &flags)) return h;
  if (!ParseI32(buf, t.start[3], t.end[3], &exptime)) return h;
  if (!ParseI32(buf, t.start[4], t.end[4], &vlen)) return h;
  if (with_cas) {
    uint64_t cas;
    if (!ParseU64(buf, t.start[5], t.end[5], &cas)) return h;
  }
  if (vlen < 0 || vlen > kIntMax - 2) return h;
  h.error = false;
  h.data_length = static_cast<uint64_t>(vlen) + 2;
  h.too_large = ItemTotal(nkey, flags, h.data_length, limits.cas_enabled) > limits.item_size_max;
  return h;
}

/* meta.ts metaSetDataLength: the data block an `ms` line announces, or -1. */
int64_t MetaSetDataLength(const Tokens& t, const uint8_t* buf, int ntokens) {
  if (ntokens < 4 || TokenLength(t, 1) > kKeyMaxLength || ntokens > kMetaMaxTokens) return -1;
  int32_t vlen;
  if (!ParseI32(buf, t.start[2], t.end[2], &vlen)) return -1;
  if (vlen < 0 || vlen > kIntMax - 2) return -1;
  return static_cast<int64_t>(vlen) + 2;
}

// ----------------------------------------------------------------------------------------
// Binary: binary.ts classify(), reduced to the lengths it decides.

uint16_t ReadU16BE(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
uint32_t ReadU32BE(const uint8_t* p) {
  return (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
         (static_cast<uint32_t>(p[2]) << 8) | static_cast<uint32_t>(p[3]);
}

/* memcached keeps these lengths in C ints: a uint32 above INT_MAX becomes negative. */
int32_t ToInt(int64_t n) { return static_cast<int32_t>(static_cast<uint32_t>(n)); }
uint64_t SwallowOf(int64_t n) {
  int32_t v = ToInt(n);
  return v > 0 ? static_cast<uint64_t>(v) : 0;
}

struct Extent {
  uint64_t value_length;
  uint64_t swallow;
};

enum Opcode : uint8_t {
  kGet = 0x00, kSetOp = 0x01, kAddOp = 0x02, kReplaceOp = 0x03, kDelete = 0x04, kIncrement = 0x05,
  kDecrement = 0x06, kQuit = 0x07, kFlush = 0x08, kGetQ = 0x09, kNoop = 0x0a, kVersion = 0x0b,
  kGetK = 0x0c, kGetKQ = 0x0d, kAppendOp = 0x0e, kPrependOp = 0x0f, kStat = 0x10, kSetQ = 0x11,
  kAddQ = 0x12, kReplaceQ = 0x13, kDeleteQ = 0x14, kIncrementQ = 0x15, kDecrementQ = 0x16,
  kQuitQ = 0x17, kFlushQ = 0x18, kAppendQ = 0x19, kPrependQ = 0x1a, kTouch = 0x1c, kGat = 0x1d,
  kGatQ = 0x1e, kSaslListMechs = 0x20, kSaslAuth = 0x21, kSaslStep = 0x22, kGatK = 0x23, kGatKQ = 0x24,
};

Extent StoreExtent(uint64_t nkey, uint32_t flags, int32_t vlen, const FramingLimits& limits) {
  int32_t nbytes = ToInt(static_cast<int64_t>(vlen) + 2);
  if (nbytes < 2 || ItemTotal(nkey, flags, static_cast<uint64_t>(nbytes), limits.cas_enabled) > limits.item_size_max) {
    return Extent{0, vlen > 0 ? static_cast<uint64_t>(vlen) : 0};
  }
  return Extent{static_cast<uint64_t>(vlen), 0};
}

Extent SaslExtent(uint64_t nkey, uint32_t bodylen, const FramingLimits& limits) {
  if (!limits.sasl) return Extent{0, SwallowOf(static_cast<int64_t>(bodylen) - static_cast<int64_t>(nkey))};
  int32_t vlen = ToInt(static_cast<int64_t>(bodylen) - static_cast<int64_t>(nkey));
  uint64_t swallow = vlen > 0 ? static_cast<uint64_t>(vlen) : 0;
  if (nkey > kMaxSaslMechLength) return Extent{0, swallow};
  int32_t nbytes = ToInt(static_cast<int64_t>(vlen) + 2);
  uint64_t total = ItemTotal(nkey, 0, static_cast<uint64_t>(nbytes < 0 ? 0 : nbytes), limits.cas_enabled);
  if (nbytes < 2 || total > limits.item_size_max || total > limits.slab_chunk_max) return Extent{0, swallow};
  return Extent{static_cast<uint64_t>(vlen), 0};
}

Extent Classify(const uint8_t* h, const FramingLimits& limits) {
  const Extent none{0, 0};
  const uint8_t opcode = h[1];
  const uint32_t keylen = ReadU16BE(h + 2);
  const uint32_t extlen = h[4];
  const uint32_t bodylen = ReadU32BE(h + 8);
  if (keylen > bodylen || static_cast<uint64_t>(keylen) + extlen > bodylen) return none;
  if (keylen > kKeyMaxLength) return none;
  switch (opcode) {
    case kVersion:
    case kFlush:
    case kFlushQ:
    case kNoop:
    case kGet:
    case kGetQ:
    case kGetK:
    case kGetKQ:
    case kDelete:
    case kDeleteQ:
    case kIncrement:
    case kIncrementQ:
    case kDecrement:
    case kDecrementQ:
    case kStat:
    case kQuit:
    case kQuitQ:
    case kSaslListMechs:
    case kTouch:
    case kGat:
    case kGatQ:
    case kGatK:
    case kGatKQ:
      // Neither reads a value nor swallows one, whether its shape is valid or not.
      return none;
    case kSetOp:
    case kSetQ:
    case kAddOp:
    case kAddQ:
    case kReplaceOp:
    case kReplaceQ:
      if (extlen == 8 && keylen != 0 && bodylen >= keylen + 8) {
        return StoreExtent(keylen, ReadU32BE(h + kBinaryHeaderLength),
                           ToInt(static_cast<int64_t>(bodylen) - keylen - extlen), limits);
      }
      return none;
    case kAppendOp:
    case kAppendQ:
    case kPrependOp:
    case kPrependQ:
      if (keylen > 0 && extlen == 0) {
        return StoreExtent(keylen, 0, ToInt(static_cast<int64_t>(bodylen) - keylen), limits);
      }
      return none;
    case kSaslAuth:
    case kSaslStep:
      if (extlen == 0 && keylen != 0) return SaslExtent(keylen, bodylen, limits);
      return none;
    default:
      // An unknown opcode: memcached swallows the whole body length.
      return Extent{0, SwallowOf(bodylen)};
  }
}

}  // namespace

void FrameText(const uint8_t* buf, size_t start, size_t end, const FramingLimits& limits, Frame* out) {
  out->swallow = 0;
  out->needed = 0;
  out->length = 0;
  const void* found = memchr(buf + start, '\n', end - start);
  if (found == nullptr) {
    out->status = FrameStatus::NeedMore;
    size_t available = end - start;
    if (available > kLineNoNewlineLimit) {
      size_t p = start;
      while (p < end && buf[p] == ' ') p++;
      bool is_get = p - start <= 100 &&
                    ((p + 3 < end && buf[p] == 'g' && buf[p + 1] == 'e' && buf[p + 2] == 't' && buf[p + 3] == ' ') ||
                     (p + 4 < end && buf[p] == 'g' && buf[p + 1] == 'e' && buf[p + 2] == 't' && buf[p + 3] == 's' &&
                      buf[p + 4] == ' '));
      if (!is_get || available > kGetLineLimit) out->status = FrameStatus::Close;
    }
    return;
  }
  const size_t newline = static_cast<const uint8_t*>(found) - buf;
  const size_t line_length = newline + 1 - start;
  out->status = FrameStatus::Whole;
  out->length = line_length;

  // Only storage commands carry a data block; look for one cheaply before tokenizing.
  size_t p = start;
  while (p < newline && buf[p] == ' ') p++;
  const uint8_t first = buf[p];
  if (first != 's' && first != 'a' && first != 'r' && first != 'p' && first != 'c' && first != 'm') return;

  Tokens t;
  const size_t cmd_end = CommandEnd(buf, start, newline);
  const int ntokens = Tokenize(buf, start, cmd_end, &t);
  if (ntokens < 2) return;
  uint64_t data_length;
  if (first == 'm') {
    if (!TokenIs(t, 0, buf, "ms")) return;
    int64_t length = MetaSetDataLength(t, buf, ntokens);
    if (length == -1) return;
    data_length = static_cast<uint64_t>(length);
    if (data_length > limits.item_size_max) {
      out->swallow = data_length;
      return;
    }
  } else {
    StoreMode mode = StorageMode(t, buf);
    if (mode == kNotStorage) return;
    StorageHeader h = ReadStorageHeader(t, buf, mode, ntokens, limits);
    if (h.error) return;
    if (h.too_large) {
      out->swallow = h.data_length;
      return;
    }
    data_length = h.data_length;
  }
  const uint64_t total = line_length + data_length;
  if (end - start < total) {
    out->status = FrameStatus::NeedMore;
    out->needed = total;
    return;
  }
  out->length = total;
}

void FrameBinary(const uint8_t* buf, size_t start, size_t end, const FramingLimits& limits, Frame* out) {
  out->swallow = 0;
  out->needed = 0;
  out->length = 0;
  const size_t available = end - start;
  if (available < kBinaryHeaderLength) {
    out->status = FrameStatus::NeedMore;
    out->needed = kBinaryHeaderLength;
    return;
  }
  out->status = FrameStatus::Whole;
  const uint8_t* h = buf + start;
  if (h[0] != kBinaryRequestMagic) {
    out->length = kBinaryHeaderLength;
    return;
  }
  const size_t head = kBinaryHeaderLength + h[4] + ReadU16BE(h + 2);
  if (available < head) {
    out->status = FrameStatus::NeedMore;
    if (head <= kBinaryReadBufferSize) {
      out->needed = head;
    } else if (available > kBinaryReadBufferSize) {
      out->status = FrameStatus::Close;
    } else {
      out->needed = kBinaryReadBufferSize + 1;
    }
    return;
  }
  const Extent e = Classify(h, limits);
  const uint64_t total = head + e.value_length;
  if (available < total) {
    out->status = FrameStatus::NeedMore;
    out->needed = total;
    return;
  }
  out->length = total;
  out->swallow = e.swallow;
}

/*
 * memcached's safe_strtoul over one token: white space and a sign first, digits, then the
 * token's end or white space; the value truncated to 32 bits. -1 when it is not a number.
 */
static int64_t AuthStrtoul(const uint8_t* p, const uint8_t* end) {
  auto is_space = [](uint8_t b) { return b == ' ' || (b >= '\t' && b <= '\r'); };
  while (p < end && is_space(*p)) p++;
  bool negative = false;
  if (p < end && (*p == '+' || *p == '-')) negative = *p++ == '-';
  const uint8_t* digits = p;
  uint64_t value = 0;
  bool overflow = false;
  while (p < end && *p >= '0' && *p <= '9') {
    const uint64_t digit = *p++ - '0';
    if (value > (UINT64_MAX - digit) / 10) overflow = true;
    value = value * 10 + digit;
  }
  if (p == digits || overflow) return -1;
  if (p < end && !is_space(*p)) return -1;
  if (negative && value != 0) return -1;
  return static_cast<int64_t>(value & 0xffffffffu);
}

void FrameAuth(const uint8_t* buf, size_t start, size_t end, Frame* out) {
  out->status = FrameStatus::NeedMore;
  out->length = 0;
  out->swallow = 0;
  out->needed = 0;
  if (end - start < 2) return;
  const uint8_t* line = buf + start;
  const uint8_t* newline = static_cast<const uint8_t*>(memchr(line, '\n', end - start));
  if (newline == nullptr) {
    if (end - start > kLineNoNewlineLimit) out->status = FrameStatus::Close;
    return;
  }
  const size_t line_length = static_cast<size_t>(newline - line) + 1;
  // "set <key> <flags> <exptime> <bytes>": the fifth space-separated token is the length.
  int tokens = 0;
  int64_t size = -1;
  bool is_set = false;
  for (const uint8_t* p = line; p < newline && tokens < 5;) {
    while (p < newline && *p == ' ') p++;
    if (p == newline) break;
    const uint8_t* s = p;
    while (p < newline && *p != ' ') p++;
    if (tokens == 0) is_set = p - s == 3 && memcmp(s, "set", 3) == 0;
    if (!is_set) break;
    if (tokens == 4) size = AuthStrtoul(s, p);
    tokens++;
  }
  if (!is_set || tokens < 5 || size < 0) {
    out->status = FrameStatus::Whole;
    out->length = line_length;
    return;
  }
  const uint64_t data_length = static_cast<uint64_t>(size) + 2;
  const size_t available = end - start - line_length;
  if (data_length > kAuthReadBuffer) {
    if (available > kAuthReadBuffer) out->status = FrameStatus::Close;
    else out->needed = line_length + kAuthReadBuffer + 1;
    return;
  }
  if (available < data_length) {
    out->needed = line_length + data_length;
    return;
  }
  out->status = FrameStatus::Whole;
  out->length = line_length + data_length;
}

}  // namespace recordcache
