/*
 * Where one whole memcached request ends, for the I/O thread: the records module's
 * framer (kmod/records_parse.c), linked into the addon as it is, over a connection's
 * contiguous input buffer.
 *
 * One C framer decides for the native and kmod backends what the TypeScript framers
 * decide for the js backend (test/framers.test.ts holds them to the same boundaries).
 */
#ifndef RECORDCACHE_FRAMER_H
#define RECORDCACHE_FRAMER_H

#include <cstddef>
#include <cstdint>

extern "C" {
#include "records_parse.h"
}

namespace recordcache {

/* The settings framing depends on, with the defaults of memcached's command line. */
inline rp_limits DefaultFramingLimits() {
  rp_limits limits{};
  limits.item_size_max = 1024 * 1024;
  limits.slab_chunk_max = 512 * 1024;
  limits.max_line = RP_GET_LINE_MAX;
  limits.cas = true;
  limits.sasl = false;
  limits.message_max = 1 << 20;
  limits.prefix_offset = 0;
  limits.prefix_width = 4;
  limits.prefix_le = false;
  return limits;
}

/*
 * The request at buf[start, end) of a connection framed as `proto` (RP_PROTO_TEXT,
 * RP_PROTO_BINARY or RP_PROTO_AUTH): whole, needing more bytes, or closing.
 */
inline void FrameRequest(const rp_limits& limits, uint8_t proto, const uint8_t* buf, size_t start, size_t end,
                         rp_extent* out) {
  rp_input in{};
  in.data = buf + start;
  // No request is near 4 GiB; more bytes than that cannot change the decision.
  in.avail = static_cast<uint32_t>(end - start > UINT32_MAX ? UINT32_MAX : end - start);
  rp_measure(&limits, proto, &in, out);
}

}  // namespace recordcache

#endif
