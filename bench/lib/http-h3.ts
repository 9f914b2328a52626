/*
 * H3: one hot value of about 1 MB asked for by 500 slow clients at once, against nginx +
 * memcached. The figure is the machine's used memory (MemTotal less free, buffers, page
 * cache and reclaimable slab): what the server and the kernel hold for the clients while
 * none of them reads, sampled after every client has its first bytes. The server's RSS and
 * the kernel's TCP memory are reported beside it, to show where the memory is.
 */

import { spawn } from 'node:child_process';
import path from 'node:path';
import { HOLDING_LINE, type HttpFanoutArgs, type HttpFanoutResult } from './http-fanout';
import type { HttpServer } from './http-servers';
import { processRssBytes, tcpMemoryBytes, usedMemoryBytes } from './procfs';
import { launchPrefix, sleep, track } from './servers';

export const H3_VALUE_LENGTH = 1_000_000;
export const H3_CONNECTIONS = 500;
export const H3_KEY = 'h3:hot';

export interface FanoutRecord {
  server: string;
  run: number;
  /** Peak growth over the baseline taken before the clients connected, bytes. */
  usedMemoryGrowth: number;
  tcpMemoryGrowth: number;
  serverRssGrowth: number;
  whole: number;
  failed: number;
}

function serverRss(server: HttpServer): number {
  return server.pids().reduce((sum, pid) => sum + (processRssBytes(pid) || 0), 0);
}

/** One H3 run against a server that holds the hot value; `holdSeconds` of sampling while no client reads. */
export async function measureFanout(server: HttpServer, run: number, loadgenCpu: string, holdSeconds: number): Promise<FanoutRecord> {
  const url = new URL(server.origin);
  const args: HttpFanoutArgs = {
    host: url.hostname,
    port: Number(url.port),
    path: `/${H3_KEY}`,
    connections: H3_CONNECTIONS,
    valueLength: H3_VALUE_LENGTH,
  };
  const baseline = { used: usedMemoryBytes(), tcp: tcpMemoryBytes(), rss: serverRss(server) };
  const peak = { ...baseline };
  const script = path.resolve(__dirname, 'http-fanout.ts');
  const command = [...launchPrefix(loadgenCpu), process.execPath, '--require', require.resolve('tsx/cjs'), script, JSON.stringify(args)];
  const child = spawn(command[0], command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  track(child);
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const sample = () => {
    peak.used = Math.max(peak.used, usedMemoryBytes());
    peak.tcp = Math.max(peak.tcp, tcpMemoryBytes());
    peak.rss = Math.max(peak.rss, serverRss(server));
  };
  // Sampled from the start, so a server that buffers while the clients connect is seen too.
  const sampler = setInterval(sample, 50);
  await new Promise<void>((resolve) => {
    child.stdout?.on('data', (data: Buffer) => {
      stdout += data.toString();
      if (stdout.includes(`${HOLDING_LINE}\n`)) resolve();
    });
    void exited.then(() => resolve());
  });
  await sleep(holdSeconds * 1000);
  sample();
  clearInterval(sampler);
  child.stdin?.write('go\n');
  const code = await exited;
  if (code !== 0) throw new Error(`H3 clients exited with ${code}:\n${stderr}`);
  const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as HttpFanoutResult;
  return {
    server: server.label,
    run,
    usedMemoryGrowth: peak.used - baseline.used,
    tcpMemoryGrowth: peak.tcp - baseline.tcp,
    serverRssGrowth: peak.rss - baseline.rss,
    whole: result.whole,
    failed: result.failed,
  };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** The H3 table of the report. */
export function fanoutReport(records: FanoutRecord[]): string[] {
  const lines = [
    '',
    `H3: one hot value of ${H3_VALUE_LENGTH.toLocaleString('en')} bytes, ${H3_CONNECTIONS} clients ask at once and read nothing until sampled (goal ≤ 0.2× the anchor's machine memory).`,
    '',
    '| server | machine used-memory growth, median | ratio to the anchor, median [min–max] | kernel TCP memory growth | server RSS growth | replies whole / failed |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  const anchor = records[0]?.server;
  const anchorRuns = records.filter((r) => r.server === anchor);
  for (const server of [...new Set(records.map((r) => r.server))]) {
    const runs = records.filter((r) => r.server === server);
    const ratios = runs.map((r, i) => r.usedMemoryGrowth / (anchorRuns[i]?.usedMemoryGrowth ?? Number.NaN));
    lines.push(
      `| ${server}${server === anchor ? ' (anchor)' : ''} | ${mb(median(runs.map((r) => r.usedMemoryGrowth)))} | ` +
        `${server === anchor ? '1' : `${median(ratios).toFixed(2)}× [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]`} | ` +
        `${mb(median(runs.map((r) => r.tcpMemoryGrowth)))} | ${mb(median(runs.map((r) => r.serverRssGrowth)))} | ` +
        `${runs.reduce((sum, r) => sum + r.whole, 0)} / ${runs.reduce((sum, r) => sum + r.failed, 0)} |`,
    );
  }
  return lines;
}
