// SPDX-License-Identifier: GPL-2.0
//
// w7-guest.js - W7 (hot-key fan-out, slow readers) in the qemu guest, measured with the
// benchmark runner's own code: bench/lib (compiled into /app/bench/lib) starts and pins
// the servers, preloads, runs the loadgen, samples /proc over the measurement window and
// checks the run, exactly as bench/lib/workloads.ts W7 does.  What differs is the load.
//
// W7 asks for 500 connections x 1 MB/s (500 MB/s of slow reading) plus 2,000 small
// GETs/s.  Under TCG the guest's CPU 0 (generators, loopback softirqs, the sampler)
// saturates long before that: the small GETs then fall to a few hundred per second and
// their p99 becomes the generator's backlog (seconds), not the server's latency.  So by
// default the rates are scaled to what the guest carries, keeping the shape W7 is about:
// 500 connections, one 200 KB value, SO_RCVBUF 16 KB (so each value sits mostly in the
// server's socket queues), reading at 100 KB/s each (50 MB/s in all), and 200 small
// GETs/s on 4 connections beside them.  --exact runs W7's own rates.  --tls is W7-TLS:
// every server serves TLS only (-Z, the certificate stage-app.sh put in /app/tls) and
// the generators speak it (a loadgen built with OpenSSL).  --memcached-ktls adds
// memcached -o ssl_kernel_tls (the kernel encrypts its sends; needs the tls module).
//
//   node w7-guest.js [--backends native,kmod] [--runs 3] [--duration 10] [--warmup 2]
//                    [--read-rate B/s] [--small-rate N/s] [--conns N] [--sample-ms MS]
//                    [--retries N] [--exact] [--tls [--memcached-ktls]] [--out DIR]
//
// Writes DIR/results.json in the runner's shape (targets, workloads[0] = W7 runs), which
// w7-table.js turns into the table.  Two checks are added to the runner's: the
// generators' CPU (guest CPU 0) was not saturated, and the small GETs ran at the rate
// asked for; a run failing them measured the guest, not the server.  A run that fails a
// check is repeated (--retries, default 1): a TCG guest slows down whenever the host's
// other programs take its threads' CPUs, which the guest cannot see.
'use strict';

const { execFileSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const lib = process.env.RECORDS_BENCH_LIB || '/app/bench/lib';
const measure = require(path.join(lib, 'measure.js'));
const servers = require(path.join(lib, 'servers.js'));
const { machineInfo } = require(path.join(lib, 'machine.js'));
const { fanoutFigures } = require(path.join(lib, 'workloads.js'));

const W7_VALUE = 200 * 1024;

function parse(argv) {
  const o = {
    backends: ['native', 'kmod'],
    runs: 3,
    duration: 10,
    warmup: 2,
    conns: 500,
    readRate: 100000,
    smallRate: 200,
    sampleMs: 200,
    out: '/tmp/w7',
    exact: false,
    tls: false,
    memcachedKtls: false,
    retries: 1,
    binary: process.env.RECORDS_BENCH_LOADGEN || '/app/bench/build/loadgen',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    const n = () => {
      const x = Number(v());
      if (!Number.isFinite(x) || x < 0) throw new Error(`${a} needs a number`);
      return x;
    };
    switch (a) {
      case '--backends': o.backends = v().split(',').filter(Boolean); break;
      case '--runs': o.runs = Math.max(1, Math.round(n())); break;
      case '--duration': o.duration = n(); break;
      case '--warmup': o.warmup = n(); break;
      case '--conns': o.conns = Math.round(n()); break;
      case '--read-rate': o.readRate = n(); break;
      case '--small-rate': o.smallRate = n(); break;
      case '--sample-ms': o.sampleMs = Math.max(10, Math.round(n())); break;
      case '--out': o.out = v(); break;
      case '--exact': o.exact = true; break;
      case '--tls': o.tls = true; break;
      case '--memcached-ktls': o.memcachedKtls = true; break;
      case '--retries': o.retries = Math.round(n()); break;
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (o.exact) Object.assign(o, { conns: 500, readRate: 1000000, smallRate: 2000, sampleMs: 50 });
  return o;
}

const round = measure.round;
const log = (line) => process.stdout.write(`${line}\n`);

async function measureW7(ctx, o) {
  await measure.preload(ctx, { keys: 1, valueSize: W7_VALUE, keyPrefix: 'hot:' });
  await measure.preload(ctx, { keys: 1000, valueSize: 32 });
  const base = await measure.memoryBaseline(ctx.server.pid);
  const run = await measure.runLoad(
    ctx,
    { scenario: 'fanout', conns: o.conns, keys: 1, keyPrefix: 'hot:', rcvbuf: 16384, readRate: o.readRate },
    {
      companions: [{ conns: 4, keys: 1000, rate: o.smallRate, pipeline: 1 }],
      waitCheckedGenerators: [],
      memorySampleMs: o.sampleMs,
    },
  );
  const { figures, details } = fanoutFigures(run, base);
  const [fan, small] = run.results;
  const busy0 = run.window.loadgenCpuBusyPercent;
  const checks = [
    measure.countsCheck(run.statsBefore, run.statsAfter, run.results),
    measure.generatorCheck(fan.cpu_percent + small.cpu_percent),
    measure.noErrorsCheck(run.results),
    measure.undisturbedCheck(run.window, 'latency'),
    { name: 'all connections open', ok: fan.connected === o.conns, detail: `${fan.connected} of ${o.conns}` },
    {
      name: 'generator CPU not saturated',
      ok: !(busy0 >= measure.GENERATOR_CPU_LIMIT_PERCENT),
      detail: `the generators' CPU was ${Number(busy0).toFixed(0)}% busy (generators, loopback softirqs, the sampler)`,
    },
    {
      name: 'small GETs at the rate asked',
      ok: small.window.requests_per_s >= 0.95 * o.smallRate,
      detail: `${round(small.window.requests_per_s, 0)} of ${o.smallRate}/s`,
    },
  ];
  return { figures, details, checks };
}

async function main() {
  const o = parse(process.argv.slice(2));
  const cpus = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  const serverCpu = cpus >= 2 ? 1 : null;
  const loadgenCpu = cpus >= 2 ? 0 : null;
  servers.setNiceness(0);
  if (loadgenCpu !== null) {
    try {
      execFileSync('taskset', ['-a', '-p', '-c', String(loadgenCpu), String(process.pid)], { stdio: 'ignore' });
    } catch {
      // Unpinned: the sampler's CPU then shows up beside the server's.
    }
  }
  const settings = {
    binary: o.binary,
    durationS: o.duration,
    warmupS: o.warmup,
    runs: o.runs,
    quick: false,
    serverCpu,
    loadgenCpu,
    memoryMb: 1024,
    maxConns: Math.min(20000, Math.floor((servers.fileLimit() - 100) / 1000) * 1000),
    log,
    status: () => {},
  };
  const serverOptions = { cpus: serverCpu === null ? null : String(serverCpu), memoryMb: 1024, maxConns: settings.maxConns };
  if (o.tls) serverOptions.tls = { cert: process.env.RECORDS_BENCH_TLS_CERT || '/app/tls/server.crt', key: process.env.RECORDS_BENCH_TLS_KEY || '/app/tls/server.key' };
  const workloadId = o.tls ? 'W7-TLS' : 'W7';
  const started = Date.now();
  const targets = [{ label: 'memcached', kind: 'memcached', requestedBackend: null, runningBackend: null, available: true }];
  const compared = [servers.memcachedTarget()];
  if (o.tls && o.memcachedKtls) {
    // Debian's memcached handing its session keys to the kernel (SSL_OP_ENABLE_KTLS).
    const target = { kind: 'memcached', label: 'memcached -o ssl_kernel_tls', suboptions: 'ssl_kernel_tls' };
    targets.push({ label: target.label, kind: 'memcached', requestedBackend: null, runningBackend: null, available: true });
    compared.push(target);
  }
  for (const backend of o.backends) {
    const target = servers.recordcacheTarget(backend);
    const info = { label: target.label, kind: 'recordcache', requestedBackend: backend, runningBackend: null, available: false };
    try {
      const server = await servers.startServer(target, serverOptions);
      try {
        info.runningBackend = (await servers.serverStats(server.port, 'settings', server.tls)).get('records_backend') || null;
      } finally {
        await server.stop();
      }
      info.available = info.runningBackend === backend;
      if (!info.available) info.note = `asked for --records=${backend}, the server ran '${info.runningBackend || 'unknown'}'`;
    } catch (err) {
      info.note = String(err.message).split('\n')[0];
    }
    targets.push(info);
    if (info.available) compared.push(target);
    log(`${target.label}: ${info.available ? `records backend ${info.runningBackend}` : `not measured (${info.note})`}`);
  }
  log(
    `${workloadId} in the guest: ${o.conns} connections x ${W7_VALUE / 1024} KB at ${o.readRate / 1000} KB/s each, ` +
      `${o.smallRate} small GETs/s; ${o.runs} runs x ${o.duration} s (+${o.warmup} s) per server, alternating`,
  );
  const oneRun = async (target, r) => {
    const began = Date.now();
    const record = { workload: workloadId, target: target.label, backend: null, run: r, status: 'ok', figures: {}, details: {}, checks: [], wallSeconds: 0 };
    try {
      const server = await servers.startServer(target, serverOptions);
      try {
        if (target.kind === 'recordcache') {
          record.backend = (await servers.serverStats(server.port, 'settings', server.tls)).get('records_backend') || null;
        }
        Object.assign(record, await measureW7({ settings, server, target, calibration: {} }, o));
        if (server.hasExited()) throw new Error(`${target.label} exited during the run`);
      } finally {
        await server.stop();
      }
    } catch (err) {
      record.status = 'failed';
      record.error = String(err.message);
    }
    record.wallSeconds = round((Date.now() - began) / 1000, 1);
    const f = record.figures;
    const failed = record.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`);
    log(
      `run ${r}/${o.runs} ${target.label}: ` +
        (record.status === 'ok'
          ? `CPU-s/GB ${f.cpu_s_per_gb}, used-memory growth ${f.used_mem_growth_mb} MB, small GET p99 ${f.small_get_p99_us} us, ` +
            `${f.gb_per_s} GB/s, server CPU ${record.details.server_cpu_percent}%, generator CPU busy ${record.details.loadgen_cpu_busy_percent}%`
          : `FAILED: ${record.error.split('\n')[0]}`) +
        (failed.length ? ` | CHECK FAILED: ${failed.join('; ')}` : ''),
    );
    return record;
  };
  const runs = [];
  for (let r = 1; r <= o.runs; r++) {
    for (const target of compared) {
      let record;
      for (let attempt = 1; ; attempt++) {
        record = await oneRun(target, r);
        record.details.attempts = attempt;
        const valid = record.status === 'ok' && record.checks.every((c) => c.ok);
        if (valid || attempt > o.retries) break;
        log(`  repeating run ${r} of ${target.label}: it failed a check`);
      }
      runs.push(record);
    }
  }
  const results = {
    schema: 1,
    generated: new Date().toISOString(),
    mode: o.exact ? 'guest, W7 rates' : 'guest, scaled rates',
    wallSeconds: Math.round((Date.now() - started) / 1000),
    command: `w7-guest.js ${process.argv.slice(2).join(' ')}`.trim(),
    machine: machineInfo(),
    settings: { ...o, serverCpu, loadgenCpu, maxConns: settings.maxConns },
    targets,
    workloads: [{ id: workloadId, title: `hot-key fan-out, slow readers${o.tls ? ', over TLS' : ''} (guest)`, runs }],
  };
  fs.mkdirSync(o.out, { recursive: true });
  fs.writeFileSync(path.join(o.out, 'results.json'), JSON.stringify(results, null, 1));
  log(`wrote ${path.join(o.out, 'results.json')} in ${results.wallSeconds} s`);
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    servers.killAllTracked();
    process.exit(130);
  });
}

main().catch((err) => {
  servers.killAllTracked();
  process.stderr.write(`w7-guest: ${err.stack || err.message}\n`);
  process.exit(1);
});
