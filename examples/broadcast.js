#!/usr/bin/env node
/*
 * A small broadcast network on loopback, built only on the package's public API: one
 * proposer sends each block (1 MB) to every validator as one record; validators check it
 * and answer with a small vote; once two thirds have voted, the proposer broadcasts a
 * commit at a higher priority, ahead of any block still queued, and proposes the next.
 *
 *   npm run build && node examples/broadcast.js [validators] [blocks] [backend]
 *
 * Messages: a type byte ('B' block, 'V' vote, 'C' commit), a 4-byte big-endian length,
 * then that many bytes (framing: length field of 4 bytes at offset 1).
 */
'use strict';

const crypto = require('node:crypto');
const { openRecords } = require('recordcache');

const VALIDATORS = Number(process.argv[2] ?? 8);
const BLOCKS = Number(process.argv[3] ?? 20);
const BACKEND = process.argv[4] ?? 'auto';
const BLOCK_BYTES = 1 << 20;
const framing = { kind: 'length', width: 4, offset: 1, maxMessage: 2 << 20 };

function frame(type, body) {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeUInt32BE(body.length, 1);
  return Buffer.concat([head, body]);
}

async function validator(index, port) {
  const node = openRecords({ backend: BACKEND, framing });
  const proposer = await node.connect(port);
  let commits = 0;
  for await (const { data } of node.messages()) {
    const type = String.fromCharCode(data[0]);
    const body = data.subarray(5);
    if (type === 'B') {
      // A vote names the block by its hash and says which validator checked it.
      const digest = crypto.createHash('sha256').update(body).digest();
      node.sendRecord([frame('V', Buffer.concat([digest, Buffer.from([index])]))], proposer);
    } else if (type === 'C' && ++commits === BLOCKS) {
      break;
    }
  }
  await node.close();
  return commits;
}

async function main() {
  const proposer = openRecords({ backend: BACKEND, framing });
  const { port } = await proposer.listen(0);
  const validators = proposer.group();
  proposer.on('connection', (peer) => validators.add(peer));
  const done = Array.from({ length: VALIDATORS }, (_, i) => validator(i, port));
  while (validators.size < VALIDATORS) await new Promise((resolve) => setTimeout(resolve, 5));

  const votes = proposer.messages();
  const started = process.hrtime.bigint();
  for (let height = 0; height < BLOCKS; height++) {
    const body = crypto.randomBytes(BLOCK_BYTES);
    const digest = crypto.createHash('sha256').update(body).digest();
    // One record for every validator: the block's bytes are handed over once.
    const block = proposer.initRecord(frame('B', body));
    proposer.sendRecord(block, validators);
    proposer.delRecord(block);
    const voters = new Set();
    while (voters.size * 3 < VALIDATORS * 2) {
      const { value } = await votes.next();
      if (value.data.subarray(5, 37).equals(digest)) voters.add(value.data[37]);
    }
    // js writes in order and refuses priorities; native puts the commit ahead of queued blocks.
    proposer.sendRecord([frame('C', digest)], validators, proposer.backend === 'js' ? 0 : 1);
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const commits = await Promise.all(done);
  await proposer.close();
  console.log(
    `${proposer.backend}: ${BLOCKS} blocks of ${BLOCK_BYTES >> 20} MB to ${VALIDATORS} validators in ${seconds.toFixed(2)} s ` +
      `(${((BLOCKS * VALIDATORS * BLOCK_BYTES) / seconds / 1e9).toFixed(2)} GB/s delivered); every validator saw ${Math.min(...commits)} commits`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
