#!/usr/bin/env node
/*
 * The image's HEALTHCHECK: asks the server in this container for its version, as a client
 * would, and exits 0 when it answers. The address, port, socket, protocol and TLS come
 * from the server's own command line (read from /proc, parsed by the server's parser), so
 * `docker run IMAGE -p 12345 -B binary` is checked where it listens.
 */
'use strict';

const fs = require('node:fs');
const net = require('node:net');
const tls = require('node:tls');
const path = require('node:path');
const { parseArgs, parseListenEntry } = require(path.join(__dirname, '..', 'dist', 'server', 'command-line'));

const TIMEOUT_MS = 4000;

function fail(message) {
  process.stderr.write(`healthcheck: ${message}\n`);
  process.exit(1);
}

/** The server's arguments: the process running bin/recordcache (or the -d child, dist/server/cli.js). */
function serverArgs() {
  for (const pid of fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let argv;
    try {
      argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
    } catch {
      continue; // gone, or not ours to read
    }
    const at = argv.findIndex((arg) => arg.endsWith('bin/recordcache') || arg.endsWith('dist/server/cli.js'));
    if (at > 0) return argv.slice(at + 1);
  }
  return fail('no recordcache process in this container');
}

const parsed = parseArgs(serverArgs());
if (parsed.kind !== 'run') fail('the server was started with a command line that does not run it');
const config = parsed.config;

let target;
let entry = null;
if (config.socketPath !== null) {
  target = { path: config.socketPath };
} else if (config.port === 0 && config.listen.every((text) => parseListenEntry(text).port === null)) {
  // UDP only: nothing to connect to.
  process.exit(0);
} else {
  entry = config.listen.length > 0 ? parseListenEntry(config.listen[0]) : null;
  const host = entry?.host;
  const anyAddress = host === null || host === undefined || host === '' || host === '0.0.0.0' || host === '::';
  target = { host: anyAddress ? (host === '::' ? '::1' : '127.0.0.1') : host, port: entry?.port ?? config.port };
}

const binary = (entry?.protocol ?? config.protocol) === 'binary';
// memcached's binary VERSION request: magic 0x80, opcode 0x0b, everything else zero.
const request = binary ? Buffer.from([0x80, 0x0b, ...new Array(22).fill(0)]) : Buffer.from('version\r\n');
const useTls = config.sslEnabled && target.path === undefined && !(entry?.notls ?? false);
const socket = useTls ? tls.connect({ ...target, rejectUnauthorized: false }) : net.connect(target);

let reply = Buffer.alloc(0);
const timer = setTimeout(() => fail(`no answer within ${TIMEOUT_MS} ms from ${JSON.stringify(target)}`), TIMEOUT_MS);
socket.once(useTls ? 'secureConnect' : 'connect', () => socket.write(request));
socket.on('data', (data) => {
  reply = Buffer.concat([reply, data]);
  // Binary: any reply to VERSION (with -S it may refuse, yet it answered). Text: VERSION,
  // or -Y's refusal before authentication.
  const done = binary
    ? reply.length >= 24 && reply[0] === 0x81 && reply[1] === 0x0b
    : /^(VERSION |CLIENT_ERROR unauthenticated)/.test(reply.toString('latin1')) && reply.includes('\r\n');
  if (done) {
    clearTimeout(timer);
    socket.destroy();
    process.exit(0);
  }
  if (reply.length > 1024) fail(`unexpected answer: ${JSON.stringify(reply.toString('latin1').slice(0, 80))}`);
});
socket.on('error', (err) => fail(`${JSON.stringify(target)}: ${err.message}`));
socket.on('close', () => fail(`connection closed before an answer: ${JSON.stringify(reply.toString('latin1').slice(0, 80))}`));
