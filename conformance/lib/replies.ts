// Frames memcached text-protocol replies in a byte stream, so a reader knows
// when a given number of whole replies has arrived. A reply is a run of
// continuation lines (VALUE with its data block, STAT, ITEM, ...) ended by
// one terminal line (END, STORED, ERROR, a number, ...).
import type { ReplyEnd } from './wire';

const CONTINUATION_PREFIXES = ['STAT ', 'ITEM ', 'PREFIX ', 'key='];

/** The lines of a reply stream; a VALUE line carries the data block after it. */
export interface ReplyLine {
  start: number;
  /** Offset just past this line (and its data block, for VALUE lines). */
  end: number;
  text: string;
  /** For VALUE lines: the announced data length. */
  valueLength?: number;
}

/** Parses the next line at `offset`; null if it (or its data block) is incomplete. */
export function nextLine(buf: Buffer, offset: number): ReplyLine | null {
  const newline = buf.indexOf(0x0a, offset);
  if (newline < 0) return null;
  const lineEnd = newline > offset && buf[newline - 1] === 0x0d ? newline - 1 : newline;
  const text = buf.toString('latin1', offset, lineEnd);
  let end = newline + 1;
  const value = /^VALUE [^ ]+ \d+ (\d+)( \d+)?$/.exec(text);
  if (value) {
    const valueLength = Number(value[1]);
    end += valueLength + 2;
    if (end > buf.length) return null;
    return { start: offset, end, text, valueLength };
  }
  // A meta VA reply is whole with its data block.
  const meta = /^VA (\d+)/.exec(text);
  if (meta) {
    end += Number(meta[1]) + 2;
    if (end > buf.length) return null;
  }
  return { start: offset, end, text };
}

export function isTerminalLine(line: ReplyLine): boolean {
  if (line.valueLength !== undefined) return false;
  return !CONTINUATION_PREFIXES.some((prefix) => line.text.startsWith(prefix));
}

/** Length of the first `count` whole replies in `buf`, or -1 if not all there yet. */
export function lengthOfReplies(buf: Buffer, count: number): number {
  let offset = 0;
  let seen = 0;
  while (seen < count) {
    const line = nextLine(buf, offset);
    if (!line) return -1;
    offset = line.end;
    if (isTerminalLine(line)) seen++;
  }
  return offset;
}

export function replies(count: number): ReplyEnd {
  return (buf) => lengthOfReplies(buf, count);
}

/** The reply ends after the first line that starts with `prefix`. */
export function lineStartingWith(prefix: string): ReplyEnd {
  return (buf) => {
    let offset = 0;
    for (;;) {
      const newline = buf.indexOf(0x0a, offset);
      if (newline < 0) return -1;
      if (buf.toString('latin1', offset, offset + prefix.length) === prefix) return newline + 1;
      offset = newline + 1;
    }
  };
}
