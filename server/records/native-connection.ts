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
  /** Accepted on the HTTP listener: its requests go to the HTTP handlers (server/http/native-front.ts). */
  Http = 16,
}

/**
 * A connection of the native engine. Kept small, as every idle connection holds one: its
 * flags are one number, its engine is on the prototype (connectionClass makes one class per
 * engine), and its addresses are strings it shares with the engine's other connections
 * (AddressNames): the local address, and the remote one as a shared "tcp:host:" prefix and
 * a port, joined only when asked (stats conns).
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
    /** The remote address up to its port ("tcp:127.0.0.1:"), or all of it when port is -1. */
    private readonly host: string,
    private readonly port: number,
    readonly local: string,
  ) {}

  get remote(): string {
    return this.port < 0 ? this.host : this.host + this.port;
  }

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

export type NativeConnectionClass = new (slot: number, id: number, host: string, port: number, local: string) => NativeConnection;

/** The class of `engine`'s connections: NativeConnection with the engine on its prototype. */
export function connectionClass(engine: SlotOperations): NativeConnectionClass {
  class EngineConnection extends NativeConnection {}
  Object.defineProperty(EngineConnection.prototype, 'engine', { value: engine });
  return EngineConnection;
}

/** At most this many distinct address strings are kept for sharing; past it the table starts over. */
const MAX_ADDRESS_NAMES = 1024;

/**
 * The address strings of an engine's connections, each kept once: every listener's local
 * address and every client host's "tcp:host:" prefix, instead of two strings per connection.
 */
export class AddressNames {
  private readonly names = new Map<string, string>();

  /** The string equal to `name` that connections share. */
  intern(name: string): string {
    const known = this.names.get(name);
    if (known !== undefined) return known;
    if (this.names.size >= MAX_ADDRESS_NAMES) this.names.clear();
    this.names.set(name, name);
    return name;
  }

  /** A connection of `Connection` with the addresses the addon reported ("tcp:1.2.3.4:5678", "unix:/path"). */
  connection(Connection: NativeConnectionClass, slot: number, id: number, remote: string, local: string): NativeConnection {
    const port = tcpPort(remote);
    const host = port < 0 ? this.intern(remote) : this.intern(remote.slice(0, remote.lastIndexOf(':') + 1));
    return new Connection(slot, id, host, port, this.intern(local));
  }
}

/** The port of a "tcp:...:port" address, written as String(port) writes it; -1 for anything else. */
function tcpPort(address: string): number {
  if (!address.startsWith('tcp:')) return -1;
  const colon = address.lastIndexOf(':');
  const digits = address.length - colon - 1;
  if (digits < 1 || digits > 5 || (digits > 1 && address.charCodeAt(colon + 1) === 48)) return -1;
  let port = 0;
  for (let i = colon + 1; i < address.length; i++) {
    const digit = address.charCodeAt(i) - 48;
    if (digit < 0 || digit > 9) return -1;
    port = port * 10 + digit;
  }
  return port;
}
