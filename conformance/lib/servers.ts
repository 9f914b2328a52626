// Starts and stops the servers a conformance case compares: the reference
// (Debian's memcached) and the candidate (recordcache, or a second memcached
// when RC_TARGET=memcached, which checks the harness itself). Each runs on a
// free loopback port with the same command-line flags. No process outlives
// the test run: every child is tracked and killed at exit.
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import path from 'node:path';
import fs from 'node:fs';
import { mayBeMissing, reportLeftOut } from './required';

export const MEMCACHED = '/usr/bin/memcached';
export const RECORDCACHE_CLI = path.resolve(__dirname, '../../dist/server/cli.js');

export type TargetKind = 'memcached' | 'recordcache';

export function candidateKind(): TargetKind {
  const target = process.env.RC_TARGET ?? 'recordcache';
  if (target !== 'memcached' && target !== 'recordcache') {
    throw new Error(`RC_TARGET must be 'recordcache' or 'memcached', not '${target}'`);
  }
  return target;
}

const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ServerProcess {
  kind: TargetKind;
  port: number;
  /** The -U port given to this process (options.udp), else 0. */
  udpPort: number;
  flags: string[];
  child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
  /** Recent stdout and stderr, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address() as net.AddressInfo;
      probe.close(() => resolve(address.port));
    });
  });
}

/** A UDP port free on loopback at the time of asking. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = dgram.createSocket('udp4');
    probe.once('error', reject);
    probe.bind(0, '127.0.0.1', () => {
      const port = probe.address().port;
      probe.close(() => resolve(port));
    });
  });
}

export interface PairOptions {
  /**
   * Flags given to memcached processes only. They may change nothing a
   * client sees, only make memcached repeatable (see usePair callers).
   */
  memcachedOnly?: string[];
  /** Give each process a UDP port of its own (-U), found free on loopback. */
  udp?: boolean;
}

/**
 * Keeps memcached's background threads from holding item references, which
 * decide whether incr/decr rewrite a value in place (padded with spaces) or
 * replace it (notes/memcached.md §11a). They also change what stats show, so
 * only pairs that compare no stats use them.
 */
export const NO_BACKGROUND_ITEM_REFERENCES = ['-o', 'no_lru_maintainer,no_lru_crawler'];

function commandFor(kind: TargetKind, port: number, flags: string[], memcachedOnly: string[], udpPort = 0): [string, string[]] {
  const common = ['-p', String(port), '-U', String(udpPort), '-l', '127.0.0.1'];
  if (kind === 'memcached') {
    // One worker thread keeps memcached's item references, and so its quirks, repeatable.
    const threads = flags.includes('-t') ? [] : ['-t', '1'];
    return [MEMCACHED, [...common, ...threads, '-u', 'root', ...memcachedOnly, ...flags]];
  }
  if (!fs.existsSync(RECORDCACHE_CLI)) {
    throw new Error(`${RECORDCACHE_CLI} is missing: build with \`npx tsc -p tsconfig.json\``);
  }
  // RC_RECORDS picks recordcache's records backend (js, native, ...), so the suite runs against each.
  const records = process.env.RC_RECORDS ? [`--records=${process.env.RC_RECORDS}`] : [];
  return [process.execPath, [RECORDCACHE_CLI, ...common, ...records, ...flags]];
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** How long a server may take to accept connections, or to say which backend it runs. */
const START_TIMEOUT_MS = 60000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function startOnce(
  kind: TargetKind,
  flags: string[],
  memcachedOnly: string[],
  port: number,
  udpPort: number,
): Promise<ServerProcess> {
  const [program, args] = commandFor(kind, port, flags, memcachedOnly, udpPort);
  const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (data: Buffer): void => {
    output = (output + data.toString('utf8')).slice(-8192);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let exitedFlag = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      running.delete(child);
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      exitedFlag = true;
      running.delete(child);
      output += String(err);
      resolve('spawn-error');
    });
  });
  const server: ServerProcess = {
    kind,
    port,
    udpPort,
    flags,
    child,
    exited,
    hasExited: () => exitedFlag,
    output: () => output,
    stop: async () => {
      if (exitedFlag) return;
      // memcached keeps nothing worth a clean exit, and takes a second to
      // leave on SIGTERM; recordcache is asked politely.
      child.kill(kind === 'memcached' ? 'SIGKILL' : 'SIGTERM');
      const stopped = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
      if (!stopped) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
  // A bound on a hang, not a time to meet: the server is used the moment it accepts. A
  // TCG guest (kmod/test.sh) takes seconds to start Node on a loaded host.
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (exitedFlag) return server;
    if (await canConnect(port)) return server;
    await sleep(20);
  }
  await server.stop();
  throw new Error(`${kind} on port ${port} did not accept connections within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
}

/** Starts one server on a free port; retries on a port taken in the meantime. */
export async function startServer(kind: TargetKind, flags: string[], memcachedOnly: string[] = [], udp = false): Promise<ServerProcess> {
  for (let attempt = 0; ; attempt++) {
    const server = await startOnce(kind, flags, memcachedOnly, await freePort(), udp ? await freeUdpPort() : 0);
    if (!server.hasExited()) return server;
    const code = await server.exited;
    if (attempt >= 3 || !/address already in use|bind/i.test(server.output())) {
      throw new Error(`${kind} ${flags.join(' ')} exited with ${code}:\n${server.output()}`);
    }
  }
}

export interface StartFailure {
  /** The exit code, or 'still running' if the process accepted the flags. */
  exit: number | string;
  stderr: string;
}

/**
 * Starts a server with flags that should make it refuse to start, and
 * reports how it exited ('still running' if it accepted the flags).
 * recordcache is running once it says which records backend it runs (the last
 * thing it prints at start-up, after listening and dropping privileges), so it
 * is waited for, up to START_TIMEOUT_MS, rather than given a fixed time: Node
 * takes seconds to start in a TCG guest. memcached, which prints nothing when it
 * starts, is taken as running when it has not exited within `waitMs`: long by
 * default, as a refusal ends the wait at once, and a guest whose host is busy can
 * take seconds to run memcached at all; a caller expecting it to run passes less.
 */
export async function startExpectingFailure(kind: TargetKind, flags: string[], waitMs = 20000): Promise<StartFailure> {
  const [program, args] = commandFor(kind, await freePort(), flags, []);
  const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(child);
  let stderr = '';
  let onStderr = (): void => undefined;
  child.stderr!.on('data', (data: Buffer) => {
    stderr = (stderr + data.toString('utf8')).slice(0, 4096);
    onStderr();
  });
  const exit = await new Promise<number | string>((resolve) => {
    const stillRunning = () => {
      child.kill('SIGKILL');
      resolve('still running');
    };
    const timer = setTimeout(stillRunning, kind === 'recordcache' ? START_TIMEOUT_MS : waitMs);
    if (kind === 'recordcache') {
      onStderr = () => {
        if (/^recordcache: records backend /m.test(stderr)) {
          clearTimeout(timer);
          stillRunning();
        }
      };
    }
    // 'close' comes after the last of stderr, unlike 'exit'.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? 'unknown');
    });
  });
  if (exit === 'still running') await new Promise((resolve) => child.once('close', resolve));
  running.delete(child);
  return { exit, stderr };
}

export interface ServerPair {
  reference: ServerProcess;
  candidate: ServerProcess;
}

/** Where the records kernel module is loaded (as server/records/kmod.ts RECORDS_DEVICE). */
const RECORDS_DEVICE = '/dev/records';

/**
 * The records backends recordcache may run on with these flags in this run: the one
 * --records= or RC_RECORDS names; for auto, kmod where /dev/records exists, else native
 * (js too only when RECORDCACHE_ALLOW_MISSING=native lets the run go without the addon).
 */
export function expectedBackends(flags: string[]): string[] {
  const flag = [...flags].reverse().find((f) => f.startsWith('--records='));
  const asked = flag?.slice('--records='.length) ?? (process.env.RC_RECORDS || 'auto');
  if (asked !== 'auto') return [asked];
  if (process.platform !== 'linux') return ['js'];
  if (fs.existsSync(RECORDS_DEVICE)) return ['kmod'];
  return mayBeMissing('native') ? ['native', 'js'] : ['native'];
}

let reportedJsFallback = false;

/**
 * The backend a recordcache process says it runs ("recordcache: records backend X" on
 * stderr, printed once it listens) must be one expectedBackends allows: an explicit
 * --records= or --records=auto that fell back to js is a failure, not a quieter run.
 */
export async function assertBackend(server: ServerProcess): Promise<void> {
  if (server.kind !== 'recordcache') return;
  const pattern = /^recordcache: records backend (\S+)$/m;
  const deadline = Date.now() + START_TIMEOUT_MS;
  let match = pattern.exec(server.output());
  while (match === null && !server.hasExited() && Date.now() < deadline) {
    await sleep(20);
    match = pattern.exec(server.output());
  }
  const expected = expectedBackends(server.flags);
  if (match === null) {
    throw new Error(
      `recordcache ${server.flags.join(' ')} never said which records backend it runs (expected ${expected.join(' or ')}):\n${server.output()}`,
    );
  }
  const running = match[1];
  if (!expected.includes(running)) {
    throw new Error(
      `recordcache runs the '${running}' records backend, not ${expected.map((name) => `'${name}'`).join(' or ')} ` +
        `(RC_RECORDS=${process.env.RC_RECORDS ?? ''}, flags ${server.flags.join(' ')}):\n${server.output()}`,
    );
  }
  if (running === 'js' && expected.length > 1 && !reportedJsFallback) {
    reportedJsFallback = true;
    reportLeftOut('native', 'conformance cases with --records=auto', 'served by the js backend, not native');
  }
}

export async function startPair(flags: string[] = [], options: PairOptions = {}): Promise<ServerPair> {
  const memcachedOnly = options.memcachedOnly ?? [];
  // CONFORMANCE_CANDIDATE_FLAGS gives the candidate extra flags, e.g. to check
  // that the suite notices a server that behaves differently.
  const candidateExtra = (process.env.CONFORMANCE_CANDIDATE_FLAGS ?? '').split(' ').filter(Boolean);
  const started = await Promise.allSettled([
    startServer('memcached', flags, memcachedOnly, options.udp),
    startServer(candidateKind(), [...flags, ...candidateExtra], memcachedOnly, options.udp),
  ]);
  const [reference, candidate] = started;
  if (reference.status === 'fulfilled' && candidate.status === 'fulfilled') {
    try {
      await assertBackend(candidate.value);
    } catch (err) {
      await Promise.all([reference.value.stop(), candidate.value.stop()]);
      throw err;
    }
    return { reference: reference.value, candidate: candidate.value };
  }
  // Leave nothing running when only one of the two came up.
  for (const result of started) if (result.status === 'fulfilled') await result.value.stop();
  const failure = started.find((result) => result.status === 'rejected') as PromiseRejectedResult;
  throw failure.reason;
}

export async function stopPair(pair: ServerPair | undefined): Promise<void> {
  if (!pair) return;
  await Promise.all([pair.reference.stop(), pair.candidate.stop()]);
}

/**
 * Registers mocha hooks that start a pair before the enclosing suite and stop
 * it after; the returned function gives the running pair.
 */
export function usePair(flags: string[] = [], options: PairOptions = {}): () => ServerPair {
  let pair: ServerPair | undefined;
  before(async function () {
    this.timeout(2 * START_TIMEOUT_MS + 30000);
    pair = await startPair(flags, options);
  });
  after(async function () {
    this.timeout(30000);
    await stopPair(pair);
    pair = undefined;
  });
  return () => {
    if (!pair) throw new Error('server pair is not running');
    return pair;
  };
}
