/*
 * Where one whole memcached request ends: the native port of frameText
 * (server/protocol/text.ts) and frameBinary (server/protocol/binary.ts).
 *
 * The I/O thread frames requests before JS sees them, so these functions must decide
 * exactly what the TypeScript framers decide: the same request lengths, the same bytes
 * swallowed after an item too large to store, the same lengths waited for and the same
 * lines that close the connection. Pure functions over bytes: no sockets, no allocation.
 */
#ifndef RECORDCACHE_FRAMING_H
#define RECORDCACHE_FRAMING_H

#include <cstddef>
#include <cstdint>

namespace recordcache {

enum class FrameStatus : uint8_t {
  /* A whole request is at [start, start + length). */
  Whole = 1,
  /* More bytes are needed; `needed`, when nonzero, is the whole request's known length. */
  NeedMore,
  /* memcached closes the connection here. */
  Close,
};

struct Frame {
  FrameStatus status;
  uint64_t length;
  /* Bytes after the request to discard as they arrive (a value too large to store). */
  uint64_t swallow;
  uint64_t needed;
};

struct FramingLimits {
  uint32_t item_size_max;
  bool cas_enabled;
  uint32_t slab_chunk_max;
  bool sasl;
};

/* The protocol of a connection, chosen from its first byte as server.ts framerFor does. */
enum class Protocol : uint8_t { Unknown = 0, Text, Binary };

/* -B: auto lets the first byte choose; ascii and binary fix the protocol. */
enum class ProtocolChoice : uint8_t { Auto = 0, Ascii, Binary };

constexpr uint8_t kBinaryRequestMagic = 0x80;

inline Protocol ChooseProtocol(ProtocolChoice choice, uint8_t first_byte) {
  if (choice == ProtocolChoice::Ascii) return Protocol::Text;
  if (choice == ProtocolChoice::Auto && first_byte != kBinaryRequestMagic) return Protocol::Text;
  return Protocol::Binary;
}

void FrameText(const uint8_t* buf, size_t start, size_t end, const FramingLimits& limits, Frame* out);
/* A request of a connection that has not yet authenticated under -Y (protocol/auth.ts frameAuth). */
void FrameAuth(const uint8_t* buf, size_t start, size_t end, Frame* out);
void FrameBinary(const uint8_t* buf, size_t start, size_t end, const FramingLimits& limits, Frame* out);

}  // namespace recordcache

#endif
