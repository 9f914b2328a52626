/*
 * One run of one workload against one started server: preload, run the generator, and
 * sample the server and the machine at the moments the generator announces, so that CPU
 * and memory figures cover exactly the measurement window.
 */

import { performance } from 'node:perf_hooks';
import {
  cpuBusyShare,
  cpuTimes,
  otherCpuBetween,
  otherProcessesCpuSeconds,
  otherProcessesAnonBytes,
  processCpuSeconds,
  processRssBytes,
  processWaitSeconds,
  tcpMemoryBytes,
  usedMemoryBytes,
  type CpuTimes,
} from './procfs';
import { startLoadgen, type LoadgenArgs, type LoadgenEvent, type LoadgenProcess, type LoadgenResult } from './loadgen';
import { serverStats, sleep, statNumber, type RunningServer, type Stats, type Target } from './servers';

export interface BenchSettings {
  /** The load generator binary. */
  binary: string;
  durationS: number;
  warmupS: number;
  runs: number;
  quick: boolean;
  /** CPU the servers are pinned to, and the generator's; null runs unpinned. */
  serverCpu: number | null;
  loadgenCpu: number | null;
  /** -t of every server. */
  threads: number;
  memoryMb: number;
  maxConns: number;
  /** Progress lines for the person waiting. */
  log: (line: string) => void;
  /** Transient progress (the same line rewritten), or a no-op. */
  status: (line: string) => void;
}

/** A pass/fail fact about one run: is the measurement itself to be trusted? */
export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Figures carried from one workload to another (e.g. W1's maximum for the latency run). */
export interface Calibration {
  memcachedW1Max?: number;
}

export interface RunContext {
  settings: BenchSettings;
  server: RunningServer;
  target: Target;
  calibration: Calibration;
}

export interface Measured {
  figures: Record<string, number>;
  details: Record<string, number | string | boolean>;
  checks: Check[];
  loadgen: LoadgenResult[];
}

/** Generator CPU above this share means the generator, not the server, may be the limit. */
export const GENERATOR_CPU_LIMIT_PERCENT = 90;
/** Other programs using more than this share of a CPU count as a busy machine (before a run). */
export const OTHER_CPU_LIMIT_PERCENT = 10;
/**
 * The server or the generator waiting for its CPU longer than this share of the window
 * marks the run as disturbed: something else held the CPU it was pinned to.
 */
export const CPU_WAIT_LIMIT_PERCENT = 5;
export const DISTURBANCE_CHECK = 'other programs did not hold the server or generator CPU';
/** Server CPU share above which a throughput run counts as server-bound. */
export const SERVER_SATURATED_PERCENT = 90;

const cpuList = (cpu: number | null): string | null => (cpu === null ? null : String(cpu));

/** Sets `keys` keys of `valueSize` bytes, so the measured gets hit. */
export async function preload(
  ctx: RunContext,
  spec: { keys: number; valueSize: number | string; keyPrefix?: string },
): Promise<LoadgenResult> {
  const big = typeof spec.valueSize === 'number' && spec.valueSize > 10000;
  const generator = startLoadgen(
    {
      port: ctx.server.port,
      scenario: 'preload',
      conns: 4,
      pipeline: big ? 4 : 32,
      keys: spec.keys,
      valueSize: spec.valueSize,
      keyPrefix: spec.keyPrefix,
      tls: ctx.server.tls,
    },
    { binary: ctx.settings.binary, cpus: cpuList(ctx.settings.loadgenCpu), timeoutMs: 120000 },
  );
  const result = await generator.result;
  if (result.all.sets !== spec.keys || result.all.set_failures > 0 || result.all.errors > 0) {
    throw new Error(
      `preload of ${spec.keys} keys on ${ctx.target.label} stored ${result.all.sets - result.all.set_failures}, errors ${result.all.errors}`,
    );
  }
  return result;
}

/** CPU and time between the generator's `measure` and `drain` events. */
export interface WindowFigures {
  seconds: number;
  serverCpuSeconds: number;
  /** Server process CPU (all threads) as a share of one CPU, percent. */
  serverCpuPercent: number;
  /** Busy share of the server's CPU from /proc/stat: includes interrupts and softirqs. */
  serverCpuBusyPercent: number;
  loadgenCpuBusyPercent: number;
  /** Other programs' CPU, percent of one CPU. */
  otherCpuPercent: number;
  /** Time the server's threads were runnable but not running, percent of the window. */
  serverWaitPercent: number;
  /** The same for the generators. */
  loadgenWaitPercent: number;
}

/** Samples the server, the CPUs and other programs at the two edges of a measurement window. */
export class WindowProbe {
  private t0 = NaN;
  private t1 = NaN;
  private serverCpu0 = NaN;
  private serverCpu1 = NaN;
  private cpus0: CpuTimes | null = null;
  private cpus1: CpuTimes | null = null;
  private other0 = new Map<number, number>();
  private other1 = new Map<number, number>();
  private wait0 = NaN;
  private wait1 = NaN;
  readonly ours = new Set<number>([process.pid]);

  constructor(
    private readonly serverPid: number,
    private readonly settings: BenchSettings,
  ) {
    this.ours.add(serverPid);
  }

  begin(): void {
    this.t0 = performance.now();
    this.serverCpu0 = processCpuSeconds(this.serverPid);
    this.cpus0 = cpuTimes();
    this.wait0 = processWaitSeconds(this.serverPid);
    this.other0 = otherProcessesCpuSeconds(this.ours);
  }

  end(): void {
    this.t1 = performance.now();
    this.serverCpu1 = processCpuSeconds(this.serverPid);
    this.cpus1 = cpuTimes();
    this.wait1 = processWaitSeconds(this.serverPid);
    this.other1 = otherProcessesCpuSeconds(this.ours);
  }

  get complete(): boolean {
    return Number.isFinite(this.t0) && Number.isFinite(this.t1);
  }

  figures(): WindowFigures {
    const seconds = (this.t1 - this.t0) / 1000;
    const serverCpuSeconds = this.serverCpu1 - this.serverCpu0;
    const busy = (cpu: number | null): number =>
      cpu === null || !this.cpus0 || !this.cpus1 ? NaN : 100 * cpuBusyShare(this.cpus0, this.cpus1, cpu);
    return {
      seconds,
      serverCpuSeconds,
      serverCpuPercent: (100 * serverCpuSeconds) / seconds,
      serverCpuBusyPercent: busy(this.settings.serverCpu),
      loadgenCpuBusyPercent: busy(this.settings.loadgenCpu),
      otherCpuPercent: (100 * otherCpuBetween(this.other0, this.other1)) / seconds,
      serverWaitPercent: (100 * (this.wait1 - this.wait0)) / seconds,
      // The generators report their own: their threads are gone by the time the runner looks.
      loadgenWaitPercent: NaN,
    };
  }
}

export interface MemorySample {
  /** Seconds since sampling started. */
  t: number;
  /** The server's resident memory. */
  rss: number;
  /** The machine's used memory less every other process's anonymous memory: the server plus the kernel. */
  used: number;
  /** The machine's used memory as free(1) shows it. */
  usedRaw: number;
  /** Memory the kernel charges to TCP sockets. */
  tcp: number;
}

type MemoryField = 'rss' | 'used' | 'usedRaw' | 'tcp';

function sampleMemory(pid: number, t: number): MemorySample {
  const usedRaw = usedMemoryBytes();
  return { t, rss: processRssBytes(pid), used: usedRaw - otherProcessesAnonBytes(pid), usedRaw, tcp: tcpMemoryBytes() };
}

/** Samples the server's RSS, the machine's used memory and TCP memory at a fixed interval. */
export class MemorySampler {
  readonly samples: MemorySample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private readonly t0 = performance.now();
  /** Seconds (sampler time) when the measurement window opened and closed. */
  windowStart = NaN;
  windowEnd = NaN;

  constructor(
    private readonly pid: number,
    intervalMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  now(): number {
    return (performance.now() - this.t0) / 1000;
  }

  sample(): MemorySample {
    const s = sampleMemory(this.pid, this.now());
    this.samples.push(s);
    return s;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  peak(field: MemoryField, from = 0, to = Infinity): number {
    let peak = -Infinity;
    for (const s of this.samples) if (s.t >= from && s.t <= to && s[field] > peak) peak = s[field];
    return peak;
  }
}

/** Baseline memory: the median of a few samples, so one allocation burst does not skew it. */
export async function memoryBaseline(pid: number): Promise<MemorySample> {
  const samples: MemorySample[] = [];
  for (let i = 0; i < 3; i++) {
    samples.push(sampleMemory(pid, 0));
    await sleep(50);
  }
  const mid = (field: MemoryField): number => samples.map((s) => s[field]).sort((a, b) => a - b)[1];
  return { t: 0, rss: mid('rss'), used: mid('used'), usedRaw: mid('usedRaw'), tcp: mid('tcp') };
}

export interface LoadRun {
  results: LoadgenResult[];
  window: WindowFigures;
  statsBefore: Stats;
  statsAfter: Stats;
  sampler: MemorySampler | null;
}

export interface LoadRunOptions {
  /** Generators that run beside the measured one (the first drives the window). */
  companions?: LoadgenArgs[];
  /** Niceness of the measured generator when companions must be able to preempt it. */
  mainNice?: number;
  /**
   * Which generators (0 = the measured one, then the companions) must not have waited for
   * their CPU; default all. A bulk generator that yields to a latency probe waits by design.
   */
  waitCheckedGenerators?: number[];
  /** Memory sampling interval, or none. */
  memorySampleMs?: number;
  /** Called once the measurement window has opened. */
  onMeasure?: () => void;
  /** Other processes of this benchmark (not counted as other programs' CPU). */
  ourPids?: number[];
}

/**
 * Runs the measured generator (and any companions) to completion, sampling the server at
 * the window's edges, and the server's stats before and after.
 */
export async function runLoad(ctx: RunContext, args: LoadgenArgs, options: LoadRunOptions = {}): Promise<LoadRun> {
  const { settings, server } = ctx;
  const statsBefore = await serverStats(server.port, '', server.tls);
  const probe = new WindowProbe(server.pid, settings);
  const sampler = options.memorySampleMs ? new MemorySampler(server.pid, options.memorySampleMs) : null;
  const label = `${ctx.target.label}`;
  const onEvent = (event: LoadgenEvent): void => {
    if (event.event === 'phase' && event.phase === 'measure') {
      probe.begin();
      if (sampler) sampler.windowStart = sampler.now();
      options.onMeasure?.();
    } else if (event.event === 'phase' && event.phase === 'drain') {
      probe.end();
      if (sampler) sampler.windowEnd = sampler.now();
    } else if (event.event === 'progress' && event.requests_per_s !== undefined) {
      settings.status(`  ${label} ${event.phase}: ${formatRate(event.requests_per_s)} requests/s`);
    }
  };
  const timeoutMs = (settings.warmupS + Math.max(settings.durationS, Number(args.hold ?? 0)) + 90) * 1000;
  // The generators speak TLS to a server that does (their `tls` flag follows the server).
  const common = { port: server.port, duration: settings.durationS, warmup: settings.warmupS, progress: true, tls: server.tls };
  const spawnOptions = { binary: settings.binary, cpus: cpuList(settings.loadgenCpu), timeoutMs };
  const processes: LoadgenProcess[] = [startLoadgen({ ...common, ...args }, { ...spawnOptions, onEvent, nice: options.mainNice })];
  for (const companion of options.companions ?? []) processes.push(startLoadgen({ ...common, ...companion }, spawnOptions));
  for (const p of processes) probe.ours.add(p.pid);
  for (const pid of options.ourPids ?? []) probe.ours.add(pid);
  let results: LoadgenResult[];
  try {
    results = await Promise.all(processes.map((p) => p.result));
  } finally {
    for (const p of processes) p.stop();
    sampler?.stop();
    settings.status('');
  }
  if (!probe.complete) throw new Error('the generator never opened or closed its measurement window');
  const statsAfter = await serverStats(server.port, '', server.tls);
  const window = probe.figures();
  const checked = options.waitCheckedGenerators ?? results.map((_r, i) => i);
  window.loadgenWaitPercent = (100 * checked.reduce((sum, i) => sum + results[i].cpu_wait_s, 0)) / results[0].seconds;
  return { results, window, statsBefore, statsAfter, sampler };
}

/** The server counted every get key and set the generators sent (give or take replies in flight). */
export function countsCheck(before: Stats, after: Stats, results: readonly LoadgenResult[]): Check {
  const sentGets = results.reduce((sum, r) => sum + r.sent.get_keys, 0);
  const sentSets = results.reduce((sum, r) => sum + r.sent.sets, 0);
  const inFlight = results.reduce((sum, r) => sum + r.in_flight_at_end * Math.max(r.multiget, 1), 0);
  const gets = statNumber(after, 'cmd_get') - statNumber(before, 'cmd_get');
  const sets = statNumber(after, 'cmd_set') - statNumber(before, 'cmd_set');
  const slack = (sent: number): number => Math.max(inFlight, Math.ceil(sent * 0.001));
  const ok = Math.abs(gets - sentGets) <= slack(sentGets) && Math.abs(sets - sentSets) <= slack(sentSets);
  return {
    name: 'server stats = generator counts',
    ok,
    detail: `cmd_get +${gets} vs ${sentGets} sent, cmd_set +${sets} vs ${sentSets} sent`,
  };
}

export function generatorCheck(cpuPercent: number): Check {
  return {
    name: `generator CPU < ${GENERATOR_CPU_LIMIT_PERCENT}%`,
    ok: cpuPercent < GENERATOR_CPU_LIMIT_PERCENT,
    detail: `generator used ${cpuPercent.toFixed(0)}% of its CPU`,
  };
}

/**
 * Neither the server nor the generator was kept off its CPU by something else: on a
 * machine other programs use too, this decides whether a run measured the server or its
 * neighbours. The server's own threads also wait for each other on its one CPU (memcached's
 * LRU maintainer, Node's GC helpers), so its waits count only when its CPU was also busy
 * with something other than the server.
 */
export function undisturbedCheck(window: WindowFigures, figures: 'throughput' | 'latency'): Check {
  const foreignOnServerCpu = Math.max(0, window.serverCpuBusyPercent - window.serverCpuPercent);
  const serverDisturbed = window.serverWaitPercent >= CPU_WAIT_LIMIT_PERCENT && foreignOnServerCpu >= CPU_WAIT_LIMIT_PERCENT;
  // A waiting generator delays requests, which distorts latency always, throughput only
  // when the server was left idle for it.
  const generatorDisturbed =
    window.loadgenWaitPercent >= CPU_WAIT_LIMIT_PERCENT && (figures === 'latency' || window.serverCpuPercent < SERVER_SATURATED_PERCENT);
  return {
    name: DISTURBANCE_CHECK,
    ok: !serverDisturbed && !generatorDisturbed,
    detail:
      `server waited ${window.serverWaitPercent.toFixed(1)}% of the window while ${foreignOnServerCpu.toFixed(1)}% of its CPU went elsewhere; ` +
      `generator waited ${window.loadgenWaitPercent.toFixed(1)}%; other programs used ${window.otherCpuPercent.toFixed(0)}% of a CPU`,
  };
}

export function noErrorsCheck(results: readonly LoadgenResult[]): Check {
  const errors = results.reduce((s, r) => s + r.all.errors + r.unexpected_replies + r.connect_errors + r.disconnects, 0);
  return {
    name: 'no errors',
    ok: errors === 0,
    detail: results
      .map(
        (r) =>
          `errors ${r.all.errors}, unexpected ${r.unexpected_replies}, connect errors ${r.connect_errors}, disconnects ${r.disconnects}`,
      )
      .join('; '),
  };
}

/** Details every run reports: CPU on both sides and the generator's latency. */
export function commonDetails(run: LoadRun, measured: LoadgenResult): Record<string, number> {
  return {
    server_cpu_percent: round(run.window.serverCpuPercent, 1),
    server_cpu_busy_percent: round(run.window.serverCpuBusyPercent, 1),
    loadgen_cpu_percent: round(
      run.results.reduce((s, r) => s + r.cpu_percent, 0),
      1,
    ),
    loadgen_cpu_busy_percent: round(run.window.loadgenCpuBusyPercent, 1),
    other_cpu_percent: round(run.window.otherCpuPercent, 1),
    server_wait_percent: round(run.window.serverWaitPercent, 1),
    loadgen_wait_percent: round(run.window.loadgenWaitPercent, 1),
    p50_us: measured.latency_us.p50,
    p99_us: measured.latency_us.p99,
    p999_us: measured.latency_us.p999,
  };
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function formatRate(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)}k`;
  return value.toFixed(0);
}
