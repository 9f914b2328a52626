/*
 * The framing contract: where one whole request ends in a connection's bytes. The
 * protocol's framers (protocol/text.ts, binary.ts, auth.ts) fill a Frame; the records
 * engines (records/) call a Framer on what they read and hand over whole requests. Both
 * sides import this module and nothing of each other.
 */

export const enum FrameStatus {
  /** A whole request is at [start, start + length). */
  Whole = 1,
  /** More bytes are needed; `needed`, when nonzero, is the whole request's known length. */
  NeedMore,
  /** memcached closes the connection here (a line too long without a newline). */
  Close,
}

export interface Frame {
  status: FrameStatus;
  /** Bytes of the whole request: its line, and its data block when the data is stored. */
  length: number;
  /** Bytes after the request to discard as they arrive (the data of an item too large to store). */
  swallow: number;
  /** With NeedMore: the total length of the request when known (a storage command), else 0. */
  needed: number;
}

export function newFrame(): Frame {
  return { status: FrameStatus.NeedMore, length: 0, swallow: 0, needed: 0 };
}

/** A framer finds where one whole request ends (see protocol/text.ts frameText). */
export type Framer = (buf: Buffer, start: number, end: number, out: Frame) => Frame;
