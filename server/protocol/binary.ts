/*
 * memcached's binary protocol: the numbers of its wire (magic, opcodes, statuses), the limits
 * a request is framed by, and what memcached makes of a request's header (BinaryOp).
 *
 * A request is a 24-byte header, extras, key and value. memcached (proto_bin.c) reads the
 * header, extras and key, decides from them alone what the request is, and only then reads a
 * value, for the commands that have one (set, add, replace, append, prepend, SASL auth and
 * step). binary-frame.ts makes the same decisions, so the bytes each request consumes are the
 * bytes memcached consumes: a value the item limit refuses is swallowed as it arrives rather
 * than buffered, a body longer than a command reads is left to be parsed as the next request,
 * and a header claiming lengths larger than memcached's read buffer closes the connection as
 * memcached does. binary-decode.ts turns the framed bytes into a BinaryRequest, and
 * binary-reply.ts encodes responses. All are pure functions over (Buffer, offset).
 */

export const REQUEST_MAGIC = 0x80;
export const RESPONSE_MAGIC = 0x81;
export const HEADER_LENGTH = 24;
/** memcached reads header, extras and key into a 16 KB buffer; a request whose do not fit closes the connection. */
export const READ_BUFFER_SIZE = 16384;
/** Longest SASL mechanism name (sasl_defs.h MAX_SASL_MECH_LEN). */
export const MAX_SASL_MECH_LENGTH = 32;

export const enum Opcode {
  Get = 0x00,
  Set = 0x01,
  Add = 0x02,
  Replace = 0x03,
  Delete = 0x04,
  Increment = 0x05,
  Decrement = 0x06,
  Quit = 0x07,
  Flush = 0x08,
  GetQ = 0x09,
  Noop = 0x0a,
  Version = 0x0b,
  GetK = 0x0c,
  GetKQ = 0x0d,
  Append = 0x0e,
  Prepend = 0x0f,
  Stat = 0x10,
  SetQ = 0x11,
  AddQ = 0x12,
  ReplaceQ = 0x13,
  DeleteQ = 0x14,
  IncrementQ = 0x15,
  DecrementQ = 0x16,
  QuitQ = 0x17,
  FlushQ = 0x18,
  AppendQ = 0x19,
  PrependQ = 0x1a,
  Touch = 0x1c,
  Gat = 0x1d,
  GatQ = 0x1e,
  SaslListMechs = 0x20,
  SaslAuth = 0x21,
  SaslStep = 0x22,
  GatK = 0x23,
  GatKQ = 0x24,
}

export const enum Status {
  Success = 0x00,
  KeyNotFound = 0x01,
  KeyExists = 0x02,
  TooLarge = 0x03,
  InvalidArguments = 0x04,
  NotStored = 0x05,
  NonNumeric = 0x06,
  AuthError = 0x20,
  AuthContinue = 0x21,
  UnknownCommand = 0x81,
  OutOfMemory = 0x82,
}

export interface BinaryLimits {
  itemSizeMax: number;
  casEnabled: boolean;
  /** Items larger than this are chunked, which a SASL exchange cannot use. */
  slabChunkMax: number;
  /** -S: SASL commands are served (otherwise they are unknown commands). */
  sasl: boolean;
}

// ---------------------------------------------------------------------------------------------
// What memcached makes of a header (try_read_command_binary, dispatch_bin_command and the
// process_bin_* functions up to the point where they read a value).

export const enum BinaryOp {
  /** The first byte is not 0x80: memcached closes at once, losing replies not yet written. */
  BadMagic = 1,
  /** Key and extras longer than the body: "Unknown command", then close. Checked before SASL. */
  Inconsistent,
  /** An error reply decided from the header: lengths wrong for the opcode, an unknown opcode, ... */
  Refused,
  Get,
  Store,
  /** A set/add/replace/append/prepend whose value the item limit refuses; the value is swallowed. */
  TooLarge,
  Delete,
  Arith,
  Flush,
  Noop,
  Version,
  Quit,
  Stat,
  SaslListMechs,
  SaslAuth,
}
