/*
 * -U: memcached's UDP front. Datagrams are read and answered here, in JavaScript, on every
 * records backend: a datagram is already a whole request and a reply goes out in copies of at
 * most 1400 bytes, so records have nothing to offer. Requests run through the same decoders
 * and command executors as TCP's; this module only frames datagrams and renders replies as
 * memcached's datagrams (protocol/udp.ts).
 *
 * memcached's rules kept here (memcached.c 1.6.18 try_read_udp, try_read_command_udp,
 * drive_machine): a datagram of 8 bytes or less, or one whose header announces more than one
 * datagram, is dropped without a reply; the first byte after the header picks the text or
 * binary protocol for every request in the datagram, whatever -B says; the requests of a
 * datagram run in order and replies are written where memcached writes them (after each get,
 * mn, binary NOOP and errors, every -R requests, at the end of the datagram); a request cut
 * off by the end of the datagram is dropped.
 *
 * Where recordcache differs, on purpose: memcached reads the rest of a storage command's data
 * block (or of a too large value it swallows) from whichever datagram arrives next, from any
 * client, header included. Here a datagram is self-contained: an incomplete request is
 * dropped without a reply and the next datagram is served as itself, so one client's
 * malformed datagram cannot eat another client's request.
 */

import dgram from 'node:dgram';
import dns from 'node:dns/promises';
import net from 'node:net';
import { udpConnectionsPerSocket } from './config';
import type { ServerContext } from './context';
import { parseListenEntry } from './command-line';
import { After, ReplyQueue, endsEvent } from './connection/reply-queue';
import { executeText } from './commands/text';
import { binaryLimits, executeBinary } from './commands/binary';
import { BinarySession } from './connection/client-state';
import { FrameStatus, newFrame } from './framing';
import { Op, decodeText, frameText, type TextLimits } from './protocol/text';
import { BinaryOp, REQUEST_MAGIC, type BinaryLimits } from './protocol/binary';
import { decodeBinary } from './protocol/binary-decode';
import { frameBinary } from './protocol/binary-frame';
import { UDP_HEADER_SIZE, UdpResponses, udpRequestId } from './protocol/udp';

/** Bytes of datagrams handed to the kernel and not yet sent, beyond which replies are dropped. */
const SEND_BUDGET = 16 * 1024 * 1024;

export class UdpFront {
  private readonly sockets: dgram.Socket[] = [];
  private readonly textLimits: TextLimits;
  private readonly binaryLimits: BinaryLimits;
  private readonly frame = newFrame();
  private readonly replies = new ReplyQueue(false, true);
  /** Which of the responses in `replies` were suppressed (noreply, quiet flags). */
  private readonly skips: boolean[] = [];
  /** memcached's UDP connection keeps binary state across datagrams, as a TCP one does. */
  private readonly session = new BinarySession();
  private unsentBytes = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly onShutdown: () => void,
  ) {
    const config = ctx.config;
    this.textLimits = { itemSizeMax: config.itemSizeMax, casEnabled: !config.disableCas };
    this.binaryLimits = binaryLimits(config);
  }

  /** Binds the UDP port on every -l address (all interfaces without -l); returns "udp:host:port" names. */
  async start(): Promise<string[]> {
    const config = this.ctx.config;
    const entries =
      config.listen.length === 0
        ? [{ host: null as string | null, port: config.udpPort }]
        : config.listen.map((entry) => {
            const address = parseListenEntry(entry);
            return { host: address.host, port: address.port ?? config.udpPort };
          });
    const names: string[] = [];
    try {
      for (const { host, port } of entries) {
        for (const socket of await bindAll(host, port)) {
          this.sockets.push(socket);
          socket.on('message', (msg, rinfo) => this.serve(socket, msg, rinfo));
          // Errors on a UDP socket (ICMP reports, a refused send) concern one peer; keep serving.
          socket.on('error', () => {});
          const address = socket.address();
          names.push(`udp:${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
        }
      }
    } catch (err) {
      this.stop();
      throw err;
    }
    const counters = this.ctx.counters;
    const conns = this.sockets.length * udpConnectionsPerSocket(config, this.ctx.engine.ioThreads);
    counters.currConnections += conns;
    counters.totalConnections += conns;
    counters.connectionStructures = Math.max(counters.connectionStructures, counters.currConnections + 1);
    return names;
  }

  stop(): void {
    for (const socket of this.sockets) {
      try {
        socket.close();
      } catch {
        // Already closed.
      }
    }
    this.sockets.length = 0;
  }

  /** One request datagram: its requests in order, their replies as datagrams to the sender. */
  private serve(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (msg.length <= UDP_HEADER_SIZE) return;
    const ctx = this.ctx;
    ctx.counters.bytesRead += msg.length;
    const requestId = udpRequestId(msg);
    if (requestId < 0) return;
    const responses = new UdpResponses(requestId);
    const send = (datagram: Buffer) => this.send(socket, datagram, rinfo);
    const replies = this.replies;
    const out = replies.segments;
    const ends = replies.responseEnds as number[];
    const skips = this.skips;
    replies.clear();
    skips.length = 0;

    const flush = () => {
      let start = 0;
      for (let i = 0; i < ends.length; i++) {
        responses.add(Buffer.concat(out.slice(start, ends[i]) as Buffer[]), skips[i]);
        start = ends[i];
      }
      responses.transmit(send);
      replies.clear();
      skips.length = 0;
    };
    const cull = () => {
      replies.clear();
      skips.length = 0;
    };

    const binary = msg[UDP_HEADER_SIZE] === REQUEST_MAGIC;
    const perEvent = ctx.config.reqsPerEvent;
    const end = msg.length;
    let off = UDP_HEADER_SIZE;
    let handled = 0;
    while (off < end) {
      const frame = binary
        ? frameBinary(msg, off, end, this.binaryLimits, this.frame)
        : frameText(msg, off, end, this.textLimits, this.frame);
      if (frame.status === FrameStatus.NeedMore) break;
      if (frame.status === FrameStatus.Close) {
        // memcached closes the "connection": replies not yet written are dropped.
        cull();
        return;
      }
      const mark = out.length;
      const endsMark = ends.length;
      ctx.log.current = null;
      let after: After;
      if (binary) {
        const req = decodeBinary(msg, off, frame.length, this.binaryLimits);
        if (req.op === BinaryOp.BadMagic) {
          // memcached closes the "connection" at once: replies not yet written are dropped.
          cull();
          return;
        }
        after = executeBinary(ctx, req, replies, this.session);
      } else {
        const req = decodeText(msg, off, frame.length, this.textLimits);
        if (req.op === Op.Close) {
          // An HTTP request line: memcached closes at once, dropping replies not yet written.
          cull();
          return;
        }
        after = executeText(ctx, req, replies);
      }
      off += frame.length;
      off += Math.min(frame.swallow, end - off);
      handled++;
      if (after === After.Shutdown) {
        cull();
        this.onShutdown();
        return;
      }
      if (out.length < mark || ends.length < endsMark) {
        // The request dropped the replies not yet written (a get with a too long key).
        ends.length = 0;
        skips.length = 0;
      }
      while (skips.length < ends.length) skips.push(false);
      // An empty reply is a suppressed one (noreply, q), except quit's and any binary one:
      // memcached sends those as a datagram with the header alone.
      const previousEnd = ends.length === 0 ? 0 : ends[ends.length - 1];
      ends.push(out.length);
      skips.push(out.length === previousEnd && !binary && after !== After.Close);
      if (after === After.Close) {
        flush();
        return;
      }
      if (replies.sent > 0 || endsEvent(handled, perEvent)) flush();
    }
    flush();
  }

  private send(socket: dgram.Socket, datagram: Buffer, rinfo: dgram.RemoteInfo): void {
    // A peer that does not read (or a spoofed one) must not make the server queue without limit.
    if (this.unsentBytes + datagram.length > SEND_BUDGET) return;
    this.unsentBytes += datagram.length;
    const counters = this.ctx.counters;
    socket.send(datagram, rinfo.port, rinfo.address, (err) => {
      this.unsentBytes -= datagram.length;
      if (!err) counters.bytesWritten += datagram.length;
    });
  }
}

/** UDP sockets bound to port on host: every interface when host is null, each address of a name. */
async function bindAll(host: string | null, port: number): Promise<dgram.Socket[]> {
  if (host === null) {
    try {
      return [await bind('udp6', '::', port)];
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
      return [await bind('udp4', '0.0.0.0', port)];
    }
  }
  const family = net.isIP(host);
  if (family !== 0) return [await bind(family === 6 ? 'udp6' : 'udp4', host, port)];
  const sockets: dgram.Socket[] = [];
  try {
    for (const address of await dns.lookup(host, { all: true })) {
      sockets.push(await bind(address.family === 6 ? 'udp6' : 'udp4', address.address, port));
    }
  } catch (err) {
    for (const socket of sockets) socket.close();
    throw err;
  }
  return sockets;
}

function bind(type: 'udp4' | 'udp6', address: string, port: number): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket({ type });
    const fail = (err: Error) => {
      socket.close();
      reject(err);
    };
    socket.once('error', fail);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.removeListener('error', fail);
      // Like memcached's maximize_sndbuf: room for a large reply's datagrams.
      try {
        socket.setSendBufferSize(4 * 1024 * 1024);
      } catch {
        // Capped by net.core.wmem_max; the default is kept.
      }
      resolve(socket);
    });
  });
}
