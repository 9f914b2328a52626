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
import * as path from 'node:path';
import { getSystemErrorMap } from 'node:util';
import type { Protocol } from '../config';
import { EngineUnavailableError } from '../errors';
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

/** How long a stopping server waits for clients to take their replies (as the js backend). */
const DRAIN_GRACE_MS = 5000;
/** Default -o out_limit_soft: past this much unwritten output a connection's requests wait. */
export const DEFAULT_OUT_LIMIT_SOFT = 1024 * 1024;
/** Default -o out_limit_hard: past this much unwritten output a connection is closed. */
export const DEFAULT_OUT_LIMIT_HARD = 256 * 1024 * 1024;

/**
 * The numbers of the addon's wire: operations JS submits, events it delivers, and a batch's
 * flags. The addon defines them (native/src/addon.cc, engine.h) and exports them as `wire`;
 * they are read from it when it loads, so they are written down once.
 */
export interface WireNumbers {
  ops: {
    send: number;
    complete: number;
    end: number;
    destroy: number;
    ackClose: number;
    delete: number;
    drain: number;
    destroyAll: number;
    authenticated: number;
  };
  events: { open: number; requests: number; close: number };
  batchFlags: { completesData: number; closes: number; binary: number };
}

/** Set when the addon loads (loadNativeBinding); no engine exists before. */
let wire: WireNumbers;

/** The addon's wire numbers, each present and a distinct positive integer in its group. */
function checkWire(numbers: WireNumbers | undefined): WireNumbers {
  const expected: { [G in keyof WireNumbers]: (keyof WireNumbers[G])[] } = {
    ops: ['send', 'complete', 'end', 'destroy', 'ackClose', 'delete', 'drain', 'destroyAll', 'authenticated'],
    events: ['open', 'requests', 'close'],
    batchFlags: ['completesData', 'closes', 'binary'],
  };
  for (const [group, names] of Object.entries(expected) as [keyof WireNumbers, string[]][]) {
    const values = names.map((name) => (numbers?.[group] as Record<string, unknown> | undefined)?.[name]);
    if (!values.every((v) => Number.isInteger(v) && (v as number) > 0) || new Set(values).size !== values.length) {
      throw new EngineUnavailableError(`the native addon's wire numbers are missing or clash (${group}): rebuild it with npm install`);
    }
  }
  return numbers as WireNumbers;
}

export interface NativeEngineOptions {
  protocol: Protocol;
  itemSizeMax: number;
  casEnabled: boolean;
  slabChunkMax: number;
  sasl: boolean;
  /** Seconds without traffic before a connection is closed; 0 never. */
  idleTimeoutSeconds: number;
  outLimitSoft: number;
  outLimitHard: number;
  /** Records at least this long go into a sealed memfd; the addon's measured default when omitted. */
  memfdThreshold?: number;
  /** TCP_NOTSENT_LOWAT of every TCP connection; the addon's default when omitted, 0 for the kernel's. */
  notSentLowat?: number;
  /**
   * The kmod backend: TCP connections are attached to the records kernel module
   * (/dev/records), which frames their requests and sends their replies and records.
   */
  kmod?: boolean;
  /** -Y: text connections authenticate before anything else (protocol/auth.ts). */
  asciiAuth?: boolean;
}

export const DEFAULT_NATIVE_OPTIONS: NativeEngineOptions = {
  protocol: 'auto',
  itemSizeMax: 1024 * 1024,
  casEnabled: true,
  slabChunkMax: 512 * 1024,
  sasl: false,
  idleTimeoutSeconds: 0,
  outLimitSoft: DEFAULT_OUT_LIMIT_SOFT,
  outLimitHard: DEFAULT_OUT_LIMIT_HARD,
};

/** Counters of the records the engine holds (for `stats`). */
export interface RecordStats {
  /** Records made by initRecord since start. */
  created: number;
  /** Records not yet released: by delRecord and by every send that referenced them. */
  live: number;
  /** Bytes of the live records. */
  bytes: number;
  /** Live records kept in a sealed memfd (sent with sendfile). */
  memfd: number;
  /** kmod backend: live records with a copy in the records kernel module. */
  kernel: number;
  /** kmod backend: connections attached to the module, and ones it refused (served by the engine). */
  kernelConnections: number;
  kernelRefused: number;
  /** Record slices queued on a connection (one per connection per slice). */
  sends: number;
  /** Of those, the ones written in full. */
  sendsCompleted: number;
  /** Calls the I/O thread made into JS with requests. */
  deliveries: number;
  /** Requests those calls carried (deliveredRequests / deliveries: requests per call). */
  deliveredRequests: number;
}

interface NativeErrno {
  errno: number;
  syscall: string;
}

type DeliveryHandler = (
  events: Int32Array,
  strings: string[] | null,
  shared: Buffer,
  own: Buffer[],
  starts: Int32Array,
  lengths: Int32Array,
  bytesRead: number,
) => void;

interface NativeEngineHandle {
  initRecord(bytes: Buffer): number;
  readRecord(id: number): Buffer;
  submit(bytes: Buffer, ops: Int32Array, opsLength: number): void;
  unsend(recordId: number, slots: Int32Array, count: number): number;
  listenTcp(host: string, port: number, backlog: number): { address: string; port: number } | NativeErrno;
  listenUnix(path: string, backlog: number): { path: string } | NativeErrno;
  stopListening(): void;
  ref(): void;
  unref(): void;
  recordStats(): RecordStats;
  dispose(): void;
}

export interface NativeBinding {
  NativeEngine: new (options: object, onDelivery: DeliveryHandler) => NativeEngineHandle;
  memfdRecordThreshold: number;
  wire: WireNumbers;
  /**
   * The engine's framer alone (for tests; kmod/records_parse.c rp_measure):
   * [status, length, swallow, needed] as frameText (proto 1), frameBinary (2) and
   * frameAuth (3) give them.
   */
  frame(
    bytes: Buffer,
    proto: number,
    itemSizeMax: number,
    casEnabled: number,
    slabChunkMax: number,
    sasl: number,
  ): [number, number, number, number];
  /** The engine's protocol choice alone (for tests; rp_choose): -B 0 auto, 1 ascii, 2 binary -> 1 text, 2 binary. */
  chooseProtocol(choice: number, firstByte: number): number;
}

const ADDON_FILE = path.join('native', 'build', 'Release', 'recordcache_native.node');

let binding: NativeBinding | null = null;

/**
 * Loads the addon (once); throws an Error saying why it cannot be used here.
 * RECORDCACHE_NATIVE_ADDON names another build to load (the sanitizer build of the tests).
 */
export function loadNativeBinding(): NativeBinding {
  if (binding !== null) return binding;
  if (process.platform !== 'linux') throw new EngineUnavailableError(`the native records engine needs Linux (this is ${process.platform})`);
  const override = process.env.RECORDCACHE_NATIVE_ADDON;
  if (override !== undefined && override !== '') {
    binding = require(path.resolve(override)) as NativeBinding;
    wire = checkWire(binding.wire);
    return binding;
  }
  // server/records/ under tsx, dist/server/records/ once compiled: look upwards for the package.
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, ADDON_FILE);
    if (fs.existsSync(candidate)) {
      binding = require(candidate) as NativeBinding;
      wire = checkWire(binding.wire);
      return binding;
    }
    dir = path.dirname(dir);
  }
  throw new EngineUnavailableError(`${ADDON_FILE} is not built (npm install builds it with node-gyp)`);
}

export class NativeRecord implements RecordHandle {
  readonly offset = 0;
  /** Released by delRecord; the id stays usable until the release reaches the addon. */
  deleted = false;
  constructor(
    /** Index in the addon's record table; -1 once released there. */
    public id: number,
    readonly length: number,
  ) {}
  get record(): RecordHandle {
    return this;
  }
}

class NativeConnection implements RecordConnection {
  state: unknown = null;
  /** framerFor has been consulted (it sets up per-protocol state). */
  framed = false;
  /** onOpen refused it: the refusal is written, then it closes; the application never sees it again. */
  refused = false;
  /** end() or destroy() was called: no more requests are handed to the application. */
  closing = false;
  /** The addon reported it closed. */
  closed = false;

  constructor(
    readonly engine: NativeRecordsEngine,
    readonly slot: number,
    readonly id: number,
    readonly remote: string,
    readonly local: string,
  ) {}

  end(): void {
    if (this.closing || this.closed) return;
    this.closing = true;
    this.engine.queueClose(this, wire.ops.end);
  }

  destroy(): void {
    if (this.closed) return;
    this.closing = true;
    this.engine.queueClose(this, wire.ops.destroy);
  }

  authenticated(): void {
    if (this.closed) return;
    this.engine.queueSlotOp(this, wire.ops.authenticated);
  }
}

export class NativeRecordsEngine implements RecordsEngine {
  readonly name: 'native' | 'kmod';
  private readonly native: NativeEngineHandle;
  private handlers: EngineHandlers | null = null;
  private readonly bySlot: (NativeConnection | undefined)[] = [];
  private readonly open = new Set<NativeConnection>();
  /** Connections the addon has and JS has not seen close (open and refused ones). */
  private liveSlots = 0;
  private listening = false;
  private referenced = false;
  private readonly freeIds: number[] = [];
  private nextId = 0;
  private readonly batch: RequestBatch = { buf: Buffer.alloc(0), starts: [], lengths: [], count: 0, firstCompletesData: false, closes: false };
  private drainWaiters: (() => void)[] = [];
  private disposed = false;

  // The outbox: operations and reply bytes gathered until the next submit.
  private bytes = Buffer.allocUnsafe(64 * 1024);
  private bytesLength = 0;
  private ops = new Int32Array(4096);
  private opsLength = 0;
  private pendingDeletes: NativeRecord[] = [];
  private inDelivery = false;
  private flushScheduled = false;
  private readonly flushNow = (): void => this.flush();

  constructor(options: NativeEngineOptions = DEFAULT_NATIVE_OPTIONS) {
    const { NativeEngine } = loadNativeBinding();
    this.name = options.kmod === true ? 'kmod' : 'native';
    const protocol = options.protocol === 'ascii' ? 1 : options.protocol === 'binary' ? 2 : 0;
    this.native = new NativeEngine({ ...options, protocol }, (events, strings, shared, own, starts, lengths, bytesRead) =>
      this.onDelivery(events, strings, shared, own, starts, lengths, bytesRead),
    );
  }

  /** Counters of the records the engine holds, for `stats`. */
  recordStats(): RecordStats {
    return this.native.recordStats();
  }

  recordCounters(): [string, number][] {
    const s = this.native.recordStats();
    const counters: [string, number][] = [
      ['records_created', s.created],
      ['records_live', s.live],
      ['records_bytes', s.bytes],
      ['records_memfd', s.memfd],
      ['records_sends', s.sends],
      ['records_sends_completed', s.sendsCompleted],
      ['records_deliveries', s.deliveries],
      ['records_delivered_requests', s.deliveredRequests],
    ];
    if (this.name === 'kmod') {
      counters.push(
        ['records_kernel', s.kernel],
        ['records_kernel_connections', s.kernelConnections],
        ['records_kernel_refused', s.kernelRefused],
      );
    }
    return counters;
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
      try {
        if (fs.lstatSync(socketPath).isSocket()) fs.unlinkSync(socketPath);
      } catch {
        // no stale socket to remove
      }
      const result = this.native.listenUnix(socketPath, options.backlog);
      if ('errno' in result) throw systemError(result, socketPath);
      fs.chmodSync(socketPath, mode);
      infos.push({ address: `unix:${socketPath}`, id: this.allocateId() });
    }
    for (const { host, port, tls } of options.tcp) {
      // TLS is not done in the addon; records/composite.ts gives TLS listeners to the js engine.
      if (tls) throw new Error(`the ${this.name} records engine cannot serve TLS listeners`);
      // memcached -l takes names too; the addon binds numeric addresses.
      const numeric = host === null ? '' : net.isIP(host) !== 0 ? host : (await dns.lookup(host)).address;
      const result = this.native.listenTcp(numeric, port, options.backlog);
      if ('errno' in result) throw systemError(result, `${host === null ? '::' : host}:${port}`);
      infos.push({ address: `tcp:${formatAddress(result.address, result.port)}`, id: this.allocateId() });
    }
    this.listening = true;
    this.updateRef();
    return infos;
  }

  async stopListening(): Promise<void> {
    if (this.disposed) return;
    this.native.stopListening();
    this.listening = false;
    this.updateRef();
  }

  connections(): Iterable<RecordConnection> {
    return this.open;
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
    for (const conn of this.bySlot) if (conn !== undefined) conn.closed = true;
    this.bySlot.length = 0;
    this.open.clear();
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

  private onDelivery(
    events: Int32Array,
    strings: string[] | null,
    shared: Buffer,
    own: Buffer[],
    starts: Int32Array,
    lengths: Int32Array,
    bytesRead: number,
  ): void {
    const handlers = this.handlers;
    if (handlers === null || this.disposed) return;
    this.inDelivery = true;
    try {
      if (bytesRead > 0) handlers.onBytesRead(bytesRead);
      let request = 0;
      for (let i = 0; i < events.length; ) {
        switch (events[i]) {
          case wire.events.open:
            this.opened(handlers, events[i + 1], (strings as string[])[events[i + 2]], (strings as string[])[events[i + 3]]);
            i += 4;
            break;
          case wire.events.requests: {
            const count = events[i + 2];
            const index = events[i + 4];
            this.requests(handlers, events[i + 1], count, events[i + 3], index < 0 ? shared : own[index], starts, lengths, request);
            request += count;
            i += 5;
            break;
          }
          default:
            this.closedBySlot(handlers, events[i + 1]);
            i += 2;
            break;
        }
      }
    } finally {
      this.inDelivery = false;
      this.flush();
    }
  }

  private opened(handlers: EngineHandlers, slot: number, remote: string, local: string): void {
    const conn = new NativeConnection(this, slot, this.allocateId(), remote, local);
    this.bySlot[slot] = conn;
    this.liveSlots++;
    this.updateRef();
    const refusal = handlers.onOpen(conn);
    if (refusal === null) {
      this.open.add(conn);
      return;
    }
    conn.refused = true;
    this.freeIds.push(conn.id);
    const head = this.opsLength;
    this.reserveOps(8);
    this.reserveBytes(refusal.length);
    const ops = this.ops;
    ops[head] = wire.ops.send;
    ops[head + 1] = 0;
    ops[head + 2] = 1;
    ops[head + 3] = 1;
    ops[head + 4] = -1;
    ops[head + 5] = this.bytesLength;
    ops[head + 6] = refusal.length;
    ops[head + 7] = slot;
    refusal.copy(this.bytes, this.bytesLength);
    this.bytesLength += refusal.length;
    this.opsLength = head + 8;
    conn.end();
  }

  private requests(
    handlers: EngineHandlers,
    slot: number,
    count: number,
    flags: number,
    buf: Buffer,
    starts: Int32Array,
    lengths: Int32Array,
    first: number,
  ): void {
    const conn = this.bySlot[slot];
    let handled = count;
    if (conn !== undefined && !conn.refused && !conn.closing && !conn.closed) {
      if (!conn.framed) {
        // The addon frames and chose the protocol; framerFor sets up the connection's state for it.
        conn.framed = true;
        handlers.framerFor(conn, buf[starts[first]], (flags & wire.batchFlags.binary) !== 0 ? 'binary' : 'text');
      }
      const batch = this.batch;
      batch.buf = buf;
      batch.count = count;
      batch.firstCompletesData = (flags & wire.batchFlags.completesData) !== 0;
      batch.closes = (flags & wire.batchFlags.closes) !== 0;
      const batchStarts = batch.starts;
      const batchLengths = batch.lengths;
      for (let k = 0; k < count; k++) {
        batchStarts[k] = starts[first + k];
        batchLengths[k] = lengths[first + k];
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

  private closedBySlot(handlers: EngineHandlers, slot: number): void {
    const conn = this.bySlot[slot];
    this.reserveOps(2);
    this.ops[this.opsLength++] = wire.ops.ackClose;
    this.ops[this.opsLength++] = slot;
    if (conn === undefined) return;
    this.bySlot[slot] = undefined;
    conn.closed = true;
    this.liveSlots--;
    if (!conn.refused) {
      this.open.delete(conn);
      this.freeIds.push(conn.id);
      handlers.onClose(conn);
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
    this.native.submit(this.bytes, this.ops, length);
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
    const wanted = this.listening || this.liveSlots > 0;
    if (wanted === this.referenced || this.disposed) return;
    this.referenced = wanted;
    if (wanted) this.native.ref();
    else this.native.unref();
  }

  private allocateId(): number {
    return this.freeIds.length > 0 ? (this.freeIds.pop() as number) : this.nextId++;
  }
}

const EMPTY = Buffer.alloc(0);

/** An Error like the one net.Server gives for the same failure. */
function systemError(result: NativeErrno, where: string): NodeJS.ErrnoException {
  const [code, text] = getSystemErrorMap().get(-result.errno) ?? ['UNKNOWN', 'unknown error'];
  const err = new Error(`${result.syscall} ${code}: ${text} ${where}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -result.errno;
  err.syscall = result.syscall;
  return err;
}

function formatAddress(address: string, port: number): string {
  const host = address.startsWith('::ffff:') ? address.slice(7) : address;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
