/*
 * memcached's reply strings, byte for byte, in one table. Replies are preallocated Buffers
 * so the hot path appends a reference instead of encoding a string.
 */

const line = (text: string): Buffer => Buffer.from(text + '\r\n', 'latin1');

export const Reply = {
  STORED: line('STORED'),
  NOT_STORED: line('NOT_STORED'),
  EXISTS: line('EXISTS'),
  NOT_FOUND: line('NOT_FOUND'),
  DELETED: line('DELETED'),
  TOUCHED: line('TOUCHED'),
  END: line('END'),
  OK: line('OK'),
  RESET: line('RESET'),
  ERROR: line('ERROR'),

  SHUTDOWN_NOT_ENABLED: line('ERROR: shutdown not enabled'),
  TOO_MANY_CONNECTIONS: line('ERROR Too many open connections'),

  BAD_FORMAT: line('CLIENT_ERROR bad command line format'),
  BAD_STATS_FORMAT: line('CLIENT_ERROR bad command line'),
  DELETE_USAGE: line('CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]'),
  BAD_DATA_CHUNK: line('CLIENT_ERROR bad data chunk'),
  INVALID_EXPTIME: line('CLIENT_ERROR invalid exptime argument'),
  INVALID_DELTA: line('CLIENT_ERROR invalid numeric delta argument'),
  NON_NUMERIC: line('CLIENT_ERROR cannot increment or decrement non-numeric value'),
  FLUSH_NOT_ALLOWED: line('CLIENT_ERROR flush_all not allowed'),
  CACHEDUMP_NOT_ALLOWED: line('CLIENT_ERROR stats cachedump not allowed'),
  WATCH_NOT_ALLOWED: line('CLIENT_ERROR watch commands not allowed'),
  STATS_DETAIL_USAGE: line('CLIENT_ERROR usage: stats detail on|off|dump'),
  INVALID_SHUTDOWN_MODE: line('CLIENT_ERROR invalid shutdown mode'),
  ILLEGAL_SLAB_ID: line('CLIENT_ERROR Illegal slab id'),

  // lru_crawler and watch (proto_text.c process_lru_crawler_command, process_watch_command).
  CRAWLER_DISABLED: line('CLIENT_ERROR lru crawler disabled'),
  CRAWLER_SLEEP_TOO_LONG: line('CLIENT_ERROR sleep must be one second or less'),
  CRAWLER_BAD_CLASS: line('BADCLASS invalid class id'),
  CRAWLER_UNKNOWN_ERROR: line('ERROR an unknown error happened'),
  CRAWLER_NOT_STARTED: line('NOTSTARTED no items to crawl'),
  CRAWLER_START_FAILED: line('ERROR failed to start lru crawler thread'),
  METADUMP_NOT_ALLOWED: line('ERROR metadump not allowed'),
  METADUMP_AFTER_PIPELINE: line('ERROR cannot pipeline other commands before metadump'),
  WATCH_AFTER_PIPELINE: line('ERROR cannot pipeline other commands before watch'),
  WATCHER_TOO_MANY: line('WATCHER_TOO_MANY log watcher limit reached'),

  // Meta commands (proto_text.c process_m*_command, _meta_flag_preparse).
  META_DUPLICATE_FLAG: line('CLIENT_ERROR duplicate flag'),
  META_BAD_KEY_ENCODING: line('CLIENT_ERROR error decoding key'),
  META_BAD_TOKEN: line('CLIENT_ERROR bad token in command line format'),
  META_BAD_MODE_LENGTH: line('CLIENT_ERROR incorrect length for M token'),
  META_INVALID_INITIAL: line('CLIENT_ERROR invalid numeric initial value'),
  META_INVALID_DELTA: line('CLIENT_ERROR invalid numeric delta value'),
  META_INVALID_FLAG: line('CLIENT_ERROR invalid flag'),
  META_GET_FLAGS_TOO_LONG: line('CLIENT_ERROR options flags are too long'),
  META_FLAGS_TOO_LONG: line('CLIENT_ERROR options flags too long'),
  META_SET_INVALID_MODE: line('CLIENT_ERROR invalid mode for ms M token'),
  META_OPAQUE_TOO_LONG: line('CLIENT_ERROR opaque token too long'),
  META_INVALID_OR_DUPLICATE_FLAG: line('CLIENT_ERROR invalid or duplicate flag'),
  META_ARITH_INVALID_MODE: line('CLIENT_ERROR invalid mode for ma M token'),

  // -Y: a connection that has not authenticated (proto_text.c process_command_ascii).
  UNAUTHENTICATED: line('CLIENT_ERROR unauthenticated'),
  BAD_TERMINATION: line('CLIENT_ERROR bad command line termination'),
  BAD_AUTH_TOKEN_FORMAT: line('CLIENT_ERROR bad authentication token format'),
  AUTHENTICATION_FAILURE: line('CLIENT_ERROR authentication failure'),

  TOO_LARGE: line('SERVER_ERROR object too large for cache'),
  OUT_OF_MEMORY_STORING: line('SERVER_ERROR out of memory storing object'),
  OUT_OF_MEMORY_GET: line('SERVER_ERROR out of memory writing get response'),
  OUT_OF_MEMORY: line('SERVER_ERROR out of memory'),
  OUT_OF_MEMORY_READING: line('SERVER_ERROR Out of memory during read'),
} as const;

/** A reply line built at run time (numbers, versions, stats rows). */
export function replyLine(text: string): Buffer {
  return line(text);
}
