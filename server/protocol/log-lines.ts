/*
 * The lines memcached's operator tools read: `lru_crawler metadump` (crawler.c
 * crawler_metadump_eval) and `watch` (logger.c _logger_parse_*), byte for byte. Pure
 * formatting; the caller supplies the times and numbers.
 */

/** util.c uriencode: everything but ASCII letters, digits and `-._~` as %XX (upper case). */
export function uriencode(key: string): string {
  let out = '';
  let plainFrom = 0;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    const plain =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x2d ||
      c === 0x2e ||
      c === 0x5f ||
      c === 0x7e;
    if (plain) continue;
    out += key.slice(plainFrom, i) + '%' + (c & 0xff).toString(16).toUpperCase().padStart(2, '0');
    plainFrom = i + 1;
  }
  return plainFrom === 0 ? key : out + key.slice(plainFrom);
}

export interface MetadumpEntry {
  key: string;
  /** Unix expiry time, or -1 for none. */
  exp: number;
  /** Unix time of the last access. */
  lastAccess: number;
  cas: number;
  fetched: boolean;
  classId: number;
  /** The bytes memcached charges the item (ITEM_ntotal). */
  size: number;
}

/** One metadump line: memcached ends these with a bare LF (and the dump with `END\r\n`). */
export function metadumpLine(e: MetadumpEntry): string {
  return `key=${uriencode(e.key)} exp=${e.exp} la=${e.lastAccess} cas=${e.cas} fetch=${e.fetched ? 'yes' : 'no'} cls=${e.classId} size=${e.size}\n`;
}

/** The `ts=<sec>.<usec> gid=<n> ` every watcher line starts with (usec not zero padded, as memcached prints it). */
export function logPrefix(unixMicros: number, gid: number): string {
  const seconds = Math.floor(unixMicros / 1e6);
  return `ts=${seconds}.${unixMicros - seconds * 1e6} gid=${gid} `;
}

const LOOKUP_STATUS = ['not_found', 'found', 'flushed', 'expired'];

/** type=item_get: `status` is 0 not found, 1 found, 2 flushed, 3 expired; size is the value's length. */
export function itemGetLine(key: string, status: number, classId: number, cfd: number, size: number): string {
  return `type=item_get key=${uriencode(key)} status=${LOOKUP_STATUS[status]} clsid=${classId} cfd=${cfd} size=${size}\n`;
}

/** memcached's store_item_type names, by recordcache's StoreResult (1 stored ... 6 no memory). */
const STORE_STATUS = ['not_stored', 'stored', 'not_stored', 'exists', 'not_found', 'too_large', 'no_memory', 'no_memory'];
/** memcached's command names, by StoreMode (1 set ... 6 cas). */
const STORE_COMMAND = ['null', 'set', 'add', 'replace', 'append', 'prepend', 'cas'];

/** type=item_store: ttl is seconds left (wrapped to unsigned as memcached prints it), 0 for none. */
export function itemStoreLine(key: string, result: number, mode: number, ttl: number, classId: number, cfd: number, size: number): string {
  return `type=item_store key=${uriencode(key)} status=${STORE_STATUS[result] ?? 'not_stored'} cmd=${STORE_COMMAND[mode] ?? 'na'} ttl=${ttl >>> 0} clsid=${classId} cfd=${cfd} size=${size}\n`;
}

/** type=eviction: ttl -1 for none; la is seconds since the last access. */
export function evictionLine(key: string, fetched: boolean, ttl: number, lastAccessAge: number, classId: number, size: number): string {
  return `type=eviction key=${uriencode(key)} fetch=${fetched ? 'yes' : 'no'} ttl=${ttl} la=${lastAccessAge} clsid=${classId} size=${size}\n`;
}

/** A connection's peer as the logger names it: IP and port, or `unix` and 0. */
export interface Peer {
  ip: string;
  port: number;
  transport: 'tcp' | 'udp' | 'local';
}

export function connNewLine(peer: Peer, cfd: number): string {
  return `type=conn_new rip=${peer.ip} rport=${peer.port} transport=${peer.transport} cfd=${cfd}\n`;
}

export type CloseReason = 'error' | 'normal' | 'idle_timeout' | 'shutdown';

export function connCloseLine(peer: Peer, reason: CloseReason, cfd: number): string {
  return `type=conn_close rip=${peer.ip} rport=${peer.port} transport=${peer.transport} reason=${reason} cfd=${cfd}\n`;
}

/** A connection's `remote` ("tcp:127.0.0.1:5000", "tcp:[::1]:5000", "unix:/path") as a Peer. */
export function peerOf(remote: string): Peer {
  if (!remote.startsWith('tcp:')) return { ip: 'unix', port: 0, transport: 'local' };
  const address = remote.slice(4);
  const colon = address.lastIndexOf(':');
  let ip = address.slice(0, colon);
  if (ip.startsWith('[') && ip.endsWith(']')) ip = ip.slice(1, -1);
  return { ip, port: Number(address.slice(colon + 1)) || 0, transport: 'tcp' };
}
