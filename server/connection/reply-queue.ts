/*
 * A connection's replies to one batch of requests, as segments flushed together, and
 * what the connection does once they are written.
 */

import type { Segment } from '../records/types';

/** What the connection must do after the batch's replies are flushed. */
export const enum After {
  Continue = 0,
  /** quit: close once the replies are written. */
  Close,
  /** shutdown: close and stop the server. */
  Shutdown,
  /** watch: the connection now only receives log lines; the batch's other requests are dropped. */
  Detach,
}

/**
 * A batch's replies, and how many of them memcached would already have written: it
 * transmits after each get, and a later get with a too-long key discards what is unsent.
 */
export class ReplyQueue {
  readonly segments: Segment[] = [];
  sent = 0;
  /**
   * Requests of this batch executed before the current one: memcached refuses `watch` and
   * `lru_crawler metadump` behind them (they would have replies still stacked).
   */
  earlier = 0;
  /** Replies noreply kept from the client, collected only while -vv prints them (else null). */
  unsaid: Buffer[] | null = null;
  /** Where the last answer to an unauthenticated request (-Y) is, or -1 (see commands/auth.ts). */
  authReply = -1;
  /**
   * Where each of memcached's response objects not yet written ends, for a transport that
   * sends every one separately (UDP): a get adds one per key but the last, its caller one per
   * command. null (no bookkeeping) for TCP.
   */
  readonly responseEnds: number[] | null;

  /** recordValues: values may be record slices (false: plain bytes, for replies built in JS). */
  constructor(
    readonly recordValues = true,
    trackResponses = false,
  ) {
    this.responseEnds = trackResponses ? [] : null;
  }

  clear(): void {
    this.segments.length = 0;
    this.sent = 0;
    this.earlier = 0;
    this.unsaid = null;
    this.authReply = -1;
    if (this.responseEnds !== null) this.responseEnds.length = 0;
  }
}

/**
 * memcached writes out what it holds once -R requests of one read are done: after the
 * 21st, 41st, ... request of a batch (reqs_per_event 20).
 */
export function endsEvent(handled: number, perEvent: number): boolean {
  return handled > perEvent && (handled - 1) % perEvent === 0;
}
