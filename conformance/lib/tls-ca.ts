// A throw-away certificate authority for the TLS cases, made with Debian's openssl
// command in a temporary directory: a CA, a server certificate for 127.0.0.1 and
// localhost, a client certificate, and a second CA with its own client (which the
// first CA does not vouch for). Removed when the process exits.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface TestCa {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  wrongCaCert: string;
  wrongClientCert: string;
  wrongClientKey: string;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A P-256 key and a certificate for `subject`, signed by `ca` (or self-signed when null). */
function issue(dir: string, name: string, subject: string, ca: string | null, extensions: string | null): void {
  openssl(dir, ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  if (ca === null) {
    openssl(dir, ['req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', subject]);
    return;
  }
  openssl(dir, ['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  const x509 = [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
  ];
  if (extensions !== null) {
    fs.writeFileSync(path.join(dir, `${name}.ext`), extensions);
    x509.push('-extfile', `${name}.ext`);
  }
  openssl(dir, x509);
}

let made: TestCa | null = null;

export function makeTestCa(): TestCa {
  if (made !== null) return made;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rc-tls-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  issue(dir, 'ca', '/CN=recordcache test CA', null, null);
  issue(dir, 'server', '/CN=localhost', 'ca', 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  issue(dir, 'client', '/CN=client', 'ca', null);
  issue(dir, 'wrongca', '/CN=another CA', null, null);
  issue(dir, 'wrongclient', '/CN=stranger', 'wrongca', null);
  const at = (name: string) => path.join(dir, name);
  made = {
    dir,
    caCert: at('ca.crt'),
    serverCert: at('server.crt'),
    serverKey: at('server.key'),
    clientCert: at('client.crt'),
    clientKey: at('client.key'),
    wrongCaCert: at('wrongca.crt'),
    wrongClientCert: at('wrongclient.crt'),
    wrongClientKey: at('wrongclient.key'),
  };
  return made;
}
