/*
 * The HTTP listener's connections on the native engine (-o http_port with --records=native):
 * the engine's I/O threads own them, parse requests with llhttp and answer GET and HEAD hits
 * themselves (native/src/http_serve.cc). Every other request arrives here in order, as
 * llhttp parsed it (native/src/http_parse.h AppendForJs), is routed and answered as on js
 * (route.ts, answer.ts), and its reply is written as Node's ServerResponse writes it, so
 * the two backends answer byte for byte alike.
 */

import { STATUS_CODES, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { ServerContext } from '../context';
import type { Framer } from '../framing';
import type { EngineHandlers, RecordConnection, RecordsEngine, RequestBatch } from '../records/types';
import type { HttpCounters } from './counters';
import { type HttpAnswer, type HttpRequestHead, answerPut, answerTooLarge } from './answer';
import { HttpReplies, type HttpReply, closingMessage } from './replies';
import { routeRequest } from './route';

const CRLF = Buffer.from('\r\n');

/** Request headers Node keeps the first of when repeated (IncomingMessage matchKnownFields); others are joined with ", ". */
const FIRST_ONLY = new Set([
  'content-type',
  'content-length',
  'user-agent',
  'referer',
  'host',
  'authorization',
  'proxy-authorization',
  'if-modified-since',
  'if-unmodified-since',
  'from',
  'location',
  'max-forwards',
  'retry-after',
  'etag',
  'last-modified',
  'server',
  'age',
  'expires',
]);

/** A request as the engine hands it over. */
interface ParsedRequest extends HttpRequestHead {
  method: string;
  target: string;
  keepAlive: boolean;
  /** The body would make an item over -I: 0 no, 1 it was dropped, 2 refused before it was sent (Expect: 100-continue). */
  tooLarge: number;
  body: Buffer;
}

/** "!<status>": the engine refused the request (400, 414, 431); otherwise the request. */
function parseRequest(buf: Buffer, start: number, length: number): ParsedRequest | HttpReply {
  const end = start + length;
  const headEnd = buf.indexOf('\r\n\r\n', start, 'latin1');
  const head = buf.toString('latin1', start, headEnd < 0 || headEnd > end ? end : headEnd);
  const lines = head.split('\r\n');
  const first = lines[0];
  if (first.charCodeAt(0) === 0x21) {
    const status = Number(first.slice(1));
    return status === 431 ? HttpReplies.HEADERS_TOO_LARGE : status === 414 ? HttpReplies.URI_TOO_LONG : HttpReplies.BAD_REQUEST;
  }
  // "<method> <target> <major>.<minor> <keep-alive> <body too large>": the target has no spaces.
  const fields = first.split(' ');
  const headers: IncomingHttpHeaders = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 2).replace(/[ \t]+$/, '');
    const known = headers[name];
    if (known === undefined) headers[name] = value;
    else if (!FIRST_ONLY.has(name)) headers[name] = `${known}, ${value}`;
  }
  return {
    method: fields[0],
    target: fields[1],
    keepAlive: fields[3] === '1',
    tooLarge: Number(fields[4]),
    headers,
    body: buf.subarray(headEnd + 4, end),
  };
}

/** Date.toUTCString() of this second, as Node's ServerResponse caches it. */
let dateSecond = -1;
let dateText = '';
function utcDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/**
 * The reply as Node's ServerResponse writes it: the status line, the answer's headers in
 * order (with `Connection: close` last when the listener closes after it: listener.ts
 * write()), then Date, then Node's own Connection (and Keep-Alive) unless already set.
 */
export function serializeAnswer(
  answer: HttpAnswer,
  headOnly: boolean,
  closes: boolean,
  keepAlive: boolean,
  keepAliveSeconds: number,
): Buffer[] {
  const headers: OutgoingHttpHeaders = closes ? { ...answer.headers, Connection: 'close' } : answer.headers;
  let text = `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status]}\r\n`;
  for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`;
  text += `Date: ${utcDate()}\r\n`;
  if (!closes) text += keepAlive ? `Connection: keep-alive\r\nKeep-Alive: timeout=${keepAliveSeconds}\r\n` : 'Connection: close\r\n';
  text += '\r\n';
  const head = Buffer.from(text, 'latin1');
  return answer.body === null || headOnly || answer.body.length === 0 ? [head] : [head, answer.body];
}

/** An engine whose I/O threads serve HTTP (records/native.ts). */
export interface NativeHttpEngine extends RecordsEngine {
  listenHttp(host: string | null, port: number, backlog: number, settings: NativeHttpSettings, handlers: EngineHandlers): Promise<string>;
  takeHttpServed(): Float64Array;
}

/** What the engine's HTTP listener needs to answer as listener.ts does (native/src/http_conn.h HttpSettings). */
export interface NativeHttpSettings {
  contentType: string;
  gzipFlag: number;
  casEnabled: boolean;
  keepAliveSeconds: number;
  headTimeoutMs: number;
  itemSizeMax: number;
  headLimit: number;
}

export function nativeHttpEngine(engine: RecordsEngine): NativeHttpEngine | null {
  const candidate = engine as Partial<NativeHttpEngine>;
  return typeof candidate.listenHttp === 'function' && typeof candidate.takeHttpServed === 'function'
    ? (candidate as NativeHttpEngine)
    : null;
}

/** The HTTP connections' handlers: what the engine did not answer itself. */
export class NativeHttpConnections implements EngineHandlers {
  constructor(
    private readonly ctx: ServerContext,
    private readonly counters: HttpCounters,
    private readonly engine: NativeHttpEngine,
    /** -c: connections of every kind counted together. */
    private readonly maxClients: number,
    private readonly keepAliveSeconds: number,
  ) {}

  /** Adds what the engine answered to the counters (before stats reads or resets them). */
  takeServed(): void {
    const served = this.engine.takeHttpServed();
    const counters = this.counters;
    counters.requests += served[0];
    counters.servedNatively += served[0];
    counters.hits += served[1];
    counters.notModified += served[2];
    counters.partial += served[3];
    counters.refused += served[4];
  }

  onOpen(_conn: RecordConnection): Buffer | null {
    const shared = this.ctx.counters;
    if (shared.currConnections >= this.maxClients) {
      shared.rejectedConnections++;
      return closingMessage(HttpReplies.TOO_MANY_CONNECTIONS);
    }
    shared.currConnections++;
    shared.totalConnections++;
    this.counters.currConnections++;
    this.counters.totalConnections++;
    return null;
  }

  framerFor(): Framer {
    throw new Error('HTTP connections are framed by the engine (llhttp)');
  }

  onRequests(conn: RecordConnection, batch: RequestBatch): number {
    for (let k = 0; k < batch.count; k++) {
      const request = parseRequest(batch.buf, batch.starts[k], batch.lengths[k]);
      if (!('method' in request)) {
        this.counters.requests++;
        this.counters.refused++;
        this.engine.sendRecord([closingMessage(request)], [conn]);
        conn.end();
        return batch.count;
      }
      const close = this.answer(conn, request);
      if (close) {
        conn.end();
        return batch.count;
      }
    }
    return batch.count;
  }

  onClose(_conn: RecordConnection): void {
    this.ctx.counters.currConnections--;
    this.counters.currConnections--;
  }

  onBytesRead(): void {}
  onBytesWritten(): void {}

  /** Answers one request; true when the connection closes after it. */
  private answer(conn: RecordConnection, request: ParsedRequest): boolean {
    const ctx = this.ctx;
    const headOnly = request.method === 'HEAD';
    let answer: HttpAnswer;
    let close: boolean;
    const route = routeRequest(ctx, this.counters, request, request.target);
    if ('putKey' in route) {
      if (request.tooLarge !== 0) {
        answer = answerTooLarge(ctx, this.counters, request, route.putKey);
        close = request.tooLarge === 2;
      } else {
        answer = answerPut(ctx, this.counters, request, route.putKey, Buffer.concat([request.body, CRLF]));
        close = false;
      }
    } else {
      answer = route.answer;
      close = route.close;
    }
    this.engine.sendRecord(serializeAnswer(answer, headOnly, close, request.keepAlive, this.keepAliveSeconds), [conn]);
    return close || !request.keepAlive;
  }
}
