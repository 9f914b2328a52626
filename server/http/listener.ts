/*
 * The HTTP/1.1 listener (-o http_port): Node's own HTTP server (llhttp) on the -l addresses,
 * answering from the same store as the memcached protocols (answer.ts). Keep-alive and
 * pipelining are Node's; this file adds memcached's limits (-c, -I, idle_timeout) and the
 * answers to requests the parser refuses. On the native engine the engine listens instead
 * and answers hits on its I/O threads (native-front.ts), with the same limits and replies.
 */

import http from 'node:http';
import type net from 'node:net';
import type { ServerContext } from '../context';
import { parseListenEntry } from '../command-line';
import { HttpListenError, HttpUnsupportedError } from '../errors';
import { HttpCounters } from './counters';
import { type HttpAnswer, answerPut, answerTooLarge } from './answer';
import { type HttpReply, HttpReplies, closingMessage } from './replies';
import { keyOfTarget } from './key';
import { routeRequest } from './route';
import { NativeHttpConnections, type NativeHttpEngine, type NativeHttpSettings, nativeHttpEngine } from './native-front';

/**
 * What Node's parser may hold of one request's head (its maxHeaderSize: the target, header
 * names and values); past it, 431, or 414 when it overflowed in the request line.
 */
export const HEAD_LIMIT = 16 * 1024;
/** Without -o idle_timeout: how long a request's head may take to arrive (a trickle is closed with 408). */
const HEAD_TIMEOUT_MS = 10_000;
/** Without -o idle_timeout: how long a keep-alive connection may wait for its next request. */
const KEEP_ALIVE_TIMEOUT_MS = 60_000;
/** How long a whole request, body included, may take (at least the head's time). */
const REQUEST_TIMEOUT_MS = 60_000;
/** How often Node looks for requests past their time. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;
/** After SIGTERM, how long replies in progress may take before their connections are closed. */
const STOP_GRACE_MS = 2000;

const CRLF = Buffer.from('\r\n');

/** Where a parser error left off, as Node reports it. */
interface ParserError extends Error {
  code?: string;
  bytesParsed?: number;
  rawPacket?: Buffer;
}

/**
 * Whether a head that overflowed HEAD_LIMIT did so in its request line: the line the parser
 * stopped in starts with a method and a space (a header line starts with a name and a colon).
 * Node does not say where the request began; when the line began in an earlier read, this
 * cannot tell, and the answer is 431.
 */
function overflowedInRequestLine(error: ParserError): boolean {
  const raw = error.rawPacket;
  if (raw === undefined) return false;
  const stop = Math.min(error.bytesParsed ?? raw.length, raw.length);
  const lineStart = stop === 0 ? 0 : raw.lastIndexOf(0x0a, stop - 1) + 1;
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,32} /.test(raw.toString('latin1', lineStart, Math.min(stop, lineStart + 34)));
}

export class HttpFront {
  readonly counters = new HttpCounters();
  /** "http:host:port", once listening. */
  readonly addresses: string[] = [];
  private readonly servers: http.Server[] = [];
  private readonly refusedSockets = new WeakSet<net.Socket>();
  /** The engine listens and answers hits itself (native); null: Node's http serves (js, TLS beside native). */
  private readonly native: NativeHttpEngine | null;

  constructor(
    private readonly ctx: ServerContext,
    /** -c: connections of every kind counted together, as memcached counts them. */
    private readonly maxClients: number,
  ) {
    // The kernel module's records have only been served by the memcached protocols: refused
    // rather than served untested.
    if (ctx.engine.name === 'kmod') {
      throw new HttpUnsupportedError(
        '-o http_port: the HTTP listener does not run on the kmod records backend yet; use --records=native or js',
      );
    }
    this.native = nativeHttpEngine(ctx.engine);
  }

  async start(): Promise<string[]> {
    const config = this.ctx.config;
    const hosts = config.listen.length === 0 ? [null] : [...new Set(config.listen.map((entry) => parseListenEntry(entry).host))];
    if (this.native !== null) return this.startNative(this.native, hosts);
    for (const host of hosts) {
      const server = this.makeServer();
      this.servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (error: NodeJS.ErrnoException) => {
          const where = host === null ? 'every interface' : host;
          reject(new HttpListenError(`failed to listen on HTTP port ${config.httpPort} of ${where}: ${error.message}`, { cause: error }));
        });
        server.listen({ port: config.httpPort, host: host ?? undefined, backlog: config.backlog }, resolve);
      });
      const address = server.address() as net.AddressInfo;
      const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      this.addresses.push(`http:${shown}:${address.port}`);
    }
    return this.addresses;
  }

  private async startNative(engine: NativeHttpEngine, hosts: (string | null)[]): Promise<string[]> {
    const config = this.ctx.config;
    const idleMs = Math.max(0, config.idleTimeout) * 1000;
    const keepAliveMs = idleMs > 0 ? idleMs : KEEP_ALIVE_TIMEOUT_MS;
    const settings: NativeHttpSettings = {
      contentType: config.httpContentType,
      gzipFlag: config.httpGzipFlag >>> 0,
      casEnabled: !config.disableCas,
      keepAliveSeconds: Math.floor(keepAliveMs / 1000),
      headTimeoutMs: idleMs > 0 ? idleMs : HEAD_TIMEOUT_MS,
      itemSizeMax: config.itemSizeMax,
      headLimit: HEAD_LIMIT,
    };
    const connections = new NativeHttpConnections(this.ctx, this.counters, engine, this.maxClients, settings.keepAliveSeconds);
    this.counters.pull = () => connections.takeServed();
    for (const host of hosts) {
      try {
        this.addresses.push(await engine.listenHttp(host, config.httpPort, config.backlog, settings, connections));
      } catch (error) {
        const where = host === null ? 'every interface' : host;
        throw new HttpListenError(`failed to listen on HTTP port ${config.httpPort} of ${where}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    return this.addresses;
  }

  /** Stop accepting; idle keep-alive connections close now, the rest once their replies are out. */
  async stop(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => server.closeAllConnections(), STOP_GRACE_MS);
            server.close(() => {
              clearTimeout(timer);
              resolve();
            });
            server.closeIdleConnections();
          }),
      ),
    );
  }

  private makeServer(): http.Server {
    const idleMs = Math.max(0, this.ctx.config.idleTimeout) * 1000;
    const headMs = idleMs > 0 ? idleMs : HEAD_TIMEOUT_MS;
    const server = http.createServer(
      {
        maxHeaderSize: HEAD_LIMIT,
        headersTimeout: headMs,
        requestTimeout: Math.max(headMs, REQUEST_TIMEOUT_MS),
        keepAliveTimeout: idleMs > 0 ? idleMs : KEEP_ALIVE_TIMEOUT_MS,
        connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
        // HTTP/1.0 clients and load generators that send no Host are still answered.
        requireHostHeader: false,
      },
      (req, res) => this.onRequest(req, res),
    );
    server.on('connection', (socket: net.Socket) => this.onConnection(socket));
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => this.onCheckContinue(req, res));
    server.on('clientError', (error: ParserError, socket: net.Socket) => this.onClientError(error, socket));
    return server;
  }

  private onConnection(socket: net.Socket): void {
    const shared = this.ctx.counters;
    if (shared.currConnections >= this.maxClients) {
      shared.rejectedConnections++;
      this.refusedSockets.add(socket);
      socket.on('error', () => {});
      socket.end(closingMessage(HttpReplies.TOO_MANY_CONNECTIONS));
      return;
    }
    const counters = this.counters;
    shared.currConnections++;
    shared.totalConnections++;
    counters.currConnections++;
    counters.totalConnections++;
    socket.once('close', () => {
      shared.currConnections--;
      counters.currConnections--;
    });
  }

  /** A request Node's parser refused (malformed, too large a head, too slow): answered, then closed. */
  private onClientError(error: ParserError, socket: net.Socket): void {
    if (this.refusedSockets.has(socket) || error.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    this.counters.requests++;
    this.counters.refused++;
    // A reply already under way on this connection cannot be followed by another: close.
    const inProgress = (socket as net.Socket & { _httpMessage?: http.ServerResponse })._httpMessage;
    if (inProgress?.headersSent) {
      socket.destroy();
      return;
    }
    let reply: HttpReply;
    if (error.code === 'HPE_HEADER_OVERFLOW') {
      reply = overflowedInRequestLine(error) ? HttpReplies.URI_TOO_LONG : HttpReplies.HEADERS_TOO_LARGE;
    } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      reply = HttpReplies.REQUEST_TIMEOUT;
    } else {
      reply = HttpReplies.BAD_REQUEST;
    }
    socket.end(closingMessage(reply), () => socket.destroy());
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.refusedSockets.has(req.socket)) {
      res.destroy();
      return;
    }
    const route = routeRequest(this.ctx, this.counters, req, req.url ?? '');
    if ('putKey' in route) return this.receivePut(req, res, route.putKey);
    write(res, route.answer, route.close);
  }

  /**
   * Reads a PUT's body up to the item size limit (-I), then stores it. Past the limit: 413
   * at once, and the rest of the body is read and dropped (Node's dump of an unread request),
   * so the client, still sending, reads the reply instead of a reset; requestTimeout bounds it.
   */
  private receivePut(req: http.IncomingMessage, res: http.ServerResponse, key: string): void {
    const ctx = this.ctx;
    const limit = ctx.config.itemSizeMax;
    if (Number(req.headers['content-length'] ?? 0) + CRLF.length > limit) {
      write(res, answerTooLarge(ctx, this.counters, req, key), false);
      return;
    }
    const chunks: Buffer[] = [];
    let length = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      length += chunk.length;
      if (length + CRLF.length > limit) {
        refused = true;
        chunks.length = 0;
        write(res, answerTooLarge(ctx, this.counters, req, key), false);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      chunks.push(CRLF);
      write(res, answerPut(ctx, this.counters, req, key, Buffer.concat(chunks, length + CRLF.length)), false);
    });
  }

  /** Expect: 100-continue: a body declared too large is refused before the client sends it. */
  private onCheckContinue(req: http.IncomingMessage, res: http.ServerResponse): void {
    const config = this.ctx.config;
    const declared = Number(req.headers['content-length'] ?? 0);
    const key = keyOfTarget(req.url ?? '');
    if (req.method === 'PUT' && config.httpWrites && key !== null && declared + CRLF.length > config.itemSizeMax) {
      this.counters.requests++;
      write(res, answerTooLarge(this.ctx, this.counters, req, key), true);
      return;
    }
    res.writeContinue();
    this.onRequest(req, res);
  }
}

function write(res: http.ServerResponse, answer: HttpAnswer, close: boolean): void {
  if (close) answer.headers.Connection = 'close';
  res.writeHead(answer.status, answer.headers);
  if (answer.body === null) res.end();
  else res.end(answer.body);
}
