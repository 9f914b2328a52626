// SPDX-License-Identifier: GPL-2.0
//
// ktls-client.js - one TLS client for kmod/ktls-guest.sh: stores a value of SIZE bytes
// on a memcached-protocol server that speaks only TLS, reads it back ROUNDS times, checks
// every byte, and prints one JSON line with the kernel's kTLS counters
// (/proc/net/tls_stat) before and after.  The client is Node (node:tls), which never
// hands its keys to the kernel, so what the counters gain is the server's doing.
//
//   node ktls-client.js PORT [SIZE] [ROUNDS]

'use strict';
const fs = require('node:fs');
const tls = require('node:tls');

const port = Number(process.argv[2]);
const size = Number(process.argv[3] || 200 * 1024);
const rounds = Number(process.argv[4] || 20);

function tlsStat() {
  try {
    const out = {};
    for (const line of fs.readFileSync('/proc/net/tls_stat', 'utf8').split('\n')) {
      const m = /^(\w+)\s+(\d+)/.exec(line);
      if (m) out[m[1]] = Number(m[2]);
    }
    return out;
  } catch (err) {
    return { error: err.code || String(err) };
  }
}

const value = Buffer.alloc(size);
for (let i = 0; i < size; i++) value[i] = (i * 31 + 7) & 0xff;

async function main() {
  const before = tlsStat();
  const socket = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  await new Promise((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', reject);
  });
  const during = tlsStat();
  let pending = Buffer.alloc(0);
  const waiters = [];
  socket.on('data', (d) => {
    pending = Buffer.concat([pending, d]);
    while (waiters.length && waiters[0].test(pending)) waiters.shift().resolve();
  });
  let failed = null;
  socket.on('error', (err) => {
    failed = err;
    while (waiters.length) waiters.shift().reject(err);
  });
  const until = (test) =>
    new Promise((resolve, reject) => {
      if (failed) return reject(failed);
      if (test(pending)) return resolve();
      waiters.push({ test, resolve, reject });
    });
  socket.write(Buffer.concat([Buffer.from(`set hot 0 0 ${size}\r\n`), value, Buffer.from('\r\n')]));
  await until((b) => b.includes('\r\n'));
  const stored = pending.toString('latin1').split('\r\n')[0];
  pending = Buffer.alloc(0);
  let good = 0;
  const header = Buffer.from(`VALUE hot 0 ${size}\r\n`);
  const whole = header.length + size + 2 + 5; // value, CRLF, END\r\n
  for (let i = 0; i < rounds; i++) {
    socket.write('get hot\r\n');
    await until((b) => b.length >= whole);
    const reply = pending.subarray(0, whole);
    pending = pending.subarray(whole);
    if (reply.subarray(0, header.length).equals(header) && reply.subarray(header.length, header.length + size).equals(value) &&
        reply.subarray(header.length + size).toString('latin1') === '\r\nEND\r\n') good++;
  }
  const after = tlsStat();
  socket.end();
  console.log(JSON.stringify({ port, protocol: socket.getProtocol(), cipher: socket.getCipher().name, stored, rounds, good, before, during, after }));
  process.exit(good === rounds && stored === 'STORED' ? 0 : 1);
}

main().catch((err) => {
  console.log(JSON.stringify({ port, error: String(err) }));
  process.exit(1);
});
