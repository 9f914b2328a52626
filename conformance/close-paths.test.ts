// Every way a request closes the connection, with that request last in one
// pipelined write: the requests before it are answered as memcached answers
// them (what memcached had written out arrives, what it had not is lost), then
// the connection closes.
import { usePair } from './lib/servers';
import { defineCases, step, type Case } from './lib/cases';

const closing = (name: string, bytes: string | Buffer): Case => ({ name, steps: [step(bytes, 'close')] });

function binaryHeader(magic: number, opcode: number): Buffer {
  const header = Buffer.alloc(24);
  header[0] = magic;
  header[1] = opcode;
  return header;
}

describe('close paths: replies owed before the closing request', function () {
  const pair = usePair();
  defineCases(pair, [
    closing('get, version, then an HTTP request line', 'get k\r\nversion\r\nGET / HTTP/1.1\r\n'),
    closing('version twice, then an HTTP request line', 'version\r\nversion\r\nGET / HTTP/1.1\r\n'),
    closing('a set, a get, then an HTTP request line', 'set a 0 0 1\r\nx\r\nget a\r\nHEAD /a HTTP/1.0\r\n'),
    closing('get, version, then a line too long', `get k\r\nversion\r\n${'x'.repeat(3000)}`),
    closing('get, version, then quit', 'get k\r\nversion\r\nquit\r\nversion\r\n'),
    closing('a bad data chunk, version, then quit', 'set a 0 0 1\r\nab\r\nversion\r\nquit\r\n'),
    closing('mn, version, then an HTTP request line', 'mn\r\nversion\r\nGET / HTTP/1.1\r\n'),
    closing(
      'binary NOOP, VERSION, then a header with a bad magic',
      Buffer.concat([binaryHeader(0x80, 0x0a), binaryHeader(0x80, 0x0b), binaryHeader(0x81, 0x0b)]),
    ),
    closing('binary GETQ miss, VERSION, then QUIT', Buffer.concat([binaryHeader(0x80, 0x0b), binaryHeader(0x80, 0x07)])),
  ]);
});
