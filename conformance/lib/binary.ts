// Binary-protocol conformance: builds requests byte by byte (including the
// malformed ones), frames response packets in a byte stream, renders them as
// comparable text with CAS values labelled, and runs scripted cases against
// both servers of a pair, as cases.ts does for the text protocol.
import assert from 'node:assert/strict';
import { WireConnection, toBuffer, type Chunk, type Reply, type ReplyEnd } from './wire';
import { replies as textReplies } from './replies';
import { CasTable, escapeBytes, reconcileClock, showBytes } from './transcript';
import { renderStats } from './stats';
import type { ServerPair, ServerProcess } from './servers';

export const Op = {
  Get: 0x00,
  Set: 0x01,
  Add: 0x02,
  Replace: 0x03,
  Delete: 0x04,
  Increment: 0x05,
  Decrement: 0x06,
  Quit: 0x07,
  Flush: 0x08,
  GetQ: 0x09,
  Noop: 0x0a,
  Version: 0x0b,
  GetK: 0x0c,
  GetKQ: 0x0d,
  Append: 0x0e,
  Prepend: 0x0f,
  Stat: 0x10,
  SetQ: 0x11,
  AddQ: 0x12,
  ReplaceQ: 0x13,
  DeleteQ: 0x14,
  IncrementQ: 0x15,
  DecrementQ: 0x16,
  QuitQ: 0x17,
  FlushQ: 0x18,
  AppendQ: 0x19,
  PrependQ: 0x1a,
  Verbosity: 0x1b,
  Touch: 0x1c,
  Gat: 0x1d,
  GatQ: 0x1e,
  SaslListMechs: 0x20,
  SaslAuth: 0x21,
  SaslStep: 0x22,
  GatK: 0x23,
  GatKQ: 0x24,
} as const;

export interface RequestFields {
  key?: Chunk;
  extras?: Buffer;
  value?: Chunk;
  cas?: bigint;
  opaque?: number;
  /** Header fields that normally follow from the parts above; set to forge a header. */
  magic?: number;
  keylen?: number;
  extlen?: number;
  bodylen?: number;
  datatype?: number;
  vbucket?: number;
}

/** A request: header, extras, key, value. Forged lengths change only the header. */
export function request(opcode: number, fields: RequestFields = {}): Buffer {
  const key = toBuffer(fields.key ?? '');
  const extras = fields.extras ?? Buffer.alloc(0);
  const value = toBuffer(fields.value ?? '');
  const header = Buffer.alloc(24);
  header[0] = fields.magic ?? 0x80;
  header[1] = opcode;
  header.writeUInt16BE(fields.keylen ?? key.length, 2);
  header[4] = fields.extlen ?? extras.length;
  header[5] = fields.datatype ?? 0;
  header.writeUInt16BE(fields.vbucket ?? 0, 6);
  header.writeUInt32BE(fields.bodylen ?? extras.length + key.length + value.length, 8);
  header.writeUInt32BE(fields.opaque ?? 0, 12);
  header.writeBigUInt64BE(fields.cas ?? 0n, 16);
  return Buffer.concat([header, extras, key, value]);
}

/** Extras of set, add and replace. */
export function storeExtras(flags: number, exptime: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32BE(flags, 0);
  out.writeUInt32BE(exptime, 4);
  return out;
}

/** Extras of incr and decr. */
export function arithExtras(delta: bigint, initial: bigint, exptime: number): Buffer {
  const out = Buffer.alloc(20);
  out.writeBigUInt64BE(delta, 0);
  out.writeBigUInt64BE(initial, 8);
  out.writeUInt32BE(exptime, 16);
  return out;
}

/** A 4-byte extra: touch/gat expiration, flush delay. */
export function u32(n: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(n, 0);
  return out;
}

export const set = (key: string, value: Chunk, flags = 0, exptime = 0, fields: RequestFields = {}): Buffer =>
  request(Op.Set, { key, value, extras: storeExtras(flags, exptime), ...fields });
export const get = (key: string, fields: RequestFields = {}): Buffer => request(Op.Get, { key, ...fields });
export const noop = (opaque = 0): Buffer => request(Op.Noop, { opaque });

// ---------------------------------------------------------------------------------------------
// Response framing and rendering.

interface Packet {
  start: number;
  end: number;
  opcode: number;
  status: number;
  keylen: number;
  extlen: number;
  bodylen: number;
}

/** The response packet at `offset`, or null if it is not complete (or not a response). */
function packetAt(buf: Buffer, offset: number): Packet | null {
  if (buf.length - offset < 24 || buf[offset] !== 0x81) return null;
  const bodylen = buf.readUInt32BE(offset + 8);
  if (buf.length - offset - 24 < bodylen) return null;
  return {
    start: offset,
    end: offset + 24 + bodylen,
    opcode: buf[offset + 1],
    status: buf.readUInt16BE(offset + 6),
    keylen: buf.readUInt16BE(offset + 2),
    extlen: buf[offset + 4],
    bodylen,
  };
}

/** The reply ends after `count` response packets. */
export function packets(count: number): ReplyEnd {
  return (buf) => {
    let offset = 0;
    for (let seen = 0; seen < count; seen++) {
      const packet = packetAt(buf, offset);
      if (packet === null) return -1;
      offset = packet.end;
    }
    return offset;
  };
}

/** The reply ends with a STAT list's empty terminator, or with an error packet. */
export function statsEnd(): ReplyEnd {
  return (buf) => {
    let offset = 0;
    for (;;) {
      const packet = packetAt(buf, offset);
      if (packet === null) return -1;
      offset = packet.end;
      if (packet.status !== 0 || (packet.opcode === Op.Stat && packet.keylen === 0 && packet.bodylen === 0)) return offset;
    }
  };
}

/** The reply ends after the response to a NOOP with this opaque. */
function noopWith(opaque: number): ReplyEnd {
  return (buf) => {
    let offset = 0;
    for (;;) {
      const packet = packetAt(buf, offset);
      if (packet === null) return -1;
      offset = packet.end;
      if (packet.opcode === Op.Noop && buf.readUInt32BE(packet.start + 12) === opaque) return offset;
    }
  };
}

/** Where the last whole packet of `buf` starts. */
function lastPacketStart(buf: Buffer): number {
  let offset = 0;
  let last = 0;
  for (;;) {
    const packet = packetAt(buf, offset);
    if (packet === null) return last;
    last = offset;
    offset = packet.end;
  }
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** One line per response packet (every header field, CAS labelled), then any other bytes. */
export function renderPackets(buf: Buffer, cas: CasTable): string {
  const lines: string[] = [];
  let offset = 0;
  for (;;) {
    const packet = packetAt(buf, offset);
    if (packet === null) break;
    const p = packet.start;
    const keyStart = p + 24 + packet.extlen;
    const valueStart = keyStart + packet.keylen;
    lines.push(
      `op=${hex(packet.opcode, 2)} status=${hex(packet.status, 4)} lengths=${packet.keylen}/${packet.extlen}/${packet.bodylen}` +
        ` dt=${hex(buf[p + 5], 2)} opaque=${hex(buf.readUInt32BE(p + 12), 8)} cas=${cas.label(buf.readBigUInt64BE(p + 16).toString())}` +
        (packet.extlen > 0 ? ` ext=${buf.subarray(p + 24, keyStart).toString('hex')}` : '') +
        (packet.keylen > 0 ? ` key=${escapeBytes(buf.subarray(keyStart, Math.min(valueStart, packet.end)))}` : '') +
        (valueStart < packet.end ? ` value=${showBytes(buf.subarray(valueStart, packet.end))}` : ''),
    );
    offset = packet.end;
  }
  if (offset < buf.length) lines.push(`bytes ${showBytes(buf.subarray(offset))}`);
  return lines.length === 0 ? '(nothing)' : lines.join('\n');
}

/** STAT packets as `STAT name value` lines, so lib/stats.ts can render them. */
export function statsAsText(buf: Buffer): Buffer {
  let text = '';
  let offset = 0;
  for (;;) {
    const packet = packetAt(buf, offset);
    if (packet === null) break;
    const keyStart = packet.start + 24 + packet.extlen;
    const name = buf.toString('latin1', keyStart, keyStart + packet.keylen);
    const value = buf.toString('latin1', keyStart + packet.keylen, packet.end);
    if (packet.opcode !== Op.Stat || packet.status !== 0)
      text += `packet op=${hex(packet.opcode, 2)} status=${hex(packet.status, 4)} ${value}\r\n`;
    else if (packet.keylen === 0) text += `END${packet.bodylen === 0 ? '' : ' ' + value}\r\n`;
    else text += `STAT ${name} ${value}\r\n`;
    offset = packet.end;
  }
  if (offset < buf.length) text += `bytes ${showBytes(buf.subarray(offset))}\r\n`;
  return Buffer.from(text, 'latin1');
}

/** A render for STAT replies: names, and the values `compareValue` selects. */
export function renderBinaryStats(compareValue: (name: string) => boolean): (reply: Buffer) => string {
  return (reply) => renderStats(statsAsText(reply), compareValue);
}

// ---------------------------------------------------------------------------------------------
// Cases.

export interface BinaryStepContext {
  /** The raw CAS value this server showed as `cas#ordinal` in this case. */
  cas(ordinal: number): bigint;
}

export interface BinaryStep {
  send?: Chunk[] | ((context: BinaryStepContext) => Chunk[]);
  /** Pause between chunks, so each goes in its own packet. */
  delayMs?: number;
  /** Wait this long before sending (to let items expire). */
  pauseMs?: number;
  /**
   * What to read: a number of response packets (default 1), 'stats' (up to a STAT
   * terminator or an error), 'close' (until the server closes), 'none' (nothing is due;
   * listen briefly), or { text: n } (n text-protocol replies).
   */
  expect?: number | 'stats' | 'close' | 'none' | { text: number };
  /** Which connection of the case (default 0); opened on first use. */
  conn?: number;
  timeoutMs?: number;
  render?: (reply: Buffer, server: ServerProcess) => string;
}

export interface BinaryCase {
  name: string;
  steps: BinaryStep[];
  /** At the end, send a NOOP on every open connection and report anything before its answer (default on). */
  sentinel?: boolean;
}

const QUIET_MS = 150;
const REPLY_TIMEOUT_MS = 3000;
const SENTINEL_OPAQUE = 0x5e471e1;

interface Transcript {
  text: string;
  sent: string[];
  unexpected: string[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function runOn(server: ServerProcess, testCase: BinaryCase): Promise<Transcript> {
  const connections = new Map<number, WireConnection>();
  const cas = new CasTable();
  const context: BinaryStepContext = {
    cas: (ordinal) => BigInt(cas.value(ordinal) ?? '0'),
  };
  const lines: string[] = [];
  const sent: string[] = [];
  const unexpected: string[] = [];
  try {
    for (const [index, step] of testCase.steps.entries()) {
      const label = `step ${index + 1}`;
      if (step.pauseMs) await sleep(step.pauseMs);
      const connIndex = step.conn ?? 0;
      let connection = connections.get(connIndex);
      if (!connection) {
        connection = await WireConnection.open(server.port);
        connections.set(connIndex, connection);
      }
      const chunks = typeof step.send === 'function' ? step.send(context) : (step.send ?? []);
      sent.push(`${label} conn ${connIndex}: ${chunks.map((chunk) => showBytes(toBuffer(chunk))).join(' | ')}`);
      await connection.send(chunks, step.delayMs ?? 0);
      const expect = step.expect ?? 1;
      const timeout = step.timeoutMs ?? REPLY_TIMEOUT_MS;
      let reply: Reply;
      if (expect === 'none') {
        reply = await connection.readQuiet(QUIET_MS, timeout);
        if (reply.outcome === 'timeout') reply = { ...reply, outcome: 'complete' };
      } else if (expect === 'close') {
        reply = await connection.read(() => -1, timeout);
        if (reply.outcome !== 'closed') unexpected.push(`${label}: did not close`);
      } else {
        const end = expect === 'stats' ? statsEnd() : typeof expect === 'number' ? packets(expect) : textReplies(expect.text);
        reply = await connection.read(end, timeout);
        if (reply.outcome !== 'complete') unexpected.push(`${label}: ${reply.outcome} waiting for ${JSON.stringify(expect)}`);
      }
      const rendered = step.render
        ? step.render(reply.bytes, server)
        : typeof expect === 'object'
          ? showBytes(reply.bytes)
          : renderPackets(reply.bytes, cas);
      lines.push(`${label} conn ${connIndex}: ${rendered}${reply.outcome === 'complete' ? '' : ` [${reply.outcome}]`}`);
    }
    if (testCase.sentinel !== false) {
      for (const [connIndex, connection] of connections) {
        if (connection.isClosed) {
          lines.push(`end conn ${connIndex}: [closed]`);
          continue;
        }
        await connection.send([noop(SENTINEL_OPAQUE)]);
        const reply = await connection.read(noopWith(SENTINEL_OPAQUE), REPLY_TIMEOUT_MS);
        // The NOOP's own answer is last; an unauthenticated connection gets an error for it.
        const last = reply.outcome === 'complete' ? lastPacketStart(reply.bytes) : reply.bytes.length;
        const extra = reply.bytes.subarray(0, last);
        if (extra.length > 0 || reply.outcome !== 'complete')
          unexpected.push(`end conn ${connIndex}: replies beyond those the case expects`);
        const answer = reply.bytes.subarray(last);
        const refused = answer.length > 24 ? ` (the NOOP answered ${renderPackets(answer, cas)})` : '';
        lines.push(
          `end conn ${connIndex}: ${extra.length > 0 ? 'extra ' + renderPackets(extra, cas) : 'nothing extra'}${refused}${reply.outcome === 'complete' ? '' : ` [${reply.outcome}]`}`,
        );
      }
    }
  } finally {
    for (const connection of connections.values()) connection.destroy();
  }
  return { text: lines.join('\n'), sent, unexpected };
}

export async function compareBinaryCase(pair: ServerPair, testCase: BinaryCase): Promise<void> {
  const [reference, candidate] = await Promise.all([runOn(pair.reference, testCase), runOn(pair.candidate, testCase)]);
  if (process.env.CONFORMANCE_VERBOSE) console.log(`--- ${testCase.name}\n${reference.text}`);
  const header = `case "${testCase.name}"\nsent (to memcached):\n  ${reference.sent.join('\n  ')}\n`;
  if (reference.unexpected.length > 0) {
    assert.fail(
      `${header}memcached did not answer as the case expects (fix the case):\n  ${reference.unexpected.join('\n  ')}\nmemcached:\n${reference.text}`,
    );
  }
  // Clock fields (t~, l~, exp=~, la=~) within CLOCK_TOLERANCE_S of memcached's count as equal.
  assert.equal(
    reconcileClock(reference.text, candidate.text),
    reference.text,
    `${header}the candidate (${pair.candidate.kind}) differs from memcached\nmemcached:\n${reference.text}\ncandidate (${pair.candidate.kind}):\n${candidate.text}\n`,
  );
}

/** Declares one mocha test per case. */
export function defineBinaryCases(pair: () => ServerPair, cases: BinaryCase[]): void {
  for (const testCase of cases) {
    it(testCase.name, async function () {
      await compareBinaryCase(pair(), testCase);
    });
  }
}

/** A step sending one chunk and expecting `expect`. */
export function bstep(send: Chunk, expect: BinaryStep['expect'] = 1, options: Omit<BinaryStep, 'send' | 'expect'> = {}): BinaryStep {
  return { send: [send], expect, ...options };
}

/** Requests concatenated into one chunk (one packet). */
export function pipeline(...requests: Buffer[]): Buffer {
  return Buffer.concat(requests);
}
