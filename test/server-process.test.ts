/*
 * The server as an operator runs it: signals, unix sockets, idle timeouts, clients that do
 * not read, clients that vanish mid-request. Each test starts its own recordcache process.
 */

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { MEMCACHED, RECORDCACHE_CLI, freePort, startServer, type ServerProcess } from '../conformance/lib/servers';
import { connect, request, statValue as stat } from './helpers/client';

/**
 * Polls until `done` holds. No deadline of its own: mocha's timeout ends a wait that never
 * succeeds, so no test depends on how fast this machine is.
 */
async function waitFor(done: () => boolean | Promise<boolean>): Promise<void> {
  while (!(await done())) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** The process has not exited and still answers on a new connection. */
async function assertServing(server: ServerProcess): Promise<void> {
  assert.equal(server.hasExited(), false, `the server exited:\n${server.output()}`);
  const socket = await connect(server.port);
  assert.equal(await request(socket, 'version\r\n'), 'VERSION 1.6.18\r\n');
  socket.destroy();
}

/** The bytes of one `get` reply of a value of `length` bytes under `key`, END included. */
function getReplyLength(key: string, length: number): number {
  return `VALUE ${key} 0 ${length}\r\n`.length + length + '\r\nEND\r\n'.length;
}

/** The last line of a program's output, without its newline. */
function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1) ?? '';
}

/** Whether a process of this pid exists (signal 0 checks without sending anything). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Spawns a command and resolves with its exit status and all of its stderr. */
function runToExit(program: string, args: string[]): Promise<{ status: number | string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.once('close', (code, signal) => resolve({ status: code ?? signal ?? 'unknown', stderr }));
  });
}

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
      assert.equal(lastLine(refused.stderr), 'failed to listen on one of interface(s) 127.0.0.1: Address already in use');
      // The one that listens is untouched by the attempt.
      const again = await connect(port);
      assert.equal(await request(again, 'version\r\n'), 'VERSION 1.6.18\r\n');
      again.destroy();
      assert.equal(isRunning(pid), true);
    } finally {
      process.kill(pid, 'SIGTERM');
    }
    // The pidfile goes in the process's exit handler, so once the process is gone it is too.
    await waitFor(() => !isRunning(pid));
    assert.equal(fs.existsSync(pidFile), false, 'pidfile removed at exit');
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} finishes the replies in progress and exits 0`, async () => {
      server = await startServer('recordcache', []);
      const port = server.port;
      const socket = await connect(port);
      const value = 'v'.repeat(1000000);
      assert.equal(await request(socket, `set big 0 0 ${value.length}\r\n${value}\r\n`), 'STORED\r\n');
      // 30 MB of replies; the client reads them only after the signal has been sent.
      socket.pause();
      socket.write('get big\r\n'.repeat(30));
      // The signal comes once the server is answering them: replies are in progress.
      await waitFor(async () => (await stat(port, 'get_hits')) > 0);
      server.child.kill(signal);
      const received: Buffer[] = [];
      socket.on('data', (d: Buffer) => received.push(d));
      socket.resume();
      const closed = new Promise((resolve) => socket.once('close', resolve));
      assert.equal(await server.exited, 0);
      await closed;
      // Every reply whole and in order, then the close.
      const replies = Buffer.concat(received);
      assert.equal(replies.length, 30 * getReplyLength('big', value.length));
      assert.ok(replies.equals(Buffer.from(`VALUE big 0 ${value.length}\r\n${value}\r\nEND\r\n`.repeat(30), 'latin1')), 'replies intact');
    });
  }

  it('listens on a unix socket with the mode given by -a', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-'));
    const sock = path.join(dir, 'mc.sock');
    const child = spawn(process.execPath, [RECORDCACHE_CLI, '-s', sock, '-a', '0660'], { stdio: 'ignore' });
    const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
    let exitStatus: number | string | null = null;
    void exited.then((status) => (exitStatus = status));
    try {
      await waitFor(() => fs.existsSync(sock) || exitStatus !== null);
      assert.equal(exitStatus, null, 'the server exited before listening');
      assert.equal(fs.statSync(sock).mode & 0o777, 0o660);
      const socket = await connect(sock);
      assert.equal(await request(socket, 'set k 0 0 2\r\nhi\r\n'), 'STORED\r\n');
      assert.equal(await request(socket, 'get k\r\n', 'END\r\n'), 'VALUE k 0 2\r\nhi\r\nEND\r\n');
      const conns = await request(socket, 'stats conns\r\n', 'END\r\n');
      assert.match(conns, new RegExp(`STAT \\d+:addr unix:${sock.replace(/[/.]/g, '\\$&')}\r\n`));
      socket.destroy();
      assert.equal(exitStatus, null, 'still running after serving');
    } finally {
      child.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.equal(await exited, 0, 'SIGTERM exits 0');
  });

  it('native: names its I/O threads, gives them a short slice, and runs the JavaScript thread 5 nice levels below them', async () => {
    server = await startServer('recordcache', ['--records=native', '-t', '3']);
    const pid = server.child.pid as number;
    const threads = fs.readdirSync(`/proc/${pid}/task`).map((tid) => {
      const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      // Fields after the name: state is the 3rd of stat, nice the 19th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { tid: Number(tid), name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), nice: Number(fields[16]) };
    });
    const io = threads.filter((t) => /^rc-io-\d+$/.test(t.name));
    assert.deepEqual(io.map((t) => t.name).sort(), ['rc-io-0', 'rc-io-1', 'rc-io-2']);
    const main = threads.find((t) => t.tid === pid);
    assert.ok(main !== undefined);
    for (const t of io) assert.equal(main.nice - t.nice, 5, `${t.name} at nice ${t.nice}, the JavaScript thread at ${main.nice}`);
    // Under EEVDF (se.slice in /proc/<tid>/sched, Linux 6.12 on) the I/O threads ask for the
    // shortest slice, so a request preempts the JavaScript thread; older kernels have no slice.
    const slice = (tid: number) => {
      const m = /^se\.slice\s*:\s*(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/task/${tid}/sched`, 'utf8'));
      return m === null ? null : Number(m[1]);
    };
    const mainSlice = slice(pid);
    if (mainSlice !== null) {
      for (const t of io) assert.equal(slice(t.tid), 100_000, `${t.name}'s slice, the JavaScript thread's ${mainSlice} ns`);
    }
    await assertServing(server);
  });

  it('closes connections idle past -o idle_timeout', async () => {
    server = await startServer('recordcache', ['-o', 'idle_timeout=1']);
    const socket = await connect(server.port);
    let after = '';
    let ended = false;
    socket.on('end', () => (ended = true));
    assert.equal(await request(socket, 'version\r\n'), 'VERSION 1.6.18\r\n');
    const lastReply = performance.now();
    socket.on('data', (d: Buffer) => (after += d.toString('latin1')));
    // The server closes it (a FIN, not an error), says nothing more, and goes on serving.
    await new Promise((resolve) => socket.once('close', resolve));
    const idle = performance.now() - lastReply;
    assert.equal(ended, true, 'closed by the server');
    assert.equal(after, '');
    // Not before the connection has been idle for the second asked (memcached: more than
    // idle_timeout seconds since the last command). No upper bound: a busy machine is slow.
    assert.ok(idle >= 900, `closed after ${idle.toFixed(0)} ms idle`);
    await assertServing(server);
  });

  it('stops reading from a client that does not read, and serves it whole when it does', async () => {
    server = await startServer('recordcache', []);
    const port = server.port;
    const writer = await connect(port);
    const value = 'w'.repeat(1000000);
    assert.equal(await request(writer, `set big 0 0 ${value.length}\r\n${value}\r\n`), 'STORED\r\n');
    const reader = await connect(port);
    reader.pause();
    const gets = 200;
    reader.write('get big\r\n'.repeat(gets));
    // 200 MB were asked for. Wait until the server has answered some and then stopped: three
    // readings of get_hits in a row, each a round trip through the server apart, the same.
    let last = -1;
    let same = 0;
    await waitFor(async () => {
      const hits = await stat(port, 'get_hits');
      same = hits === last && hits > 0 ? same + 1 : 0;
      last = hits;
      return same >= 2;
    });
    // While the client does not read, the server holds back.
    const written = await stat(port, 'bytes_written');
    assert.ok(written < 64 * 1024 * 1024, `bytes queued while the client does not read: ${written}`);
    assert.ok((await stat(port, 'get_hits')) < gets, 'not every get was answered into a full socket');
    // Other clients are served meanwhile, and the stored value is intact.
    assert.equal(await request(writer, 'get big\r\n', 'END\r\n'), `VALUE big 0 ${value.length}\r\n${value}\r\nEND\r\n`);
    let received = 0;
    const done = new Promise<void>((resolve) => {
      const expected = gets * getReplyLength('big', value.length);
      reader.on('data', (d) => {
        received += d.length;
        if (received >= expected) resolve();
      });
    });
    reader.resume();
    await done;
    assert.equal(received, gets * getReplyLength('big', value.length), 'nothing past the replies asked for');
    reader.destroy();
    writer.destroy();
    await assertServing(server);
  });

  it('a client that disconnects mid data block harms nothing', async () => {
    server = await startServer('recordcache', []);
    const other = await connect(server.port);
    assert.equal(await request(other, 'set kept 0 0 4\r\nkeep\r\n'), 'STORED\r\n');
    const port = server.port;
    const quitter = await connect(port);
    const readBefore = await stat(port, 'bytes_read');
    const half = 'set half 0 0 100\r\n' + 'x'.repeat(50);
    quitter.write(half);
    // Once the server has read the half request, the client goes.
    await waitFor(async () => (await stat(port, 'bytes_read')) >= readBefore + half.length);
    const connections = await stat(port, 'curr_connections');
    quitter.destroy();
    await waitFor(async () => (await stat(port, 'curr_connections')) < connections);
    assert.equal(await request(other, 'get half kept\r\n', 'END\r\n'), 'VALUE kept 0 4\r\nkeep\r\nEND\r\n');
    assert.equal(await request(other, 'set half 0 0 1\r\nh\r\n'), 'STORED\r\n');
    other.destroy();
    await assertServing(server);
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
    assert.equal(await request(socket, `set short 0 0 10\r\n${'s'.repeat(10)}\r\n`), 'STORED\r\n');
    assert.equal(await request(socket, `set long 0 0 2000\r\n${'l'.repeat(2000)}\r\n`), 'STORED\r\n');
    const created = () => stat(server!.port, 'records_created');
    const reply = (key: string, n: number) => `VALUE ${key} 0 ${n}\r\n${key[0].repeat(n)}\r\nEND\r\n`;
    for (let i = 0; i < 5; i++) assert.equal(await request(socket, 'get short\r\n', 'END\r\n'), reply('short', 10));
    assert.equal(await created(), 0, 'a value shorter than records_min_size never becomes a record');
    for (let i = 1; i <= 2; i++) assert.equal(await request(socket, 'get long\r\n', 'END\r\n'), reply('long', 2000));
    assert.equal(await created(), 0, 'served twice: not yet a record');
    for (let i = 3; i <= 5; i++) assert.equal(await request(socket, 'get long\r\n', 'END\r\n'), reply('long', 2000));
    assert.equal(await created(), 1, 'the third serve makes the record, later ones reuse it');
    socket.destroy();
    await assertServing(server);
  });
  it("exits 71 (EX_OSERR) with memcached's message when its port is taken", async () => {
    const occupant = net.createServer();
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
    const port = (occupant.address() as net.AddressInfo).port;
    try {
      const flags = ['-p', String(port), '-U', '0', '-l', '127.0.0.1'];
      const records = process.env.RC_RECORDS ? [`--records=${process.env.RC_RECORDS}`] : [];
      const [ours, theirs] = await Promise.all([
        runToExit(process.execPath, [RECORDCACHE_CLI, ...records, ...flags]),
        runToExit(MEMCACHED, [...flags, '-u', 'root']),
      ]);
      const expected = 'failed to listen on one of interface(s) 127.0.0.1: Address already in use';
      assert.deepEqual(theirs, { status: 71, stderr: expected + '\n' }, 'memcached, the reference');
      // Ours may first say which records backend it could not load (--records=auto).
      assert.equal(ours.status, 71);
      assert.equal(lastLine(ours.stderr), expected);
    } finally {
      occupant.close();
    }
  });

  it('writes its pid to the -P file, and leaves it after SIGTERM in the foreground as memcached does', async () => {
    // memcached.c removes the pidfile at exit only `if (do_daemonize)`; the -d case above
    // checks that it goes.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'recordcache-pid-'));
    try {
      const written = (file: string) => fs.existsSync(file) && fs.readFileSync(file, 'utf8').endsWith('\n');
      const ours = path.join(dir, 'ours.pid');
      const theirs = path.join(dir, 'memcached.pid');
      server = await startServer('recordcache', ['-P', ours]);
      const reference = await startServer('memcached', ['-P', theirs]);
      try {
        // The kernel accepts connections as soon as the socket listens; the file follows.
        await waitFor(() => server!.hasExited() || reference.hasExited() || (written(ours) && written(theirs)));
        assert.equal(fs.readFileSync(theirs, 'utf8'), `${reference.child.pid}\n`, 'memcached, the reference');
        assert.equal(fs.readFileSync(ours, 'utf8'), `${server.child.pid}\n`);
        await assertServing(server);
        reference.child.kill('SIGTERM');
        server.child.kill('SIGTERM');
        assert.equal(await reference.exited, 0);
        assert.equal(await server.exited, 0);
        assert.equal(fs.existsSync(theirs), true, 'memcached leaves its pidfile');
        assert.equal(fs.readFileSync(ours, 'utf8'), `${server.child.pid}\n`, 'and so does recordcache');
      } finally {
        await reference.stop();
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('-u nobody: started as root, runs as that user once it listens', async function () {
    if (process.getuid?.() !== 0) {
      // Loud, so a run that skips it is noticed: only root can drop privileges.
      console.warn('    SKIPPED: -u only changes the user of a server started as root; these tests run as uid %d', process.getuid?.());
      this.skip();
    }
    const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' });
    const nogroup = spawnSync('id', ['-g', 'nobody'], { encoding: 'utf8' });
    assert.equal(nobody.status, 0, 'the system has a user nobody');
    const uid = nobody.stdout.trim();
    const gid = nogroup.stdout.trim();
    server = await startServer('recordcache', ['-u', 'nobody']);
    const pid = server.child.pid as number;
    // Real, effective, saved and filesystem ids all change.
    const ids = (field: string) => {
      const line = fs
        .readFileSync(`/proc/${pid}/status`, 'utf8')
        .split('\n')
        .find((l) => l.startsWith(`${field}:`));
      return (line ?? '').split(/\s+/).slice(1, 5);
    };
    await waitFor(() => server!.hasExited() || ids('Uid')[0] === uid);
    assert.equal(server.hasExited(), false, server.output());
    assert.deepEqual(ids('Uid'), [uid, uid, uid, uid]);
    assert.deepEqual(ids('Gid'), [gid, gid, gid, gid]);
    // memcached drops every supplementary group (setgroups(0, NULL)): its Groups line is empty.
    const groups = fs
      .readFileSync(`/proc/${pid}/status`, 'utf8')
      .match(/^Groups:(.*)$/m)?.[1]
      .trim();
    assert.equal(groups, '', 'no supplementary groups');
    // It still serves, as that user.
    const socket = await connect(server.port);
    assert.equal(await request(socket, 'set k 0 0 2\r\nhi\r\n'), 'STORED\r\n');
    assert.equal(await request(socket, 'get k\r\n', 'END\r\n'), 'VALUE k 0 2\r\nhi\r\nEND\r\n');
    socket.destroy();
  });
});
