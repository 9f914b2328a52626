/*
 * memcached's tokenizer (tokenize_command): a command line split on spaces only, at most 23
 * tokens at a time, into offsets that later calls read. One tokenization is live at a time;
 * the protocol decoders run to completion before the next starts.
 */

/** memcached tokenizes at most 24 tokens at once, the last being the terminator. */
export const MAX_TOKENS = 24;

/** Token offsets of the last tokenize() call. */
export const tokStart = new Int32Array(MAX_TOKENS);
export const tokEnd = new Int32Array(MAX_TOKENS);
/** State of the last tokenize() call. */
export const tokens = {
  /** Offset of the bytes left unprocessed when the token limit was reached, or -1. */
  rest: -1,
};

/**
 * Splits [start, end) into at most 23 tokens. Returns memcached's `ntokens`: the number of
 * tokens plus one for the terminal token.
 */
export function tokenize(buf: Buffer, start: number, end: number): number {
  let n = 0;
  let s = start;
  let e = start;
  tokens.rest = -1;
  for (; e < end; e++) {
    if (buf[e] === 0x20) {
      if (s !== e) {
        tokStart[n] = s;
        tokEnd[n] = e;
        n++;
        if (n === MAX_TOKENS - 1) {
          e++;
          s = e;
          break;
        }
      }
      s = e + 1;
    }
  }
  if (s !== e) {
    tokStart[n] = s;
    tokEnd[n] = e;
    n++;
  }
  tokens.rest = e < end ? e : -1;
  return n + 1;
}

export function tokenIs(i: number, buf: Buffer, text: string): boolean {
  const s = tokStart[i];
  const len = tokEnd[i] - s;
  if (len !== text.length) return false;
  for (let j = 0; j < len; j++) if (buf[s + j] !== text.charCodeAt(j)) return false;
  return true;
}

export function tokenLength(i: number): number {
  return tokEnd[i] - tokStart[i];
}

export function tokenString(buf: Buffer, i: number): string {
  return buf.toString('latin1', tokStart[i], tokEnd[i]);
}

/** set_noreply_maybe: the last real token is exactly "noreply". */
export function hasNoreply(buf: Buffer, ntokens: number): boolean {
  return ntokens >= 2 && tokenIs(ntokens - 2, buf, 'noreply');
}

/** The end of the command as memcached sees it: before CR LF, and before any NUL byte. */
export function commandEnd(buf: Buffer, start: number, newline: number): number {
  const end = newline - start > 1 && buf[newline - 1] === 0x0d ? newline - 1 : newline;
  for (let i = start; i < end; i++) if (buf[i] === 0) return i;
  return end;
}
