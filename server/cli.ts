/*
 * recordcache's entry point: memcached's command line, then serve until told to stop.
 */

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from './command-line';
import { createEngine } from './records';
import { Server } from './server';
import { AuthFile, AuthFileError } from './auth-file';
import { TlsSetupError } from './tls';
import type { Config } from './config';
import { HttpListenError, HttpUnsupportedError } from './errors';

export async function main(argv: string[]): Promise<void> {
  const parsed = parseArgs(argv);
  if (parsed.kind === 'exit') {
    if (parsed.stdout) process.stdout.write(parsed.stdout);
    if (parsed.stderr) process.stderr.write(parsed.stderr);
    process.exitCode = parsed.code;
    return;
  }
  if (parsed.stderr) process.stderr.write(parsed.stderr);
  const config = parsed.config;
  if (config.daemonize && process.env[DAEMON_CHILD] === undefined) {
    await daemonize(argv);
    return;
  }
  let authFile: AuthFile | null = null;
  if (config.authFile !== null) {
    try {
      authFile = AuthFile.load(config.authFile);
    } catch (error) {
      if (!(error instanceof AuthFileError)) throw error;
      process.stderr.write(error.message + (error.code === 'AUTHFILE_OPENFAIL' ? '\n' : ''));
      process.exitCode = 1;
      return;
    }
  }
  const { engine, notice } = createEngine(config.records, config);
  if (notice !== null) process.stderr.write(`${notice}\n`);
  // The js engine leaves a slow reader to its socket's buffer and never closes it.
  if (engine.name === 'js' && (config.outLimitSoft !== null || config.outLimitHard !== null)) {
    process.stderr.write(
      '-o out_limit_soft/out_limit_hard: the js records backend does not limit unread replies; remove them or use --records=native\n',
    );
    process.exitCode = 1;
    return;
  }

  let server: Server;
  try {
    server = new Server(config, engine, undefined, authFile);
  } catch (err) {
    if (err instanceof HttpUnsupportedError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    if (!(err instanceof TlsSetupError)) throw err;
    // memcached's ssl_init refuses bad certificates, keys, CA files and ciphers this way.
    process.stderr.write(`${err.message}\n`);
    process.exit(64); // EX_USAGE
  }
  // Before listening, as memcached raises it before it binds, so that no client sees the old limit.
  if (config.coreDumps) enableCoreDumps();
  try {
    await server.start();
  } catch (err) {
    const message = err instanceof HttpListenError ? err.message : listenFailure(config, err as NodeJS.ErrnoException);
    process.stderr.write(`${message}\n`);
    process.exit(71); // EX_OSERR, as memcached exits when it cannot bind
  }
  if (config.pidFile !== null) writePidFile(config.pidFile);
  if (config.user !== null) dropPrivileges(config.user);
  if (engine.readIndex !== null) yieldToIoThreads();

  // The backend in use is the first thing an operator wants to know; memcached prints nothing else.
  process.stderr.write(`recordcache: records backend ${engine.name}\n`);
  if (process.send !== undefined && process.env[DAEMON_CHILD] !== undefined) {
    // The starting process returns now; its end of stderr goes with it.
    process.stderr.on('error', () => {});
    process.send('listening', () => process.disconnect());
  }

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    // memcached's main loop says so on SIGINT or SIGTERM when verbose.
    if (server.ctx.settings.verbosity > 0) process.stderr.write('Exiting normally\n');
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  server.onShutdownRequest = stop;
  // memcached removes its pidfile at exit only when it daemonized (-d); in the foreground
  // the file stays behind.
  if (config.pidFile !== null && config.daemonize) {
    const pidFile = config.pidFile;
    process.on('exit', () => fs.rmSync(pidFile, { force: true }));
  }
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // SIGHUP reloads the -Y file, as memcached does; a file that no longer reads keeps the old entries.
  process.on('SIGHUP', () => {
    if (config.authFile === null) return;
    try {
      server.ctx.authFile = AuthFile.load(config.authFile);
    } catch (error) {
      if (!(error instanceof AuthFileError)) throw error;
    }
  });
}

/** How many nice levels the JavaScript thread runs below the engine's I/O threads. */
const JS_THREAD_NICE_OFFSET = 5;

/**
 * The engine's I/O threads answer GET hits; the JavaScript thread does the rest, and its
 * bookkeeping (fetch reports, garbage collection) must not keep a hit waiting when both
 * want the same CPU. On Linux a nice level belongs to one thread, so lowering this one's
 * (already running I/O threads keep theirs) gives the I/O threads the larger share when
 * both are runnable; alone, the JavaScript thread still has the whole CPU.
 */
function yieldToIoThreads(): void {
  if (process.platform !== 'linux') return;
  try {
    os.setPriority(Math.min(19, os.getPriority() + JS_THREAD_NICE_OFFSET));
  } catch {
    // A sandbox that refuses setpriority: the threads share the CPU equally, as before.
  }
}

/**
 * memcached's line for a listener it could not open (memcached.c main, through vperror):
 * which socket, then strerror's text.
 */
function listenFailure(config: Config, err: NodeJS.ErrnoException): string {
  let what: string;
  if (config.socketPath !== null) what = `UNIX socket: ${config.socketPath}`;
  else if (config.listen.length > 0) what = `one of interface(s) ${config.listen.join(',')}`;
  // Node reports a UDP socket's failure from bind, a TCP listener's from listen.
  else if (err.syscall === 'bind') what = `UDP port ${config.udpPort}`;
  else what = `TCP port ${config.port}`;
  return `failed to listen on ${what}: ${strerror(err)}`;
}

/** glibc's strerror() text for the errors opening a listener gives; Node's own text otherwise. */
function strerror(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return 'Address already in use';
    case 'EADDRNOTAVAIL':
      return 'Cannot assign requested address';
    case 'EACCES':
      return 'Permission denied';
    case 'ENOENT':
      return 'No such file or directory';
    case 'EAFNOSUPPORT':
      return 'Address family not supported by protocol';
    case 'EINVAL':
      return 'Invalid argument';
    default:
      return err.message;
  }
}

/** Set in the environment of the process -d starts. */
const DAEMON_CHILD = 'RECORDCACHE_DAEMON_CHILD';

/**
 * -d: Node cannot fork, so the same command line runs again as a detached process in a new
 * session, and this one exits 0 once it listens (with -P, the pidfile holds its pid), or
 * with its status if it cannot start. Its start-up messages reach this process's stderr.
 */
function daemonize(argv: string[]): Promise<void> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...process.execArgv, __filename, ...argv], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, [DAEMON_CHILD]: '1' },
      cwd: '/',
    });
    child.stderr?.pipe(process.stderr);
    const done = (code: number) => {
      child.stderr?.unpipe(process.stderr);
      child.stderr?.destroy();
      child.removeAllListeners();
      child.unref();
      process.exitCode = code;
      resolve();
    };
    child.once('message', () => {
      if (child.connected) child.disconnect();
      done(0);
    });
    child.once('exit', (code) => done(code ?? 1));
  });
}

/** -r: the core file size limit raised to unlimited, or else to its hard limit, as memcached does. */
function enableCoreDumps(): void {
  const pid = String(process.pid);
  try {
    execFileSync('prlimit', ['--pid', pid, '--core=unlimited:unlimited'], { stdio: 'ignore' });
    return;
  } catch {
    // Not allowed to raise the hard limit: take the soft one up to it.
  }
  try {
    const hard = execFileSync('prlimit', ['--pid', pid, '--core', '--raw', '--noheadings', '--output=HARD'], { encoding: 'utf8' }).trim();
    execFileSync('prlimit', ['--pid', pid, `--core=${hard}:${hard}`], { stdio: 'ignore' });
  } catch (err) {
    process.stderr.write(`failed to ensure corefile creation: ${(err as Error).message}\n`);
    process.exit(71);
  }
}

function writePidFile(path: string): void {
  try {
    fs.writeFileSync(path, `${process.pid}\n`);
  } catch (err) {
    process.stderr.write(`Could not open the pid file ${path} for writing: ${(err as Error).message}\n`);
  }
}

/**
 * -u: after binding, run as that user, as memcached does. Started as root without -u, the
 * server keeps running as root (memcached refuses); the README's quick start runs that way.
 */
function dropPrivileges(user: string): void {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return;
  try {
    // The user's primary group, as getpwnam() gives memcached; no supplementary groups
    // (memcached's setgroups(0, NULL)).
    const gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    process.setgroups?.([]);
    process.setgid?.(gid);
    process.setuid?.(user);
  } catch (err) {
    process.stderr.write(`can't run as ${user}: ${(err as Error).message}\n`);
    process.exit(71);
  }
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
