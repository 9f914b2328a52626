/*
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
 *   npm run bench:broadcast [-- --runs N] [--peers 100,500] [--senders plain,js,native]
 *
 * Writes bench/results/broadcast.{json,md}.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const BLOCK_BYTES = 1 << 20;
const ROOT = path.resolve(__dirname, '..');

type SenderKind = 'plain' | 'js' | 'native';

interface Run {
  sender: SenderKind;
  peers: number;
  seconds: number;
  cpuSeconds: number;
  memoryBytes: number;
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

/** The sender: listens, waits for `peers` connections, then sends one block to all of them on "go". */
async function senderRole(kind: SenderKind, peers: number): Promise<void> {
  const block = Buffer.alloc(BLOCK_BYTES, 0x61);
  block.writeUInt32BE(BLOCK_BYTES - 4, 0);
  let send: () => void;
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
    send = () => {
      for (const s of sockets) s.write(block);
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
    send = () => {
      const record = records.initRecord(block);
      records.sendRecord(record, group);
      records.delRecord(record);
    };
  }
  process.on('message', (m: { go?: boolean }) => {
    if (m.go) send();
  });
  process.send?.({ port });
}

/** The peers: `peers` connections that read as fast as they can; says when all have the block. */
async function peersRole(port: number, peers: number): Promise<void> {
  let complete = 0;
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
  for (const s of sockets) {
    let received = 0;
    s.on('data', (d: Buffer) => {
      received += d.length;
      if (received === BLOCK_BYTES && ++complete === peers) process.send?.({ done: true });
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

async function once(sender: SenderKind, peers: number, senderCpu: number): Promise<Run> {
  const s = child(senderCpu, ['--role', 'sender', sender, String(peers)]);
  const { port } = await next<{ port: number }>(s, 'port');
  const ready = next<{ ready: boolean }>(s, 'ready');
  const p = child(1 - senderCpu, ['--role', 'peers', String(port), String(peers)]);
  await next<{ connected: boolean }>(p, 'connected');
  await ready;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const baseline = usedMemory();
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, usedMemory());
  }, 2);
  const done = next<{ done: boolean }>(p, 'done');
  const cpu0 = cpuSeconds(s.pid as number);
  const t0 = process.hrtime.bigint();
  s.send({ go: true });
  await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(s.pid as number) - cpu0;
  clearInterval(sampler);
  peak = Math.max(peak, usedMemory());
  s.kill();
  p.kill();
  await new Promise((resolve) => setTimeout(resolve, 200));
  return { sender, peers, seconds, cpuSeconds: cpu, memoryBytes: peak - baseline };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--role') {
    if (argv[1] === 'sender') await senderRole(argv[2] as SenderKind, Number(argv[3]));
    else await peersRole(Number(argv[2]), Number(argv[3]));
    return;
  }
  const option = (name: string, fallback: string) => {
    const at = argv.indexOf(name);
    return at >= 0 ? argv[at + 1] : fallback;
  };
  const runs = Number(option('--runs', '3'));
  const peerCounts = option('--peers', '100,500').split(',').map(Number);
  const senders = option('--senders', 'plain,js,native').split(',') as SenderKind[];
  const senderCpu = Number(option('--sender-cpu', '1'));
  const results: Run[] = [];
  for (const peers of peerCounts) {
    for (let i = 0; i < runs; i++) {
      for (const sender of senders) {
        const run = await once(sender, peers, senderCpu);
        results.push(run);
        process.stderr.write(
          `B1 ${peers} peers ${sender}: ${(run.seconds * 1000).toFixed(1)} ms, sender CPU ${(run.cpuSeconds * 1000).toFixed(0)} ms, memory +${(run.memoryBytes / 1048576).toFixed(1)} MB\n`,
        );
      }
    }
  }
  const lines = [
    '# B1: one 1 MB block to every peer on loopback',
    '',
    `${runs} runs per sender, alternating; medians, and the ratio to plain \`net.Socket.write\` of the same Buffer. Sender pinned to CPU ${senderCpu}, peers to the other.`,
    '',
    '| peers | sender | time until the last peer has it, ms | sender CPU, ms | machine memory growth, MB | ratios to plain: time / CPU / memory |',
    '|---|---|---|---|---|---|',
  ];
  for (const peers of peerCounts) {
    const of = (sender: SenderKind) => results.filter((r) => r.peers === peers && r.sender === sender);
    const plain = of('plain');
    for (const sender of senders) {
      const rs = of(sender);
      const t = median(rs.map((r) => r.seconds));
      const c = median(rs.map((r) => r.cpuSeconds));
      const m = median(rs.map((r) => r.memoryBytes));
      const ratio = (x: number, y: number) => (y > 0 ? `${(x / y).toFixed(2)}×` : 'n/a');
      const ratios =
        sender === 'plain' || plain.length === 0
          ? ''
          : `${ratio(t, median(plain.map((r) => r.seconds)))} / ${ratio(c, median(plain.map((r) => r.cpuSeconds)))} / ${ratio(m, median(plain.map((r) => r.memoryBytes)))}`;
      lines.push(
        `| ${peers} | ${sender} | ${(t * 1000).toFixed(1)} | ${(c * 1000).toFixed(0)} | ${(m / 1048576).toFixed(1)} | ${ratios} |`,
      );
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
