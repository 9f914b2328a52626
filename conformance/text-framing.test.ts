// How the text protocol frames and tokenizes what arrives: line endings,
// spaces, token limits, NUL bytes, over-long lines, garbage, requests split
// across packets, and clients that vanish in the middle of a request.
import { usePair } from './lib/servers';
import { defineCases, step, type Case } from './lib/cases';

/** Splits `text` into chunks of `size` bytes, one packet each. */
const pieces = (text: string, size: number): string[] => text.match(new RegExp(`[^]{1,${size}}`, 'g')) ?? [];

/** Deterministic bytes without a newline, never starting a binary-protocol request. */
function garbage(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    let byte = state >>> 24;
    if (byte === 0x0a) byte = 0x0b;
    bytes[i] = byte;
  }
  bytes[0] = 0x7a;
  return bytes;
}

const cases: Case[] = [
  {
    name: 'bare newline line endings',
    steps: [step('set fr1 0 0 1\na\r\nget fr1\nversion\n', 3)],
  },
  {
    name: 'a data block must end in CR LF, not a bare newline',
    steps: [step('set fr2 0 0 1\na\nget fr2\r\n', 2)],
  },
  {
    name: 'a lone CR inside a line is part of a token',
    steps: [step('get fr1\r \r\nset fr3 0 0 1\r\r\na\r\n', 2)],
  },
  {
    name: 'runs of spaces between, before and after tokens',
    steps: [step('set   fr4  5    0  1   \r\na\r\n   get    fr4     fr1   \r\n  delete   fr4  \r\n', 3)],
  },
  {
    name: 'tabs are not separators',
    steps: [step('get\tfr1\r\nset\tfr5 0 0 1\r\na\r\n', 3)],
  },
  {
    name: 'empty lines and lines of spaces',
    steps: [step('\r\n\n   \r\nversion\r\n', 4)],
  },
  {
    name: 'unknown commands and wrong case',
    steps: [step('foo\r\nSET fr6 0 0 1\r\na\r\nVersion\r\ngetx fr1\r\nget_ fr1\r\n', 6)],
  },
  {
    name: 'more than 24 tokens on a storage line',
    steps: [step(`set fr7 0 0 1 ${Array.from({ length: 30 }, (_, i) => i).join(' ')}\r\na\r\n`, 2)],
  },
  {
    name: 'more than 24 tokens on delete, incr, touch lines',
    steps: [
      step(`delete fr7 ${'x '.repeat(30)}\r\n`),
      step(`incr fr7 1 ${'x '.repeat(30)}\r\n`),
      step(`touch fr7 1 ${'x '.repeat(30)}\r\n`),
      step(`version ${'x '.repeat(30)}\r\n`),
    ],
  },
  {
    name: 'multiget of exactly 23, 24 and 25 tokens',
    steps: [
      step('set fr8 0 0 1\r\na\r\n'),
      step(`get ${'fr8 '.repeat(22)}\r\n`),
      step(`get ${'fr8 '.repeat(23)}\r\n`),
      step(`get ${'fr8 '.repeat(24)}\r\n`),
    ],
  },
  {
    name: 'a NUL byte ends the command line',
    steps: [step('set fr9 0 0 1\r\na\r\nget fr9\x00 ignored tokens\r\nversion\x00garbage\r\n', 3)],
  },
  {
    name: 'a NUL byte inside a storage line',
    steps: [step('set fr10\x00 0 0 1\r\na\r\nget fr10\r\n', 3)],
  },
  {
    name: 'a NUL byte inside a data block is data',
    steps: [step('set fr11 0 0 3\r\na\x00b\r\nget fr11\r\n', 2)],
  },
  {
    name: 'HTTP request line closes the connection',
    steps: [step('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'close')],
  },
  {
    name: 'unknown command whose last token starts with HTTP/ closes',
    steps: [step('version\r\nfoo bar HTTP/1.0\r\nversion\r\n', 'close')],
  },
  {
    name: 'known command with an HTTP/ token is a command',
    steps: [step('get fr1 HTTP/1.1\r\n')],
  },
  {
    name: 'garbage bytes',
    steps: [
      step(Buffer.concat([garbage(300, 1), Buffer.from('\r\n')])),
      step(Buffer.concat([garbage(1000, 2), Buffer.from('\r\nversion\r\n')]), 2),
      step(Buffer.from([0x7a, 0xff, 0xfe, 0x01, 0x0d, 0x0a])),
    ],
  },
  {
    name: 'a 10 MB line without a newline closes the connection',
    steps: [{ send: pieces('x'.repeat(10 * 1024 * 1024), 65536), expect: 'close', timeoutMs: 10000 }],
  },
  {
    name: 'over 2048 bytes without a newline close the connection',
    steps: [step(`set ${'y'.repeat(2100)}`, 'close')],
  },
  {
    name: '2048 bytes without a newline wait for the rest of the line',
    steps: [step(`version${' '.repeat(2041)}`, 'none'), step('\r\n')],
  },
  {
    name: 'a line over 2048 bytes that arrives whole is processed',
    steps: [step(`version ${'z'.repeat(5000)}\r\nversion\r\n`, 2)],
  },
  {
    name: 'a long get line without a newline yet is kept',
    steps: [step(`get ${'fr1 '.repeat(1500)}`, 'none'), step('fr1\r\n')],
  },
  {
    name: 'a long gets line split into many packets',
    steps: [{ send: pieces(`gets ${'fr1 '.repeat(3000)}\r\n`, 1000), delayMs: 1 }],
  },
  {
    name: 'a long line of over 100 spaces then get closes',
    steps: [step(`${' '.repeat(150)}get ${'fr1 '.repeat(600)}`, 'close')],
  },
  {
    name: 'a command split byte by byte',
    steps: [{ send: pieces('set fr12 3 0 5\r\nhello\r\nget fr12\r\n', 1), delayMs: 2, expect: 2 }],
  },
  {
    name: 'a data block split byte by byte',
    steps: [{ send: ['set fr13 0 0 20\r\n', ...pieces('0123456789\r\n01234567\r\n', 1), 'gets fr13\r\n'], delayMs: 2, expect: 2 }],
  },
  {
    name: 'CR and LF of a line end in separate packets',
    steps: [{ send: ['get fr13\r', '\nset fr14 0 0 1\r', '\na\r', '\n'], delayMs: 20, expect: 2 }],
  },
  {
    name: 'pipelined commands in one packet, replies in order',
    steps: [step('set fr15 0 0 1\r\n1\r\nincr fr15 1\r\nget fr15\r\nappend fr15 0 0 1\r\n0\r\nget fr15\r\ndelete fr15\r\nget fr15\r\n', 7)],
  },
  {
    name: 'a client disconnecting mid-block leaves other connections and data unharmed',
    steps: [
      step('set fr16 0 0 5\r\nfirst\r\n', 1, { conn: 1 }),
      step('set fr16 0 0 100\r\npartial', 'none', { hangUp: 'reset' }),
      step('get fr16\r\nset fr17 0 0 1\r\nb\r\nget fr17\r\n', 3, { conn: 1 }),
    ],
  },
  {
    name: 'a client closing mid-line leaves other connections working',
    steps: [step('get fr16 fr1', 'none', { hangUp: 'end' }), step('set fr18 0 0 2\r\nok\r\nget fr18 fr16\r\n', 2, { conn: 1 })],
  },
  {
    name: 'a client that stops reading does not hold up others',
    steps: [
      step(`set fr20 0 0 500000\r\n${'w'.repeat(500000)}\r\n`),
      step('get fr20\r\n'.repeat(200), 'unread', { conn: 1 }),
      step('set fr21 0 0 2\r\nok\r\nget fr21\r\n', 2, { conn: 2 }),
      step('get fr21\r\n', 'unread', { conn: 1, hangUp: 'reset' }),
      step('get fr21\r\n', 1, { conn: 2 }),
    ],
  },
  {
    name: 'a client that reads late gets every reply, whole and in order',
    steps: [
      step(`set fr22 0 0 200000\r\n${'s'.repeat(200000)}\r\nset fr23 0 0 3\r\nend\r\n`, 2),
      step('get fr22\r\n'.repeat(100) + 'get fr23\r\n', 'unread', { conn: 1 }),
      // 20 MB of replies: ~0.1 s here, but over 10 s for memcached itself in a loaded TCG guest.
      step('', 101, { conn: 1, pauseMs: 500, timeoutMs: 60000 }),
    ],
  },
  {
    name: 'quit after a large reply: the reply arrives whole, then the close',
    steps: [step(`set fr24 0 0 300000\r\n${'q'.repeat(300000)}\r\n`), step('get fr24 fr24\r\nquit\r\nget fr24\r\n', 'close', { conn: 1 })],
  },
  {
    name: 'a client that half-closes after its requests gets every reply, then the close',
    steps: [
      step(`set fr25 0 0 300000\r\n${'h'.repeat(300000)}\r\nget fr25 fr25\r\nversion`, 'close', { halfClose: true }),
      step('set fr26 0 0 10\r\nabc', 'close', { conn: 1, halfClose: true }),
      step('get fr26\r\n', 1, { conn: 2 }),
    ],
  },
  {
    name: 'a client vanishing while a large reply is sent',
    steps: [
      step(`set fr19 0 0 500000\r\n${'v'.repeat(500000)}\r\n`),
      step('get fr19 fr19 fr19 fr19 fr19 fr19 fr19 fr19\r\n', 'unread', { hangUp: 'reset', conn: 1 }),
      step('get fr18\r\n', 1, { conn: 2 }),
    ],
  },
];

describe('text protocol: framing and bad input', function () {
  const pair = usePair();
  defineCases(pair, cases);
});
