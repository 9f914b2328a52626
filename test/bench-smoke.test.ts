/*
 * Keeps the benchmark instrument working: builds the load generator, drives each server
 * for a second with a tiny W1, and renders a report from those runs. Seconds, not minutes;
 * the figures themselves come from `npm run bench`: this checks that they are reported,
 * never how large they are.
 */

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildLoadgen, probeMeta } from '../bench/lib/loadgen';
import { countsCheck, preload, runLoad, type BenchSettings, type RunContext } from '../bench/lib/measure';
import { memcachedTarget, recordcacheTarget, runningBackend, startServer, type RunningServer, type Target } from '../bench/lib/servers';
import { summarise, writeReport, type BenchResults, type RunRecord } from '../bench/lib/report';
import { machineInfo, versions } from '../bench/lib/machine';
import { W1, selectWorkloads } from '../bench/lib/workloads';
import { MEMTIER_MISSING, MEMTIER_WORKLOADS, compareMemtier, cpuPercentBetween, memtierAvailable } from '../bench/lib/memtier';
import { benchCertificate } from '../bench/lib/tls';

describe('bench smoke', function () {
  this.timeout(60000);
  let binary = '';
  const servers: RunningServer[] = [];

  before(function () {
    this.timeout(120000);
    binary = buildLoadgen();
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  const settings = (): BenchSettings => ({
    binary,
    durationS: 1,
    warmupS: 0.2,
    runs: 1,
    quick: true,
    threads: 1,
    // Unpinned: the smoke test must run on a one-CPU machine too.
    serverCpu: null,
    loadgenCpu: null,
    memoryMb: 64,
    maxConns: 1024,
    log: () => undefined,
    status: () => undefined,
  });

  const records: RunRecord[] = [];

  for (const target of [memcachedTarget(), recordcacheTarget('js')] as Target[]) {
    it(`drives ${target.label} and agrees with its stats`, async () => {
      const server = await startServer(target, { cpus: null, memoryMb: 64, maxConns: 1024 });
      servers.push(server);
      const ctx: RunContext = { settings: settings(), server, target, calibration: {} };
      await preload(ctx, { keys: 1000, valueSize: 32 });
      const run = await runLoad(ctx, { conns: 8, pipeline: 2, keys: 1000, ratio: '1:9' });
      const r = run.results[0];
      // The run is checked for what it reports, not for how fast this machine is.
      const counters: (keyof typeof r.window)[] = ['requests', 'get_requests', 'get_keys', 'hits', 'sets', 'requests_per_s', 'keys_per_s'];
      for (const name of counters)
        assert.ok(Number.isFinite(r.window[name]) && r.window[name] >= 0, `window.${name} is reported: ${r.window[name]}`);
      assert.ok(r.window.sets > 0 && r.window.get_keys > 0, 'both gets and sets completed');
      assert.equal(r.window.hits, r.window.get_keys, 'every get hit a preloaded key');
      assert.equal(r.all.errors + r.unexpected_replies + r.connect_errors, 0);
      const latency = r.latency_us;
      assert.ok(latency.count > 0, 'latencies were recorded');
      assert.ok(
        latency.p50 <= latency.p99 && latency.p99 <= latency.p999 && latency.p999 <= latency.max,
        `percentiles in order: ${JSON.stringify(latency)}`,
      );
      const check = countsCheck(run.statsBefore, run.statsAfter, run.results);
      assert.ok(check.ok, check.detail);
      // The busy shares of pinned CPUs are NaN here, where nothing is pinned.
      const figures = [
        'seconds',
        'serverCpuSeconds',
        'serverCpuPercent',
        'otherCpuPercent',
        'serverWaitPercent',
        'loadgenWaitPercent',
      ] as const;
      for (const name of figures) assert.ok(Number.isFinite(run.window[name]), `window ${name} is reported: ${run.window[name]}`);
      if (target.kind === 'recordcache') assert.equal(await runningBackend(server), 'js');
      else assert.equal(await probeMeta(binary, server.port), true, 'memcached speaks the meta protocol');
      records.push({
        workload: 'W1',
        target: target.label,
        backend: target.kind === 'recordcache' ? 'js' : null,
        run: 1,
        status: 'ok',
        figures: { ops_per_s: r.window.requests_per_s },
        details: { p50_us: r.latency_us.p50, p99_us: r.latency_us.p99, p999_us: r.latency_us.p999 },
        checks: [check],
        wallSeconds: 1,
      });
      await server.stop();
    });
  }

  // The TLS workloads' path: -Z with the run's certificate, loadgen --tls, stats over TLS.
  for (const target of [memcachedTarget(), recordcacheTarget('js')] as Target[]) {
    it(`drives ${target.label} -Z over TLS and agrees with its stats`, async function () {
      if (!fs.existsSync('/usr/include/openssl/ssl.h')) this.skip(); // loadgen built without --tls
      const server = await startServer(target, { cpus: null, memoryMb: 64, maxConns: 1024, tls: benchCertificate() });
      servers.push(server);
      assert.equal(server.tls, true);
      const ctx: RunContext = { settings: settings(), server, target, calibration: {} };
      await preload(ctx, { keys: 20, valueSize: 20000, keyPrefix: 'big:' });
      const run = await runLoad(ctx, { conns: 4, pipeline: 1, keys: 20, keyPrefix: 'big:' });
      const r = run.results[0];
      assert.equal(r.tls, true, 'the generator spoke TLS');
      assert.ok(r.window.get_keys > 0, 'gets completed');
      assert.equal(r.all.hits, r.all.get_keys, 'every get hit');
      assert.equal(r.all.value_bytes, r.all.hits * 20000, 'every value arrived whole');
      assert.equal(r.all.errors + r.unexpected_replies + r.connect_errors + r.disconnects, 0);
      const check = countsCheck(run.statsBefore, run.statsAfter, run.results);
      assert.ok(check.ok, check.detail);
      await server.stop();
    });
  }

  // The memtier rows: memtier_benchmark drives a server in place of loadgen (where it is installed).
  it('drives memcached with memtier_benchmark and agrees with its stats', async function () {
    if (!memtierAvailable()) this.skip();
    const target = memcachedTarget();
    const server = await startServer(target, { cpus: null, memoryMb: 64, maxConns: 1024 });
    servers.push(server);
    const ctx: RunContext = { settings: settings(), server, target, calibration: {} };
    const measured = await MEMTIER_WORKLOADS[0].measure(ctx);
    assert.ok(measured.figures.ops_per_s > 0, `memtier reported ops/s: ${measured.figures.ops_per_s}`);
    for (const name of ['p50_us', 'p99_us', 'p999_us', 'server_cpu_percent', 'loadgen_cpu_percent'])
      assert.ok(Number.isFinite(Number(measured.details[name])), `${name} is reported: ${measured.details[name]}`);
    assert.ok(Number(measured.details.memtier_sets) > 0 && Number(measured.details.memtier_gets) > 0, 'both gets and sets completed');
    for (const name of ['server stats = generator counts', 'no errors', 'every get hits']) {
      const check = measured.checks.find((c) => c.name === name);
      assert.ok(check?.ok, `${name}: ${check?.detail}`);
    }
    await server.stop();
  });

  it('selects the memtier rows as MT and compares their ratios with loadgen rows', () => {
    assert.deepEqual(
      selectWorkloads('MT').map((w) => w.id),
      MEMTIER_WORKLOADS.map((w) => w.id),
    );
    assert.match(MEMTIER_MISSING, /memtier_benchmark/);
    // The server's CPU over memtier's timed run, interpolated between samples: 0.75 CPU-s in 1 s.
    const trace = [
      { t: 0, cpu: 0 },
      { t: 1000, cpu: 0.5 },
      { t: 2000, cpu: 1.5 },
    ];
    assert.equal(cpuPercentBetween(trace, 500, 1500), 75);
    assert.ok(Number.isNaN(cpuPercentBetween(trace, 500, 2500)), 'no figure beyond the samples');
    const row = (workload: string, figure: string, ratio: number) => ({
      workload,
      candidate: 'recordcache/native',
      figure: { id: figure },
      ratio: { median: ratio },
      serverCpuPercent: { memcached: 50 },
      loadgenCpuPercent: { memcached: 100 },
    });
    const comparisons = compareMemtier([row('MT1', 'ops_per_s', 1.0), row('W4', 'ops_per_s', 1.3), row('MT2', 'ops_per_s', 1.1)]);
    assert.deepEqual(
      comparisons.map((c) => [c.memtierWorkload, c.loadgenWorkload, c.disagree]),
      [
        ['MT1', 'W4', true],
        ['MT2', 'W2', null],
      ],
    );
  });

  it('finds no meta protocol where `mn` is not answered with `MN`', async () => {
    // A server that answers every line as a text-protocol-only server does.
    const server = net.createServer((socket) => {
      socket.on('data', () => socket.write('ERROR\r\n'));
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as net.AddressInfo;
      assert.equal(await probeMeta(binary, port), false);
    } finally {
      server.close();
    }
  });

  it('writes a report from the runs', () => {
    assert.equal(records.length, 2, 'both servers ran');
    const targets = [
      { label: 'memcached', kind: 'memcached' as const, requestedBackend: null, runningBackend: null, available: true },
      { label: 'recordcache/js', kind: 'recordcache' as const, requestedBackend: 'js', runningBackend: 'js', available: true },
    ];
    const workloads = [{ id: W1.id, title: W1.title, description: W1.description, figures: W1.figures, runs: records }];
    const results: BenchResults = {
      schema: 1,
      generated: new Date().toISOString(),
      mode: 'quick',
      wallSeconds: 2,
      command: 'bench smoke test',
      machine: machineInfo(),
      versions: versions(binary),
      settings: { runs: 1, durationS: 1, warmupS: 0.2, serverCpu: null, loadgenCpu: null, memoryMb: 64, maxConns: 1024 },
      targets,
      workloads,
      summary: summarise(workloads, targets),
      crosscheck: null,
      memtier: { version: null, skipped: MEMTIER_MISSING, threads: 1, conns: 200, comparisons: [] },
    };
    assert.equal(results.summary.length, 1);
    assert.ok(Number.isFinite(results.summary[0].ratio.median), 'a ratio is computed');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-bench-smoke-'));
    try {
      const files = writeReport(dir, results);
      const markdown = fs.readFileSync(files[1], 'utf8');
      assert.match(markdown, /\| W1 small GET \| requests\/s \|/);
      assert.ok(markdown.includes(`memtier rows: ${MEMTIER_MISSING}`), 'a run without memtier says how to get it');
      for (const svg of files.slice(2)) assert.match(fs.readFileSync(svg, 'utf8'), /^<svg [\s\S]*<\/svg>\n$/);
      assert.equal((JSON.parse(fs.readFileSync(files[0], 'utf8')) as BenchResults).summary.length, 1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
