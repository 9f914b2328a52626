/*
 * The server as an operator runs it: signals, unix sockets, idle timeouts, clients that do
 * not read, clients that vanish mid-request. Each test starts its own recordcache process.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RECORDCACHE_CLI, freePort, startServer, type ServerProcess } from '../conformance/lib/servers';
import { connect, request, statValue as stat } from './helpers/client';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('server process', function () {
  this.timeout(60000);
  let server: ServerProcess | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('-d returns once the server listens, detached, with its pid in the -P file', async () => {
    const port = await freePort();
    const pidFile = path.join(os.tmpdir(), `rc-daemon-${process.pid}.pid`);
    const started = spawnSync(process.execPath, [RECORDCACHE_CLI, '-d', '-p', String(port), '-l', '127.0.0.1', '-P', pidFile], {
      encoding: 'utf8',
      timeout: 20000,
    });
    assert.equal(started.status, 0, started.stderr);
    const pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
    try {
      assert.notEqual(pid, started.pid);
      // Its own session: no terminal or shell job control reaches it.
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      assert.equal(Number(stat[3]), pid, 'session id');
      const socket = await connect(port);
      assert.equal(await request(socket, 'version\r\n'), 'VERSION 1.6.18\r\n');
      socket.destroy();
      // A second one cannot bind: -d reports the failure and its status instead of 0.
      const refused = spawnSync(process.execPath, [RECORDCACHE_CLI, '-d', '-p', String(port), '-l', '127.0.0.1'], {
        encoding: 'utf8',
        timeout: 20000,
      });
      assert.equal(refused.status, 71);
      assert.match(refused.stderr, /failed to listen/);
    } finally {
      process.kill(pid, 'SIGTERM');
    }
    for (let i = 0; i < 100 && fs.existsSync(pidFile); i++) await sleep(50);
    assert.equal(fs.existsSync(pidFile), false, 'pidfile removed at exit');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} finishes the replies in progress and exits 0`, async () => {
      server = await startServer('recordcache', []);
      const socket = await connect(server.port);
      const value = 'v'.repeat(1000000);
      await request(socket, `set big 0 0 ${value.length}\r\n${value}\r\n`);
      // 30 MB of replies; the client reads them only after the signal has been sent.
      socket.pause();
      socket.write('get big\r\n'.repeat(30));
      await sleep(300);
      server.child.kill(signal);
      let received = 0;
      socket.on('data', (d) => (received += d.length));
      socket.resume();
      const closed = new Promise((resolve) => socket.once('close', resolve));
      assert.equal(await server.exited, 0);
      await closed;
      assert.equal(received, 30 * (`VALUE big 0 ${value.length}\r\n`.length + value.length + 2 + 5));
    });
  }

  it('listens on a unix socket with the mode given by -a', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-'));
    const sock = path.join(dir, 'mc.sock');
    const child = spawn(process.execPath, [RECORDCACHE_CLI, '-s', sock, '-a', '0660'], { stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !fs.existsSync(sock); i++) await sleep(25);
      assert.equal(fs.statSync(sock).mode & 0o777, 0o660);
      const socket = await connect(sock);
      assert.equal(await request(socket, 'set k 0 0 2\r\nhi\r\n'), 'STORED\r\n');
      assert.equal(await request(socket, 'get k\r\n', 'END\r\n'), 'VALUE k 0 2\r\nhi\r\nEND\r\n');
      const conns = await request(socket, 'stats conns\r\n', 'END\r\n');
      assert.match(conns, new RegExp(`STAT \\d+:addr unix:${sock.replace(/[/.]/g, '\\$&')}\r\n`));
      socket.destroy();
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('closes connections idle past -o idle_timeout', async () => {
    server = await startServer('recordcache', ['-o', 'idle_timeout=1']);
    const socket = await connect(server.port);
    assert.equal(await request(socket, 'version\r\n').then((r) => r.startsWith('VERSION ')), true);
    const started = Date.now();
    await new Promise((resolve) => socket.once('close', resolve));
    assert.ok(Date.now() - started < 5000);
  });

  it('stops reading from a client that does not read, and serves it whole when it does', async () => {
    server = await startServer('recordcache', []);
    const port = server.port;
    const writer = await connect(port);
    const value = 'w'.repeat(1000000);
    await request(writer, `set big 0 0 ${value.length}\r\n${value}\r\n`);
    const reader = await connect(port);
    reader.pause();
    const gets = 3000;
    reader.write('get big\r\n'.repeat(gets));
    await sleep(1000);
    // 3 GB were asked for; while the client does not read, the server holds back.
    const written = await stat(port, 'bytes_written');
    assert.ok(written < 64 * 1024 * 1024, `bytes queued while the client does not read: ${written}`);
    // Other clients are served meanwhile, and the stored value is intact.
    assert.equal(await request(writer, 'get big\r\n', 'END\r\n'), `VALUE big 0 ${value.length}\r\n${value}\r\nEND\r\n`);
    let received = 0;
    const done = new Promise<void>((resolve) => {
      const expected = gets * (`VALUE big 0 ${value.length}\r\n`.length + value.length + 2 + 5);
      reader.on('data', (d) => {
        received += d.length;
        if (received >= expected) resolve();
      });
    });
    reader.resume();
    await done;
    reader.destroy();
    writer.destroy();
  });

  it('a client that disconnects mid data block harms nothing', async () => {
    server = await startServer('recordcache', []);
    const other = await connect(server.port);
    assert.equal(await request(other, 'set kept 0 0 4\r\nkeep\r\n'), 'STORED\r\n');
    const quitter = await connect(server.port);
    quitter.write('set half 0 0 100\r\n' + 'x'.repeat(50));
    await sleep(100);
    quitter.destroy();
    await sleep(100);
    assert.equal(await request(other, 'get half kept\r\n', 'END\r\n'), 'VALUE kept 0 4\r\nkeep\r\nEND\r\n');
    other.destroy();
  });

  it('--help exits 0 with usage; an unknown flag exits 2', () => {
    const help = spawnSync(process.execPath, [RECORDCACHE_CLI, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /-p, --port/);
    const bad = spawnSync(process.execPath, [RECORDCACHE_CLI, '--no-such-flag'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.notEqual(bad.stderr.length, 0);
  });
  it('makes records only of values as long and as often served as -o records_min_size, records_min_hits say', async () => {
    server = await startServer('recordcache', ['--records=native', '-o', 'records_min_size=1000,records_min_hits=3']);
    const socket = await connect(server.port);
    await request(socket, `set short 0 0 10\r\n${'s'.repeat(10)}\r\n`);
    await request(socket, `set long 0 0 2000\r\n${'l'.repeat(2000)}\r\n`);
    const created = () => stat(server!.port, 'records_created');
    const reply = (key: string, n: number) => `VALUE ${key} 0 ${n}\r\n${key[0].repeat(n)}\r\nEND\r\n`;
    for (let i = 0; i < 5; i++) assert.equal(await request(socket, 'get short\r\n', 'END\r\n'), reply('short', 10));
    assert.equal(await created(), 0, 'a value shorter than records_min_size never becomes a record');
    for (let i = 1; i <= 2; i++) assert.equal(await request(socket, 'get long\r\n', 'END\r\n'), reply('long', 2000));
    assert.equal(await created(), 0, 'served twice: not yet a record');
    for (let i = 3; i <= 5; i++) assert.equal(await request(socket, 'get long\r\n', 'END\r\n'), reply('long', 2000));
    assert.equal(await created(), 1, 'the third serve makes the record, later ones reuse it');
    socket.destroy();
  });
});
