/*
 * Appending reply bytes: what the GET hit replies (hit_reply.cc) and the HTTP replies
 * (http_serve.cc) are rendered with.
 */
#ifndef RECORDCACHE_REPLY_BYTES_H
#define RECORDCACHE_REPLY_BYTES_H

#include <cstdint>
#include <cstring>
#include <vector>

namespace recordcache {

inline void Append(std::vector<uint8_t>& out, const void* bytes, size_t length) {
  const uint8_t* p = static_cast<const uint8_t*>(bytes);
  out.insert(out.end(), p, p + length);
}

inline void AppendText(std::vector<uint8_t>& out, const char* text) { Append(out, text, strlen(text)); }

/* Writes value in decimal, without a sign or leading zeros (at most 20 bytes); returns the length. */
inline size_t WriteDecimal(uint8_t* out, uint64_t value) {
  uint8_t digits[20];
  size_t n = 0;
  do {
    digits[n++] = static_cast<uint8_t>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (size_t i = 0; i < n; i++) out[i] = digits[n - 1 - i];
  return n;
}

/* value in decimal, without a sign or leading zeros. */
inline void AppendDecimal(std::vector<uint8_t>& out, uint64_t value) {
  uint8_t digits[20];
  Append(out, digits, WriteDecimal(digits, value));
}

}  // namespace recordcache

#endif
