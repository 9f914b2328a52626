/*
 * Feeds bytes to a framer as a connection receives them, for protocol unit tests: bytes
 * accumulate until a whole request is framed, which is then decoded; bytes a frame says
 * to swallow are discarded as they arrive. Also the ways a fixture is cut into chunks.
 */

import { FrameStatus, newFrame, type Frame } from '../../server/framing';

export type Fed<T> = T | 'close';

export function feedFrames<T>(
  chunks: Buffer[],
  frame: (buf: Buffer, start: number, end: number, out: Frame) => void,
  decode: (buf: Buffer, start: number, length: number) => T,
  onNeedMore: (out: Frame, available: number) => void = () => undefined,
): Fed<T>[] {
  const out: Fed<T>[] = [];
  const state = newFrame();
  let pending = Buffer.alloc(0);
  let swallow = 0;
  for (let chunk of chunks) {
    if (swallow > 0) {
      const skip = Math.min(swallow, chunk.length);
      swallow -= skip;
      chunk = chunk.subarray(skip);
    }
    pending = Buffer.concat([pending, chunk]);
    let off = 0;
    while (off < pending.length) {
      if (swallow > 0) {
        const skip = Math.min(swallow, pending.length - off);
        swallow -= skip;
        off += skip;
        continue;
      }
      frame(pending, off, pending.length, state);
      if (state.status === FrameStatus.NeedMore) {
        onNeedMore(state, pending.length - off);
        break;
      }
      if (state.status === FrameStatus.Close) {
        out.push('close');
        return out;
      }
      out.push(decode(pending, off, state.length));
      off += state.length;
      swallow = state.swallow;
    }
    pending = Buffer.from(pending.subarray(off));
  }
  return out;
}

/** Every way to cut `bytes` in two. */
export function splits(bytes: Buffer): Buffer[][] {
  const ways: Buffer[][] = [];
  for (let i = 1; i < bytes.length; i++) ways.push([bytes.subarray(0, i), bytes.subarray(i)]);
  return ways;
}

export function byteByByte(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i++) out.push(bytes.subarray(i, i + 1));
  return out;
}
