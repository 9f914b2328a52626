/*
 * memcached's option table: every option letter and long name, and what argument it takes.
 */

import type { RecordsBackendName } from '../config';

export const PROGRAM = 'recordcache';

export type ArgumentKind = 'none' | 'required' | 'optional';

export interface OptionSpec {
  /** The short letter, or the long name for long-only options. */
  id: string;
  short: string | null;
  long: string | null;
  argument: ArgumentKind;
}

// memcached's longopts table, in its order (getopt_long lists ambiguous matches in this order).
export const OPTIONS: readonly OptionSpec[] = [
  { id: 'a', short: 'a', long: 'unix-mask', argument: 'required' },
  { id: 'A', short: 'A', long: 'enable-shutdown', argument: 'none' },
  { id: 'Z', short: 'Z', long: 'enable-ssl', argument: 'none' },
  { id: 'p', short: 'p', long: 'port', argument: 'required' },
  { id: 's', short: 's', long: 'unix-socket', argument: 'required' },
  { id: 'U', short: 'U', long: 'udp-port', argument: 'required' },
  { id: 'm', short: 'm', long: 'memory-limit', argument: 'required' },
  { id: 'M', short: 'M', long: 'disable-evictions', argument: 'none' },
  { id: 'c', short: 'c', long: 'conn-limit', argument: 'required' },
  { id: 'k', short: 'k', long: 'lock-memory', argument: 'none' },
  { id: 'h', short: 'h', long: 'help', argument: 'none' },
  { id: 'i', short: 'i', long: 'license', argument: 'none' },
  { id: 'V', short: 'V', long: 'version', argument: 'none' },
  { id: 'r', short: 'r', long: 'enable-coredumps', argument: 'none' },
  { id: 'v', short: 'v', long: 'verbose', argument: 'optional' },
  { id: 'd', short: 'd', long: 'daemon', argument: 'none' },
  { id: 'l', short: 'l', long: 'listen', argument: 'required' },
  { id: 'u', short: 'u', long: 'user', argument: 'required' },
  { id: 'P', short: 'P', long: 'pidfile', argument: 'required' },
  { id: 'f', short: 'f', long: 'slab-growth-factor', argument: 'required' },
  { id: 'n', short: 'n', long: 'slab-min-size', argument: 'required' },
  { id: 't', short: 't', long: 'threads', argument: 'required' },
  { id: 'L', short: 'L', long: 'enable-largepages', argument: 'none' },
  { id: 'R', short: 'R', long: 'max-reqs-per-event', argument: 'required' },
  { id: 'C', short: 'C', long: 'disable-cas', argument: 'none' },
  { id: 'b', short: 'b', long: 'listen-backlog', argument: 'required' },
  { id: 'B', short: 'B', long: 'protocol', argument: 'required' },
  { id: 'I', short: 'I', long: 'max-item-size', argument: 'required' },
  { id: 'S', short: 'S', long: 'enable-sasl', argument: 'none' },
  { id: 'F', short: 'F', long: 'disable-flush-all', argument: 'none' },
  { id: 'X', short: 'X', long: 'disable-dumping', argument: 'none' },
  { id: 'W', short: 'W', long: 'disable-watch', argument: 'none' },
  { id: 'Y', short: 'Y', long: 'auth-file', argument: 'required' },
  { id: 'e', short: 'e', long: 'memory-file', argument: 'required' },
  { id: 'o', short: 'o', long: 'extended', argument: 'required' },
  { id: 'N', short: 'N', long: 'napi-ids', argument: 'required' },
  // Short-only in memcached.
  { id: 'D', short: 'D', long: null, argument: 'required' },
  // recordcache's own.
  { id: 'records', short: null, long: 'records', argument: 'required' },
];

export const RECORDS_BACKENDS: readonly RecordsBackendName[] = ['auto', 'js', 'native', 'kmod'];

export function optionLabel(spec: OptionSpec): string {
  if (spec.short === null) return `--${spec.long}`;
  if (spec.long === null) return `-${spec.short}`;
  return `-${spec.short} (--${spec.long})`;
}
