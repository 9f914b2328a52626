/*
 * Every HTTP reply recordcache writes other than a value: its status and its body, in one
 * table, and the same replies as whole messages for the moments no response object exists
 * (a request the parser refused, a connection past -c).
 */

import { STATUS_CODES } from 'node:http';

export interface HttpReply {
  readonly status: number;
  readonly body: string;
}

function reply(status: number, body: string): HttpReply {
  return { status, body: `${body}\n` };
}

export const HttpReplies = {
  NOT_FOUND: reply(404, 'Not Found'),
  BAD_KEY: reply(400, 'Bad Request: the path is not a memcached key (1 to 250 bytes, no spaces or control characters)'),
  BAD_REQUEST: reply(400, 'Bad Request'),
  BAD_FLAGS: reply(400, 'Bad Request: X-Memcached-Flags must be a 32-bit unsigned decimal number'),
  BAD_EXPTIME: reply(400, 'Bad Request: X-Memcached-Exptime must be a 32-bit signed decimal number'),
  METHOD_NOT_ALLOWED: reply(405, 'Method Not Allowed'),
  PRECONDITION_FAILED: reply(412, 'Precondition Failed'),
  TOO_LARGE: reply(413, 'Content Too Large: the item would be larger than the item size limit (-I)'),
  URI_TOO_LONG: reply(414, 'URI Too Long'),
  RANGE_NOT_SATISFIABLE: reply(416, 'Range Not Satisfiable'),
  HEADERS_TOO_LARGE: reply(431, 'Request Header Fields Too Large'),
  REQUEST_TIMEOUT: reply(408, 'Request Timeout'),
  OUT_OF_MEMORY: reply(507, 'Insufficient Storage: out of memory storing object'),
  TOO_MANY_CONNECTIONS: reply(503, 'Service Unavailable: too many open connections'),
} as const;

/** The whole message for a reply written straight to a socket, which then closes. */
export function closingMessage(reply: HttpReply): Buffer {
  return Buffer.from(
    `HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status]}\r\n` +
      'Content-Type: text/plain; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(reply.body)}\r\n` +
      'Connection: close\r\n\r\n' +
      reply.body,
    'latin1',
  );
}

/** Headers recordcache reads beyond HTTP's own (as Node names request headers: lower case), and replies with. */
export const FLAGS_HEADER = 'x-memcached-flags';
export const EXPTIME_HEADER = 'x-memcached-exptime';
export const FLAGS_REPLY_HEADER = 'X-Memcached-Flags';
