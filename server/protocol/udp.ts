/*
 * memcached's UDP framing (doc/protocol.txt "UDP protocol"; memcached.c try_read_udp,
 * build_udp_header, transmit_udp and _transmit_post in 1.6.18). Pure: datagrams in,
 * datagrams out; no sockets.
 *
 * Every datagram starts with an 8-byte header: request id, sequence number, number of
 * datagrams in the message, and a reserved word, each 16 bits big-endian. A request is one
 * datagram (memcached drops any whose header claims another count than 1). Each of
 * memcached's response objects goes out in datagrams of its own, numbered from 0, of at most
 * 1400 bytes with the header: one per command, and one per key of a multiget.
 */

export const UDP_HEADER_SIZE = 8;
export const UDP_MAX_PAYLOAD_SIZE = 1400;
/** Response bytes per datagram (UDP_MAX_PAYLOAD_SIZE - UDP_HEADER_SIZE). */
export const UDP_DATA_SIZE = UDP_MAX_PAYLOAD_SIZE - UDP_HEADER_SIZE;

/**
 * The request id of a datagram memcached would serve, or -1 for one it drops silently:
 * 8 bytes or fewer, or a header that announces more (or fewer) than one datagram. Sequence
 * number and reserved word are not looked at.
 */
export function udpRequestId(datagram: Buffer): number {
  if (datagram.length <= UDP_HEADER_SIZE) return -1;
  if (datagram[4] !== 0 || datagram[5] !== 1) return -1;
  return datagram.readUInt16BE(0);
}

/** One of memcached's response objects (mc_resp). */
interface Response {
  bytes: Buffer;
  /** Bytes already sent. */
  offset: number;
  /** A reply suppressed by noreply / a quiet flag: never sent, not even an empty datagram. */
  skip: boolean;
  sequence: number;
  /** Datagrams in the message, fixed when the first one is built; 0 until then. */
  total: number;
}

/**
 * The responses of one request datagram not yet sent, and memcached's way of sending them.
 */
export class UdpResponses {
  private readonly queue: Response[] = [];

  constructor(readonly requestId: number) {}

  get length(): number {
    return this.queue.length;
  }

  /** Appends a response; an empty one that is not skipped is still sent, as a bare header. */
  add(bytes: Buffer, skip: boolean): void {
    this.queue.push({ bytes, offset: 0, skip, sequence: 0, total: 0 });
  }

  /** memcached's conn_release_items: responses not yet written are dropped. */
  clear(): void {
    this.queue.length = 0;
  }

  /**
   * Sends everything queued, one datagram per transmit_udp call as memcached does. After a
   * datagram completes a response, the responses right behind it that are empty or skipped
   * complete with it and are never sent (memcached's _transmit_post).
   */
  transmit(send: (datagram: Buffer) => void): void {
    const queue = this.queue;
    while (queue.length > 0) {
      const head = queue[0];
      if (head.skip) {
        queue.shift();
        continue;
      }
      const remaining = head.bytes.length - head.offset;
      if (head.total === 0) head.total = Math.min(Math.ceil(remaining / UDP_DATA_SIZE), 0xffff);
      const chunk = Math.min(remaining, UDP_DATA_SIZE);
      const datagram = Buffer.allocUnsafe(UDP_HEADER_SIZE + chunk);
      datagram.writeUInt16BE(this.requestId, 0);
      datagram.writeUInt16BE(head.sequence, 2);
      datagram.writeUInt16BE(head.total, 4);
      datagram.writeUInt16BE(0, 6);
      head.bytes.copy(datagram, UDP_HEADER_SIZE, head.offset, head.offset + chunk);
      head.sequence = (head.sequence + 1) & 0xffff;
      send(datagram);
      let sent = chunk;
      while (queue.length > 0) {
        const r = queue[0];
        const left = r.bytes.length - r.offset;
        if (r.skip || sent >= left) {
          if (!r.skip) sent -= left;
          queue.shift();
          continue;
        }
        r.offset += sent;
        break;
      }
    }
  }
}
