/*
 * npm run bench:http: the HTTP rows of the benchmark matrix, recordcache's HTTP listener
 * against nginx on the same server CPU, with autocannon on the generator CPU:
 *
 *   H1  1 KB values, 100 keep-alive connections       vs nginx + memcached_pass + memcached
 *   H2  100 KB values, 32 keep-alive connections      vs nginx + memcached_pass + memcached
 *   H4  1 KB values, 100 keep-alive connections       vs nginx serving the bytes as files (sendfile)
 *
 * Runs alternate anchor, recordcache, anchor, recordcache, ...; run i of recordcache is
 * divided by run i of the anchor. Every row is measured with autocannon and again with wrk
 * (C, one thread), which shows whether autocannon (JavaScript, one core) is the limit. A run
 * says what may have bent it: failed replies, a generator near 100% CPU, a server that
 * waited for its CPU (other programs), a store that counted fewer fetches than replies.
 * H3 (lib/http-h3.ts): one hot value of about 1 MB asked for by 500 clients that do not
 * read, against nginx + memcached; the figure is the machine's used memory.
 *
 *   npm run bench:http -- --quick [--rows H1,H2,H3,H4] [--backends native,js] [--runs N]
 *     [--duration S] [--warmup S] [--server-cpu N] [--loadgen-cpu N] [--out DIR]
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type HttpLoadArgs, type HttpLoadResult, MEASURING_LINE } from './lib/http-load';
import {
  type HttpServer,
  keyName,
  missingHttpPrograms,
  startNginxMemcached,
  startNginxStatic,
  startRecordcacheHttp,
  storeValues,
} from './lib/http-servers';
import { processCpuSeconds, processWaitSeconds } from './lib/procfs';
import { type FanoutRecord, H3_KEY, H3_VALUE_LENGTH, fanoutReport, measureFanout } from './lib/http-h3';
import { killAllTracked, launchPrefix, serverStats, statNumber, track } from './lib/servers';

interface HttpRow {
  id: string;
  title: string;
  valueSize: number;
  keys: number;
  connections: number;
  anchor: 'nginx+memcached' | 'nginx-static';
  figure: 'requests/s' | 'MB/s';
  goal: string;
}

const ROWS: HttpRow[] = [
  {
    id: 'H1',
    title: '1 KB values, 100 keep-alive connections',
    valueSize: 1024,
    keys: 1000,
    connections: 100,
    anchor: 'nginx+memcached',
    figure: 'requests/s',
    goal: '≥ 2.0× requests/s',
  },
  {
    id: 'H2',
    title: '100 KB values, 32 keep-alive connections',
    valueSize: 100 * 1024,
    keys: 100,
    connections: 32,
    anchor: 'nginx+memcached',
    figure: 'MB/s',
    goal: '≥ 1.5× bytes/s',
  },
  {
    id: 'H4',
    title: '1 KB values, 100 keep-alive connections, against static files',
    valueSize: 1024,
    keys: 1000,
    connections: 100,
    anchor: 'nginx-static',
    figure: 'requests/s',
    goal: 'the ratio',
  },
];

interface Options {
  rows: string[];
  backends: string[];
  runs: number;
  duration: number;
  warmup: number;
  serverCpu: string;
  loadgenCpu: string;
  out: string;
  quick: boolean;
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    rows: ['H1', 'H2', 'H3', 'H4'],
    backends: ['native'],
    runs: 3,
    duration: 10,
    warmup: 2,
    serverCpu: '1',
    loadgenCpu: '0',
    out: path.resolve(__dirname, 'results/http'),
    quick: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => argv[++i] ?? '';
    if (arg === '--quick') Object.assign(options, { quick: true, duration: 1.5, warmup: 0.5 });
    else if (arg === '--rows') options.rows = value().split(',');
    else if (arg === '--backends') options.backends = value().split(',');
    else if (arg === '--runs') options.runs = Number(value());
    else if (arg === '--duration') options.duration = Number(value());
    else if (arg === '--warmup') options.warmup = Number(value());
    else if (arg === '--server-cpu') options.serverCpu = value();
    else if (arg === '--loadgen-cpu') options.loadgenCpu = value();
    else if (arg === '--out') options.out = path.resolve(value());
    else throw new Error(`unknown option ${arg} (the comment at the top of bench/http.ts lists them)`);
  }
  return options;
}

interface RunRecord {
  server: string;
  generator: Generator;
  run: number;
  requests: number;
  /** The figure the row compares: requests/s, or MB/s of bodies and headers. */
  figure: number;
  generatorCpuPercent: number;
  serverCpuPercent: number;
  /** Fetches the store counted during the measured window, against replies received. */
  storeFetches: number | null;
  problems: Problem[];
}

/** What may have bent a run, and by how much (a count, or a percentage). */
interface Problem {
  kind:
    | 'failed replies'
    | 'generator CPU over 90%'
    | 'server waited for its CPU'
    | 'generator waited for its CPU'
    | 'store counted fewer fetches';
  value: number;
}

const PROBLEM_UNITS: Record<Problem['kind'], string> = {
  'failed replies': '',
  'generator CPU over 90%': '%',
  'server waited for its CPU': '% of the window',
  'generator waited for its CPU': '% of the window',
  'store counted fewer fetches': '% of replies',
};

function describe(problem: Problem): string {
  return `${problem.kind} (${problem.value.toFixed(0)}${PROBLEM_UNITS[problem.kind]})`;
}

/** The problems of a server's runs: each kind once, with how many runs had it and the worst value. */
function summarize(runs: RunRecord[]): string {
  const kinds = [...new Set(runs.flatMap((r) => r.problems.map((p) => p.kind)))];
  return kinds
    .map((kind) => {
      const values = runs.flatMap((r) => r.problems.filter((p) => p.kind === kind).map((p) => p.value));
      return `${kind}: ${values.length} of ${runs.length} runs, up to ${Math.max(...values).toFixed(0)}${PROBLEM_UNITS[kind]}`;
    })
    .join('; ');
}

function valuesOf(row: HttpRow): Map<string, Buffer> {
  const values = new Map<string, Buffer>();
  for (let i = 0; i < row.keys; i++) values.set(keyName(`${row.id.toLowerCase()}:`, i), Buffer.alloc(row.valueSize, 0x61 + (i % 26)));
  return values;
}

async function startFor(kind: string, options: Options, values: Map<string, Buffer>): Promise<HttpServer> {
  const server =
    kind === 'nginx+memcached'
      ? await startNginxMemcached(options.serverCpu)
      : kind === 'nginx-static'
        ? await startNginxStatic(options.serverCpu, values)
        : await startRecordcacheHttp(options.serverCpu, kind.slice('recordcache/'.length));
  if (server.memcachedPort !== null) await storeValues(server.memcachedPort, values);
  return server;
}

/** Fetches the store counted: recordcache's HTTP hits, memcached's get_hits behind nginx. */
async function fetchesCounted(server: HttpServer): Promise<number | null> {
  if (server.memcachedPort === null) return null;
  const stats = await serverStats(server.memcachedPort);
  return statNumber(stats, server.kind === 'recordcache' ? 'http_hits' : 'get_hits');
}

function cpuSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
}

/** Time the processes' threads were runnable but not running (/proc/<pid>/schedstat). */
function waitSeconds(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + processWaitSeconds(pid), 0);
}

type Generator = 'autocannon' | 'wrk';

/** What a generator reports of its measured run. */
interface GeneratorRun {
  requests: number;
  bytes: number;
  /** Replies other than 2xx, and requests that failed. */
  failures: number;
  seconds: number;
  cpuSeconds: number;
  /** Time the generator was runnable but waited for its CPU. */
  generatorWaitSeconds: number;
  /** Server CPU seconds and store fetches during the run. */
  serverCpuSeconds: number;
  serverWaitSeconds: number;
  storeFetches: number | null;
}

/** Spawns a generator pinned to the generator CPU; resolves once its measured window starts, then once it ends. */
function spawnGenerator(command: string[], startsAt: ((stdout: string) => boolean) | null) {
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  const out = { stdout: '', stderr: '', cpuSeconds: 0, waitSeconds: 0 };
  child.stderr?.on('data', (data: Buffer) => (out.stderr += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  // /proc has the generator's CPU time only while it runs.
  const sampler = setInterval(() => {
    const seconds = processCpuSeconds(child.pid ?? -1);
    if (seconds > 0) out.cpuSeconds = seconds;
    const waited = processWaitSeconds(child.pid ?? -1);
    if (waited > 0) out.waitSeconds = waited;
  }, 50);
  void exited.then(() => clearInterval(sampler));
  const started = new Promise<void>((resolve) => {
    child.stdout?.on('data', (data: Buffer) => {
      out.stdout += data.toString();
      if (startsAt?.(out.stdout)) resolve();
    });
    if (startsAt === null) resolve();
    void exited.then(() => resolve());
  });
  return { out, started, exited, pid: child.pid ?? -1 };
}

/** Runs a generator against a server and measures the server around its window. */
async function measureWindow(
  server: HttpServer,
  command: string[],
  startsAt: ((stdout: string) => boolean) | null,
): Promise<{
  stdout: string;
  cpuSeconds: number;
  generatorWaitSeconds: number;
  seconds: number;
  serverCpuSeconds: number;
  serverWaitSeconds: number;
  storeFetches: number | null;
}> {
  const generator = spawnGenerator(command, startsAt);
  await generator.started;
  const started = performance.now();
  const generatorWaitBefore = processWaitSeconds(generator.pid) || 0;
  const serverBefore = cpuSeconds(server.pids());
  const waitBefore = waitSeconds(server.pids());
  const fetchesBefore = await fetchesCounted(server);
  const code = await generator.exited;
  const seconds = (performance.now() - started) / 1000;
  const serverCpuSeconds = cpuSeconds(server.pids()) - serverBefore;
  const serverWaitSeconds = waitSeconds(server.pids()) - waitBefore;
  const fetchesAfter = await fetchesCounted(server);
  if (code !== 0) throw new Error(`${command.join(' ')} exited with ${code}:\n${generator.out.stderr}`);
  return {
    stdout: generator.out.stdout,
    cpuSeconds: generator.out.cpuSeconds,
    generatorWaitSeconds: Math.max(0, generator.out.waitSeconds - generatorWaitBefore),
    seconds,
    serverCpuSeconds,
    serverWaitSeconds,
    storeFetches: fetchesBefore === null || fetchesAfter === null ? null : fetchesAfter - fetchesBefore,
  };
}

/** autocannon in a process of its own; its warm-up is a run before the window. */
async function runAutocannon(server: HttpServer, row: HttpRow, options: Options, values: Map<string, Buffer>): Promise<GeneratorRun> {
  const args: HttpLoadArgs = {
    origin: server.origin,
    paths: [...values.keys()].map((key) => `/${key}`),
    connections: row.connections,
    warmup: options.warmup,
    duration: options.duration,
  };
  const script = path.resolve(__dirname, 'lib/http-load.ts');
  const command = [
    ...launchPrefix(options.loadgenCpu),
    process.execPath,
    '--require',
    require.resolve('tsx/cjs'),
    script,
    JSON.stringify(args),
  ];
  const measured = await measureWindow(server, command, (stdout) => stdout.includes(`${MEASURING_LINE}\n`));
  const load = JSON.parse(measured.stdout.trim().split('\n').pop() ?? '{}') as HttpLoadResult;
  return {
    requests: load.requests,
    bytes: load.bytesPerSecond * load.seconds,
    failures: load.non2xx + load.errors + load.timeouts,
    seconds: load.seconds,
    cpuSeconds: load.cpuSeconds,
    generatorWaitSeconds: measured.generatorWaitSeconds,
    serverCpuSeconds: measured.serverCpuSeconds,
    serverWaitSeconds: measured.serverWaitSeconds,
    storeFetches: measured.storeFetches,
  };
}

/** wrk (C, one thread) cycling through the row's keys: a warm-up run, then the measured one. */
async function runWrk(server: HttpServer, row: HttpRow, options: Options, values: Map<string, Buffer>): Promise<GeneratorRun> {
  const script = path.join(os.tmpdir(), `rc-bench-wrk-${process.pid}.lua`);
  const keys = [...values.keys()].map((key) => `"/${key}"`).join(',');
  fs.writeFileSync(
    script,
    `local paths = {${keys}}\nlocal i = 0\nrequest = function()\n  i = i % #paths + 1\n  return wrk.format(nil, paths[i])\nend\n`,
  );
  const wrk = (seconds: number) => [
    ...launchPrefix(options.loadgenCpu),
    'wrk',
    '-t1',
    `-c${row.connections}`,
    `-d${Math.max(1, Math.round(seconds))}s`,
    '-s',
    script,
    server.origin,
  ];
  try {
    if (options.warmup > 0) await measureWindow(server, wrk(options.warmup), null);
    const measured = await measureWindow(server, wrk(options.duration), null);
    const requests = /(\d+) requests in ([\d.]+)(m?s)/.exec(measured.stdout);
    const bytes = /requests in [\d.]+m?s, ([\d.]+)([KMG]?B) read/.exec(measured.stdout);
    if (requests === null || bytes === null) throw new Error(`wrk said:\n${measured.stdout}`);
    const seconds = Number(requests[2]) / (requests[3] === 'ms' ? 1000 : 1);
    const unit = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }[bytes[2] as 'B'] ?? 1;
    const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(measured.stdout);
    const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(measured.stdout);
    return {
      requests: Number(requests[1]),
      bytes: Number(bytes[1]) * unit,
      failures: Number(non2xx?.[1] ?? 0) + (socketErrors === null ? 0 : socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0)),
      seconds,
      cpuSeconds: measured.cpuSeconds,
      generatorWaitSeconds: measured.generatorWaitSeconds,
      serverCpuSeconds: measured.serverCpuSeconds,
      serverWaitSeconds: measured.serverWaitSeconds,
      storeFetches: measured.storeFetches,
    };
  } finally {
    fs.rmSync(script, { force: true });
  }
}

async function measure(
  server: HttpServer,
  row: HttpRow,
  options: Options,
  run: number,
  values: Map<string, Buffer>,
  generator: Generator,
): Promise<RunRecord> {
  const result =
    generator === 'autocannon' ? await runAutocannon(server, row, options, values) : await runWrk(server, row, options, values);
  const problems: Problem[] = [];
  if (result.failures > 0) problems.push({ kind: 'failed replies', value: result.failures });
  const generatorCpuPercent = (100 * result.cpuSeconds) / result.seconds;
  if (generatorCpuPercent > 90) problems.push({ kind: 'generator CPU over 90%', value: generatorCpuPercent });
  const serverWaitPercent = (100 * result.serverWaitSeconds) / result.seconds;
  if (serverWaitPercent > 5) problems.push({ kind: 'server waited for its CPU', value: serverWaitPercent });
  const generatorWaitPercent = (100 * result.generatorWaitSeconds) / result.seconds;
  if (generatorWaitPercent > 5) problems.push({ kind: 'generator waited for its CPU', value: generatorWaitPercent });
  if (result.storeFetches !== null && result.storeFetches < result.requests * 0.95) {
    problems.push({ kind: 'store counted fewer fetches', value: (100 * result.storeFetches) / result.requests });
  }
  return {
    server: server.label,
    generator,
    run,
    requests: result.requests,
    figure: row.figure === 'requests/s' ? result.requests / result.seconds : result.bytes / result.seconds / 1e6,
    generatorCpuPercent,
    serverCpuPercent: (100 * result.serverCpuSeconds) / result.seconds,
    storeFetches: result.storeFetches,
    problems,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

interface RowResult {
  row: HttpRow;
  anchor: string;
  runs: RunRecord[];
}

async function measureRow(row: HttpRow, options: Options): Promise<RowResult> {
  const values = valuesOf(row);
  const servers = [row.anchor as string, ...options.backends.map((backend) => `recordcache/${backend}`)];
  const runs: RunRecord[] = [];
  for (const generator of ['autocannon', 'wrk'] as const) {
    for (let run = 0; run < options.runs; run++) {
      for (const kind of servers) {
        const server = await startFor(kind, options, values);
        try {
          const record = await measure(server, row, options, run, values, generator);
          runs.push(record);
          process.stderr.write(
            `${row.id} ${generator} ${server.label} run ${run + 1}: ${record.figure.toFixed(0)} ${row.figure}, server CPU ${record.serverCpuPercent.toFixed(0)}%, ` +
              `generator CPU ${record.generatorCpuPercent.toFixed(0)}%${record.problems.length > 0 ? ` (${record.problems.map(describe).join('; ')})` : ''}\n`,
          );
        } finally {
          await server.stop();
        }
      }
    }
  }
  return { row, anchor: servers[0], runs };
}

function report(results: RowResult[], options: Options): string {
  const lines = [
    '# HTTP rows',
    '',
    `${new Date().toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? 'unknown'}), ${options.quick ? 'quick: ' : ''}` +
      `${options.runs} runs × ${options.duration} s after ${options.warmup} s warm-up per server and generator, alternating; ` +
      `servers on CPU ${options.serverCpu}, the generator on CPU ${options.loadgenCpu}.`,
    '',
    '| row | what | generator | server | figure, median | ratio to the anchor, median [min–max] | server CPU | generator CPU | goal | problems |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const result of results) {
    for (const generator of ['autocannon', 'wrk'] as const) {
      const byGenerator = result.runs.filter((r) => r.generator === generator);
      const anchorLabel = byGenerator[0]?.server;
      const anchorRuns = byGenerator.filter((r) => r.server === anchorLabel);
      for (const server of [...new Set(byGenerator.map((r) => r.server))]) {
        const runs = byGenerator.filter((r) => r.server === server);
        const ratios = runs.map((r, i) => r.figure / (anchorRuns[i]?.figure ?? Number.NaN));
        const isAnchor = server === anchorLabel;
        const problems = summarize(runs);
        lines.push(
          `| ${result.row.id} | ${result.row.title} | ${generator} | ${server}${isAnchor ? ' (anchor)' : ''} | ${median(runs.map((r) => r.figure)).toFixed(0)} ${result.row.figure} | ` +
            `${isAnchor ? '1' : `${median(ratios).toFixed(2)}× [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]`} | ` +
            `${median(runs.map((r) => r.serverCpuPercent)).toFixed(0)}% | ${median(runs.map((r) => r.generatorCpuPercent)).toFixed(0)}% | ` +
            `${isAnchor ? '' : result.row.goal} | ${problems} |`,
        );
      }
    }
  }
  return `${lines.join('\n')}\n`;
}

/** H3, alternating nginx + memcached and recordcache as the other rows do. */
async function measureH3(options: Options): Promise<FanoutRecord[]> {
  const values = new Map([[H3_KEY, Buffer.alloc(H3_VALUE_LENGTH, 'h')]]);
  const records: FanoutRecord[] = [];
  for (let run = 0; run < options.runs; run++) {
    for (const kind of ['nginx+memcached', ...options.backends.map((backend) => `recordcache/${backend}`)]) {
      const server = await startFor(kind, options, values);
      try {
        const record = await measureFanout(server, run, options.loadgenCpu, options.quick ? 1 : 3);
        records.push(record);
        process.stderr.write(
          `H3 ${server.label} run ${run + 1}: used memory +${(record.usedMemoryGrowth / 1e6).toFixed(1)} MB, ` +
            `TCP +${(record.tcpMemoryGrowth / 1e6).toFixed(1)} MB, server RSS +${(record.serverRssGrowth / 1e6).toFixed(1)} MB, ${record.whole} whole, ${record.failed} failed\n`,
        );
      } finally {
        await server.stop();
      }
    }
  }
  return records;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const missing = missingHttpPrograms();
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: run bench/setup.sh as root`);
  const results: RowResult[] = [];
  let fanout: FanoutRecord[] = [];
  for (const id of options.rows) {
    if (id === 'H3') {
      fanout = await measureH3(options);
      continue;
    }
    const row = ROWS.find((candidate) => candidate.id === id);
    if (row === undefined) throw new Error(`no row ${id} (rows: H1, H2, H3, H4)`);
    results.push(await measureRow(row, options));
  }
  fs.mkdirSync(options.out, { recursive: true });
  fs.writeFileSync(path.join(options.out, 'results.json'), `${JSON.stringify({ options, results, fanout }, null, 2)}\n`);
  const text = (results.length > 0 ? report(results, options) : '') + (fanout.length > 0 ? `${fanoutReport(fanout).join('\n')}\n` : '');
  fs.writeFileSync(path.join(options.out, 'report.md'), text);
  process.stdout.write(text);
}

process.on('SIGINT', () => {
  killAllTracked();
  process.exit(130);
});

main().catch((error) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  killAllTracked();
  process.exit(1);
});
