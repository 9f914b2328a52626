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
 * event-log.ts). For the binary protocol -vv dumps each request's and response's header
 * in hex, with memcached's line for the command and for an error (proto_bin.c).
 *
 * The server asks for this object only when the verbosity is 2 or more, once per batch, so
 * a quiet server does no work for it.
 */

import { Reply } from './protocol/replies';
import { Op, type TextRequest } from './protocol/text';
import type { Segment } from './records/types';
import { HEADER_LENGTH, Opcode, RESPONSE_MAGIC } from './protocol/binary';
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

  binaryRequest(fd: number, buf: Buffer, start: number): void {
    this.write(binaryRequestText(fd, buf, start));
  }

  binaryResponses(fd: number, segments: readonly Segment[], from: number): void {
    const text = binaryResponsesText(fd, segments, from);
    if (text !== '') this.write(text);
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

/** proto_bin.c's hex dump of a 24-byte header: four bytes a line after `<fd   ` or `>fd  `. */
function headerDump(prefix: string, header: Buffer, at: number): string {
  let text = '';
  for (let i = 0; i < HEADER_LENGTH; i++) {
    if (i % 4 === 0) text += `\n${prefix}`;
    text += ` 0x${header[at + i].toString(16).padStart(2, '0')}`;
  }
  return `${text}\n`;
}

/** What proto_bin.c prints for a request before it runs it: its header, then a line for some commands. */
export function binaryRequestText(fd: number, buf: Buffer, start: number): string {
  const text = `<${fd} Read binary protocol data:${headerDump(`<${fd}   `, buf, start)}`;
  const opcode = buf[start + 1];
  const keyLength = buf.readUInt16BE(start + 2);
  const extrasLength = buf[start + 4];
  const bodyLength = buf.readUInt32BE(start + 8);
  const keyStart = start + HEADER_LENGTH + extrasLength;
  if (keyStart + keyLength > buf.length) return text;
  const key = buf.toString('latin1', keyStart, keyStart + keyLength);
  const valueLength = bodyLength - keyLength - extrasLength;
  switch (opcode) {
    case Opcode.Get:
    case Opcode.GetQ:
    case Opcode.GetK:
    case Opcode.GetKQ:
      return `${text}<${fd} GET ${key}\n`;
    case Opcode.Touch:
    case Opcode.Gat:
    case Opcode.GatQ:
    case Opcode.GatK:
    case Opcode.GatKQ:
      return `${text}<${fd} TOUCH ${key}\n`;
    case Opcode.Set:
    case Opcode.SetQ:
      return `${text}<${fd} SET ${key} Value len is ${valueLength}\n`;
    case Opcode.Add:
    case Opcode.AddQ:
      return `${text}<${fd} ADD ${key} Value len is ${valueLength}\n`;
    case Opcode.Replace:
    case Opcode.ReplaceQ:
      return `${text}<${fd} REPLACE ${key} Value len is ${valueLength}\n`;
    case Opcode.Append:
    case Opcode.AppendQ:
    case Opcode.Prepend:
    case Opcode.PrependQ:
      return `${text}Value len is ${valueLength}\n`;
    case Opcode.Delete:
    case Opcode.DeleteQ:
      return `${text}Deleting ${key}\n`;
    case Opcode.Increment:
    case Opcode.IncrementQ:
    case Opcode.Decrement:
    case Opcode.DecrementQ: {
      if (extrasLength !== 20) return text;
      const extras = start + HEADER_LENGTH;
      // memcached says incr for both, the delta signed, the initial value unsigned.
      return `${text}incr ${key} ${buf.readBigInt64BE(extras)}, ${buf.readBigUInt64BE(extras + 8)}, ${buf.readInt32BE(extras + 16)}\n`;
    }
    case Opcode.Stat:
      return `${text}<${fd} STATS ${key}\n`;
    default:
      return text;
  }
}

const FETCH_OPCODES = new Set<number>([
  Opcode.Get,
  Opcode.GetQ,
  Opcode.GetK,
  Opcode.GetKQ,
  Opcode.Touch,
  Opcode.Gat,
  Opcode.GatQ,
  Opcode.GatK,
  Opcode.GatKQ,
]);

/**
 * What proto_bin.c prints for the responses a request queued (segments[from..]): an
 * error's message, then each header. Values held as records are skipped, not read.
 */
export function binaryResponsesText(fd: number, segments: readonly Segment[], from: number): string {
  const parts: Buffer[] = [];
  for (let i = from; i < segments.length; i++) {
    const segment = segments[i];
    parts.push(Buffer.isBuffer(segment) ? segment : Buffer.alloc(segment.length));
  }
  // A copy: the CAS of a get is blanked below.
  const bytes = Buffer.concat(parts);
  let text = '';
  for (let at = 0; at + HEADER_LENGTH <= bytes.length; ) {
    if (bytes[at] !== RESPONSE_MAGIC) break;
    const status = bytes.readUInt16BE(at + 6);
    const bodyLength = bytes.readUInt32BE(at + 8);
    if (status !== 0) {
      text += `>${fd} Writing an error: ${bytes.toString('latin1', at + HEADER_LENGTH, at + HEADER_LENGTH + bodyLength)}\n`;
    }
    // A get's CAS goes into the header after memcached has printed it: it shows 0.
    if (status === 0 && FETCH_OPCODES.has(bytes[at + 1])) bytes.fill(0, at + 16, at + HEADER_LENGTH);
    text += `>${fd} Writing bin response:${headerDump(`>${fd}  `, bytes, at)}`;
    at += HEADER_LENGTH + bodyLength;
  }
  return text;
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
