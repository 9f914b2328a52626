/*
 * memcached's UDP framing (server/protocol/udp.ts) by the rules of memcached 1.6.18's
 * memcached.c: try_read_udp drops datagrams of 8 bytes or fewer and any whose header does
 * not say "1 datagram"; build_udp_header numbers each response object's datagrams from 0
 * with total = ceil(bytes / 1392) (0 for an empty response, which still goes out as a bare
 * header); transmit_udp clips each datagram at 1400 bytes, header included, and skips
 * responses marked skip (noreply, quiet); _transmit_post finishes, unsent, the empty
 * responses right behind one that a datagram completed.
 */

import assert from 'node:assert/strict';
import { UDP_DATA_SIZE, UDP_HEADER_SIZE, UDP_MAX_PAYLOAD_SIZE, UdpResponses, udpRequestId } from '../server/protocol/udp';

/** A datagram: request id, sequence, total, reserved (16 bits each, big-endian), then the payload. */
function datagram(id: number, sequence: number, total: number, payload: string | Buffer = ''): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(sequence, 2);
  header.writeUInt16BE(total, 4);
  return Buffer.concat([header, typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload]);
}

function sent(responses: UdpResponses): Buffer[] {
  const out: Buffer[] = [];
  responses.transmit((d) => out.push(Buffer.from(d)));
  return out;
}

describe('UDP framing', () => {
  it('sizes as memcached defines them', () => {
    assert.equal(UDP_HEADER_SIZE, 8);
    assert.equal(UDP_MAX_PAYLOAD_SIZE, 1400);
    assert.equal(UDP_DATA_SIZE, 1392);
  });

  it('serves only single-datagram requests with a body', () => {
    const table: [Buffer, number][] = [
      [datagram(7, 0, 1, 'get a\r\n'), 7],
      [datagram(0xbeef, 5, 1, 'x'), 0xbeef], // the sequence number is not looked at
      [Buffer.concat([datagram(1, 0, 1, 'x').subarray(0, 6), Buffer.from([0xff, 0xff]), Buffer.from('x')]), 1], // nor the reserved word
      [datagram(7, 0, 1), -1], // header only
      [datagram(7, 0, 1).subarray(0, 5), -1],
      [datagram(7, 0, 0, 'get a\r\n'), -1],
      [datagram(7, 0, 2, 'get a\r\n'), -1],
      [datagram(7, 0, 0x101, 'get a\r\n'), -1],
    ];
    for (const [bytes, id] of table) assert.equal(udpRequestId(bytes), id, bytes.toString('hex'));
  });

  it('a short response is one datagram, numbered 0 of 1', () => {
    const r = new UdpResponses(42);
    r.add(Buffer.from('STORED\r\n'), false);
    assert.deepEqual(sent(r), [datagram(42, 0, 1, 'STORED\r\n')]);
    assert.equal(r.length, 0);
  });

  it('a long response is cut into 1392-byte pieces', () => {
    const value = Buffer.alloc(3000, 0x61);
    const r = new UdpResponses(9);
    r.add(value, false);
    assert.deepEqual(sent(r), [
      datagram(9, 0, 3, value.subarray(0, 1392)),
      datagram(9, 1, 3, value.subarray(1392, 2784)),
      datagram(9, 2, 3, value.subarray(2784)),
    ]);
    const exact = new UdpResponses(9);
    exact.add(Buffer.alloc(2 * 1392, 0x62), false);
    assert.deepEqual(
      sent(exact).map((d) => [d.readUInt16BE(2), d.readUInt16BE(4), d.length]),
      [
        [0, 2, 1400],
        [1, 2, 1400],
      ],
    );
  });

  it('each response object is numbered on its own; skipped ones are never sent', () => {
    const r = new UdpResponses(3);
    r.add(Buffer.from('VALUE a 0 1\r\n1\r\n'), false);
    r.add(Buffer.from('STORED\r\n'), true);
    r.add(Buffer.from('END\r\n'), false);
    assert.deepEqual(sent(r), [datagram(3, 0, 1, 'VALUE a 0 1\r\n1\r\n'), datagram(3, 0, 1, 'END\r\n')]);
  });

  it('an empty response at the head goes out as a bare header with a total of 0', () => {
    const r = new UdpResponses(5);
    r.add(Buffer.alloc(0), false);
    assert.deepEqual(sent(r), [datagram(5, 0, 0)]);
  });

  it('an empty response right behind a finished one completes with it, unsent', () => {
    const r = new UdpResponses(5);
    r.add(Buffer.from('a'), false);
    r.add(Buffer.alloc(0), false);
    r.add(Buffer.from('b'), false);
    assert.deepEqual(sent(r), [datagram(5, 0, 1, 'a'), datagram(5, 0, 1, 'b')]);
  });

  it('clear drops what was not yet sent', () => {
    const r = new UdpResponses(1);
    r.add(Buffer.from('x'), false);
    r.clear();
    assert.deepEqual(sent(r), []);
  });
});
