/*
 * The machine and the program versions a result came from: without them a figure cannot
 * be compared with anything.
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MEMCACHED } from './servers';
import { totalMemoryBytes } from './procfs';

export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  kernel: string;
  os: string;
  memoryGb: number;
  clocksource: string;
  tcpCongestionControl: string;
}

export interface Versions {
  node: string;
  memcached: string;
  recordcache: string;
  loadgen: string;
  cc: string;
  memcaslap: string;
}

function run(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10000 }).trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return (e.stdout || e.stderr || '').toString().trim() || 'unknown';
  }
}

function readFirstLine(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0].trim();
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const cpuinfo = (() => {
    try {
      return fs.readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      return '';
    }
  })();
  const osRelease = (() => {
    try {
      return fs.readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)"?/m)?.[1] ?? 'unknown';
    } catch {
      return 'unknown';
    }
  })();
  return {
    nproc: Number(run('nproc', [])) || os.cpus().length,
    cpuModel: cpuinfo.match(/^model name\s*:\s*(.*)$/m)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    kernel: `${os.type()} ${os.release()}`,
    os: osRelease,
    memoryGb: Math.round((totalMemoryBytes() / 2 ** 30) * 10) / 10,
    clocksource: readFirstLine('/sys/devices/system/clocksource/clocksource0/current_clocksource'),
    tcpCongestionControl: readFirstLine('/proc/sys/net/ipv4/tcp_congestion_control'),
  };
}

export function versions(loadgenBinary: string): Versions {
  const root = path.resolve(__dirname, '../..');
  let recordcache = 'unknown';
  try {
    recordcache = (JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    // reported as unknown
  }
  const commit = run('git', ['-C', root, 'rev-parse', '--short', 'HEAD']);
  const dirty = run('git', ['-C', root, 'status', '--porcelain', '--untracked-files=no']) !== '';
  if (/^[0-9a-f]+$/.test(commit)) recordcache += ` (${commit}${dirty ? ', modified' : ''})`;
  const loadgenVersion = (() => {
    try {
      return (
        fs.readFileSync(path.resolve(__dirname, '../loadgen/loadgen.c'), 'utf8').match(/#define LOADGEN_VERSION "([^"]+)"/)?.[1] ??
        'unknown'
      );
    } catch {
      return 'unknown';
    }
  })();
  return {
    node: process.version,
    memcached: run(MEMCACHED, ['-V']),
    recordcache,
    loadgen: `${loadgenVersion} (${path.relative(root, loadgenBinary)})`,
    cc: run(process.env.CC ?? 'cc', ['--version']).split('\n')[0],
    memcaslap: run('memcaslap', ['-V']).split('\n')[0],
  };
}
