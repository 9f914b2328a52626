// The meta protocol (mg ms md ma mn me): every flag memcached 1.6.18 knows, each
// command's quiet mode, and every error, against the real memcached.
import { usePair } from './lib/servers';
import { defineCases, step, type Case } from './lib/cases';

const cases: Case[] = [
  {
    name: 'ms then mg with every return flag',
    steps: [step('ms mt1 3 T100 F5\r\nbar\r\n'), step('mg mt1 v k f t s h l c O9\r\n'), step('mg mt1 h l\r\n'), step('mg mt1 s\r\n')],
  },
  {
    name: 'mg of a missing key: EN with k and O, hidden by q',
    steps: [step('mg mt-miss k O1\r\n'), step('mg mt-miss k O2 q\r\nmg mt-miss v q\r\nmn\r\n')],
  },
  {
    name: 'pipelined mg ... q k with mn, hits and misses mixed',
    steps: [
      step('ms mt2a 1\r\na\r\nms mt2c 1\r\nc\r\n', 2),
      step('mg mt2a v q k\r\nmg mt2b v q k\r\nmg mt2c v q k\r\nmg mt2d v q k\r\nmn\r\n', 3),
    ],
  },
  {
    name: 'mg without v answers HD; with q the hit is still answered',
    steps: [step('ms mt3 2\r\nhi\r\n'), step('mg mt3\r\nmg mt3 q\r\nmg mt3 q v\r\n', 3)],
  },
  {
    name: 'mg T updates the TTL, t reports it, and counts as a touch',
    steps: [step('ms mt4 1 T0\r\nx\r\n'), step('mg mt4 t\r\nmg mt4 T500 t\r\nmg mt4 t T-1 t\r\n', 3), step('mg mt4 v\r\n')],
  },
  {
    name: 'mg N vivifies a miss and wins; the next sees Z',
    steps: [step('mg mt5 N30 v c t\r\n'), step('mg mt5 N30 v c t\r\n'), step('mg mt5 v\r\n')],
  },
  {
    name: 'mg R wins the recache token once when the TTL is low',
    steps: [step('ms mt6 1 T10\r\nr\r\n'), step('mg mt6 R30 v\r\n'), step('mg mt6 R30 v\r\n'), step('mg mt6 R5 v\r\n')],
  },
  {
    name: 'md I marks stale: X and W once, Z after; ms I with an older CAS stores stale',
    steps: [
      step('ms mt7 1 c\r\na\r\n'),
      step('md mt7 I T30\r\n'),
      step('mg mt7 v c t\r\n'),
      step('mg mt7 v c\r\n'),
      { send: (ctx) => [`ms mt7 1 I C${ctx.cas(1)}\r\nb\r\n`], expect: 1 },
      step('mg mt7 v c\r\n'),
      step('ms mt7 1\r\nc\r\nmg mt7 v\r\n', 2),
    ],
  },
  {
    name: 'mg u does not bump, h and l report fetch history',
    steps: [step('ms mt8 1\r\nu\r\n'), step('mg mt8 u h\r\nmg mt8 h\r\nmg mt8 h\r\n', 3)],
  },
  {
    name: 'ms modes: E add, A append, P prepend, R replace, S set, and an invalid one',
    steps: [
      step('ms mt9 1 ME\r\na\r\nms mt9 1 ME\r\nb\r\n', 2),
      step('ms mt9 1 MA\r\nc\r\nms mt9 1 MP\r\nd\r\nmg mt9 v\r\n', 3),
      step('ms mt9 1 MR\r\ne\r\nms mt9-new 1 MR\r\nf\r\nms mt9-new 1 MA\r\nf\r\nms mt9-new 1 MP\r\nf\r\n', 4),
      step('ms mt9 1 MS\r\ng\r\nmg mt9 v\r\n', 2),
      step('ms mt9 1 MX\r\nh\r\nmg mt9 v\r\n', 2),
      step('ms mt9 1 MSS\r\nh\r\nmg mt9 v\r\n', 2),
    ],
  },
  {
    name: 'ms C compares CAS: match, mismatch, missing key; append with CAS',
    steps: [
      step('ms mt10 1 c\r\na\r\n'),
      { send: (ctx) => [`ms mt10 1 C${ctx.cas(1)} c\r\nb\r\n`], expect: 1 },
      step('ms mt10 1 C1 c\r\nc\r\n'),
      step('ms mt10-none 1 C5\r\nd\r\n'),
      step('ms mt10 1 MA C1\r\ne\r\nmg mt10 v c\r\n', 2),
    ],
  },
  {
    name: 'ms q hides HD only; NS still shown',
    steps: [step('ms mt11 1 q\r\na\r\nms mt11 1 q ME\r\nb\r\nms mt11 1 q k O5\r\nc\r\nmn\r\n', 2)],
  },
  {
    name: 'ms with F flags, 0-byte value, binary value with CR LF inside',
    steps: [step('ms mt12 0 F4294967295\r\n\r\nmg mt12 v f\r\n', 2), step('ms mt12 4 F7\r\n\r\n\r\n\r\nmg mt12 v f s\r\n', 2)],
  },
  {
    name: 'ms errors: no length, bad length, negative length, bad data chunk, too long flags',
    steps: [
      step('ms mt13\r\n'),
      step('ms mt13 abc\r\n'),
      step('ms mt13 -1\r\n'),
      step('ms mt13 1\r\nabc\r\n', 2),
      step('ms mt13 1 a b c d e f g h i j k l m n o p q r s\r\nx\r\n', 2),
      step('ms mt13 1 F-1\r\nx\r\n'),
      step('ms mt13 1 Ffoo\r\nx\r\n'),
      step('ms mt13 1 T\r\nx\r\n'),
      step('ms mt13 1 Cx\r\nx\r\n'),
      step('ms mt13 1 M\r\nx\r\n'),
    ],
  },
  {
    name: 'ms larger than the item limit: error, data swallowed, old value gone',
    steps: [step('ms mt14 1\r\nx\r\n'), { send: ['ms mt14 2000000\r\n', 'y'.repeat(2000000) + '\r\n'], expect: 1 }, step('mg mt14 v\r\n')],
  },
  {
    name: 'flag errors: duplicate, invalid, opaque too long, options too long',
    steps: [
      step('mg mt15 v v\r\n'),
      step('mg mt15 x\r\n'),
      step('mg mt15 !\r\n'),
      step(`mg mt15 O${'1'.repeat(40)}\r\n`),
      step('ms mt15 1\r\nx\r\n'),
      step(`mg mt15 v O${'1'.repeat(40)}\r\n`),
      step(`md mt15 O${'1'.repeat(40)}\r\n`),
      step('mg mt15 a b c d e f g h i j k l m n o p q r s\r\n'),
      step('md mt15 q q\r\n'),
      step('ma mt15 x\r\n'),
    ],
  },
  {
    name: 'bad tokens: N, T, R without numbers; M of the wrong length',
    steps: [step('mg mt16 Nx\r\n'), step('mg mt16 T\r\n'), step('mg mt16 R1x\r\n'), step('ma mt16 MII\r\n'), step('ma mt16 MX\r\n')],
  },
  {
    name: 'md: HD, NF, q, C match and mismatch, k and O',
    steps: [
      step('ms mt17 1 c\r\na\r\n'),
      step('md mt17 C1 k O3\r\n'),
      { send: (ctx) => [`md mt17 C${ctx.cas(1)} k O3\r\n`], expect: 1 },
      step('md mt17 k O4\r\n'),
      step('ms mt17 1\r\na\r\nmd mt17 q\r\nmd mt17 q\r\nmn\r\n', 3),
    ],
  },
  {
    name: 'ma: incr by default, D delta, decr modes, floor at 0, wrap at 2^64',
    steps: [
      step('ms mt18 2\r\n10\r\n'),
      step('ma mt18\r\nma mt18 v\r\nma mt18 D5 v\r\nma mt18 MD D3 v\r\nma mt18 M- D100 v\r\nma mt18 M+ v\r\nma mt18 MI v\r\n', 7),
      step('ms mt18 20\r\n18446744073709551615\r\nma mt18 D2 v\r\nmg mt18 v\r\n', 3),
    ],
  },
  {
    name: 'ma: NF on a miss, N with J creates, q, C, t c T k O flags',
    steps: [
      step('ma mt19 k O1\r\n'),
      step('ma mt19 N0 J42 v t c\r\n'),
      step('ma mt19 N0 J42 v\r\n'),
      step('ma mt19 q\r\nmn\r\n'),
      step('ma mt19 C1 v\r\n'),
      step('ma mt19 T100 t v k O7\r\n'),
      step('ma mt19-b q N0 J5\r\nmn\r\n', 2),
    ],
  },
  {
    name: 'ma errors: non-numeric value, bad delta, bad initial value',
    steps: [
      step('ms mt20 3\r\nabc\r\n'),
      step('ma mt20\r\n'),
      step('ma mt20 Dx\r\n'),
      step('ma mt20 J-1 N0\r\n'),
      step('ma mt20 D18446744073709551616\r\n'),
    ],
  },
  {
    name: 'base64 keys: stored and returned encoded, bad encodings refused',
    steps: [
      step('ms Zm9vYmFy 3 b k\r\nabc\r\n'),
      step('mg Zm9vYmFy b k v\r\n'),
      step('mg foobar v k\r\n'),
      step('mg Zm9v=YmFy b v\r\n'),
      step('mg !!!! b v\r\n'),
      step('md Zm9vYmFy b k\r\n'),
      step('ma Zm9vYmFy b N0 J1 k v\r\n'),
      // A base64 key that vivifies: memcached's item does not keep the b, so k shows it decoded.
      step('mg YWJj b N30 k v s t\r\n'),
      step('mg YWJj b k O1\r\n'),
      step('ma YWJjZA b N0 J1 k v\r\nmg YWJjZA b k v\r\n', 2),
      step('ms abc 1 b\r\nx\r\n', 1),
    ],
  },
  {
    name: 'me: item details, base64 key, misses and errors',
    steps: [
      step('ms mt22 5 T0\r\nhello\r\n'),
      step('me mt22\r\n'),
      step('mg mt22 v\r\nme mt22\r\n', 2),
      step('me mt22-missing\r\n'),
      step('me\r\n'),
      step(`me ${'k'.repeat(251)}\r\n`),
      step('ms bXQyMg== 1 b\r\nx\r\nme bXQyMg== b\r\n', 2),
      step('me !!!! b\r\n'),
    ],
  },
  {
    name: 'commands of too few tokens and unknown m-commands',
    steps: [
      step('mg\r\n'),
      step('md\r\n'),
      step('ma\r\n'),
      step('mx foo\r\n'),
      step('mn extra tokens\r\n'),
      step(`mg ${'k'.repeat(251)} v\r\n`),
    ],
  },
  {
    name: 'meta and text commands see the same items and CAS',
    steps: [
      step('set mt24 3 0 2\r\nhi\r\n'),
      step('mg mt24 v f c\r\n'),
      step('gets mt24\r\n'),
      step('ms mt24 3 F9 T0\r\nbye\r\n'),
      step('gets mt24\r\n'),
      step('incr mt24 1\r\n'),
    ],
  },
  {
    name: 'a meta set split byte by byte',
    steps: [{ send: 'ms mt25 5 c k\r\nvalue\r\n'.split(''), delayMs: 1, expect: 1 }, step('mg mt25 v\r\n')],
  },
];

describe('meta protocol', () => {
  const pair = usePair();
  defineCases(pair, cases);
});
