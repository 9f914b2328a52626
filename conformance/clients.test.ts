// Real clients, unchanged: each does a full round of its own API against
// recordcache, and the same round against Debian's memcached must pass too,
// so a failure here is recordcache's. Clients: memjs (binary protocol) and
// memcached (text) from npm; pymemcache and pylibmc (text and binary) from
// Debian; libmemcached's command-line tools; twemproxy (nutcracker) in front of
// three servers.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import Memcached from 'memcached';
import memjs from 'memjs';
import { assertBackend, candidateKind, freePort, startServer, type ServerProcess, type TargetKind } from './lib/servers';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const ROUND_PY = path.join(__dirname, 'clients', 'round.py');
/** Just under the default 1 MB item limit, leaving room for the item header and a key. */
const LARGE = 1024 * 1024 - 512;
const BINARY = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), Buffer.from('\r\nEND\r\n\0')]);

let prefixes = 0;
const prefix = (name: string) => `${name}${++prefixes}_`;

async function memjsRound(port: number): Promise<void> {
  const client = memjs.Client.create(`127.0.0.1:${port}`, { retries: 0, timeout: 10 });
  const p = prefix('memjs');
  try {
    assert.equal(await client.set(`${p}a`, 'alpha', {}), true);
    assert.equal((await client.get(`${p}a`)).value?.toString(), 'alpha');
    assert.equal((await client.get(`${p}missing`)).value, null);
    assert.equal(await client.set(`${p}empty`, Buffer.alloc(0), {}), true);
    assert.deepEqual((await client.get(`${p}empty`)).value, Buffer.alloc(0));
    assert.equal(await client.set(`${p}bin`, BINARY, {}), true);
    assert.deepEqual((await client.get(`${p}bin`)).value, BINARY);
    const large = Buffer.alloc(LARGE, 0x4c);
    assert.equal(await client.set(`${p}large`, large, {}), true);
    assert.deepEqual((await client.get(`${p}large`)).value, large);
    assert.equal(await client.add(`${p}a`, 'x', {}), false);
    assert.equal(await client.add(`${p}b`, 'beta', {}), true);
    assert.equal(await client.replace(`${p}b`, 'BETA', {}), true);
    assert.equal(await client.replace(`${p}nope`, 'x', {}), false);
    assert.equal(await client.append(`${p}b`, '!'), true);
    assert.equal((await client.get(`${p}b`)).value?.toString(), 'BETA!');
    // memjs 1.3 sends prepend with the append opcode; the server does what the opcode says.
    assert.equal(await client.prepend(`${p}b`, '<'), true);
    assert.equal((await client.get(`${p}b`)).value?.toString(), 'BETA!<');
    assert.equal(await client.set(`${p}n`, '10', {}), true);
    assert.equal((await client.increment(`${p}n`, 5, {})).value, 15);
    assert.equal((await client.decrement(`${p}n`, 20, {})).value, 0);
    // An initial value creates a missing counter.
    assert.equal((await client.increment(`${p}new`, 5, { initial: 7 })).value, 7);
    assert.equal(await client.touch(`${p}a`, 100), true);
    assert.equal(await client.touch(`${p}nope`, 100), false);
    assert.equal(await client.delete(`${p}a`), true);
    assert.equal(await client.delete(`${p}a`), false);
    const stats = await new Promise<Record<string, string>>((resolve, reject) =>
      client.stats((err, _server, result) => (err ? reject(err) : resolve(result as Record<string, string>))),
    );
    assert.match(stats.version, /^1\.6/);
  } finally {
    client.close();
  }
}

function memcachedNpmRound(port: number): Promise<void> {
  const client = new Memcached(`127.0.0.1:${port}`, { retries: 0, timeout: 5000, maxValue: 1024 * 1024 });
  const p = prefix('npm');
  const call = <T>(fn: (cb: (err: unknown, result: T) => void) => void) =>
    new Promise<T>((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result))));
  return (async () => {
    try {
      assert.equal(await call<boolean>((cb) => client.set(`${p}a`, 'alpha', 0, cb)), true);
      assert.equal(await call<unknown>((cb) => client.get(`${p}a`, cb)), 'alpha');
      assert.equal(await call<unknown>((cb) => client.get(`${p}missing`, cb)), undefined);
      assert.equal(await call<boolean>((cb) => client.set(`${p}empty`, '', 0, cb)), true);
      assert.equal(await call<unknown>((cb) => client.get(`${p}empty`, cb)), '');
      assert.equal(await call<boolean>((cb) => client.set(`${p}bin`, BINARY, 0, cb)), true);
      assert.deepEqual(await call<unknown>((cb) => client.get(`${p}bin`, cb)), BINARY);
      const large = 'L'.repeat(LARGE);
      assert.equal(await call<boolean>((cb) => client.set(`${p}large`, large, 0, cb)), true);
      assert.equal(await call<unknown>((cb) => client.get(`${p}large`, cb)), large);
      assert.deepEqual(await call<unknown>((cb) => client.getMulti([`${p}a`, `${p}missing`, `${p}empty`], cb)), {
        [`${p}a`]: 'alpha',
        [`${p}empty`]: '',
      });
      // add of an existing key: the client reports NOT_STORED as an error.
      await assert.rejects(call<boolean>((cb) => client.add(`${p}a`, 'x', 0, cb as (err: unknown) => void)));
      assert.equal(await call<boolean>((cb) => client.add(`${p}b`, 'beta', 0, cb)), true);
      assert.equal(await call<boolean>((cb) => client.replace(`${p}b`, 'BETA', 0, cb)), true);
      assert.equal(await call<boolean>((cb) => client.append(`${p}b`, '!', cb)), true);
      assert.equal(await call<boolean>((cb) => client.prepend(`${p}b`, '<', cb)), true);
      assert.equal(await call<unknown>((cb) => client.get(`${p}b`, cb)), '<BETA!');
      const gets = await call<Record<string, unknown>>((cb) => client.gets(`${p}b`, cb));
      const cas = String(gets.cas);
      assert.equal(await call<boolean>((cb) => client.cas(`${p}b`, 'new', cas, 0, cb)), true);
      assert.equal(await call<boolean>((cb) => client.cas(`${p}b`, 'newer', cas, 0, cb)), false);
      assert.equal(await call<boolean>((cb) => client.set(`${p}n`, '10', 0, cb)), true);
      assert.equal(await call<unknown>((cb) => client.incr(`${p}n`, 5, cb)), 15);
      assert.equal(await call<unknown>((cb) => client.decr(`${p}n`, 20, cb)), 0);
      assert.equal(await call<unknown>((cb) => client.incr(`${p}nope`, 1, cb)), false);
      await call<void>((cb) => client.touch(`${p}a`, 100, (err) => cb(err, undefined)));
      assert.equal(await call<boolean>((cb) => client.del(`${p}a`, cb)), true);
      assert.equal(await call<boolean>((cb) => client.del(`${p}a`, cb)), false);
      const version = await call<{ version: string }[]>((cb) => client.version(cb));
      assert.match(version[0].version, /^1\.6/);
    } finally {
      client.end();
    }
  })();
}

async function pythonRound(port: number, client: string, binary: boolean): Promise<void> {
  const args = [ROUND_PY, client, '127.0.0.1', String(port), ...(binary ? ['binary'] : []), prefix(client)];
  const { stdout } = await run(PYTHON, args, { timeout: 60000 });
  assert.match(stdout, /round ok/);
}

/** memccp/memccat/memcrm/memcstat/memcflush, in text or binary mode. */
async function libmemcachedToolsRound(port: number, binary: boolean): Promise<void> {
  const servers = `--servers=127.0.0.1:${port}`;
  const mode = binary ? ['--binary'] : [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'memc-'));
  try {
    const name = `${prefix('tools')}file`;
    const file = path.join(dir, name);
    const content = Buffer.concat([BINARY, Buffer.alloc(100000, 0x7a)]);
    fs.writeFileSync(file, content);
    await run('memccp', [...mode, servers, file], { timeout: 20000 });
    const cat = await run('memccat', [...mode, servers, name], { timeout: 20000, encoding: 'buffer' });
    // memccat ends what it prints with a newline.
    assert.deepEqual(cat.stdout, Buffer.concat([content, Buffer.from('\n')]));
    const stat = await run('memcstat', [...mode, servers], { timeout: 20000 });
    assert.match(stat.stdout, /curr_items: \d+/);
    await run('memcrm', [...mode, servers, name], { timeout: 20000 });
    await assert.rejects(run('memccat', [...mode, servers, name], { timeout: 20000 }));
    await run('memccp', [...mode, servers, file], { timeout: 20000 });
    await run('memcflush', [...mode, servers], { timeout: 20000 });
    await assert.rejects(run('memccat', [...mode, servers, name], { timeout: 20000 }));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function waitForListener(port: number): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** nutcracker in front of three servers: keys spread across them and all read back. */
async function twemproxyRound(kind: TargetKind): Promise<void> {
  const backends: ServerProcess[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'twem-'));
  let proxy: ReturnType<typeof spawn> | null = null;
  try {
    for (let i = 0; i < 3; i++) {
      backends.push(await startServer(kind, []));
      await assertBackend(backends[i]);
    }
    const port = await freePort();
    const conf = path.join(dir, 'nutcracker.yml');
    fs.writeFileSync(
      conf,
      [
        'pool:',
        `  listen: 127.0.0.1:${port}`,
        '  hash: fnv1a_64',
        '  distribution: ketama',
        '  timeout: 2000',
        '  redis: false',
        '  auto_eject_hosts: false',
        '  servers:',
        ...backends.map((b, i) => `   - 127.0.0.1:${b.port}:1 server${i}`),
        '',
      ].join('\n'),
    );
    proxy = spawn('nutcracker', ['-c', conf, '-s', String(await freePort()), '-o', path.join(dir, 'log')], { stdio: 'ignore' });
    await waitForListener(port);
    const client = new Memcached(`127.0.0.1:${port}`, { retries: 0, timeout: 5000 });
    const call = <T>(fn: (cb: (err: unknown, result: T) => void) => void) =>
      new Promise<T>((resolve, reject) => fn((err, result) => (err ? reject(err) : resolve(result))));
    try {
      const keys = Array.from({ length: 200 }, (_, i) => `twem-key-${i}`);
      for (const key of keys) assert.equal(await call<boolean>((cb) => client.set(key, `value of ${key}`, 0, cb)), true);
      const got = await call<Record<string, string>>((cb) => client.getMulti(keys, cb));
      for (const key of keys) assert.equal(got[key], `value of ${key}`);
      assert.equal(await call<boolean>((cb) => client.del(keys[0], cb)), true);
      assert.equal(await call<unknown>((cb) => client.get(keys[0], cb)), undefined);
      // Every backend holds a share of the keys, and together exactly the live ones.
      let total = 0;
      for (const backend of backends) {
        const direct = new Memcached(`127.0.0.1:${backend.port}`, { retries: 0, timeout: 5000 });
        const held = await new Promise<Record<string, string>>((resolve, reject) =>
          direct.getMulti(keys, (err, result) => (err ? reject(err) : resolve(result))),
        );
        direct.end();
        const count = Object.keys(held).length;
        assert.ok(count > 0, `backend on ${backend.port} holds no keys`);
        total += count;
      }
      assert.equal(total, keys.length - 1);
    } finally {
      client.end();
    }
  } finally {
    proxy?.kill('SIGTERM');
    for (const backend of backends) await backend.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

for (const kind of ['memcached', candidateKind()] as TargetKind[]) {
  describe(`real clients against ${kind}`, function () {
    this.timeout(120000);
    let server: ServerProcess;
    before(async () => {
      server = await startServer(kind, []);
      await assertBackend(server);
    });
    after(async () => {
      await server?.stop();
    });

    it('memjs (binary protocol)', () => memjsRound(server.port));
    it('memcached from npm (text protocol)', () => memcachedNpmRound(server.port));
    it('pymemcache', () => pythonRound(server.port, 'pymemcache', false));
    it('pylibmc, text protocol', () => pythonRound(server.port, 'pylibmc', false));
    it('pylibmc, binary protocol', () => pythonRound(server.port, 'pylibmc', true));
    it('libmemcached tools, text protocol', () => libmemcachedToolsRound(server.port, false));
    it('libmemcached tools, binary protocol', () => libmemcachedToolsRound(server.port, true));
    it('twemproxy in front of three servers', () => twemproxyRound(kind));
  });
}
