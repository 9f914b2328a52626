// TLS (-Z): the same bytes over TLS to Debian's memcached -Z and to recordcache with the
// same flags, replies compared byte for byte. Certificates come from a CA made at test
// time (lib/tls-ca.ts). Also: memcached's start-up refusals, refresh_certs, a notls:
// listener, client certificates demanded by ssl_verify_mode, garbage and stalled
// handshakes, many handshakes in a row, and pymemcache with an ssl.SSLContext.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type tls from 'node:tls';
import { promisify } from 'node:util';
import { compareCase, defineCases, step, type Case } from './lib/cases';
import {
  assertBackend,
  candidateKind,
  freePort,
  startExpectingFailure,
  startPair,
  startServer,
  stopPair,
  usePair,
  type ServerPair,
  type ServerProcess,
} from './lib/servers';
import { parseStats } from './lib/stats';
import { makeTestCa } from './lib/tls-ca';
import { WireConnection } from './lib/wire';
import { lineStartingWith } from './lib/replies';

const run = promisify(execFile);
const ca = makeTestCa();
const CERT_FLAGS = `ssl_chain_cert=${ca.serverCert},ssl_key=${ca.serverKey}`;
/** What a client that trusts the test CA connects with. */
const CLIENT: tls.ConnectionOptions = { ca: fs.readFileSync(ca.caCert), servername: 'localhost' };
const WITH_CLIENT_CERT: tls.ConnectionOptions = {
  ...CLIENT,
  cert: fs.readFileSync(ca.clientCert),
  key: fs.readFileSync(ca.clientKey),
};
const WITH_WRONG_CLIENT_CERT: tls.ConnectionOptions = {
  ...CLIENT,
  cert: fs.readFileSync(ca.wrongClientCert),
  key: fs.readFileSync(ca.wrongClientKey),
};

/** Only the `STAT` lines `keep` selects, with values as `show` renders them. */
function statLines(keep: (name: string) => boolean, show: (name: string, value: string) => string = (_n, v) => v) {
  return (reply: Buffer): string =>
    parseStats(reply)
      .stats.filter((stat) => keep(stat.name))
      .map((stat) => `${stat.name} ${show(stat.name, stat.value)}`)
      .join('\n') || 'none';
}

const isTlsStat = (name: string) => name.startsWith('ssl_') || name === 'time_since_server_cert_refresh';
/** A refused or closed connection: what arrived before the close is TLS's business (alerts), not compared. */
const closedOnly = () => '(closed)';

/** A client that hangs up the moment it connects: nothing ever reaches the server's TLS. */
function statsOf(reply: Buffer): Map<string, string> {
  return new Map(parseStats(reply).stats.map((stat) => [stat.name, stat.value]));
}

async function statsOver(server: ServerProcess, options: tls.ConnectionOptions | undefined, port = server.port) {
  const conn = await WireConnection.open(port, '127.0.0.1', 5000, options);
  try {
    await conn.send(['stats\r\n']);
    return statsOf((await conn.read(lineStartingWith('END'), 5000)).bytes);
  } finally {
    conn.destroy();
  }
}

describe('tls: -Z with a certificate and key', function () {
  const pair = usePair(['-Z', '-o', CERT_FLAGS]);
  const value = Buffer.alloc(100 * 1024, 0x61);
  defineCases(pair, [
    {
      name: 'set, get and multiget over TLS',
      tls: CLIENT,
      steps: [
        step('set a 1 0 5\r\nalpha\r\nset b 2 0 4\r\nbeta\r\n', 2),
        step('get a\r\n'),
        step('get a missing b\r\ngets a\r\n', 2),
        step('delete a\r\nget a b\r\n', 2),
      ],
    },
    {
      name: 'a 100 KB value over TLS, in one write and split into pieces',
      tls: CLIENT,
      steps: [
        { send: [Buffer.concat([Buffer.from('set big 0 0 102400\r\n'), value, Buffer.from('\r\n')])] },
        { send: [`set big2 0 0 102400\r\n`, value.subarray(0, 50000), value.subarray(50000), '\r\n'], delayMs: 20 },
        step('get big big2\r\n'),
      ],
    },
    {
      name: 'stats settings shows the TLS settings',
      tls: CLIENT,
      steps: [{ send: ['stats settings\r\n'], render: statLines((name) => name.startsWith('ssl_')) }],
    },
    {
      name: 'stats shows the TLS counters',
      tls: CLIENT,
      steps: [
        {
          send: ['stats\r\n'],
          // memcached may count the harness's plain TCP readiness probe as a failed handshake,
          // depending on whether the probe's close arrives before its first read.
          render: statLines(isTlsStat, (name, v) =>
            name === 'time_since_server_cert_refresh' ? 'seconds' : name === 'ssl_handshake_errors' ? (/^\d+$/.test(v) ? 'count' : v) : v,
          ),
        },
      ],
    },
    {
      name: 'refresh_certs reloads the certificates',
      tls: CLIENT,
      steps: [
        step('refresh_certs\r\n'),
        step('refresh_certs noreply\r\n', 'none'),
        {
          send: ['stats\r\n'],
          render: statLines(
            (name) => name === 'time_since_server_cert_refresh',
            (_name, v) => (Number(v) <= 5 ? 'just now' : `${v} s ago`),
          ),
        },
      ],
    },
    {
      name: 'new connections use the refreshed certificates',
      tls: CLIENT,
      steps: [step('version\r\n', 1, { conn: 1 })],
    },
    {
      name: 'garbage instead of a ClientHello is closed; other clients are still served',
      steps: [
        { send: ['GET / HTTP/1.0\r\n\r\n'], tls: null, expect: 'close', render: closedOnly },
        { send: ['set after 0 0 2\r\nok\r\nget after\r\n'], tls: CLIENT, conn: 1, expect: 2 },
      ],
    },
    {
      name: 'a plaintext memcached request on the TLS port is closed',
      steps: [
        { send: ['version\r\n'], tls: null, expect: 'close', render: closedOnly },
        { send: ['version\r\n'], tls: CLIENT, conn: 1 },
      ],
    },
  ]);

  it('counts failed handshakes in ssl_handshake_errors (recordcache: every OpenSSL failure)', async function () {
    const { reference, candidate } = pair();
    // memcached counts only failures inside its first SSL_accept right after accept (so
    // usually none); both must show the counter as a number.
    const [refStats, candStats] = await Promise.all([statsOver(reference, CLIENT), statsOver(candidate, CLIENT)]);
    assert.match(refStats.get('ssl_handshake_errors') ?? '', /^\d+$/);
    assert.match(candStats.get('ssl_handshake_errors') ?? '', /^\d+$/);
    if (candidateKind() === 'recordcache') {
      // The garbage ClientHello and the plaintext request above.
      assert.ok(Number(candStats.get('ssl_handshake_errors')) >= 2, `ssl_handshake_errors ${candStats.get('ssl_handshake_errors')}`);
    }
  });
});

describe('tls: refresh_certs', function () {
  let pair: ServerPair | undefined;
  const dir = fs.mkdtempSync(path.join(ca.dir, 'refresh-'));
  const cert = path.join(dir, 'server.crt');
  const key = path.join(dir, 'server.key');
  const restore = () => {
    fs.copyFileSync(ca.serverCert, cert);
    fs.copyFileSync(ca.serverKey, key);
  };
  before(async function () {
    this.timeout(150000);
    restore();
    pair = await startPair(['-Z', '-o', `ssl_chain_cert=${cert},ssl_key=${key}`]);
  });
  after(async function () {
    await stopPair(pair);
  });
  const refresh: Case = { name: 'refresh_certs', tls: CLIENT, steps: [step('refresh_certs\r\nversion\r\n', 2)] };

  it('answers OK with readable certificates', async function () {
    await compareCase(pair!, refresh);
  });
  it("answers memcached's error for a key that is not a key, and keeps the old certificates", async function () {
    fs.writeFileSync(key, 'not a key\n');
    await compareCase(pair!, refresh);
    await compareCase(pair!, { ...refresh, steps: [step('refresh_certs noreply\r\nversion\r\n', 2)] });
  });
  it("answers memcached's error for a missing certificate", async function () {
    fs.rmSync(cert);
    await compareCase(pair!, refresh);
  });
  it("answers memcached's error for a key that does not match the certificate", async function () {
    fs.copyFileSync(ca.serverCert, cert);
    fs.copyFileSync(ca.clientKey, key);
    await compareCase(pair!, refresh);
  });
  it('answers OK again once the files are back', async function () {
    restore();
    await compareCase(pair!, refresh);
  });
});

describe('tls: refresh_certs without -Z', function () {
  const pair = usePair([]);
  defineCases(pair, [
    { name: 'refresh_certs says TLS is not enabled', steps: [step('refresh_certs\r\n'), step('refresh_certs noreply\r\n')] },
  ]);
});

describe('tls: a notls: listener stays plaintext', function () {
  let pair: ServerPair | undefined;
  /** The notls: port of each server. */
  const plainPorts = new Map<ServerProcess, number>();
  before(async function () {
    this.timeout(150000);
    const start = async (kind: 'memcached' | 'recordcache') => {
      const port = await freePort();
      const server = await startServer(kind, ['-Z', '-o', CERT_FLAGS, '-l', `notls:127.0.0.1:${port}`]);
      plainPorts.set(server, port);
      await assertBackend(server);
      return server;
    };
    pair = { reference: await start('memcached'), candidate: await start(candidateKind()) };
  });
  after(async function () {
    await stopPair(pair);
  });
  const onPlainPort = (p: ServerPair): ServerPair => ({
    reference: { ...p.reference, port: plainPorts.get(p.reference)! },
    candidate: { ...p.candidate, port: plainPorts.get(p.candidate)! },
  });

  it('serves plaintext on the notls: listener', async function () {
    await compareCase(onPlainPort(pair!), {
      name: 'plaintext on notls:',
      steps: [
        step('set k 0 0 3\r\nabc\r\nget k\r\n', 2),
        { send: ['stats settings\r\n'], render: statLines((name) => name === 'ssl_enabled') },
      ],
    });
  });
  it('refuses TLS on the notls: listener', async function () {
    for (const server of [pair!.reference, pair!.candidate]) {
      await assert.rejects(
        WireConnection.open(plainPorts.get(server)!, '127.0.0.1', 5000, CLIENT),
        `${server.kind} accepted TLS on notls:`,
      );
    }
  });
  it('serves TLS on the other listener, sharing the same items', async function () {
    await compareCase(pair!, { name: 'TLS beside notls:', tls: CLIENT, steps: [step('get k\r\n')] });
  });
});

describe('tls: ssl_verify_mode=2 (a client certificate is required)', function () {
  const pair = usePair(['-Z', '-o', `${CERT_FLAGS},ssl_verify_mode=2,ssl_ca_cert=${ca.caCert}`]);
  defineCases(pair, [
    { name: 'a client with a certificate from the CA is served', tls: WITH_CLIENT_CERT, steps: [step('set k 0 0 1\r\nv\r\nget k\r\n', 2)] },
    {
      name: 'a client without a certificate is refused, others still served',
      steps: [
        { send: ['get k\r\n'], tls: CLIENT, expect: 'close', render: closedOnly },
        { send: ['get k\r\n'], tls: WITH_CLIENT_CERT, conn: 1 },
      ],
    },
    {
      name: 'a client with a certificate from another CA is refused, others still served',
      steps: [
        { send: ['get k\r\n'], tls: WITH_WRONG_CLIENT_CERT, expect: 'close', render: closedOnly },
        { send: ['get k\r\n'], tls: WITH_CLIENT_CERT, conn: 1 },
      ],
    },
    {
      name: 'stats settings shows the verify mode and CA as memcached does',
      tls: WITH_CLIENT_CERT,
      steps: [{ send: ['stats settings\r\n'], render: statLines((name) => name.startsWith('ssl_')) }],
    },
    {
      name: 'stats still has the TLS counters',
      tls: WITH_CLIENT_CERT,
      steps: [{ send: ['stats\r\n'], render: statLines(isTlsStat, (_name, v) => (/^\d+$/.test(v) ? 'a count' : v)) }],
    },
  ]);
});

describe('tls: ssl_verify_mode=1 (a certificate is checked when given)', function () {
  const pair = usePair(['-Z', '-o', `${CERT_FLAGS},ssl_verify_mode=1,ssl_ca_cert=${ca.caCert},ssl_session_cache`]);
  defineCases(pair, [
    { name: 'a client without a certificate is served', tls: CLIENT, steps: [step('version\r\n')] },
    { name: 'a client with a good certificate is served', tls: WITH_CLIENT_CERT, steps: [step('version\r\n')] },
    {
      name: 'a client with a certificate from another CA is refused',
      steps: [
        { send: ['version\r\n'], tls: WITH_WRONG_CLIENT_CERT, expect: 'close', render: closedOnly },
        { send: ['version\r\n'], tls: CLIENT, conn: 1 },
      ],
    },
    {
      name: 'stats shows ssl_new_sessions with ssl_session_cache',
      tls: CLIENT,
      steps: [{ send: ['stats\r\n'], render: statLines(isTlsStat, (_name, v) => (/^\d+$/.test(v) ? 'a count' : v)) }],
    },
  ]);
});

describe('tls: a client that stops mid-handshake (-o idle_timeout=1)', function () {
  const pair = usePair(['-Z', '-o', `${CERT_FLAGS},idle_timeout=1`]);
  // The first bytes of a TLS 1.2 ClientHello record: header and part of the handshake header.
  const partialHello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0xc8, 0x01, 0x00, 0x00]);
  defineCases(pair, [
    {
      name: 'the stalled handshake is closed; other clients are still served',
      steps: [
        { send: [partialHello], tls: null, expect: 'close', timeoutMs: 6000, render: closedOnly },
        { send: ['version\r\n'], tls: CLIENT, conn: 1 },
      ],
    },
  ]);
});

describe('tls: 1,000 handshakes in a row', function () {
  let server: ServerProcess | undefined;
  before(async function () {
    this.timeout(150000);
    server = await startServer(candidateKind(), ['-Z', '-o', `${CERT_FLAGS},ssl_session_cache`]);
    await assertBackend(server);
  });
  after(async function () {
    await server?.stop();
  });

  function rssKb(pid: number): number {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]);
  }

  async function handshakes(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const conn = await WireConnection.open(server!.port, '127.0.0.1', 5000, CLIENT);
      await conn.send(['version\r\n']);
      const reply = await conn.read(lineStartingWith('VERSION '), 5000);
      assert.equal(reply.outcome, 'complete', `handshake ${i}: no VERSION`);
      conn.end();
      conn.destroy();
    }
  }

  it("serves every one, and the server's memory stays bounded", async function () {
    this.timeout(180000);
    await handshakes(100);
    const connectionsBefore = (await statsOver(server!, CLIENT)).get('curr_connections');
    const before = rssKb(server!.child.pid!);
    await handshakes(1000);
    // Let closes settle.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = rssKb(server!.child.pid!);
    const stats = await statsOver(server!, CLIENT);
    assert.equal(stats.get('curr_connections'), connectionsBefore, 'connections left open');
    // Generous: a leak of even 32 KB per handshake would pass 32 MB.
    assert.ok(after - before < 32 * 1024, `RSS grew from ${before} kB to ${after} kB over 1,000 handshakes`);
  });
});

describe("tls: memcached's start-up refusals", function () {
  const missing = path.join(ca.dir, 'missing.pem');
  const refusals: [string, string[]][] = [
    ['-Z without a certificate', ['-Z']],
    ['-Z without a key', ['-Z', '-o', `ssl_chain_cert=${ca.serverCert}`]],
    ['a missing certificate file', ['-Z', '-o', `ssl_chain_cert=${missing},ssl_key=${ca.serverKey}`]],
    ['a key as the certificate', ['-Z', '-o', `ssl_chain_cert=${ca.serverKey},ssl_key=${ca.serverKey}`]],
    ['a key that does not match', ['-Z', '-o', `ssl_chain_cert=${ca.serverCert},ssl_key=${ca.clientKey}`]],
    ['an unknown key format', ['-Z', '-o', `${CERT_FLAGS},ssl_keyformat=5`]],
    ['a missing CA file', ['-Z', '-o', `${CERT_FLAGS},ssl_ca_cert=${missing}`]],
    ['ciphers OpenSSL does not know', ['-Z', '-o', `${CERT_FLAGS},ssl_ciphers=NO-SUCH-CIPHER`]],
    ['-Z without a TCP port', ['-Z', '-p', '0', '-o', CERT_FLAGS]],
    ['an ssl_min_version out of range', ['-Z', '-o', `${CERT_FLAGS},ssl_min_version=4`]],
    ['notls: without -Z', ['-l', 'notls:127.0.0.1']],
  ];
  for (const [name, flags] of refusals) {
    it(`refuses ${name} with memcached's message and exit code`, async function () {
      const [ref, cand] = await Promise.all([startExpectingFailure('memcached', flags), startExpectingFailure(candidateKind(), flags)]);
      // memcached first prints OpenSSL's error queue (addresses, source lines); its own message ends stderr.
      const lastLines = (text: string, n: number) => text.trim().split('\n').slice(-n).join('\n');
      const n = name.startsWith('notls') ? 2 : 1;
      assert.notEqual(ref.exit, 'still running', `memcached started: ${ref.stderr}`);
      assert.deepEqual({ exit: cand.exit, stderr: lastLines(cand.stderr, n) }, { exit: ref.exit, stderr: lastLines(ref.stderr, n) });
    });
  }
});

describe('tls: pymemcache with an ssl.SSLContext', function () {
  const pair = usePair(['-Z', '-o', CERT_FLAGS]);
  const ROUND_PY = path.join(__dirname, 'clients', 'round.py');
  for (const which of ['reference', 'candidate'] as const) {
    it(`completes a round against the ${which}`, async function () {
      this.timeout(60000);
      const server = pair()[which];
      const { stdout } = await run('/usr/bin/python3', [
        ROUND_PY,
        `--tls-ca=${ca.caCert}`,
        'pymemcache',
        '127.0.0.1',
        String(server.port),
        `tls_${which}_`,
      ]);
      assert.match(stdout, /round ok/);
    });
  }
  it('fails against a server it does not trust (the test can fail)', async function () {
    const server = pair().candidate;
    await assert.rejects(
      run('/usr/bin/python3', [ROUND_PY, `--tls-ca=${ca.wrongCaCert}`, 'pymemcache', '127.0.0.1', String(server.port), 'untrusted_']),
    );
  });
});
