/*
 * memcached's logger (logger.c) as operators see it: `watch` connections that receive
 * `ts=... gid=... type=...` lines for fetches, stores, evictions and connection events, and
 * the item lookups -vvv prints. It observes the store only while someone listens, so a
 * server nobody watches pays one null check per lookup.
 */

import type { RecordConnection, RecordsEngine } from './records/types';
import { LookupResult, type Item, type StoreObserver } from './store/store';
import { StoreResult } from './store/types';
import type { StoreMode } from './memcached/item';
import { WatchFlag } from './protocol/admin';
import {
  type CloseReason,
  connCloseLine,
  connNewLine,
  evictionLine,
  itemGetLine,
  itemStoreLine,
  logPrefix,
  peerOf,
} from './protocol/log-lines';
import type { Clock } from './store/clock';

/** logger.c WATCHER_LIMIT. */
export const WATCHER_LIMIT = 20;

interface Watcher {
  conn: RecordConnection;
  flags: number;
  /** Lines not yet handed to the engine. */
  pending: string[];
  pendingBytes: number;
  /** Lines dropped while `pending` was full; reported as `skipped=N` before the next line. */
  skipped: number;
}

export class EventLog implements StoreObserver {
  private readonly watchers: Watcher[] = [];
  /** The union of every watcher's flags. */
  private flags = 0;
  private gid = 0;
  private flushScheduled = false;
  /** The verbosity (-v count, or the `verbosity` command's level). */
  private verbosity = 0;
  /** The connection whose request is being executed (the `cfd` of item lines); null for UDP. */
  current: RecordConnection | null = null;
  /** Counters for `stats`: log_worker_written, log_watcher_sent, log_watcher_skipped. */
  written = 0;
  sent = 0;
  skipped = 0;
  /** Called when whether every GET must reach JavaScript may have changed (see wantsEveryGet). */
  onWantsEveryGet: (() => void) | null = null;

  constructor(
    private readonly engine: RecordsEngine,
    private readonly store: { observer: StoreObserver | null; readonly clock: Clock },
    /** A watcher's buffer (watcher_logbuf_size): lines beyond it are skipped until it is sent. */
    private readonly bufferBytes: number,
    private readonly write: (text: string) => void = (text) => process.stderr.write(text),
  ) {}

  get watcherCount(): number {
    return this.watchers.length;
  }

  /**
   * Whether every GET hit must reach JavaScript rather than be answered by the records
   * engine's read index, which the server then turns off (read-index.ts): a fetchers watcher
   * logs each hit, -vv prints each command, and a watcher's own GETs must go unanswered
   * (the engine cannot be told that one connection only listens).
   */
  get wantsEveryGet(): boolean {
    return this.watchers.length > 0 || this.verbosity > 1;
  }

  /** Adds a watcher; false when WATCHER_LIMIT are attached. It starts with `OK\r\n`, sent by the caller. */
  add(conn: RecordConnection, flags: number): boolean {
    if (this.watchers.length >= WATCHER_LIMIT) return false;
    const before = this.wantsEveryGet;
    // memcached gives the watcher a gid of its own: lines logged before it are not sent.
    this.gid++;
    this.watchers.push({ conn, flags, pending: [], pendingBytes: 0, skipped: 0 });
    this.refresh(before);
    return true;
  }

  /** A connection closed: it stops being a watcher (if it was one). */
  remove(conn: RecordConnection): void {
    const at = this.watchers.findIndex((w) => w.conn === conn);
    if (at === -1) return;
    const before = this.wantsEveryGet;
    this.watchers.splice(at, 1);
    this.refresh(before);
  }

  /** -vv and -vvv follow the verbosity, which the `verbosity` command may change. */
  setVerbosity(level: number): void {
    const before = this.wantsEveryGet;
    this.verbosity = level;
    this.refresh(before);
  }

  /** Recomputes what is observed; `before` is wantsEveryGet before the change. */
  private refresh(before: boolean): void {
    let flags = 0;
    for (const w of this.watchers) flags |= w.flags;
    this.flags = flags;
    const observing = this.verbosity > 2 || (flags & (WatchFlag.Fetchers | WatchFlag.Mutations | WatchFlag.Evictions)) !== 0;
    this.store.observer = observing ? this : null;
    if (before !== this.wantsEveryGet) this.onWantsEveryGet?.();
  }

  private cfd(): number {
    return this.current === null ? 0 : this.current.id;
  }

  // --- the store's traffic ---

  lookup(key: string, result: LookupResult, item: Item | null): void {
    if (this.verbosity > 2) {
      const found = result === LookupResult.Found;
      const nuked = result === LookupResult.Flushed ? ' -nuked by flush' : result === LookupResult.Expired ? ' -nuked by expire' : '';
      // memcached prints FOUND KEY for a flushed or expired item, then says it was nuked.
      this.write(`${found || nuked !== '' ? '> FOUND KEY ' : '> NOT FOUND '}${key}${nuked}\n`);
    }
    if ((this.flags & WatchFlag.Fetchers) === 0) return;
    const classId = item === null ? 0 : item.lruClass;
    this.emit(WatchFlag.Fetchers, itemGetLine(key, result, classId, this.cfd(), item === null ? 0 : item.valueLength));
  }

  stored(result: StoreResult, mode: StoreMode, key: string, valueLength: number, exptime: number, classId: number): void {
    if ((this.flags & WatchFlag.Mutations) === 0) return;
    if (result === StoreResult.TooLarge) {
      // memcached 1.6.18 passes one argument too few here (proto_text.c process_update_command):
      // the connection's fd lands in clsid and cfd reads 0.
      this.emit(WatchFlag.Mutations, itemStoreLine(key, result, mode, 0, this.cfd(), 0, 0));
      return;
    }
    const ttl = exptime === 0 ? 0 : exptime - this.store.clock.now();
    this.emit(WatchFlag.Mutations, itemStoreLine(key, result, mode, ttl, classId, this.cfd(), Math.max(0, valueLength)));
  }

  evicted(item: Item): void {
    if ((this.flags & WatchFlag.Evictions) === 0) return;
    const now = this.store.clock.now();
    const ttl = item.exptime > 0 ? item.exptime - now : -1;
    this.emit(WatchFlag.Evictions, evictionLine(item.key, item.fetched, ttl, now - item.time, item.lruClass, item.valueLength));
  }

  // --- connections ---

  connectionOpened(conn: RecordConnection): void {
    if ((this.flags & WatchFlag.ConnEvents) !== 0) this.emit(WatchFlag.ConnEvents, connNewLine(peerOf(conn.remote), conn.id));
  }

  connectionClosed(conn: RecordConnection, reason: CloseReason = 'normal'): void {
    this.remove(conn);
    if ((this.flags & WatchFlag.ConnEvents) !== 0) this.emit(WatchFlag.ConnEvents, connCloseLine(peerOf(conn.remote), reason, conn.id));
  }

  // --- delivery ---

  private emit(flag: WatchFlag, body: string): void {
    const gid = ++this.gid;
    this.written++;
    const line = logPrefix(Math.floor((performance.timeOrigin + performance.now()) * 1000), gid) + body;
    for (const w of this.watchers) {
      if ((w.flags & flag) === 0) continue;
      if (w.pendingBytes + line.length > this.bufferBytes) {
        w.skipped++;
        this.skipped++;
        continue;
      }
      if (w.skipped > 0) {
        const note = `skipped=${w.skipped}\n`;
        w.pending.push(note);
        w.pendingBytes += note.length;
        w.skipped = 0;
      }
      w.pending.push(line);
      w.pendingBytes += line.length;
      this.sent++;
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Hands each watcher's lines to the engine, after the replies of the batch that logged them. */
  private flush(): void {
    this.flushScheduled = false;
    for (const w of this.watchers) {
      if (w.pending.length === 0) continue;
      const text = w.pending.join('');
      w.pending.length = 0;
      w.pendingBytes = 0;
      this.engine.sendRecord([Buffer.from(text, 'latin1')], [w.conn]);
    }
  }
}
