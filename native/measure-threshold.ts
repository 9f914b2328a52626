/*
 * Measures where memfd records (sendfile, shared pages) start to pay over heap records
 * (writev, a copy per socket): the figures behind kMemfdRecordThreshold in src/record.h.
 *
 *   npx tsx native/measure-threshold.ts [connections] [server cpu] [client cpu]
 *
 * For each value size it runs the native engine in this process twice, once with every
 * record in a memfd and once with every record on the heap, and sends the value to every
 * connection of a reader process round after round. It reports the rate values arrive at,
 * the engine's CPU time per GB, and the machine's used memory per connection while one
 * copy of the value sits unread in every socket.
 */

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { NativeRecordsEngine, DEFAULT_NATIVE_OPTIONS } from '../server/records/native';
import type { RecordConnection } from '../server/records/types';

const CONNECTIONS = Number(process.argv[2] ?? 200);
const SERVER_CPU = process.argv[3] ?? '1';
const CLIENT_CPU = process.argv[4] ?? '0';
const SIZES = (process.env.SIZES ?? "4096,8192,16384,32768,65536,131072,262144,1048576").split(",").map(Number);
const BYTES_PER_RUN = 400 * 1024 * 1024;

/** The reader process: connects, reads everything, reports when told the total to expect. */
const READER = `
const net = require('net');
const [port, count] = process.argv.slice(1).map(Number);
let total = 0, target = Infinity, paused = false;
const sockets = [];
for (let i = 0; i < count; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.on('data', (d) => { total += d.length; if (total >= target) { process.stdout.write('done\\n'); target = Infinity; } });
  sockets.push(s);
}
process.stdin.on('data', (line) => {
  for (const cmd of line.toString().trim().split('\\n')) {
    if (cmd === 'pause') { for (const s of sockets) s.pause(); paused = true; process.stdout.write('paused\\n'); }
    else if (cmd === 'resume') { for (const s of sockets) s.resume(); paused = false; }
    else if (cmd.startsWith('expect ')) { target = total + Number(cmd.slice(7)); if (total >= target) { process.stdout.write('done\\n'); target = Infinity; } }
    else if (cmd === 'exit') process.exit(0);
  }
});
`;

function usedMemoryKb(): number {
  const info = fs.readFileSync('/proc/meminfo', 'utf8');
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? 0);
  return field('MemTotal') - field('MemAvailable');
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

interface Result {
  valuesPerSecond: number;
  cpuSecondsPerGb: number;
  usedKbPerConnection: number;
}

async function measure(size: number, memfd: boolean): Promise<Result> {
  const engine = new NativeRecordsEngine({ ...DEFAULT_NATIVE_OPTIONS, memfdThreshold: memfd ? 0 : Number.MAX_SAFE_INTEGER, outLimitHard: 1 << 30 });
  const conns: RecordConnection[] = [];
  const port = await freePort();
  await engine.listen({ tcp: [{ host: '127.0.0.1', port }], unix: null, backlog: 4096 }, {
    onOpen: (conn) => {
      conns.push(conn);
      return null;
    },
    framerFor: () => () => ({ status: 2, length: 0, swallow: 0, needed: 0 }),
    onRequests: (_conn, batch) => batch.count,
    onClose: () => undefined,
    onBytesRead: () => undefined,
    onBytesWritten: () => undefined,
  });
  const reader = spawn('taskset', ['-c', CLIENT_CPU, process.execPath, '-e', READER, String(port), String(CONNECTIONS)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let lines: string[] = [];
  let wake: (() => void) | null = null;
  reader.stdout.on('data', (d: Buffer) => {
    lines.push(...d.toString().trim().split('\n'));
    wake?.();
  });
  const waitLine = async (text: string) => {
    while (!lines.includes(text)) await new Promise<void>((resolve) => (wake = resolve));
    lines = lines.filter((l) => l !== text);
  };
  while (conns.length < CONNECTIONS) await new Promise((resolve) => setTimeout(resolve, 10));
  const value = Buffer.alloc(size, 0x61);

  // Memory: one unread copy per socket.
  reader.stdin.write('pause\n');
  await waitLine('paused');
  await new Promise((resolve) => setTimeout(resolve, 200));
  const before = usedMemoryKb();
  const held = engine.initRecord(value);
  engine.sendRecord([held], conns);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const usedKbPerConnection = (usedMemoryKb() - before) / CONNECTIONS;
  reader.stdin.write(`expect ${size * CONNECTIONS}\n`);
  reader.stdin.write('resume\n');
  await waitLine('done');
  engine.delRecord(held);

  // Rate: rounds of one value to every connection, a fresh record each round.
  const rounds = Math.max(3, Math.floor(BYTES_PER_RUN / (size * CONNECTIONS)));
  reader.stdin.write(`expect ${size * CONNECTIONS * rounds}\n`);
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let round = 0; round < rounds; round++) {
    const record = engine.initRecord(value);
    engine.sendRecord([Buffer.from(`VALUE k 0 ${size}\r\n`), record, Buffer.from('\r\nEND\r\n')], conns);
    engine.delRecord(record);
    // Let the I/O thread write before queueing the next round, as a server does between batches.
    await new Promise((resolve) => setImmediate(resolve));
  }
  await waitLine('done');
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  reader.stdin.write('exit\n');
  await new Promise((resolve) => reader.once('exit', resolve));
  await engine.stopListening();
  engine.close();
  const gb = (size * CONNECTIONS * rounds) / 1e9;
  return {
    valuesPerSecond: (CONNECTIONS * rounds) / seconds,
    cpuSecondsPerGb: (cpu.user + cpu.system) / 1e6 / gb,
    usedKbPerConnection,
  };
}

async function main(): Promise<void> {
  execFileSync('taskset', ['-cp', SERVER_CPU, String(process.pid)]);
  console.log(`${CONNECTIONS} connections; engine on CPU ${SERVER_CPU}, readers on CPU ${CLIENT_CPU}`);
  console.log('size\theap values/s\tmemfd values/s\tmemfd/heap\theap CPU s/GB\tmemfd CPU s/GB\theap KB/conn\tmemfd KB/conn');
  for (const size of SIZES) {
    const heap = await measure(size, false);
    const memfd = await measure(size, true);
    console.log(
      [
        size,
        heap.valuesPerSecond.toFixed(0),
        memfd.valuesPerSecond.toFixed(0),
        (memfd.valuesPerSecond / heap.valuesPerSecond).toFixed(2),
        heap.cpuSecondsPerGb.toFixed(2),
        memfd.cpuSecondsPerGb.toFixed(2),
        heap.usedKbPerConnection.toFixed(1),
        memfd.usedKbPerConnection.toFixed(1),
      ].join('\t'),
    );
  }
}

void main();
