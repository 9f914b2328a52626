/*
 * The certificate TLS workloads serve: a self-signed P-256 certificate for 127.0.0.1 and
 * localhost, made once per invocation with the system's `openssl` command in a temporary
 * directory that is removed at exit. memcached and recordcache are given the same files.
 */

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TlsFiles } from './servers';

let made: TlsFiles | null = null;

export function benchCertificate(): TlsFiles {
  if (made !== null) return made;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-bench-tls-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const openssl = (args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  };
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'server.key']);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    'server.key',
    '-out',
    'server.crt',
    '-days',
    '2',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ]);
  made = { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') };
  return made;
}
