/*
 * The HTTP servers the H rows compare, each pinned to the server CPU as the memcached rows'
 * servers are: nginx in front of memcached (memcached_pass, upstream keep-alive), nginx
 * serving the same bytes as static files (sendfile), and recordcache's own listener.
 */

import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  type RunningServer,
  boostPriority,
  canConnect,
  freePort,
  launchPrefix,
  memcachedTarget,
  recordcacheTarget,
  sleep,
  startServer,
  track,
} from './servers';

export const NGINX = '/usr/sbin/nginx';

export type HttpServerKind = 'nginx+memcached' | 'nginx-static' | 'recordcache';

/** A running HTTP front: the processes whose CPU counts, and where to send requests and sets. */
export interface HttpServer {
  kind: HttpServerKind;
  label: string;
  origin: string;
  /** The memcached protocol port that holds the values (none for static files). */
  memcachedPort: number | null;
  /** Every process of the server: their CPU time is the server's. */
  pids(): number[];
  stop(): Promise<void>;
}

/** The keys an H row reads: `/<prefix><i>`. */
export function keyName(prefix: string, i: number): string {
  return `${prefix}${i}`;
}

async function waitAccepting(port: number, what: string): Promise<void> {
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (await canConnect(port)) return;
    await sleep(20);
  }
  throw new Error(`${what} did not accept connections on port ${port}`);
}

/** The children of a process (nginx's workers), from /proc. */
function childrenOf(pid: number): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** nginx with one worker (the server CPU is one core), no access log, keep-alive without a request limit. */
async function startNginx(
  cpus: string,
  serverBlock: (port: number, dir: string) => string,
  upstream = '',
): Promise<{ pids: () => number[]; port: number; stop: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-nginx-'));
  const port = await freePort();
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    [
      'worker_processes 1;',
      'daemon off;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/error.log warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  access_log off;',
      '  keepalive_requests 10000000;',
      `  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;`,
      upstream,
      `  server {\n    listen 127.0.0.1:${port};\n${serverBlock(port, dir)}\n  }`,
      '}',
    ].join('\n'),
  );
  const command = [...launchPrefix(cpus), NGINX, '-c', conf, '-p', dir];
  const child = spawn(command[0], command.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  track(child);
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => {
    stderr = (stderr + data.toString()).slice(-2000);
  });
  await boostPriority(child.pid ?? -1);
  try {
    await waitAccepting(port, 'nginx');
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderr}`);
  }
  const master = child.pid ?? -1;
  return {
    port,
    pids: () => [master, ...childrenOf(master)],
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([new Promise((resolve) => child.once('exit', resolve)), sleep(3000)]);
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

const SERVER_OPTIONS = { memoryMb: 1024, maxConns: 4096 };

/** memcached (-t 1) behind nginx's memcached module, both on the server CPU. */
export async function startNginxMemcached(cpus: string): Promise<HttpServer> {
  const memcached = await startServer(memcachedTarget(), { cpus, ...SERVER_OPTIONS });
  const upstream = `  upstream cache { server 127.0.0.1:${memcached.port}; keepalive 128; }`;
  const nginx = await startNginx(
    cpus,
    () =>
      [
        '    location ~ ^/(?<key>.+)$ {',
        '      set $memcached_key $key;',
        '      memcached_pass cache;',
        '      default_type application/octet-stream;',
        '    }',
      ].join('\n'),
    upstream,
  );
  return {
    kind: 'nginx+memcached',
    label: 'nginx+memcached',
    origin: `http://127.0.0.1:${nginx.port}`,
    memcachedPort: memcached.port,
    pids: () => [memcached.pid, ...nginx.pids()],
    stop: async () => {
      await nginx.stop();
      await memcached.stop();
    },
  };
}

/** nginx serving each value as a file (sendfile on): the physical limit of an HTTP server here. */
export async function startNginxStatic(cpus: string, files: Map<string, Buffer>): Promise<HttpServer> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-static-'));
  // nginx's worker runs as an unprivileged user when started as root: it must read these.
  fs.chmodSync(root, 0o755);
  for (const [name, bytes] of files) fs.writeFileSync(path.join(root, name), bytes, { mode: 0o644 });
  const nginx = await startNginx(cpus, () =>
    [`    root ${root};`, '    sendfile on;', '    tcp_nopush on;', '    default_type application/octet-stream;'].join('\n'),
  );
  return {
    kind: 'nginx-static',
    label: 'nginx static files',
    origin: `http://127.0.0.1:${nginx.port}`,
    memcachedPort: null,
    pids: nginx.pids,
    stop: async () => {
      await nginx.stop();
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
}

/** recordcache (-t 1) with its HTTP listener on a backend. */
export async function startRecordcacheHttp(cpus: string, backend: string): Promise<HttpServer> {
  const httpPort = await freePort();
  const server: RunningServer = await startServer(recordcacheTarget(`${backend}+http_port=${httpPort}`), { cpus, ...SERVER_OPTIONS });
  await waitAccepting(httpPort, 'recordcache HTTP');
  return {
    kind: 'recordcache',
    label: `recordcache/${backend}`,
    origin: `http://127.0.0.1:${httpPort}`,
    memcachedPort: server.port,
    pids: () => [server.pid],
    stop: () => server.stop(),
  };
}

/** Stores the values over memcached's text protocol, pipelined on one connection. */
export function storeValues(port: number, values: Map<string, Buffer>): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let stored = 0;
    let pending = '';
    socket.on('data', (data: Buffer) => {
      pending += data.toString('latin1');
      let at = pending.indexOf('\r\n');
      while (at >= 0) {
        const line = pending.slice(0, at);
        pending = pending.slice(at + 2);
        if (line !== 'STORED') {
          socket.destroy();
          reject(new Error(`preload: ${line}`));
          return;
        }
        if (++stored === values.size) {
          socket.destroy();
          resolve();
          return;
        }
        at = pending.indexOf('\r\n');
      }
    });
    socket.once('error', reject);
    socket.once('connect', () => {
      for (const [key, value] of values) {
        socket.write(`set ${key} 0 0 ${value.length}\r\n`);
        socket.write(value);
        socket.write('\r\n');
      }
    });
  });
}

/** Whether the programs the H rows need are here (bench/setup.sh installs them). */
export function missingHttpPrograms(): string[] {
  const missing: string[] = [];
  if (!fs.existsSync(NGINX)) missing.push('nginx');
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (error) {
    // wrk --version exits 1 after printing its version.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') missing.push('wrk');
  }
  return missing;
}
