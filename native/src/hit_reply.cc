/*
 * Replies to GET hits rendered from the read index (hit_reply.h).
 *
 * A framed batch is answered here only when every request in it is one of: text `get` or
 * `gets` whose keys all hit; meta `mg` with flags among s t c f k v q O whose key hits; `mn`;
 * binary GET, GETQ, GETK, GETKQ that hit, and NOOP. Anything else (a miss, an unusual
 * spelling, a flag that changes the item) sends the whole batch to JS as before, so a
 * request that makes memcached drop replies not yet written finds them still unwritten,
 * and the connection's replies stay in its request order.
 */

#include "hit_reply.h"

#include <cstring>

#include "framer.h"
#include "reply_bytes.h"

namespace recordcache {

namespace {

/* memcached's longest `O` opaque token, the O included (protocol/meta.ts META_MAX_OPAQUE_LENGTH). */
constexpr size_t kOpaqueMax = 32;

constexpr uint8_t kBinGet = 0x00;
constexpr uint8_t kBinGetQ = 0x09;
constexpr uint8_t kBinNoop = 0x0a;
constexpr uint8_t kBinGetK = 0x0c;
constexpr uint8_t kBinGetKQ = 0x0d;

void AppendBig16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void AppendBig32(std::vector<uint8_t>& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

void AppendBig64(std::vector<uint8_t>& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

/* The line of a text request without its LF, or CR LF: [line, line + *length). */
bool LineOf(const uint8_t* request, uint32_t length, uint32_t* line_length) {
  if (length < 2 || request[length - 1] != '\n') return false;
  *line_length = length - (request[length - 2] == '\r' ? 2 : 1);
  return true;
}

/*
 * Whether memcached drops the replies it has not yet written when it reads this request
 * (server/commands/text.ts Op.Close and a get's bad key, binary.ts a bad magic byte).
 * Conservative: any line with "HTTP/", any get-family line with a token over 250 bytes.
 */
bool DropsUnwritten(const uint8_t* req, uint32_t length, uint8_t protocol) {
  if (protocol == RP_PROTO_BINARY) return length == 0 || req[0] != 0x80;
  const uint8_t* newline = static_cast<const uint8_t*>(memchr(req, '\n', length));
  const size_t line = newline == nullptr ? length : static_cast<size_t>(newline - req);
  for (size_t i = 0; i + 5 <= line; i++) {
    if (req[i] == 'H' && memcmp(req + i, "HTTP/", 5) == 0) return true;
  }
  if (line == 0 || req[0] != 'g') return false;
  size_t token = 0;
  for (size_t i = 0; i < line; i++) {
    token = req[i] == ' ' ? 0 : token + 1;
    if (token > kKeyMax) return true;
  }
  return false;
}

}  // namespace

bool PlainKey(const uint8_t* key, size_t length) {
  if (length == 0 || length > kKeyMax) return false;
  for (size_t i = 0; i < length; i++) {
    if (key[i] <= 0x20 || key[i] == 0x7f) return false;
  }
  return true;
}

uint32_t RenderHits(ReadIndex& index, int32_t now, const FramedRequests& requests, HitReply* reply,
                    bool* budget_spent) {
  *budget_spent = false;
  std::vector<uint8_t>& out = reply->bytes;
  std::vector<Piece>& pieces = reply->pieces;
  std::vector<IndexEntry*>& entries = reply->entries;
  std::vector<uint64_t>& serials = reply->serials;
  out.clear();
  pieces.clear();
  entries.clear();
  serials.clear();
  size_t own_start = 0;  // own bytes not yet covered by a piece
  // The value of an entry: copied when short or inline, else a piece of its record.
  auto value = [&](IndexEntry* entry, uint64_t length) {
    if (entry->record == nullptr || length < kInlineRecordLimit) {
      Append(out, entry->data(), length);
      return;
    }
    if (out.size() > own_start) pieces.push_back(Piece{nullptr, own_start, out.size() - own_start});
    pieces.push_back(Piece{entry->record, 0, length});
    serials.push_back(entry->record_serial);
    own_start = out.size();
  };
  auto lookup = [&](const uint8_t* key, size_t length) -> IndexEntry* {
    IndexEntry* entry = index.Find(key, static_cast<uint32_t>(length), now);
    if (entry != nullptr) entries.push_back(entry);
    return entry;
  };
  // The request at r is not a hit: what is answered so far is the answer, unless a later
  // request drops unwritten replies. A request's own entries (a multiget) go back.
  size_t request_entries = 0;
  size_t request_out = 0;
  size_t request_pieces = 0;
  size_t request_serials = 0;
  size_t request_own_start = 0;
  uint32_t r = 0;
  auto give_up = [&]() {
    for (size_t k = request_entries; k < entries.size(); k++) entries[k]->Unref();
    entries.resize(request_entries);
    out.resize(request_out);
    pieces.resize(request_pieces);
    serials.resize(request_serials);
    own_start = request_own_start;
    for (uint32_t k = r; k < requests.count && r > 0; k++) {
      if (DropsUnwritten(requests.in + requests.starts[k], requests.lengths[k], requests.protocol)) r = 0;
    }
  };

  // Answers the request at r into the message, or says it is not a hit (nothing added but
  // the entries it took, which give_up returns).
  auto answer = [&]() -> bool {
    const uint8_t* req = requests.in + requests.starts[r];
    const uint32_t length = requests.lengths[r];
    if (requests.protocol == RP_PROTO_BINARY) {
      if (length < 24 || req[0] != 0x80) return false;
      const uint8_t opcode = req[1];
      const uint16_t keylen = static_cast<uint16_t>(req[2] << 8 | req[3]);
      const uint8_t extlen = req[4];
      const uint32_t bodylen = static_cast<uint32_t>(req[8]) << 24 | static_cast<uint32_t>(req[9]) << 16 |
                               static_cast<uint32_t>(req[10]) << 8 | req[11];
      if (opcode == kBinNoop) {
        if (keylen != 0 || extlen != 0 || bodylen != 0) return false;
        out.push_back(0x81);
        out.push_back(opcode);
        out.insert(out.end(), 10, 0);
        Append(out, req + 12, 4);  // opaque
        out.insert(out.end(), 8, 0);
        return true;
      }
      if (opcode != kBinGet && opcode != kBinGetQ && opcode != kBinGetK && opcode != kBinGetKQ) return false;
      if (extlen != 0 || bodylen != keylen || keylen == 0 || keylen > kKeyMax || length != 24u + keylen) {
        return false;
      }
      IndexEntry* entry = lookup(req + 24, keylen);
      if (entry == nullptr) return false;
      const bool with_key = opcode == kBinGetK || opcode == kBinGetKQ;
      const uint16_t reply_keylen = with_key ? keylen : 0;
      out.push_back(0x81);
      out.push_back(opcode);
      AppendBig16(out, reply_keylen);
      out.push_back(4);  // extras: the client flags
      out.push_back(0);
      AppendBig16(out, 0);
      AppendBig32(out, 4 + reply_keylen + entry->value_length());
      Append(out, req + 12, 4);  // opaque
      AppendBig64(out, entry->cas);
      AppendBig32(out, entry->flags);
      if (with_key) Append(out, req + 24, keylen);
      value(entry, entry->value_length());
      return true;
    }

    uint32_t line_length;
    if (!LineOf(req, length, &line_length)) return false;
    const uint8_t* end = req + line_length;
    if (line_length >= 5 && memcmp(req, "get", 3) == 0 && (req[3] == ' ' || (req[3] == 's' && req[4] == ' '))) {
      const bool with_cas = req[3] == 's';
      const uint8_t* p = req + (with_cas ? 5 : 4);
      if (p >= end) return false;
      for (;;) {
        const uint8_t* key_end = static_cast<const uint8_t*>(memchr(p, ' ', static_cast<size_t>(end - p)));
        if (key_end == nullptr) key_end = end;
        const size_t key_length = static_cast<size_t>(key_end - p);
        if (!PlainKey(p, key_length)) return false;
        IndexEntry* entry = lookup(p, key_length);
        if (entry == nullptr) return false;
        Append(out, entry->header(), entry->header_length);
        if (with_cas) {
          out.push_back(' ');
          AppendDecimal(out, entry->cas);
        }
        Append(out, "\r\n", 2);
        value(entry, entry->data_length);
        if (key_end == end) break;
        p = key_end + 1;
        if (p >= end) return false;  // a trailing space
      }
      Append(out, "END\r\n", 5);
      return true;
    }
    if (line_length == 2 && req[0] == 'm' && req[1] == 'n') {
      Append(out, "MN\r\n", 4);
      return true;
    }
    if (line_length >= 4 && req[0] == 'm' && req[1] == 'g' && req[2] == ' ') {
      const uint8_t* p = req + 3;
      const uint8_t* key_end = static_cast<const uint8_t*>(memchr(p, ' ', static_cast<size_t>(end - p)));
      if (key_end == nullptr) key_end = end;
      const size_t key_length = static_cast<size_t>(key_end - p);
      if (!PlainKey(p, key_length)) return false;
      // The flags: each a single letter among those that neither change nor need more of
      // the item, or an opaque; each at most once (memcached refuses a repeated flag).
      const uint8_t* flags[20];
      size_t flag_lengths[20];
      size_t nflags = 0;
      bool with_value = false;
      bool seen[128] = {};
      const uint8_t* f = key_end;
      while (f < end) {
        if (*f != ' ' || f + 1 >= end) return false;
        f++;
        const uint8_t* flag_end = static_cast<const uint8_t*>(memchr(f, ' ', static_cast<size_t>(end - f)));
        if (flag_end == nullptr) flag_end = end;
        const size_t flag_length = static_cast<size_t>(flag_end - f);
        const uint8_t letter = *f;
        if (nflags == 16 || letter >= 128 || seen[letter]) return false;
        seen[letter] = true;
        if (letter == 'O') {
          if (flag_length > kOpaqueMax) return false;
          for (size_t i = 1; i < flag_length; i++) {
            if (f[i] <= 0x20 || f[i] == 0x7f) return false;
          }
        } else if (flag_length != 1 || letter == 0 || strchr("stcfkvq", letter) == nullptr) {
          // (strchr finds the terminator: a NUL is no flag, and memcached's line ends there.)
          return false;
        }
        if (letter == 'v') with_value = true;
        flags[nflags] = f;
        flag_lengths[nflags++] = flag_length;
        f = flag_end;
      }
      IndexEntry* entry = lookup(p, key_length);
      if (entry == nullptr) return false;
      // A stale item or one whose recache token went out says so (W X Z): JS answers those.
      if (!(entry->traits & kTraitMetaPlain)) return false;
      if (seen['k'] && (entry->traits & kTraitKeyBinary)) return false;
      if (with_value) {
        AppendText(out, "VA ");
        AppendDecimal(out, entry->value_length());
      } else {
        AppendText(out, "HD");
      }
      for (size_t i = 0; i < nflags; i++) {
        switch (flags[i][0]) {
          case 's':
            AppendText(out, " s");
            AppendDecimal(out, entry->value_length());
            break;
          case 't':
            AppendText(out, " t");
            if (entry->exptime == 0) {
              AppendText(out, "-1");
            } else {
              AppendDecimal(out, static_cast<uint32_t>(entry->exptime - now));
            }
            break;
          case 'c':
            AppendText(out, " c");
            AppendDecimal(out, entry->cas);
            break;
          case 'f':
            AppendText(out, " f");
            AppendDecimal(out, entry->flags);
            break;
          case 'k':
            AppendText(out, " k");
            Append(out, entry->key(), entry->key_length);
            break;
          case 'O':
            out.push_back(' ');
            Append(out, flags[i], flag_lengths[i]);
            break;
          default:
            break;
        }
      }
      Append(out, "\r\n", 2);
      if (with_value) value(entry, entry->data_length);
      return true;
    }
    return false;
  };
  uint64_t record_bytes = 0;
  for (; r < requests.count; r++) {
    request_entries = entries.size();
    request_out = out.size();
    request_pieces = pieces.size();
    request_serials = serials.size();
    request_own_start = own_start;
    if (!answer()) {
      give_up();
      break;
    }
    for (size_t k = request_pieces; k < pieces.size(); k++) {
      if (pieces[k].record != nullptr) record_bytes += pieces[k].length;
    }
    if (out.size() + record_bytes > kServedOutputBudget && r + 1 < requests.count) {
      // The rest wait until this connection's output drains (server.ts BATCH_OUTPUT_BUDGET).
      *budget_spent = true;
      r++;
      break;
    }
  }

  const uint32_t answered = r;
  if (answered == 0) {
    for (IndexEntry* entry : entries) entry->Unref();
    entries.clear();
    out.clear();
    pieces.clear();
    serials.clear();
    return 0;
  }
  if (out.size() > own_start) pieces.push_back(Piece{nullptr, own_start, out.size() - own_start});
  return answered;
}

}  // namespace recordcache
