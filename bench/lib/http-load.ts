/*
 * One autocannon run, as a process of its own so that it can be pinned to the generator's
 * CPU and its CPU time read: `tsx bench/lib/http-load.ts '<json HttpLoadArgs>'` prints one
 * line of JSON (HttpLoadResult).
 */

import autocannon from 'autocannon';

export interface HttpLoadArgs {
  origin: string;
  paths: string[];
  connections: number;
  /** Seconds of load before the measured window (a separate run, discarded). */
  warmup: number;
  duration: number;
}

export interface HttpLoadResult {
  requests: number;
  requestsPerSecond: number;
  bytesPerSecond: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** This process's CPU time during the measured run, and the run's wall-clock seconds. */
  cpuSeconds: number;
  seconds: number;
}

/** Printed when the measured run starts, so the caller's window matches it. */
export const MEASURING_LINE = 'measuring';

function run(args: HttpLoadArgs, seconds: number): Promise<autocannon.Result> {
  return autocannon({
    url: args.origin,
    connections: args.connections,
    duration: seconds,
    requests: args.paths.map((path) => ({ method: 'GET', path })),
  } as autocannon.Options);
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as HttpLoadArgs;
  if (args.warmup > 0) await run(args, args.warmup);
  process.stdout.write(`${MEASURING_LINE}\n`);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const result = await run(args, args.duration);
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (performance.now() - started) / 1000;
  const summary: HttpLoadResult = {
    requests: result['2xx'] + result.non2xx,
    requestsPerSecond: (result['2xx'] + result.non2xx) / seconds,
    bytesPerSecond: result.throughput.total / seconds,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    seconds,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
