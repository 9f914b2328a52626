/*
 * The records API (DESIGN.md): values handed to the engine once and sent from one buffer to
 * every connection that asks; requests delivered whole. Every backend (js, native, kmod)
 * implements RecordsEngine; protocol and store code see only these types.
 */

import type net from 'node:net';
import type { Framer } from '../framing';

export type BackendName = 'js' | 'native' | 'kmod';

/**
 * A handle to immutable bytes owned by the engine. A handle is also a slice of its whole
 * self, so the common case (send the whole value) needs no slice object.
 */
export interface RecordHandle {
  readonly record: RecordHandle;
  readonly offset: number;
  readonly length: number;
}

/** Part of a record: a value inside a larger record, for instance. */
export interface RecordSlice {
  readonly record: RecordHandle;
  readonly offset: number;
  readonly length: number;
}

/** A response is a list of segments: bytes the response owns, or slices of records. */
export type Segment = Buffer | RecordSlice;

/** A client connection as the engine presents it. */
export interface RecordConnection {
  /** A small number unique among open connections (reported as memcached reports fds). */
  readonly id: number;
  /** "tcp:127.0.0.1:5000" or "unix:/path". */
  readonly remote: string;
  readonly local: string;
  /** Application state hung off the connection (null until the application sets it). */
  state: unknown;
  /**
   * The application's clock reading of the connection's last command (stats conns'
   * secs_since_last_cmd); 0 until it sets one. A field of its own, so that a connection
   * between requests needs no state object beside it.
   */
  lastCommandTime: number;
  /** Close once everything queued on it has been written. */
  end(): void;
  /** Close at once, dropping queued output. */
  destroy(): void;
  /**
   * The connection has authenticated (-Y): its text requests are framed as memcached's from
   * the next one on. Engines that frame in native code need to know; the others frame with
   * the framer framerFor gave them.
   */
  authenticated?(): void;
}

/**
 * Why a connection closed: the application (or the server) closed it, the peer closed its
 * side, a reset or socket error, its queued output passed the limit, or it sent what the
 * framing refuses.
 */
export type CloseReason = 'RC_CLOSED' | 'RC_PEER_CLOSED' | 'RC_PEER_RESET' | 'RC_QUEUE_LIMIT' | 'RC_FRAMING';

/** Whole requests of one batch: request i is at buf[starts[i], starts[i] + lengths[i]). */
export interface RequestBatch {
  buf: Buffer;
  starts: number[];
  lengths: number[];
  count: number;
  /**
   * The first request's data block was still arriving when the previous read ended.
   * memcached reads such a block straight into the item and writes its pending replies
   * out once the block is complete, before it reads what follows.
   */
  firstCompletesData: boolean;
  /** The connection closes after this batch (memcached's framing closes it at the next request). */
  closes: boolean;
  /**
   * For each request two numbers: which item the engine's read index holds under the key a
   * storage request names (the store's handle and the publication's serial, Store.keyHint),
   * or -1 and 0; absent when the engine does not say.
   */
  keyHints?: number[];
}

export interface ListenerInfo {
  /** "tcp:127.0.0.1:11211" or "unix:/path". */
  readonly address: string;
  readonly id: number;
}

/** The protocol a connection speaks: memcached's text (and meta) or binary protocol. */
export type WireProtocol = 'text' | 'binary';

export interface EngineHandlers {
  /** A connection was accepted. Return a refusal message to send before closing it, or null to keep it. */
  onOpen(conn: RecordConnection): Buffer | null;
  /**
   * The framer for a connection, chosen from its first byte (protocol negotiation). An
   * engine that frames natively passes the protocol its framer chose (kmod/records_parse.c
   * rp_choose), and the server takes it; otherwise the server chooses.
   */
  framerFor(conn: RecordConnection, firstByte: number, chosen?: WireProtocol): Framer;
  /**
   * recvRecord: whole requests that arrived on conn. Responses go out through sendRecord.
   * Returns how many requests were handled; the rest are delivered again once the
   * connection's output has drained (so a client that does not read stops being served).
   */
  onRequests(conn: RecordConnection, batch: RequestBatch): number;
  /** The connection closed; `reason` says why, where the engine knows (the records library reports it). */
  onClose(conn: RecordConnection, reason?: CloseReason): void;
  /**
   * The connection's unwritten output passed the high-water mark (true), or is back at or
   * below the low-water mark after that (false). Only engines given water marks call it.
   */
  onOutput?(conn: RecordConnection, overHighWater: boolean): void;
  /** Bytes read from clients (for stats bytes_read). */
  onBytesRead(n: number): void;
  /**
   * Before a delivery's requests run: the key hints of all of them (RequestBatch.keyHints,
   * two numbers a request), so the store can touch the items they name ahead of time.
   */
  onKeyHints?(hints: Int32Array): void;
  onBytesWritten(n: number): void;
}

/**
 * Makes the server of a TLS listener (server/tls.ts): the sockets it hands over have finished
 * their handshake and read and write plaintext. Engines that own sockets natively cannot
 * serve these (see records/composite.ts).
 */
export interface TlsListenerFactory {
  createServer(onConnection: (socket: net.Socket) => void): net.Server;
}

export interface ListenOptions {
  /** `tls` set: the listener speaks TLS (-Z, unless the -l entry says notls:). */
  tcp: { host: string | null; port: number; tls?: TlsListenerFactory | null }[];
  unix: { path: string; mode: number } | null;
  backlog: number;
}

export interface RecordsEngine {
  readonly name: BackendName;

  /**
   * initRecord copies the bytes it is given (native, kmod), so a caller may make a record
   * straight from a buffer it does not own; the js engine keeps the Buffer itself.
   */
  readonly initCopies: boolean;
  /** Hand bytes to the engine once; the handle can then be sent to any number of connections. */
  initRecord(bytes: Buffer): RecordHandle;
  /**
   * The bytes of a record not yet deleted: the engine's own Buffer where JS holds it (js),
   * else a copy (native). For the few readers of a value that lives only in its record.
   */
  readRecord(record: RecordHandle): Buffer;
  /** Release the handle; sends already queued stay valid until written. */
  delRecord(record: RecordHandle): void;
  /**
   * Queue a message (segments: bytes and record slices) on every connection of `group`, after
   * what each already has queued. Higher priority is written first across connections.
   */
  sendRecord(message: readonly Segment[], group: readonly RecordConnection[], priority?: number): void;
  /** Drop queued, not yet started sends of `record` on the group's connections; returns how many. */
  unsendRecord(record: RecordHandle, group: readonly RecordConnection[]): number;

  /** Accept connections and deliver whole requests (recvRecord) to the handlers. */
  listen(options: ListenOptions, handlers: EngineHandlers): Promise<ListenerInfo[]>;
  /** A connected socket joins the engine as if accepted (records library; not with TLS). */
  adopt?(socket: net.Socket): void;
  /** Stop accepting; open connections stay. */
  stopListening(): Promise<void>;
  /** Open connections. */
  connections(): Iterable<RecordConnection>;
  /** Ends every connection once its replies are written; resolves when all are closed (or the grace period ran out). */
  drain(graceMs?: number): Promise<void>;
  /** Counters of the records the engine holds, as `records_*` lines of `stats`; engines that keep none omit it. */
  recordCounters?(): [string, number][];
  /** Where the engine answers GET hits without JS (native, kmod); null when every request comes to JS. */
  readonly readIndex: ReadIndex | null;
  /** Threads that read, frame and (with a read index) answer requests: -t for native, else 1. */
  readonly ioThreads: number;
}

/** What an index entry says of its item beyond the value (native/src/read_index.h EntryTraits). */
export const enum EntryTraits {
  /** Not stale, no recache token sent: `mg` may be answered by the engine. */
  MetaPlain = 1,
  /** The key arrived base64 encoded. */
  KeyBinary = 2,
}

/** One item as a GET would answer it, for ReadIndex.publish. */
export interface PublishedItem {
  key: string;
  /** The value's bytes with CR LF when it is not a record; copied before publish returns. */
  data: Buffer | null;
  record: RecordHandle | null;
  /** The value's length with its CR LF. */
  dataLength: number;
  flags: number;
  /** Relative expiry second; 0 never. */
  exptime: number;
  cas: number;
  /** Which publication of the item this is; fetch reports name it. */
  serial: number;
  /** The store's number for the item while it is published; fetch reports name it. */
  handle: number;
  /**
   * The serial of the item's publication the index holds, or 0 when it holds none. A
   * republication keeps the handle and key, so the index takes the key from its entry.
   */
  previousSerial: number;
  /** The slab class its hits are counted in. */
  hitClass: number;
  traits: number;
  /** 0 never fetched, 1 fetched, 2 active. */
  fetchState: number;
}

/**
 * The engine's read index (native/src/read_index.h): the store publishes each live item and
 * removes it before the reply to any mutation goes out; the engine answers GET hits from it
 * and reports the fetches and counters back.
 */
export interface ReadIndex {
  publish(item: PublishedItem): void;
  unpublish(key: string): void;
  clear(): void;
  /** flush_all: from this relative second nothing is answered by the engine (0: none due). */
  flushDue(second: number): void;
  /** The store's clock: a manual second, or seconds from `start` counted from a CLOCK_MONOTONIC origin in ns. */
  setClock(manual: number, originNs: number, start: number): void;
  /** Whether the engine answers hits (off while per-prefix stats need to see every GET). */
  setServing(on: boolean): void;
  /**
   * What the engine counted since the last call: [cmd_get, get_hits, 0, bytes_written,
   * requests answered, then hits by slab class id]. Bytes read go with deliveries.
   */
  takeServed(): Float64Array;
  /** Called with each item the engine served: its first two fetches, then at most once a minute (ITEM_UPDATE_INTERVAL). */
  onFetched: ((handle: number, serial: number) => void) | null;
}
