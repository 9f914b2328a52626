/*
 * What request handlers share: settings, the store, the records engine, server counters.
 */

import type { Config } from './config';
import type { Store } from './store/store';
import type { ListenerInfo, RecordsEngine } from './records/types';
import type { PrefixStats } from './stats-prefix';
import type { AuthFile } from './auth-file';
import type { TlsTerminator } from './tls';
import type { EventLog } from './event-log';
import type { HttpCounters } from './http/counters';

/** Connection-level counters reported by `stats`, named after memcached's. */
export class ServerCounters {
  currConnections = 0;
  totalConnections = 0;
  rejectedConnections = 0;
  connectionStructures = 0;
  bytesRead = 0;
  bytesWritten = 0;
  connYields = 0;
  cmdMeta = 0;
  authCmds = 0;
  authErrors = 0;
  acceptingConns = true;

  /** stats reset: counters of events, not of current state. */
  reset(): void {
    this.totalConnections = 0;
    this.rejectedConnections = 0;
    this.bytesRead = 0;
    this.bytesWritten = 0;
    this.connYields = 0;
    this.cmdMeta = 0;
    this.authCmds = 0;
    this.authErrors = 0;
  }
}

/** Settings a client can change at run time. */
export interface RuntimeSettings {
  verbosity: number;
  /** `lru_crawler enable|disable` (-o no_lru_crawler starts it disabled). */
  lruCrawler: boolean;
  /** `lru_crawler sleep|tocrawl`, as `stats settings` shows them. */
  lruCrawlerSleep: string | number;
  lruCrawlerToCrawl: string | number;
}

export interface ServerContext {
  readonly config: Config;
  readonly store: Store;
  readonly engine: RecordsEngine;
  readonly counters: ServerCounters;
  readonly settings: RuntimeSettings;
  /** `stats detail`: per key prefix counters. */
  readonly prefixStats: PrefixStats;
  listeners: ListenerInfo[];
  /** Relative time the server started. */
  readonly startedAt: number;
  /** -Y: the password file, reloaded on SIGHUP; null without -Y. */
  authFile: AuthFile | null;
  /** -Z: the TLS listeners' certificates and counters; null without -Z. */
  readonly tls: TlsTerminator | null;
  /** `watch` connections and -vvv lookups. */
  readonly log: EventLog;
  /** -o http_port: the HTTP listener's counters; null without it. */
  http: HttpCounters | null;
}
