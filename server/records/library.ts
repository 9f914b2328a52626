/*
 * The records API as a library (the package's entry point), for applications that own
 * their connections and broadcast: bring connections in (listen, connect, adopt), hand
 * bytes over once (initRecord), send them to a group of peers with a priority, take back
 * what has not started (unsendRecord), and receive whole messages in a chosen framing.
 *
 * Every backend keeps every promise or refuses: js cannot reorder or take back bytes once
 * handed to a net.Socket, so a priority other than 0 and unsendRecord throw there.
 *
 * What happens to a peer is an event with a code, never an exception: 'backpressure' and
 * 'drain' around the high- and low-water marks of its queued bytes, 'peerError' for a reset,
 * a queue past maxQueuedBytes (the peer is closed) or a message the framing refuses, and
 * 'close' with the reason.
 */

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { RecordcacheError } from '../errors';
import { type Frame, FrameStatus, type Framer } from '../framing';
import { JsRecordsEngine } from './js';
import { type MessageFraming, checkFraming, messageFramer } from './message-framing';
import { KmodRecordsEngine } from './kmod';
import { NativeRecordsEngine } from './native';
import { DEFAULT_NATIVE_OPTIONS } from './native-options';
import { formatAddress } from './shared';
import type {
  BackendName,
  CloseReason,
  EngineHandlers,
  ListenerInfo,
  RecordConnection,
  RecordHandle,
  RecordsEngine,
  RequestBatch,
  Segment,
} from './types';

export type { MessageFraming } from './message-framing';
export type { BackendName, CloseReason, RecordHandle } from './types';

/** An application's own framing (js only): the whole message's length, 0 for "need more", -1 to close. */
export type CustomFramer = (buf: Buffer, start: number, end: number) => number;

export interface OpenOptions {
  /** 'auto' (default): native where its addon loads, else js; kmod only when asked for. */
  backend?: 'auto' | BackendName;
  framing: MessageFraming | CustomFramer;
  /** native: I/O threads (default 1; kmod runs one). */
  threads?: number;
  /** Bytes queued for a peer past which 'backpressure' is emitted (default 1 MiB; 0: never). */
  highWaterMark?: number;
  /** ... and at or below which 'drain' follows (default half the high-water mark). */
  lowWaterMark?: number;
  /** Bytes queued for a peer past which it is closed, with 'peerError' RC_QUEUE_LIMIT (default 64 MiB). */
  maxQueuedBytes?: number;
  /** native, kmod: unwritten bytes past which a peer's own messages are not read until it drains (default 1 MiB). */
  outLimitSoft?: number;
}

export const DEFAULT_HIGH_WATER_MARK = 1 << 20;
export const DEFAULT_MAX_QUEUED_BYTES = 64 << 20;

/** A peer's trouble: its code, and what happened, in words. */
export interface PeerError {
  peer: Peer;
  code: 'RC_PEER_RESET' | 'RC_QUEUE_LIMIT' | 'RC_FRAMING';
  message: string;
}

const PEER_ERRORS: Partial<Record<CloseReason, string>> = {
  RC_PEER_RESET: 'the connection was reset, or its socket failed',
  RC_QUEUE_LIMIT: 'more bytes were queued for the peer than maxQueuedBytes: it was closed',
  RC_FRAMING: 'the peer sent what the framing refuses (a message longer than maxMessage): it was closed',
};

interface OutputLimits {
  high: number;
  low: number;
  max: number;
}

function outputLimits(options: OpenOptions): OutputLimits {
  const high = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK;
  const low = options.lowWaterMark ?? Math.floor(high / 2);
  const max = options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
  for (const [name, value] of [
    ['highWaterMark', high],
    ['lowWaterMark', low],
    ['maxQueuedBytes', max],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${name} must be a byte count, not ${value}`);
  }
  if (low > high) throw new RangeError(`lowWaterMark (${low}) must not be above highWaterMark (${high})`);
  if (max < 1) throw new RangeError('maxQueuedBytes must be at least 1');
  return { high, low, max };
}

/** Errors of the library, with stable codes. */
export class RecordsLibraryError extends RecordcacheError {}

/** A connection of the engine, as the application sees it. */
export class Peer {
  constructor(/** @internal */ readonly conn: RecordConnection) {}
  get id(): number {
    return this.conn.id;
  }
  /** "tcp:127.0.0.1:5000" or "unix:..." */
  get remote(): string {
    return this.conn.remote;
  }
  get local(): string {
    return this.conn.local;
  }
  /** Close once what is queued for it has been written. */
  end(): void {
    this.conn.end();
  }
  /** Close now, dropping what is queued. */
  destroy(): void {
    this.conn.destroy();
  }
}

/** A set of peers that messages go to together. A closed peer leaves its groups. */
export class Group implements Iterable<Peer> {
  private readonly peers = new Set<Peer>();
  /** @internal */ connections: RecordConnection[] | null = null;
  constructor(private readonly owner: Records) {}

  add(peer: Peer): this {
    if (!this.peers.has(peer)) {
      this.peers.add(peer);
      this.connections = null;
      this.owner.track(this);
    }
    return this;
  }
  delete(peer: Peer): boolean {
    this.connections = null;
    return this.peers.delete(peer);
  }
  has(peer: Peer): boolean {
    return this.peers.has(peer);
  }
  get size(): number {
    return this.peers.size;
  }
  [Symbol.iterator](): Iterator<Peer> {
    return this.peers.values();
  }
  /** @internal */
  targets(): RecordConnection[] {
    if (this.connections === null) this.connections = [...this.peers].map((p) => p.conn);
    return this.connections;
  }
}

export interface Message {
  peer: Peer;
  /** The whole message, framing included; the application's to keep. */
  data: Buffer;
}

/** A message's destination: a group, one peer, or any list of peers. */
export type Destination = Group | Peer | Iterable<Peer>;

function customFramer(fn: CustomFramer): Framer {
  return (buf: Buffer, start: number, end: number, out: Frame): Frame => {
    const n = fn(buf, start, end);
    out.swallow = 0;
    out.needed = 0;
    out.length = n > 0 ? n : 0;
    out.status = n > 0 && n <= end - start ? FrameStatus.Whole : n < 0 ? FrameStatus.Close : FrameStatus.NeedMore;
    return out;
  };
}

function openEngine(options: OpenOptions, limits: OutputLimits): RecordsEngine {
  const wanted = options.backend ?? 'auto';
  const custom = typeof options.framing === 'function';
  if (wanted === 'js' || (wanted === 'auto' && (custom || process.platform !== 'linux'))) {
    const engine = new JsRecordsEngine();
    engine.setOutputLimits(limits.high, limits.low, limits.max);
    return engine;
  }
  if (custom) throw new RecordsLibraryError('RC_FRAMING_UNSUPPORTED', 'a framer function runs on the js backend only');
  const nativeOptions = {
    ...DEFAULT_NATIVE_OPTIONS,
    framing: options.framing as MessageFraming,
    priorityWithinConnection: true,
    threads: options.threads ?? 1,
    outLimitSoft: options.outLimitSoft ?? DEFAULT_NATIVE_OPTIONS.outLimitSoft,
    outLimitHard: limits.max,
    outHighWater: limits.high,
    outLowWater: limits.low,
  };
  // The module's absence (no /dev/records) is the engine's error: kmod is never chosen by 'auto'.
  if (wanted === 'kmod') return new KmodRecordsEngine(nativeOptions);
  try {
    return new NativeRecordsEngine(nativeOptions);
  } catch (err) {
    if (wanted === 'native') throw err;
    const engine = new JsRecordsEngine();
    engine.setOutputLimits(limits.high, limits.low, limits.max);
    return engine;
  }
}

/**
 * An engine with its connections. Events: 'connection' (peer), 'message' (message),
 * 'backpressure' (peer): more than highWaterMark bytes are queued for it, once until
 * 'drain' (peer): at or below lowWaterMark again; 'peerError' (PeerError): a reset, a queue
 * past maxQueuedBytes or a message the framing refuses, each closing the peer; 'close'
 * (peer, reason). Messages also come through messages(), an async iterator.
 */
export class Records extends EventEmitter {
  readonly backend: BackendName;
  private readonly engine: RecordsEngine;
  private readonly framer: Framer;
  private started: Promise<ListenerInfo[]> | null = null;
  private readonly waiting = new Map<string, (peer: Peer) => void>();
  private readonly groups = new Set<WeakRef<Group>>();
  private readonly queue: Message[] = [];
  private readers: ((result: IteratorResult<Message>) => void)[] = [];
  private closed = false;
  /** Records released by delRecord: sending them again is refused (RC_RECORD_DELETED). */
  private readonly deleted = new WeakSet<RecordHandle>();

  constructor(options: OpenOptions) {
    super();
    if (typeof options.framing !== 'function') checkFraming(options.framing);
    this.framer = typeof options.framing === 'function' ? customFramer(options.framing) : messageFramer(options.framing);
    this.engine = openEngine(options, outputLimits(options));
    this.backend = this.engine.name;
  }

  /** Accepts connections on a TCP port (0: any free one); resolves with the address. */
  async listen(port: number, host = '127.0.0.1'): Promise<{ address: string; port: number }> {
    const infos = await this.start({ tcp: [{ host, port }] });
    const address = infos[0].address;
    return { address, port: Number(address.slice(address.lastIndexOf(':') + 1)) };
  }

  /** Connects out; resolves with the peer once the engine holds the connection. */
  async connect(port: number, host = '127.0.0.1'): Promise<Peer> {
    const socket = net.connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return this.adopt(socket);
  }

  /** A connected socket of the application's joins the engine; the Socket object is used up. */
  async adopt(socket: net.Socket): Promise<Peer> {
    await this.start(null);
    if (this.engine.adopt === undefined)
      throw new RecordsLibraryError('RC_ADOPT_UNSUPPORTED', `the ${this.backend} backend cannot adopt sockets`);
    if (socket.remoteAddress === undefined || socket.localAddress === undefined) {
      throw new RecordsLibraryError('RC_ADOPT_UNSUPPORTED', 'adopt takes a connected TCP socket');
    }
    const key = `tcp:${formatAddress(socket.remoteAddress, socket.remotePort ?? 0)}|tcp:${formatAddress(socket.localAddress, socket.localPort ?? 0)}`;
    const opened = new Promise<Peer>((resolve) => this.waiting.set(key, resolve));
    this.engine.adopt(socket);
    return opened;
  }

  /** Hands bytes over once; the handle can then go to any number of peers. */
  initRecord(bytes: Buffer): RecordHandle {
    return this.engine.initRecord(bytes);
  }

  /**
   * Releases the handle; sends already queued still go out whole (the engine keeps the bytes
   * until the last of them is written). Sending it again throws RC_RECORD_DELETED.
   */
  delRecord(record: RecordHandle): void {
    this.deleted.add(record);
    this.engine.delRecord(record);
  }

  /** A new, empty group. */
  group(peers: Iterable<Peer> = []): Group {
    const group = new Group(this);
    for (const peer of peers) group.add(peer);
    return group;
  }

  /**
   * Queues a message (a record, or segments of bytes and records) on every peer of `to`,
   * after what each has queued; a higher priority goes before lower ones not yet started.
   */
  sendRecord(message: RecordHandle | readonly Segment[], to: Destination, priority = 0): void {
    if (priority !== 0 && this.backend === 'js') {
      throw new RecordsLibraryError('RC_PRIORITY_UNSUPPORTED', 'the js backend writes in order; priorities need native');
    }
    if (!Number.isInteger(priority) || priority < -(2 ** 31) || priority >= 2 ** 31)
      throw new RangeError(`priority must be a 32-bit integer, not ${priority}`);
    const segments = Array.isArray(message) ? (message as readonly Segment[]) : [message as RecordHandle];
    for (const segment of segments) {
      if (!Buffer.isBuffer(segment) && this.deleted.has(segment.record))
        throw new RecordsLibraryError('RC_RECORD_DELETED', 'sendRecord of a record released by delRecord');
    }
    this.engine.sendRecord(segments, targets(to), priority);
  }

  /** Drops sends of `record` to `to` that have not started; returns how many. */
  unsendRecord(record: RecordHandle, to: Destination): number {
    if (this.backend === 'js')
      throw new RecordsLibraryError('RC_UNSEND_UNSUPPORTED', 'the js backend cannot take back bytes handed to a socket');
    return this.engine.unsendRecord(record, targets(to));
  }

  /** Whole messages as they arrive, until close(). */
  messages(): AsyncIterableIterator<Message> {
    const next = (): Promise<IteratorResult<Message>> => {
      const message = this.queue.shift();
      if (message !== undefined) return Promise.resolve({ value: message, done: false });
      if (this.closed) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve) => this.readers.push(resolve));
    };
    const iterator: AsyncIterableIterator<Message> = {
      next,
      [Symbol.asyncIterator]: () => iterator,
    };
    this.iterating = true;
    return iterator;
  }
  private iterating = false;

  /** Closes every connection (after what is queued is written) and the engine. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.engine.stopListening();
    await this.engine.drain(1000);
    for (const reader of this.readers) reader({ value: undefined, done: true });
    this.readers = [];
    (this.engine as { close?: () => void }).close?.();
  }

  /** @internal A group that may hold peers: closed peers are taken out of it. */
  track(group: Group): void {
    for (const ref of this.groups) if (ref.deref() === group) return;
    this.groups.add(new WeakRef(group));
  }

  private start(listen: { tcp: { host: string; port: number }[] } | null): Promise<ListenerInfo[]> {
    const handlers: EngineHandlers = {
      onOpen: (conn) => {
        const peer = new Peer(conn);
        conn.state = peer;
        const resolve = this.waiting.get(`${conn.remote}|${conn.local}`);
        if (resolve !== undefined) {
          this.waiting.delete(`${conn.remote}|${conn.local}`);
          resolve(peer);
        } else {
          this.emit('connection', peer);
        }
        return null;
      },
      framerFor: () => this.framer,
      onRequests: (conn, batch) => this.deliver(conn.state as Peer, batch),
      onClose: (conn, reason = 'RC_CLOSED') => {
        const peer = conn.state as Peer;
        for (const ref of this.groups) {
          const group = ref.deref();
          if (group === undefined) this.groups.delete(ref);
          else group.delete(peer);
        }
        const problem = PEER_ERRORS[reason];
        if (problem !== undefined) this.emit('peerError', { peer, code: reason, message: problem } as PeerError);
        this.emit('close', peer, reason);
      },
      onOutput: (conn, over) => this.emit(over ? 'backpressure' : 'drain', conn.state as Peer),
      onBytesRead: () => undefined,
      onBytesWritten: () => undefined,
    };
    if (listen !== null) {
      return this.engine.listen({ tcp: listen.tcp, unix: null, backlog: 1024 }, handlers);
    }
    if (this.started === null) this.started = this.engine.listen({ tcp: [], unix: null, backlog: 1024 }, handlers);
    return this.started;
  }

  private deliver(peer: Peer, batch: RequestBatch): number {
    for (let i = 0; i < batch.count; i++) {
      // A copy: the batch's bytes belong to the engine once this returns.
      const data = Buffer.from(batch.buf.subarray(batch.starts[i], batch.starts[i] + batch.lengths[i]));
      const message = { peer, data };
      this.emit('message', message);
      const reader = this.readers.shift();
      if (reader !== undefined) reader({ value: message, done: false });
      // Kept for messages() when it is iterated, or will be: a peer may send before the
      // application has called it (connect() resolves after the first bytes can arrive).
      else if (this.iterating || this.listenerCount('message') === 0) this.queue.push(message);
    }
    return batch.count;
  }
}

function targets(to: Destination): readonly RecordConnection[] {
  if (to instanceof Group) return to.targets();
  if (to instanceof Peer) return [to.conn];
  return [...to].map((p) => p.conn);
}

/** Opens an engine: `openRecords({ framing: { kind: 'length', width: 4 } })`. */
export function openRecords(options: OpenOptions): Records {
  return new Records(options);
}
