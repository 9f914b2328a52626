/*
 * npm run soak -- --minutes N: a long, moderate, mixed load on one recordcache server, to show
 * that its memory and descriptors level off rather than grow. Not a benchmark and not in
 * `npm test`. Every second the server's RSS and open descriptors are sampled into a CSV; at
 * the end a markdown summary states the plateau (medians of the first and last five minutes,
 * or fifths of a shorter run, and the maxima) and how many replies were wrong.
 *
 * The load, all from this process, paced rather than flat out:
 *   - text, meta and binary memcached clients storing, fetching and deleting values of 10 B
 *     to 200 KB, every fetched value checked against what was stored;
 *   - HTTP keep-alive clients fetching the same keys (`-o http_port`);
 *   - slow readers: multigets of large values read a few KB at a time;
 *   - clients that vanish mid-request: half a `set` value, half a binary header, half an
 *     HTTP head, then a reset or a close.
 *
 *   npm run soak -- [--minutes N] [--backend native|js] [--rate OPS_PER_S] [--out DIR]
 */

import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { freePort, killAllTracked, type RunningServer, recordcacheTarget, setNiceness, sleep, startServer } from './lib/servers';
import { processRssBytes } from './lib/procfs';

interface Options {
  minutes: number;
  backend: string;
  rate: number;
  out: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { minutes: 30, backend: 'native', rate: 400, out: path.resolve(__dirname, 'results/soak') };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => argv[++i] ?? '';
    if (arg === '--minutes') options.minutes = Number(value());
    else if (arg === '--backend') options.backend = value();
    else if (arg === '--rate') options.rate = Number(value());
    else if (arg === '--out') options.out = path.resolve(value());
    else throw new Error(`unknown option ${arg} (the comment at the top of bench/soak.ts lists them)`);
  }
  if (!(options.minutes > 0) || !(options.rate > 0)) throw new Error('--minutes and --rate must be positive');
  return options;
}

const KEYS = 2000;
const VALUE_SIZES = [10, 100, 1000, 4096, 20000, 40000, 200000];

/** The value stored under key i, version v: its bytes say which, so a fetch can be checked. */
function storedValue(i: number, version: number): Buffer {
  const size = VALUE_SIZES[i % VALUE_SIZES.length];
  const head = Buffer.from(`${i}:${version}:`);
  const value = Buffer.alloc(size, 0x61 + (i % 26));
  head.copy(value, 0, 0, Math.min(head.length, size));
  return value;
}

function keyOf(i: number): string {
  return `soak:${i}`;
}

/** What each key may hold now: any version stored since the last delete (writes race across clients). */
const versions = new Map<number, Set<number>>();
let nextVersion = 1;

function valueIsPlausible(i: number, value: Buffer): boolean {
  const known = versions.get(i);
  if (!known) return false;
  for (const version of known) if (storedValue(i, version).equals(value)) return true;
  return false;
}

/** A reply not complete this long after its request counts as a timeout, and its connection is dropped. */
const REPLY_TIMEOUT_MS = 10000;

const counts = { timeouts: 0, unclosed: 0, ops: 0, wrong: 0, errors: 0, vanished: 0, slowReads: 0, http: 0 };
const wrongExamples: string[] = [];

function wrong(what: string): void {
  counts.wrong++;
  if (wrongExamples.length < 10) wrongExamples.push(what);
}

/** A connection that reads replies in order: each request waits for its reply's bytes. */
class Conn {
  private socket: net.Socket;
  private pending: Buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  closed = false;

  constructor(port: number) {
    this.socket = net.connect({ port, host: '127.0.0.1' });
    this.socket.on('data', (data: Buffer) => {
      this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
      this.waiter?.();
    });
    const end = () => {
      this.closed = true;
      this.waiter?.();
    };
    this.socket.on('error', end);
    this.socket.on('close', end);
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** Waits until `complete` finds a whole reply at the front; returns and consumes it. */
  async read(complete: (b: Buffer) => number): Promise<Buffer> {
    for (;;) {
      const n = complete(this.pending);
      if (n > 0) {
        const reply = this.pending.subarray(0, n);
        this.pending = this.pending.subarray(n);
        return reply;
      }
      if (this.closed) throw new Error('connection closed');
      const timer = setTimeout(() => {
        counts.timeouts++;
        this.destroy();
      }, REPLY_TIMEOUT_MS);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
      clearTimeout(timer);
      this.waiter = null;
    }
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
    this.waiter?.();
  }
}

/**
 * Length of a whole text or meta reply at the front of b, or 0 while incomplete: VALUE blocks
 * up to the line that ends them, a VA line with its value, or one line.
 */
function textReplyLength(b: Buffer): number {
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) return 0;
    const line = b.toString('latin1', at, eol);
    if (line.startsWith('VA ')) {
      const end = eol + 2 + Number(line.split(' ')[1]) + 2;
      return end <= b.length ? end : 0;
    }
    if (!line.startsWith('VALUE ')) return eol + 2;
    at = eol + 2 + Number(line.split(' ')[3]) + 2;
    if (at > b.length) return 0;
  }
}

/** Values of a `get`/`mg` reply by key. */
function valuesIn(reply: Buffer): Map<string, Buffer> {
  const values = new Map<string, Buffer>();
  let at = 0;
  for (;;) {
    const eol = reply.indexOf('\r\n', at);
    if (eol < 0) return values;
    const parts = reply.toString('latin1', at, eol).split(' ');
    if (parts[0] !== 'VALUE') return values;
    const bytes = Number(parts[3]);
    values.set(parts[1], reply.subarray(eol + 2, eol + 2 + bytes));
    at = eol + 2 + bytes + 2;
  }
}

function randomKey(): number {
  return Math.floor(Math.random() * KEYS);
}

function stored(i: number, version: number): void {
  let known = versions.get(i);
  if (!known) versions.set(i, (known = new Set()));
  known.add(version);
  if (known.size > 8) known.delete(known.values().next().value as number);
}

async function textClient(conn: Conn): Promise<void> {
  const i = randomKey();
  const roll = Math.random();
  if (roll < 0.25) {
    const version = nextVersion++;
    const value = storedValue(i, version);
    stored(i, version);
    conn.write(Buffer.concat([Buffer.from(`set ${keyOf(i)} 0 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]));
    const line = (await conn.read(textReplyLength)).toString('latin1');
    if (line !== 'STORED\r\n' && line !== 'SERVER_ERROR out of memory storing object\r\n') wrong(`set: ${line.trim()}`);
  } else if (roll < 0.3) {
    conn.write(`delete ${keyOf(i)}\r\n`);
    const line = (await conn.read(textReplyLength)).toString('latin1');
    if (line !== 'DELETED\r\n' && line !== 'NOT_FOUND\r\n') wrong(`delete: ${line.trim()}`);
  } else {
    const keys = [i, randomKey(), randomKey()];
    conn.write(`get ${keys.map(keyOf).join(' ')}\r\n`);
    const reply = await conn.read(textReplyLength);
    for (const [key, value] of valuesIn(reply)) {
      const k = Number(key.slice('soak:'.length));
      if (!valueIsPlausible(k, value)) wrong(`get ${key}: ${value.length} bytes not stored`);
    }
  }
}

async function metaClient(conn: Conn): Promise<void> {
  const i = randomKey();
  if (Math.random() < 0.25) {
    const version = nextVersion++;
    const value = storedValue(i, version);
    stored(i, version);
    conn.write(Buffer.concat([Buffer.from(`ms ${keyOf(i)} ${value.length} T0\r\n`), value, Buffer.from('\r\n')]));
    const line = (await conn.read(textReplyLength)).toString('latin1');
    if (line !== 'HD\r\n' && !line.startsWith('SERVER_ERROR')) wrong(`ms: ${line.trim()}`);
  } else {
    conn.write(`mg ${keyOf(i)} v f\r\n`);
    const reply = await conn.read(textReplyLength);
    const eol = reply.indexOf('\r\n');
    const head = reply.toString('latin1', 0, eol);
    if (head === 'EN') return;
    if (!head.startsWith('VA ')) return wrong(`mg: ${head}`);
    const value = reply.subarray(eol + 2, reply.length - 2);
    if (!valueIsPlausible(i, value)) wrong(`mg ${keyOf(i)}: ${value.length} bytes not stored`);
  }
}

const BINARY_HEADER = 24;

function binaryRequest(opcode: number, key: string, extras: Buffer, value: Buffer): Buffer {
  const header = Buffer.alloc(BINARY_HEADER);
  header[0] = 0x80;
  header[1] = opcode;
  header.writeUInt16BE(key.length, 2);
  header[4] = extras.length;
  header.writeUInt32BE(extras.length + key.length + value.length, 8);
  return Buffer.concat([header, extras, Buffer.from(key, 'latin1'), value]);
}

function binaryReplyLength(b: Buffer): number {
  if (b.length < BINARY_HEADER) return 0;
  const total = BINARY_HEADER + b.readUInt32BE(8);
  return b.length >= total ? total : 0;
}

async function binaryClient(conn: Conn): Promise<void> {
  const i = randomKey();
  if (Math.random() < 0.25) {
    const version = nextVersion++;
    const value = storedValue(i, version);
    stored(i, version);
    conn.write(binaryRequest(0x01, keyOf(i), Buffer.alloc(8), value));
    const reply = await conn.read(binaryReplyLength);
    const status = reply.readUInt16BE(6);
    if (reply[0] !== 0x81 || (status !== 0 && status !== 0x82)) wrong(`binary set: magic ${reply[0]} status ${status}`);
  } else {
    conn.write(binaryRequest(0x00, keyOf(i), Buffer.alloc(0), Buffer.alloc(0)));
    const reply = await conn.read(binaryReplyLength);
    const status = reply.readUInt16BE(6);
    if (reply[0] !== 0x81) return wrong(`binary get: magic ${reply[0]}`);
    if (status === 1) return;
    if (status !== 0) return wrong(`binary get: status ${status}`);
    const value = reply.subarray(BINARY_HEADER + reply[4]);
    if (!valueIsPlausible(i, value)) wrong(`binary get ${keyOf(i)}: ${value.length} bytes not stored`);
  }
}

function httpClient(agent: http.Agent, httpPort: number): Promise<void> {
  const i = randomKey();
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port: httpPort, path: `/${keyOf(i)}`, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        counts.http++;
        if (res.statusCode === 200) {
          if (!valueIsPlausible(i, Buffer.concat(chunks))) wrong(`HTTP GET ${keyOf(i)}: not stored`);
        } else if (res.statusCode !== 404) wrong(`HTTP GET ${keyOf(i)}: ${res.statusCode}`);
        resolve();
      });
      res.on('error', () => resolve());
    });
    req.on('error', () => {
      counts.errors++;
      resolve();
    });
  });
}

/** A client asking for large values and reading them a few KB every 100 ms. */
async function slowReader(port: number, until: number): Promise<void> {
  while (Date.now() < until) {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('error', () => counts.errors++);
    const large = Array.from({ length: 20 }, () => Math.floor(Math.random() * Math.floor((KEYS - 6) / 7)) * 7 + 6); // 200 KB values
    socket.write(`get ${large.map(keyOf).join(' ')}\r\n`);
    socket.pause();
    let got = 0;
    const reading = setInterval(() => {
      let chunk: Buffer | null = socket.read(4096) as Buffer | null;
      if (chunk === null) chunk = socket.read() as Buffer | null;
      if (chunk) got += chunk.length;
    }, 100);
    await sleep(20000 + Math.random() * 10000);
    clearInterval(reading);
    counts.slowReads++;
    if (got === 0) counts.errors++;
    socket.destroy();
  }
}

/** Connects, sends part of a request, and goes away: reset or half-closed. */
async function vanishingClient(port: number, httpPort: number): Promise<void> {
  const which = Math.floor(Math.random() * 4);
  const target = which === 3 ? httpPort : port;
  const partial = [
    Buffer.concat([Buffer.from(`set ${keyOf(randomKey())}:gone 0 0 100000\r\n`), Buffer.alloc(50000, 0x78)]),
    binaryRequest(0x01, 'soak:gone', Buffer.alloc(8), Buffer.alloc(1000)).subarray(0, 30),
    Buffer.from(`get ${Array.from({ length: 100 }, (_, n) => keyOf(n)).join(' ')}`),
    Buffer.from('GET /soak:1 HTTP/1.1\r\nHost: soak\r\nX-Pad: '),
  ][which];
  await new Promise<void>((resolve) => {
    const socket = net.connect({ port: target, host: '127.0.0.1' });
    socket.resume(); // whatever the server answers is dropped; 'close' needs it read
    const stuck = setTimeout(() => {
      counts.unclosed++;
      socket.destroy();
    }, REPLY_TIMEOUT_MS);
    socket.on('close', () => clearTimeout(stuck));
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      socket.write(partial, () => {
        if (Math.random() < 0.5) socket.resetAndDestroy();
        else socket.end();
        counts.vanished++;
      });
    });
  });
}

interface Sample {
  second: number;
  rssBytes: number;
  fds: number;
  sockets: number;
  ops: number;
}

/** The process's open descriptors, and how many of them are sockets (the rest: records' memfds, pipes, epoll). */
function openDescriptors(pid: number): { fds: number; sockets: number } {
  let fds = 0;
  let sockets = 0;
  try {
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      fds++;
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
      } catch {
        // closed meanwhile
      }
    }
  } catch {
    return { fds: Number.NaN, sockets: Number.NaN };
  }
  return { fds, sockets };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function summary(options: Options, samples: Sample[], server: RunningServer): string {
  const window = Math.min(300, Math.max(1, Math.floor(samples.length / 5)));
  const first = samples.slice(0, window);
  const last = samples.slice(-window);
  const mb = (b: number) => (b / 1048576).toFixed(1);
  const label = window === 300 ? '5 minutes' : `${window} s`;
  const lines = [
    `# Soak: recordcache/${options.backend}, ${options.minutes} minutes`,
    '',
    `Command: \`nice -n 19 npm run soak -- --minutes ${options.minutes} --backend ${options.backend} --rate ${options.rate}\``,
    `(server: \`-m 64 -c 1024 -o http_port=…\`, pid ${server.pid}). ${samples.length} samples, one a second.`,
    '',
    `| | first ${label} (median) | last ${label} (median) | max |`,
    '| --- | --- | --- | --- |',
    `| RSS, MB | ${mb(median(first.map((s) => s.rssBytes)))} | ${mb(median(last.map((s) => s.rssBytes)))} | ${mb(Math.max(...samples.map((s) => s.rssBytes)))} |`,
    `| open descriptors | ${median(first.map((s) => s.fds))} | ${median(last.map((s) => s.fds))} | ${Math.max(...samples.map((s) => s.fds))} |`,
    `| of which sockets | ${median(first.map((s) => s.sockets))} | ${median(last.map((s) => s.sockets))} | ${Math.max(...samples.map((s) => s.sockets))} |`,
    '',
    'Descriptors other than sockets are mostly the memfds of records (one per value of 32 KiB and more), bounded by `-m`.',
    '',
    `Requests answered: ${counts.ops} memcached (text, meta, binary), ${counts.http} HTTP; ${counts.slowReads} slow readers, ${counts.vanished} clients that vanished mid-request.`,
    `Wrong replies: ${counts.wrong}; replies not complete within ${REPLY_TIMEOUT_MS / 1000} s: ${counts.timeouts}; vanishing clients the server had not closed on within ${REPLY_TIMEOUT_MS / 1000} s: ${counts.unclosed}${wrongExamples.length ? ` (${wrongExamples.join('; ')})` : ''}. Client-side errors: ${counts.errors}.`,
    `Server still running at the end: ${server.hasExited() ? 'no' : 'yes'}.`,
    '',
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  // The server runs at the niceness the soak is started with (`nice -n 19 npm run soak`), in its session.
  setNiceness(0);
  const httpPort = await freePort();
  const server = await startServer(recordcacheTarget(`${options.backend}+http_port=${httpPort}`), {
    cpus: null,
    memoryMb: 64,
    maxConns: 1024,
  });
  const until = Date.now() + options.minutes * 60000;
  fs.mkdirSync(options.out, { recursive: true });
  const csvPath = path.join(options.out, `soak-${options.backend}.csv`);
  const csv = fs.createWriteStream(csvPath);
  csv.write('second,rss_bytes,open_fds,open_sockets,requests\n');
  const samples: Sample[] = [];
  const started = Date.now();
  const sampler = setInterval(() => {
    const sample = {
      second: Math.round((Date.now() - started) / 1000),
      rssBytes: processRssBytes(server.pid),
      ...openDescriptors(server.pid),
      ops: counts.ops + counts.http,
    };
    samples.push(sample);
    csv.write(`${sample.second},${sample.rssBytes},${sample.fds},${sample.sockets},${sample.ops}\n`);
    if (sample.second % 60 === 0) {
      console.log(
        `${sample.second / 60} min: RSS ${(sample.rssBytes / 1048576).toFixed(1)} MB, ${sample.fds} fds (${sample.sockets} sockets), ${JSON.stringify(counts)}`,
      );
    }
  }, 1000);

  // Each kind of client runs a paced loop: its share of --rate, one request at a time per connection.
  const loop = async (perSecond: number, step: () => Promise<void>) => {
    const gap = 1000 / perSecond;
    let next = Date.now();
    while (Date.now() < until && !server.hasExited()) {
      try {
        await step();
      } catch {
        counts.errors++;
      }
      next += gap;
      const wait = next - Date.now();
      if (wait > 0) await sleep(wait);
      else next = Date.now();
    }
  };
  const connLoop = (perSecond: number, client: (c: Conn) => Promise<void>) => {
    let conn = new Conn(server.port);
    return loop(perSecond, async () => {
      if (conn.closed || Math.random() < 0.001) {
        conn.destroy();
        conn = new Conn(server.port);
      }
      await client(conn);
      counts.ops++;
    }).finally(() => conn.destroy());
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const share = options.rate / 10;
  const clients = [
    ...Array.from({ length: 3 }, () => connLoop(share, textClient)),
    ...Array.from({ length: 2 }, () => connLoop(share, metaClient)),
    ...Array.from({ length: 2 }, () => connLoop(share, binaryClient)),
    ...Array.from({ length: 3 }, () => loop(share, () => httpClient(agent, httpPort))),
    ...Array.from({ length: 4 }, () => slowReader(server.port, until)),
    loop(5, () => vanishingClient(server.port, httpPort)),
  ];
  await Promise.all(clients);
  clearInterval(sampler);
  agent.destroy();
  await new Promise<void>((resolve) => csv.end(resolve));
  const text = summary(options, samples, server);
  fs.writeFileSync(path.join(options.out, `soak-${options.backend}.md`), text);
  console.log(text);
  await server.stop();
}

process.on('SIGINT', () => {
  killAllTracked();
  process.exit(130);
});

main().catch((err) => {
  console.error(err);
  killAllTracked();
  process.exit(1);
});
