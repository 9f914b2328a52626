/*
 * Group sends: the replies of one delivery that are the same bytes around the same record
 * (a hot value many connections asked for at once) leave as one sendRecord to the group of
 * connections, so the engine queues one message for all of them instead of one each.
 */

import type { RecordConnection, RecordHandle, RecordsEngine, Segment } from '../records/types';

/** Longest reply bytes around the record that are compared to find equal replies. */
const MAX_AFFIX_BYTES = 512;

interface Group {
  message: Segment[];
  conns: RecordConnection[];
}

export class GroupSends {
  /** Groups by record, then by the reply's bytes and the record slice it sends. */
  private readonly groups = new Map<RecordHandle, Map<string, Group>>();

  constructor(private readonly engine: RecordsEngine) {}

  /**
   * Takes `message` for `conn` until flush() if it is one record slice between short
   * bytes (a GET hit); false, leaving it to the caller, otherwise. The segments are copied.
   */
  offer(message: readonly Segment[], conn: RecordConnection): boolean {
    let slice: Exclude<Segment, Buffer> | null = null;
    let key = '';
    let affix = 0;
    for (const segment of message) {
      if (Buffer.isBuffer(segment)) {
        affix += segment.length;
        if (affix > MAX_AFFIX_BYTES) return false;
        key += segment.toString('latin1');
      } else {
        if (slice !== null) return false;
        slice = segment;
        // Outside latin1, so no reply bytes can be mistaken for where the record goes.
        key += `\u0100${segment.offset}:${segment.length}\u0100`;
      }
    }
    if (slice === null) return false;
    let byBytes = this.groups.get(slice.record);
    if (byBytes === undefined) {
      byBytes = new Map();
      this.groups.set(slice.record, byBytes);
    }
    const group = byBytes.get(key);
    if (group === undefined) byBytes.set(key, { message: message.slice(), conns: [conn] });
    else group.conns.push(conn);
    return true;
  }

  /** Sends what offer() took: one sendRecord per group. Counts the groups of several. */
  flush(counts: { recordsGroupSends: number; recordsGroupSendConns: number }): void {
    if (this.groups.size === 0) return;
    for (const byBytes of this.groups.values()) {
      for (const group of byBytes.values()) {
        this.engine.sendRecord(group.message, group.conns);
        if (group.conns.length > 1) {
          counts.recordsGroupSends++;
          counts.recordsGroupSendConns += group.conns.length;
        }
      }
    }
    this.groups.clear();
  }
}
