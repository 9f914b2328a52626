/*
 * How a connection's bytes move. Each connection has one of two transports, chosen when it
 * is accepted; the rest of the engine dispatches on whether it has a kernel session
 * (Conn::session >= 0), so the transport is this small set of Engine functions:
 *
 *   read requests     ReadSome -> ReadSocket (user)       | ReadKernel (kmod)
 *   wait for a value  WaitForBytes: SO_RCVLOWAT (user)    | nothing: the module sends whole requests
 *   queue a reply     Enqueue -> the OutQueue (user)      | EnqueueKernel -> SendKernel (kmod)
 *   write             WriteConn: sendmsg/sendfile (user)  | the module, from its write-space callback
 *   output progress   Advance as bytes go (user)          | RetireKernelSends on the module's reports (kmod)
 *   unsend            Unsend on the OutQueue (user)       | UnsendKernel (kmod)
 *   close             close the socket (user)             | CloseKernel, then the socket (kmod)
 *
 * user_transport.cc: plain sockets, read by the engine and written with writev and sendfile.
 * kmod_transport.cc: the records module (kmod.h) frames requests and sends replies.
 */
#ifndef RECORDCACHE_TRANSPORT_H
#define RECORDCACHE_TRANSPORT_H

#include <cstddef>
#include <cstdint>

#include "engine.h"

namespace recordcache {

/* The first read(2) buffer of a session; grown when a message does not fit (EMSGSIZE). */
constexpr size_t kKernelReadSize = 256 * 1024;

/* A send queued in the records module (kmod backend); each holds a reference on its message. */
struct KernelSend {
  MessageBody* body;
  Record* record;  // the record it sends by reference, or null (bytes only)
  uint64_t length;
  bool last;  // the message's last send: completing it completes the message
  int32_t priority;
};

}  // namespace recordcache

#endif
