/*
 * -o http_*: recordcache's own suboptions for the HTTP/1.1 listener (server/http/). They
 * follow memcached's suboption style; memcached itself refuses them as illegal.
 */

import { UsageError } from './errors';
import type { ParseState } from './state';

type SuboptionHandler = (value: string | null, state: ParseState) => void;

/** A decimal number, all digits (these options are recordcache's own: no atoi leniency). */
function decimal(name: string, value: string | null): number {
  if (value === null) throw new UsageError(`Missing ${name} argument`);
  if (!/^\d{1,10}$/.test(value)) throw new UsageError(`Invalid value for ${name}: "${value}" (expected a decimal number)`);
  return Number(value);
}

/** A Content-Type value: a token, a slash, a token, then parameters; no control characters. */
const CONTENT_TYPE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+\/[!#$%&'*+.^_`|~0-9A-Za-z-]+(\s*;[\x20-\x7e]*)?$/;

export const HTTP_SUBOPTIONS: readonly [string, SuboptionHandler][] = [
  [
    'http_port',
    (value, state) => {
      const port = decimal('http_port', value);
      if (port > 65535) throw new UsageError('http_port must be between 0 (off) and 65535');
      state.config.httpPort = port;
    },
  ],
  [
    'http_writes',
    (_value, state) => {
      state.config.httpWrites = true;
    },
  ],
  [
    'http_content_type',
    (value, state) => {
      if (value === null || !CONTENT_TYPE.test(value)) {
        throw new UsageError(`Invalid value for http_content_type: "${value ?? ''}" (expected a media type such as text/html)`);
      }
      state.config.httpContentType = value;
    },
  ],
  [
    'http_gzip_flag',
    (value, state) => {
      const bits = decimal('http_gzip_flag', value);
      if (bits > 0xffffffff) throw new UsageError('http_gzip_flag must be a 32-bit flags mask (0 is off)');
      state.config.httpGzipFlag = bits;
    },
  ],
];

/** The HTTP settings need the listener: given without -o http_port they would change nothing. */
export function checkHttpSettings(state: ParseState): void {
  const config = state.config;
  if (config.httpPort === 0) {
    const orphan = ['http_writes', 'http_content_type', 'http_gzip_flag'].find((name) => config.suboptions.has(name));
    if (orphan !== undefined) throw new UsageError(`-o ${orphan} needs -o http_port=<port>`);
    return;
  }
  if (config.socketPath !== null) throw new UsageError('-o http_port listens on the -l addresses; -s turns TCP off');
  if (config.httpPort === config.port || config.httpPort === config.udpPort) {
    throw new UsageError(`-o http_port=${config.httpPort}: the port is memcached's own (-p or -U); give HTTP a port of its own`);
  }
}
