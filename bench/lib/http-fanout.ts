/*
 * H3's clients, as a process of their own pinned to the generator CPU:
 * `tsx bench/lib/http-fanout.ts '<json HttpFanoutArgs>'`. Every connection asks for the
 * same hot value at once and then reads nothing while the caller samples the machine's
 * memory (slow clients: each one's bytes wait in the server's and the kernel's buffers);
 * told to go on (a line on stdin), all read to the end. Prints `holding` once every
 * connection has sent its request and received its first bytes, then one line of JSON
 * (HttpFanoutResult).
 */

import net from 'node:net';

export interface HttpFanoutArgs {
  host: string;
  port: number;
  path: string;
  connections: number;
  /** The value's length: a reply is whole once this many body bytes are in. */
  valueLength: number;
}

export interface HttpFanoutResult {
  /** Connections whose reply arrived whole, with a 200 status. */
  whole: number;
  failed: number;
}

export const HOLDING_LINE = 'holding';

interface Client {
  socket: net.Socket;
  started: boolean;
  received: number;
  head: string;
  bodyStart: number;
  done: boolean;
  ok: boolean;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as HttpFanoutArgs;
  const request = `GET ${args.path} HTTP/1.1\r\nHost: bench\r\n\r\n`;
  const clients: Client[] = [];
  let started = 0;
  let finished = 0;
  let released = false;
  const allStarted = new Promise<void>((resolve) => {
    for (let i = 0; i < args.connections; i++) {
      const socket = net.connect({ host: args.host, port: args.port });
      const client: Client = { socket, started: false, received: 0, head: '', bodyStart: -1, done: false, ok: false };
      clients.push(client);
      socket.once('connect', () => socket.write(request));
      socket.on('data', (data: Buffer) => {
        if (client.bodyStart < 0) {
          client.head += data.toString('latin1');
          const end = client.head.indexOf('\r\n\r\n');
          if (end >= 0) {
            client.bodyStart = end + 4;
            client.ok = client.head.startsWith('HTTP/1.1 200 ');
            client.received = client.head.length - client.bodyStart;
          }
        } else {
          client.received += data.length;
        }
        // The first bytes are in: stop reading until the caller has sampled the memory.
        if (!client.started) {
          client.started = true;
          if (!released) socket.pause();
          if (++started === args.connections) resolve();
        }
        if (!client.done && client.bodyStart >= 0 && client.received >= args.valueLength) {
          client.done = true;
          finished++;
          socket.destroy();
        }
      });
      socket.on('error', () => {
        if (!client.done) {
          client.done = true;
          finished++;
        }
        if (!client.started) {
          client.started = true;
          if (++started === args.connections) resolve();
        }
      });
    }
  });
  await allStarted;
  process.stdout.write(`${HOLDING_LINE}\n`);
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  released = true;
  await new Promise<void>((resolve) => {
    const check = setInterval(() => {
      if (finished >= args.connections) {
        clearInterval(check);
        resolve();
      }
    }, 20);
    for (const client of clients) client.socket.resume();
  });
  const result: HttpFanoutResult = {
    whole: clients.filter((c) => c.ok && c.received === args.valueLength).length,
    failed: clients.filter((c) => !c.ok || c.received !== args.valueLength).length,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

if (require.main === module) {
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack ?? error}\n`);
    process.exit(1);
  });
}
