/*
 * A message's allocation: the body and its own bytes in one block, freed with its last
 * reference (a connection's queue, a group send, a read index entry's cached reply).
 */
#include <cstdlib>
#include <new>

#include "engine.h"

namespace recordcache {

MessageBody* MessageBody::Create(size_t own_bytes) {
  void* block = malloc(sizeof(MessageBody) + own_bytes);
  if (block == nullptr) abort();
  MessageBody* body = new (block) MessageBody();
  body->bytes = reinterpret_cast<uint8_t*>(block) + sizeof(MessageBody);
  return body;
}

void MessageBody::Unref() {
  if (refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  for (Piece& piece : pieces) {
    if (piece.record != nullptr) piece.record->Unref();
  }
  this->~MessageBody();
  free(this);
}

}  // namespace recordcache
