import assert from 'node:assert/strict';
import { PrefixStats, murmur3 } from '../server/stats-prefix';

describe('prefix stats', () => {
  it('hashes with MurmurHash3 x86_32, seed 0', () => {
    assert.equal(murmur3(''), 0);
    assert.equal(murmur3('hello'), 0x248bfa47);
    assert.equal(murmur3('Hello, world!'), 0xc0363e43);
  });

  it('counts by the text before the delimiter and ignores keys without one', () => {
    const stats = new PrefixStats(':', true);
    stats.recordSet('user:1');
    stats.recordGet('user:1', true);
    stats.recordGet('user:2', false);
    stats.recordDelete('user:1');
    stats.recordGet('plain', true);
    assert.equal(stats.dump().toString(), 'PREFIX user get 2 hit 1 set 1 del 1\r\nEND\r\n');
    stats.clear();
    assert.equal(stats.dump().toString(), 'END\r\n');
  });
});
