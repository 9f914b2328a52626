/*
 * Rows driven by memtier_benchmark, the load generator most memcached users reach for,
 * beside the project's own generator: the same servers, started, pinned and alternated by
 * the same runner, with memtier in place of loadgen. memtier is optional (it is not in
 * Debian 12); without it these rows are skipped.
 */

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { GENERATOR_CPU_LIMIT_PERCENT, WindowProbe, round, undisturbedCheck, type Check, type Measured, type RunContext } from './measure';
import { processCpuSeconds, processWaitSeconds } from './procfs';
import { boostPriority, launchPrefix, serverStats, sleep, statNumber, track } from './servers';
import type { FigureSpec, Workload } from './workloads';

export const MEMTIER = 'memtier_benchmark';

/** How to get memtier where it is missing. */
export const MEMTIER_HOWTO =
  'build it from https://github.com/RedisLabs/memtier_benchmark (autoreconf -ivf && ./configure && make, see bench/README.md) ' +
  'and put the binary on the PATH';
/** The one line printed (and put in the report) where memtier is not installed. */
export const MEMTIER_MISSING = `memtier_benchmark is not on the PATH, so its rows are skipped; to add them, ${MEMTIER_HOWTO}.`;

/**
 * memtier's defaults are 4 threads × 50 clients. Here memtier gets one CPU (the generator's),
 * where a second thread would only take turns with the first, so one thread carries all
 * 200 connections.
 */
export const MEMTIER_THREADS = 1;
export const MEMTIER_CONNS = 200;

const SMALL_KEYS = 100000;
const BIG_KEYS = 100;
const BIG_VALUE = 100 * 1024;

export function memtierAvailable(): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${MEMTIER}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `memtier_benchmark v=2.3.0 sha=…` (a build from an archive says v=255.255.255: it has no git history). */
export function memtierVersion(): string {
  try {
    return execFileSync(MEMTIER, ['--version'], { encoding: 'utf8' }).split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

interface MemtierProfile {
  id: string;
  title: string;
  description: string;
  keys: number;
  /** memtier options beyond the common ones (server, protocol, threads, clients, key range, time). */
  args: string[];
  valueSize: number;
  /** Keys in each GET request (multi-get), 1 otherwise. */
  keysPerGet: number;
  pipeline: number;
  figures: FigureSpec[];
  /** The project's row with the closest shape, and its figure whose ratio is compared. */
  comparable: { workload: string; figure: string; why: string };
}

const opsFigure: FigureSpec = { id: 'ops_per_s', label: 'requests/s (memtier)', better: 'higher', kind: 'throughput' };
const keysFigure: FigureSpec = { id: 'keys_per_s', label: 'keys/s (memtier)', better: 'higher', kind: 'throughput' };

const PROFILES: MemtierProfile[] = [
  {
    id: 'MT1',
    title: 'memtier default profile',
    description: "memtier's defaults for memcached: set:get 1:10, 32 B values, one request in flight per connection, 200 connections.",
    keys: SMALL_KEYS,
    args: [],
    valueSize: 32,
    keysPerGet: 1,
    pipeline: 1,
    figures: [opsFigure],
    comparable: {
      workload: 'W4',
      figure: 'ops_per_s',
      why: 'the same 1:10 set:get mix over 200 connections; W4 uses 1 KB values and 10 requests in flight on each',
    },
  },
  {
    id: 'MT2',
    title: 'memtier pipelined ×16',
    description: 'The default profile with 16 requests in flight on each connection (--pipeline=16).',
    keys: SMALL_KEYS,
    args: ['--pipeline=16'],
    valueSize: 32,
    keysPerGet: 1,
    pipeline: 16,
    figures: [opsFigure],
    comparable: { workload: 'W2', figure: 'ops_per_s', why: '32 B values, 16 in flight; W2 is GET only over 50 connections' },
  },
  {
    id: 'MT3',
    title: 'memtier multi-get of 16 keys',
    description:
      '`get k1 … k16` on every request (--multi-key-get=16 --ratio=0:16: memtier caps a multi-get at the GET side of the ratio, ' +
      'so 1:10 would send 10 keys); figure is keys/s.',
    keys: SMALL_KEYS,
    args: ['--ratio=0:16', '--multi-key-get=16'],
    valueSize: 32,
    keysPerGet: 16,
    pipeline: 1,
    figures: [keysFigure],
    comparable: { workload: 'W3-16', figure: 'keys_per_s', why: 'the same `get` of 16 keys of 32 B; W3-16 uses 50 connections' },
  },
  {
    id: 'MT4',
    title: 'memtier 100 KB values',
    description: 'The default profile with 100 KB values (--data-size=102400) over 100 keys.',
    keys: BIG_KEYS,
    args: [`--data-size=${BIG_VALUE}`],
    valueSize: BIG_VALUE,
    keysPerGet: 1,
    pipeline: 1,
    figures: [opsFigure],
    comparable: {
      workload: 'W6',
      figure: 'gb_per_s',
      why: 'GETs of 100 KB values over 100 keys (with fixed-size values the ratio of GB/s is the ratio of GETs/s); W6 is GET only over 32 connections',
    },
  },
];

/** The parts of memtier's --json-out-file this runner reads. */
interface MemtierCommandStats {
  Count: number;
  'Ops/sec': number;
  'Hits/sec': number;
  'Misses/sec': number;
  'Connection Errors': number;
  'Percentile Latencies'?: Record<string, number>;
}

interface MemtierJson {
  'ALL STATS': {
    /** Start and finish of the timed run, milliseconds since the epoch. */
    Runtime: { 'Start time': number; 'Finish time': number; 'Total duration': number };
    Sets: MemtierCommandStats;
    Gets: MemtierCommandStats;
    Totals: MemtierCommandStats;
  };
}

interface MemtierRun {
  json: MemtierJson;
  /** memtier's own CPU while it ran, percent of one CPU. */
  cpuPercent: number;
  /** Time its threads waited for their CPU, percent of its run. */
  waitPercent: number;
  /** The server's CPU seconds over time (epoch milliseconds), sampled beside memtier. */
  serverTrace: { t: number; cpu: number }[];
}

/**
 * A process's CPU share (percent of one CPU) between two moments of a sampled trace, linearly
 * interpolated: memtier's timed run is shorter than its process's life (it connects its 200
 * clients first), so the server is measured over memtier's own start and finish times.
 */
export function cpuPercentBetween(trace: readonly { t: number; cpu: number }[], from: number, to: number): number {
  const at = (t: number): number => {
    if (trace.length === 0 || t < trace[0].t || t > trace[trace.length - 1].t) return NaN;
    let i = 1;
    while (i < trace.length - 1 && trace[i].t < t) i++;
    const a = trace[i - 1];
    const b = trace[i];
    return b.t > a.t ? a.cpu + ((b.cpu - a.cpu) * (t - a.t)) / (b.t - a.t) : a.cpu;
  };
  return to > from ? (100 * (at(to) - at(from))) / ((to - from) / 1000) : NaN;
}

/**
 * Runs memtier pinned like the generator, at the generator's priority, sampling its CPU and
 * CPU wait every 100 ms (its /proc entry is gone once it has exited).
 */
function runMemtier(ctx: RunContext, args: string[], timeoutS: number): Promise<MemtierRun> {
  const { settings } = ctx;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-memtier-'));
  const jsonFile = path.join(dir, 'out.json');
  const cpus = settings.loadgenCpu === null ? null : String(settings.loadgenCpu);
  const command = [
    ...launchPrefix(cpus),
    MEMTIER,
    '--server=127.0.0.1',
    `--port=${ctx.server.port}`,
    '--protocol=memcache_text',
    '--hide-histogram',
    `--json-out-file=${jsonFile}`,
    ...args,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    const pid = child.pid ?? -1;
    void boostPriority(pid);
    const samples: { t: number; cpu: number; wait: number }[] = [];
    const serverTrace: { t: number; cpu: number }[] = [];
    const sample = (): void => {
      const cpu = processCpuSeconds(pid);
      const wait = processWaitSeconds(pid);
      if (Number.isFinite(cpu)) samples.push({ t: performance.now() / 1000, cpu, wait });
      serverTrace.push({ t: Date.now(), cpu: processCpuSeconds(ctx.server.pid) });
    };
    sample();
    const sampler = setInterval(sample, 50);
    let output = '';
    const keep = (d: Buffer): void => {
      output = (output + d.toString('utf8')).slice(-4096);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.once('close', (code) => {
      clearTimeout(timer);
      clearInterval(sampler);
      serverTrace.push({ t: Date.now(), cpu: processCpuSeconds(ctx.server.pid) });
      try {
        if (code !== 0 || !fs.existsSync(jsonFile)) {
          reject(new Error(`${MEMTIER} failed (${code}): ${output.slice(-500)}`));
          return;
        }
        const json = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as MemtierJson;
        const first = samples[0];
        const last = samples[samples.length - 1];
        const span = last && first ? last.t - first.t : NaN;
        resolve({
          json,
          cpuPercent: span > 0 ? (100 * (last.cpu - first.cpu)) / span : NaN,
          waitPercent: span > 0 ? (100 * (last.wait - first.wait)) / span : NaN,
          serverTrace,
        });
      } catch (err) {
        reject(err as Error);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const keyRange = (keys: number): string[] => ['--key-minimum=1', `--key-maximum=${keys}`];

/** Sets every key of the range once, memtier's way (each client a slice of the range), so the measured gets hit. */
async function preloadWithMemtier(ctx: RunContext, profile: MemtierProfile): Promise<void> {
  const big = profile.valueSize > 10000;
  await runMemtier(
    ctx,
    [
      '--threads=1',
      '--clients=4',
      `--pipeline=${big ? 4 : 32}`,
      '--ratio=1:0',
      '--key-pattern=P:P',
      '--requests=allkeys',
      `--data-size=${profile.valueSize}`,
      ...keyRange(profile.keys),
    ],
    120,
  );
  const items = statNumber(await serverStats(ctx.server.port), 'curr_items');
  if (items !== profile.keys) throw new Error(`memtier preload left ${items} items on ${ctx.target.label}, expected ${profile.keys}`);
}

/** memtier reports latency in milliseconds; the report's are microseconds. */
const percentileUs = (stats: MemtierCommandStats, key: string): number => round((stats['Percentile Latencies']?.[key] ?? NaN) * 1000, 1);

function memtierWorkload(profile: MemtierProfile): Workload {
  return {
    id: profile.id,
    title: profile.title,
    description: `${profile.description} memtier_benchmark --protocol=memcache_text, ${MEMTIER_THREADS} thread × ${MEMTIER_CONNS} clients, pinned to the generator CPU.`,
    figures: profile.figures,
    tool: 'memtier',
    async measure(ctx): Promise<Measured> {
      const { settings, server } = ctx;
      await preloadWithMemtier(ctx, profile);
      // memtier has no warm-up: its whole timed run is the window. Whole seconds, at least 2:
      // in a 1-second run, connecting 200 clients is a large part of the figure.
      const testTime = Math.max(2, Math.round(settings.durationS));
      const statsBefore = await serverStats(server.port);
      const probe = new WindowProbe(server.pid, settings);
      probe.begin();
      const run = await runMemtier(
        ctx,
        [
          `--threads=${MEMTIER_THREADS}`,
          `--clients=${MEMTIER_CONNS / MEMTIER_THREADS}`,
          `--test-time=${testTime}`,
          ...keyRange(profile.keys),
          ...profile.args,
        ],
        testTime + 90,
      );
      probe.end();
      // Replies still in flight when memtier stops are counted by the server, not by memtier.
      await sleep(50);
      const statsAfter = await serverStats(server.port);
      const window = probe.figures();
      window.loadgenWaitPercent = run.waitPercent;
      const all = run.json['ALL STATS'];
      // The probe spans memtier's whole process; the server's CPU share is taken over its timed run.
      const timedServerCpu = cpuPercentBetween(run.serverTrace, all.Runtime['Start time'], all.Runtime['Finish time']);
      if (Number.isFinite(timedServerCpu)) window.serverCpuPercent = timedServerCpu;
      const seconds = all.Runtime['Total duration'] / 1000;
      const getKeys = all.Gets.Count * profile.keysPerGet;
      const keysPerS = all.Gets['Hits/sec'] + all.Gets['Misses/sec'];
      const figures: Record<string, number> = {
        ops_per_s: round(all.Totals['Ops/sec'], 0),
        keys_per_s: round(keysPerS + all.Sets['Ops/sec'], 0),
      };
      const details = {
        server_cpu_percent: round(window.serverCpuPercent, 1),
        server_cpu_busy_percent: round(window.serverCpuBusyPercent, 1),
        loadgen_cpu_percent: round(run.cpuPercent, 1),
        loadgen_cpu_busy_percent: round(window.loadgenCpuBusyPercent, 1),
        other_cpu_percent: round(window.otherCpuPercent, 1),
        server_wait_percent: round(window.serverWaitPercent, 1),
        loadgen_wait_percent: round(window.loadgenWaitPercent, 1),
        p50_us: percentileUs(all.Totals, 'p50.00'),
        p99_us: percentileUs(all.Totals, 'p99.00'),
        p999_us: percentileUs(all.Totals, 'p99.90'),
        memtier_seconds: round(seconds, 2),
        memtier_process_seconds: round(window.seconds, 2),
        memtier_sets: all.Sets.Count,
        memtier_gets: all.Gets.Count,
        hit_ratio: keysPerS > 0 ? round(all.Gets['Hits/sec'] / keysPerS, 4) : NaN,
      };
      const gets = statNumber(statsAfter, 'cmd_get') - statNumber(statsBefore, 'cmd_get');
      const sets = statNumber(statsAfter, 'cmd_set') - statNumber(statsBefore, 'cmd_set');
      // memtier stops on time with requests unanswered: up to a full pipeline on every connection.
      const slack = MEMTIER_CONNS * profile.pipeline * profile.keysPerGet;
      const checks: Check[] = [
        {
          name: 'server stats = generator counts',
          ok: Math.abs(gets - getKeys) <= slack && Math.abs(sets - all.Sets.Count) <= slack,
          detail: `cmd_get +${gets} vs ${getKeys} keys memtier counted, cmd_set +${sets} vs ${all.Sets.Count}`,
        },
        {
          name: `generator CPU < ${GENERATOR_CPU_LIMIT_PERCENT}%`,
          ok: run.cpuPercent < GENERATOR_CPU_LIMIT_PERCENT,
          detail: `memtier used ${run.cpuPercent.toFixed(0)}% of its CPU`,
        },
        {
          name: 'no errors',
          ok: all.Totals['Connection Errors'] === 0,
          detail: `connection errors ${all.Totals['Connection Errors']}`,
        },
        { name: 'every get hits', ok: all.Gets['Misses/sec'] === 0, detail: `${all.Gets['Misses/sec']} misses/s` },
        undisturbedCheck(window, 'throughput'),
      ];
      return { figures, details, checks, loadgen: [] };
    },
  };
}

export const MEMTIER_WORKLOADS: Workload[] = PROFILES.map(memtierWorkload);

/** The project's rows the memtier rows are compared with (to run them beside: `--memtier`). */
export const MEMTIER_COMPARABLE_WORKLOADS = PROFILES.map((p) => p.comparable.workload);

/** Ratios of the two generators differing by more than this share are reported as disagreeing. */
export const MEMTIER_AGREEMENT = 0.15;

export interface MemtierComparison {
  memtierWorkload: string;
  memtierTitle: string;
  candidate: string;
  /** recordcache/memcached (median of A/B pairs) under memtier. */
  memtierRatio: number;
  /** memcached's and memtier's CPU under memtier (medians over memcached's runs). */
  memcachedCpuPercent: number;
  memtierCpuPercent: number;
  loadgenWorkload: string;
  /** recordcache/memcached of the comparable figure under loadgen; NaN where that row was not run. */
  loadgenRatio: number;
  why: string;
  /** memtier ratio / loadgen ratio − 1 beyond MEMTIER_AGREEMENT; null where there is nothing to compare. */
  disagree: boolean | null;
}

export interface MemtierSummary {
  /** memtier's version line, or null where it is not installed. */
  version: string | null;
  /** Why the rows were not run (not installed, or --no-memtier). */
  skipped: string | null;
  threads: number;
  conns: number;
  comparisons: MemtierComparison[];
}

/** The summary rows the comparison needs (structurally: report.ts's FigureSummary). */
interface SummaryRow {
  workload: string;
  candidate: string;
  figure: { id: string };
  ratio: { median: number };
  serverCpuPercent: { memcached: number };
  loadgenCpuPercent: { memcached: number };
}

/** Pairs each memtier row with its comparable loadgen row, per recordcache target. */
export function compareMemtier(summary: readonly SummaryRow[]): MemtierComparison[] {
  const out: MemtierComparison[] = [];
  for (const profile of PROFILES) {
    for (const m of summary.filter((x) => x.workload === profile.id && x.candidate && x.figure.id === profile.figures[0].id)) {
      const l = summary.find(
        (x) => x.workload === profile.comparable.workload && x.candidate === m.candidate && x.figure.id === profile.comparable.figure,
      );
      const loadgenRatio = l?.ratio.median ?? NaN;
      const both = Number.isFinite(m.ratio.median) && Number.isFinite(loadgenRatio);
      out.push({
        memtierWorkload: profile.id,
        memtierTitle: profile.title,
        candidate: m.candidate,
        memtierRatio: round(m.ratio.median, 3),
        memcachedCpuPercent: m.serverCpuPercent.memcached,
        memtierCpuPercent: m.loadgenCpuPercent.memcached,
        loadgenWorkload: profile.comparable.workload,
        loadgenRatio: round(loadgenRatio, 3),
        why: profile.comparable.why,
        disagree: both ? Math.abs(m.ratio.median / loadgenRatio - 1) > MEMTIER_AGREEMENT : null,
      });
    }
  }
  return out;
}
