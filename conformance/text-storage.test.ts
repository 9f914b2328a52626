// Storage commands of the text protocol: set, add, replace, append, prepend
// and cas, with and without noreply, and their flags, exptime, length and
// data-block rules.
import { usePair } from './lib/servers';
import { defineCases, step, type Case } from './lib/cases';

const future = (): number => Math.floor(Date.now() / 1000) + 3600;

const cases: Case[] = [
  {
    name: 'set then get and gets',
    steps: [step('set st1 5 0 5\r\nhello\r\nget st1\r\ngets st1\r\n', 3)],
  },
  {
    name: 'set overwrites value and flags',
    steps: [step('set st2 1 0 1\r\na\r\nset st2 2 0 3\r\nbcd\r\nget st2\r\n', 3)],
  },
  {
    name: 'add stores only a missing key',
    steps: [step('add st3 0 0 1\r\na\r\nadd st3 0 0 1\r\nb\r\nget st3\r\n', 3)],
  },
  {
    name: 'replace stores only an existing key',
    steps: [step('replace st4 0 0 1\r\na\r\nget st4\r\nset st4 0 0 1\r\nb\r\nreplace st4 3 0 1\r\nc\r\nget st4\r\n', 5)],
  },
  {
    name: 'append and prepend keep the flags of the stored item',
    steps: [
      step(
        'set st5 7 0 3\r\nmid\r\nappend st5 9 0 4\r\n-end\r\nprepend st5 11 0 6\r\nstart-\r\nget st5\r\n' +
          'append st5x 0 0 1\r\na\r\nprepend st5x 0 0 1\r\na\r\nget st5x\r\n',
        7,
      ),
    ],
  },
  {
    name: 'append and prepend with an empty block',
    steps: [step('set st6 0 0 2\r\nab\r\nappend st6 0 0 0\r\n\r\nprepend st6 0 0 0\r\n\r\ngets st6\r\n', 4)],
  },
  {
    name: 'cas: match, stale, missing key, after delete',
    steps: [
      step('set cs1 0 0 1\r\na\r\ngets cs1\r\n', 2),
      { send: (ctx) => [`cas cs1 3 0 1 ${ctx.cas(1)}\r\nb\r\n`], expect: 1 },
      { send: (ctx) => [`cas cs1 0 0 1 ${ctx.cas(1)}\r\nc\r\ngets cs1\r\n`], expect: 2 },
      step('cas cs1-missing 0 0 1 1\r\nx\r\n'),
      { send: (ctx) => [`delete cs1\r\ncas cs1 0 0 1 ${ctx.cas(2)}\r\nd\r\n`], expect: 2 },
    ],
  },
  {
    name: 'cas with noreply',
    steps: [
      step('set cs2 0 0 1\r\na\r\ngets cs2\r\n', 2),
      {
        send: (ctx) => [`cas cs2 0 0 2 ${ctx.cas(1)} noreply\r\nbb\r\ncas cs2 0 0 2 ${ctx.cas(1)} noreply\r\ncc\r\ngets cs2\r\n`],
        expect: 1,
      },
      step('cas cs2-missing 0 0 1 5 noreply\r\nz\r\nget cs2-missing\r\n'),
    ],
  },
  {
    name: 'cas with a bad or missing cas token',
    steps: [
      step('set cs3 0 0 1\r\na\r\n'),
      step('cas cs3 0 0 1\r\nb\r\n', 2),
      step('cas cs3 0 0 1 abc\r\nb\r\n', 2),
      step('cas cs3 0 0 1 -1\r\nb\r\n', 2),
      step('cas cs3 0 0 1 18446744073709551616\r\nb\r\n', 2),
      step('cas cs3 0 0 1 0\r\nb\r\nget cs3\r\n', 2),
    ],
  },
  {
    name: 'cas value 2^64-1 on an existing key',
    steps: [step('set cs4 0 0 1\r\na\r\ncas cs4 0 0 1 18446744073709551615\r\nb\r\nget cs4\r\n', 3)],
  },
  {
    name: 'every storage command with noreply',
    steps: [
      step(
        'set nr1 0 0 1 noreply\r\na\r\nadd nr1 0 0 1 noreply\r\nb\r\nadd nr2 0 0 1 noreply\r\nc\r\n' +
          'replace nr1 0 0 1 noreply\r\nd\r\nreplace nr3 0 0 1 noreply\r\ne\r\n' +
          'append nr1 0 0 1 noreply\r\nf\r\nprepend nr1 0 0 1 noreply\r\ng\r\nappend nr4 0 0 1 noreply\r\nh\r\n' +
          'get nr1 nr2 nr3 nr4\r\n',
        1,
      ),
    ],
  },
  {
    name: 'noreply is only recognised as the last token',
    steps: [step('set nr5 0 0 1 noreply extra\r\na\r\nset nr5 0 0 1 NOREPLY\r\nb\r\nget nr5\r\n', 4)],
  },
  {
    name: 'noreply suppresses errors detected after it is recognised',
    steps: [step('set nr6 0 0 abc noreply\r\nxyz\r\nset nr6 -1 0 1 noreply\r\na\r\nget nr6\r\n', 3)],
  },
  {
    name: 'flags 0, 2^32-1, 2^32 (truncated), 2^32+5, negative, non-numeric',
    steps: [
      step(
        'set fl1 0 0 1\r\na\r\nset fl2 4294967295 0 1\r\na\r\nset fl3 4294967296 0 1\r\na\r\nset fl4 4294967301 0 1\r\na\r\nget fl1 fl2 fl3 fl4\r\n',
        5,
      ),
      step('set fl5 -1 0 1\r\na\r\n', 2),
      step('set fl6 abc 0 1\r\na\r\n', 2),
      step('set fl7 1x 0 1\r\na\r\n', 2),
      step('set fl8 99999999999999999999 0 1\r\na\r\nget fl5 fl6 fl7 fl8\r\n', 3),
    ],
  },
  {
    name: 'flags with leading plus and leading zeros',
    steps: [step('set fl9 +7 0 1\r\na\r\nset fl10 0007 0 1\r\na\r\nget fl9 fl10\r\n', 3)],
  },
  {
    name: 'exptime negative expires at once',
    steps: [step('set ex1 0 -1 1\r\na\r\nget ex1\r\nadd ex1 0 0 1\r\nb\r\nget ex1\r\n', 4)],
  },
  {
    name: 'exptime relative keeps the item',
    steps: [step('set ex2 0 100 1\r\na\r\nset ex3 0 2592000 1\r\nb\r\nget ex2 ex3\r\n', 3)],
  },
  {
    name: 'exptime absolute: in the future kept, beyond 30 days in the past expired',
    steps: [
      {
        send: () => [`set ex4 0 ${future()} 1\r\na\r\nset ex5 0 2592001 1\r\nb\r\nset ex6 0 4000000000 1\r\nc\r\nget ex4 ex5 ex6\r\n`],
        expect: 4,
      },
    ],
  },
  {
    name: 'exptime non-numeric or over 32 bits',
    steps: [
      step('set ex7 0 abc 1\r\na\r\n', 2),
      step('set ex8 0 99999999999999999999 1\r\na\r\n', 2),
      step('set ex9 0 1.5 1\r\na\r\nget ex7 ex8 ex9\r\n', 3),
    ],
  },
  {
    name: 'value of 0 bytes',
    steps: [step('set zv 0 0 0\r\n\r\nget zv\r\nappend zv 0 0 0\r\n\r\ngets zv\r\n', 4)],
  },
  {
    name: 'binary value with CR LF and NUL inside',
    steps: [
      step(
        Buffer.concat([
          Buffer.from('set bin1 0 0 10\r\n'),
          Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0x0d, 0x0a, 0x45, 0x4e, 0x44, 0x0a]),
          Buffer.from('\r\nget bin1\r\n'),
        ]),
        2,
      ),
    ],
  },
  {
    name: 'value whose bytes look like commands and replies',
    steps: [step('set bin2 0 0 18\r\nEND\r\nget x\r\nSTORED\r\nget bin2\r\n', 2)],
  },
  {
    name: 'length negative, non-numeric, enormous, wrapping',
    steps: [
      step('set ln1 0 0 -1\r\n'),
      step('set ln2 0 0 abc\r\nabc\r\n', 2),
      step('set ln3 0 0 99999999999999999999\r\nabc\r\n', 2),
      step('set ln4 0 0 2147483648\r\nabc\r\n', 2),
      step('set ln5 0 0 4294967295\r\nabc\r\n', 2),
      step('set ln6 0 0 2147483647\r\nabc\r\n', 2),
      step('set ln7 0 0 4294967296\r\n\r\nget ln1 ln2 ln3 ln4 ln5 ln6 ln7\r\n', 2),
      step('set ln8 0 0 +3\r\nabc\r\nset ln9 0 0 03\r\nabc\r\nset ln10 0 0 3x\r\nabc\r\nget ln8 ln9 ln10\r\n', 5),
    ],
  },
  {
    name: 'data block longer than announced',
    steps: [step('set dl1 0 0 3\r\nabcd\r\nget dl1\r\n', 3)],
  },
  {
    name: 'data block shorter than announced, then a command',
    steps: [step('set dl2 0 0 5\r\nab\r\nget dl2\r\n', 2)],
  },
  {
    name: 'data block with a bad terminator keeps the old value',
    steps: [step('set dl3 0 0 1\r\na\r\nset dl3 0 0 1\r\nbXY\r\nget dl3\r\n', 4)],
  },
  {
    name: 'data block ended by a bare newline',
    steps: [step('set dl4 0 0 1\r\na\nget dl4\r\n', 2)],
  },
  {
    name: 'leftover of a bad data chunk parsed as commands',
    steps: [step('set dl5 0 0 2\r\nabcget dl5\r\nversion\r\n', 3)],
  },
  {
    name: 'zero-length block without its CR LF',
    steps: [step('set dl7 0 0 0\r\nX\r\nget dl7\r\n', 3)],
  },
  {
    name: 'values around the 512 KB slab chunk size, appended and prepended across it',
    steps: [
      step(`set ch1 0 0 524188\r\n${'a'.repeat(524188)}\r\nset ch2 0 0 524388\r\n${'b'.repeat(524388)}\r\nget ch1 ch2\r\n`, 3),
      step(`append ch1 0 0 200\r\n${'c'.repeat(200)}\r\nprepend ch1 0 0 300\r\n${'d'.repeat(300)}\r\ngets ch1\r\n`, 3),
      step(`append ch2 0 0 600000\r\n${'e'.repeat(600000)}\r\nget ch2\r\n`, 2),
    ],
  },
  {
    name: 'incomplete block waits for the rest',
    steps: [step('set dl6 0 0 10\r\n01234', 'none'), step('56789\r\nget dl6\r\n', 2)],
  },
  {
    name: 'key too long on a storage line, data block parsed as a command',
    steps: [step(`set ${'k'.repeat(251)} 0 0 7\r\nversion\r\n`, 2)],
  },
  {
    name: 'key of 250 bytes stores',
    steps: [step(`set ${'s'.repeat(250)} 0 0 1\r\na\r\nget ${'s'.repeat(250)}\r\n`, 2)],
  },
  {
    name: 'storage command with too few or too many tokens',
    steps: [
      step('set sk1 0 0\r\n'),
      step('set sk1\r\n'),
      step('set\r\n'),
      step('set sk1 0 0 1 noreply extra\r\na\r\n', 2),
      step('cas sk1 0 0 1 1 noreply extra\r\na\r\n', 2),
    ],
  },
  {
    name: 'key with a control character and 8-bit bytes',
    steps: [step(Buffer.from('set k\x01\x7f\xe9 0 0 1\r\na\r\nget k\x01\x7f\xe9\r\n', 'latin1'), 2)],
  },
  {
    name: 'key with a tab is one key',
    steps: [step('set ta\tb 0 0 1\r\na\r\nget ta\tb\r\nget ta\r\n', 3)],
  },
  {
    name: 'set deletes the old item when the new one is too large',
    steps: [step(`set big1 0 0 1\r\na\r\nset big1 0 0 2000000\r\n${'x'.repeat(2000000)}\r\nget big1\r\n`, 3)],
  },
  {
    name: 'add, replace, append, prepend too large leave the old item',
    steps: [
      step(
        `set big2 0 0 1\r\na\r\n` +
          ['add', 'replace', 'append', 'prepend'].map((cmd) => `${cmd} big2 0 0 2000000\r\n${'x'.repeat(2000000)}\r\n`).join('') +
          'get big2\r\n',
        6,
      ),
    ],
  },
  {
    name: 'too large with noreply is silent',
    steps: [step(`set big3 0 0 2000000 noreply\r\n${'x'.repeat(2000000)}\r\nget big3\r\n`, 1)],
  },
];

describe('text protocol: storage commands', function () {
  const pair = usePair();
  defineCases(pair, cases);
});
