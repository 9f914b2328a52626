/*
 * The C load generator: built on demand with the system compiler, run pinned to the
 * generator CPU, its stderr events passed on as they come and its JSON result parsed.
 */

import { execFile, execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { boostPriority, launchPrefix, track } from './servers';

export const LOADGEN_SOURCE = path.resolve(__dirname, '../loadgen/loadgen.c');
export const DEFAULT_BUILD_DIR = path.resolve(__dirname, '../build');

/** OpenSSL's headers (Debian's libssl-dev): the generator is built with --tls where they are. */
const OPENSSL_HEADER = '/usr/include/openssl/ssl.h';

/** Builds the generator if the binary is missing or older than its source; returns its path. */
export function buildLoadgen(buildDir = DEFAULT_BUILD_DIR): string {
  const binary = path.join(buildDir, 'loadgen');
  const wantTls = fs.existsSync(OPENSSL_HEADER);
  // A binary built before OpenSSL's headers were installed lacks --tls: rebuild it.
  const fresh =
    fs.existsSync(binary) &&
    fs.statSync(binary).mtimeMs >= fs.statSync(LOADGEN_SOURCE).mtimeMs &&
    (!wantTls || fs.readFileSync(binary).includes('SSL_CTX_new'));
  if (fresh) return binary;
  fs.mkdirSync(buildDir, { recursive: true });
  const compiler = process.env.CC ?? 'cc';
  // TLS through the system's OpenSSL where its headers are; without them --tls is refused.
  const tls = wantTls ? ['-DLOADGEN_TLS'] : [];
  const libs = tls.length ? ['-lssl', '-lcrypto'] : [];
  execFileSync(compiler, ['-O2', '-g', '-Wall', '-Wextra', '-pthread', ...tls, '-o', binary, LOADGEN_SOURCE, ...libs], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  return binary;
}

export interface LoadgenCounters {
  requests: number;
  get_requests: number;
  get_keys: number;
  hits: number;
  sets: number;
  set_failures: number;
  errors: number;
  value_bytes: number;
  bytes_in: number;
  bytes_out: number;
  requests_per_s: number;
  keys_per_s: number;
  value_bytes_per_s: number;
}

export interface LoadgenLatency {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  p9999: number;
  max: number;
}

/** The JSON line loadgen prints at the end (see loadgen.c main). */
export interface LoadgenResult {
  tool: 'loadgen';
  version: string;
  scenario: string;
  protocol: string;
  mode: 'open' | 'closed';
  threads: number;
  conns: number;
  connected: number;
  pipeline: number;
  multiget: number;
  keys: number;
  rate: number;
  /** It spoke TLS to the server. */
  tls?: boolean;
  seconds: number;
  window: LoadgenCounters;
  all: LoadgenCounters;
  /** Commands sent over the whole life of the process: what the server should count. */
  sent: { get_requests: number; get_keys: number; sets: number };
  latency_us: LoadgenLatency;
  cpu_s: number;
  cpu_percent: number;
  /** Seconds its threads waited for a CPU during the window. */
  cpu_wait_s: number;
  in_flight_at_end: number;
  unexpected_replies: number;
  connect_errors: number;
  disconnects: number;
  rounds: number;
  open_loop_backlog_max: number;
}

export interface LoadgenEvent {
  event: string;
  t: number;
  phase?: string;
  requests_per_s?: number;
  connected?: number;
}

/** Loadgen options as flags: `{ conns: 50, ratio: '1:10' }` → `--conns 50 --ratio 1:10`. */
export type LoadgenArgs = Record<string, string | number | boolean | undefined>;

export function loadgenFlags(args: LoadgenArgs): string[] {
  const flags: string[] = [];
  for (const [name, value] of Object.entries(args)) {
    if (value === undefined || value === false) continue;
    const flag = `--${name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`;
    if (value === true) flags.push(flag);
    else flags.push(flag, String(value));
  }
  return flags;
}

export interface LoadgenProcess {
  pid: number;
  /** Resolves with the result line, or rejects if the generator failed. */
  result: Promise<LoadgenResult>;
  /** Asks the generator to finish now (it still prints its result). */
  stop(): void;
}

export interface LoadgenRunOptions {
  binary: string;
  /** CPU list for taskset; null runs unpinned. */
  cpus: string | null;
  onEvent?: (event: LoadgenEvent) => void;
  /** Kill the generator if it has not finished after this long. */
  timeoutMs: number;
  /** Niceness, when it should differ from the servers' (see niceness() in servers.ts). */
  nice?: number;
}

export function startLoadgen(args: LoadgenArgs, options: LoadgenRunOptions): LoadgenProcess {
  const command = [...launchPrefix(options.cpus, options.nice), options.binary, ...loadgenFlags(args)];
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  void boostPriority(child.pid ?? -1, options.nice);
  let stdout = '';
  let stderrTail = '';
  let pending = '';
  child.stdout!.on('data', (data: Buffer) => {
    stdout += data.toString('utf8');
  });
  child.stderr!.on('data', (data: Buffer) => {
    pending += data.toString('utf8');
    let newline: number;
    while ((newline = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.startsWith('{"event"')) {
        try {
          options.onEvent?.(JSON.parse(line) as LoadgenEvent);
        } catch {
          // A malformed event is only a missed progress report.
        }
      } else {
        stderrTail = (stderrTail + line + '\n').slice(-2000);
      }
    }
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
  const result = new Promise<LoadgenResult>((resolve, reject) => {
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && line.startsWith('{')) {
        resolve(JSON.parse(line) as LoadgenResult);
      } else {
        reject(new Error(`loadgen ${loadgenFlags(args).join(' ')} ended with ${code ?? signal}: ${stderrTail.trim()}`));
      }
    });
  });
  return {
    pid: child.pid ?? -1,
    result,
    stop: () => child.kill('SIGTERM'),
  };
}

export function runLoadgen(args: LoadgenArgs, options: LoadgenRunOptions): Promise<LoadgenResult> {
  return startLoadgen(args, options).result;
}

/** Whether the server speaks the meta protocol: `mn` answered with `MN`. */
export function probeMeta(binary: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    execFile(binary, ['--port', String(port), '--probe-meta'], { encoding: 'utf8', timeout: 10000 }, (err, stdout) => {
      if (err) reject(err);
      else resolve((JSON.parse(stdout.trim()) as { supported: boolean }).supported);
    });
  });
}
