/*
 * The records API as a library (the package's entry point), for applications that own
 * their connections and broadcast: bring connections in (listen, connect, adopt), hand
 * bytes over once (initRecord), send them to a group of peers with a priority, take back
 * what has not started (unsendRecord), and receive whole messages in a chosen framing.
 *
 * Every backend keeps every promise or refuses: js cannot reorder or take back bytes once
 * handed to a net.Socket, so a priority other than 0 and unsendRecord throw there.
 */

import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { RecordcacheError } from '../errors';
import { type Frame, FrameStatus, type Framer } from '../framing';
import { JsRecordsEngine } from './js';
import { type MessageFraming, checkFraming, messageFramer } from './message-framing';
import { DEFAULT_NATIVE_OPTIONS, NativeRecordsEngine } from './native';
import { formatAddress } from './shared';
import type {
  BackendName,
  EngineHandlers,
  ListenerInfo,
  RecordConnection,
  RecordHandle,
  RecordsEngine,
  RequestBatch,
  Segment,
} from './types';

export type { MessageFraming } from './message-framing';
export type { BackendName, RecordHandle } from './types';

/** An application's own framing (js only): the whole message's length, 0 for "need more", -1 to close. */
export type CustomFramer = (buf: Buffer, start: number, end: number) => number;

export interface OpenOptions {
  /** 'auto' (default): native where its addon loads, else js. kmod frames memcached only. */
  backend?: 'auto' | BackendName;
  framing: MessageFraming | CustomFramer;
  /** native: I/O threads (default 1). */
  threads?: number;
  /** native: unwritten bytes past which a peer's messages wait, and past which it is closed. */
  outLimitSoft?: number;
  outLimitHard?: number;
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

function openEngine(options: OpenOptions): RecordsEngine {
  const wanted = options.backend ?? 'auto';
  const custom = typeof options.framing === 'function';
  if (wanted === 'kmod') {
    throw new RecordsLibraryError('RC_FRAMING_UNSUPPORTED', 'the kmod backend frames memcached requests only; use native or js');
  }
  if (wanted === 'js' || (wanted === 'auto' && (custom || process.platform !== 'linux'))) return new JsRecordsEngine();
  if (custom) throw new RecordsLibraryError('RC_FRAMING_UNSUPPORTED', 'a framer function runs on the js backend only');
  try {
    return new NativeRecordsEngine({
      ...DEFAULT_NATIVE_OPTIONS,
      framing: options.framing as MessageFraming,
      priorityWithinConnection: true,
      threads: options.threads ?? 1,
      outLimitSoft: options.outLimitSoft ?? DEFAULT_NATIVE_OPTIONS.outLimitSoft,
      outLimitHard: options.outLimitHard ?? DEFAULT_NATIVE_OPTIONS.outLimitHard,
    });
  } catch (err) {
    if (wanted === 'native') throw err;
    return new JsRecordsEngine();
  }
}

/**
 * An engine with its connections. Events: 'connection' (peer), 'message' (message), 'close'
 * (peer). Messages also come through messages(), an async iterator.
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

  constructor(options: OpenOptions) {
    super();
    if (typeof options.framing !== 'function') checkFraming(options.framing);
    this.framer = typeof options.framing === 'function' ? customFramer(options.framing) : messageFramer(options.framing);
    this.engine = openEngine(options);
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

  /** Releases the handle; sends already queued still go out whole. */
  delRecord(record: RecordHandle): void {
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
      onClose: (conn) => {
        const peer = conn.state as Peer;
        for (const ref of this.groups) {
          const group = ref.deref();
          if (group === undefined) this.groups.delete(ref);
          else group.delete(peer);
        }
        this.emit('close', peer);
      },
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
