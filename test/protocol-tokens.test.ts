/*
 * memcached's tokenizer (proto_text.c tokenize_command): split on spaces only, at most 23
 * tokens, the 24th being the terminal token that points at the bytes left unread. And the
 * two rules around it: where a command line ends (CR LF or a bare LF, cut at a NUL) and
 * when the last token makes a command `noreply`.
 */

import assert from 'node:assert/strict';
import { MAX_TOKENS, commandEnd, hasNoreply, tokenIs, tokenLength, tokenString, tokenize, tokens } from '../server/protocol/tokens';

const b = (s: string) => Buffer.from(s, 'latin1');

/** The tokens of the last tokenize() call as strings. */
function strings(buf: Buffer, ntokens: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < ntokens - 1; i++) out.push(tokenString(buf, i));
  return out;
}

const t = (n: number) => Array.from({ length: n }, (_, i) => `t${i}`);

interface Row {
  line: string;
  tokens: string[];
  /** What follows the 23rd token, unread, or null when the whole line was read. */
  rest: string | null;
}

const rows: Row[] = [
  { line: 'get foo', tokens: ['get', 'foo'], rest: null },
  { line: 'get', tokens: ['get'], rest: null },
  { line: '', tokens: [], rest: null },
  { line: '   ', tokens: [], rest: null },
  { line: '  get   a    b  ', tokens: ['get', 'a', 'b'], rest: null },
  // Only the space separates: a tab, CR or NUL is part of a token.
  { line: 'get\ta b\r', tokens: ['get\ta', 'b\r'], rest: null },
  { line: 'set k 0 0 1 noreply', tokens: ['set', 'k', '0', '0', '1', 'noreply'], rest: null },
  // 23 tokens fill the table: no rest.
  { line: t(23).join(' '), tokens: t(23), rest: null },
  // The space that ends the 23rd token is consumed with it.
  { line: t(23).join(' ') + ' ', tokens: t(23), rest: null },
  { line: t(23).join(' ') + '  ', tokens: t(23), rest: ' ' },
  { line: t(30).join(' '), tokens: t(23), rest: t(30).slice(23).join(' ') },
];

describe('tokens: tokenize_command', () => {
  for (const row of rows) {
    it(JSON.stringify(row.line.length > 40 ? row.line.slice(0, 40) + '…' : row.line), () => {
      // The line sits inside other bytes, as it does in a read buffer.
      const buf = b(`xx${row.line}yy`);
      const ntokens = tokenize(buf, 2, 2 + row.line.length);
      assert.equal(ntokens, row.tokens.length + 1, 'ntokens counts the terminal token');
      assert.deepEqual(strings(buf, ntokens), row.tokens);
      if (row.rest === null) assert.equal(tokens.rest, -1);
      else assert.equal(buf.toString('latin1', tokens.rest, 2 + row.line.length), row.rest);
    });
  }

  it('holds at most 23 tokens and the terminal one', () => {
    assert.equal(MAX_TOKENS, 24);
    assert.equal(tokenize(b(t(100).join(' ')), 0, t(100).join(' ').length), 24);
  });

  it('compares, measures and reads tokens by index', () => {
    const buf = b('gets  key1 k');
    assert.equal(tokenize(buf, 0, buf.length), 4);
    assert.equal(tokenIs(0, buf, 'gets'), true);
    assert.equal(tokenIs(0, buf, 'get'), false);
    assert.equal(tokenIs(1, buf, 'key2'), false);
    assert.equal(tokenIs(2, buf, 'k'), true);
    assert.deepEqual([tokenLength(0), tokenLength(1), tokenLength(2)], [4, 4, 1]);
    assert.equal(tokenString(buf, 1), 'key1');
  });

  it('noreply only as the last token, spelled exactly', () => {
    const table: [string, boolean][] = [
      ['set k 0 0 1 noreply', true],
      ['delete k noreply', true],
      ['delete k', false],
      ['delete noreply k', false],
      ['delete k NOREPLY', false],
      ['delete k noreplyx', false],
      ['noreply', true],
      ['', false],
    ];
    for (const [line, expected] of table) {
      const buf = b(line);
      assert.equal(hasNoreply(buf, tokenize(buf, 0, buf.length)), expected, line);
    }
  });
});

describe('tokens: where the command ends', () => {
  // (line, index of its LF) -> length memcached keeps as the command.
  const table: [string, number][] = [
    ['get a\r\n', 5],
    ['get a\n', 5],
    ['get a\r\r\n', 6],
    // A lone CR before the LF is the whole line, and stays (memcached needs two bytes).
    ['\r\n', 1],
    ['\n', 0],
    ['get a\0b\r\n', 5],
    ['\0get\r\n', 0],
  ];
  for (const [line, expected] of table) {
    it(JSON.stringify(line), () => {
      const buf = b(`zz${line}`);
      assert.equal(commandEnd(buf, 2, buf.indexOf(0x0a, 2)) - 2, expected);
    });
  }
});
