/*
 * The native records backend: a C++ addon (native/) owns the sockets on its own I/O thread,
 * frames requests natively, and hands this class batches of whole requests from many
 * connections in one call; replies go back as segments (bytes and record slices) that the
 * I/O thread writes with writev, and large records with sendfile from a sealed memfd so
 * every socket references the same pages.
 *
 * This side of the boundary batches too: everything JS asks of the addon during one
 * delivery (replies, completions, closes, record releases) is encoded into one Int32Array
 * and one Buffer and handed over in a single call when the delivery has been handled.
 */

import * as dns from 'node:dns/promises';
import * as fs from 'node:fs';
import * as net from 'node:net';
import {
  type DeliveryHandler,
  type NativeEngineHandle,
  type RecordStats,
  closeReason,
  loadNativeBinding,
  systemError,
  wire,
} from './native-addon';
import {
  AddressNames,
  ConnFlag,
  type NativeConnection,
  type NativeConnectionClass,
  NativeRecord,
  type SlotOperations,
  connectionClass,
} from './native-connection';
import { DRAIN_GRACE_MS, IdPool, formatAddress, removeStaleSocket } from './shared';
import { DEFAULT_NATIVE_OPTIONS, type NativeEngineOptions } from './native-options';
import { NativeReadIndex } from './native-read-index';
import { nativeFramingOptions } from './message-framing';
import type {
  EngineHandlers,
  ListenOptions,
  ListenerInfo,
  RecordConnection,
  RecordHandle,
  RecordsEngine,
  RequestBatch,
  Segment,
} from './types';

/**
 * Which engine the addon runs: 'kmod' attaches TCP connections to the records kernel module
 * (kmod.ts); the rest of this class is the same for both.
 */
export type AddonBackend = 'native' | 'kmod';

export class NativeRecordsEngine implements RecordsEngine, SlotOperations {
  readonly name: AddonBackend;
  readonly initCopies = true;
  private readonly native: NativeEngineHandle;
  private handlers: EngineHandlers | null = null;
  /** The HTTP listener's connections' handlers (listenHttp). */
  private httpHandlers: EngineHandlers | null = null;
  /** Every connection JS has seen open and not close, refused ones included, by the addon's slot. */
  private readonly bySlot: (NativeConnection | undefined)[] = [];
  private readonly Connection: NativeConnectionClass = connectionClass(this);
  private readonly addresses = new AddressNames();
  /** Connections the addon has and JS has not seen close (open and refused ones). */
  private liveSlots = 0;
  private listening = false;
  /** Sockets handed to adopt() whose open the engine has not reported yet. */
  private adopting = 0;
  private referenced = false;
  private readonly ids = new IdPool();
  private readonly batch: RequestBatch = {
    buf: Buffer.alloc(0),
    starts: [],
    lengths: [],
    count: 0,
    firstCompletesData: false,
    closes: false,
    keyHints: [],
  };
  private drainWaiters: (() => void)[] = [];
  private disposed = false;

  // The outbox: operations and reply bytes gathered until the next submit.
  private bytes = Buffer.allocUnsafe(64 * 1024);
  private bytesLength = 0;
  private ops = new Int32Array(4096);
  private opsLength = 0;
  // The last op queued, when it was an unpublish: where it starts and ends, and its key.
  private unpublishStart = -1;
  private unpublishEnd = -1;
  private unpublishBytes = 0;
  private unpublishKey = '';
  private pendingDeletes: NativeRecord[] = [];
  private inDelivery = false;
  private flushScheduled = false;
  private readonly flushNow = (): void => this.flush();

  /** `backend` is for KmodRecordsEngine; the native engine is made with the options alone. */
  constructor(options: NativeEngineOptions = DEFAULT_NATIVE_OPTIONS, backend: AddonBackend = 'native') {
    const { NativeEngine } = loadNativeBinding();
    this.name = backend;
    const protocol = options.protocol === 'ascii' ? 1 : options.protocol === 'binary' ? 2 : 0;
    const framing = options.framing === undefined ? { protocol } : nativeFramingOptions(options.framing);
    // The server copies what it keeps of a request, so the addon may free large request
    // Buffers as soon as a delivery is handled; the library's messages are the application's.
    const releaseDeliveries = options.framing === undefined;
    this.native = new NativeEngine({ ...options, ...framing, kmod: backend === 'kmod', releaseDeliveries }, (...delivery) =>
      this.onDelivery(...delivery),
    );
    this.readIndex = new NativeReadIndex(this, this.native);
    this.ioThreads = backend === 'kmod' ? 1 : Math.max(1, options.threads ?? 1);
  }

  readonly ioThreads: number;

  readonly readIndex: NativeReadIndex;
  /** Requests the engine answered from the read index since it started, and the hits among them. */
  servedRequests = 0;
  servedHits = 0;

  /** Counters of the records the engine holds, for `stats`. */
  recordStats(): RecordStats {
    return this.native.recordStats();
  }

  recordCounters(): [string, number][] {
    return this.countersOf(this.native.recordStats());
  }

  /** The `records_*` lines of `stats` from the addon's counters. */
  protected countersOf(s: RecordStats): [string, number][] {
    return [
      ['records_created', s.created],
      ['records_live', s.live],
      ['records_bytes', s.bytes],
      ['records_memfd', s.memfd],
      ['records_sends', s.sends],
      ['records_sends_completed', s.sendsCompleted],
      ['records_deliveries', s.deliveries],
      ['records_delivered_requests', s.deliveredRequests],
      ['records_index_served', this.servedRequests],
      ['records_index_hits', this.servedHits],
    ];
  }

  initRecord(bytes: Buffer): RecordHandle {
    return new NativeRecord(this.native.initRecord(bytes), bytes.length);
  }

  readRecord(record: RecordHandle): Buffer {
    return this.native.readRecord((record as NativeRecord).id);
  }

  delRecord(record: RecordHandle): void {
    const handle = record as NativeRecord;
    if (handle.deleted) return;
    handle.deleted = true;
    // Replies already built in this turn may still name it: released after they are queued.
    this.pendingDeletes.push(handle);
    this.scheduleFlush();
  }

  sendRecord(message: readonly Segment[], group: readonly RecordConnection[], priority = 0): void {
    if (message.length === 0) return;
    const head = this.opsLength;
    const bytesHead = this.bytesLength;
    this.reserveOps(4 + message.length * 3 + group.length);
    const ops = this.ops;
    let at = head + 4;
    let total = 0;
    for (const segment of message) {
      const length = segment.length;
      if (Buffer.isBuffer(segment)) {
        this.reserveBytes(length);
        ops[at] = -1;
        ops[at + 1] = this.bytesLength;
        if (length > 0) segment.copy(this.bytes, this.bytesLength);
        this.bytesLength += length;
      } else {
        const handle = segment.record as NativeRecord;
        if (handle.id < 0) {
          this.opsLength = head;
          this.bytesLength = bytesHead;
          throw new Error('sendRecord: the record was released by delRecord');
        }
        ops[at] = handle.id;
        ops[at + 1] = segment.offset;
      }
      ops[at + 2] = length;
      at += 3;
      total += length;
    }
    let targets = 0;
    for (const target of group) {
      const conn = target as NativeConnection;
      if (conn.closed) continue;
      ops[at++] = conn.slot;
      targets++;
      this.handlers?.onBytesWritten(total);
    }
    if (targets === 0) {
      this.opsLength = head;
      this.bytesLength = bytesHead;
      return;
    }
    ops[head] = wire.ops.send;
    ops[head + 1] = priority | 0;
    ops[head + 2] = message.length;
    ops[head + 3] = targets;
    this.opsLength = at;
    this.scheduleFlush();
  }

  unsendRecord(record: RecordHandle, group: readonly RecordConnection[]): number {
    const handle = record as NativeRecord;
    if (handle.id < 0 || group.length === 0) return 0;
    // Sends still in the outbox must reach the addon first to be found there; releases wait,
    // so a record deleted in this turn can still be unsent.
    this.flush(false);
    const slots = new Int32Array(group.length);
    let count = 0;
    for (const target of group) {
      const conn = target as NativeConnection;
      if (!conn.closed) slots[count++] = conn.slot;
    }
    return count === 0 ? 0 : this.native.unsend(handle.id, slots, count);
  }

  async listen(options: ListenOptions, handlers: EngineHandlers): Promise<ListenerInfo[]> {
    this.handlers = handlers;
    const infos: ListenerInfo[] = [];
    if (options.unix !== null) {
      const { path: socketPath, mode } = options.unix;
      removeStaleSocket(socketPath);
      const result = this.native.listenUnix(socketPath, options.backlog);
      if ('errno' in result) throw systemError(result, socketPath);
      fs.chmodSync(socketPath, mode);
      infos.push({ address: `unix:${socketPath}`, id: this.ids.take() });
    }
    for (const { host, port, tls } of options.tcp) {
      // TLS is not done in the addon; records/composite.ts gives TLS listeners to the js engine.
      if (tls) throw new Error(`the ${this.name} records engine cannot serve TLS listeners`);
      // memcached -l takes names too; the addon binds numeric addresses.
      const numeric = host === null ? '' : net.isIP(host) !== 0 ? host : (await dns.lookup(host)).address;
      const result = this.native.listenTcp(numeric, port, options.backlog);
      if ('errno' in result) throw systemError(result, `${host === null ? '::' : host}:${port}`);
      infos.push({ address: `tcp:${formatAddress(result.address, result.port)}`, id: this.ids.take() });
    }
    this.listening = true;
    this.updateRef();
    return infos;
  }

  /**
   * An HTTP/1.1 listener (-o http_port) whose connections the engine owns: it parses their
   * requests with llhttp and answers GET and HEAD hits itself; `handlers` get the rest.
   * Returns the address, "http:host:port".
   */
  async listenHttp(host: string | null, port: number, backlog: number, settings: object, handlers: EngineHandlers): Promise<string> {
    this.httpHandlers = handlers;
    const numeric = host === null ? '' : net.isIP(host) !== 0 ? host : (await dns.lookup(host)).address;
    const result = this.native.listenTcp(numeric, port, backlog, settings);
    if ('errno' in result) throw systemError(result, `${host === null ? '::' : host}:${port}`);
    this.listening = true;
    this.updateRef();
    return `http:${formatAddress(result.address, result.port)}`;
  }

  takeHttpServed(): Float64Array {
    return this.native.takeHttpServed();
  }

  /**
   * A connected socket joins the engine as if accepted (the records library): the engine
   * takes a duplicate of its descriptor and the socket given is destroyed. Adopt a socket
   * before it has read anything; bytes Node already read are not seen by the engine.
   */
  adopt(socket: net.Socket): void {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0) throw new TypeError('adopt needs a connected net.Socket with a descriptor');
    if (this.handlers === null) throw new Error('adopt before listen: the engine has no handlers yet');
    socket.pause();
    const result = this.native.adopt(fd);
    if ('errno' in result) throw systemError(result, 'adopt');
    this.adopting++;
    this.updateRef();
    socket.destroy();
  }

  async stopListening(): Promise<void> {
    if (this.disposed) return;
    this.native.stopListening();
    this.listening = false;
    this.updateRef();
  }

  *connections(): Iterable<RecordConnection> {
    for (const conn of this.bySlot) if (conn !== undefined && (conn.flags & (ConnFlag.Refused | ConnFlag.Http)) === 0) yield conn;
  }

  async drain(graceMs = DRAIN_GRACE_MS): Promise<void> {
    if (this.liveSlots === 0 || this.disposed) return;
    const done = new Promise<void>((resolve) => this.drainWaiters.push(resolve));
    // Each connection answers what it has received, reads no more, then closes.
    this.reserveOps(1);
    this.ops[this.opsLength++] = wire.ops.drain;
    this.flush();
    // A client that never reads would hold its replies, and the server, forever.
    const timer = setTimeout(() => {
      this.reserveOps(1);
      this.ops[this.opsLength++] = wire.ops.destroyAll;
      this.flush();
    }, graceMs);
    await done;
    clearTimeout(timer);
  }

  /** Stops the I/O thread and closes every socket at once; the engine cannot be used again. */
  close(): void {
    if (this.disposed) return;
    this.flush();
    this.disposed = true;
    this.native.dispose();
    for (const conn of this.bySlot) if (conn !== undefined) conn.flags |= ConnFlag.Closed;
    this.bySlot.length = 0;
    this.liveSlots = 0;
    for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /** end()/destroy() of a connection, in order with its replies. */
  queueClose(conn: NativeConnection, op: number): void {
    this.queueSlotOp(conn, op);
  }

  /** An operation on one connection, in order with its replies. */
  queueSlotOp(conn: NativeConnection, op: number): void {
    if (this.disposed) return;
    this.reserveOps(2);
    this.ops[this.opsLength++] = op;
    this.ops[this.opsLength++] = conn.slot;
    this.scheduleFlush();
  }

  /** The addon's delivery (native-addon.ts DeliveryHandler says what each part is). */
  private onDelivery(...[events, strings, shared, own, starts, lengths, fetched, bytesRead, keyHints]: Parameters<DeliveryHandler>): void {
    const handlers = this.handlers;
    if (handlers === null || this.disposed) return;
    this.inDelivery = true;
    try {
      if (bytesRead > 0) handlers.onBytesRead(bytesRead);
      if (keyHints.length > 0 && handlers.onKeyHints !== undefined) handlers.onKeyHints(keyHints);
      const onFetched = this.readIndex.onFetched;
      if (fetched !== null && onFetched !== null) {
        for (let k = 0; k < fetched.length; k += 2) onFetched(fetched[k], fetched[k + 1]);
      }
      let request = 0;
      for (let i = 0; i < events.length; ) {
        switch (events[i]) {
          case wire.events.open:
            this.opened(handlers, events[i + 1], (strings as string[])[events[i + 2]], (strings as string[])[events[i + 3]], 0);
            i += 4;
            break;
          case wire.events.openHttp:
            this.opened(
              this.httpHandlers ?? handlers,
              events[i + 1],
              (strings as string[])[events[i + 2]],
              (strings as string[])[events[i + 3]],
              ConnFlag.Http | ConnFlag.Framed,
            );
            i += 4;
            break;
          case wire.events.requests: {
            const count = events[i + 2];
            const index = events[i + 4];
            this.requests(
              handlers,
              events[i + 1],
              count,
              events[i + 3],
              index < 0 ? shared : own[index],
              starts,
              lengths,
              keyHints,
              request,
            );
            request += count;
            i += 5;
            break;
          }
          case wire.events.output: {
            const conn = this.bySlot[events[i + 1]];
            if (conn !== undefined && !conn.refused) handlers.onOutput?.(conn, events[i + 2] === 1);
            i += 3;
            break;
          }
          default:
            this.closedBySlot(handlers, events[i + 1], events[i + 2]);
            i += 3;
            break;
        }
      }
    } finally {
      this.inDelivery = false;
      this.flush();
    }
  }

  private opened(handlers: EngineHandlers, slot: number, remote: string, local: string, flags: number): void {
    if (this.adopting > 0 && flags === 0) this.adopting--;
    const conn = this.addresses.connection(this.Connection, slot, this.ids.take(), remote, local);
    conn.flags |= flags;
    this.bySlot[slot] = conn;
    this.liveSlots++;
    this.updateRef();
    const refusal = handlers.onOpen(conn);
    if (refusal === null) return;
    conn.flags |= ConnFlag.Refused;
    this.ids.release(conn.id);
    const head = this.opsLength;
    this.reserveOps(8);
    this.reserveBytes(refusal.length);
    // One send (priority 0, one segment of bytes, to one slot): the refusal line.
    this.ops.set([wire.ops.send, 0, 1, 1, -1, this.bytesLength, refusal.length, slot], head);
    refusal.copy(this.bytes, this.bytesLength);
    this.bytesLength += refusal.length;
    this.opsLength = head + 8;
    conn.end();
  }

  private requests(
    memcachedHandlers: EngineHandlers,
    slot: number,
    count: number,
    flags: number,
    buf: Buffer,
    starts: Int32Array,
    lengths: Int32Array,
    keyHints: Int32Array,
    first: number,
  ): void {
    const conn = this.bySlot[slot];
    const handlers =
      conn !== undefined && (conn.flags & ConnFlag.Http) !== 0 && this.httpHandlers !== null ? this.httpHandlers : memcachedHandlers;
    let handled = count;
    if (conn !== undefined && (conn.flags & (ConnFlag.Refused | ConnFlag.Closing | ConnFlag.Closed)) === 0) {
      if (!conn.framed) {
        // The addon frames and chose the protocol; framerFor sets up the connection's state for it.
        conn.flags |= ConnFlag.Framed;
        handlers.framerFor(conn, buf[starts[first]], (flags & wire.batchFlags.binary) !== 0 ? 'binary' : 'text');
      }
      const batch = this.batch;
      batch.buf = buf;
      batch.count = count;
      batch.firstCompletesData = (flags & wire.batchFlags.completesData) !== 0;
      batch.closes = (flags & wire.batchFlags.closes) !== 0;
      const batchStarts = batch.starts;
      const batchLengths = batch.lengths;
      const batchKeyHints = batch.keyHints as number[];
      for (let k = 0; k < count; k++) {
        batchStarts[k] = starts[first + k];
        batchLengths[k] = lengths[first + k];
        batchKeyHints[2 * k] = keyHints[2 * (first + k)];
        batchKeyHints[2 * k + 1] = keyHints[2 * (first + k) + 1];
      }
      handled = handlers.onRequests(conn, batch);
      batch.buf = EMPTY;
    }
    this.reserveOps(3);
    const ops = this.ops;
    ops[this.opsLength++] = wire.ops.complete;
    ops[this.opsLength++] = slot;
    ops[this.opsLength++] = handled;
  }

  private closedBySlot(handlers: EngineHandlers, slot: number, reason: number): void {
    const conn = this.bySlot[slot];
    this.reserveOps(2);
    this.ops[this.opsLength++] = wire.ops.ackClose;
    this.ops[this.opsLength++] = slot;
    if (conn === undefined) return;
    this.bySlot[slot] = undefined;
    conn.flags |= ConnFlag.Closed;
    this.liveSlots--;
    if (!conn.refused) {
      this.ids.release(conn.id);
      ((conn.flags & ConnFlag.Http) !== 0 && this.httpHandlers !== null ? this.httpHandlers : handlers).onClose(conn, closeReason(reason));
    }
    this.updateRef();
    if (this.liveSlots === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  private scheduleFlush(): void {
    if (this.inDelivery || this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(this.flushNow);
  }

  private flush(withReleases = true): void {
    if (withReleases) this.flushScheduled = false;
    if (this.disposed) {
      this.opsLength = 0;
      this.bytesLength = 0;
      this.pendingDeletes.length = 0;
      return;
    }
    if (withReleases && this.pendingDeletes.length > 0) {
      this.reserveOps(this.pendingDeletes.length * 2);
      for (const handle of this.pendingDeletes) {
        this.ops[this.opsLength++] = wire.ops.delete;
        this.ops[this.opsLength++] = handle.id;
        handle.id = -1;
      }
      this.pendingDeletes.length = 0;
    }
    if (this.opsLength === 0) return;
    const length = this.opsLength;
    this.opsLength = 0;
    this.bytesLength = 0;
    this.unpublishEnd = -1;
    this.native.submit(this.bytes, this.ops, length);
  }

  /** A read index change, in order with the replies around it (engine_binding.cc ApplyIndexOp). */
  queueIndexOp(op: number, lead: number | null, key: string | null, data: Buffer | null, words: readonly number[]): void {
    if (this.disposed) return;
    // An overwrite unpublishes the old item, then publishes the new one under the same key:
    // the publication alone replaces the entry, so the removal just queued is taken back.
    if (op === wire.ops.publish && this.opsLength === this.unpublishEnd && key === this.unpublishKey) {
      this.opsLength = this.unpublishStart;
      this.bytesLength = this.unpublishBytes;
    }
    this.unpublishEnd = -1;
    const opsStart = this.opsLength;
    const bytesStart = this.bytesLength;
    const keyLength = key === null ? 0 : key.length;
    const dataLength = data === null ? 0 : data.length;
    // Bytes (offset and key length, then the key and data) go with a key, and always with a
    // publication, whose key length 0 means the key the index has under the item's handle.
    const withBytes = key !== null || op === wire.ops.publish;
    this.reserveOps(2 + words.length + (withBytes ? 2 : 0));
    this.reserveBytes(keyLength + dataLength);
    const ops = this.ops;
    ops[this.opsLength++] = op;
    if (lead !== null) ops[this.opsLength++] = lead;
    if (withBytes) {
      ops[this.opsLength++] = this.bytesLength;
      ops[this.opsLength++] = keyLength;
      if (key !== null) {
        this.bytes.write(key, this.bytesLength, 'latin1');
        this.bytesLength += keyLength;
      }
      if (data !== null) {
        data.copy(this.bytes, this.bytesLength);
        this.bytesLength += dataLength;
      }
    }
    for (let i = 0; i < words.length; i++) ops[this.opsLength++] = words[i];
    if (op === wire.ops.unpublish) {
      this.unpublishStart = opsStart;
      this.unpublishEnd = this.opsLength;
      this.unpublishBytes = bytesStart;
      this.unpublishKey = key as string;
    }
    this.scheduleFlush();
  }

  private reserveOps(words: number): void {
    if (this.opsLength + words <= this.ops.length) return;
    const grown = new Int32Array(Math.max(this.ops.length * 2, this.opsLength + words));
    grown.set(this.ops.subarray(0, this.opsLength));
    this.ops = grown;
  }

  private reserveBytes(n: number): void {
    if (this.bytesLength + n <= this.bytes.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.bytesLength + n));
    this.bytes.copy(grown, 0, 0, this.bytesLength);
    this.bytes = grown;
  }

  /** The addon's deliveries keep Node running only while something can still arrive. */
  private updateRef(): void {
    const wanted = this.listening || this.liveSlots > 0 || this.adopting > 0;
    if (wanted === this.referenced || this.disposed) return;
    this.referenced = wanted;
    if (wanted) this.native.ref();
    else this.native.unref();
  }
}

const EMPTY = Buffer.alloc(0);
