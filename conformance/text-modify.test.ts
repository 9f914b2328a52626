// Commands that change a stored item without sending its value: delete,
// incr, decr and touch.
import { NO_BACKGROUND_ITEM_REFERENCES, usePair } from './lib/servers';
import { defineCases, step, type Case } from './lib/cases';

const cases: Case[] = [
  {
    name: 'delete of a stored and of a missing key',
    steps: [step('set dl1 0 0 1\r\na\r\ndelete dl1\r\ndelete dl1\r\nget dl1\r\n', 4)],
  },
  {
    name: 'delete with 0 as third token',
    steps: [step('set dl2 0 0 1\r\na\r\ndelete dl2 0\r\ndelete dl2 0\r\n', 3)],
  },
  {
    name: 'delete with another third token is a usage error',
    steps: [
      step('set dl3 0 0 1\r\na\r\n'),
      step('delete dl3 1\r\n'),
      step('delete dl3 abc\r\n'),
      step('delete dl3 00\r\n'),
      step('delete dl3 -0\r\nget dl3\r\n', 2),
    ],
  },
  {
    name: 'delete with noreply, with and without 0',
    steps: [
      step(
        'set dl4 0 0 1\r\na\r\nset dl5 0 0 1\r\nb\r\ndelete dl4 noreply\r\ndelete dl5 0 noreply\r\ndelete dl6 noreply\r\nget dl4 dl5\r\n',
        3,
      ),
    ],
  },
  {
    name: 'delete with too many or too few tokens',
    steps: [step('delete dl7 0 0 noreply\r\n'), step('delete dl7 0 noreply extra\r\n'), step('delete\r\n')],
  },
  {
    name: 'delete with a usage error and noreply',
    steps: [step('delete dl8 1 noreply\r\nversion\r\n')],
  },
  {
    name: 'delete with a too-long key',
    steps: [step(`delete ${'d'.repeat(251)}\r\n`), step(`delete ${'d'.repeat(250)}\r\n`)],
  },
  {
    name: 'incr and decr of a number',
    steps: [step('set ar1 5 0 2\r\n10\r\nincr ar1 5\r\ndecr ar1 3\r\nincr ar1 0\r\nget ar1\r\n', 5)],
  },
  {
    name: 'incr wraps at 2^64',
    steps: [step('set ar2 0 0 1\r\n5\r\nincr ar2 18446744073709551615\r\nget ar2\r\n', 3)],
  },
  {
    name: 'incr to the largest value',
    steps: [step('set ar3 0 0 1\r\n0\r\nincr ar3 18446744073709551615\r\n', 2)],
  },
  {
    name: 'decr floors at 0',
    steps: [step('set ar4 0 0 1\r\n5\r\ndecr ar4 6\r\ndecr ar4 1\r\nget ar4\r\n', 4)],
  },
  {
    name: 'decr that shortens the number pads with spaces in place',
    steps: [step('set ar5 0 0 3\r\n100\r\ndecr ar5 1\r\nget ar5\r\ndecr ar5 90\r\nget ar5\r\n', 5)],
  },
  {
    name: 'incr that lengthens the number',
    steps: [step('set ar6 0 0 2\r\n99\r\nincr ar6 1\r\nget ar6\r\n', 3)],
  },
  {
    name: 'incr and decr give a new CAS value',
    steps: [step('set ar7 0 0 1\r\n1\r\ngets ar7\r\nincr ar7 1\r\ngets ar7\r\ndecr ar7 1\r\ngets ar7\r\n', 6)],
  },
  {
    name: 'incr keeps flags',
    steps: [step('set ar8 42 0 1\r\n1\r\nincr ar8 1\r\nget ar8\r\n', 3)],
  },
  {
    name: 'incr of a missing key',
    steps: [step('incr ar-missing 1\r\ndecr ar-missing 1\r\nget ar-missing\r\n', 3)],
  },
  {
    name: 'incr of a non-numeric value',
    steps: [
      step('set ar9 0 0 3\r\nabc\r\nincr ar9 1\r\ndecr ar9 1\r\n', 3),
      step('set ar10 0 0 2\r\n1a\r\nincr ar10 1\r\n', 2),
      step('set ar12 0 0 2\r\n-1\r\nincr ar12 1\r\n', 2),
      step('set ar13 0 0 4\r\n1.50\r\nincr ar13 1\r\n', 2),
    ],
  },
  {
    name: 'incr of numbers with a sign, leading zeros, surrounding spaces',
    steps: [
      step('set ar14 0 0 2\r\n+4\r\nincr ar14 1\r\n', 2),
      step('set ar15 0 0 4\r\n0042\r\nincr ar15 1\r\nget ar15\r\n', 3),
      step('set ar16 0 0 3\r\n 42\r\nincr ar16 1\r\nget ar16\r\n', 3),
      step('set ar17 0 0 3\r\n42 \r\nincr ar17 1\r\nget ar17\r\n', 3),
      step('set ar18 0 0 5\r\n42 ab\r\nincr ar18 1\r\nget ar18\r\n', 3),
    ],
  },
  {
    name: 'incr of a number followed by a NUL or other control bytes',
    steps: [
      step('set ar23 0 0 3\r\n5\x00x\r\nincr ar23 1\r\nget ar23\r\n', 3),
      step('set ar24 0 0 2\r\n5\t\r\nincr ar24 1\r\nget ar24\r\n', 3),
      step('set ar25 0 0 2\r\n\x0b5\r\nincr ar25 1\r\nget ar25\r\n', 3),
      step('set ar26 0 0 2\r\n5\n\r\nincr ar26 1\r\nget ar26\r\n', 3),
    ],
  },
  {
    name: 'incr of a 20-digit value',
    steps: [
      step('set ar19 0 0 20\r\n00000000000000000042\r\nincr ar19 1\r\nget ar19\r\n', 3),
      step('set ar20 0 0 20\r\n99999999999999999999\r\nincr ar20 1\r\n', 2),
    ],
  },
  {
    name: 'incr with a bad delta',
    steps: [
      step('set ar21 0 0 1\r\n1\r\n'),
      step('incr ar21 abc\r\n'),
      step('incr ar21 -1\r\n'),
      step('incr ar21 18446744073709551616\r\n'),
      step('incr ar21 1x\r\n'),
      step('decr ar21 \r\n'),
      step('incr ar21 +2\r\nget ar21\r\n', 2),
    ],
  },
  {
    name: 'incr with a bad delta on a missing key',
    steps: [step('incr ar-missing2 abc\r\n')],
  },
  {
    name: 'incr and decr with noreply',
    steps: [
      step(
        'set ar22 0 0 1\r\n1\r\nincr ar22 5 noreply\r\ndecr ar22 2 noreply\r\nincr ar-missing3 1 noreply\r\nincr ar22 x noreply\r\nget ar22\r\n',
        2,
      ),
    ],
  },
  {
    name: 'incr with wrong token counts',
    steps: [step('incr\r\n'), step('incr ar22\r\n'), step('incr ar22 1 noreply extra\r\n'), step('decr ar22 1 2 3\r\n')],
  },
  {
    name: 'incr with a too-long key',
    steps: [step(`incr ${'i'.repeat(251)} 1\r\n`)],
  },
  {
    name: 'touch of a stored and of a missing key',
    steps: [step('set to1 0 0 1\r\na\r\ntouch to1 100\r\ntouch to-missing 100\r\nget to1\r\n', 4)],
  },
  {
    name: 'touch with a negative exptime expires the item',
    steps: [step('set to2 0 0 1\r\na\r\ntouch to2 -1\r\nget to2\r\ntouch to2 10\r\n', 4)],
  },
  {
    name: 'touch keeps CAS and flags',
    steps: [step('set to3 9 0 1\r\na\r\ngets to3\r\ntouch to3 1000\r\ngets to3\r\n', 4)],
  },
  {
    name: 'touch with a bad exptime, noreply, wrong token counts',
    steps: [
      step('set to4 0 0 1\r\na\r\n'),
      step('touch to4 abc\r\n'),
      step('touch to4 1.5\r\n'),
      step('touch to4 100 noreply\r\ntouch to4 abc noreply\r\ntouch to-missing 1 noreply\r\nget to4\r\n'),
      step('touch to4\r\n'),
      step('touch\r\n'),
      step('touch to4 1 noreply extra\r\n'),
    ],
  },
  {
    name: 'touch with an absolute time',
    steps: [
      {
        send: () => [
          `set to5 0 0 1\r\na\r\ntouch to5 ${Math.floor(Date.now() / 1000) + 3600}\r\nget to5\r\ntouch to5 2592001\r\nget to5\r\n`,
        ],
        expect: 5,
      },
    ],
  },
  {
    name: 'touch with a too-long key',
    steps: [step(`touch ${'t'.repeat(251)} 10\r\n`)],
  },
];

describe('text protocol: delete, incr, decr, touch', function () {
  // Whether incr/decr rewrite in place must not depend on memcached's threads.
  const pair = usePair([], { memcachedOnly: NO_BACKGROUND_ITEM_REFERENCES });
  defineCases(pair, cases);
});
