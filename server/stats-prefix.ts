/*
 * Per-prefix counters (`stats detail on|off|dump`, and -D): gets, hits, sets and deletes
 * of keys grouped by the text before the delimiter. Dumped in memcached's order: by a
 * murmur3 hash of the prefix into 256 buckets, newest first within a bucket.
 */

import { Reply } from './protocol/replies';

const PREFIX_HASH_SIZE = 256;

interface PrefixCounters {
  prefix: string;
  gets: number;
  hits: number;
  sets: number;
  deletes: number;
}

/** MurmurHash3 x86 32-bit with seed 0, over latin1 bytes: memcached's default key hash. */
export function murmur3(key: string): number {
  const c1 = 0xcc9e2d51;
  const c2 = 0x1b873593;
  const length = key.length;
  const blocks = length >>> 2;
  let h1 = 0;
  for (let i = 0; i < blocks; i++) {
    const p = i * 4;
    let k1 =
      (key.charCodeAt(p) & 0xff) |
      ((key.charCodeAt(p + 1) & 0xff) << 8) |
      ((key.charCodeAt(p + 2) & 0xff) << 16) |
      ((key.charCodeAt(p + 3) & 0xff) << 24);
    k1 = Math.imul(k1, c1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, c2);
    h1 ^= k1;
    h1 = (h1 << 13) | (h1 >>> 19);
    h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
  }
  const tail = blocks * 4;
  const rest = length & 3;
  if (rest > 0) {
    let k1 = 0;
    if (rest === 3) k1 ^= (key.charCodeAt(tail + 2) & 0xff) << 16;
    if (rest >= 2) k1 ^= (key.charCodeAt(tail + 1) & 0xff) << 8;
    k1 ^= key.charCodeAt(tail) & 0xff;
    k1 = Math.imul(k1, c1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, c2);
    h1 ^= k1;
  }
  h1 ^= length;
  h1 ^= h1 >>> 16;
  h1 = Math.imul(h1, 0x85ebca6b);
  h1 ^= h1 >>> 13;
  h1 = Math.imul(h1, 0xc2b2ae35);
  h1 ^= h1 >>> 16;
  return h1 >>> 0;
}

export class PrefixStats {
  private on: boolean;
  private readonly buckets: PrefixCounters[][] = Array.from({ length: PREFIX_HASH_SIZE }, () => []);
  /** Called when `stats detail on|off` switches counting (GETs must then all be seen by JS). */
  onToggle: ((on: boolean) => void) | null = null;

  constructor(
    private readonly delimiter: string,
    enabled: boolean,
  ) {
    this.on = enabled;
  }

  get enabled(): boolean {
    return this.on;
  }

  set enabled(on: boolean) {
    this.on = on;
    this.onToggle?.(on);
  }

  /** The counters for key's prefix, or null when the key has no delimiter. */
  private find(key: string): PrefixCounters | null {
    const length = key.indexOf(this.delimiter);
    const nul = key.indexOf('\0');
    if (length === -1 || (nul !== -1 && nul < length)) return null;
    const prefix = key.slice(0, length);
    const bucket = this.buckets[murmur3(prefix) % PREFIX_HASH_SIZE];
    // memcached compares only the new prefix's length of each stored prefix.
    for (const entry of bucket) if (entry.prefix.slice(0, length) === prefix) return entry;
    const entry = { prefix, gets: 0, hits: 0, sets: 0, deletes: 0 };
    bucket.unshift(entry);
    return entry;
  }

  recordGet(key: string, hit: boolean): void {
    const entry = this.find(key);
    if (entry === null) return;
    entry.gets++;
    if (hit) entry.hits++;
  }

  recordSet(key: string): void {
    const entry = this.find(key);
    if (entry !== null) entry.sets++;
  }

  recordDelete(key: string): void {
    const entry = this.find(key);
    if (entry !== null) entry.deletes++;
  }

  clear(): void {
    for (const bucket of this.buckets) bucket.length = 0;
  }

  dump(): Buffer {
    let text = '';
    for (const bucket of this.buckets) {
      for (const e of bucket) text += `PREFIX ${e.prefix} get ${e.gets} hit ${e.hits} set ${e.sets} del ${e.deletes}\r\n`;
    }
    return text === '' ? Reply.END : Buffer.from(text + 'END\r\n', 'latin1');
  }
}
