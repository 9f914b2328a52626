/*
 * What memcached prints to stderr with -vv (or after `verbosity 2`): connections opening
 * and closing, each text command as `<fd line`, and its reply as `>fd reply` (memcached.c
 * conn_new, conn_close, out_string; proto_text.c process_command_ascii,
 * process_get_command). -v adds only rare errors in memcached, most of them about its own
 * sockets, which the records engine owns here; "Exiting normally" is cli.ts's.
 *
 * -vvv: memcached adds every state transition of its connection state machine ("12: going
 * from conn_read to conn_parse_cmd"). recordcache has no such machine (the engine frames
 * whole requests), so it prints only the item lookups of that level ("> FOUND KEY k",
 * event-log.ts). The binary protocol's hex dumps of -vv are not printed.
 *
 * The server asks for this object only when the verbosity is 2 or more, once per batch, so
 * a quiet server does no work for it.
 */

import { Reply } from './protocol/replies';
import { Op, type TextRequest } from './protocol/text';
import type { Segment } from './records/types';
import type { SlabMemory } from './store/slabs';
import { SLAB_PAGE_SIZE } from './store/slabs';

/** Replies memcached sends with out_string, whichever command gave them. */
const OUT_STRING_REPLIES = new Set<Buffer>(Object.values(Reply));

export class VerbosePrinter {
  constructor(private readonly write: (text: string) => void = (text) => process.stderr.write(text)) {}

  /** slabs_init at -vv: the slab classes. */
  slabClasses(slabs: SlabMemory): void {
    let text = '';
    slabs.sizes.forEach((size, i) => {
      const perSlab = Math.max(1, Math.floor(SLAB_PAGE_SIZE / size));
      text += `slab class ${String(i + 1).padStart(3)}: chunk size ${String(size).padStart(9)} perslab ${String(perSlab).padStart(7)}\n`;
    });
    this.write(text);
  }

  listening(fd: number, protocol: 'auto-negotiate' | 'ascii' | 'binary' | 'udp'): void {
    this.write(protocol === 'udp' ? `<${fd} server listening (udp)\n` : `<${fd} server listening (${protocol})\n`);
  }

  opened(fd: number, protocol: 'auto' | 'ascii' | 'binary'): void {
    if (protocol === 'auto') this.write(`<${fd} new auto-negotiating client connection\n`);
    else this.write(`<${fd} new ${protocol} client connection.\n`);
  }

  /** The first bytes chose the protocol (only printed when it was negotiated). */
  chose(fd: number, protocol: 'ascii' | 'binary'): void {
    this.write(`${fd}: Client using the ${protocol} protocol\n`);
  }

  closed(fd: number): void {
    this.write(`<${fd} connection closed.\n`);
  }

  /** The command line as memcached prints it before running it: without its CR LF. */
  command(fd: number, buf: Buffer, start: number): void {
    let end = buf.indexOf(0x0a, start);
    if (end > start && buf[end - 1] === 0x0d) end--;
    this.write(`<${fd} ${buf.toString('latin1', start, end)}\n`);
  }

  /**
   * The reply of one text request: segments[from..] it queued, and `unsaid`, what noreply
   * kept from the client (memcached prints it as `NOREPLY ...`).
   */
  reply(fd: number, req: TextRequest, segments: readonly Segment[], from: number, unsaid: readonly Buffer[]): void {
    let text = '';
    for (const reply of unsaid) text += `>${fd} NOREPLY ${lineOf(reply)}\n`;
    switch (req.op) {
      case Op.Get:
        // memcached prints END before it finds out a key was too long.
        if (req.badKey) text += `>${fd} END\n`;
        for (let i = from; i < segments.length; i++) {
          const segment = segments[i];
          if (!Buffer.isBuffer(segment)) continue;
          if (segment === Reply.END) text += `>${fd} END\n`;
          else if (segment.subarray(0, 6).toString('latin1') === 'VALUE ') text += `>${fd} sending key ${keyOf(segment)}\n`;
          else if (OUT_STRING_REPLIES.has(segment)) text += `>${fd} ${lineOf(segment)}\n`;
        }
        break;
      case Op.Stats:
      case Op.Admin:
      case 'meta':
        // Lists (stats, metadumps) and meta replies are written without out_string: only a
        // lone out_string reply is printed.
        if (segments.length - from === 1 && OUT_STRING_REPLIES.has(segments[from] as Buffer)) {
          text += `>${fd} ${lineOf(segments[from] as Buffer)}\n`;
        }
        break;
      case Op.Quit:
      case Op.Close:
        break;
      default:
        for (let i = from; i < segments.length; i++) {
          const segment = segments[i];
          if (Buffer.isBuffer(segment)) text += `>${fd} ${lineOf(segment)}\n`;
        }
    }
    if (text !== '') this.write(text);
  }
}

function lineOf(reply: Buffer): string {
  const end = reply.length >= 2 && reply[reply.length - 2] === 0x0d ? reply.length - 2 : reply.length;
  return reply.toString('latin1', 0, end);
}

/** The key of a `VALUE <key> <flags> <bytes>` header. */
function keyOf(header: Buffer): string {
  const end = header.indexOf(0x20, 6);
  return header.toString('latin1', 6, end === -1 ? header.length : end);
}
