/*
 * -l: the interface list, and each entry read the way memcached reads it when it binds
 * (`notls:`, `proto[...]:`, `tag[...]:`, `[ipv6]:port`).
 */

import type { Protocol } from '../config';
import { ListenError, UsageError } from './errors';
import type { ParseState } from './state';
import { strtolong } from './values';

/** One -l entry, read the way memcached reads it when it binds. */
export interface ListenAddress {
  /** null for every interface (`*`). */
  host: string | null;
  /** null when the entry names no port: use Config.port / Config.udpPort. */
  port: number | null;
  /** `proto[ascii|binary|negotiating]:` prefix; null to use Config.protocol. */
  protocol: Protocol | null;
  /** `tag[name]:` prefix (1 to 8 characters), reported for the connection; null when absent. */
  tag: string | null;
  /** `notls:` prefix: with -Z, this listener stays plaintext. */
  notls: boolean;
}

export function addListenEntries(text: string, state: ParseState): void {
  // memcached drops a -l whose text occurs anywhere in the list so far.
  if (state.inter !== null && state.inter.includes(text)) return;
  state.inter = state.inter === null ? text : `${state.inter},${text}`;
  // memcached splits the interface list on ',' and ';' when it binds, and reads each entry
  // then (checkListeners).
  for (const entry of text.split(/[;,]/)) {
    if (entry !== '' && !state.config.listen.includes(entry)) state.config.listen.push(entry);
  }
}

/** Reads one -l entry (already validated by parseArgs); throws Error on a malformed one. */
export function parseListenEntry(entry: string): ListenAddress {
  try {
    return readListenEntry(entry);
  } catch (error) {
    if (error instanceof UsageError) throw new Error(error.message);
    throw error;
  }
}

export function readListenEntry(entry: string): ListenAddress {
  let rest = entry;
  // memcached skips "notls" and the one separator after it, whatever it is.
  const notls = rest.startsWith('notls');
  if (notls) rest = rest.slice('notls'.length + 1);
  let protocol: Protocol | null = null;
  if (rest.startsWith('proto[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new UsageError(`Invalid protocol spec: "${rest.slice('proto'.length)}"`);
    const name = rest.slice('proto['.length, close);
    if (name === 'ascii' || name === 'binary') protocol = name;
    else if (name === 'negotiating') protocol = 'auto';
    else if (name === 'proxy') throw new UsageError(`Server not built with proxy: "${entry.slice(0, entry.indexOf(']'))}"`);
    // memcached binds with the default protocol when it does not know the name.
    rest = skipSeparator(rest.slice(close + 1));
  }
  let tag: string | null = null;
  if (rest.startsWith('tag[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw new UsageError(`Invalid tag in socket config: "${rest.slice('tag'.length)}"`);
    tag = rest.slice('tag['.length, close);
    if (tag.length < 1 || tag.length > 8) {
      throw new UsageError(`Listener tags must be between 1 and 8 characters: "${tag}"`);
    }
    rest = skipSeparator(rest.slice(close + 1));
  }
  let host: string;
  let portText: string | null = null;
  if (rest.startsWith('[')) {
    // RFC 3986 style IPv6, optionally followed by :port.
    const close = rest.indexOf(']');
    // memcached's message has no newline: the next one follows on the same line.
    if (close < 0) throw new UsageError(`Invalid IPV6 address: "${rest}"`, { cause: 'no newline' });
    host = rest.slice(1, close);
    const after = rest.slice(close + 1);
    if (after.startsWith(':')) portText = after.slice(1);
    else if (after !== '') throw new UsageError(`Invalid IPV6 address: "${rest}"`);
  } else {
    const colon = rest.indexOf(':');
    // More than one colon without brackets is a bare IPv6 address with no port.
    if (colon >= 0 && rest.indexOf(':', colon + 1) < 0) {
      host = rest.slice(0, colon);
      portText = rest.slice(colon + 1);
    } else {
      host = rest;
    }
  }
  let port: number | null = null;
  if (portText !== null) {
    // safe_strtol, as memcached reads it; a port it would wrap past 65535 is refused here.
    const parsed = strtolong(portText, true);
    if (parsed === null) throw new UsageError(`Invalid port number: "${portText}"`);
    port = Number(BigInt.asIntN(32, parsed.value));
    if (port < 0 || port > 65535) throw new UsageError(`Invalid port number: "${portText}"`);
  }
  return { host: host === '*' ? null : host, port, protocol, tag, notls };
}

function skipSeparator(text: string): string {
  return text.startsWith(':') ? text.slice(1) : text;
}

/**
 * The -l entries, read as memcached reads them when it binds a TCP or UDP port (none with
 * -s), so a bad one is refused after every other check, with memcached's exit status.
 */
export function checkListeners(state: ParseState): void {
  const config = state.config;
  if (state.inter === null || config.socketPath !== null || (config.port === 0 && config.udpPort === 0)) return;
  const failed = `failed to listen on one of interface(s) ${state.inter}: Success`;
  for (const entry of config.listen) {
    if (entry.startsWith('notls') && !config.sslEnabled) {
      throw new ListenError(`'notls' option is valid only when SSL is enabled\n${failed}`);
    }
    try {
      readListenEntry(entry);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      throw new ListenError(error.message + (error.cause === 'no newline' ? '' : '\n') + failed);
    }
  }
}
