/*
 * Executes the requests of a connection that has not yet authenticated under -Y, with
 * memcached 1.6.18's replies and counters.
 *
 * memcached answers these requests from one response object that it only lets go once it
 * has written it out: every request answered before that overwrites the previous answer.
 * So of several such requests pipelined together the client sees only the last answer
 * (and one per -R requests), which ReplyQueue.authReply reproduces.
 */

import { Reply } from '../protocol/replies';
import { AuthKind, type AuthRequest } from '../protocol/auth';
import type { ServerContext } from '../context';
import type { ReplyQueue } from '../connection/reply-queue';

/** Answers one request; returns true when the connection is now authenticated. */
export function executeAuth(ctx: ServerContext, req: AuthRequest, replies: ReplyQueue): boolean {
  let reply: Buffer;
  let authenticated = false;
  switch (req.kind) {
    case AuthKind.Unauthenticated:
      reply = Reply.UNAUTHENTICATED;
      break;
    case AuthKind.BadTermination:
      reply = Reply.BAD_TERMINATION;
      break;
    case AuthKind.BadFormat:
      reply = Reply.BAD_AUTH_TOKEN_FORMAT;
      break;
    case AuthKind.Credentials:
      ctx.counters.authCmds++;
      authenticated = ctx.authFile !== null && ctx.authFile.check(req.user, req.password);
      if (authenticated) {
        reply = Reply.STORED;
      } else {
        ctx.counters.authErrors++;
        reply = Reply.AUTHENTICATION_FAILURE;
      }
      break;
  }
  const out = replies.segments;
  if (replies.authReply >= replies.sent && replies.authReply === out.length - 1) out[replies.authReply] = reply;
  else {
    replies.authReply = out.length;
    out.push(reply);
  }
  return authenticated;
}
