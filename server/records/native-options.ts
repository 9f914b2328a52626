/*
 * What the native engine is started with (native.ts, kmod.ts and the records library share
 * it), and its defaults.
 */

import type { Protocol } from '../config';
import type { MessageFraming } from './message-framing';

/** Default -o out_limit_soft: past this much unwritten output a connection's requests wait. */
export const DEFAULT_OUT_LIMIT_SOFT = 1024 * 1024;
/** Default -o out_limit_hard: past this much unwritten output a connection is closed. */
export const DEFAULT_OUT_LIMIT_HARD = 256 * 1024 * 1024;

export interface NativeEngineOptions {
  protocol: Protocol;
  itemSizeMax: number;
  casEnabled: boolean;
  slabChunkMax: number;
  sasl: boolean;
  /** Seconds without traffic before a connection is closed; 0 never. */
  idleTimeoutSeconds: number;
  /** -t: I/O threads (the kmod engine runs one); 1 when omitted. */
  threads?: number;
  outLimitSoft: number;
  outLimitHard: number;
  /** -o input_mem_limit: input held across all connections before one is cut off; 0 no limit. */
  inputMemLimit?: number;
  /** Records at least this long go into a sealed memfd; the addon's measured default when omitted. */
  memfdThreshold?: number;
  /** TCP_NOTSENT_LOWAT of every TCP connection; the addon's default when omitted, 0 for the kernel's. */
  notSentLowat?: number;
  /** -Y: text connections authenticate before anything else (protocol/auth.ts). */
  asciiAuth?: boolean;
  /** The records library: connections carry these messages instead of memcached's requests. */
  framing?: MessageFraming;
  /** The records library: a higher priority goes before lower ones not yet started on a connection too. */
  priorityWithinConnection?: boolean;
  /** The records library: unwritten bytes past which onOutput(conn, true) is called (0 or omitted: never). */
  outHighWater?: number;
  /** ... and at or below which, after that, onOutput(conn, false) (default half the high mark). */
  outLowWater?: number;
}

export const DEFAULT_NATIVE_OPTIONS: NativeEngineOptions = {
  protocol: 'auto',
  itemSizeMax: 1024 * 1024,
  casEnabled: true,
  slabChunkMax: 512 * 1024,
  sasl: false,
  idleTimeoutSeconds: 0,
  outLimitSoft: DEFAULT_OUT_LIMIT_SOFT,
  outLimitHard: DEFAULT_OUT_LIMIT_HARD,
};
