/*
 * The records library's message framings in TypeScript, for the js backend: the same
 * decisions the C framer makes for native and kmod (kmod/records_parse.c rp_length,
 * rp_line), which test/records-library.test.ts holds them to.
 */

import { type Frame, FrameStatus, type Framer } from '../framing';

/** How an application's messages are delimited on the wire. */
export type MessageFraming =
  | {
      kind: 'length';
      /** Bytes of the length field: 1, 2, 4 or 8. */
      width: 1 | 2 | 4 | 8;
      /** The field is little-endian (default big-endian, network order). */
      littleEndian?: boolean;
      /** Bytes before the length field, part of the message (a type byte, say). Default 0. */
      offset?: number;
      /** Longest message, prefix included; a longer one closes the connection. Default 1 MiB. */
      maxMessage?: number;
    }
  | {
      kind: 'line';
      /** Longest line, newline included; a longer one closes the connection. Default 1 MiB. */
      maxMessage?: number;
    };

export const DEFAULT_MAX_MESSAGE = 1 << 20;

/** The framing's settings with defaults filled in; throws a RangeError for impossible ones. */
export function checkFraming(framing: MessageFraming): Required<MessageFraming> {
  const maxMessage = framing.maxMessage ?? DEFAULT_MAX_MESSAGE;
  if (!Number.isInteger(maxMessage) || maxMessage < 1 || maxMessage > 0xffffffff) {
    throw new RangeError(`maxMessage must be an integer from 1 to 2^32-1, not ${maxMessage}`);
  }
  if (framing.kind === 'line') return { kind: 'line', maxMessage };
  if (framing.kind !== 'length') throw new RangeError(`unknown framing kind ${(framing as { kind: unknown }).kind}`);
  const offset = framing.offset ?? 0;
  if (![1, 2, 4, 8].includes(framing.width)) throw new RangeError(`a length field is 1, 2, 4 or 8 bytes, not ${framing.width}`);
  if (!Number.isInteger(offset) || offset < 0 || offset + framing.width > maxMessage) {
    throw new RangeError(`the length field (offset ${offset}, ${framing.width} bytes) must fit in maxMessage ${maxMessage}`);
  }
  return { kind: 'length', width: framing.width, littleEndian: framing.littleEndian ?? false, offset, maxMessage };
}

function need(out: Frame, needed: number): Frame {
  out.status = FrameStatus.NeedMore;
  out.length = 0;
  out.swallow = 0;
  out.needed = needed;
  return out;
}

function whole(out: Frame, length: number, status = FrameStatus.Whole): Frame {
  out.status = status;
  out.length = length;
  out.swallow = 0;
  out.needed = 0;
  return out;
}

/** A Framer for the framing (framing.ts's contract, as the memcached framers). */
export function messageFramer(framing: MessageFraming): Framer {
  const f = checkFraming(framing);
  if (f.kind === 'line') {
    const max = f.maxMessage;
    return (buf, start, end, out) => {
      const limit = Math.min(end, start + max);
      const nl = buf.indexOf(0x0a, start);
      if (nl >= 0 && nl < limit) return whole(out, nl + 1 - start);
      return end - start >= max ? whole(out, 0, FrameStatus.Close) : need(out, 0);
    };
  }
  const { width, littleEndian, offset, maxMessage } = f;
  const head = offset + width;
  return (buf, start, end, out) => {
    if (end - start < head) return need(out, head);
    // The length as a number; above 2^53 it is past any maxMessage anyway.
    let body = 0;
    for (let i = 0; i < width; i++) body = body * 256 + buf[start + offset + (littleEndian ? width - 1 - i : i)];
    if (body > maxMessage - head) return whole(out, 0, FrameStatus.Close);
    if (end - start < head + body) return need(out, head + body);
    return whole(out, head + body);
  };
}

/** The native engine's options for the framing (native/src/engine_binding.cc). */
export function nativeFramingOptions(framing: MessageFraming): {
  protocol: number;
  messageMax: number;
  prefixOffset: number;
  prefixWidth: number;
  prefixLittleEndian: boolean;
} {
  const f = checkFraming(framing);
  if (f.kind === 'line') return { protocol: 5, messageMax: f.maxMessage, prefixOffset: 0, prefixWidth: 4, prefixLittleEndian: false };
  return { protocol: 4, messageMax: f.maxMessage, prefixOffset: f.offset, prefixWidth: f.width, prefixLittleEndian: f.littleEndian };
}
