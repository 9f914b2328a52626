/*
 * The outside cross-check: libmemcached's memcaslap and our generator drive the same
 * memcached with the same mix and the same number of connections, alternately; their
 * throughput figures should agree. memcaslap's defaults set the shape: 64 B keys, 1 KB
 * values, 16 connections on one thread.
 */

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { preload, round, runLoad, type BenchSettings } from './measure';
import { processCpuSeconds } from './procfs';
import { boostPriority, launchPrefix, memcachedTarget, startServer, track } from './servers';
import { spread, type Spread } from './stats';

const CONNS = 16;
const KEY_SIZE = 64;
const VALUE_SIZE = 1024;
/** memcaslap's task window: 10k keys per connection. */
const KEYS = CONNS * 10240;
/** Agreement the cross-check asks for. */
export const AGREEMENT = 0.15;
/** memcached's CPU share at which a tool counts as having saturated it. */
export const SATURATED_PERCENT = 90;

interface Mix {
  id: string;
  title: string;
  /** memcaslap -F configuration; null for its defaults (get:set 9:1). */
  memcaslapConfig: string | null;
  ratio: string;
}

const config = (setShare: number, getShare: number): string =>
  `key\n${KEY_SIZE} ${KEY_SIZE} 1\nvalue\n${VALUE_SIZE} ${VALUE_SIZE} 1\ncmd\n0 ${setShare.toFixed(1)}\n1 ${getShare.toFixed(1)}\n`;

export const MIXES: Mix[] = [
  { id: 'get9-set1', title: 'get:set 9:1 (memcaslap default)', memcaslapConfig: null, ratio: '1:9' },
  { id: 'get', title: 'GET only', memcaslapConfig: config(0, 1), ratio: '0:1' },
  { id: 'set', title: 'SET only', memcaslapConfig: config(1, 0), ratio: '1:0' },
];

export interface CrosscheckToolRun {
  tool: 'memcaslap' | 'loadgen';
  run: number;
  opsPerS: number;
  /** The tool's own CPU, percent of its one CPU (memcaslap: its busiest second). */
  toolCpuPercent: number;
  /** memcached's CPU while the tool ran, percent of one CPU (under memcaslap: its busiest second). */
  serverCpuPercent: number;
}

export interface CrosscheckMixResult {
  id: string;
  title: string;
  runs: CrosscheckToolRun[];
  memcaslap: Spread;
  loadgen: Spread;
  /** loadgen / memcaslap, medians. */
  ratio: number;
  /** Within AGREEMENT; null where memcaslap did not drive memcached to saturation, so it measured itself. */
  agree: boolean | null;
  memcaslapCpuPercent: number;
  loadgenCpuPercent: number;
  memcachedCpuPercentUnderMemcaslap: number;
  memcachedCpuPercentUnderLoadgen: number;
}

export interface CrosscheckResult {
  conns: number;
  keySize: number;
  valueSize: number;
  durationS: number;
  mixes: CrosscheckMixResult[];
}

/** CPU seconds of a process, sampled every 100 ms. */
class CpuTrace {
  private readonly samples: { t: number; cpu: number }[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly pid: number) {
    this.sample();
    this.timer = setInterval(() => this.sample(), 100);
  }

  private sample(): void {
    const cpu = processCpuSeconds(this.pid);
    if (Number.isFinite(cpu)) this.samples.push({ t: performance.now() / 1000, cpu });
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * The highest CPU share (percent of one CPU) over any `seconds` of the trace: memcaslap
   * fills its key window before its timed run and sleeps after it, so its steady state is
   * the busiest stretch, not the whole life of the process.
   */
  peakPercent(seconds: number): number {
    let peak = NaN;
    let j = 0;
    for (let i = 0; i < this.samples.length; i++) {
      while (j < i && this.samples[i].t - this.samples[j + 1].t >= seconds) j++;
      const span = this.samples[i].t - this.samples[j].t;
      if (span >= seconds * 0.9) {
        const share = (100 * (this.samples[i].cpu - this.samples[j].cpu)) / span;
        if (!(share <= peak)) peak = share;
      }
    }
    return peak;
  }
}

/**
 * Runs memcaslap once, pinned like the generator; its TPS, and its own and memcached's CPU
 * over its timed run (memcaslap first fills its key window, which is not timed).
 */
function runMemcaslap(
  settings: BenchSettings,
  serverPid: number,
  port: number,
  seconds: number,
  configFile: string | null,
): Promise<{ tps: number; toolCpuPercent: number; serverCpuPercent: number }> {
  const cpus = settings.loadgenCpu === null ? null : String(settings.loadgenCpu);
  const args = ['-s', `127.0.0.1:${port}`, '-T', '1', '-c', String(CONNS), '-t', `${seconds}s`, ...(configFile ? ['-F', configFile] : [])];
  const command = [...launchPrefix(cpus), 'memcaslap', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    track(child);
    void boostPriority(child.pid ?? -1);
    const tool = new CpuTrace(child.pid ?? -1);
    const server = new CpuTrace(serverPid);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
    child.once('close', (code) => {
      clearTimeout(timer);
      tool.stop();
      server.stop();
      const tps = out.match(/TPS: (\d+)/);
      if (code !== 0 || !tps) {
        reject(new Error(`memcaslap failed (${code}): ${out.slice(-500)}`));
        return;
      }
      const span = Math.min(1, seconds / 2);
      resolve({ tps: Number(tps[1]), toolCpuPercent: tool.peakPercent(span), serverCpuPercent: server.peakPercent(span) });
    });
  });
}

export async function runCrosscheck(settings: BenchSettings, runs: number): Promise<CrosscheckResult> {
  const seconds = Math.max(1, Math.round(settings.durationS));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-memcaslap-'));
  const mixes: CrosscheckMixResult[] = [];
  try {
    for (const mix of MIXES) {
      let configFile: string | null = null;
      if (mix.memcaslapConfig) {
        configFile = path.join(dir, `${mix.id}.cfg`);
        fs.writeFileSync(configFile, mix.memcaslapConfig);
      }
      const toolRuns: CrosscheckToolRun[] = [];
      for (let run = 1; run <= runs; run++) {
        for (const tool of ['memcaslap', 'loadgen'] as const) {
          const target = memcachedTarget();
          const server = await startServer(target, {
            cpus: settings.serverCpu === null ? null : String(settings.serverCpu),
            memoryMb: settings.memoryMb,
            maxConns: 1024,
          });
          try {
            if (tool === 'memcaslap') {
              const r = await runMemcaslap(settings, server.pid, server.port, seconds, configFile);
              toolRuns.push({
                tool,
                run,
                opsPerS: r.tps,
                toolCpuPercent: round(r.toolCpuPercent, 1),
                serverCpuPercent: round(r.serverCpuPercent, 1),
              });
            } else {
              const ctx = { settings: { ...settings, warmupS: 0.5, durationS: seconds }, server, target, calibration: {} };
              if (mix.ratio !== '1:0') await preload(ctx, { keys: KEYS, valueSize: VALUE_SIZE, keyPrefix: 'mcs:' });
              const load = await runLoad(ctx, {
                conns: CONNS,
                pipeline: 1,
                keys: KEYS,
                keyPrefix: 'mcs:',
                keySize: KEY_SIZE,
                valueSize: VALUE_SIZE,
                ratio: mix.ratio,
              });
              const r = load.results[0];
              toolRuns.push({
                tool,
                run,
                opsPerS: round(r.window.requests_per_s, 0),
                toolCpuPercent: r.cpu_percent,
                serverCpuPercent: round(load.window.serverCpuPercent, 1),
              });
            }
            const last = toolRuns[toolRuns.length - 1];
            settings.log(
              `  cross-check ${mix.title}, ${tool} run ${run}/${runs}: ${Math.round(last.opsPerS).toLocaleString('en')} ops/s ` +
                `(${tool} CPU ${last.toolCpuPercent.toFixed(0)}%, memcached CPU ${last.serverCpuPercent.toFixed(0)}%)`,
            );
          } finally {
            await server.stop();
          }
        }
      }
      const of = (tool: string, field: keyof CrosscheckToolRun): number[] =>
        toolRuns.filter((r) => r.tool === tool).map((r) => r[field] as number);
      const memcaslap = spread(of('memcaslap', 'opsPerS'));
      const loadgen = spread(of('loadgen', 'opsPerS'));
      const ratio = loadgen.median / memcaslap.median;
      const memcachedUnderMemcaslap = spread(of('memcaslap', 'serverCpuPercent')).median;
      mixes.push({
        id: mix.id,
        title: mix.title,
        runs: toolRuns,
        memcaslap,
        loadgen,
        ratio: round(ratio, 3),
        agree: memcachedUnderMemcaslap >= SATURATED_PERCENT ? Math.abs(ratio - 1) <= AGREEMENT : null,
        memcaslapCpuPercent: spread(of('memcaslap', 'toolCpuPercent')).median,
        loadgenCpuPercent: spread(of('loadgen', 'toolCpuPercent')).median,
        memcachedCpuPercentUnderMemcaslap: memcachedUnderMemcaslap,
        memcachedCpuPercentUnderLoadgen: spread(of('loadgen', 'serverCpuPercent')).median,
      });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { conns: CONNS, keySize: KEY_SIZE, valueSize: VALUE_SIZE, durationS: seconds, mixes };
}
