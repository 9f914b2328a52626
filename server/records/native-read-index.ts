/*
 * The native engine's read index, seen from JavaScript: publications and removals go out
 * with the engine's outbox, so the addon applies each before the replies queued after it
 * (engine_binding.cc ApplyIndexOp), and the counters of natively served hits come back.
 */

import { type NativeEngineHandle, wire } from './native-addon';
import type { NativeRecord } from './native-connection';
import type { PublishedItem, ReadIndex } from './types';

/** What the index needs of its engine: the outbox, and where served counts add up. */
export interface IndexOutbox {
  /** key null: none, or for a publication, the key the index has under the handle. */
  queueIndexOp(op: number, lead: number | null, key: string | null, data: Buffer | null, words: readonly number[]): void;
  servedRequests: number;
  servedHits: number;
}

const TWO_32 = 2 ** 32;

/** The native engine's read index: changes go out with the engine's outbox, in order with replies. */
export class NativeReadIndex implements ReadIndex {
  onFetched: ((handle: number, serial: number) => void) | null = null;
  // A publication's words, filled for each call (queueIndexOp copies them out at once).
  private readonly words = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
  constructor(
    private readonly engine: IndexOutbox,
    private readonly native: NativeEngineHandle,
  ) {}

  publish(item: PublishedItem): void {
    const record = item.record as NativeRecord | null;
    // A record already released (or never sent) cannot be published; its item is not served here.
    if (record !== null && record.id < 0) return;
    const cas = item.cas;
    const words = this.words;
    words[0] = item.dataLength;
    words[1] = item.flags | 0;
    words[2] = item.exptime | 0;
    words[3] = (cas % TWO_32) | 0;
    words[4] = Math.floor(cas / TWO_32) | 0;
    words[5] = item.serial | 0;
    words[6] = item.hitClass;
    words[7] = item.traits | (item.fetchState << 8);
    words[8] = item.handle | 0;
    words[9] = item.previousSerial | 0;
    // A republication sends no key: the engine has it under the handle (reading the item's
    // key string again would cost a cache miss a store).
    const key = item.previousSerial === 0 ? item.key : null;
    this.engine.queueIndexOp(wire.ops.publish, record === null ? -1 : record.id, key, record === null ? item.data : null, words);
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
