// -U: memcached's UDP protocol. The same datagrams go to Debian's memcached and to the
// candidate, each started with a UDP port of its own; the replies are compared datagram by
// datagram, headers included. Each case also checks the reference said what the case is
// about (so two silent servers cannot agree by accident). Malformed datagrams must leave
// the server serving, over UDP and over an open TCP connection.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { candidateKind, startExpectingFailure, usePair, type ServerProcess } from './lib/servers';

/** 8-byte frame header: request id, sequence number, datagrams in the message, reserved. */
function header(id: number, seq = 0, total = 1, reserved = 0): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(id, 0);
  h.writeUInt16BE(seq, 2);
  h.writeUInt16BE(total, 4);
  h.writeUInt16BE(reserved, 6);
  return h;
}

function datagram(id: number, payload: string | Buffer, seq = 0, total = 1, reserved = 0): Buffer {
  return Buffer.concat([header(id, seq, total, reserved), typeof payload === 'string' ? Buffer.from(payload, 'latin1') : payload]);
}

/**
 * Sends datagrams from one socket and collects every reply until none came for quietMs.
 * Sequentially, each datagram waits for the replies to the one before: memcached serves a
 * UDP port from several threads, which may otherwise answer datagrams out of order.
 */
async function exchange(port: number, datagrams: Buffer[], quietMs = 250, sequential = true): Promise<Buffer[]> {
  const socket = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  let last = Date.now();
  socket.on('message', (msg) => {
    got.push(msg);
    last = Date.now();
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const quiet = async (ms: number) => {
    last = Date.now();
    while (Date.now() - last < ms) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  for (const d of datagrams) {
    await new Promise<void>((resolve) => socket.send(d, port, '127.0.0.1', () => resolve()));
    if (sequential) await quiet(80);
  }
  await quiet(quietMs);
  socket.close();
  return got;
}

/** A datagram as a line: header fields, then the payload (long runs of one byte shortened). */
function render(d: Buffer): string {
  if (d.length < 8) return `short ${d.toString('hex')}`;
  const h = `id=${d.readUInt16BE(0)} seq=${d.readUInt16BE(2)} total=${d.readUInt16BE(4)} rsv=${d.readUInt16BE(6)} len=${d.length}`;
  const body = d.subarray(8);
  const text = body[0] === 0x81 ? body.toString('hex') : JSON.stringify(body.toString('latin1'));
  return `${h} ${text.replace(/(.)\1{15,}/g, (run, ch: string) => `${ch}*${run.length}`)}`;
}

async function waitForUdp(server: ServerProcess): Promise<void> {
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    const replies = await exchange(server.udpPort, [datagram(1, 'version\r\n')], 100);
    if (replies.length > 0) return;
  }
  throw new Error(`${server.kind} never answered on UDP port ${server.udpPort}:\n${server.output()}`);
}

/** A request over TCP on a fresh connection; resolves with the reply once `done` says it is whole. */
function tcpRequest(port: number, request: string, done: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no whole reply to ${JSON.stringify(request)}: ${JSON.stringify(text)}`));
    }, 5000);
    socket.on('data', (data) => {
      text += data.toString('latin1');
      if (done(text)) {
        clearTimeout(timer);
        socket.destroy();
        resolve(text);
      }
    });
    socket.on('error', reject);
  });
}

const statsDone = (text: string) => text.endsWith('END\r\n');

function statValue(stats: string, name: string): string {
  return new RegExp(`^STAT ${name} (.*)\r$`, 'm').exec(stats)?.[1] ?? 'missing';
}

interface UdpCase {
  name: string;
  datagrams: Buffer[];
  /** What the reference's replies must show, so a case cannot pass with both servers silent. */
  expect: (replies: string[]) => void;
}

const value = (n: number, ch = 'v') => ch.repeat(n);
const BIN_NOOP = Buffer.from('800a00000000000000000000000000050000000000000000', 'hex');
const BIN_VERSION = Buffer.from('800b00000000000000000000000000060000000000000000', 'hex');
/** GETQ "zz" (a miss, so a quiet nothing) with opaque 7. */
const BIN_GETQ_MISS = Buffer.concat([Buffer.from('80090002000000000000000200000007', 'hex'), Buffer.alloc(8), Buffer.from('zz')]);
/** GET "ub" with opaque 9. */
const BIN_GET_UB = Buffer.concat([Buffer.from('80000002000000000000000200000009', 'hex'), Buffer.alloc(8), Buffer.from('ub')]);

const count = (n: number) => (replies: string[]) => assert.equal(replies.length, n, replies.join('\n'));
const none = count(0);

const CASES: UdpCase[] = [
  { name: 'get miss: END, request id echoed', datagrams: [datagram(0x1234, 'get nothing\r\n')], expect: count(1) },
  { name: 'request id 0xffff is echoed', datagrams: [datagram(0xffff, 'version\r\n')], expect: count(1) },
  {
    name: 'set over UDP, then get and gets hits',
    datagrams: [datagram(2, 'set u1 5 0 3\r\nabc\r\n'), datagram(3, 'get u1\r\n'), datagram(4, 'gets u1\r\n')],
    expect: count(3),
  },
  {
    name: 'several commands in one datagram, noreply replies suppressed',
    datagrams: [datagram(5, 'set u2 0 0 1 noreply\r\nx\r\nversion\r\nincr u2 1\r\ndelete u2 noreply\r\nget u2\r\n')],
    expect: count(3),
  },
  {
    name: 'values of a few KB: each split into 1400-byte datagrams',
    datagrams: [
      datagram(6, `set big1 0 0 3000\r\n${value(3000, 'a')}\r\nset big2 0 0 1380\r\n${value(1380, 'b')}\r\n`),
      datagram(7, `set big3 0 0 5000\r\n${value(5000, 'c')}\r\nset big4 0 0 1392\r\n${value(1392, 'd')}\r\n`),
      datagram(8, 'get big1\r\n'),
      datagram(9, 'gets big3\r\n'),
    ],
    expect: (replies) => {
      assert.ok(replies.length >= 2 + 3 + 4, replies.join('\n'));
      assert.ok(replies.some((r) => r.includes('len=1400')));
    },
  },
  {
    name: 'multiget spanning many datagrams: one response (and numbering) per key, misses as bare headers',
    datagrams: [datagram(10, 'get miss1 big2 u1 miss2 big1 miss3 miss4 big3 big4\r\n'), datagram(11, 'get miss1 miss2 big4\r\n')],
    expect: (replies) => {
      assert.ok(replies.length >= 10, replies.join('\n'));
      assert.ok(
        replies.some((r) => r.includes('total=0 rsv=0 len=8 ')),
        'an empty response is a bare header',
      );
    },
  },
  {
    name: 'a multiget of more than 24 tokens',
    datagrams: [datagram(12, `get ${Array.from({ length: 40 }, (_, i) => (i % 7 === 0 ? 'u1' : `m${i}`)).join(' ')}\r\n`)],
    // Six hits and END; the misses' empty responses complete with the hit before them.
    expect: count(7),
  },
  {
    name: 'replies before a too long key in a get are dropped, earlier writes kept',
    datagrams: [datagram(13, `get u1\r\nversion\r\nget u1 ${'k'.repeat(251)}\r\nversion\r\n`)],
    expect: count(3),
  },
  {
    name: '-R: memcached writes after the 21st request, so a later too long key drops only what follows',
    datagrams: [datagram(14, `${'version\r\n'.repeat(30)}get ${'k'.repeat(251)}\r\n`)],
    expect: count(22),
  },
  {
    name: 'meta commands, q suppressing a miss, mn',
    datagrams: [datagram(15, 'mg u1 v f\r\nmg nope v q\r\nms u3 2 q\r\nhi\r\nmn\r\nmg u3 v\r\n')],
    expect: count(3),
  },
  { name: 'a datagram claiming two packets is dropped', datagrams: [datagram(16, 'get u1\r\n', 0, 2)], expect: none },
  { name: 'a datagram claiming zero packets is dropped', datagrams: [datagram(17, 'get u1\r\n', 0, 0)], expect: none },
  {
    name: 'the second packet of a multi-packet request is dropped too',
    datagrams: [datagram(18, 'set mp 0 0 2000\r\n', 0, 2), datagram(18, `${value(2000)}\r\n`, 1, 2), datagram(19, 'get mp\r\n')],
    expect: count(1),
  },
  { name: 'sequence number and reserved word are ignored', datagrams: [datagram(20, 'get u1\r\n', 7, 1, 0xbeef)], expect: count(1) },
  {
    name: 'truncated datagrams (shorter than the header, or the header alone) get no reply',
    datagrams: [Buffer.from([0, 1, 0, 0, 0, 1, 0]), Buffer.alloc(0), Buffer.from([0]), header(21), datagram(22, 'version\r\n')],
    expect: count(1),
  },
  {
    name: 'a request line cut off by the end of the datagram is dropped',
    datagrams: [datagram(23, 'version\r\nget u1')],
    expect: count(1),
  },
  {
    name: 'a line of over 2048 bytes without newline closes: earlier replies dropped',
    datagrams: [datagram(24, `version\r\n${value(2100, 'x')}`), datagram(25, `get u1 ${value(2100, 'x')}`)],
    expect: none,
  },
  {
    name: 'quit: earlier replies written, the rest of the datagram ignored',
    datagrams: [datagram(26, 'version\r\nquit\r\nversion\r\n'), datagram(27, 'quit\r\n')],
    expect: count(2),
  },
  {
    name: 'an HTTP request line drops unwritten replies and the rest',
    datagrams: [datagram(28, 'get u1\r\nversion\r\nGET / HTTP/1.1\r\nversion\r\n')],
    expect: count(1),
  },
  { name: 'shutdown is refused without -A', datagrams: [datagram(29, 'shutdown\r\n')], expect: count(1) },
  { name: 'unknown commands and bad lines', datagrams: [datagram(30, 'bogus\r\nset x\r\nget\r\nincr u1 abc\r\n\r\n')], expect: count(5) },
  {
    name: 'binary protocol over UDP: quiet miss as a bare header, NOOP, VERSION, GET hit',
    datagrams: [
      datagram(33, 'set ub 3 0 2\r\nhi\r\n'),
      datagram(34, Buffer.concat([BIN_GETQ_MISS, BIN_NOOP])),
      datagram(35, Buffer.concat([BIN_VERSION, BIN_GET_UB])),
    ],
    expect: count(5),
  },
  {
    name: 'the first byte picks the protocol for the whole datagram',
    datagrams: [
      datagram(36, Buffer.concat([BIN_NOOP, Buffer.from('version\r\n')])),
      datagram(37, Buffer.concat([Buffer.from('version\r\n'), BIN_NOOP])),
    ],
    expect: count(3),
  },
  {
    name: 'binary: a truncated header, and a bad magic byte after a request',
    datagrams: [
      datagram(38, Buffer.from([0x80, 0x0a, 0x00])),
      datagram(39, Buffer.concat([BIN_VERSION, Buffer.from([0x42]), Buffer.alloc(23)])),
    ],
    expect: none,
  },
];

describe('udp: -U against memcached', function () {
  this.timeout(60000);
  // One thread on both sides: recordcache runs requests on one thread whatever -t says, and
  // memcached counts one UDP "connection" per thread in curr_connections.
  const pair = usePair(['-t', '1'], { udp: true });
  let tcp: net.Socket | null = null;
  let referenceTcp: net.Socket | null = null;

  before(async function () {
    const { reference, candidate } = pair();
    await Promise.all([waitForUdp(reference), waitForUdp(candidate)]);
    // A TCP client connected throughout: malformed datagrams must not disturb it. The
    // reference gets one too, so that connection counts compare.
    tcp = net.connect(candidate.port, '127.0.0.1');
    referenceTcp = net.connect(reference.port, '127.0.0.1');
    await Promise.all([tcp, referenceTcp].map((s) => new Promise((resolve) => s.once('connect', resolve))));
  });
  after(() => {
    tcp?.destroy();
    referenceTcp?.destroy();
  });

  for (const testCase of CASES) {
    it(testCase.name, async function () {
      const { reference, candidate } = pair();
      const expected = (await exchange(reference.udpPort, testCase.datagrams)).map(render);
      testCase.expect(expected);
      const actual = (await exchange(candidate.udpPort, testCase.datagrams)).map(render);
      assert.deepEqual(actual, expected);
    });
  }

  it('stats counts UDP bytes, commands and connections as memcached does', async function () {
    const { reference, candidate } = pair();
    const names = [
      'curr_connections',
      'total_connections',
      'connection_structures',
      'cmd_get',
      'cmd_set',
      'get_hits',
      'get_misses',
      'bytes_read',
      'bytes_written',
    ];
    const [r, c] = await Promise.all([reference, candidate].map((s) => tcpRequest(s.port, 'stats\r\n', statsDone)));
    const pick = (stats: string) => Object.fromEntries(names.map((n) => [n, statValue(stats, n)]));
    assert.ok(Number(statValue(r, 'bytes_written')) > 20000);
    assert.deepEqual(pick(c), pick(r));
  });

  it('stats settings shows the UDP port and, as memcached, one UDP thread per thread that runs requests', async function () {
    const { reference, candidate } = pair();
    const [r, c] = await Promise.all([reference, candidate].map((s) => tcpRequest(s.port, 'stats settings\r\n', statsDone)));
    assert.equal(statValue(r, 'udpport'), String(reference.udpPort));
    assert.equal(statValue(c, 'udpport'), String(candidate.udpPort));
    assert.equal(statValue(r, 'num_threads_per_udp'), statValue(r, 'num_threads'));
    assert.equal(statValue(c, 'num_threads_per_udp'), statValue(c, 'num_threads'));
  });

  it('stats over UDP: one response in numbered datagrams with the same lines', async function () {
    const { reference, candidate } = pair();
    const names = async (s: ServerProcess) => {
      const replies = await exchange(s.udpPort, [datagram(40, 'stats\r\n')]);
      replies.forEach((d, i) => {
        assert.equal(d.readUInt16BE(0), 40);
        assert.equal(d.readUInt16BE(2), i);
        assert.equal(d.readUInt16BE(4), replies.length);
        assert.ok(d.length <= 1400);
      });
      const text = Buffer.concat(replies.map((d) => d.subarray(8))).toString('latin1');
      assert.ok(text.endsWith('END\r\n'), text.slice(-50));
      return text.split('\r\n').map((line) => line.split(' ')[1]);
    };
    const expected = await names(reference);
    assert.ok(expected.length > 50);
    const actual = await names(candidate);
    for (const name of expected) assert.ok(actual.includes(name), `missing ${name}`);
  });

  it('malformed datagrams leave UDP and TCP clients served', async function () {
    // memcached fails this: a garbage storage line leaves one of its UDP connections reading
    // the following datagrams as data (see the recordcache-only cases below).
    if (candidateKind() !== 'recordcache') this.skip();
    const { candidate } = pair();
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const garbage: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const b = Buffer.alloc(random() % 300);
      for (let j = 0; j < b.length; j++) b[j] = random() & 0xff;
      // Half of them with a valid one-packet header, so their payload reaches the parsers.
      if (i % 2 === 0 && b.length >= 8) header(i).copy(b);
      if (i % 4 === 0 && b.length > 8) b[8] = 0x80;
      garbage.push(b);
    }
    garbage.push(
      datagram(41, Buffer.alloc(60000, 0x80)),
      datagram(42, Buffer.alloc(60000, 0x20)),
      datagram(43, `get ${value(60000, 'g')}\r\n`),
    );
    await exchange(candidate.udpPort, garbage, 100, false);
    const after = (await exchange(candidate.udpPort, [datagram(44, 'get u1\r\n')])).map(render);
    assert.deepEqual(after, ['id=44 seq=0 total=1 rsv=0 len=32 "VALUE u1 5 3\\r\\nabc\\r\\nEND\\r\\n"']);
    const reply = new Promise<string>((resolve) => {
      let text = '';
      tcp!.on('data', (d) => {
        text += d.toString('latin1');
        if (text.endsWith('END\r\n')) resolve(text);
      });
    });
    tcp!.write('get u1\r\n');
    assert.equal(await reply, 'VALUE u1 5 3\r\nabc\r\nEND\r\n');
  });
});

describe('udp: a storage command cut off by the end of its datagram (recordcache only)', function () {
  // memcached reads the rest of the data block from whichever datagram comes next, from any
  // client, header included; recordcache drops the incomplete request instead (README).
  const pair = usePair([], { udp: true });
  it('gets no reply and does not swallow the next datagram', async function () {
    if (candidateKind() !== 'recordcache') this.skip();
    const { candidate } = pair();
    await waitForUdp(candidate);
    const replies = await exchange(candidate.udpPort, [datagram(1, 'set cut 0 0 100\r\nabc'), datagram(2, 'get cut\r\n')]);
    assert.deepEqual(replies.map(render), ['id=2 seq=0 total=1 rsv=0 len=13 "END\\r\\n"']);
  });
  it('a value too large is refused and only the rest of its datagram swallowed', async function () {
    if (candidateKind() !== 'recordcache') this.skip();
    const { candidate } = pair();
    const replies = await exchange(candidate.udpPort, [
      datagram(3, `set huge 0 0 2000000\r\n${'v'.repeat(100)}`),
      datagram(4, 'get huge\r\n'),
    ]);
    assert.deepEqual(replies.map(render), [
      'id=3 seq=0 total=1 rsv=0 len=49 "SERVER_ERROR object too large for cache\\r\\n"',
      'id=4 seq=0 total=1 rsv=0 len=13 "END\\r\\n"',
    ]);
  });
});

describe('udp: off by default (the 1.5.6 amplification fix)', function () {
  const pair = usePair();
  it('no UDP reply on the TCP port, and stats settings shows udpport 0', async function () {
    const { reference, candidate } = pair();
    for (const server of [reference, candidate]) {
      const replies = await exchange(server.port, [datagram(1, 'stats\r\n'), datagram(2, 'version\r\n')]);
      assert.equal(replies.length, 0, `${server.kind} answered UDP without -U`);
      const settings = await tcpRequest(server.port, 'stats settings\r\n', statsDone);
      assert.equal(statValue(settings, 'udpport'), '0');
    }
  });
});

describe('udp: options memcached refuses with -U', function () {
  const REFUSED = [
    ['-U', '11999', '-Y', '/nonexistent/auth'],
    ['-U', '11999', '-S'],
  ];
  for (const flags of REFUSED) {
    it(flags.join(' '), async function () {
      const [reference, candidate] = await Promise.all([
        startExpectingFailure('memcached', flags),
        startExpectingFailure(candidateKind(), flags),
      ]);
      assert.equal(reference.exit, 64);
      assert.deepEqual(
        { exit: candidate.exit, error: candidate.stderr.split('\n')[0] },
        { exit: reference.exit, error: reference.stderr.split('\n')[0] },
      );
    });
  }
  it('-s with -U starts (memcached then opens no UDP socket)', async function () {
    const flags = ['-U', '11998', '-s', `/tmp/rc-udp-test-${process.pid}.sock`];
    const [reference, candidate] = await Promise.all([
      startExpectingFailure('memcached', flags, 1500),
      startExpectingFailure(candidateKind(), flags, 1500),
    ]);
    assert.equal(reference.exit, 'still running');
    assert.equal(candidate.exit, 'still running');
  });
});
