/*
 * The Range header (RFC 9110 section 14), for a value of known length: one byte range is
 * served as 206 with its slice; several ranges get the whole value (200), as a server may
 * answer (section 14.2), so no multipart body is built; a header that does not parse, or a
 * unit other than bytes, is ignored, as the RFC says to.
 */

export const enum RangeKind {
  /** No Range, or one to ignore: the whole value, 200. */
  Whole,
  /** One satisfiable range: 206 with bytes [start, end]. */
  Single,
  /** No byte of the value is in the range: 416. */
  Unsatisfiable,
}

export interface ByteRange {
  kind: RangeKind;
  /** First and last byte, inclusive (Single only). */
  start: number;
  end: number;
}

const WHOLE: ByteRange = { kind: RangeKind.Whole, start: 0, end: 0 };
const UNSATISFIABLE: ByteRange = { kind: RangeKind.Unsatisfiable, start: 0, end: 0 };
const SPEC = /^\s*(\d*)\s*-\s*(\d*)\s*$/;

export function byteRange(header: string | undefined, length: number): ByteRange {
  if (header === undefined) return WHOLE;
  const equals = header.indexOf('=');
  if (equals < 0 || header.slice(0, equals).trim().toLowerCase() !== 'bytes') return WHOLE;
  const specs = header
    .slice(equals + 1)
    .split(',')
    .filter((spec) => spec.trim() !== '');
  if (specs.length !== 1) return WHOLE;
  const match = SPEC.exec(specs[0]);
  if (match === null || (match[1] === '' && match[2] === '')) return WHOLE;
  if (match[1] === '') {
    // A suffix: the last n bytes.
    const suffix = Number(match[2]);
    if (suffix === 0 || length === 0) return UNSATISFIABLE;
    return { kind: RangeKind.Single, start: Math.max(0, length - suffix), end: length - 1 };
  }
  const start = Number(match[1]);
  const last = match[2] === '' ? Number.POSITIVE_INFINITY : Number(match[2]);
  if (last < start) return WHOLE;
  if (start >= length) return UNSATISFIABLE;
  return { kind: RangeKind.Single, start, end: Math.min(last, length - 1) };
}
