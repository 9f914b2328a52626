/*
 * Resident memory of the server process, two ways.
 *
 * Fill: each server starts with -m 64, takes 300 values of 400 KB (120 MB offered, so it
 * evicts), then every key is read twice. The figure is the growth of the server's resident
 * set from just after start to one second after the reads, so the memory a value costs
 * (item, record, buffers, what the runtime keeps) is all in it.
 *
 * Fan-out: 500 connections are open and idle; then one 200 KB value is stored and each
 * connection asks for it once and does not read. The figures are the growth from storing
 * the value and then from serving it, in copies of the value: a server that holds the value
 * once and hands the same bytes to every socket grows by about one copy in all, and by
 * little more than its per-connection bookkeeping while serving.
 *
 * Runs alternate between the servers; the report gives each run, the medians and
 * recordcache's ratio to memcached.
 *
 *   npm run bench:memory [-- --runs N] [--backends native,js] [--memcached /path/to/memcached]
 *
 * Writes bench/results/memory-fill.{json,md}.
 */

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { processRssBytes } from './lib/procfs';
import { killAllTracked, memcachedTarget, otherMemcachedTarget, recordcacheTarget, sleep, startServer, type Target } from './lib/servers';

const MEMORY_MB = 64;
const VALUES = 300;
const VALUE_BYTES = 400_000;
const READS = 2;
const FANOUT_CONNECTIONS = 500;
const FANOUT_VALUE_BYTES = 200_000;

interface Options {
  runs: number;
  backends: string[];
  memcached: string | null;
}

function parseArgs(argv: string[]): Options {
  const options: Options = { runs: 3, backends: ['native', 'js'], memcached: null };
  for (let i = 0; i < argv.length; i++) {
    const next = () => {
      const value = argv[++i];
      if (value === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return value;
    };
    switch (argv[i]) {
      case '--runs':
        options.runs = Number(next());
        break;
      case '--backends':
        options.backends = next().split(',');
        break;
      case '--memcached':
        options.memcached = next();
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return options;
}

/** A client that sends one request at a time and reads its whole reply. */
class Client {
  private buffered: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
      this.waiter?.();
    });
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new Client(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends `request` and waits until the buffered reply ends with `terminator`. */
  async call(request: Buffer, terminator: string): Promise<Buffer> {
    this.socket.write(request);
    const end = Buffer.from(terminator);
    while (!this.endsWith(end)) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      this.waiter = null;
    }
    const reply = this.buffered;
    this.buffered = Buffer.alloc(0);
    return reply;
  }

  private endsWith(end: Buffer): boolean {
    const b = this.buffered;
    return b.length >= end.length && b.subarray(b.length - end.length).equals(end);
  }

  close(): void {
    this.socket.destroy();
  }
}

async function measure(target: Target): Promise<number> {
  const server = await startServer(target, { cpus: null, memoryMb: MEMORY_MB, maxConns: 1024 });
  try {
    await sleep(1000);
    const before = processRssBytes(server.pid);
    const client = await Client.connect(server.port);
    const value = Buffer.alloc(VALUE_BYTES, 'x');
    for (let i = 0; i < VALUES; i++) {
      const head = Buffer.from(`set fill:${i} 0 0 ${VALUE_BYTES}\r\n`);
      const reply = await client.call(Buffer.concat([head, value, Buffer.from('\r\n')]), '\r\n');
      if (reply.toString() !== 'STORED\r\n') throw new Error(`${target.label}: set fill:${i} answered ${reply.toString()}`);
    }
    for (let round = 0; round < READS; round++) {
      for (let i = 0; i < VALUES; i++) await client.call(Buffer.from(`get fill:${i}\r\n`), 'END\r\n');
    }
    client.close();
    await sleep(1000);
    return processRssBytes(server.pid) - before;
  } finally {
    await server.stop();
  }
}

/** Resident growth from storing the value, and then from serving it to every connection. */
async function measureFanout(target: Target): Promise<[number, number]> {
  const server = await startServer(target, { cpus: null, memoryMb: MEMORY_MB, maxConns: 2048 });
  const readers: net.Socket[] = [];
  try {
    for (let i = 0; i < FANOUT_CONNECTIONS; i++) {
      readers.push(
        await new Promise<net.Socket>((resolve, reject) => {
          const socket = net.connect(server.port, '127.0.0.1', () => resolve(socket));
          socket.once('error', reject);
        }),
      );
    }
    for (const socket of readers) socket.pause();
    const writer = await Client.connect(server.port);
    await writer.call(Buffer.from('version\r\n'), '\r\n');
    await sleep(1000);
    const before = processRssBytes(server.pid);
    const head = Buffer.from(`set hot 0 0 ${FANOUT_VALUE_BYTES}\r\n`);
    const reply = await writer.call(Buffer.concat([head, Buffer.alloc(FANOUT_VALUE_BYTES, 'h'), Buffer.from('\r\n')]), '\r\n');
    if (reply.toString() !== 'STORED\r\n') throw new Error(`${target.label}: set hot answered ${reply.toString()}`);
    await sleep(1000);
    const stored = processRssBytes(server.pid);
    for (const socket of readers) socket.write('get hot\r\n');
    await sleep(2000);
    const served = processRssBytes(server.pid);
    writer.close();
    return [stored - before, served - stored];
  } finally {
    for (const socket of readers) socket.destroy();
    await server.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const targets: Target[] = [memcachedTarget()];
  if (options.memcached !== null) targets.push(otherMemcachedTarget(options.memcached));
  for (const backend of options.backends) targets.push(recordcacheTarget(backend));
  const growth = new Map<string, number[]>(targets.map((t) => [t.label, []]));
  const fanout = new Map<string, number[]>(targets.map((t) => [t.label, []]));
  const fanoutServed = new Map<string, number[]>(targets.map((t) => [t.label, []]));
  for (let run = 0; run < options.runs; run++) {
    for (const target of targets) {
      const bytes = await measure(target);
      growth.get(target.label)!.push(bytes);
      console.log(`run ${run + 1} ${target.label}: resident memory grew ${mb(bytes)} MB`);
      const [stored, servedGrowth] = await measureFanout(target);
      fanout.get(target.label)!.push(stored + servedGrowth);
      fanoutServed.get(target.label)!.push(servedGrowth);
      console.log(
        `run ${run + 1} ${target.label}: storing and fanning out grew it ${((stored + servedGrowth) / FANOUT_VALUE_BYTES).toFixed(2)} copies of the value, serving alone ${(servedGrowth / FANOUT_VALUE_BYTES).toFixed(2)}`,
      );
    }
  }
  const copies = (bytes: number) => Number((bytes / FANOUT_VALUE_BYTES).toFixed(2));
  const fanoutRows = targets.map((t) => {
    const runs = fanout.get(t.label)!;
    return {
      target: t.label,
      runs_copies: runs.map(copies),
      median_copies: copies(median(runs)),
      median_kb: Math.round(median(runs) / 1024),
      served_runs_copies: fanoutServed.get(t.label)!.map(copies),
      served_median_copies: copies(median(fanoutServed.get(t.label)!)),
    };
  });
  const reference = median(growth.get('memcached')!);
  const rows = targets.map((t) => {
    const runs = growth.get(t.label)!;
    return {
      target: t.label,
      runs_mb: runs.map((b) => Number(mb(b))),
      median_mb: Number(mb(median(runs))),
      ratio: Number((median(runs) / reference).toFixed(2)),
    };
  });
  const out = path.resolve(__dirname, 'results');
  fs.mkdirSync(out, { recursive: true });
  const generated = new Date().toISOString();
  fs.writeFileSync(
    path.join(out, 'memory-fill.json'),
    `${JSON.stringify(
      {
        generated,
        memoryMb: MEMORY_MB,
        values: VALUES,
        valueBytes: VALUE_BYTES,
        reads: READS,
        rows,
        fanout: { connections: FANOUT_CONNECTIONS, valueBytes: FANOUT_VALUE_BYTES, rows: fanoutRows },
      },
      null,
      2,
    )}\n`,
  );
  const table = [
    `Resident memory growth, -m ${MEMORY_MB}, ${VALUES} values of ${VALUE_BYTES.toLocaleString('en')} bytes, each read ${READS} times (${generated}, ${options.runs} runs alternated)`,
    '',
    '| server | runs (MB) | median (MB) | × memcached |',
    '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.target} | ${r.runs_mb.join(', ')} | ${r.median_mb} | ${r.ratio.toFixed(2)}× |`),
    '',
    `Resident memory growth when ${FANOUT_CONNECTIONS} idle connections each GET one ${FANOUT_VALUE_BYTES.toLocaleString('en')}-byte value and do not read, in copies of the value (one copy = ${Math.round(FANOUT_VALUE_BYTES / 1024)} KiB)`,
    '',
    '| server | store + serve, runs (copies) | median (copies) | median (KiB) | serving alone, runs (copies) | median (copies) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...fanoutRows.map(
      (r) =>
        `| ${r.target} | ${r.runs_copies.join(', ')} | ${r.median_copies} | ${r.median_kb} | ${r.served_runs_copies.join(', ')} | ${r.served_median_copies} |`,
    ),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(out, 'memory-fill.md'), table);
  console.log(`\n${table}`);
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(killAllTracked);
