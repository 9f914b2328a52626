/*
 * The native engine's read index (server/read-index.ts publishes to it): what the I/O
 * threads answer GET hits from (native/src/read_index.h).
 */

import type { NativeEngineHandle } from './native-addon';
import { wire } from './native-addon';
import type { NativeRecord } from './native-connection';
import type { PublishedItem, ReadIndex } from './types';

/** What the read index needs of its engine: the outbox its changes go out with. */
export interface IndexOutbox {
  queueIndexOp(op: number, lead: number | null, key: string | null, data: Buffer | null, words: readonly number[]): void;
  servedRequests: number;
  servedHits: number;
}

const TWO_32 = 2 ** 32;

/** The native engine's read index: changes go out with the engine's outbox, in order with replies. */
export class NativeReadIndex implements ReadIndex {
  onFetched: ((handle: number, serial: number) => void) | null = null;
  constructor(
    private readonly engine: IndexOutbox,
    private readonly native: NativeEngineHandle,
  ) {}

  publish(item: PublishedItem): void {
    const record = item.record as NativeRecord | null;
    // A record already released (or never sent) cannot be published; its item is not served here.
    if (record !== null && record.id < 0) return;
    const cas = item.cas;
    this.engine.queueIndexOp(wire.ops.publish, record === null ? -1 : record.id, item.key, record === null ? item.data : null, [
      item.dataLength,
      item.flags | 0,
      item.exptime | 0,
      (cas % TWO_32) | 0,
      Math.floor(cas / TWO_32) | 0,
      item.serial | 0,
      item.hitClass,
      item.traits | (item.fetchState << 8),
      item.handle | 0,
    ]);
  }

  unpublish(key: string): void {
    this.engine.queueIndexOp(wire.ops.unpublish, null, key, null, []);
  }

  clear(): void {
    this.engine.queueIndexOp(wire.ops.clearIndex, null, null, null, []);
  }

  flushDue(second: number): void {
    this.engine.queueIndexOp(wire.ops.flushDue, second | 0, null, null, []);
  }

  setClock(manual: number, originNs: number, start: number): void {
    this.native.setClock(manual, originNs, start);
  }

  setServing(on: boolean): void {
    this.native.setServing(on);
  }

  takeServed(): Float64Array {
    const served = this.native.takeServed();
    this.engine.servedRequests += served[4];
    this.engine.servedHits += served[1];
    return served;
  }
}
