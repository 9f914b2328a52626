// Runs a scripted case against both servers of a pair at once: the same bytes
// go to each, every reply is rendered (CAS values labelled, see transcript.ts)
// and the candidate's transcript must equal memcached's byte for byte.
import assert from 'node:assert/strict';
import type tls from 'node:tls';
import { WireConnection, toBuffer, type Chunk, type Reply } from './wire';
import { replies, lineStartingWith } from './replies';
import { CasTable, reconcileClock, renderReply, showBytes } from './transcript';
import type { ServerPair, ServerProcess } from './servers';

/** Per-server values a step may put into the bytes it sends. */
export interface StepContext {
  /** The raw CAS value this server showed as `cas#ordinal` in this case. */
  cas(ordinal: number): string;
}

export interface Step {
  /** Bytes to send, as chunks; a function to build them from this server's CAS values. */
  send?: Chunk[] | ((context: StepContext) => Chunk[]);
  /** Pause between chunks, so each goes in its own packet. */
  delayMs?: number;
  /** Pause before sending, so the server has read what came before. */
  pauseMs?: number;
  /**
   * What to read after sending: a number of whole replies (default 1);
   * 'line' (one line, for replies the reply framer cannot end, such as
   * memcached's STAT line without END); 'close' (read until the server
   * closes); 'none' (no reply is due: listen briefly, so a reply that should
   * not be there is caught; the end-of-case sentinel catches a later one); or
   * 'unread' (read nothing, e.g. before hanging up on a reply in flight).
   */
  expect?: number | 'line' | 'close' | 'none' | 'unread';
  /** Which connection of the case (default 0); opened on first use. */
  conn?: number;
  /** How this step's connection is opened when it is new: TLS options, or null for plaintext (default: the case's). */
  tls?: tls.ConnectionOptions | null;
  /** After reading: close this connection, orderly ('end') or abruptly ('reset'). */
  hangUp?: 'end' | 'reset';
  /** Right after sending, shut down our sending side (the server reads end of stream). */
  halfClose?: boolean;
  /** Wait up to this long for the server process to exit, and report whether it did. */
  expectExit?: number;
  timeoutMs?: number;
  /** Renders the reply for comparison when values inherently differ (e.g. stats). */
  render?: (reply: Buffer, server: ServerProcess) => string;
}

export interface Case {
  name: string;
  steps: Step[];
  /** Open the case's connections with TLS (see Step.tls). */
  tls?: tls.ConnectionOptions;
  /**
   * At the end, send `version` on every open connection and record anything
   * that arrives before its answer, so extra replies are caught (default on).
   */
  sentinel?: boolean;
}

const QUIET_MS = 150;
// Generous, so a loaded machine does not fail a case: a wait only runs out
// when a reply is missing, and then it is a failure anyway.
const REPLY_TIMEOUT_MS = 5000;
const REPLY_TIMEOUT_MS_PER_MB_SENT = 5000;

interface Transcript {
  text: string;
  sent: string[];
  /** Steps where memcached itself did not answer as the case expects. */
  unexpected: string[];
}

function outcomeNote(reply: Reply): string {
  return reply.outcome === 'complete' ? '' : ` [${reply.outcome}]`;
}

async function runOn(server: ServerProcess, testCase: Case): Promise<Transcript> {
  const connections = new Map<number, WireConnection>();
  const cas = new CasTable();
  const context: StepContext = {
    cas: (ordinal) => cas.value(ordinal) ?? `no-cas-${ordinal}`,
  };
  const lines: string[] = [];
  const sent: string[] = [];
  const unexpected: string[] = [];
  try {
    for (const [index, step] of testCase.steps.entries()) {
      const label = `step ${index + 1}`;
      if (step.expectExit !== undefined) {
        const exited = await Promise.race([
          server.exited.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(server.hasExited()), step.expectExit)),
        ]);
        lines.push(`${label}: server ${exited ? `exited with ${await server.exited}` : 'still running'}`);
        continue;
      }
      const connIndex = step.conn ?? 0;
      let connection = connections.get(connIndex);
      if (!connection) {
        const tlsOptions = step.tls === undefined ? testCase.tls : (step.tls ?? undefined);
        connection = await WireConnection.open(server.port, '127.0.0.1', 5000, tlsOptions);
        connections.set(connIndex, connection);
      }
      if (step.pauseMs) await new Promise((resolve) => setTimeout(resolve, step.pauseMs));
      const chunks = typeof step.send === 'function' ? step.send(context) : (step.send ?? []);
      sent.push(`${label} conn ${connIndex}: ${chunks.map((chunk) => showBytes(toBuffer(chunk))).join(' | ')}`);
      await connection.send(chunks, step.delayMs ?? 0);
      if (step.halfClose) connection.end();
      const expect = step.expect ?? 1;
      const sentBytes = chunks.reduce((total, chunk) => total + toBuffer(chunk).length, 0);
      const timeout = step.timeoutMs ?? REPLY_TIMEOUT_MS + Math.ceil((sentBytes / 1048576) * REPLY_TIMEOUT_MS_PER_MB_SENT);
      let reply: Reply;
      if (expect === 'unread') {
        reply = { bytes: Buffer.alloc(0), outcome: 'complete' };
      } else if (expect === 'none') {
        reply = await connection.readQuiet(QUIET_MS, timeout);
        if (reply.outcome === 'timeout') reply = { ...reply, outcome: 'complete' };
      } else if (expect === 'line') {
        reply = await connection.read((buf) => buf.indexOf(0x0a) + 1 || -1, timeout);
        if (reply.outcome !== 'complete') unexpected.push(`${label}: ${reply.outcome} waiting for a line`);
      } else if (expect === 'close') {
        reply = await connection.read(() => -1, timeout);
        if (reply.outcome !== 'closed') unexpected.push(`${label}: did not close`);
      } else {
        reply = await connection.read(replies(expect), timeout);
        if (reply.outcome !== 'complete') unexpected.push(`${label}: ${reply.outcome} waiting for ${expect} replies`);
      }
      const rendered = step.render ? step.render(reply.bytes, server) : renderReply(reply.bytes, cas);
      lines.push(`${label} conn ${connIndex}: ${rendered}${outcomeNote(reply)}`);
      if (step.hangUp === 'end') connection.end();
      if (step.hangUp === 'reset') connection.destroy();
      if (step.hangUp) connections.delete(connIndex);
    }
    if (testCase.sentinel !== false) {
      for (const [connIndex, connection] of connections) {
        if (connection.isClosed) {
          lines.push(`end conn ${connIndex}: [closed]`);
          continue;
        }
        await connection.send(['version\r\n']);
        const reply = await connection.read(lineStartingWith('VERSION '), REPLY_TIMEOUT_MS);
        // The version string itself is checked by its own case.
        const extra = reply.bytes.toString('latin1').replace(/VERSION [^\r\n]*\r\n$/, '');
        if (extra) unexpected.push(`end conn ${connIndex}: replies beyond those the case expects`);
        lines.push(
          `end conn ${connIndex}: ${extra ? 'extra ' + renderReply(Buffer.from(extra, 'latin1'), cas) : 'nothing extra'}${outcomeNote(reply)}`,
        );
      }
    }
  } finally {
    for (const connection of connections.values()) connection.destroy();
  }
  return { text: lines.join('\n'), sent, unexpected };
}

export async function compareCase(pair: ServerPair, testCase: Case): Promise<void> {
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

/** Declares one mocha test per case, each comparing the pair's transcripts. */
export function defineCases(pair: () => ServerPair, cases: Case[]): void {
  for (const testCase of cases) {
    it(testCase.name, async function () {
      await compareCase(pair(), testCase);
    });
  }
}

/** A step sending one chunk and expecting `expect` replies. */
export function step(send: Chunk, expect: Step['expect'] = 1, options: Omit<Step, 'send' | 'expect'> = {}): Step {
  return { send: [send], expect, ...options };
}
