/*
 * libFuzzer harness for the native engine's request path without sockets: the input is a
 * connection's bytes, framed as the I/O thread frames them (FrameRequest over the records
 * module's framer), and the requests framed are answered from a read index by RenderHits
 * (native/src/hit_reply.cc), as IoThread::ServeHits answers them before queueing the reply.
 *
 * The index holds a few published items (inline values and records, short and long keys,
 * one expired, one stale, one with a binary key). What must hold for every input:
 *  - the reply's pieces cover its own bytes in order and stay inside their records;
 *  - every request answered is a hit, and its reply is memcached's, byte for byte, as
 *    rendered here independently from the published item;
 *  - nothing answered, nothing held; and every reference taken is given back.
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "framer.h"
#include "hit_reply.h"
#include "read_index.h"
#include "record.h"

using recordcache::FramedRequests;
using recordcache::HitReply;
using recordcache::IndexEntry;
using recordcache::Piece;
using recordcache::PublishedItem;
using recordcache::ReadIndex;
using recordcache::Record;

namespace {

#define CHECK(cond, ...)                           \
  do {                                             \
    if (!(cond)) {                                 \
      fprintf(stderr, "hits_fuzzer: %s: ", #cond); \
      fprintf(stderr, __VA_ARGS__);                \
      fputc('\n', stderr);                         \
      abort();                                     \
    }                                              \
  } while (0)

/* The store's second while fuzzing. */
constexpr int32_t kNow = 10;
/* The I/O thread's batch (connection.cc kMaxBatch). */
constexpr uint32_t kMaxBatch = 1024;

/* What the store published for a key, as the harness renders its replies. */
struct Item {
  std::string value;  // without its CR LF
  uint32_t flags;
  int32_t exptime;
  uint64_t cas;
  uint8_t traits;
};

std::map<std::string, Item>* items;
ReadIndex* read_index;
recordcache::RecordStats record_stats;

void Publish(const std::string& key, const std::string& value, uint32_t flags, int32_t exptime, uint64_t cas,
             uint8_t traits, bool as_record) {
  const std::string data = value + "\r\n";
  PublishedItem item{};
  item.key = reinterpret_cast<const uint8_t*>(key.data());
  item.key_length = static_cast<uint32_t>(key.size());
  item.data_length = static_cast<uint32_t>(data.size());
  Record* record = nullptr;
  if (as_record) {
    record = Record::Create(reinterpret_cast<const uint8_t*>(data.data()), data.size(), false, &record_stats);
    item.record = record;
    item.record_serial = cas;
  } else {
    item.data = reinterpret_cast<const uint8_t*>(data.data());
  }
  item.flags = flags;
  item.exptime = exptime;
  item.cas = cas;
  item.serial = static_cast<uint32_t>(items->size() + 1);
  item.handle = static_cast<int32_t>(items->size());
  item.traits = traits;
  read_index->Publish(item);
  if (record != nullptr) record->Unref();  // the entry holds its own reference
  (*items)[key] = Item{value, flags, exptime, cas, traits};
}

const Item* Hit(const std::string& key) {
  auto it = items->find(key);
  if (it == items->end()) return nullptr;
  if (it->second.exptime != 0 && it->second.exptime <= kNow) return nullptr;
  return &it->second;
}

std::string Decimal(uint64_t v) { return std::to_string(v); }

std::vector<std::string> Split(const std::string& line) {
  std::vector<std::string> tokens;
  size_t at = 0;
  while (at <= line.size()) {
    size_t space = line.find(' ', at);
    if (space == std::string::npos) space = line.size();
    tokens.push_back(line.substr(at, space - at));
    at = space + 1;
  }
  return tokens;
}

/* memcached's reply to a text get/gets, mg or mn that hits, or "" when it is none of these. */
std::string TextReply(const std::string& request) {
  std::string line = request;
  CHECK(line.size() >= 2 && line.back() == '\n', "an answered text request without its newline");
  line.pop_back();
  if (!line.empty() && line.back() == '\r') line.pop_back();
  // memcached's line ends at a NUL byte: what follows is not part of the request.
  CHECK(line.find('\0') == std::string::npos, "a text request with a NUL byte answered");
  std::vector<std::string> tokens = Split(line);
  if (line == "mn") return "MN\r\n";
  if (tokens[0] == "get" || tokens[0] == "gets") {
    CHECK(tokens.size() >= 2, "a get without keys answered");
    std::string reply;
    for (size_t i = 1; i < tokens.size(); i++) {
      const Item* item = Hit(tokens[i]);
      CHECK(item != nullptr, "get of a key that is not a hit answered: \"%s\"", tokens[i].c_str());
      reply += "VALUE " + tokens[i] + " " + Decimal(item->flags) + " " + Decimal(item->value.size());
      if (tokens[0] == "gets") reply += " " + Decimal(item->cas);
      reply += "\r\n" + item->value + "\r\n";
    }
    return reply + "END\r\n";
  }
  if (tokens[0] == "mg") {
    CHECK(tokens.size() >= 2, "mg without a key answered");
    const Item* item = Hit(tokens[1]);
    CHECK(item != nullptr, "mg of a key that is not a hit answered: \"%s\"", tokens[1].c_str());
    CHECK(item->traits & recordcache::kTraitMetaPlain, "mg of a stale item answered");
    bool with_value = false;
    std::string flags;
    for (size_t i = 2; i < tokens.size(); i++) {
      const std::string& flag = tokens[i];
      CHECK(!flag.empty(), "mg with an empty flag answered");
      switch (flag[0]) {
        case 'v':
          with_value = true;
          break;
        case 's':
          flags += " s" + Decimal(item->value.size());
          break;
        case 't':
          flags += item->exptime == 0 ? " t-1" : " t" + Decimal(static_cast<uint32_t>(item->exptime - kNow));
          break;
        case 'c':
          flags += " c" + Decimal(item->cas);
          break;
        case 'f':
          flags += " f" + Decimal(item->flags);
          break;
        case 'k':
          CHECK(!(item->traits & recordcache::kTraitKeyBinary), "mg k of a binary key answered");
          flags += " k" + tokens[1];
          break;
        case 'O':
          flags += " " + flag;
          break;
        case 'q':
          break;
        default:
          CHECK(false, "mg with flag \"%s\" answered", flag.c_str());
      }
    }
    if (!with_value) return "HD" + flags + "\r\n";
    return "VA " + Decimal(item->value.size()) + flags + "\r\n" + item->value + "\r\n";
  }
  CHECK(false, "text request answered: \"%s\"", line.c_str());
  return "";
}

void Big(std::string* out, uint64_t v, int bytes) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

/* memcached's reply to a binary GET, GETQ, GETK, GETKQ that hits, or NOOP. */
std::string BinaryReply(const std::string& request) {
  CHECK(request.size() >= 24 && static_cast<uint8_t>(request[0]) == 0x80, "answered binary request shape");
  const uint8_t opcode = static_cast<uint8_t>(request[1]);
  const uint32_t keylen = static_cast<uint8_t>(request[2]) << 8 | static_cast<uint8_t>(request[3]);
  std::string reply;
  reply.push_back(static_cast<char>(0x81));
  reply.push_back(static_cast<char>(opcode));
  if (opcode == 0x0a) {
    CHECK(request.size() == 24, "NOOP with a body answered");
    reply.append(10, '\0');
    reply.append(request, 12, 4);
    reply.append(8, '\0');
    return reply;
  }
  CHECK(opcode == 0x00 || opcode == 0x09 || opcode == 0x0c || opcode == 0x0d, "binary opcode %u answered", opcode);
  CHECK(request.size() == 24 + keylen, "binary GET with extras or a value answered");
  const std::string key = request.substr(24);
  const Item* item = Hit(key);
  CHECK(item != nullptr, "binary GET of a key that is not a hit answered");
  const bool with_key = opcode == 0x0c || opcode == 0x0d;
  const uint32_t reply_keylen = with_key ? keylen : 0;
  Big(&reply, reply_keylen, 2);
  reply.push_back(4);
  reply.push_back(0);
  Big(&reply, 0, 2);
  Big(&reply, 4 + reply_keylen + item->value.size(), 4);
  reply.append(request, 12, 4);
  Big(&reply, item->cas, 8);
  Big(&reply, item->flags, 4);
  if (with_key) reply += key;
  return reply + item->value;
}

void Setup() {
  items = new std::map<std::string, Item>();
  read_index = new ReadIndex();
  read_index->SetClock(kNow, 0, 0);
  const uint8_t plain = recordcache::kTraitMetaPlain;
  Publish("foo", "bar", 5, 0, 42, plain, false);
  Publish("k", "", 0, 0, 1, plain, false);
  Publish(std::string(250, 'k'), std::string(100, 'v'), 4294967295u, 100, 18446744073709551615ull, plain, false);
  Publish("expired", "old", 1, 5, 7, plain, false);
  Publish("stale", "s", 0, 0, 8, 0, false);
  Publish("YmluYXJ5", "b", 0, 0, 9, plain | recordcache::kTraitKeyBinary, false);
  Publish("rec", std::string(2000, 'r'), 3, 50, 1000, plain, true);
  Publish("small-rec", "tiny record", 6, 0, 1001, plain, true);
  Publish("crlf", "a\r\nEND\r\n", 0, 0, 12, plain, false);
}

/* The bytes a reply's pieces add up to. */
std::string Flatten(const HitReply& reply) {
  std::string out;
  uint64_t own = 0;
  for (const Piece& piece : reply.pieces) {
    CHECK(piece.length > 0, "an empty piece");
    if (piece.record == nullptr) {
      CHECK(piece.offset == own, "own bytes out of order: piece at %llu, %llu covered",
            static_cast<unsigned long long>(piece.offset), static_cast<unsigned long long>(own));
      CHECK(piece.offset + piece.length <= reply.bytes.size(), "a piece past the reply's bytes");
      out.append(reinterpret_cast<const char*>(reply.bytes.data()) + piece.offset, piece.length);
      own += piece.length;
    } else {
      CHECK(piece.offset + piece.length <= piece.record->length(), "a piece past its record");
      out.append(reinterpret_cast<const char*>(piece.record->data()) + piece.offset, piece.length);
    }
  }
  CHECK(own == reply.bytes.size(), "%llu own bytes, %zu in pieces", static_cast<unsigned long long>(own),
        reply.bytes.size());
  return out;
}

/* Every published entry is held by the index alone. */
void CheckReferences() {
  for (const auto& [key, item] : *items) {
    IndexEntry* entry =
        read_index->Find(reinterpret_cast<const uint8_t*>(key.data()), static_cast<uint32_t>(key.size()),
                         item.exptime != 0 ? item.exptime - 1 : kNow);
    CHECK(entry != nullptr, "published \"%s\" is gone", key.c_str());
    const uint32_t refs = entry->refs.load();
    entry->Unref();
    CHECK(refs == 2, "\"%s\" has %u references, the index's and this look-up's expected", key.c_str(), refs);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (items == nullptr) Setup();
  if (size == 0) return 0;
  // The connection's input buffer: exactly the input, so ASan sees a read past its end.
  std::vector<uint8_t> in(data, data + size);
  const rp_limits limits = recordcache::DefaultFramingLimits();
  const uint8_t protocol = rp_choose(RP_PROTO_AUTO, in[0]);

  // Framed as IoThread::FrameAndDeliver frames a batch.
  std::vector<uint64_t> starts;
  std::vector<uint32_t> lengths;
  uint64_t pos = 0;
  uint64_t swallow = 0;
  while (pos < size && starts.size() < kMaxBatch) {
    if (swallow > 0) {
      const uint64_t skip = std::min<uint64_t>(swallow, size - pos);
      swallow -= skip;
      pos += skip;
      continue;
    }
    rp_extent frame;
    recordcache::FrameRequest(limits, protocol, in.data(), pos, size, &frame);
    if (frame.status != RP_WHOLE) break;
    CHECK(frame.length > 0 && pos + frame.length <= size, "framed %u at %llu of %zu", frame.length,
          static_cast<unsigned long long>(pos), size);
    starts.push_back(pos);
    lengths.push_back(frame.length);
    pos += frame.length;
    swallow = frame.swallow;
  }
  if (starts.empty()) return 0;

  static HitReply reply;
  const FramedRequests requests{in.data(), starts.data(), lengths.data(), static_cast<uint32_t>(starts.size()),
                                protocol};
  bool budget_spent = false;
  const uint32_t answered = recordcache::RenderHits(*read_index, kNow, requests, &reply, &budget_spent);
  CHECK(answered <= requests.count, "%u answered of %u", answered, requests.count);
  CHECK(!budget_spent, "the output budget spent by a short input");
  if (answered == 0) {
    CHECK(reply.bytes.empty() && reply.pieces.empty() && reply.entries.empty() && reply.serials.empty(),
          "nothing answered, something held");
  } else {
    std::string expected;
    for (uint32_t i = 0; i < answered; i++) {
      const std::string request(reinterpret_cast<const char*>(in.data()) + starts[i], lengths[i]);
      expected += protocol == RP_PROTO_BINARY ? BinaryReply(request) : TextReply(request);
    }
    const std::string rendered = Flatten(reply);
    CHECK(rendered == expected, "%u requests answered with %zu bytes, memcached's are %zu", answered, rendered.size(),
          expected.size());
    for (IndexEntry* entry : reply.entries) entry->Unref();
    reply.entries.clear();
  }
  CheckReferences();
  return 0;
}
