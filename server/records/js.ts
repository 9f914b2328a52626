/*
 * The portable records backend: Buffers and net.Socket writes, framing in TypeScript.
 *
 * A record is a reference to one immutable Buffer; sending it to many connections queues the
 * same Buffer on each socket (Node copies it into the kernel once per socket). Requests are
 * framed here and handed to the application only when whole, many at a time, and each
 * batch's replies leave in one write (or one writev when large values are referenced).
 */

import * as fs from 'node:fs';
import * as net from 'node:net';
import { FrameStatus, newFrame, type Framer } from '../framing';
import { DRAIN_GRACE_MS, IdPool, formatAddress, removeStaleSocket } from './shared';
import type {
  CloseReason,
  EngineHandlers,
  ListenOptions,
  ListenerInfo,
  RecordConnection,
  RecordHandle,
  RecordsEngine,
  RequestBatch,
  Segment,
} from './types';

/** Segments at least this large are handed to the socket by reference instead of copied. */
const COPY_LIMIT = 4096;
/** Stop reading a connection's requests while this much of its output is unwritten. */
const OUTPUT_HIGH_WATER = 1024 * 1024;
/** Deliver at most this many requests per batch, so one pipeline cannot starve the rest. */
const MAX_BATCH = 1024;
/**
 * A connection holding at most this much unfinished input is never cut off by the input limit
 * (memcached's READ_BUFFER_SIZE: what every connection may hold for a request line anyway).
 */
export const INPUT_CUT_OFF_FLOOR = 16384;
/** memcached's reply when it cannot grow a connection's read buffer, before it closes the connection. */
export const INPUT_CUT_OFF_REPLY = 'SERVER_ERROR out of memory reading request\r\n';

export class JsRecord implements RecordHandle {
  readonly offset = 0;
  readonly length: number;
  constructor(readonly bytes: Buffer) {
    this.length = bytes.length;
  }
  get record(): RecordHandle {
    return this;
  }
}

function segmentBytes(segment: Segment): Buffer {
  if (Buffer.isBuffer(segment)) return segment;
  const bytes = (segment.record as JsRecord).bytes;
  return segment.offset === 0 && segment.length === bytes.length ? bytes : bytes.subarray(segment.offset, segment.offset + segment.length);
}

class JsConnection implements RecordConnection {
  state: unknown = null;
  lastCommandTime = 0;
  framer: Framer | null = null;
  /** Received bytes not yet framed into whole requests. */
  pending: Buffer[] = [];
  pendingLength = 0;
  /** When nonzero, the length the pending request is known to need. */
  needed = 0;
  /** The pending length when it was last framed into a line without its newline; 0 otherwise. */
  lineFramedAt = 0;
  /** Bytes still to discard (the data of an item too large to store). */
  swallow = 0;
  /** Reading is paused until the socket drains. */
  blocked = false;
  closing = false;
  /** The server is stopping: answer the requests already received, read no more, then close. */
  draining = false;
  /** Why it is closing, once known (the close event's reason). */
  closeReason: CloseReason | null = null;
  /** onOutput(true) was called and onOutput(false) not yet. */
  overHighWater = false;
  readonly batch: RequestBatch = { buf: Buffer.alloc(0), starts: [], lengths: [], count: 0, firstCompletesData: false, closes: false };

  constructor(
    readonly id: number,
    readonly socket: net.Socket,
    readonly remote: string,
    readonly local: string,
  ) {}

  end(): void {
    if (this.closing) return;
    this.closing = true;
    // Close once the replies are handed to the kernel, without waiting for the client's FIN.
    this.socket.once('finish', () => this.socket.destroy());
    this.socket.end();
  }

  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }
}

export class JsRecordsEngine implements RecordsEngine {
  /** Every request comes to JS: there is no engine to answer hits. */
  readonly readIndex = null;
  /** Everything runs on JavaScript's thread. */
  readonly ioThreads = 1;
  readonly name = 'js' as const;
  readonly initCopies = false;
  private readonly servers: net.Server[] = [];
  private readonly open = new Set<JsConnection>();
  private readonly ids = new IdPool();
  private handlers: EngineHandlers | null = null;
  private readonly frame = newFrame();
  private idleTimeoutMs = 0;
  private highWater = 0;
  private lowWater = 0;
  private maxQueued = Infinity;
  /** -o input_mem_limit (0: none), and the unframed input all connections hold now. */
  private inputMemLimit = 0;
  private inputHeld = 0;

  setIdleTimeout(seconds: number): void {
    this.idleTimeoutMs = seconds * 1000;
  }

  /**
   * The records library's backpressure: onOutput past `highWater` bytes queued on a socket
   * (0: never) and again at or below `lowWater`; past `maxQueued` the connection is closed.
   * Both marks count the socket's own buffer (writableLength).
   */
  setOutputLimits(highWater: number, lowWater: number, maxQueued: number): void {
    this.highWater = highWater;
    this.lowWater = lowWater;
    this.maxQueued = maxQueued;
  }

  setInputMemLimit(bytes: number): void {
    this.inputMemLimit = bytes;
  }

  /**
   * A long line still without its newline is framed again only once it has doubled, not on
   * every chunk: each framing copies the whole line into one Buffer, and an endless `get`
   * line would otherwise make garbage quadratic in its length. Lines up to 64 KiB are framed
   * on every chunk, so the framers' close of a line too long (2048 bytes) stays exact.
   */
  private lineStillOpen(conn: JsConnection, chunk: Buffer): boolean {
    return (
      conn.needed === 0 &&
      conn.lineFramedAt > 0 &&
      conn.pendingLength > 65536 &&
      conn.pendingLength < 2 * conn.lineFramedAt &&
      chunk.indexOf(0x0a) === -1
    );
  }

  /** The connection's unframed input is now `length` bytes: kept in the total across connections. */
  private setPendingLength(conn: JsConnection, length: number): void {
    this.inputHeld += length - conn.pendingLength;
    conn.pendingLength = length;
  }

  /**
   * Past the input limit, the connection whose unfinished request took it there (holding more
   * than a read buffer) gets memcached's reply for a read buffer it cannot grow, and is closed.
   */
  private overInputLimit(conn: JsConnection): boolean {
    if (this.inputMemLimit === 0 || this.inputHeld <= this.inputMemLimit || conn.pendingLength <= INPUT_CUT_OFF_FLOOR) return false;
    conn.pending = [];
    this.setPendingLength(conn, 0);
    // What it sends from here on is not read into memory at all.
    conn.socket.pause();
    conn.socket.write(INPUT_CUT_OFF_REPLY);
    conn.end();
    return true;
  }

  initRecord(bytes: Buffer): RecordHandle {
    return new JsRecord(bytes);
  }

  readRecord(record: RecordHandle): Buffer {
    return (record as JsRecord).bytes;
  }

  delRecord(_record: RecordHandle): void {
    // The Buffer lives as long as any socket still references it; nothing else to release.
  }

  sendRecord(message: readonly Segment[], group: readonly RecordConnection[], _priority = 0): void {
    if (message.length === 0) return;
    // One socket write per connection: small segments are copied together, large ones referenced.
    let total = 0;
    let large = false;
    for (const segment of message) {
      total += segment.length;
      if (segment.length >= COPY_LIMIT) large = true;
    }
    let chunks: Buffer[];
    if (!large) {
      chunks = [concatSegments(message, 0, message.length, total)];
    } else {
      chunks = [];
      let runStart = 0;
      let runBytes = 0;
      for (let i = 0; i < message.length; i++) {
        const segment = message[i];
        if (segment.length >= COPY_LIMIT) {
          if (i > runStart) chunks.push(concatSegments(message, runStart, i, runBytes));
          chunks.push(segmentBytes(segment));
          runStart = i + 1;
          runBytes = 0;
        } else {
          runBytes += segment.length;
        }
      }
      if (message.length > runStart) chunks.push(concatSegments(message, runStart, message.length, runBytes));
    }
    for (const target of group) {
      const conn = target as JsConnection;
      if (conn.socket.destroyed) continue;
      if (chunks.length === 1) {
        conn.socket.write(chunks[0]);
      } else {
        conn.socket.cork();
        for (const chunk of chunks) conn.socket.write(chunk);
        conn.socket.uncork();
      }
      this.handlers?.onBytesWritten(total);
      if (this.highWater > 0 || this.maxQueued !== Infinity) this.checkOutput(conn);
    }
  }

  /** After a write: past the limit the connection goes; past the high-water mark, say so once. */
  private checkOutput(conn: JsConnection): void {
    const queued = conn.socket.writableLength;
    if (queued > this.maxQueued) {
      conn.closeReason ??= 'RC_QUEUE_LIMIT';
      conn.destroy();
      return;
    }
    // 'drain' (which says the socket's buffer emptied) only comes once a write was refused,
    // that is past the socket's own mark.
    if (!conn.overHighWater && this.highWater > 0 && queued > Math.max(this.highWater, conn.socket.writableHighWaterMark)) {
      conn.overHighWater = true;
      this.handlers?.onOutput?.(conn, true);
    }
  }

  unsendRecord(_record: RecordHandle, _group: readonly RecordConnection[]): number {
    // Bytes handed to a net.Socket cannot be taken back; the js backend queues nothing of its own.
    return 0;
  }

  async listen(options: ListenOptions, handlers: EngineHandlers): Promise<ListenerInfo[]> {
    this.handlers = handlers;
    const infos: ListenerInfo[] = [];
    const onConnection = (label: string) => (socket: net.Socket) => this.accept(socket, label);
    if (options.unix !== null) {
      const { path, mode } = options.unix;
      removeStaleSocket(path);
      const server = net.createServer({ noDelay: true }, onConnection(`unix:${path}`));
      await listenOn(server, { path, backlog: options.backlog });
      fs.chmodSync(path, mode);
      this.servers.push(server);
      infos.push({ address: `unix:${path}`, id: this.ids.take() });
    }
    for (const { host, port, tls } of options.tcp) {
      const server = tls ? tls.createServer(onConnection('')) : net.createServer({ noDelay: true }, onConnection(''));
      await listenOn(server, host === null ? { port, backlog: options.backlog } : { host, port, backlog: options.backlog });
      this.servers.push(server);
      const address = server.address() as net.AddressInfo;
      infos.push({ address: `tcp:${formatAddress(address.address, address.port)}`, id: this.ids.take() });
    }
    return infos;
  }

  async stopListening(): Promise<void> {
    // close() stops accepting at once; its callback would wait for every connection to end.
    for (const server of this.servers.splice(0)) server.close();
  }

  connections(): Iterable<RecordConnection> {
    return this.open;
  }

  async drain(graceMs = DRAIN_GRACE_MS): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const conn of this.open) {
      waits.push(new Promise<void>((resolve) => conn.socket.once('close', () => resolve())));
      conn.draining = true;
      if (!conn.blocked) conn.end();
    }
    // A client that never reads would hold its replies, and the server, forever.
    const timer = setTimeout(() => {
      for (const conn of this.open) conn.destroy();
    }, graceMs);
    await Promise.all(waits);
    clearTimeout(timer);
  }

  /** A connected socket joins the engine as if accepted (the records library). */
  adopt(socket: net.Socket): void {
    if (this.handlers === null) throw new Error('adopt before listen: the engine has no handlers yet');
    this.accept(socket, socket.remoteAddress === undefined ? 'unix:' : '');
  }

  /** `unixLabel` names the unix socket a connection came through ('' for TCP). */
  private accept(socket: net.Socket, unixLabel: string): void {
    const handlers = this.handlers as EngineHandlers;
    const remote =
      unixLabel !== '' || socket.remoteAddress === undefined
        ? unixLabel
        : `tcp:${formatAddress(socket.remoteAddress, socket.remotePort ?? 0)}`;
    const local = socket.localAddress === undefined ? remote : `tcp:${formatAddress(socket.localAddress, socket.localPort ?? 0)}`;
    const conn = new JsConnection(this.ids.take(), socket, remote, local);
    const refusal = handlers.onOpen(conn);
    if (refusal !== null) {
      this.ids.release(conn.id);
      socket.on('error', () => undefined);
      socket.end(refusal);
      return;
    }
    this.open.add(conn);
    socket.setNoDelay(true);
    if (this.idleTimeoutMs > 0) {
      socket.setTimeout(this.idleTimeoutMs, () => socket.destroy());
    }
    socket.on('data', (chunk: Buffer) => this.receive(conn, chunk));
    socket.on('drain', () => {
      this.unblock(conn);
      if (conn.overHighWater && !socket.destroyed && socket.writableLength <= this.lowWater) {
        conn.overHighWater = false;
        handlers.onOutput?.(conn, false);
      }
    });
    socket.on('end', () => {
      if (!conn.closing) conn.closeReason ??= 'RC_PEER_CLOSED';
    });
    socket.on('error', () => {
      conn.closeReason ??= 'RC_PEER_RESET';
    });
    socket.on('close', () => {
      this.open.delete(conn);
      this.ids.release(conn.id);
      conn.pending = [];
      this.setPendingLength(conn, 0);
      handlers.onClose(conn, conn.closeReason ?? 'RC_CLOSED');
    });
  }

  /** Adds received bytes and delivers every whole request they complete. */
  private receive(conn: JsConnection, chunk: Buffer | null): void {
    if (conn.closing) return;
    if (chunk !== null) {
      if (conn.draining) return;
      this.handlers?.onBytesRead(chunk.length);
      if (conn.swallow > 0) {
        const skip = Math.min(conn.swallow, chunk.length);
        conn.swallow -= skip;
        if (skip === chunk.length) return;
        chunk = chunk.subarray(skip);
      }
      conn.pending.push(chunk);
      this.setPendingLength(conn, conn.pendingLength + chunk.length);
      if (conn.blocked || (conn.needed > 0 && conn.pendingLength < conn.needed) || this.lineStillOpen(conn, chunk)) {
        this.overInputLimit(conn);
        return;
      }
    }
    if (conn.pendingLength === 0) {
      if (conn.draining) conn.end();
      return;
    }
    const buf = conn.pending.length === 1 ? conn.pending[0] : Buffer.concat(conn.pending, conn.pendingLength);
    const completesData = conn.needed > 0;
    conn.lineFramedAt = 0;
    conn.pending = [];
    this.setPendingLength(conn, 0);
    conn.needed = 0;
    this.process(conn, buf, completesData);
  }

  private process(conn: JsConnection, buf: Buffer, completesData: boolean): void {
    const handlers = this.handlers as EngineHandlers;
    const batch = conn.batch;
    batch.buf = buf;
    batch.count = 0;
    batch.firstCompletesData = completesData;
    let off = 0;
    const end = buf.length;
    let close = false;
    while (off < end) {
      if (conn.swallow > 0) {
        const skip = Math.min(conn.swallow, end - off);
        conn.swallow -= skip;
        off += skip;
        continue;
      }
      if (conn.framer === null) conn.framer = handlers.framerFor(conn, buf[off]);
      const frame = conn.framer(buf, off, end, this.frame);
      if (frame.status === FrameStatus.NeedMore) {
        conn.needed = frame.needed;
        break;
      }
      if (frame.status === FrameStatus.Close) {
        close = true;
        break;
      }
      batch.starts[batch.count] = off;
      batch.lengths[batch.count] = frame.length;
      batch.count++;
      off += frame.length;
      conn.swallow = frame.swallow;
      if (batch.count === MAX_BATCH) {
        const resumeAt = this.deliver(conn);
        if (conn.closing) return;
        if (resumeAt !== -1) return this.block(conn, buf, resumeAt);
      }
    }
    conn.batch.closes = close;
    const resumeAt = this.deliver(conn);
    if (conn.closing) return;
    if (resumeAt !== -1) return this.block(conn, buf, resumeAt);
    if (close) {
      conn.closeReason ??= 'RC_FRAMING';
      conn.end();
      return;
    }
    if (off < end) {
      // Keep only the unframed tail, copied if small so the whole chunk is not retained.
      const rest = end - off < 65536 ? Buffer.from(buf.subarray(off)) : buf.subarray(off);
      conn.pending.push(rest);
      this.setPendingLength(conn, rest.length);
      conn.lineFramedAt = conn.needed === 0 ? rest.length : 0;
      if (this.overInputLimit(conn)) return;
    }
    if (conn.draining) {
      conn.end();
      return;
    }
    if (conn.socket.writableNeedDrain && conn.socket.writableLength > OUTPUT_HIGH_WATER) {
      conn.blocked = true;
      conn.socket.pause();
    }
  }

  /** Stops reading until the socket drains; the bytes from `off` on are processed then. */
  private block(conn: JsConnection, buf: Buffer, off: number): void {
    conn.blocked = true;
    conn.socket.pause();
    // Requests already framed are framed again on resume; the swallow state belongs after them.
    conn.swallow = 0;
    if (off < buf.length) {
      const rest = buf.subarray(off);
      conn.pending.unshift(rest);
      this.setPendingLength(conn, conn.pendingLength + rest.length);
    }
    // Without a pending 'drain' (the kernel took everything), give other connections a turn.
    if (!conn.socket.writableNeedDrain) setImmediate(() => this.unblock(conn));
  }

  private unblock(conn: JsConnection): void {
    if (!conn.blocked) return;
    conn.blocked = false;
    conn.socket.resume();
    this.receive(conn, null);
  }

  /** Hands the batch over. Returns -1 when every request was handled, else where to resume. */
  private deliver(conn: JsConnection): number {
    const batch = conn.batch;
    if (batch.count === 0) return -1;
    const handled = (this.handlers as EngineHandlers).onRequests(conn, batch);
    const resumeAt = handled < batch.count ? batch.starts[handled] : -1;
    batch.count = 0;
    batch.firstCompletesData = false;
    batch.closes = false;
    return resumeAt;
  }
}

function concatSegments(message: readonly Segment[], from: number, to: number, total: number): Buffer {
  if (to - from === 1) return segmentBytes(message[from]);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (let i = from; i < to; i++) {
    const segment = message[i];
    if (Buffer.isBuffer(segment)) {
      segment.copy(out, at);
    } else {
      const bytes = (segment.record as JsRecord).bytes;
      bytes.copy(out, at, segment.offset, segment.offset + segment.length);
    }
    at += segment.length;
  }
  return out;
}

function listenOn(server: net.Server, options: net.ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
