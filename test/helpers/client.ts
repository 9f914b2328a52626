/*
 * A plain memcached client over a real socket, for tests that drive a whole server:
 * connect, send bytes and read until a reply's terminator, read one `stats` value.
 */

import assert from 'node:assert/strict';
import net from 'node:net';

/** A TCP port on 127.0.0.1, or a unix socket path. */
export function connect(target: number | string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = typeof target === 'number' ? net.connect(target, '127.0.0.1') : net.connect(target);
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends a request and reads until the reply ends with `terminator`. */
export function request(socket: net.Socket, bytes: string | Buffer, terminator = '\r\n'): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (data: Buffer) => {
      got += data.toString('latin1');
      if (got.endsWith(terminator)) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(got);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.write(bytes);
  });
}

/** One value of `stats`, read over a connection of its own. */
export async function statValue(port: number, name: string): Promise<number> {
  const socket = await connect(port);
  const reply = await request(socket, 'stats\r\n', 'END\r\n');
  socket.destroy();
  const line = reply.split('\r\n').find((l) => l.startsWith(`STAT ${name} `));
  assert.ok(line, `stats has ${name}`);
  return Number(line.split(' ')[2]);
}
