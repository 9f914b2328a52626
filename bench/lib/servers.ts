/*
 * The servers under test, started the same way: on a free loopback port, pinned to the
 * server CPU with taskset, with a file-descriptor limit high enough for W8's idle
 * connections. Every process started here is killed at exit, whatever happens.
 */

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import path from 'node:path';
import fs from 'node:fs';

export const MEMCACHED = '/usr/bin/memcached';
export const RECORDCACHE_CLI = path.resolve(__dirname, '../../dist/server/cli.js');

/** One server to measure: real memcached, or recordcache with one records backend. */
export interface Target {
  kind: 'memcached' | 'recordcache';
  /** The records backend asked for (recordcache only). */
  backend?: string;
  /** -o suboptions given to recordcache with it, e.g. "records_min_size=4096" (recordcache only). */
  suboptions?: string;
  /** A short name for reports: `memcached`, `recordcache/js`. */
  label: string;
  /** Another memcached binary than Debian's (memcached only), e.g. one built from source. */
  binary?: string;
}

export function memcachedTarget(): Target {
  return { kind: 'memcached', label: 'memcached' };
}

/** A memcached built elsewhere, compared with Debian's like a recordcache target: `memcached-1.6.45`. */
export function otherMemcachedTarget(binary: string): Target {
  const version = execFileSync(binary, ['-V'], { encoding: 'utf8' }).trim().split(/\s+/).pop() ?? 'unknown';
  return { kind: 'memcached', label: `memcached-${version}`, binary };
}

/** "native", or "native+records_min_size=4096,records_min_hits=2": a backend and -o suboptions for it. */
export function recordcacheTarget(spec: string): Target {
  const plus = spec.indexOf('+');
  const backend = plus < 0 ? spec : spec.slice(0, plus);
  const suboptions = plus < 0 ? undefined : spec.slice(plus + 1);
  return { kind: 'recordcache', backend, suboptions, label: `recordcache/${spec}` };
}

export interface ServerOptions {
  /** CPU list for taskset, e.g. "1"; null runs unpinned. */
  cpus: string | null;
  /** Memory limit (-m, megabytes); large enough that no workload evicts. */
  memoryMb: number;
  /** Connection limit (-c). */
  maxConns: number;
  /** -t (default 1). */
  threads?: number;
  extraFlags?: string[];
  /** Serve TLS (-Z) with this certificate and key. */
  tls?: TlsFiles;
}

/** A server certificate and its key (PEM files), see tls.ts. */
export interface TlsFiles {
  cert: string;
  key: string;
}

/** File descriptors each server may open: W8's idle connections and then some. */
const WANTED_NOFILE = 65536;
let nofileLimit: number | null = null;

/**
 * The descriptor limit servers and generators get: 65536 where it may be raised (root
 * with CAP_SYS_RESOURCE), else the current hard limit.
 */
export function fileLimit(): number {
  if (nofileLimit !== null) return nofileLimit;
  try {
    execFileSync('prlimit', [`--nofile=${WANTED_NOFILE}:${WANTED_NOFILE}`, '--', 'true'], { stdio: 'ignore' });
    nofileLimit = WANTED_NOFILE;
  } catch {
    const hard = execFileSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8' }).trim();
    nofileLimit = hard === 'unlimited' ? WANTED_NOFILE : Math.min(WANTED_NOFILE, Number(hard) || 1024);
  }
  return nofileLimit;
}

const running = new Set<ChildProcess>();
process.on('exit', killAllTracked);

/** Kills every server and generator still running (a command-line entry calls it on SIGINT). */
export function killAllTracked(): void {
  for (const child of running) child.kill('SIGKILL');
}

/** Registers a child so it is killed if the benchmark exits early. */
export function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
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

export class RunningServer {
  private exitedFlag = false;
  private output = '';
  readonly exited: Promise<number | string>;

  constructor(
    readonly target: Target,
    readonly port: number,
    readonly child: ChildProcess,
    /** Speaks TLS only (-Z): stats and generators connect with TLS. */
    readonly tls = false,
  ) {
    const keep = (data: Buffer): void => {
      this.output = (this.output + data.toString('utf8')).slice(-4096);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitedFlag = true;
        resolve(code ?? signal ?? 'unknown');
      });
      child.once('error', (err) => {
        this.exitedFlag = true;
        this.output += String(err);
        resolve('spawn-error');
      });
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  hasExited(): boolean {
    return this.exitedFlag;
  }

  recentOutput(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.exitedFlag) return;
    // memcached keeps nothing worth a clean exit; recordcache is asked politely first.
    this.child.kill(this.target.kind === 'memcached' ? 'SIGKILL' : 'SIGTERM');
    const stopped = await Promise.race([this.exited.then(() => true), sleep(3000).then(() => false)]);
    if (!stopped) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}

function serverCommand(target: Target, port: number, options: ServerOptions): string[] {
  const common = [
    '-p',
    String(port),
    '-U',
    '0',
    '-l',
    '127.0.0.1',
    '-t',
    String(options.threads ?? 1),
    '-m',
    String(options.memoryMb),
    '-c',
    String(options.maxConns),
  ];
  const extra = options.extraFlags ?? [];
  // memcached's own TLS flags, which recordcache takes too; one -o with every suboption.
  const tlsSuboptions = options.tls ? `ssl_chain_cert=${options.tls.cert},ssl_key=${options.tls.key}` : '';
  const suboptionList = [target.suboptions ?? '', tlsSuboptions].filter(Boolean).join(',');
  const tlsFlags = options.tls ? ['-Z'] : [];
  const suboptions = suboptionList ? ['-o', suboptionList] : [];
  if (target.kind === 'memcached') {
    // memcached refuses to run as root without -u.
    const user = typeof process.getuid === 'function' && process.getuid() === 0 ? ['-u', 'root'] : [];
    return [target.binary ?? MEMCACHED, ...common, ...user, ...tlsFlags, ...suboptions, ...extra];
  }
  if (!fs.existsSync(RECORDCACHE_CLI)) {
    throw new Error(`${RECORDCACHE_CLI} is missing: build with \`npx tsc -p tsconfig.json\``);
  }
  return [process.execPath, RECORDCACHE_CLI, ...common, `--records=${target.backend ?? 'js'}`, ...tlsFlags, ...suboptions, ...extra];
}

/** Requested niceness of servers and generators; see niceness(). */
let wantedNiceness = -20;
let grantedNiceness: number | null = null;

export function setNiceness(value: number): void {
  wantedNiceness = value;
  grantedNiceness = null;
}

/**
 * The niceness servers and generators run at. On a machine other programs also use, the
 * measured processes get priority over them (-20, where the user may raise priority), so
 * that what is measured is the server, not the neighbours; 0 where that is not allowed.
 */
export function niceness(): number {
  if (grantedNiceness !== null) return grantedNiceness;
  grantedNiceness = 0;
  if (wantedNiceness !== 0) {
    try {
      const got = execFileSync('nice', ['-n', String(wantedNiceness), 'nice'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      grantedNiceness = Number(got.trim()) === wantedNiceness ? wantedNiceness : 0;
    } catch {
      // Left at 0.
    }
  }
  return grantedNiceness;
}

/**
 * The prefix that raises a command's descriptor limit and priority and pins it. prlimit,
 * setsid, nice and taskset all exec in place, so the pid is the server's. The command gets
 * its own session: where the kernel groups sessions for scheduling (autogroup), a process's
 * niceness only counts within its session, and boostPriority() then raises the session's.
 */
export function launchPrefix(cpus: string | null, nice = niceness()): string[] {
  const limit = fileLimit();
  const prefix = ['prlimit', `--nofile=${limit}:${limit}`, '--'];
  if (niceness() !== 0) prefix.push('setsid', 'nice', '-n', String(Math.max(nice, niceness())));
  return cpus === null ? prefix : [...prefix, 'taskset', '-c', cpus];
}

/**
 * Gives a process started with launchPrefix its niceness against other sessions too: once
 * it leads its own session, the session's scheduling group gets the same niceness
 * (/proc/<pid>/autogroup). Without autogroup scheduling there is nothing to do.
 */
export async function boostPriority(pid: number, wanted = niceness()): Promise<void> {
  if (niceness() === 0 || pid <= 0 || !fs.existsSync(`/proc/${pid}/autogroup`)) return;
  const nice = Math.max(wanted, niceness());
  const deadline = Date.now() + 2000;
  while (Date.now() < deadline) {
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      return; // already gone
    }
    // After the name: state ppid pgrp session ...
    const session = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
    if (session === pid) {
      try {
        fs.writeFileSync(`/proc/${pid}/autogroup`, String(nice));
      } catch {
        // Not permitted: the process keeps its niceness within its own session only.
      }
      return;
    }
    await sleep(2);
  }
}

export async function startServer(target: Target, options: ServerOptions): Promise<RunningServer> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const command = [...launchPrefix(options.cpus), ...serverCommand(target, port, options)];
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    const server = new RunningServer(target, port, child, options.tls !== undefined);
    await boostPriority(server.pid);
    const deadline = Date.now() + 15000;
    while (Date.now() < deadline && !server.hasExited()) {
      if (await canConnect(port)) return server;
      await sleep(20);
    }
    await server.stop();
    const output = server.recentOutput();
    if (attempt < 3 && /address already in use/i.test(output)) continue;
    throw new Error(`${target.label} did not start on port ${port}:\n${output}`);
  }
}

/** Sends one request and reads until the reply ends with `terminator`; over TLS when `useTls`. */
export function request(port: number, text: string, terminator: string, timeoutMs = 5000, useTls = false): Promise<string> {
  return new Promise((resolve, reject) => {
    // The benchmark's certificate is made for the run and not verified.
    const socket = useTls ? tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false }) : net.connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no complete reply to ${JSON.stringify(text)} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('data', (data: Buffer) => {
      chunks.push(data);
      const got = Buffer.concat(chunks).toString('latin1');
      if (got.endsWith(terminator)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once(useTls ? 'secureConnect' : 'connect', () => socket.write(text));
  });
}

export type Stats = Map<string, string>;

function parseStats(reply: string): Stats {
  const stats: Stats = new Map();
  for (const line of reply.split('\r\n')) {
    const m = line.match(/^STAT (\S+) (.*)$/);
    if (m) stats.set(m[1], m[2]);
  }
  return stats;
}

export async function serverStats(port: number, which = '', useTls = false): Promise<Stats> {
  return parseStats(await request(port, which ? `stats ${which}\r\n` : 'stats\r\n', 'END\r\n', 5000, useTls));
}

export function statNumber(stats: Stats, name: string): number {
  const value = stats.get(name);
  return value === undefined ? NaN : Number(value);
}

/** The records backend a recordcache process reports running (`stats settings`); null for memcached. */
export async function runningBackend(server: RunningServer): Promise<string | null> {
  const settings = await serverStats(server.port, 'settings', server.tls);
  return settings.get('records_backend') ?? null;
}
