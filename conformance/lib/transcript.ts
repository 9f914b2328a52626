// Renders received bytes as comparable, readable text. CAS values are the one
// part of a text-protocol reply that legitimately differs between two correct
// servers (each draws them from its own counter, shared by every connection),
// so each CAS in a `VALUE <key> <flags> <bytes> <cas>` line is replaced by its
// order of first appearance on that server: `cas#1`, `cas#2`, ... (0, which
// only appears when CAS is off, is kept). Two servers
// then agree exactly when their CAS values are equal, or differ, at the same
// places. Long data is abbreviated around a digest, so equal text still means
// equal bytes.
import { createHash } from 'node:crypto';
import { nextLine } from './replies';

const LONG_BYTES = 512;

/**
 * Clock-derived numbers: the meta flags t<ttl left> and l<seconds since last access>,
 * and `me`'s exp= and la=. Each server reads its own seconds clock, which ticks at its
 * own moment, and the two servers of a pair run a step at slightly different times (a
 * TCG guest stretches that to seconds). renderReply shows them as `t~N`, `l~N`,
 * `exp=~N`, `la=~N` (never-expires, -1, stays exact), and reconcileClock takes a
 * candidate's value within CLOCK_TOLERANCE_S of memcached's as equal: an exact
 * comparison of them would only tell which server's clock ticked first.
 */
export const CLOCK_TOLERANCE_S = 3;
const CLOCK_FIELD = /(?<=^| )(t~|l~|exp=~|la=~)(\d+)/gm;

/**
 * The candidate's transcript with each clock field that is within CLOCK_TOLERANCE_S of
 * memcached's at the same place replaced by memcached's value; unchanged when anything
 * but those values differs (the comparison then shows the whole difference).
 */
export function reconcileClock(reference: string, candidate: string): string {
  const wanted = [...reference.matchAll(CLOCK_FIELD)];
  if (wanted.length === 0) return candidate;
  if (reference.replace(CLOCK_FIELD, '$1') !== candidate.replace(CLOCK_FIELD, '$1')) return candidate;
  let i = 0;
  return candidate.replace(CLOCK_FIELD, (field: string, _name: string, value: string) => {
    const match = wanted[i++];
    return Math.abs(Number(value) - Number(match[2])) <= CLOCK_TOLERANCE_S ? match[0] : field;
  });
}

/** Numbers each distinct CAS value a server returned, in order of appearance. */
export class CasTable {
  private readonly ordinals = new Map<string, number>();
  private readonly values: string[] = [];

  label(cas: string): string {
    // 0 is never a real CAS value; it means CAS is off (-C), so keep it.
    if (cas === '0') return '0';
    let ordinal = this.ordinals.get(cas);
    if (ordinal === undefined) {
      this.values.push(cas);
      ordinal = this.values.length;
      this.ordinals.set(cas, ordinal);
    }
    return `cas#${ordinal}`;
  }

  /** The raw CAS value labelled `cas#ordinal`, or undefined if not seen. */
  value(ordinal: number): string | undefined {
    return this.values[ordinal - 1];
  }
}

export function escapeBytes(buf: Buffer): string {
  let out = '';
  for (const byte of buf) {
    if (byte === 0x5c) out += '\\\\';
    else if (byte === 0x0d) out += '\\r';
    else if (byte === 0x0a) out += '\\n';
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}

/** Escaped bytes; long runs keep their head and tail around a length and digest. */
export function showBytes(buf: Buffer): string {
  if (buf.length <= LONG_BYTES) return escapeBytes(buf);
  const digest = createHash('sha1').update(buf).digest('hex').slice(0, 16);
  return escapeBytes(buf.subarray(0, 120)) + `…[${buf.length} bytes sha1 ${digest}]…` + escapeBytes(buf.subarray(buf.length - 60));
}

/** One line of text per reply line, with CAS values labelled through `cas`. */
export function renderReply(buf: Buffer, cas: CasTable): string {
  const lines: string[] = [];
  let offset = 0;
  while (offset < buf.length) {
    const line = nextLine(buf, offset);
    if (!line) {
      lines.push(showBytes(buf.subarray(offset)) + ' (unterminated)');
      break;
    }
    const lineBytes = buf.subarray(line.start, line.end);
    const withCas = /^(VALUE [^ ]+ \d+ \d+) (\d+)$/.exec(line.text);
    if (withCas) {
      const header = Buffer.from(line.text, 'latin1');
      const rest = lineBytes.subarray(header.length);
      lines.push(escapeBytes(Buffer.from(`${withCas[1]} ${cas.label(withCas[2])}`, 'latin1')) + showBytes(rest));
    } else if (/^(?:[A-Z]{2}(?: |$)|ME )/.test(line.text)) {
      // Meta replies carry CAS as a `c<cas>` flag, `me` as `cas=<cas>`; clock fields are
      // marked for reconcileClock. `me`'s second token is its key.
      const isMe = line.text.startsWith('ME ');
      const text = line.text
        .split(' ')
        .map((token, i) => {
          if (i > 0 && /^c\d+$/.test(token)) return `c${cas.label(token.slice(1))}`;
          if (/^cas=\d+$/.test(token)) return `cas=${cas.label(token.slice(4))}`;
          if (!isMe && i > 0 && /^[tl]\d+$/.test(token)) return `${token[0]}~${token.slice(1)}`;
          if (isMe && i > 1 && /^(exp|la)=\d+$/.test(token)) return token.replace('=', '=~');
          return token;
        })
        .join(' ');
      const header = Buffer.from(line.text, 'latin1');
      lines.push(escapeBytes(Buffer.from(text, 'latin1')) + showBytes(lineBytes.subarray(header.length)));
    } else {
      lines.push(showBytes(lineBytes));
    }
    offset = line.end;
  }
  return lines.join('\n');
}
