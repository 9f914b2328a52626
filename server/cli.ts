/*
 * recordcache's entry point: memcached's command line, then serve until told to stop.
 */

import { parseArgs } from './cli-args';
import { createEngine } from './records';
import { JsRecordsEngine } from './records/js';
import { Server } from './server';

export async function main(argv: string[]): Promise<void> {
  const parsed = parseArgs(argv);
  if (parsed.kind === 'exit') {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr);
    process.exitCode = parsed.code;
    return;
  }
  const config = parsed.config;
  const { engine, notice } = createEngine(config.records);
  if (notice !== null) process.stderr.write(`${notice}\n`);
  if (engine instanceof JsRecordsEngine) engine.setIdleTimeout(config.idleTimeout);

  const server = new Server(config, engine);
  let listeners;
  try {
    listeners = await server.start();
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    process.stderr.write(`failed to listen: ${e.message}\n`);
    process.exit(71); // EX_OSERR, as memcached exits when it cannot bind
  }
  // The backend in use is the first thing an operator wants to know; memcached prints nothing else.
  process.stderr.write(`recordcache: records backend ${engine.name}\n`);
  if (config.verbose > 0) process.stderr.write(`recordcache: listening on ${listeners.map((l) => l.address).join(', ')}\n`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  server.onShutdownRequest = stop;
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
