/*
 * What the listener does with a parsed request, whoever parsed it (Node's http on js,
 * llhttp in the native engine): the answer and whether the connection closes after it, or,
 * for a PUT, the key its body is to be stored under.
 */

import type { ServerContext } from '../context';
import type { HttpCounters } from './counters';
import { type HttpAnswer, type HttpRequestHead, answerDelete, answerRead, replyAnswer } from './answer';
import { type HttpReply, HttpReplies } from './replies';
import { keyOfTarget } from './key';

/** The longest request target answered; past it, 414 (nginx's large_client_header_buffers is 8k too). */
export const REQUEST_TARGET_LIMIT = 8 * 1024;

export type HttpRoute = { answer: HttpAnswer; close: boolean } | { putKey: string };

export function hasBody(head: HttpRequestHead): boolean {
  const length = head.headers['content-length'];
  return (length !== undefined && length !== '0') || head.headers['transfer-encoding'] !== undefined;
}

function refuse(counters: HttpCounters, reply: HttpReply, headOnly: boolean, close: boolean): HttpRoute {
  counters.refused++;
  return { answer: replyAnswer(reply, headOnly), close };
}

/** Counts the request and routes it (listener.ts onRequest). */
export function routeRequest(ctx: ServerContext, counters: HttpCounters, head: HttpRequestHead, target: string): HttpRoute {
  counters.requests++;
  const method = head.method ?? '';
  if (target.length > REQUEST_TARGET_LIMIT) return refuse(counters, HttpReplies.URI_TOO_LONG, method === 'HEAD', true);
  const writes = ctx.config.httpWrites;
  if (method !== 'GET' && method !== 'HEAD' && !(writes && (method === 'PUT' || method === 'DELETE'))) {
    counters.refused++;
    const allow = writes ? 'GET, HEAD, PUT, DELETE' : 'GET, HEAD';
    // A body the method was not meant to carry is not read: the connection closes after the reply.
    return { answer: replyAnswer(HttpReplies.METHOD_NOT_ALLOWED, false, { Allow: allow }), close: hasBody(head) };
  }
  const key = keyOfTarget(target);
  if (key === null) return refuse(counters, HttpReplies.BAD_KEY, method === 'HEAD', method === 'PUT');
  if (method === 'GET' || method === 'HEAD') return { answer: answerRead(ctx, counters, head, key), close: false };
  if (method === 'DELETE') return { answer: answerDelete(ctx, counters, head, key), close: hasBody(head) };
  return { putKey: key };
}
