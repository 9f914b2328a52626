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

/** What has happened to a NativeConnection, folded into one small number (its `flags`). */
export const enum ConnFlag {
  /** framerFor has been consulted (it sets up per-protocol state). */
  Framed = 1,
  /** onOpen refused it: the refusal is written, then it closes; the application never sees it again. */
  Refused = 2,
  /** end() or destroy() was called: no more requests are handed to the application. */
  Closing = 4,
  /** The addon reported it closed. */
  Closed = 8,
}

/**
 * A connection of the native engine. Kept small, as every idle connection holds one: its
 * flags are one number, and its engine is on the prototype (connectionClass makes one class
 * per engine).
 */
export abstract class NativeConnection implements RecordConnection {
  /** Where end(), destroy() and authenticated() are queued: on the prototype, see connectionClass. */
  declare readonly engine: SlotOperations;
  state: unknown = null;
  lastCommandTime = 0;
  /** ConnFlag bits. */
  flags = 0;

  constructor(
    readonly slot: number,
    readonly id: number,
    readonly remote: string,
    readonly local: string,
  ) {}

  get framed(): boolean {
    return (this.flags & ConnFlag.Framed) !== 0;
  }

  get refused(): boolean {
    return (this.flags & ConnFlag.Refused) !== 0;
  }

  get closing(): boolean {
    return (this.flags & ConnFlag.Closing) !== 0;
  }

  get closed(): boolean {
    return (this.flags & ConnFlag.Closed) !== 0;
  }

  end(): void {
    if ((this.flags & (ConnFlag.Closing | ConnFlag.Closed)) !== 0) return;
    this.flags |= ConnFlag.Closing;
    this.engine.queueClose(this, wire.ops.end);
  }

  destroy(): void {
    if (this.closed) return;
    this.flags |= ConnFlag.Closing;
    this.engine.queueClose(this, wire.ops.destroy);
  }

  authenticated(): void {
    if (this.closed) return;
    this.engine.queueSlotOp(this, wire.ops.authenticated);
  }
}

export type NativeConnectionClass = new (slot: number, id: number, remote: string, local: string) => NativeConnection;

/** The class of `engine`'s connections: NativeConnection with the engine on its prototype. */
export function connectionClass(engine: SlotOperations): NativeConnectionClass {
  class EngineConnection extends NativeConnection {}
  Object.defineProperty(EngineConnection.prototype, 'engine', { value: engine });
  return EngineConnection;
}
