// Seeded random command sequences, run against memcached and the candidate
// side by side, each on its own connection to each server: once command by
// command, and once pipelined and cut into packets at random places. A `cas`
// takes its CAS value from what that same server showed earlier. Replies are
// compared with CAS values labelled (see lib/transcript.ts). Reproduce a
// failure with
//   CONFORMANCE_SEED=<seed> CONFORMANCE_SEQUENCE=<index> \
//     npx mocha --no-config -r tsx/cjs --extension ts conformance/random.test.ts
import assert from 'node:assert/strict';
import { NO_BACKGROUND_ITEM_REFERENCES, usePair, type ServerPair, type ServerProcess } from './lib/servers';
import { Prng } from './lib/prng';
import { WireConnection } from './lib/wire';
import { replies, lineStartingWith, nextLine } from './lib/replies';
import { CasTable, escapeBytes, renderReply } from './lib/transcript';
import { parseStats } from './lib/stats';
import { CAS_PLACEHOLDER, describeCasSource, generateSequence, type SequenceCommand } from './lib/sequences';

const SEED = Number(process.env.CONFORMANCE_SEED ?? 20240611);
// A hang bound, not a time to meet: a TCG guest (kmod/harness/guest/e2e.sh) runs 10-20 times
// slower and sets CONFORMANCE_TIMEOUT_FACTOR.
const TIMEOUT_FACTOR = Number(process.env.CONFORMANCE_TIMEOUT_FACTOR ?? 1);
const ONLY = process.env.CONFORMANCE_SEQUENCE === undefined ? undefined : Number(process.env.CONFORMANCE_SEQUENCE);
const SEQUENCES = Number(process.env.CONFORMANCE_SEQUENCES ?? 5000);
const PIPELINED_SEQUENCES = Math.ceil(SEQUENCES / 2);
const CONCURRENCY = 32;
const REPLY_TIMEOUT_MS = 10000;

/** One server's replies to a sequence, one rendered entry per command. */
interface SequenceRun {
  replies: string[];
  /** Where memcached itself answered differently from what the generator expects. */
  unexpected: string[];
  /** The connection can not be reused (closed, or out of step after a timeout). */
  broken: boolean;
}

/** Per-server CAS values seen in one sequence. */
class CasMemory {
  readonly table = new CasTable();
  private readonly latest = new Map<string, string>();

  /** Records the CAS values in the VALUE lines of `reply`. */
  observe(reply: Buffer): void {
    let offset = 0;
    for (;;) {
      const line = nextLine(reply, offset);
      if (!line) return;
      const value = /^VALUE ([^ ]+) \d+ \d+ (\d+)$/.exec(line.text);
      if (value) {
        this.latest.set(value[1], value[2]);
        this.table.label(value[2]);
      }
      offset = line.end;
    }
  }

  resolve(command: SequenceCommand): string {
    const source = command.cas;
    if (!source) return command.text;
    let cas: string;
    if (source.kind === 'latest') cas = this.latest.get(source.key) ?? '1';
    else if (source.kind === 'seen') cas = this.table.value(source.ordinal) ?? '1';
    else cas = source.value;
    return command.text.replace(CAS_PLACEHOLDER, cas);
  }
}

/** Cuts `bytes` into pieces of 1 to 200 bytes, to go in separate packets. */
function splitRandomly(bytes: Buffer, prng: Prng): Buffer[] {
  const pieces: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const size = prng.int(1, 200);
    pieces.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return pieces;
}

/**
 * Runs `commands` on one connection. One at a time, or, given a `pipeline`
 * generator, as many at a time as possible (up to the next cas that needs a
 * CAS value from the replies) cut into packets at random places.
 */
async function runSequence(connection: WireConnection, commands: SequenceCommand[], pipeline?: Prng): Promise<SequenceRun> {
  const cas = new CasMemory();
  const rendered: string[] = [];
  const unexpected: string[] = [];
  const needsReplies = (command: SequenceCommand): boolean => command.cas !== undefined && command.cas.kind !== 'literal';
  for (let start = 0; start < commands.length; ) {
    let end = start + 1;
    if (pipeline) while (end < commands.length && !needsReplies(commands[end])) end++;
    const bytes = Buffer.from(
      commands
        .slice(start, end)
        .map((command) => cas.resolve(command))
        .join(''),
      'latin1',
    );
    await connection.send(pipeline ? splitRandomly(bytes, pipeline) : [bytes], pipeline ? 1 : 0);
    for (let index = start; index < end; index++) {
      const command = commands[index];
      if (command.replies === 0) {
        rendered.push('');
        continue;
      }
      const reply = await connection.read(replies(command.replies), REPLY_TIMEOUT_MS);
      cas.observe(reply.bytes);
      rendered.push(renderReply(reply.bytes, cas.table) + (reply.outcome === 'complete' ? '' : ` [${reply.outcome}]`));
      if (reply.outcome !== 'complete') {
        unexpected.push(`command ${index + 1}: ${reply.outcome}`);
        return { replies: rendered, unexpected, broken: true };
      }
    }
    start = end;
  }
  // Anything sent but not expected shows up before the answer to `version`.
  await connection.send(['version\r\n']);
  const tail = await connection.read(lineStartingWith('VERSION '), REPLY_TIMEOUT_MS);
  const extra = tail.bytes.toString('latin1').replace(/VERSION [^\r\n]*\r\n$/, '');
  rendered.push(
    `end: ${extra ? 'extra ' + renderReply(Buffer.from(extra, 'latin1'), cas.table) : 'nothing extra'}${tail.outcome === 'complete' ? '' : ` [${tail.outcome}]`}`,
  );
  if (extra) unexpected.push('replies beyond those expected');
  return { replies: rendered, unexpected, broken: tail.outcome !== 'complete' };
}

/** Keeps one connection per worker, replacing it when a sequence broke it. */
class WorkerConnection {
  private connection: WireConnection | undefined;

  constructor(private readonly server: ServerProcess) {}

  async get(): Promise<WireConnection> {
    if (!this.connection || this.connection.isClosed) this.connection = await WireConnection.open(this.server.port);
    return this.connection;
  }

  discard(): void {
    this.connection?.destroy();
    this.connection = undefined;
  }
}

function report(index: number, commands: SequenceCommand[], reference: SequenceRun, candidate: SequenceRun, kind: string): string {
  const lines = [`seed ${SEED} sequence ${index} (CONFORMANCE_SEED=${SEED} CONFORMANCE_SEQUENCE=${index}); candidate: ${kind}`];
  const count = Math.max(reference.replies.length, candidate.replies.length);
  for (let i = 0; i < count; i++) {
    const command = commands[i];
    const sent = command
      ? escapeBytes(
          Buffer.from(command.cas ? command.text.replace(CAS_PLACEHOLDER, describeCasSource(command.cas)) : command.text, 'latin1'),
        )
      : '(end)';
    const mark = reference.replies[i] === candidate.replies[i] ? ' ' : '!';
    lines.push(`${mark} ${i + 1}. > ${sent}`);
    lines.push(`     memcached: ${(reference.replies[i] ?? '(not run)').replace(/\n/g, '\n                ')}`);
    lines.push(`     candidate: ${(candidate.replies[i] ?? '(not run)').replace(/\n/g, '\n                ')}`);
  }
  return lines.join('\n');
}

/** Runs sequences on both servers, 32 at a time, and asserts they agree. */
async function compareSequences(pair: ServerPair, indexes: number[], pipelined: boolean): Promise<void> {
  const { reference, candidate } = pair;
  const mismatches: string[] = [];
  const harnessErrors: string[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    const toReference = new WorkerConnection(reference);
    const toCandidate = new WorkerConnection(candidate);
    try {
      while (next < indexes.length) {
        const index = indexes[next++];
        const prefix = `${pipelined ? 'p' : 's'}${SEED}-${index}:`;
        const commands = generateSequence(SEED, index, prefix, pipelined);
        // Both servers get the same packet boundaries.
        const pipeline = (): Prng | undefined => (pipelined ? new Prng(SEED + index) : undefined);
        const [onReference, onCandidate] = await Promise.all([
          toReference.get().then((connection) => runSequence(connection, commands, pipeline())),
          toCandidate.get().then((connection) => runSequence(connection, commands, pipeline())),
        ]);
        if (onReference.broken) toReference.discard();
        if (onCandidate.broken) toCandidate.discard();
        if (onReference.unexpected.length > 0) {
          harnessErrors.push(`${onReference.unexpected.join('; ')}\n${report(index, commands, onReference, onCandidate, candidate.kind)}`);
        } else if (onReference.replies.join('\n') !== onCandidate.replies.join('\n')) {
          mismatches.push(report(index, commands, onReference, onCandidate, candidate.kind));
        }
      }
    } finally {
      toReference.discard();
      toCandidate.discard();
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  assert.equal(harnessErrors.length, 0, `memcached did not answer as the generator expects:\n${harnessErrors.slice(0, 3).join('\n\n')}`);
  assert.equal(
    mismatches.length,
    0,
    `${mismatches.length} of ${indexes.length} sequences differ; the first ${Math.min(5, mismatches.length)}:\n\n${mismatches.slice(0, 5).join('\n\n')}`,
  );
}

/**
 * Counters that follow from the commands alone. Left out are those that
 * depend on how sequences interleave on the server: whether an expired item
 * is found (get_expired) or was reclaimed first (reclaimed, curr_items...),
 * and bytes_read, which memcached may not have counted yet for bytes the
 * last sequences sent.
 */
const COMMAND_COUNTERS = [
  'cmd_get',
  'cmd_set',
  'cmd_touch',
  'get_hits',
  'get_misses',
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

async function compareCounters(pair: ServerPair): Promise<void> {
  const [reference, candidate] = await Promise.all([commandCounters(pair.reference), commandCounters(pair.candidate)]);
  assert.equal(candidate, reference, 'stats counters after the sequences differ');
}

const sequenceIndexes = (count: number): number[] => (ONLY === undefined ? Array.from({ length: count }, (_, i) => i) : [ONLY]);

describe('random command sequences', function () {
  const pair = usePair([], { memcachedOnly: NO_BACKGROUND_ITEM_REFERENCES });

  it(`${ONLY === undefined ? SEQUENCES : 1} seeded sequences (seed ${SEED}), one command at a time, give the same replies`, async function () {
    this.timeout(TIMEOUT_FACTOR * 170000);
    await compareSequences(pair(), sequenceIndexes(SEQUENCES), false);
  });

  it(`${ONLY === undefined ? PIPELINED_SEQUENCES : 1} seeded sequences (seed ${SEED}), pipelined in random packets, give the same replies`, async function () {
    this.timeout(TIMEOUT_FACTOR * 170000);
    await compareSequences(pair(), sequenceIndexes(PIPELINED_SEQUENCES), true);
  });

  it('afterwards, the stats counters that follow from the commands are equal', async function () {
    await compareCounters(pair());
  });

  it('with the native engine, most GET hits of the run were answered by the engine itself', async function () {
    const candidate = pair().candidate;
    const connection = await WireConnection.open(candidate.port);
    try {
      await connection.send(['stats\r\nstats settings\r\n']);
      const { stats } = parseStats((await connection.read(replies(2), REPLY_TIMEOUT_MS)).bytes);
      const stat = (name: string) => stats.find((s) => s.name === name)?.value;
      // kmod keeps its connections' requests for JS, and js has no read index.
      if (stat('records_backend') !== 'native') return;
      const hits = Number(stat('get_hits'));
      const native = Number(stat('records_index_hits'));
      assert.ok(hits > 1000, `the run had GET hits (${hits})`);
      assert.ok(native > hits / 2, `${native} of ${hits} GET hits answered by the engine`);
    } finally {
      connection.destroy();
    }
  });
});
