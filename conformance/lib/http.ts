// recordcache with its HTTP listener (-o http_port) for the HTTP cases: started on free
// loopback ports, with a raw memcached client beside it and a reader of raw HTTP replies.
import fs from 'node:fs';
import { WireConnection, type ReplyEnd } from './wire';
import { assertBackend, canConnect, freePort, startServer, type ServerProcess } from './servers';

export interface HttpTarget {
  server: ServerProcess;
  httpPort: number;
  /** "http://127.0.0.1:<port>" */
  origin: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** recordcache with `-o http_port=<free>,<suboptions>` and `flags`, once both listeners accept. */
export async function startHttpServer(suboptions = '', flags: string[] = []): Promise<HttpTarget> {
  const httpPort = await freePort();
  const list = suboptions === '' ? `http_port=${httpPort}` : `http_port=${httpPort},${suboptions}`;
  const server = await startServer('recordcache', ['-o', list, ...flags]);
  await assertBackend(server);
  // The memcached port accepts first; the HTTP one opens just after it.
  while (!(await canConnect(httpPort))) {
    if (server.hasExited()) throw new Error(`recordcache exited:\n${server.output()}`);
    await sleep(20);
  }
  return { server, httpPort, origin: `http://127.0.0.1:${httpPort}` };
}

/** Mocha hooks that start a server before the suite and stop it after; returns its getter. */
export function useHttpServer(suboptions = '', flags: string[] = []): () => HttpTarget {
  let target: HttpTarget | undefined;
  before(async function () {
    this.timeout(90000);
    target = await startHttpServer(suboptions, flags);
  });
  after(async function () {
    this.timeout(30000);
    await target?.server.stop();
    target = undefined;
  });
  return () => {
    if (target === undefined) throw new Error('the HTTP server is not running');
    return target;
  };
}

/** One memcached request over a connection of its own; the reply up to `terminator`. */
export async function memcached(target: HttpTarget, request: string | Buffer, terminator = '\r\n'): Promise<string> {
  const connection = await WireConnection.open(target.server.port);
  try {
    await connection.send([request]);
    const reply = await connection.read((got) => {
      const at = got.indexOf(terminator, 0, 'latin1');
      return at < 0 ? -1 : at + terminator.length;
    }, 10000);
    return reply.bytes.toString('latin1');
  } finally {
    connection.destroy();
  }
}

/** A `stats` value. */
export async function stat(target: HttpTarget, name: string): Promise<number> {
  const reply = await memcached(target, 'stats\r\n', 'END\r\n');
  const match = new RegExp(`^STAT ${name} (\\S+)\\r$`, 'm').exec(reply);
  if (match === null) throw new Error(`stats has no ${name}:\n${reply}`);
  return Number(match[1]);
}

/** The memcached listener still answers. */
export async function memcachedAnswers(target: HttpTarget): Promise<boolean> {
  return (await memcached(target, 'version\r\n')).startsWith('VERSION ');
}

export interface HttpReplyParts {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: Buffer;
}

/** The first reply in `buf` and where it ends, or null while incomplete; `head`: a reply to HEAD (no body). */
function firstReply(buf: Buffer, offset: number, head: boolean): { reply: HttpReplyParts; end: number } | null {
  const headEnd = buf.indexOf('\r\n\r\n', offset, 'latin1');
  if (headEnd < 0) return null;
  const lines = buf.toString('latin1', offset, headEnd).split('\r\n');
  const status = Number(lines[0].split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const bodyLength = head || status === 304 || status === 204 ? 0 : Number(headers['content-length'] ?? 0);
  const end = headEnd + 4 + bodyLength;
  if (buf.length < end) return null;
  return { reply: { status, headers, body: buf.subarray(headEnd + 4, end) }, end };
}

/** Every whole reply in `buf`; `heads[i]` says whether reply i answers a HEAD. */
export function parseReplies(buf: Buffer, heads: boolean[] = []): HttpReplyParts[] {
  const replies: HttpReplyParts[] = [];
  let offset = 0;
  for (;;) {
    const next = firstReply(buf, offset, heads[replies.length] ?? false);
    if (next === null) return replies;
    replies.push(next.reply);
    offset = next.end;
  }
}

/** Where `count` whole replies end (for WireConnection.read). */
export function httpReplies(count: number, heads: boolean[] = []): ReplyEnd {
  return (received) => {
    let offset = 0;
    for (let i = 0; i < count; i++) {
      const next = firstReply(received, offset, heads[i] ?? false);
      if (next === null) return -1;
      offset = next.end;
    }
    return offset;
  };
}

/** The resident memory of a process, in KiB (/proc/<pid>/status VmRSS). */
export function residentKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}
