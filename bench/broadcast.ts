/*
 * The broadcast rows, B1-B3.
 *
 * B1: one 1 MB block to 100 and to 500 peers on loopback, sent with the records library
 * (native: one record, sendfile from its memfd; js: one Buffer) beside plain Node
 * `net.Socket.write` of the same Buffer to every peer, which is what broadcasting
 * applications do today.
 *
 * Three processes per run: the sender (pinned to --sender-cpu), the peers (one process
 * holding every connection, reading as fast as it can, pinned to the other CPU), and this
 * one, which samples the machine's used memory (MemTotal - MemAvailable) every 2 ms.
 * Figures per run: time from the send to the last peer having the whole block, the
 * sender's CPU time (all threads) over that window, and the peak growth of the machine's
 * used memory. Runs alternate between the senders; the report gives medians and ratios
 * to plain sockets.
 *
 * B2: 8 blocks of 1 MB queued to 50 peers, then 40 votes of 12 bytes, one every 5 ms, at a
 * higher priority (native); plain sockets and js write them in order behind the blocks.
 * Figure: the votes' p99 latency, send to arrival (CLOCK_MONOTONIC in both processes).
 *
 * B3: 20 slow peers reading 2 MB/s; a block of 1 MB is superseded by the next every 100 ms,
 * 5 blocks in all. native unsends the superseded block where it has not started; plain and
 * js cannot. Figure: bytes each peer reads until it has the last block (median), and every
 * message a peer reads must be a whole block.
 *
 * On loopback a peer's kernel receive queue takes megabytes (tcp_rmem autotuning) whether
 * or not the peer reads: what a sender can still put behind a vote or take back is only
 * what those queues have not taken (Node sets no SO_RCVBUF on a client socket).
 *
 *   npm run bench:broadcast [-- --runs N] [--rows B1,B2,B3] [--peers 100,500] [--senders plain,js,native]
 *
 * Writes bench/results/broadcast.{json,md}.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { RecordHandle } from '../server/records/library';

const BLOCK_BYTES = 1 << 20;
const ROOT = path.resolve(__dirname, '..');

type SenderKind = 'plain' | 'js' | 'native';

interface Run {
  row: Row;
  sender: SenderKind;
  peers: number;
  seconds: number;
  cpuSeconds: number;
  memoryBytes: number;
  /** B2: the votes' p99 latency, ms. */
  voteP99Ms: number;
  /** B3: bytes a peer read until it had the last block (median over peers). */
  bytesPerPeer: number;
  /** Messages a peer read that were not one whole block. */
  torn: number;
}

function usedMemory(): number {
  const text = fs.readFileSync('/proc/meminfo', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return field('MemTotal') - field('MemAvailable');
}

/** CPU seconds of a process, all its threads, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/* ---- child roles ---- */

type Row = 'B1' | 'B2' | 'B3';

/** A length-prefixed block of 1 MB, every payload byte `fill`. */
function block(fill: number): Buffer {
  const b = Buffer.alloc(BLOCK_BYTES, fill);
  b.writeUInt32BE(BLOCK_BYTES - 4, 0);
  return b;
}

/** A vote: its length, then the CLOCK_MONOTONIC nanoseconds it was sent at. */
function vote(): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32BE(8, 0);
  b.writeBigUInt64BE(process.hrtime.bigint(), 4);
  return b;
}

interface Sender {
  /** Queues bytes (a fresh record each time on js and native) to every peer. */
  send(bytes: Buffer, priority: number): unknown;
  /** Takes back what has not started of an earlier send; false where that cannot be done. */
  unsend(sent: unknown): boolean;
}

/** The sender: listens, waits for `peers` connections, then plays its row on "go". */
async function senderRole(kind: SenderKind, peers: number, row: Row): Promise<void> {
  let sender: Sender;
  let port: number;
  if (kind === 'plain') {
    const sockets: net.Socket[] = [];
    const server = net.createServer({ noDelay: true }, (s) => {
      s.on('error', () => undefined);
      sockets.push(s);
      if (sockets.length === peers) process.send?.({ ready: true });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
    sender = {
      send: (bytes) => {
        for (const s of sockets) s.write(bytes);
      },
      unsend: () => false,
    };
  } else {
    // The package's public entry point, as an application would load it.
    const { openRecords } = require(ROOT) as typeof import('../server/records/library');
    const records = openRecords({ backend: kind, framing: { kind: 'length', width: 4, maxMessage: 2 << 20 } });
    const group = records.group();
    records.on('connection', (peer) => {
      group.add(peer);
      if (group.size === peers) process.send?.({ ready: true });
    });
    port = (await records.listen(0)).port;
    const canReorder = records.backend !== 'js';
    sender = {
      send: (bytes, priority) => {
        const record = records.initRecord(bytes);
        records.sendRecord(record, group, canReorder ? priority : 0);
        records.delRecord(record);
        return record;
      },
      unsend: (sent) => {
        if (!canReorder) return false;
        records.unsendRecord(sent as RecordHandle, group);
        return true;
      },
    };
  }
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const play: Record<Row, () => Promise<void>> = {
    B1: async () => {
      sender.send(block(0x61), 0);
    },
    B2: async () => {
      for (let i = 0; i < 8; i++) sender.send(block(0x61), 0);
      for (let i = 0; i < 40; i++) {
        sender.send(vote(), 10);
        await sleep(5);
      }
    },
    B3: async () => {
      let previous: unknown = null;
      for (let i = 1; i <= 5; i++) {
        if (previous !== null) sender.unsend(previous);
        previous = sender.send(block(i), 0);
        if (i < 5) await sleep(100);
      }
    },
  };
  process.on('message', (m: { go?: boolean }) => {
    if (m.go) void play[row]();
  });
  process.send?.({ port });
}

/**
 * The peers: `peers` connections reading length-prefixed messages (B3: at 2 MB/s each). Says
 * when every peer has what its row waits for, with the figures it measured.
 */
async function peersRole(port: number, peers: number, row: Row): Promise<void> {
  let complete = 0;
  const voteLatencies: number[] = [];
  const bytesUntilLast: number[] = [];
  let torn = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: peers },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ port, host: '127.0.0.1' }, () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  const finish = () => {
    if (++complete < peers) return;
    const sorted = voteLatencies.sort((a, b) => a - b);
    process.send?.({
      done: true,
      voteP99Ms: sorted.length > 0 ? sorted[Math.floor(sorted.length * 0.99)] / 1e6 : 0,
      bytesPerPeer: bytesUntilLast.length > 0 ? median(bytesUntilLast) : 0,
      torn,
    });
  };
  for (const s of sockets) {
    let pending: Buffer = Buffer.alloc(0);
    let received = 0;
    let votes = 0;
    let started = 0;
    s.on('data', (d: Buffer) => {
      received += d.length;
      if (row === 'B1') {
        if (received === BLOCK_BYTES) finish();
        return;
      }
      pending = pending.length === 0 ? d : Buffer.concat([pending, d]);
      while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
        const n = pending.readUInt32BE(0);
        const body = pending.subarray(4, 4 + n);
        pending = pending.subarray(4 + n);
        if (n === 8) {
          voteLatencies.push(Number(process.hrtime.bigint() - body.readBigUInt64BE(0)));
          if (row === 'B2' && ++votes === 40) finish();
        } else if (body[0] !== body[n - 1]) {
          torn++;
        } else if (row === 'B3' && body[0] === 5) {
          bytesUntilLast.push(received - pending.length);
          finish();
        }
      }
      if (row === 'B3') {
        // Read at 2 MB/s: pause until the bytes read so far are due.
        if (started === 0) started = performance.now();
        const due = started + received / 2000;
        const wait = due - performance.now();
        if (wait > 1) {
          s.pause();
          setTimeout(() => s.resume(), wait);
        }
      }
    });
  }
  process.send?.({ connected: true });
}

/* ---- the orchestrator ---- */

function child(cpu: number, role: string[]): ChildProcess {
  return spawn('taskset', ['-c', String(cpu), process.execPath, '-r', 'tsx/cjs', __filename, ...role], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    cwd: ROOT,
  });
}

function next<T>(proc: ChildProcess, key: keyof T): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: T) => {
      if (m[key] !== undefined) {
        proc.off('message', on);
        resolve(m);
      }
    };
    proc.on('message', on);
    proc.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

interface Outcome {
  done: boolean;
  voteP99Ms: number;
  bytesPerPeer: number;
  torn: number;
}

async function once(row: Row, sender: SenderKind, peers: number, senderCpu: number): Promise<Run> {
  const s = child(senderCpu, ['--role', 'sender', sender, String(peers), row]);
  const { port } = await next<{ port: number }>(s, 'port');
  const ready = next<{ ready: boolean }>(s, 'ready');
  const p = child(1 - senderCpu, ['--role', 'peers', String(port), String(peers), row]);
  await next<{ connected: boolean }>(p, 'connected');
  await ready;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const baseline = usedMemory();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, usedMemory());
  }, 2);
  const done = next<Outcome>(p, 'done');
  const cpu0 = cpuSeconds(s.pid as number);
  const t0 = process.hrtime.bigint();
  s.send({ go: true });
  const outcome = await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(s.pid as number) - cpu0;
  clearInterval(sampler);
  peak = Math.max(peak, usedMemory());
  s.kill();
  p.kill();
  await new Promise((resolve) => setTimeout(resolve, 200));
  return {
    row,
    sender,
    peers,
    seconds,
    cpuSeconds: cpu,
    memoryBytes: peak - baseline,
    voteP99Ms: outcome.voteP99Ms,
    bytesPerPeer: outcome.bytesPerPeer,
    torn: outcome.torn,
  };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--role') {
    if (argv[1] === 'sender') await senderRole(argv[2] as SenderKind, Number(argv[3]), argv[4] as Row);
    else await peersRole(Number(argv[2]), Number(argv[3]), argv[4] as Row);
    return;
  }
  const option = (name: string, fallback: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : fallback;
  };
  const runs = Number(option('--runs', '3'));
  const rows = option('--rows', 'B1,B2,B3').split(',') as Row[];
  const b1Peers = option('--peers', '100,500').split(',').map(Number);
  const senders = option('--senders', 'plain,js,native').split(',') as SenderKind[];
  const senderCpu = Number(option('--sender-cpu', '1'));
  const plan: { row: Row; peers: number }[] = [];
  for (const row of rows) {
    if (row === 'B1') for (const peers of b1Peers) plan.push({ row, peers });
    else plan.push({ row, peers: row === 'B2' ? 50 : 20 });
  }
  const results: Run[] = [];
  for (const { row, peers } of plan) {
    for (let i = 0; i < runs; i++) {
      for (const sender of senders) {
        const run = await once(row, sender, peers, senderCpu);
        results.push(run);
        process.stderr.write(
          `${row} ${peers} peers ${sender}: ${(run.seconds * 1000).toFixed(1)} ms, sender CPU ${(run.cpuSeconds * 1000).toFixed(0)} ms, ` +
            `memory +${(run.memoryBytes / 1048576).toFixed(1)} MB, vote p99 ${run.voteP99Ms.toFixed(1)} ms, ` +
            `${(run.bytesPerPeer / 1048576).toFixed(2)} MB per peer, torn ${run.torn}\n`,
        );
      }
    }
  }
  const ratio = (x: number, y: number) => (y > 0 ? `${(x / y).toFixed(2)}×` : 'n/a');
  const lines = [
    '# Broadcast: the records library beside plain `net.Socket.write`',
    '',
    `${runs} runs per sender, alternating; medians, and ratios to plain sockets writing the same Buffer to every peer. ` +
      `Sender pinned to CPU ${senderCpu}, the peers' process to the other (bench/broadcast.ts says what each row does).`,
    '',
    '| row | peers | sender | figure | median | ratio to plain | goal |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const { row, peers } of plan) {
    const of = (sender: SenderKind) => results.filter((r) => r.row === row && r.peers === peers && r.sender === sender);
    const figures: [string, (r: Run) => number, string, string][] =
      row === 'B1'
        ? [
            ['time until the last peer has it, ms', (r) => r.seconds * 1000, '≤ 1.0×', '1'],
            ['sender CPU, ms', (r) => r.cpuSeconds * 1000, '≤ 0.5×', '0'],
            ['machine memory growth, MB', (r) => r.memoryBytes / 1048576, '≤ 0.1×', '1'],
          ]
        : row === 'B2'
          ? [['vote p99 latency, ms', (r) => r.voteP99Ms, '≤ 0.1×', '2']]
          : [
              ['bytes read per slow peer until the last block, MB', (r) => r.bytesPerPeer / 1048576, '≤ 0.2×', '2'],
              ['messages not whole (all peers, all runs)', (r) => r.torn, '0', '0'],
            ];
    for (const [label, value, goal, digits] of figures) {
      const plain = median(of('plain').map(value));
      for (const sender of senders) {
        const rs = of(sender);
        if (rs.length === 0) continue;
        const m = label.startsWith('messages not whole') ? rs.reduce((a, r) => a + value(r), 0) : median(rs.map(value));
        const vs = sender === 'plain' || label.startsWith('messages') ? '' : ratio(m, plain);
        lines.push(
          `| ${row} | ${peers} | ${sender} | ${label} | ${m.toFixed(Number(digits))} | ${vs} | ${sender === 'plain' ? '' : goal} |`,
        );
      }
    }
  }
  const out = path.join(ROOT, 'bench', 'results');
  fs.writeFileSync(path.join(out, 'broadcast.json'), `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(path.join(out, 'broadcast.md'), `${lines.join('\n')}\n`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
