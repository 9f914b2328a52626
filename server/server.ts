/*
 * The server: connects the records engine (sockets, whole requests) to the protocols and the
 * store, and flushes each batch's replies with one sendRecord.
 */

import type { Config } from './config';
import { parseListenEntry } from './command-line';
import { ServerCounters, type ServerContext } from './context';
import { AWAITING_ASCII_AUTH, BinarySession, type ClientState, WATCHING } from './connection/client-state';
import { EventLog } from './event-log';
import { VerbosePrinter } from './verbose';
import { Store } from './store/store';
import { SystemClock, type Clock } from './store/clock';
import { decodeText, frameText, type TextLimits } from './protocol/text';
import { Reply } from './protocol/replies';
import { PrefixStats } from './stats-prefix';
import { TlsTerminator, tlsSettings } from './tls';
import { After, ReplyQueue, endsEvent } from './connection/reply-queue';
import { executeText } from './commands/text';
import { REQUEST_MAGIC, type BinaryLimits } from './protocol/binary';
import { decodeBinary } from './protocol/binary-decode';
import { frameBinary } from './protocol/binary-frame';
import { binaryLimits, executeBinary } from './commands/binary';
import { UdpFront } from './udp';
import type { EngineHandlers, ListenerInfo, RecordConnection, RecordsEngine, RequestBatch, WireProtocol } from './records/types';
import type { Framer } from './framing';
import { decodeAuth, frameAuth } from './protocol/auth';
import { executeAuth } from './commands/auth';
import type { AuthFile } from './auth-file';
import { keepStoredValue } from './records-policy';
import { publishItems } from './read-index';
import { HttpFront } from './http/listener';

/**
 * memcached refuses a connection whose fd is at least maxconns - 1; its own listening
 * sockets, event loops and thread pipes hold this many fds below the first client.
 */
const RESERVED_FDS = 12;
/**
 * Replies one batch may queue before the rest of its requests wait for the connection to
 * drain: a client that pipelines requests and never reads holds at most about this much.
 */
const BATCH_OUTPUT_BUDGET = 4 * 1024 * 1024;

/**
 * The protocol a connection speaks, for the js engine (the native engines ask their C
 * framer, kmod/records_parse.c rp_choose, which decides the same): -B auto lets the first
 * byte choose, 0x80 being a binary request's magic; -B ascii or binary fixes the protocol
 * (a forced binary server closes on text's first 24 bytes).
 */
export function chooseProtocol(choice: Config['protocol'], firstByte: number): WireProtocol {
  return choice === 'ascii' || (choice === 'auto' && firstByte !== REQUEST_MAGIC) ? 'text' : 'binary';
}

/** -o watcher_logbuf_size, in KB (memcached's default 256). */
function watcherBufferBytes(config: Config): number {
  return Number.parseInt(config.suboptions.get('watcher_logbuf_size') ?? '256', 10) * 1024;
}

/** -c: the client connections allowed, every protocol's together. */
function maxClientsOf(config: Config): number {
  return Math.max(1, config.maxConns - RESERVED_FDS);
}

export class Server {
  readonly ctx: ServerContext;
  private readonly limits: TextLimits;
  private readonly textFramer: Framer;
  /** Replies of the batch being executed; sendRecord consumes them before the next batch. */
  private readonly replies = new ReplyQueue();
  private sweepTimer: NodeJS.Timeout | null = null;
  private stopping: Promise<void> | null = null;
  private udp: UdpFront | null = null;
  /** -vv: commands, replies and connections on stderr. */
  private readonly verbose = new VerbosePrinter();
  /** -o http_port: the HTTP listener; null without it. */
  readonly http: HttpFront | null = null;
  /** Called when a client asks for shutdown (with -A). */
  onShutdownRequest: (() => void) | null = null;

  constructor(
    readonly config: Config,
    readonly engine: RecordsEngine,
    clock: Clock = new SystemClock(),
    authFile: AuthFile | null = null,
  ) {
    const store = new Store(
      {
        maxBytes: config.maxBytes,
        itemSizeMax: config.itemSizeMax,
        casEnabled: !config.disableCas,
        noEvict: config.noEvict,
        slabs: { chunkSize: config.chunkSize, factor: config.factor, slabChunkMax: config.slabChunkMax, sizes: config.slabSizes },
        hashPowerInit: config.hashPowerInit === 0 ? undefined : config.hashPowerInit,
        hashExpand: config.hashExpand,
      },
      clock,
    );
    if (config.trackSizes) store.trackSizes(true);
    store.keepValue = (item) => keepStoredValue(this.ctx, item);
    store.onUnlink = (item) => {
      if (item.record !== null) {
        engine.delRecord(item.record as never);
        item.record = null;
      }
    };
    this.ctx = {
      config,
      store,
      engine,
      counters: new ServerCounters(),
      settings: {
        verbosity: config.verbose,
        lruCrawler: !config.suboptions.has('no_lru_crawler'),
        lruCrawlerSleep: config.suboptions.get('lru_crawler_sleep') ?? '100',
        lruCrawlerToCrawl: config.suboptions.get('lru_crawler_tocrawl') ?? '0',
      },
      prefixStats: new PrefixStats(config.prefixDelimiter, config.detailEnabled),
      listeners: [],
      startedAt: clock.now(),
      authFile,
      // -Z: certificates are loaded now, so bad ones stop the start (TlsSetupError).
      tls: config.sslEnabled ? new TlsTerminator(tlsSettings(config), clock) : null,
      log: new EventLog(engine, store, watcherBufferBytes(config)),
      http: null,
    };
    this.ctx.log.setVerbosity(config.verbose);
    if (config.verbose > 1) this.verbose.slabClasses(store.slabs);
    if (config.httpPort !== 0) {
      this.http = new HttpFront(this.ctx, maxClientsOf(config));
      this.ctx.http = this.http.counters;
    }
    if (engine.readIndex !== null) publishItems(this.ctx, engine.readIndex, clock);
    this.ctx.tls?.setIdleTimeout(Math.max(0, config.idleTimeout));
    this.limits = { itemSizeMax: config.itemSizeMax, casEnabled: !config.disableCas };
    const limits = this.limits;
    this.textFramer = (buf, start, end, out) => frameText(buf, start, end, limits, out);
  }

  async start(): Promise<ListenerInfo[]> {
    const cfg = this.config;
    const tcp =
      cfg.socketPath !== null || cfg.port === 0
        ? []
        : cfg.listen.length === 0
          ? [{ host: null, port: cfg.port, tls: this.ctx.tls }]
          : cfg.listen.map((entry) => {
              const address = parseListenEntry(entry);
              return { host: address.host, port: address.port ?? cfg.port, tls: address.notls ? null : this.ctx.tls };
            });
    const listeners = await this.engine.listen(
      {
        tcp,
        unix: cfg.socketPath === null ? null : { path: cfg.socketPath, mode: cfg.socketMask },
        backlog: cfg.backlog,
      },
      this.handlers(),
    );
    this.ctx.listeners = listeners;
    if (this.ctx.settings.verbosity > 1) {
      for (const listener of listeners) this.verbose.listening(listener.id, cfg.protocol === 'auto' ? 'auto-negotiate' : cfg.protocol);
    }
    this.ctx.counters.totalConnections += listeners.length;
    // -U, on the TCP addresses; memcached opens no UDP socket with -s.
    if (cfg.udpPort !== 0 && cfg.socketPath === null) {
      this.udp = new UdpFront(this.ctx, () => this.onShutdownRequest?.());
      await this.udp.start();
    }
    if (this.http !== null) await this.http.start();
    this.sweepTimer = setInterval(() => this.ctx.store.sweep(), 1000);
    this.sweepTimer.unref();
    return listeners;
  }

  /** Stop accepting, let every connection finish the replies in progress, then close. */
  stop(): Promise<void> {
    if (this.stopping === null) {
      this.stopping = (async () => {
        if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
        this.ctx.counters.acceptingConns = false;
        this.udp?.stop();
        await Promise.all([
          this.http?.stop(),
          (async () => {
            await this.engine.stopListening();
            await this.engine.drain();
          })(),
        ]);
      })();
    }
    return this.stopping;
  }

  private handlers(): EngineHandlers {
    const ctx = this.ctx;
    const counters = ctx.counters;
    const maxClients = maxClientsOf(this.config);
    return {
      onOpen: (conn: RecordConnection) => {
        if (counters.currConnections >= maxClients) {
          counters.rejectedConnections++;
          return Reply.TOO_MANY_CONNECTIONS;
        }
        counters.currConnections++;
        counters.totalConnections++;
        counters.connectionStructures = Math.max(counters.connectionStructures, counters.currConnections + 1);
        conn.lastCommandTime = ctx.store.clock.now();
        ctx.log.connectionOpened(conn);
        if (ctx.settings.verbosity > 1) this.verbose.opened(conn.id, this.config.protocol);
        const state: ClientState = ctx.authFile === null ? null : AWAITING_ASCII_AUTH;
        conn.state = state;
        return null;
      },
      // The native engines' framer has chosen already; the js engine's framer is this one.
      framerFor: (conn, firstByte, chosen) => {
        const protocol = chosen ?? chooseProtocol(this.config.protocol, firstByte);
        if (ctx.settings.verbosity > 1 && this.config.protocol === 'auto')
          this.verbose.chose(conn.id, protocol === 'text' ? 'ascii' : 'binary');
        if (protocol === 'text') {
          if (conn.state !== AWAITING_ASCII_AUTH) return this.textFramer;
          const textFramer = this.textFramer;
          return (buf, start, end, out) =>
            conn.state !== AWAITING_ASCII_AUTH ? textFramer(buf, start, end, out) : frameAuth(buf, start, end, out);
        }
        const session: ClientState = new BinarySession();
        conn.state = session;
        if (this.binaryFramer === null) {
          const limits = binaryLimits(this.config);
          this.binaryLimits = limits;
          this.binaryFramer = (buf, start, end, out) => frameBinary(buf, start, end, limits, out);
        }
        return this.binaryFramer;
      },
      onRequests: (conn, batch) => this.execute(conn, batch),
      onClose: (conn) => {
        counters.currConnections--;
        ctx.log.connectionClosed(conn);
        if (ctx.settings.verbosity > 1) this.verbose.closed(conn.id);
      },
      onBytesRead: (n) => {
        counters.bytesRead += n;
      },
      onKeyHints: (hints) => ctx.store.prefetchHinted(hints),
      onBytesWritten: (n) => {
        counters.bytesWritten += n;
      },
    };
  }

  /** The binary protocol's limits and framer, made for the first connection that speaks it. */
  private binaryLimits: BinaryLimits | null = null;
  private binaryFramer: Framer | null = null;

  /** Executes a batch; returns how many requests it handled (fewer once the output budget is spent). */
  private execute(conn: RecordConnection, batch: RequestBatch): number {
    const ctx = this.ctx;
    const replies = this.replies;
    const out = replies.segments;
    const limits = this.limits;
    const state = conn.state as ClientState;
    // A watcher only listens: what it sends is read and dropped, as memcached's logger does.
    if (state === WATCHING) return batch.count;
    const binary = state instanceof BinarySession ? state : undefined;
    ctx.log.current = conn;
    // -vv prints each command and its reply; checked once per batch.
    const verbose = ctx.settings.verbosity > 1 ? this.verbose : null;
    let after = After.Continue;
    let handled = 0;
    let replyBytes = 0;
    const perEvent = this.config.reqsPerEvent;
    const store = ctx.store;
    const keyHints = batch.keyHints;
    while (handled < batch.count) {
      const start = batch.starts[handled];
      const length = batch.lengths[handled];
      const mark = out.length;
      if (state === AWAITING_ASCII_AUTH) {
        handled++;
        if (executeAuth(ctx, decodeAuth(batch.buf, start, length), replies)) {
          // What follows is framed again, as memcached's requests.
          conn.state = null;
          conn.authenticated?.();
          break;
        }
        // Not after a token that spanned reads: memcached keeps answering into the same response.
        if (endsEvent(handled, perEvent)) replies.sent = out.length;
        continue;
      }
      replies.earlier = handled;
      if (keyHints !== undefined) store.setKeyHint(keyHints[2 * handled], keyHints[2 * handled + 1]);
      if (verbose !== null && binary !== undefined) {
        verbose.binaryRequest(conn.id, batch.buf, start);
        after = executeBinary(ctx, decodeBinary(batch.buf, start, length, this.binaryLimits as BinaryLimits), replies, binary);
        verbose.binaryResponses(conn.id, out, mark);
      } else if (verbose !== null) {
        verbose.command(conn.id, batch.buf, start);
        const unsaid: Buffer[] = [];
        replies.unsaid = unsaid;
        const req = decodeText(batch.buf, start, length, limits);
        after = executeText(ctx, req, replies);
        // watch's OK comes from memcached's logger, not out_string: not printed.
        if (after !== After.Detach) verbose.reply(conn.id, req, out, mark, unsaid);
      } else {
        after =
          binary === undefined
            ? executeText(ctx, decodeText(batch.buf, start, length, limits), replies)
            : executeBinary(ctx, decodeBinary(batch.buf, start, length, this.binaryLimits as BinaryLimits), replies, binary);
      }
      store.keyHint = -1;
      handled++;
      if (after !== After.Continue) break;
      // Where memcached would have written its replies out (see ReplyQueue): after a data
      // block that spanned reads, and when -R requests of one read are done (21, 41, ...).
      if ((handled === 1 && batch.firstCompletesData) || endsEvent(handled, perEvent)) {
        replies.sent = out.length;
      }
      for (let i = mark; i < out.length; i++) replyBytes += out[i].length;
      if (replyBytes > BATCH_OUTPUT_BUDGET) break;
    }
    conn.lastCommandTime = ctx.store.clock.now();
    if (after === After.Shutdown) {
      replies.clear();
      conn.destroy();
      this.onShutdownRequest?.();
      return batch.count;
    }
    // The connection closes after this batch (a line too long): what memcached had not written is lost.
    if (batch.closes && handled === batch.count) out.length = replies.sent;
    if (out.length > 0) this.engine.sendRecord(out, [conn]);
    replies.clear();
    if (after === After.Close) {
      conn.end();
      return batch.count;
    }
    if (after === After.Detach) return batch.count;
    return handled;
  }
}
