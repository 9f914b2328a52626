/*
 * What the native engine hands the application: record handles naming the addon's record
 * table, and connections naming its slots. A connection's end(), destroy() and
 * authenticated() are operations queued in order with its replies (native.ts).
 */

import { wire } from './native-addon';
import type { RecordConnection, RecordHandle } from './types';

/** Where a connection queues operations on its slot: the engine's outbox. */
export interface SlotOperations {
  /** end()/destroy() of a connection, in order with its replies. */
  queueClose(conn: NativeConnection, op: number): void;
  /** An operation on one connection, in order with its replies. */
  queueSlotOp(conn: NativeConnection, op: number): void;
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

export class NativeConnection implements RecordConnection {
  state: unknown = null;
  lastCommandTime = 0;
  /** framerFor has been consulted (it sets up per-protocol state). */
  framed = false;
  /** onOpen refused it: the refusal is written, then it closes; the application never sees it again. */
  refused = false;
  /** end() or destroy() was called: no more requests are handed to the application. */
  closing = false;
  /** The addon reported it closed. */
  closed = false;

  constructor(
    readonly engine: SlotOperations,
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
