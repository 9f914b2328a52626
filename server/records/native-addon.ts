/*
 * Loading the native addon (native/), and the boundary it exposes: the engine handle's
 * methods, the counters it keeps, and the wire numbers of the operations, events and batch
 * flags JS and the addon exchange, checked once when it loads.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import { getSystemErrorMap } from 'node:util';
import { EngineUnavailableError } from '../errors';
import type { CloseReason } from './types';

/**
 * The numbers of the addon's wire: operations JS submits, events it delivers, and a batch's
 * flags. The addon defines them (native/src/engine_binding.h, engine.h) and exports them as `wire`;
 * they are read from it when it loads, so they are written down once.
 */
export interface WireNumbers {
  ops: {
    send: number;
    complete: number;
    end: number;
    destroy: number;
    ackClose: number;
    delete: number;
    drain: number;
    destroyAll: number;
    authenticated: number;
    publish: number;
    unpublish: number;
    clearIndex: number;
    flushDue: number;
  };
  events: { open: number; requests: number; close: number; openHttp: number; output: number };
  /** Why a connection closed (the close event's second word). */
  closeReasons: { local: number; peer: number; reset: number; queueLimit: number; framing: number };
  batchFlags: { completesData: number; closes: number; binary: number };
}

/** Set when the addon loads (loadNativeBinding); no engine exists before. */
export let wire: WireNumbers;

/** The addon's wire numbers, each present and a distinct positive integer in its group. */
function checkWire(numbers: WireNumbers | undefined): WireNumbers {
  const expected: { [G in keyof WireNumbers]: (keyof WireNumbers[G])[] } = {
    ops: [
      'send',
      'complete',
      'end',
      'destroy',
      'ackClose',
      'delete',
      'drain',
      'destroyAll',
      'authenticated',
      'publish',
      'unpublish',
      'clearIndex',
      'flushDue',
    ],
    events: ['open', 'requests', 'close', 'openHttp', 'output'],
    closeReasons: ['local', 'peer', 'reset', 'queueLimit', 'framing'],
    batchFlags: ['completesData', 'closes', 'binary'],
  };
  for (const [group, names] of Object.entries(expected) as [keyof WireNumbers, string[]][]) {
    const values = names.map((name) => (numbers?.[group] as Record<string, unknown> | undefined)?.[name]);
    if (!values.every((v) => Number.isInteger(v) && (v as number) > 0) || new Set(values).size !== values.length) {
      throw new EngineUnavailableError(`the native addon's wire numbers are missing or clash (${group}): rebuild it with npm install`);
    }
  }
  return numbers as WireNumbers;
}

/** Counters of the records the engine holds (for `stats`). */
export interface RecordStats {
  /** Records made by initRecord since start. */
  created: number;
  /** Records not yet released: by delRecord and by every send that referenced them. */
  live: number;
  /** Bytes of the live records. */
  bytes: number;
  /** Live records kept in a sealed memfd (sent with sendfile). */
  memfd: number;
  /** kmod backend: live records with a copy in the records kernel module. */
  kernel: number;
  /** kmod backend: connections attached to the module, and ones it refused (served by the engine). */
  kernelConnections: number;
  kernelRefused: number;
  /** Record slices queued on a connection (one per connection per slice). */
  sends: number;
  /** Of those, the ones written in full. */
  sendsCompleted: number;
  /** Calls the I/O thread made into JS with requests. */
  deliveries: number;
  /** Requests those calls carried (deliveredRequests / deliveries: requests per call). */
  deliveredRequests: number;
}

export interface NativeErrno {
  errno: number;
  syscall: string;
}

export type DeliveryHandler = (
  events: Int32Array,
  strings: string[] | null,
  shared: Buffer,
  own: Buffer[],
  starts: Int32Array,
  lengths: Int32Array,
  /** Fetches the engine answered that the store is to hear of: handle, serial, handle, serial... */
  fetched: Int32Array | null,
  bytesRead: number,
  /** For each request, its stored key's read-index handle and serial, or -1 and 0 (RequestBatch.keyHints). */
  keyHints: Int32Array,
) => void;

export interface NativeEngineHandle {
  initRecord(bytes: Buffer): number;
  readRecord(id: number): Buffer;
  submit(bytes: Buffer, ops: Int32Array, opsLength: number): void;
  unsend(recordId: number, slots: Int32Array, count: number): number;
  /** With `http`, the listener speaks HTTP (native/src/http_binding.cc). */
  listenTcp(host: string, port: number, backlog: number, http?: object): { address: string; port: number } | NativeErrno;
  listenUnix(path: string, backlog: number): { path: string } | NativeErrno;
  stopListening(): void;
  /** A connected socket's descriptor joins the engine (a duplicate is taken). */
  adopt(fd: number): { fd: number } | NativeErrno;
  ref(): void;
  unref(): void;
  recordStats(): RecordStats;
  setClock(manual: number, originNs: number, start: number): void;
  setServing(on: boolean): void;
  takeServed(): Float64Array;
  /** The HTTP listener's natively answered requests: [requests, hits, not modified, partial, refused]. */
  takeHttpServed(): Float64Array;
  dispose(): void;
}

export interface NativeBinding {
  NativeEngine: new (options: object, onDelivery: DeliveryHandler) => NativeEngineHandle;
  memfdRecordThreshold: number;
  wire: WireNumbers;
  /**
   * The engine's framer alone (for tests; kmod/records_parse.c rp_measure):
   * [status, length, swallow, needed] as frameText (proto 1), frameBinary (2) and
   * frameAuth (3) give them, or as records/message-framing.ts (4 length-prefixed, 5 line).
   */
  frame(
    bytes: Buffer,
    proto: number,
    itemSizeMax: number,
    casEnabled: number,
    slabChunkMax: number,
    sasl: number,
    messageMax?: number,
    prefixOffset?: number,
    prefixWidth?: number,
    prefixLittleEndian?: number,
  ): [number, number, number, number];
  /** The engine's protocol choice alone (for tests; rp_choose): -B 0 auto, 1 ascii, 2 binary -> 1 text, 2 binary. */
  chooseProtocol(choice: number, firstByte: number): number;
}

const ADDON_FILE = path.join('native', 'build', 'Release', 'recordcache_native.node');

let binding: NativeBinding | null = null;

/**
 * Loads the addon (once); throws an Error saying why it cannot be used here.
 * RECORDCACHE_NATIVE_ADDON names another build to load (the sanitizer build of the tests).
 */
export function loadNativeBinding(): NativeBinding {
  if (binding !== null) return binding;
  if (process.platform !== 'linux') throw new EngineUnavailableError(`the native records engine needs Linux (this is ${process.platform})`);
  const override = process.env.RECORDCACHE_NATIVE_ADDON;
  if (override !== undefined && override !== '') {
    binding = require(path.resolve(override)) as NativeBinding;
    wire = checkWire(binding.wire);
    return binding;
  }
  // server/records/ under tsx, dist/server/records/ once compiled: look upwards for the package.
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, ADDON_FILE);
    if (fs.existsSync(candidate)) {
      binding = require(candidate) as NativeBinding;
      wire = checkWire(binding.wire);
      return binding;
    }
    dir = path.dirname(dir);
  }
  throw new EngineUnavailableError(`${ADDON_FILE} is not built (npm install builds it with node-gyp)`);
}

/** An Error like the one net.Server gives for the same failure. */
export function systemError(result: NativeErrno, where: string): NodeJS.ErrnoException {
  const [code, text] = getSystemErrorMap().get(-result.errno) ?? ['UNKNOWN', 'unknown error'];
  const err = new Error(`${result.syscall} ${code}: ${text} ${where}`) as NodeJS.ErrnoException;
  err.code = code;
  err.errno = -result.errno;
  err.syscall = result.syscall;
  return err;
}

/** The close event's reason (the addon's CloseReason) as the library's code. */
export function closeReason(reason: number): CloseReason {
  const r = wire.closeReasons;
  return reason === r.peer
    ? 'RC_PEER_CLOSED'
    : reason === r.reset
      ? 'RC_PEER_RESET'
      : reason === r.queueLimit
        ? 'RC_QUEUE_LIMIT'
        : reason === r.framing
          ? 'RC_FRAMING'
          : 'RC_CLOSED';
}
