/*
 * The benchmark matrix: each workload is a row (or a few rows) of the report, measured the
 * same way against memcached and against recordcache.
 */

import { startLoadgen, type LoadgenArgs, type LoadgenEvent } from './loadgen';
import {
  commonDetails,
  countsCheck,
  generatorCheck,
  memoryBaseline,
  noErrorsCheck,
  preload,
  undisturbedCheck,
  round,
  runLoad,
  type Check,
  type LoadRun,
  type MemorySample,
  type Measured,
  type RunContext,
} from './measure';
import { processRssBytes } from './procfs';
import { niceness, sleep } from './servers';
import { MEMTIER_WORKLOADS } from './memtier';

export interface FigureSpec {
  id: string;
  /** What the number is, e.g. `GET/s`. */
  label: string;
  better: 'higher' | 'lower';
  /** Which plot it belongs to. */
  kind: 'throughput' | 'latency' | 'memory' | 'cpu';
}

export interface Workload {
  id: string;
  title: string;
  /** What the workload does, for the report and the README. */
  description: string;
  figures: FigureSpec[];
  /** Needs the meta protocol; a server without it is reported as unsupported. */
  needsMeta?: boolean;
  /** Uses memcached's W1 maximum from this invocation (measured first if W1 is not run). */
  needsW1Max?: boolean;
  /** Every server serves TLS only (-Z with a certificate made for the run); the generators speak it. */
  tls?: boolean;
  /** Driven by an outside generator instead of loadgen (its rows are optional). */
  tool?: 'memtier';
  measure(ctx: RunContext): Promise<Measured>;
}

const SMALL_KEYS = 100000;
const BIG_KEYS = 100;
const BIG_PREFIX = 'big:';
const W6_VALUE = 100 * 1024;
const W7_VALUE = 200 * 1024;
const W7_CONNS = 500;
const W8_IDLE_CONNS = 10000;
const W10_CONNS = 100;

const opsFigure: FigureSpec = { id: 'ops_per_s', label: 'requests/s', better: 'higher', kind: 'throughput' };
const keysFigure: FigureSpec = { id: 'keys_per_s', label: 'keys/s', better: 'higher', kind: 'throughput' };

/** A closed- or open-loop workload over preloaded keys: the shape of W1–W6 and W9. */
function throughputWorkload(spec: {
  id: string;
  title: string;
  description: string;
  preload: { keys: number; valueSize: number; keyPrefix?: string };
  load: LoadgenArgs;
  figures: FigureSpec[];
  needsMeta?: boolean;
  tls?: boolean;
}): Workload {
  return {
    id: spec.id,
    title: spec.title,
    description: spec.description,
    figures: spec.figures,
    needsMeta: spec.needsMeta,
    tls: spec.tls,
    async measure(ctx) {
      await preload(ctx, spec.preload);
      const run = await runLoad(ctx, { keys: spec.preload.keys, keyPrefix: spec.preload.keyPrefix, ...spec.load });
      const r = run.results[0];
      const valueGb = r.window.value_bytes / 1e9;
      const figures: Record<string, number> = {
        ops_per_s: round(r.window.requests_per_s, 0),
        keys_per_s: round(r.window.keys_per_s, 0),
        gb_per_s: round(r.window.value_bytes_per_s / 1e9, 4),
        cpu_s_per_gb: valueGb > 0 ? round(run.window.serverCpuSeconds / valueGb, 4) : NaN,
      };
      const details = {
        ...commonDetails(run, r),
        server_rss_mb: round(processRssBytes(ctx.server.pid) / 2 ** 20, 1),
        hit_ratio: r.all.get_keys > 0 ? round(r.all.hits / r.all.get_keys, 4) : NaN,
      };
      const checks: Check[] = [
        countsCheck(run.statsBefore, run.statsAfter, run.results),
        generatorCheck(r.cpu_percent),
        noErrorsCheck(run.results),
        undisturbedCheck(run.window, 'throughput'),
      ];
      // Whole-run counts: a reply can straddle the window's edge, its value inside and its END outside.
      if (r.all.get_keys > 0) {
        checks.push({
          name: 'every get hits',
          ok: r.all.hits === r.all.get_keys,
          detail: `${r.all.hits} hits of ${r.all.get_keys} keys`,
        });
      }
      return { figures, details, checks, loadgen: run.results };
    },
  };
}

const W1_LOAD: LoadgenArgs = { conns: 50, pipeline: 1 };
const W1_PRELOAD = { keys: SMALL_KEYS, valueSize: 32 };

export const W1 = throughputWorkload({
  id: 'W1',
  title: 'small GET',
  description: 'GET of 32 B values, 100k keys, 50 connections, no pipelining (closed loop).',
  preload: W1_PRELOAD,
  load: W1_LOAD,
  figures: [opsFigure],
});

const W2 = throughputWorkload({
  id: 'W2',
  title: 'small GET, pipelined ×16',
  description: 'W1 with 16 requests in flight on each connection.',
  preload: W1_PRELOAD,
  load: { conns: 50, pipeline: 16 },
  figures: [opsFigure],
});

const W3_16 = throughputWorkload({
  id: 'W3-16',
  title: 'multiget of 16 keys',
  description: '`get k1 … k16` of 32 B values, 100k keys, 50 connections; figure is keys/s.',
  preload: W1_PRELOAD,
  load: { conns: 50, pipeline: 1, multiget: 16 },
  figures: [keysFigure],
});

const W3_50 = throughputWorkload({
  id: 'W3-50',
  title: 'multiget of 50 keys',
  description: '`get k1 … k50` of 32 B values, 100k keys, 50 connections; figure is keys/s.',
  preload: W1_PRELOAD,
  load: { conns: 50, pipeline: 1, multiget: 50 },
  figures: [keysFigure],
});

const W4 = throughputWorkload({
  id: 'W4',
  title: '1 KB values, 1:10 set:get',
  description: '1 KB values, 100k keys, set:get 1:10, 200 connections, 10 in flight on each.',
  preload: { keys: SMALL_KEYS, valueSize: 1024 },
  load: { conns: 200, pipeline: 10, ratio: '1:10', valueSize: 1024 },
  figures: [opsFigure],
});

const W5 = throughputWorkload({
  id: 'W5',
  title: 'SET only',
  description: 'SET of 100 B values over 100k existing keys, 50 connections, 8 in flight on each.',
  preload: { keys: SMALL_KEYS, valueSize: 100 },
  load: { conns: 50, pipeline: 8, ratio: '1:0', valueSize: 100 },
  figures: [opsFigure],
});

const W6_FIGURES: FigureSpec[] = [
  { id: 'gb_per_s', label: 'GB/s of values', better: 'higher', kind: 'throughput' },
  { id: 'cpu_s_per_gb', label: 'server CPU-s per GB', better: 'lower', kind: 'cpu' },
];

const W6 = throughputWorkload({
  id: 'W6',
  title: 'GET of 100 KB values',
  description: 'GET of 100 KB values (100 keys) over 32 connections, no pipelining.',
  preload: { keys: BIG_KEYS, valueSize: W6_VALUE, keyPrefix: BIG_PREFIX },
  load: { conns: 32, pipeline: 1 },
  figures: W6_FIGURES,
});

const TLS_NOTE =
  'Every server serves TLS only (-Z, -o ssl_chain_cert=…,ssl_key=…, a self-signed P-256 certificate made with openssl ' +
  "for the run); the generator speaks TLS through the system's OpenSSL with its default TLS 1.3 settings, so it decrypts every byte.";

const W6_TLS = throughputWorkload({
  id: 'W6-TLS',
  title: 'GET of 100 KB values over TLS',
  description: `W6 over TLS. ${TLS_NOTE}`,
  preload: { keys: BIG_KEYS, valueSize: W6_VALUE, keyPrefix: BIG_PREFIX },
  load: { conns: 32, pipeline: 1 },
  figures: W6_FIGURES,
  tls: true,
});

const W9 = throughputWorkload({
  id: 'W9',
  title: 'meta protocol mg ×16 + mn',
  description: 'Pipelined `mg <key> v q k` ×16 followed by `mn`, 32 B values, 100k keys, 50 connections; figure is keys/s.',
  preload: W1_PRELOAD,
  load: { conns: 50, pipeline: 1, multiget: 16, protocol: 'meta' },
  figures: [keysFigure],
  needsMeta: true,
});

/**
 * W7's figures from a fan-out run (the bulk readers first, the small GETs second) and the
 * memory baseline before it; kmod/harness/w7-guest.js uses them in the qemu guest too.
 */
export function fanoutFigures(run: LoadRun, base: MemorySample): Pick<Measured, 'figures' | 'details'> {
  const [fan, small] = run.results;
  const sampler = run.sampler!;
  const gb = fan.window.value_bytes / 1e9;
  const mb = (bytes: number): number => round(bytes / 2 ** 20, 1);
  const figures = {
    cpu_s_per_gb: gb > 0 ? round(run.window.serverCpuSeconds / gb, 4) : NaN,
    used_mem_growth_mb: mb(sampler.peak('used') - base.used),
    small_get_p99_us: small.latency_us.p99,
    gb_per_s: round(fan.window.value_bytes_per_s / 1e9, 4),
  };
  const details = {
    ...commonDetails(run, fan),
    p50_us: small.latency_us.p50,
    p99_us: small.latency_us.p99,
    p999_us: small.latency_us.p999,
    server_rss_growth_mb: mb(sampler.peak('rss') - base.rss),
    used_mem_growth_raw_mb: mb(sampler.peak('usedRaw') - base.usedRaw),
    tcp_mem_growth_mb: mb(sampler.peak('tcp') - base.tcp),
    gb_delivered: round(gb, 3),
    rounds: fan.rounds,
    small_get_rate: round(small.window.requests_per_s, 0),
    reader_wait_percent: round((100 * fan.cpu_wait_s) / fan.seconds, 1),
    probe_wait_percent: round((100 * small.cpu_wait_s) / fan.seconds, 1),
  };
  return { figures, details };
}

/** W7: every connection asks for one 200 KB value at once and reads it slowly; small GETs run beside. */
const W7: Workload = {
  id: 'W7',
  title: 'hot-key fan-out, slow readers',
  description:
    `${W7_CONNS} connections ask for one 200 KB value at the same moment and read it at 1 MB/s each ` +
    '(SO_RCVBUF 16 KB), round after round; 4 more connections send small GETs at 2,000/s beside them. ' +
    "Figures: server CPU-seconds per GB delivered; the peak growth of the machine's used memory " +
    "(/proc/meminfo, less other processes' anonymous memory: the server plus the kernel, socket buffers of both ends included), " +
    'with the server RSS and the kernel TCP memory (/proc/net/sockstat) beside it; p99 of the small GETs.',
  figures: [
    { id: 'cpu_s_per_gb', label: 'server CPU-s per GB', better: 'lower', kind: 'cpu' },
    { id: 'used_mem_growth_mb', label: 'peak used-memory growth, MB', better: 'lower', kind: 'memory' },
    { id: 'small_get_p99_us', label: 'small GET p99 beside it, µs', better: 'lower', kind: 'latency' },
  ],
  async measure(ctx) {
    await preload(ctx, { keys: 1, valueSize: W7_VALUE, keyPrefix: 'hot:' });
    await preload(ctx, { keys: 1000, valueSize: 32 });
    const base = await memoryBaseline(ctx.server.pid);
    const run = await runLoad(
      ctx,
      { scenario: 'fanout', conns: W7_CONNS, keys: 1, keyPrefix: 'hot:', rcvbuf: 16384, readRate: 1000000 },
      {
        companions: [{ conns: 4, keys: 1000, rate: 2000, pipeline: 1 }],
        // The two generators share a CPU: the bulk reader yields to the latency probe, so
        // the small GETs' latency is the server's, not the wait for the reader's next tick.
        mainNice: niceness() === 0 ? undefined : -10,
        // Two generators on one CPU wait for each other by design; their waits are reported below.
        waitCheckedGenerators: [],
        memorySampleMs: 50,
      },
    );
    const { figures, details } = fanoutFigures(run, base);
    const [fan, small] = run.results;
    const checks = [
      countsCheck(run.statsBefore, run.statsAfter, run.results),
      generatorCheck(fan.cpu_percent + small.cpu_percent),
      noErrorsCheck(run.results),
      undisturbedCheck(run.window, 'latency'),
      { name: 'all connections open', ok: fan.connected === W7_CONNS, detail: `${fan.connected} of ${W7_CONNS}` },
    ];
    return { figures, details, checks, loadgen: run.results };
  },
};

/** W7 over TLS: the same fan-out, every connection encrypted on its own. */
const W7_TLS: Workload = {
  ...W7,
  id: 'W7-TLS',
  title: 'hot-key fan-out, slow readers, over TLS',
  description: `W7 over TLS (the small GETs too). ${TLS_NOTE}`,
  tls: true,
};

/** W8: 10,000 idle connections, then W1 at a low rate over 50 more. */
const W8: Workload = {
  id: 'W8',
  title: '10,000 idle connections',
  description:
    `${W8_IDLE_CONNS.toLocaleString('en')} connections each send one GET and then stay idle; W1 runs beside them ` +
    "at 10% of memcached's W1 maximum (open loop). Figures: server RSS growth per idle connection, and W1's p99; " +
    "the machine's used-memory growth per connection (the server plus the kernel, socket memory of both ends included) beside them.",
  figures: [
    { id: 'rss_per_idle_conn', label: 'server bytes per idle connection', better: 'lower', kind: 'memory' },
    { id: 'low_rate_p99_us', label: 'W1 p99 at 10% load, µs', better: 'lower', kind: 'latency' },
  ],
  needsW1Max: true,
  async measure(ctx) {
    const { settings, server } = ctx;
    await preload(ctx, W1_PRELOAD);
    const base = await memoryBaseline(server.pid);
    let ready = false;
    const idle = startLoadgen(
      { port: server.port, scenario: 'idle', conns: W8_IDLE_CONNS, keys: SMALL_KEYS, hold: 3600 },
      {
        binary: settings.binary,
        cpus: settings.loadgenCpu === null ? null : String(settings.loadgenCpu),
        timeoutMs: 3600 * 1000,
        onEvent: (event: LoadgenEvent) => {
          if (event.event === 'ready') ready = true;
        },
      },
    );
    try {
      const deadline = Date.now() + 90000;
      while (!ready && Date.now() < deadline) await sleep(50);
      if (!ready) throw new Error(`${W8_IDLE_CONNS} idle connections were not all answered within 90 s`);
      // Let the server finish whatever the burst of connections started (a Node server's GC too).
      await sleep(500);
      const withIdle = await memoryBaseline(server.pid);
      const rate = Math.round((ctx.calibration.memcachedW1Max ?? 100000) * 0.1);
      const run = await runLoad(ctx, { ...W1_LOAD, keys: SMALL_KEYS, rate }, { ourPids: [idle.pid] });
      idle.stop();
      const idleResult = await idle.result;
      const w1 = run.results[0];
      const conns = idleResult.connected;
      const figures = {
        rss_per_idle_conn: round((withIdle.rss - base.rss) / conns, 0),
        low_rate_p99_us: w1.latency_us.p99,
      };
      const details = {
        ...commonDetails(run, w1),
        used_mem_per_idle_conn: round((withIdle.used - base.used) / conns, 0),
        tcp_mem_per_idle_conn: round((withIdle.tcp - base.tcp) / conns, 0),
        idle_connections: conns,
        low_rate: rate,
        achieved_rate: round(w1.window.requests_per_s, 0),
      };
      const checks = [
        // The idle connections' gets came before the stats were first read.
        countsCheck(run.statsBefore, run.statsAfter, [w1]),
        generatorCheck(w1.cpu_percent),
        noErrorsCheck([w1, idleResult]),
        undisturbedCheck(run.window, 'latency'),
        { name: 'all idle connections open', ok: conns === W8_IDLE_CONNS, detail: `${conns} of ${W8_IDLE_CONNS}` },
      ];
      return { figures, details, checks, loadgen: [idleResult, w1] };
    } finally {
      idle.stop();
      await idle.result.catch(() => undefined);
    }
  },
};

/** W10: connections that request 100 KB values and never read. */
const W10: Workload = {
  id: 'W10',
  title: 'clients that never read',
  description:
    `${W10_CONNS} connections (SO_RCVBUF 4 KB) send GETs of 100 KB values as fast as the server takes them ` +
    'and never read a byte. The server must stop buffering: figure is the peak server RSS growth per ' +
    'connection; kernel TCP memory per connection and whether RSS plateaued (no growth in the last third ' +
    'of the window beyond 1 MB or 5% of the total) beside it.',
  figures: [{ id: 'buffered_per_conn', label: 'server bytes buffered per connection', better: 'lower', kind: 'memory' }],
  async measure(ctx) {
    await preload(ctx, { keys: BIG_KEYS, valueSize: W6_VALUE, keyPrefix: BIG_PREFIX });
    const base = await memoryBaseline(ctx.server.pid);
    const run = await runLoad(
      ctx,
      {
        scenario: 'noread',
        conns: W10_CONNS,
        keys: BIG_KEYS,
        keyPrefix: BIG_PREFIX,
        rcvbuf: 4096,
        warmup: 0,
        duration: Math.max(ctx.settings.durationS, 3),
      },
      { memorySampleMs: 100 },
    );
    const r = run.results[0];
    const s = run.sampler!;
    const start = s.windowStart;
    const end = s.windowEnd;
    const third = (end - start) / 3;
    const peakRss = s.peak('rss', start, end);
    const growth = peakRss - base.rss;
    const lateGrowth = s.peak('rss', end - third, end) - s.peak('rss', start, end - third);
    const plateau = lateGrowth <= Math.max(2 ** 20, 0.05 * growth);
    const figures = { buffered_per_conn: round(growth / W10_CONNS, 0) };
    const details = {
      server_cpu_percent: round(run.window.serverCpuPercent, 1),
      loadgen_cpu_percent: round(r.cpu_percent, 1),
      other_cpu_percent: round(run.window.otherCpuPercent, 1),
      server_wait_percent: round(run.window.serverWaitPercent, 1),
      tcp_mem_per_conn: round((s.peak('tcp', start, end) - base.tcp) / W10_CONNS, 0),
      used_mem_per_conn: round((s.peak('used', start, end) - base.used) / W10_CONNS, 0),
      rss_late_growth_mb: round(lateGrowth / 2 ** 20, 2),
      plateau,
      requests_sent: r.sent.get_keys,
    };
    const checks: Check[] = [
      { name: 'server memory plateaus', ok: plateau, detail: `RSS grew ${(lateGrowth / 2 ** 20).toFixed(2)} MB in the last third` },
      {
        name: 'all connections open',
        ok: r.connected === W10_CONNS && r.disconnects === 0,
        detail: `${r.connected} connected, ${r.disconnects} dropped`,
      },
      generatorCheck(r.cpu_percent),
    ];
    return { figures, details, checks, loadgen: run.results };
  },
};

/** W1 at a fixed offered load of half memcached's maximum: latency, not throughput. */
const L1: Workload = {
  id: 'L1',
  title: "W1 latency at 50% of memcached's max",
  description:
    "W1 in open loop at half of memcached's W1 maximum measured in this invocation; latency counts from " +
    "each request's scheduled send time, so a server that falls behind shows its queueing.",
  figures: [
    { id: 'p50_us', label: 'p50 latency, µs', better: 'lower', kind: 'latency' },
    { id: 'p99_us', label: 'p99 latency, µs', better: 'lower', kind: 'latency' },
  ],
  needsW1Max: true,
  async measure(ctx) {
    await preload(ctx, W1_PRELOAD);
    const rate = Math.round((ctx.calibration.memcachedW1Max ?? 100000) * 0.5);
    const run = await runLoad(ctx, { ...W1_LOAD, keys: SMALL_KEYS, rate });
    const r = run.results[0];
    const figures = { p50_us: r.latency_us.p50, p99_us: r.latency_us.p99, p999_us: r.latency_us.p999 };
    const details = {
      ...commonDetails(run, r),
      offered_rate: rate,
      achieved_rate: round(r.window.requests_per_s, 0),
      backlog_max: r.open_loop_backlog_max,
    };
    const checks = [
      countsCheck(run.statsBefore, run.statsAfter, run.results),
      generatorCheck(r.cpu_percent),
      noErrorsCheck(run.results),
      undisturbedCheck(run.window, 'latency'),
    ];
    return { figures, details, checks, loadgen: run.results };
  },
};

export const WORKLOADS: Workload[] = [W1, W2, W3_16, W3_50, W4, W5, W6, W6_TLS, W7, W7_TLS, W8, W9, W10, L1, ...MEMTIER_WORKLOADS];

/**
 * Resolves `W1,W3,L1` (a bare `W3` means both multigets, `TLS` every TLS variant, `MT` every
 * memtier row) to workloads, in matrix order. A bare `W6` is W6 alone, not W6-TLS.
 */
export function selectWorkloads(list: string | undefined): Workload[] {
  if (!list) return WORKLOADS;
  const wanted = list
    .split(',')
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  const matches = (wl: Workload, w: string): boolean =>
    wl.id === w ||
    (wl.id.startsWith(`${w}-`) && /^\d/.test(wl.id.slice(w.length + 1))) ||
    (w === 'TLS' && wl.tls === true) ||
    (w === 'MT' && wl.tool === 'memtier');
  const unknown = wanted.filter((w) => !WORKLOADS.some((wl) => matches(wl, w)));
  if (unknown.length)
    throw new Error(`unknown workload(s) ${unknown.join(', ')}; known: ${WORKLOADS.map((w) => w.id).join(', ')}, TLS, MT`);
  return WORKLOADS.filter((wl) => wanted.some((w) => matches(wl, w)));
}
