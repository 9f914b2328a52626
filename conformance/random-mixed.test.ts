// Seeded random sequences that mix text, meta and binary requests over one
// small key set, each protocol on its own connection to the same server, run
// against memcached and the candidate side by side. Requests go one at a time:
// each is followed, in the same write, by a no-op of its protocol (`mn`, or a
// binary NOOP), and the next request waits until that no-op is answered, so
// the order in which the three connections reach the store is fixed and
// quiet requests need no guessing about what they answer. CAS values are
// labelled through one table per server and sequence, whichever protocol
// shows them (VALUE lines, meta `c` flags, the binary header), and a CAS sent
// back in any protocol is that server's own. Reproduce a failure with
//   CONFORMANCE_SEED=<seed> CONFORMANCE_SEQUENCE=<index> \
//     npx mocha --no-config -r tsx/cjs --extension ts conformance/random-mixed.test.ts
import assert from 'node:assert/strict';
import { NO_BACKGROUND_ITEM_REFERENCES, usePair, type ServerPair, type ServerProcess } from './lib/servers';
import { WireConnection, type ReplyEnd } from './lib/wire';
import { nextLine, replies } from './lib/replies';
import { CasTable, renderReply } from './lib/transcript';
import { parseStats } from './lib/stats';
import { noop, renderPackets, request } from './lib/binary';
import { CAS_PLACEHOLDER, type CasSource } from './lib/sequences';
import { describeMixedRequest, generateMixedSequence, PROTOCOLS, type MixedRequest, type Protocol } from './lib/mixed-sequences';

const SEED = Number(process.env.CONFORMANCE_SEED ?? 20240611);
// A hang bound, not a time to meet: a TCG guest (kmod/harness/guest/e2e.sh) runs 10-20 times
// slower and sets CONFORMANCE_TIMEOUT_FACTOR.
const TIMEOUT_FACTOR = Number(process.env.CONFORMANCE_TIMEOUT_FACTOR ?? 1);
const ONLY = process.env.CONFORMANCE_SEQUENCE === undefined ? undefined : Number(process.env.CONFORMANCE_SEQUENCE);
const SEQUENCES = Number(process.env.CONFORMANCE_MIXED_SEQUENCES ?? 3000);
const CONCURRENCY = 32;
const REPLY_TIMEOUT_MS = 5000;
/** The opaque of the binary NOOP that closes each step. */
const BARRIER_OPAQUE = 0x0b0a0b0a;
/** Sent for a CAS a server has not shown: never one a server hands out in a run. */
const UNKNOWN_CAS = '987654321987';

/**
 * The reply ends with the `count`-th `MN` line (the request may be an `mn`
 * itself; the barrier's is last); VALUE and VA data blocks are skipped whole.
 */
function untilMetaNoops(count: number): ReplyEnd {
  return (buf) => {
    let seen = 0;
    for (let offset = 0; ; ) {
      const line = nextLine(buf, offset);
      if (!line) return -1;
      offset = line.end;
      if (line.text === 'MN' && ++seen === count) return offset;
    }
  };
}

/** How many `mn` a text or meta request holds itself (only the generator's lone `mn` does). */
const metaNoopsIn = (text: string): number => (text === 'mn\r\n' ? 1 : 0);

interface ResponseHeader {
  start: number;
  end: number;
  opcode: number;
  status: number;
  opaque: number;
  cas: bigint;
}

/** The whole response packets at the start of `buf`. */
function responseHeaders(buf: Buffer): ResponseHeader[] {
  const headers: ResponseHeader[] = [];
  for (let offset = 0; buf.length - offset >= 24 && buf[offset] === 0x81; ) {
    const end = offset + 24 + buf.readUInt32BE(offset + 8);
    if (end > buf.length) break;
    headers.push({
      start: offset,
      end,
      opcode: buf[offset + 1],
      status: buf.readUInt16BE(offset + 6),
      opaque: buf.readUInt32BE(offset + 12),
      cas: buf.readBigUInt64BE(offset + 16),
    });
    offset = end;
  }
  return headers;
}

const isBarrier = (header: ResponseHeader): boolean => header.opcode === 0x0a && header.opaque === BARRIER_OPAQUE;

/** The reply ends with the answer to the barrier NOOP. */
const untilBinaryNoop: ReplyEnd = (buf) => responseHeaders(buf).find(isBarrier)?.end ?? -1;

/** Per-server CAS values of one sequence, from all three protocols. */
class CasMemory {
  readonly table = new CasTable();
  private readonly latest = new Map<string, string>();

  private remember(key: string, cas: string): void {
    if (cas === '0') return;
    this.latest.set(key, cas);
    this.table.label(cas);
  }

  /** VALUE lines name their key; a meta reply's `c` flag is the request's key's. */
  observeText(reply: Buffer, key: string | undefined): void {
    for (let offset = 0; ; ) {
      const line = nextLine(reply, offset);
      if (!line) return;
      offset = line.end;
      const value = /^VALUE ([^ ]+) \d+ \d+ (\d+)$/.exec(line.text);
      if (value) this.remember(value[1], value[2]);
      else if (key !== undefined && /^[A-Z]{2}( |$)/.test(line.text)) {
        for (const token of line.text.split(' ').slice(1)) if (/^c\d+$/.test(token)) this.remember(key, token.slice(1));
      }
    }
  }

  /** A successful response's header CAS is the request's key's. */
  observeBinary(headers: ResponseHeader[], key: string | undefined): void {
    for (const header of headers) if (header.status === 0 && key !== undefined) this.remember(key, header.cas.toString());
  }

  resolve(source: CasSource): string {
    if (source.kind === 'latest') return this.latest.get(source.key) ?? UNKNOWN_CAS;
    if (source.kind === 'seen') return this.table.value(source.ordinal) ?? UNKNOWN_CAS;
    return source.value;
  }
}

/** The bytes of `item` for this server: its request, then the barrier, in one write. */
function requestBytes(item: MixedRequest, cas: CasMemory): Buffer {
  const resolved = item.cas ? cas.resolve(item.cas) : undefined;
  if (item.binary) {
    const packet = request(item.binary.opcode, { ...item.binary, cas: resolved === undefined ? 0n : BigInt(resolved) });
    return Buffer.concat([packet, noop(BARRIER_OPAQUE)]);
  }
  const text = resolved === undefined ? item.text! : item.text!.replace(CAS_PLACEHOLDER, resolved);
  return Buffer.from(`${text}mn\r\n`, 'latin1');
}

/** One server's replies to a sequence, one rendered entry per request. */
interface SequenceRun {
  replies: string[];
  /** Where memcached itself did not answer the barrier. */
  unexpected: string[];
}

/** Keeps one connection per protocol for a worker, replacing those a sequence broke. */
class WorkerConnections {
  private readonly connections = new Map<Protocol, WireConnection>();

  constructor(private readonly server: ServerProcess) {}

  async get(protocol: Protocol): Promise<WireConnection> {
    let connection = this.connections.get(protocol);
    if (!connection || connection.isClosed) {
      connection = await WireConnection.open(this.server.port);
      this.connections.set(protocol, connection);
    }
    return connection;
  }

  discard(protocol: Protocol): void {
    this.connections.get(protocol)?.destroy();
    this.connections.delete(protocol);
  }

  discardAll(): void {
    for (const protocol of PROTOCOLS) this.discard(protocol);
  }
}

async function runSequence(connections: WorkerConnections, requests: MixedRequest[]): Promise<SequenceRun> {
  const cas = new CasMemory();
  const rendered: string[] = [];
  const unexpected: string[] = [];
  for (const [index, item] of requests.entries()) {
    const connection = await connections.get(item.protocol);
    await connection.send([requestBytes(item, cas)]);
    const reply = await connection.read(item.binary ? untilBinaryNoop : untilMetaNoops(metaNoopsIn(item.text!) + 1), REPLY_TIMEOUT_MS);
    if (reply.outcome !== 'complete') {
      // Out of step with its replies: no later request on this connection could be read.
      connections.discard(item.protocol);
      const shown = item.binary ? renderPackets(reply.bytes, cas.table) : renderReply(reply.bytes, cas.table);
      rendered.push(`${shown} [${reply.outcome}]`);
      unexpected.push(`request ${index + 1}: ${reply.outcome} waiting for the barrier`);
      return { replies: rendered, unexpected };
    }
    if (item.binary) {
      const headers = responseHeaders(reply.bytes);
      const answers = headers.slice(0, -1); // the last is the barrier's
      const body = reply.bytes.subarray(0, headers[headers.length - 1].start);
      rendered.push(renderPackets(body, cas.table));
      cas.observeBinary(answers, item.key);
    } else {
      const body = reply.bytes.subarray(0, reply.bytes.length - 'MN\r\n'.length);
      rendered.push(body.length === 0 ? '(nothing)' : renderReply(body, cas.table));
      cas.observeText(body, item.key);
    }
  }
  return { replies: rendered, unexpected };
}

function report(index: number, requests: MixedRequest[], reference: SequenceRun, candidate: SequenceRun, kind: string): string {
  const lines = [`seed ${SEED} mixed sequence ${index} (CONFORMANCE_SEED=${SEED} CONFORMANCE_SEQUENCE=${index}); candidate: ${kind}`];
  const count = Math.max(reference.replies.length, candidate.replies.length);
  for (let i = 0; i < count; i++) {
    const mark = reference.replies[i] === candidate.replies[i] ? ' ' : '!';
    lines.push(`${mark} ${i + 1}. > ${describeMixedRequest(requests[i])}`);
    lines.push(`     memcached: ${(reference.replies[i] ?? '(not run)').replace(/\n/g, '\n                ')}`);
    lines.push(`     candidate: ${(candidate.replies[i] ?? '(not run)').replace(/\n/g, '\n                ')}`);
  }
  return lines.join('\n');
}

/** Runs sequences on both servers, CONCURRENCY at a time, and asserts they agree. */
async function compareSequences(pair: ServerPair, indexes: number[]): Promise<void> {
  const { reference, candidate } = pair;
  const mismatches: { index: number; report: string }[] = [];
  const harnessErrors: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    const toReference = new WorkerConnections(reference);
    const toCandidate = new WorkerConnections(candidate);
    try {
      while (next < indexes.length) {
        const index = indexes[next++];
        const requests = generateMixedSequence(SEED, index, `x${SEED}-${index}:`);
        const [onReference, onCandidate] = await Promise.all([runSequence(toReference, requests), runSequence(toCandidate, requests)]);
        if (onReference.unexpected.length > 0) {
          harnessErrors.push(`${onReference.unexpected.join('; ')}\n${report(index, requests, onReference, onCandidate, candidate.kind)}`);
        } else if (onReference.replies.join('\n') !== onCandidate.replies.join('\n')) {
          mismatches.push({ index, report: report(index, requests, onReference, onCandidate, candidate.kind) });
        }
      }
    } finally {
      toReference.discardAll();
      toCandidate.discardAll();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  assert.equal(harnessErrors.length, 0, `memcached did not answer a barrier:\n${harnessErrors.slice(0, 3).join('\n\n')}`);
  mismatches.sort((a, b) => a.index - b.index);
  assert.equal(
    mismatches.length,
    0,
    `${mismatches.length} of ${indexes.length} mixed sequences differ (${mismatches.map(({ index }) => index).join(', ')}); ` +
      `the first ${Math.min(5, mismatches.length)}:\n\n${mismatches
        .slice(0, 5)
        .map(({ report }) => report)
        .join('\n\n')}`,
  );
}

/**
 * Counters that follow from the requests alone, whichever protocol sent
 * them (see random.test.ts for those left out).
 */
const COMMAND_COUNTERS = [
  'cmd_get',
  'cmd_set',
  'cmd_touch',
  'get_hits',
  'get_misses',
  'get_flushed',
  'delete_hits',
  'delete_misses',
  'incr_hits',
  'incr_misses',
  'decr_hits',
  'decr_misses',
  'cas_hits',
  'cas_misses',
  'cas_badval',
  'touch_hits',
  'touch_misses',
  'total_items',
];

async function commandCounters(server: ServerProcess): Promise<string> {
  const connection = await WireConnection.open(server.port);
  try {
    await connection.send(['stats\r\n']);
    const { stats } = parseStats((await connection.read(replies(1), REPLY_TIMEOUT_MS)).bytes);
    return COMMAND_COUNTERS.map((name) => `${name} ${stats.find((stat) => stat.name === name)?.value ?? 'missing'}`).join('\n');
  } finally {
    connection.destroy();
  }
}

describe('random mixed-protocol sequences (text, meta, binary on one store)', function () {
  const pair = usePair([], { memcachedOnly: NO_BACKGROUND_ITEM_REFERENCES });
  const indexes = ONLY === undefined ? Array.from({ length: SEQUENCES }, (_, i) => i) : [ONLY];

  it(`${indexes.length} seeded sequences (seed ${SEED}), one request at a time over three connections, give the same replies`, async function () {
    this.timeout(TIMEOUT_FACTOR * 120000);
    await compareSequences(pair(), indexes);
  });

  it('afterwards, the stats counters that follow from the requests are equal', async function () {
    const [reference, candidate] = await Promise.all([commandCounters(pair().reference), commandCounters(pair().candidate)]);
    assert.equal(candidate, reference, 'stats counters after the mixed sequences differ');
  });
});
