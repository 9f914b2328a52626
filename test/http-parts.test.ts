/*
 * The pure parts of the HTTP listener: the key a request target names, and the byte range
 * a Range header asks of a value; and its refusal to start where it has not been run.
 */

import assert from 'node:assert/strict';
import { keyOfTarget } from '../server/http/key';
import { RangeKind, byteRange } from '../server/http/range';
import { HttpFront } from '../server/http/listener';
import { HttpUnsupportedError } from '../server/errors';
import type { ServerContext } from '../server/context';

describe('HTTP request target to key', () => {
  it('takes the path after the slash, percent-decoded into bytes, without the query', () => {
    assert.equal(keyOfTarget('/foo'), 'foo');
    assert.equal(keyOfTarget('/a/b:c'), 'a/b:c');
    assert.equal(keyOfTarget('/foo?x=1'), 'foo');
    assert.equal(keyOfTarget('/caf%C3%A9'), 'caf\u00c3\u00a9', 'UTF-8 bytes, as latin1 like every key');
    assert.equal(keyOfTarget('/%25'), '%');
    assert.equal(keyOfTarget(`/${'k'.repeat(250)}`), 'k'.repeat(250));
    assert.equal(keyOfTarget(`/${'%6b'.repeat(250)}`), 'k'.repeat(250), 'the length counts decoded bytes');
  });

  it('refuses what memcached would not take as a key', () => {
    for (const target of ['', '*', 'foo', 'http://host/foo', '/', '/?x', '/a%2', '/a%g1', '/a%20b', '/a%00', '/a%7f', '/a%0a']) {
      assert.equal(keyOfTarget(target), null, JSON.stringify(target));
    }
    assert.equal(keyOfTarget(`/${'k'.repeat(251)}`), null);
    assert.equal(keyOfTarget(`/${'%6b'.repeat(251)}`), null);
  });
});

describe('HTTP Range header', () => {
  const single = (start: number, end: number) => ({ kind: RangeKind.Single, start, end });

  it('reads one byte range, clamped to the value', () => {
    assert.deepEqual(byteRange('bytes=0-0', 10), single(0, 0));
    assert.deepEqual(byteRange('bytes=2-4', 10), single(2, 4));
    assert.deepEqual(byteRange('bytes=2-', 10), single(2, 9));
    assert.deepEqual(byteRange('bytes=5-100', 10), single(5, 9));
    assert.deepEqual(byteRange('bytes=-3', 10), single(7, 9));
    assert.deepEqual(byteRange('bytes=-30', 10), single(0, 9));
    assert.deepEqual(byteRange('Bytes = 1 - 2 ', 10), single(1, 2));
  });

  it('says when no byte of the value is in the range', () => {
    for (const [header, length] of [
      ['bytes=10-', 10],
      ['bytes=10-20', 10],
      ['bytes=-0', 10],
      ['bytes=0-', 0],
      ['bytes=-1', 0],
    ] as const) {
      assert.equal(byteRange(header, length).kind, RangeKind.Unsatisfiable, `${header} of ${length}`);
    }
  });

  it('asks for the whole value for no header, several ranges, another unit, or one that does not parse', () => {
    for (const header of [undefined, 'bytes=0-1,3-4', 'items=0-1', 'bytes=4-2', 'bytes=-', 'bytes=a-b', 'bytes', 'bytes=', 'bytes=1-2-3']) {
      assert.equal(byteRange(header, 10).kind, RangeKind.Whole, String(header));
    }
  });
});

describe('HTTP listener on the kmod backend', () => {
  it('is refused with a coded error, not started', () => {
    const ctx = { engine: { name: 'kmod' } } as unknown as ServerContext;
    assert.throws(
      () => new HttpFront(ctx, 100),
      (error: unknown) => error instanceof HttpUnsupportedError && error.code === 'RC_HTTP_UNSUPPORTED' && /kmod/.test(error.message),
    );
  });
});
