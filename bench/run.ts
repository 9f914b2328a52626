/*
 * `npm run bench`: runs the benchmark matrix against real memcached and recordcache on
 * this machine, alternating them, and writes the report under bench/results/.
 *
 *   npm run bench                      the whole matrix, 3 runs of 10 s per server
 *   npm run bench -- --quick           the whole matrix in a few minutes
 *   npm run bench -- --workloads W1,W2 --backends js --runs 5 --duration 30
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { buildLoadgen, probeMeta, type LoadgenResult } from './lib/loadgen';
import { machineInfo, versions } from './lib/machine';
import { DISTURBANCE_CHECK, OTHER_CPU_LIMIT_PERCENT, type BenchSettings, type Calibration, type Check } from './lib/measure';
import { cpuTimes } from './lib/procfs';
import { runCrosscheck, type CrosscheckResult } from './lib/crosscheck';
import {
  summarise,
  workloadResult,
  writeReport,
  type BenchResults,
  type RunRecord,
  type TargetInfo,
  type WorkloadResult,
} from './lib/report';
import {
  fileLimit,
  killAllTracked,
  memcachedTarget,
  niceness,
  otherMemcachedTarget,
  recordcacheTarget,
  runningBackend,
  setNiceness,
  sleep,
  startServer,
  type ServerOptions,
  type Target,
} from './lib/servers';
import { median } from './lib/stats';
import { W1, selectWorkloads, type Workload } from './lib/workloads';
import { benchCertificate } from './lib/tls';
import {
  MEMTIER_COMPARABLE_WORKLOADS,
  MEMTIER_CONNS,
  MEMTIER_HOWTO,
  MEMTIER_MISSING,
  MEMTIER_THREADS,
  compareMemtier,
  memtierAvailable,
  memtierVersion,
  type MemtierSummary,
} from './lib/memtier';

interface Options {
  quick: boolean;
  workloads?: string;
  backends: string[];
  runs: number;
  durationS: number;
  warmupS: number;
  crosscheck: 'yes' | 'no' | 'only';
  /** memtier_benchmark rows: where installed (auto), never, or only them and the rows they are compared with. */
  memtier: 'auto' | 'no' | 'only';
  /** Longest wait before a run for other programs to quieten down, seconds. */
  quietWaitS: number;
  /** Times a run disturbed by other programs is repeated. */
  retries: number;
  /** Niceness of servers and generators. */
  nice: number;
  out: string;
  serverCpu: number | null;
  loadgenCpu: number | null;
  /** -t of every server. */
  threads: number;
  /** Other memcached binaries compared with Debian's, like recordcache targets. */
  otherMemcached: string[];
}

const USAGE = `usage: npm run bench -- [options]
  --quick               short runs (1.5 s after 0.5 s warm-up): the whole matrix in under 5 minutes
  --workloads LIST      e.g. W1,W2,W3,L1 (W3 = W3-16 and W3-50); default: all
  --backends LIST       recordcache records backends to compare, e.g. js,native; 'none' = memcached only (default native, the server's default);
                        a backend may carry -o suboptions after '+', e.g. native+records_min_size=4096
  --runs N              runs per server and workload, alternating A B A B (default 3)
  --duration S          measured seconds per run (default 10, quick 1.5)
  --warmup S            unmeasured seconds before each run (default 2, quick 0.5)
  --no-crosscheck       skip the memcaslap cross-check
  --crosscheck-only     run only the memcaslap cross-check
  --memtier             run only the memtier_benchmark rows (MT1-MT4) and the loadgen rows they are compared
                        with (W2, W3-16, W4, W6); memtier must be installed
  --no-memtier          skip the memtier_benchmark rows (by default they run where memtier_benchmark is on the PATH)
  --nice N              niceness of servers and generators (default -20, where allowed: other programs yield to them)
  --quiet-wait S        before each run, wait up to S s for other programs to stop using CPU
                        (default 0 when the niceness was granted, else 30, quick 5)
  --retries N           repeat a run that other programs disturbed up to N times (default 1, quick 0)
  --memcached PATH[,PATH]  also measure these memcached binaries (e.g. one built from source),
                        compared with Debian's like the recordcache targets
  --out DIR             where the report goes (default bench/results)
  --server-cpu N        CPU the servers are pinned to (default 1)
  --loadgen-cpu N       CPU the load generator is pinned to (default 0)
  --unpinned            pin neither servers nor the load generator (all CPUs for all)
  --threads N           -t of every server, memcached's and recordcache's (default 1)
`;

function parseOptions(argv: string[]): Options {
  const options: Options = {
    quick: false,
    backends: ['native'],
    runs: 3,
    durationS: NaN,
    warmupS: NaN,
    crosscheck: 'yes',
    memtier: 'auto',
    quietWaitS: NaN,
    retries: NaN,
    nice: -20,
    out: path.resolve(__dirname, 'results'),
    serverCpu: 1,
    loadgenCpu: 0,
    threads: 1,
    otherMemcached: [],
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [name, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    const number = (): number => {
      const v = Number(value());
      if (!Number.isFinite(v) || v < 0) throw new Error(`${name} needs a non-negative number`);
      return v;
    };
    switch (name) {
      case '--quick':
        options.quick = true;
        break;
      case '--workloads':
        options.workloads = value();
        break;
      case '--backends': {
        const list = value();
        options.backends =
          list === 'none'
            ? []
            : list
                .split(',')
                .map((b) => b.trim())
                .filter(Boolean);
        break;
      }
      case '--runs':
        options.runs = Math.max(1, Math.round(number()));
        break;
      case '--duration':
        options.durationS = number();
        break;
      case '--warmup':
        options.warmupS = number();
        break;
      case '--no-crosscheck':
        options.crosscheck = 'no';
        break;
      case '--crosscheck-only':
        options.crosscheck = 'only';
        break;
      case '--quiet-wait':
        options.quietWaitS = number();
        break;
      case '--retries':
        options.retries = Math.round(number());
        break;
      case '--nice':
        options.nice = Math.round(Number(value()));
        if (!Number.isFinite(options.nice)) throw new Error('--nice needs a number');
        break;
      case '--out':
        options.out = path.resolve(value());
        break;
      case '--memcached':
        options.otherMemcached = value()
          .split(',')
          .map((p) => path.resolve(p.trim()))
          .filter(Boolean);
        break;
      case '--server-cpu':
        options.serverCpu = Math.round(number());
        break;
      case '--loadgen-cpu':
        options.loadgenCpu = Math.round(number());
        break;
      case '--unpinned':
        options.serverCpu = null;
        options.loadgenCpu = null;
        break;
      case '--threads':
        options.threads = Math.max(1, Math.round(number()));
        break;
      case '--memtier':
        options.memtier = 'only';
        break;
      case '--no-memtier':
        options.memtier = 'no';
        break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option ${arg}\n${USAGE}`);
    }
  }
  // --memtier alone: the memtier rows beside their loadgen counterparts, nothing else.
  if (options.memtier === 'only' && options.workloads === undefined) {
    options.workloads = ['MT', ...MEMTIER_COMPARABLE_WORKLOADS].join(',');
    options.crosscheck = 'no';
  }
  if (Number.isNaN(options.durationS)) options.durationS = options.quick ? 1.5 : 10;
  if (Number.isNaN(options.warmupS)) options.warmupS = options.quick ? 0.5 : 2;
  // Quick mode keeps to its time budget; a disturbed run stays in the report, flagged.
  if (Number.isNaN(options.retries)) options.retries = options.quick ? 0 : 1;
  return options;
}

function requirePrograms(): void {
  const missing = ['memcached', 'memcaslap', 'taskset', 'prlimit', process.env.CC ?? 'cc'].filter((program) => {
    try {
      execFileSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' });
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) throw new Error(`missing ${missing.join(', ')}: run \`bash bench/setup.sh\` (as root) first`);
}

/** Keeps the runner itself off the server's CPU: it samples /proc while the server works. */
function pinSelf(cpu: number | null): void {
  if (cpu === null) return;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
  } catch {
    // Unpinned, the runner's sampling shows up as "other" CPU at worst.
  }
}

function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The generator's output as kept in results.json: small enough to commit, enough to audit a figure. */
function trimLoadgen(r: LoadgenResult): Partial<LoadgenResult> {
  const w = r.window;
  return {
    scenario: r.scenario,
    protocol: r.protocol,
    mode: r.mode,
    conns: r.conns,
    connected: r.connected,
    pipeline: r.pipeline,
    multiget: r.multiget,
    rate: r.rate,
    seconds: r.seconds,
    window: {
      ...w,
      requests_per_s: Math.round(w.requests_per_s),
      keys_per_s: Math.round(w.keys_per_s),
      value_bytes_per_s: Math.round(w.value_bytes_per_s),
    },
    sent: r.sent,
    latency_us: r.latency_us,
    cpu_percent: r.cpu_percent,
    cpu_wait_s: r.cpu_wait_s,
  };
}

/** Passed checks keep their names only; a failed one keeps what it saw. */
function trimChecks(checks: Check[]): Check[] {
  return checks.map((c) => (c.ok ? { name: c.name, ok: true, detail: '' } : c));
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (process.platform !== 'linux') throw new Error('the benchmarks read /proc and pin CPUs: Linux only');
  requirePrograms();
  const cpus = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  if (cpus < 2) {
    options.serverCpu = null;
    options.loadgenCpu = null;
  }
  setNiceness(options.nice);
  if (Number.isNaN(options.quietWaitS)) options.quietWaitS = niceness() !== 0 ? 0 : options.quick ? 5 : 30;
  const machine = machineInfo();
  const binary = buildLoadgen();
  pinSelf(options.loadgenCpu);
  const started = performance.now();
  const tty = process.stdout.isTTY === true;
  const settings: BenchSettings = {
    binary,
    durationS: options.durationS,
    warmupS: options.warmupS,
    runs: options.runs,
    quick: options.quick,
    serverCpu: options.serverCpu,
    loadgenCpu: options.loadgenCpu,
    threads: options.threads,
    memoryMb: 1024,
    // Above W8's 10,000 idle connections, within what this machine lets a process open.
    maxConns: Math.min(20000, Math.floor((fileLimit() - 100) / 1000) * 1000),
    log: (line) => process.stdout.write(`${tty ? '\r\x1b[K' : ''}${line}\n`),
    status: (line) => {
      if (tty) process.stdout.write(`\r\x1b[K${line}`);
    },
  };
  const serverOptions: ServerOptions = {
    cpus: settings.serverCpu === null ? null : String(settings.serverCpu),
    memoryMb: settings.memoryMb,
    maxConns: settings.maxConns,
    threads: settings.threads,
  };
  settings.log(
    `recordcache benchmark: ${machine.nproc} CPUs (${machine.cpuModel}), ${machine.kernel}; servers on CPU ${settings.serverCpu ?? 'any'}, ` +
      `loadgen on CPU ${settings.loadgenCpu ?? 'any'}, niceness ${niceness()}; ${settings.runs} runs × ${settings.durationS} s (+${settings.warmupS} s warm-up)`,
  );
  if (cpus < 2) settings.log('warning: one CPU: server and generator share it, so ratios mean little');

  // Which recordcache backends really run here: `stats settings` says which one started.
  const targets: TargetInfo[] = [{ label: 'memcached', kind: 'memcached', requestedBackend: null, runningBackend: null, available: true }];
  const compared: Target[] = [memcachedTarget()];
  let workloads = options.crosscheck === 'only' ? [] : selectWorkloads(options.workloads);
  let memtierSkipped: string | null = null;
  if (workloads.some((w) => w.tool === 'memtier')) {
    if (options.memtier === 'no') memtierSkipped = 'skipped (--no-memtier)';
    else if (!memtierAvailable()) {
      if (options.memtier === 'only') throw new Error(`--memtier needs memtier_benchmark on the PATH: ${MEMTIER_HOWTO}`);
      memtierSkipped = MEMTIER_MISSING;
      settings.log(MEMTIER_MISSING);
    }
    if (memtierSkipped) workloads = workloads.filter((w) => w.tool !== 'memtier');
  }
  const memtierRan = workloads.some((w) => w.tool === 'memtier');
  if (memtierRan) settings.log(`memtier rows: ${memtierVersion()}, ${MEMTIER_THREADS} thread × ${MEMTIER_CONNS / MEMTIER_THREADS} clients`);
  if (workloads.length) {
    for (const binary of options.otherMemcached) {
      const target = otherMemcachedTarget(binary);
      targets.push({ label: target.label, kind: 'memcached', requestedBackend: null, runningBackend: null, available: true, note: binary });
      compared.push(target);
      settings.log(`${target.label}: ${binary}`);
    }
    for (const backend of options.backends) {
      const target = recordcacheTarget(backend);
      const info: TargetInfo = {
        label: target.label,
        kind: 'recordcache',
        requestedBackend: backend,
        runningBackend: null,
        available: false,
      };
      try {
        const server = await startServer(target, serverOptions);
        try {
          info.runningBackend = await runningBackend(server);
        } finally {
          await server.stop();
        }
        info.available = info.runningBackend === target.backend;
        if (!info.available) info.note = `asked for --records=${backend}, the server ran '${info.runningBackend ?? 'unknown'}'`;
      } catch (err) {
        info.note = (err as Error).message.split('\n')[0];
      }
      targets.push(info);
      if (info.available) compared.push(target);
      settings.log(`${target.label}: ${info.available ? `records backend ${info.runningBackend}` : `not measured (${info.note})`}`);
    }
  }

  const calibration: Calibration = {};
  const results: WorkloadResult[] = [];
  const totalRuns = workloads.length * settings.runs * compared.length;
  let doneRuns = 0;
  let runSeconds = 0;

  const ensureCalibration = async (): Promise<void> => {
    if (calibration.memcachedW1Max !== undefined) return;
    settings.log("measuring memcached's W1 maximum (for the fixed-rate runs)");
    const server = await startServer(memcachedTarget(), serverOptions);
    try {
      const measured = await W1.measure({ settings, server, target: memcachedTarget(), calibration });
      calibration.memcachedW1Max = measured.figures.ops_per_s;
      settings.log(`  memcached W1 maximum: ${Math.round(calibration.memcachedW1Max).toLocaleString('en')} requests/s`);
    } finally {
      await server.stop();
    }
  };

  for (const workload of workloads) {
    if (workload.needsW1Max) await ensureCalibration();
    settings.log(`${workload.id} ${workload.title}: ${workload.description}`);
    const runs: RunRecord[] = [];
    const unsupported = new Set<string>();
    for (let run = 1; run <= settings.runs; run++) {
      for (const target of compared) {
        let record = await runQuietly(workload, target, run, settings, serverOptions, calibration, unsupported, options.quietWaitS);
        for (let retry = 0; retry < options.retries && isDisturbed(record); retry++) {
          settings.log(`  ${workload.id} run ${run} ${target.label}: disturbed by other programs, repeating it`);
          record = await runQuietly(workload, target, run, settings, serverOptions, calibration, unsupported, options.quietWaitS);
        }
        runs.push(record);
        doneRuns++;
        runSeconds += record.wallSeconds;
        const eta = (runSeconds / doneRuns) * (totalRuns - doneRuns);
        const figures =
          record.status === 'ok'
            ? workload.figures.map((f) => `${f.label} ${formatFigureForLog(record.figures[f.id])}`).join(', ')
            : `${record.status}${record.error ? `: ${record.error.split('\n')[0]}` : ''}`;
        const cpu =
          record.status === 'ok' && typeof record.details.server_cpu_percent === 'number'
            ? ` | server CPU ${Number(record.details.server_cpu_percent).toFixed(0)}%, ${workload.tool ?? 'loadgen'} CPU ${Number(record.details.loadgen_cpu_percent).toFixed(0)}%`
            : '';
        const failed = record.checks.filter((c) => !c.ok).map((c) => c.name);
        settings.log(
          `[${String(doneRuns).padStart(String(totalRuns).length)}/${totalRuns} ${formatDuration((performance.now() - started) / 1000)}, ` +
            `~${formatDuration(eta)} left] ${workload.id} run ${run}/${settings.runs} ${target.label}: ${figures}${cpu}` +
            (failed.length ? ` | CHECK FAILED: ${failed.join(', ')}` : ''),
        );
      }
    }
    results.push(workloadResult(workload, runs));
    if (workload.id === 'W1') {
      const max = median(runs.filter((r) => r.target === 'memcached' && r.status === 'ok').map((r) => r.figures.ops_per_s));
      if (Number.isFinite(max)) calibration.memcachedW1Max = max;
    }
  }

  let crosscheck: CrosscheckResult | null = null;
  if (options.crosscheck !== 'no') {
    settings.log('cross-check: memcaslap and loadgen against memcached, alternating');
    crosscheck = await runCrosscheck(settings, options.quick ? 1 : settings.runs);
  }

  const figureSummary = summarise(results, targets);
  const memtier: MemtierSummary | null =
    memtierRan || memtierSkipped
      ? {
          version: memtierRan ? memtierVersion() : null,
          skipped: memtierSkipped,
          threads: MEMTIER_THREADS,
          conns: MEMTIER_CONNS,
          comparisons: compareMemtier(figureSummary),
        }
      : null;
  const report: BenchResults = {
    schema: 1,
    generated: new Date().toISOString(),
    mode: options.quick ? 'quick' : 'full',
    wallSeconds: Math.round((performance.now() - started) / 1000),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    machine,
    versions: versions(binary),
    settings: {
      runs: settings.runs,
      durationS: settings.durationS,
      warmupS: settings.warmupS,
      serverCpu: settings.serverCpu,
      loadgenCpu: settings.loadgenCpu,
      threads: settings.threads,
      memoryMb: settings.memoryMb,
      maxConns: settings.maxConns,
      niceness: niceness(),
    },
    targets,
    workloads: results,
    summary: figureSummary,
    crosscheck,
    memtier,
  };
  const written = writeReport(options.out, report);
  settings.log(`\nwrote ${written.map((f) => path.relative(process.cwd(), f)).join(', ')} in ${formatDuration(report.wallSeconds)}`);
  const markdown = fs.readFileSync(written[1], 'utf8');
  const summary = markdown.slice(markdown.indexOf('## Summary'), markdown.indexOf('## Per run')).trim();
  settings.log(`\n${summary}`);
  if (crosscheck) settings.log(`\n${markdownSection(markdown, '## Cross-check')}`);
  if (memtier?.comparisons.length) settings.log(`\n${markdownSection(markdown, '## memtier_benchmark')}`);
}

/** A report section: from its heading to the next one. */
function markdownSection(markdown: string, heading: string): string {
  const start = markdown.indexOf(heading);
  if (start < 0) return '';
  const end = markdown.indexOf('\n## ', start + heading.length);
  return markdown.slice(start, end < 0 ? undefined : end).trim();
}

function formatFigureForLog(value: number): string {
  if (!Number.isFinite(value)) return '–';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en');
  return String(value);
}

/** The server or the generator was kept off its CPU: the figures may be the neighbours' as much as the server's. */
function isDisturbed(record: RunRecord): boolean {
  return record.status === 'ok' && record.checks.some((c) => !c.ok && c.name === DISTURBANCE_CHECK);
}

/**
 * Waits (bounded) until the machine is quiet: both CPUs' busy time, with nothing of ours
 * running, is what other programs use.
 */
async function waitForQuiet(settings: BenchSettings, maxSeconds: number): Promise<void> {
  const deadline = performance.now() + maxSeconds * 1000;
  let reported = false;
  for (;;) {
    const before = cpuTimes();
    await sleep(100);
    const after = cpuTimes();
    const busy = before.busy.reduce((sum, _b, cpu) => sum + (after.busy[cpu] - before.busy[cpu]), 0);
    const total = before.total.reduce((sum, _t, cpu) => sum + (after.total[cpu] - before.total[cpu]), 0);
    // Shares of one CPU: busy ticks over the ticks of one CPU in that time.
    const otherPercent = total > 0 ? (100 * busy * before.total.length) / total : 0;
    if (otherPercent < OTHER_CPU_LIMIT_PERCENT) return;
    if (performance.now() > deadline) {
      settings.log(`  other programs still use ${otherPercent.toFixed(0)}% of a CPU; measuring anyway`);
      return;
    }
    if (!reported) settings.status(`  waiting for other programs to quieten (${otherPercent.toFixed(0)}% of a CPU)`);
    reported = true;
  }
}

async function runQuietly(
  workload: Workload,
  target: Target,
  run: number,
  settings: BenchSettings,
  serverOptions: ServerOptions,
  calibration: Calibration,
  unsupported: Set<string>,
  quietWaitS: number,
): Promise<RunRecord> {
  if (quietWaitS > 0) await waitForQuiet(settings, quietWaitS);
  return runOnce(workload, target, run, settings, serverOptions, calibration, unsupported);
}

async function runOnce(
  workload: Workload,
  target: Target,
  run: number,
  settings: BenchSettings,
  serverOptions: ServerOptions,
  calibration: Calibration,
  unsupported: Set<string>,
): Promise<RunRecord> {
  const began = performance.now();
  const record: RunRecord = {
    workload: workload.id,
    target: target.label,
    backend: null,
    run,
    status: 'ok',
    figures: {},
    details: {},
    checks: [],
    wallSeconds: 0,
  };
  if (unsupported.has(target.label)) {
    record.status = 'unsupported';
    return record;
  }
  try {
    const server = await startServer(target, workload.tls ? { ...serverOptions, tls: benchCertificate() } : serverOptions);
    try {
      if (target.kind === 'recordcache') record.backend = await runningBackend(server);
      if (workload.needsMeta && !(await probeMeta(settings.binary, server.port))) {
        unsupported.add(target.label);
        record.status = 'unsupported';
        record.error = 'no meta protocol (`mn` not answered with `MN`)';
        return record;
      }
      const measured = await workload.measure({ settings, server, target, calibration });
      record.figures = measured.figures;
      record.details = measured.details;
      record.checks = trimChecks(measured.checks);
      record.loadgen = measured.loadgen.map(trimLoadgen);
      if (server.hasExited()) throw new Error(`${target.label} exited during the run: ${server.recentOutput().slice(-300)}`);
    } finally {
      await server.stop();
    }
  } catch (err) {
    record.status = 'failed';
    record.error = (err as Error).message;
  } finally {
    record.wallSeconds = Math.round((performance.now() - began) / 100) / 10;
  }
  return record;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killAllTracked();
    process.stderr.write(`\nbench: ${signal}, servers and generators stopped\n`);
    process.exit(130);
  });
}

main().catch((err: Error) => {
  killAllTracked();
  process.stderr.write(`bench: ${err.message}\n`);
  process.exit(1);
});
