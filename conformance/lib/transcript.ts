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
  return (
    escapeBytes(buf.subarray(0, 120)) +
    `…[${buf.length} bytes sha1 ${digest}]…` +
    escapeBytes(buf.subarray(buf.length - 60))
  );
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
      // Meta replies carry CAS as a `c<cas>` flag, `me` as `cas=<cas>`.
      const text = line.text
        .split(' ')
        .map((token, i) => {
          if (i > 0 && /^c\d+$/.test(token)) return `c${cas.label(token.slice(1))}`;
          if (/^cas=\d+$/.test(token)) return `cas=${cas.label(token.slice(4))}`;
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
