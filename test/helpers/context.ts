/*
 * A server context for unit tests of the request handlers and stats: the real store and
 * counters on a clock that moves only when told, and a records engine that keeps records
 * as plain bytes and counts them. No sockets.
 */

import { defaultConfig, type Config } from '../../server/config';
import { Server } from '../../server/server';
import { ManualClock } from '../../server/store/clock';
import type { ServerContext } from '../../server/context';
import type { RecordConnection, RecordHandle, RecordsEngine, Segment } from '../../server/records/types';
import { FrameStatus, newFrame } from '../../server/framing';
import { decodeText, frameText, type TextRequest } from '../../server/protocol/text';
import { ReplyQueue, type After } from '../../server/connection/reply-queue';

class BytesRecord implements RecordHandle {
  readonly record = this;
  readonly offset = 0;
  readonly length: number;
  constructor(readonly bytes: Buffer) {
    this.length = bytes.length;
  }
}

/** The parts of a records engine the handlers use; records are the bytes themselves. */
export class BytesEngine {
  readonly name = 'js' as const;
  readonly initCopies = true;
  /** No engine answers hits: every request comes to the handlers. */
  readonly readIndex = null;
  readonly ioThreads = 1;
  created = 0;
  deleted = 0;

  initRecord(bytes: Buffer): RecordHandle {
    this.created++;
    return new BytesRecord(Buffer.from(bytes));
  }

  readRecord(record: RecordHandle): Buffer {
    return (record as BytesRecord).bytes;
  }

  delRecord(): void {
    this.deleted++;
  }

  connections(): Iterable<RecordConnection> {
    return [];
  }
}

export interface TestContext {
  ctx: ServerContext;
  clock: ManualClock;
  engine: BytesEngine;
}

/** A context with memcached's default settings, changed by `config`. The clock starts at 62. */
export function testContext(config: Partial<Config> = {}): TestContext {
  const clock = new ManualClock();
  const engine = new BytesEngine();
  const server = new Server({ ...defaultConfig(), ...config }, engine as unknown as RecordsEngine, clock);
  return { ctx: server.ctx, clock, engine };
}

/** The bytes a list of reply segments puts on the wire, records read back from the engine. */
export function wireBytes(segments: readonly Segment[]): Buffer {
  return Buffer.concat(
    segments.map((s) => (Buffer.isBuffer(s) ? s : (s.record as BytesRecord).bytes.subarray(s.offset, s.offset + s.length))),
  );
}

/** The same as latin1 text, for text protocol replies. */
export function wireText(segments: readonly Segment[]): string {
  return wireBytes(segments).toString('latin1');
}

/**
 * Frames and decodes `bytes` as the text protocol (meta included) and hands each request to
 * `execute` with one ReplyQueue, as one read batch. Returns what the client would read.
 */
export function runText(
  ctx: ServerContext,
  bytes: string | Buffer,
  execute: (ctx: ServerContext, req: TextRequest, replies: ReplyQueue) => After | void,
  replies: ReplyQueue = new ReplyQueue(),
): { text: string; after: (After | void)[] } {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const limits = { itemSizeMax: ctx.config.itemSizeMax, casEnabled: !ctx.config.disableCas };
  const frame = newFrame();
  const after: (After | void)[] = [];
  let off = 0;
  while (off < buf.length) {
    frameText(buf, off, buf.length, limits, frame);
    if (frame.status !== FrameStatus.Whole) throw new Error(`incomplete request at ${off}: ${buf.toString('latin1', off, off + 40)}`);
    after.push(execute(ctx, decodeText(buf, off, frame.length, limits), replies));
    off += frame.length + frame.swallow;
  }
  return { text: wireText(replies.segments), after };
}
