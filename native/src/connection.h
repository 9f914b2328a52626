/*
 * A connection as the I/O thread holds it: its input buffer and the batch in flight to JS,
 * its output (an OutQueue, or sends queued in the records module), and its lifecycle.
 */
#ifndef RECORDCACHE_CONNECTION_H
#define RECORDCACHE_CONNECTION_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine.h"
#include "out_queue.h"
#include "transport.h"

namespace recordcache {

/* First read into an empty input buffer; doubled while reads fill it, up to the maximum. */
constexpr size_t kInitialReadSize = 16 * 1024;
constexpr size_t kMaxReadSize = 256 * 1024;

/*
 * Where a connection is in its life: one state at a time, as memcached's conn_states. Only
 * kReading reads requests. A batch in flight to JS (Conn::in_flight) is not a state: JS
 * keeps its batch's bytes while the connection ends or closes, until it completes the batch.
 */
enum class ConnState : uint8_t {
  /* Requests are read and framed as they arrive. */
  kReading,
  /* JS handled part of a batch: the rest waits until this connection's output drains. */
  kBlocked,
  /* Output past the soft limit: no requests are read until it drains. */
  kPaused,
  /* Closes once its replies are written and JS has completed its batch. */
  kEnding,
  /* Its socket is closed and JS is told (kEventClose); it waits for JS to acknowledge. */
  kClosed,
  /* JS acknowledged the close: freed at the end of this turn of the loop. */
  kAcked,
};

/* What a connection attached to the records module keeps beside its Conn (kmod_transport.cc). */
struct KernelConn {
  /* The connection's records session. */
  int session = -1;
  /* The module stopped framing at a line memcached closes on; the bytes before it end in a close. */
  bool close_at_end = false;
  // Sends in the module's queue of this socket, oldest first, and their bytes.
  std::vector<KernelSend> sends;
  uint64_t bytes = 0;
  /* Sends the module has reported complete (RECORDS_MSG_SENT's running total). */
  uint64_t retired = 0;
  /* Where PlaceKernelSend put the latest send. */
  size_t last_placed = 0;
  /* Where requests start in `in` whose data the module saw arrive after their line. */
  std::vector<size_t> splits;
  /* Where each request the module framed ends in `in`: the engine does not frame them again. */
  std::vector<size_t> ends;
};

struct Conn {
  int fd = -1;
  uint32_t slot = 0;
  /* RP_PROTO_TEXT or RP_PROTO_BINARY once its first byte has chosen (rp_choose). */
  uint8_t protocol = RP_PROTO_AUTO;
  /* Under -Y, a text connection's requests are framed as authentication requests until JS says otherwise. */
  bool authenticated = false;

  // Input: bytes [in_head, in_tail) of `in` are received and not yet consumed.
  uint8_t* in = nullptr;
  size_t in_cap = 0;
  size_t in_head = 0;
  size_t in_tail = 0;
  size_t read_size = kInitialReadSize;
  uint64_t swallow = 0;
  /* The length the request at in_head is known to need (0: unknown or none). */
  uint64_t needed = 0;
  int rcvlowat = 1;

  // The batch in flight to JS: its requests' offsets in `in`, and where framing stopped.
  bool in_flight = false;
  uint32_t batch_count = 0;
  std::vector<size_t> batch_starts;
  size_t batch_end = 0;
  bool close_after_batch = false;
  /* Re-framing requests JS left unhandled: skip the wait for `needed` bytes once. */
  bool reframe = false;

  bool can_read = false;
  bool can_write = true;
  bool peer_closed = false;
  /* epoll reported the peer's FIN or an error: read until read() says so. */
  bool hangup = false;
  /* The server is stopping: read no more, answer what was received, then end. */
  bool draining = false;
  bool in_input_list = false;
  bool in_ready_list = false;

  OutQueue out;
  uint64_t out_bytes = 0;
  /* kEventOutput said its output is past the high-water mark, and not yet that it drained. */
  bool over_high_water = false;
  /* Why it is closing, when known before CloseConn (kEventClose). */
  CloseReason close_reason = kCloseLocal;
  int64_t last_activity_ms = 0;
  ConnState state = ConnState::kReading;

  /* kmod backend: the socket is attached to the records module; null when this engine reads and writes it. */
  std::unique_ptr<KernelConn> kernel;
  /* Accepted on the HTTP listener (http_conn.h); null for memcached's protocols. */
  std::unique_ptr<HttpConn> http;

  bool closed() const { return state >= ConnState::kClosed; }
  /* Not reading until its output drains, or ending once it has. */
  bool waits_on_output() const {
    return state == ConnState::kBlocked || state == ConnState::kPaused || state == ConnState::kEnding;
  }
};

/* A listening socket; loop.cc accepts its connections, and pauses it when out of descriptors. */
struct Listener {
  int fd;
  bool is_unix;
  std::string label;
  bool paused = false;
  int64_t resume_at_ms = 0;
  /* The HTTP listener's settings; null for memcached's. */
  std::shared_ptr<HttpSettings> http;
};

/* Room for `want` more bytes at in_tail, moving unconsumed bytes to the front if that helps. */
void ReserveInput(Conn* c, size_t want);
/* Frees a connection's input buffer (its bytes leave InputBytesHeld). */
void ReleaseInputBuffer(Conn* c);
/* Bytes of input buffers all connections of every engine in the process hold (-o input_mem_limit). */
uint64_t InputBytesHeld();

}  // namespace recordcache

#endif
