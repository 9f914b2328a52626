/*
 * Base64 for meta protocol keys (`b` flag), decoding as memcached does: bytes outside the
 * alphabet are skipped, the rest must come in whole groups of four, and anything else
 * (including bad padding) is a failure, reported as null.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const INVALID = 0x80;
const DECODE = new Uint8Array(256).fill(INVALID);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
DECODE[0x3d] = 0; // '=' decodes as zero bits; padding is counted separately

export function base64Decode(src: Buffer, start: number, end: number): Buffer | null {
  let count = 0;
  for (let i = start; i < end; i++) if (DECODE[src[i]] !== INVALID) count++;
  if (count === 0 || count % 4 !== 0) return null;
  const out = Buffer.allocUnsafe((count / 4) * 3);
  let pos = 0;
  let pad = 0;
  let n = 0;
  const block = [0, 0, 0, 0];
  for (let i = start; i < end; i++) {
    const v = DECODE[src[i]];
    if (v === INVALID) continue;
    if (src[i] === 0x3d) pad++;
    block[n++] = v;
    if (n === 4) {
      out[pos++] = ((block[0] << 2) | (block[1] >> 4)) & 0xff;
      out[pos++] = ((block[1] << 4) | (block[2] >> 2)) & 0xff;
      out[pos++] = ((block[2] << 6) | block[3]) & 0xff;
      n = 0;
      if (pad > 0) {
        if (pad > 2) return null;
        pos -= pad;
        break;
      }
    }
  }
  return pos === 0 ? null : out.subarray(0, pos);
}

export function base64Encode(bytes: Buffer): string {
  return bytes.toString('base64');
}
