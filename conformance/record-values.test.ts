// Values long enough to become records (-o records_min_size, 32 KiB by default): once a
// value is a record the item reads it from the record, so every command that reads a
// value back (get after append, prepend, incr, decr, gets, touch, the meta and binary
// forms) must still answer as memcached does.
import { NO_BACKGROUND_ITEM_REFERENCES, usePair } from './lib/servers';
import { defineCases, step, type Case } from './lib/cases';

const LONG = 40 * 1024;
const letters = (n: number, c: string): string => c.repeat(n);
const counter = `12${' '.repeat(LONG - 2)}`;

const cases: Case[] = [
  {
    name: 'a long value served, then appended to and prepended to, then served again',
    steps: [
      step(`set rv1 5 0 ${LONG}\r\n${letters(LONG, 'a')}\r\n`),
      step('get rv1\r\n'),
      step('get rv1\r\n'),
      step('append rv1 0 0 3\r\nxyz\r\n'),
      step('get rv1\r\n'),
      step('prepend rv1 0 0 2\r\n<<\r\n'),
      step('gets rv1\r\n'),
    ],
  },
  {
    name: 'a long counter served, then incremented in place and decremented',
    steps: [
      step(`set rv2 0 0 ${LONG}\r\n${counter}\r\n`),
      step('get rv2\r\n'),
      step('incr rv2 30\r\n'),
      step('get rv2\r\n'),
      step('decr rv2 2\r\n'),
      step('get rv2\r\n'),
    ],
  },
  {
    name: 'a long value served, then read with mg, appended with ms MA, and touched',
    steps: [
      step(`ms rv3 ${LONG} F7 T0\r\n${letters(LONG, 'b')}\r\n`),
      step('mg rv3 v f s\r\n'),
      step('ms rv3 2 MA\r\n++\r\n'),
      step('mg rv3 v s\r\n'),
      step('touch rv3 100\r\n'),
      step('mg rv3 s f\r\n'),
    ],
  },
  {
    name: 'a long value served, replaced by a short one, and the short one served',
    steps: [
      step(`set rv4 0 0 ${LONG}\r\n${letters(LONG, 'c')}\r\n`),
      step('get rv4\r\n'),
      step('set rv4 0 0 2\r\nok\r\n'),
      step('get rv4\r\n'),
      step('delete rv4\r\n'),
      step('get rv4\r\n'),
    ],
  },
];

describe('values that are records', () => {
  // incr rewrites a value in place only when no background thread holds the item (see servers.ts).
  const pair = usePair([], { memcachedOnly: NO_BACKGROUND_ITEM_REFERENCES });
  defineCases(pair, cases);
});
