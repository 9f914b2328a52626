/*
 * A native (or kmod) engine with TLS listeners beside it. The addon owns its sockets in C++
 * and does not speak TLS, so listeners that do (-Z) are served by a js engine in the same
 * server; the others stay native. Each connection stays with the engine that accepted it,
 * and the application sees one RecordsEngine.
 *
 * A record is made in the native engine, as without TLS, and also kept as its bytes, so it
 * can be sent to a TLS connection (the js engine writes Buffers; TLS encrypts per connection
 * anyway, so nothing is shared there to lose).
 */

import { JsRecord, type JsRecordsEngine } from './js';
import type {
  EngineHandlers,
  ListenOptions,
  ListenerInfo,
  PublishedItem,
  ReadIndex,
  RecordConnection,
  RecordHandle,
  RecordsEngine,
  Segment,
} from './types';

class CompositeRecord implements RecordHandle {
  readonly offset = 0;
  readonly length: number;
  /** The js engine's copy, made when a TLS connection first asks for the record. */
  private tlsCopy: JsRecord | null = null;
  constructor(
    readonly inner: RecordHandle,
    private readonly main: RecordsEngine,
  ) {
    this.length = inner.length;
  }
  get record(): RecordHandle {
    return this;
  }
  get tlsRecord(): JsRecord {
    this.tlsCopy ??= new JsRecord(this.main.readRecord(this.inner));
    return this.tlsCopy;
  }
}

/** The main engine's read index, published to with composite records. */
class CompositeReadIndex implements ReadIndex {
  constructor(private readonly inner: ReadIndex) {}
  get onFetched(): ReadIndex['onFetched'] {
    return this.inner.onFetched;
  }
  set onFetched(handler: ReadIndex['onFetched']) {
    this.inner.onFetched = handler;
  }
  publish(item: PublishedItem): void {
    this.inner.publish(item.record === null ? item : { ...item, record: (item.record as CompositeRecord).inner });
  }
  unpublish(key: string): void {
    this.inner.unpublish(key);
  }
  clear(): void {
    this.inner.clear();
  }
  flushDue(second: number): void {
    this.inner.flushDue(second);
  }
  setClock(manual: number, originNs: number, start: number): void {
    this.inner.setClock(manual, originNs, start);
  }
  setServing(on: boolean): void {
    this.inner.setServing(on);
  }
  takeServed(): Float64Array {
    return this.inner.takeServed();
  }
}

/** The same message with each record slice naming `pick`'s handle of it. */
function translate(message: readonly Segment[], pick: (record: CompositeRecord) => RecordHandle): Segment[] {
  return message.map((segment) => {
    if (Buffer.isBuffer(segment)) return segment;
    const handle = pick(segment.record as CompositeRecord);
    return segment.offset === 0 && segment.length === handle.length
      ? handle
      : { record: handle, offset: segment.offset, length: segment.length };
  });
}

export class TlsCompositeEngine implements RecordsEngine {
  readonly name: RecordsEngine['name'];
  readonly initCopies: boolean;
  /** Connections the js engine accepted (the TLS ones). */
  private readonly tlsConnections = new Set<RecordConnection>();

  constructor(
    private readonly main: RecordsEngine,
    private readonly tls: JsRecordsEngine,
  ) {
    this.name = main.name;
    this.initCopies = main.initCopies;
    // The main engine answers hits on its own connections; its index knows its own handles.
    this.readIndex = main.readIndex === null ? null : new CompositeReadIndex(main.readIndex);
    this.ioThreads = main.ioThreads;
  }

  readonly ioThreads: number;

  readonly readIndex: ReadIndex | null;

  initRecord(bytes: Buffer): RecordHandle {
    return new CompositeRecord(this.main.initRecord(bytes), this.main);
  }

  readRecord(record: RecordHandle): Buffer {
    return this.main.readRecord((record as CompositeRecord).inner);
  }

  delRecord(record: RecordHandle): void {
    this.main.delRecord((record as CompositeRecord).inner);
  }

  sendRecord(message: readonly Segment[], group: readonly RecordConnection[], priority = 0): void {
    let mainGroup: RecordConnection[] | null = null;
    let tlsGroup: RecordConnection[] | null = null;
    for (const conn of group) {
      if (this.tlsConnections.has(conn)) (tlsGroup ??= []).push(conn);
      else (mainGroup ??= []).push(conn);
    }
    if (mainGroup !== null)
      this.main.sendRecord(
        translate(message, (r) => r.inner),
        mainGroup,
        priority,
      );
    if (tlsGroup !== null)
      this.tls.sendRecord(
        translate(message, (r) => r.tlsRecord),
        tlsGroup,
        priority,
      );
  }

  unsendRecord(record: RecordHandle, group: readonly RecordConnection[]): number {
    const inner = (record as CompositeRecord).inner;
    return this.main.unsendRecord(
      inner,
      group.filter((conn) => !this.tlsConnections.has(conn)),
    );
  }

  async listen(options: ListenOptions, handlers: EngineHandlers): Promise<ListenerInfo[]> {
    const plain = options.tcp.filter((entry) => !entry.tls);
    const secure = options.tcp.filter((entry) => entry.tls);
    const tlsHandlers: EngineHandlers = {
      ...handlers,
      onOpen: (conn) => {
        const refusal = handlers.onOpen(conn);
        if (refusal === null) this.tlsConnections.add(conn);
        return refusal;
      },
      onClose: (conn) => {
        this.tlsConnections.delete(conn);
        handlers.onClose(conn);
      },
    };
    const mainInfos = await this.main.listen({ ...options, tcp: plain }, handlers);
    const tlsInfos = await this.tls.listen({ tcp: secure, unix: null, backlog: options.backlog }, tlsHandlers);
    // Listener ids are each engine's own; renumber the TLS ones after the main engine's.
    const infos = [...mainInfos];
    let next = mainInfos.reduce((max, info) => Math.max(max, info.id + 1), 0);
    for (const info of tlsInfos) infos.push({ address: info.address, id: next++ });
    return infos;
  }

  async stopListening(): Promise<void> {
    await Promise.all([this.main.stopListening(), this.tls.stopListening()]);
  }

  *connections(): Iterable<RecordConnection> {
    yield* this.main.connections();
    yield* this.tls.connections();
  }

  async drain(graceMs?: number): Promise<void> {
    await Promise.all([this.main.drain(graceMs), this.tls.drain(graceMs)]);
  }

  recordCounters(): [string, number][] {
    return this.main.recordCounters?.() ?? [];
  }
}
