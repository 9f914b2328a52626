/*
 * memcached's binary protocol responses: headers, error bodies, values, counters, stats.
 */

import { HEADER_LENGTH, Opcode, RESPONSE_MAGIC, Status } from './binary';

// ---------------------------------------------------------------------------------------------
// Responses.

/** memcached's error bodies (write_bin_error), by status. */
export const ERROR_MESSAGES: { readonly [status: number]: Buffer } = {
  [Status.KeyNotFound]: Buffer.from('Not found'),
  [Status.KeyExists]: Buffer.from('Data exists for key.'),
  [Status.TooLarge]: Buffer.from('Too large.'),
  [Status.InvalidArguments]: Buffer.from('Invalid arguments'),
  [Status.NotStored]: Buffer.from('Not stored.'),
  [Status.NonNumeric]: Buffer.from('Non-numeric server-side value for incr or decr'),
  [Status.AuthError]: Buffer.from('Auth failure.'),
  [Status.UnknownCommand]: Buffer.from('Unknown command'),
  [Status.OutOfMemory]: Buffer.from('Out of memory'),
};

/** Writes a 24-byte response header at `at`. `cas` is a CAS id (a safe integer) or a bigint. */
export function writeHeader(
  out: Buffer,
  at: number,
  opcode: number,
  status: number,
  extlen: number,
  keylen: number,
  bodylen: number,
  opaque: number,
  cas: number | bigint,
): void {
  out[at] = RESPONSE_MAGIC;
  out[at + 1] = opcode;
  out.writeUInt16BE(keylen, at + 2);
  out[at + 4] = extlen;
  out[at + 5] = 0;
  out.writeUInt16BE(status, at + 6);
  out.writeUInt32BE(bodylen, at + 8);
  out.writeUInt32BE(opaque, at + 12);
  if (typeof cas === 'bigint') {
    out.writeBigUInt64BE(cas, at + 16);
  } else {
    out.writeUInt32BE(Math.floor(cas / 0x100000000), at + 16);
    out.writeUInt32BE(cas >>> 0, at + 20);
  }
}

/** A response with a body of `body` (or none). */
export function encodeResponse(opcode: number, status: number, opaque: number, cas: number | bigint, body: Buffer | null = null): Buffer {
  const bodylen = body === null ? 0 : body.length;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + bodylen);
  writeHeader(out, 0, opcode, status, 0, 0, bodylen, opaque, cas);
  if (body !== null) body.copy(out, HEADER_LENGTH);
  return out;
}

/** An error response with memcached's message for `status`, or `message`. */
export function encodeError(opcode: number, status: Status, opaque: number, message: Buffer = ERROR_MESSAGES[status]): Buffer {
  return encodeResponse(opcode, status, opaque, 0, message);
}

/**
 * The header, flags extra and key of a get/touch response; the value (valueLength bytes)
 * follows as its own segment.
 */
export function encodeValueHeader(
  opcode: number,
  opaque: number,
  cas: number,
  flags: number,
  key: string | null,
  valueLength: number,
): Buffer {
  const keylen = key === null ? 0 : key.length;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + 4 + keylen);
  writeHeader(out, 0, opcode, Status.Success, 4, keylen, 4 + keylen + valueLength, opaque, cas);
  out.writeUInt32BE(flags, HEADER_LENGTH);
  if (key !== null) out.write(key, HEADER_LENGTH + 4, 'latin1');
  return out;
}

/** A miss answered with the key (GETK, GATK): status "not found", the key as the body. */
export function encodeKeyMiss(opcode: number, opaque: number, key: string): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + key.length);
  writeHeader(out, 0, opcode, Status.KeyNotFound, 0, key.length, key.length, opaque, 0);
  out.write(key, HEADER_LENGTH, 'latin1');
  return out;
}

/** An incr/decr result: the new value as 8 bytes. */
export function encodeCounter(opcode: number, opaque: number, cas: number, value: bigint): Buffer {
  const out = Buffer.allocUnsafe(HEADER_LENGTH + 8);
  writeHeader(out, 0, opcode, Status.Success, 0, 0, 8, opaque, cas);
  out.writeBigUInt64BE(value, HEADER_LENGTH);
  return out;
}

/** One stat as memcached's append_bin_stats writes it; an empty name ends the list. */
export function encodeStat(opaque: number, name: string, value: string | Buffer): Buffer {
  const valueLength = typeof value === 'string' ? Buffer.byteLength(value, 'latin1') : value.length;
  const out = Buffer.allocUnsafe(HEADER_LENGTH + name.length + valueLength);
  writeHeader(out, 0, Opcode.Stat, Status.Success, 0, name.length, name.length + valueLength, opaque, 0);
  out.write(name, HEADER_LENGTH, 'latin1');
  if (typeof value === 'string') out.write(value, HEADER_LENGTH + name.length, 'latin1');
  else value.copy(out, HEADER_LENGTH + name.length);
  return out;
}
