/*
 * GroupSends: the replies of one delivery that are the same bytes around the same record
 * go out as one sendRecord to every connection that asked; anything else is left to the
 * caller, unchanged.
 */

import assert from 'node:assert/strict';
import { GroupSends } from '../server/connection/group-sends';
import type { RecordConnection, RecordHandle, RecordsEngine, Segment } from '../server/records/types';

class Handle implements RecordHandle {
  readonly record: RecordHandle = this;
  readonly offset = 0;
  constructor(readonly length: number) {}
}

function recordingEngine(): { engine: RecordsEngine; sent: { message: Segment[]; conns: RecordConnection[] }[] } {
  const sent: { message: Segment[]; conns: RecordConnection[] }[] = [];
  const engine = {
    sendRecord: (message: readonly Segment[], group: readonly RecordConnection[]) => {
      sent.push({ message: [...message], conns: [...group] });
    },
  } as unknown as RecordsEngine;
  return { engine, sent };
}

const counts = { recordsGroupSends: 0, recordsGroupSendConns: 0 };
const conn = (id: number) => ({ id }) as unknown as RecordConnection;
const hit = (key: string, record: RecordHandle): Segment[] => [
  Buffer.from(`VALUE ${key} 0 ${record.length - 2}\r\n`),
  record,
  Buffer.from('END\r\n'),
];

describe('group sends', () => {
  it('sends equal replies around one record once, to every connection that asked, in order', () => {
    const { engine, sent } = recordingEngine();
    const groups = new GroupSends(engine);
    const hot = new Handle(102);
    const [a, b, c] = [conn(1), conn(2), conn(3)];
    for (const which of [a, b, c]) assert.equal(groups.offer(hit('hot', hot), which), true);
    assert.equal(sent.length, 0, 'nothing leaves before flush');
    const [groupsBefore, connsBefore] = [counts.recordsGroupSends, counts.recordsGroupSendConns];
    groups.flush(counts);
    assert.deepEqual([counts.recordsGroupSends - groupsBefore, counts.recordsGroupSendConns - connsBefore], [1, 3]);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0].conns, [a, b, c]);
    assert.deepEqual(sent[0].message, hit('hot', hot));
    const before = { ...counts };
    groups.flush(counts);
    assert.deepEqual(counts, before, 'nothing more is counted');
    assert.equal(sent.length, 1, 'a flush sends each group once');
  });

  it('keeps replies apart that differ in their bytes, their record or the slice of it', () => {
    const { engine, sent } = recordingEngine();
    const groups = new GroupSends(engine);
    const one = new Handle(12);
    const two = new Handle(12);
    groups.offer(hit('k', one), conn(1));
    groups.offer(hit('k', two), conn(2));
    groups.offer(hit('j', one), conn(3));
    groups.offer([Buffer.from('VALUE k 0 10 7\r\n'), one, Buffer.from('END\r\n')], conn(4));
    groups.offer([Buffer.from('VALUE k 0 10\r\n'), { record: one, offset: 2, length: 10 }, Buffer.from('END\r\n')], conn(5));
    // The same bytes split differently around the record are a different reply.
    groups.offer([Buffer.from('VALUE k 0 10\r\nE'), one, Buffer.from('ND\r\n')], conn(6));
    groups.flush(counts);
    assert.deepEqual(
      sent.map((s) => s.conns.map((c) => c.id)),
      [[1], [3], [4], [5], [6], [2]],
    );
  });

  it('leaves replies without exactly one record, or with long bytes, to the caller', () => {
    const { engine, sent } = recordingEngine();
    const groups = new GroupSends(engine);
    const r = new Handle(12);
    assert.equal(groups.offer([Buffer.from('END\r\n')], conn(1)), false);
    assert.equal(groups.offer([...hit('a', r), ...hit('b', r)], conn(1)), false);
    assert.equal(groups.offer([Buffer.alloc(600), r], conn(1)), false);
    groups.flush(counts);
    assert.equal(sent.length, 0);
  });

  it('copies the segments it takes: the caller may reuse its array', () => {
    const { engine, sent } = recordingEngine();
    const groups = new GroupSends(engine);
    const r = new Handle(12);
    const out = hit('k', r);
    groups.offer(out, conn(1));
    out.length = 0;
    groups.flush(counts);
    assert.deepEqual(sent[0].message, hit('k', r));
  });
});
