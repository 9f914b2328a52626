/*
 * TLS (-Z) as memcached 1.6.18 has it: memcached's -o ssl_* settings turned into a Node
 * secure context (node:tls, the OpenSSL Node links), its start-up checks and messages,
 * `refresh_certs`, and the counters `stats` shows. The records engine that owns a TLS
 * listener asks this module for the tls.Server; everything else about TLS lives here.
 *
 * Where this differs from memcached (README, TLS):
 * - ssl_handshake_errors counts every handshake that fails (protocol.txt's meaning).
 *   memcached counts only a failure inside the one SSL_accept it tries right after accept
 *   on a non-blocking socket, which in practice almost never sees the ClientHello yet, so
 *   its counter stays 0 for bad clients.
 * - A client certificate that does not verify, or a missing one where ssl_verify_mode
 *   demands one, ends the connection right after Node's handshake (Node verifies there);
 *   memcached's OpenSSL aborts the handshake itself with an alert. Either way no request
 *   is served. Node also sends no alert for it.
 * - A handshake that does not finish is abandoned after -o idle_timeout, or Node's 120 s
 *   when there is none; memcached waits for it as long as for any idle connection.
 * - ssl_kernel_tls is accepted and shown, but Node's TLS runs in user space.
 * - ssl_wbuf_size is shown; Node sizes its TLS records itself.
 */

import fs from 'node:fs';
import os from 'node:os';
import crypto from 'node:crypto';
import tls from 'node:tls';
import type net from 'node:net';

import type { Config } from './config';
import { TlsSetupError } from './errors';

/** OpenSSL's SSL_VERIFY_* flags, as memcached maps ssl_verify_mode 0..3 to them. */
const SSL_VERIFY_PEER = 0x01;
const SSL_VERIFY_FAIL_IF_NO_PEER_CERT = 0x02;
const SSL_VERIFY_CLIENT_ONCE = 0x04;
const VERIFY_FLAGS = [
  0,
  SSL_VERIFY_PEER,
  SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
  SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE,
];
/** ssl_min_version 0..3, as memcached maps it (TLS1_VERSION .. TLS1_3_VERSION). */
const MIN_VERSIONS: readonly tls.SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
const MIN_VERSION_NAMES = ['tlsv1.0', 'tlsv1.1', 'tlsv1.2', 'tlsv1.3'];
/** OpenSSL's SSL_FILETYPE_PEM and SSL_FILETYPE_ASN1 (DER). */
const FILETYPE_PEM = 1;
const FILETYPE_ASN1 = 2;
/** memcached's SESSION_ID_CONTEXT. */
const SESSION_ID_CONTEXT = 'memcached';
/** Sessions kept for resumption with ssl_session_cache (OpenSSL's default cache size is 20480). */
const SESSION_CACHE_SIZE = 20480;
/** Node's own handshake limit, kept when there is no -o idle_timeout. */
const DEFAULT_HANDSHAKE_TIMEOUT_MS = 120_000;

/** memcached's -Z and -o ssl_* settings. */
export interface TlsSettings {
  enabled: boolean;
  chainCert: string | null;
  key: string | null;
  /** 0..3 as given; `stats settings` shows the OpenSSL flags. */
  verifyMode: number;
  keyFormat: number;
  ciphers: string | null;
  caCert: string | null;
  wbufSize: number;
  sessionCache: boolean;
  kernelTls: boolean;
  /** 0..3 as given (TLS 1.0 .. 1.3); default 2. */
  minVersion: number;
}

export function tlsSettings(config: Config): TlsSettings {
  const sub = config.suboptions;
  const text = (name: string): string | null => sub.get(name) ?? null;
  const integer = (name: string, fallback: number): number => {
    const value = sub.get(name);
    return value === undefined ? fallback : Number.parseInt(value, 10);
  };
  return {
    enabled: config.sslEnabled,
    chainCert: text('ssl_chain_cert'),
    key: text('ssl_key'),
    verifyMode: integer('ssl_verify_mode', 0),
    keyFormat: integer('ssl_keyformat', FILETYPE_PEM),
    ciphers: text('ssl_ciphers'),
    caCert: text('ssl_ca_cert'),
    wbufSize: integer('ssl_wbuf_size', 16) * 1024,
    sessionCache: sub.has('ssl_session_cache'),
    kernelTls: sub.has('ssl_kernel_tls'),
    minVersion: integer('ssl_min_version', 2),
  };
}

/** The ssl_* lines of `stats settings`, as memcached prints them (NULL paths as printf's "(null)"). */
export function tlsSettingsStatPairs(s: TlsSettings): [string, string | number][] {
  return [
    ['ssl_enabled', s.enabled ? 'yes' : 'no'],
    ['ssl_chain_cert', s.chainCert ?? '(null)'],
    ['ssl_key', s.key ?? '(null)'],
    ['ssl_verify_mode', VERIFY_FLAGS[s.verifyMode] ?? 0],
    ['ssl_keyformat', s.keyFormat],
    ['ssl_ciphers', s.ciphers ?? 'NULL'],
    ['ssl_ca_cert', s.caCert ?? 'NULL'],
    ['ssl_wbuf_size', s.wbufSize],
    ['ssl_session_cache', s.sessionCache ? 'yes' : 'no'],
    ['ssl_kernel_tls', s.kernelTls ? 'yes' : 'no'],
    ['ssl_min_version', MIN_VERSION_NAMES[s.minVersion] ?? 'unknown'],
  ];
}

/** TLS cannot start with these settings: memcached's message, for stderr and exit 64. */
export { TlsSetupError };

/** Certificates and key as read from disk, ready for tls.createSecureContext. */
interface LoadedCredentials {
  cert: Buffer;
  key: crypto.KeyObject | Buffer;
  ca: Buffer | null;
}

/** OpenSSL's text for a failed fopen(), "error:800000NN:system library::<strerror>". */
function systemLibraryError(err: NodeJS.ErrnoException): string {
  const errno = err.code !== undefined ? (os.constants.errno as Record<string, number>)[err.code] : undefined;
  if (errno === undefined) return err.message;
  const reason = /^[A-Z]+: ([^,]+),/.exec(err.message)?.[1] ?? err.code ?? 'unknown error';
  const text = reason.charAt(0).toUpperCase() + reason.slice(1);
  return `error:${(0x80000000 + errno).toString(16).toUpperCase()}:system library::${text}`;
}

/** A path memcached was given none for reads as OpenSSL reads NULL: EFAULT. */
const NULL_PATH_ERROR = 'error:8000000E:system library::Bad address';

function readPath(path: string | null): Buffer | string {
  if (path === null) return NULL_PATH_ERROR;
  try {
    return fs.readFileSync(path);
  } catch (err) {
    return systemLibraryError(err as NodeJS.ErrnoException);
  }
}

function opensslMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The private key in the format ssl_keyformat names (PEM or DER), or OpenSSL's error text. */
function readKey(bytes: Buffer, format: number): crypto.KeyObject | Buffer | string {
  if (format === FILETYPE_PEM) return bytes;
  if (format !== FILETYPE_ASN1) return 'error:0A00007C:SSL routines::bad ssl filetype';
  for (const type of ['pkcs8', 'pkcs1', 'sec1'] as const) {
    try {
      return crypto.createPrivateKey({ key: bytes, format: 'der', type });
    } catch {
      // try the next DER structure, as OpenSSL's decoder does
    }
  }
  return 'error:1E08010C:DECODER routines::unsupported';
}

/**
 * Loads chain, key and CA in memcached's order (load_server_certificates), with its
 * messages; checks that the key belongs to the certificate.
 */
function loadCredentials(s: TlsSettings): LoadedCredentials {
  const cert = readPath(s.chainCert);
  if (typeof cert === 'string') throw new TlsSetupError(`Error loading the certificate chain: ${s.chainCert ?? '(null)'} : ${cert}`);
  try {
    tls.createSecureContext({ cert });
  } catch (err) {
    throw new TlsSetupError(`Error loading the certificate chain: ${s.chainCert} : ${opensslMessage(err)}`);
  }
  const keyBytes = readPath(s.key);
  const key = typeof keyBytes === 'string' ? keyBytes : readKey(keyBytes, s.keyFormat);
  if (typeof key === 'string') throw new TlsSetupError(`Error loading the key: ${s.key ?? '(null)'} : ${key}`);
  try {
    tls.createSecureContext({ cert, key: key instanceof crypto.KeyObject ? key.export({ format: 'pem', type: 'pkcs8' }) : key });
  } catch (err) {
    throw new TlsSetupError(`Error loading the key: ${s.key} : ${opensslMessage(err)}`);
  }
  let ca: Buffer | null = null;
  if (s.caCert !== null) {
    const bytes = readPath(s.caCert);
    if (typeof bytes === 'string') throw new TlsSetupError(`Error loading the CA certificate: ${s.caCert} : ${bytes}`);
    if (!bytes.includes('-----BEGIN CERTIFICATE-----')) {
      throw new TlsSetupError(
        `Error loading the CA certificate: ${s.caCert} : error:05800088:x509 certificate routines::no certificate or crl found`,
      );
    }
    ca = bytes;
  }
  return { cert, key, ca };
}

export interface TlsStatsClock {
  /** memcached's relative clock, seconds (Store clock). */
  now(): number;
}

/**
 * The TLS side of a server: the current secure context (replaced by refresh_certs), the
 * verification memcached's ssl_verify_mode asks for, and the TLS counters.
 */
export class TlsTerminator {
  handshakeErrors = 0;
  newSessions = 0;
  /**
   * When the certificates were last loaded, on the relative clock. memcached loads them
   * before its clock starts ticking (current_time 0), so at start-up the time since the
   * refresh equals the clock's value.
   */
  private lastRefresh = 0;
  private options: tls.SecureContextOptions;
  private readonly servers = new Set<tls.Server>();
  private readonly sessions = new Map<string, Buffer>();
  private handshakeTimeoutMs = DEFAULT_HANDSHAKE_TIMEOUT_MS;

  /** Throws TlsSetupError with memcached's message when the settings cannot serve TLS. */
  constructor(
    readonly settings: TlsSettings,
    private readonly clock: TlsStatsClock,
  ) {
    this.options = this.contextOptions(loadCredentials(settings));
  }

  /** -o idle_timeout also bounds a handshake that stalls. */
  setIdleTimeout(seconds: number): void {
    if (seconds > 0) this.handshakeTimeoutMs = seconds * 1000;
  }

  /** The options a tls.Server builds its secure context from (also after refresh_certs). */
  private contextOptions(credentials: LoadedCredentials): tls.SecureContextOptions {
    const s = this.settings;
    const key = credentials.key instanceof crypto.KeyObject ? credentials.key.export({ format: 'pem', type: 'pkcs8' }) : credentials.key;
    const options: tls.SecureContextOptions = {
      cert: credentials.cert,
      key,
      minVersion: MIN_VERSIONS[s.minVersion] ?? 'TLSv1.2',
      sessionIdContext: SESSION_ID_CONTEXT,
    };
    if (credentials.ca !== null) options.ca = credentials.ca;
    if (s.ciphers !== null) options.ciphers = s.ciphers;
    // Built once here so that what cannot work is refused now, with memcached's message.
    try {
      tls.createSecureContext(options);
    } catch (err) {
      if (s.ciphers !== null && /cipher/i.test(opensslMessage(err))) {
        throw new TlsSetupError(`Error setting the provided cipher(s): ${s.ciphers}`);
      }
      throw new TlsSetupError(`Error validating the certificate: ${opensslMessage(err)}`);
    }
    return options;
  }

  /**
   * refresh_certs: reloads chain, key and CA from the same paths. Returns null when the new
   * certificates are in use, else memcached's error line (without CRLF); the old ones stay.
   */
  refresh(): string | null {
    let options: tls.SecureContextOptions;
    try {
      options = this.contextOptions(loadCredentials(this.settings));
    } catch (err) {
      return opensslMessage(err);
    }
    this.options = options;
    for (const server of this.servers) server.setSecureContext(options);
    this.lastRefresh = this.clock.now();
    return null;
  }

  /** The `stats` lines memcached adds with -Z. */
  statPairs(): [string, number][] {
    const pairs: [string, number][] = [];
    if (this.settings.sessionCache) pairs.push(['ssl_new_sessions', this.newSessions]);
    pairs.push(['ssl_handshake_errors', this.handshakeErrors]);
    pairs.push(['time_since_server_cert_refresh', Math.max(0, this.clock.now() - this.lastRefresh)]);
    return pairs;
  }

  /**
   * A TLS server whose connections, once their handshake has succeeded and the client's
   * certificate passed ssl_verify_mode, go to `onConnection`.
   */
  createServer(onConnection: (socket: net.Socket) => void): tls.Server {
    const mode = this.settings.verifyMode;
    const server = tls.createServer({
      ...this.options,
      requestCert: mode !== 0,
      // Verified below, as OpenSSL would: mode 1 accepts a client without a certificate.
      rejectUnauthorized: false,
      handshakeTimeout: this.handshakeTimeoutMs,
      noDelay: true,
    });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (mode !== 0 && !socket.authorized) {
        const presented = socket.getPeerCertificate() !== null && Object.keys(socket.getPeerCertificate()).length > 0;
        // A certificate that does not verify is refused in every mode; none at all only in 2 and 3.
        if (presented || mode >= 2) {
          this.handshakeErrors++;
          socket.destroy();
          return;
        }
      }
      onConnection(socket);
    });
    server.on('tlsClientError', (err: Error & { library?: string; code?: string }, socket) => {
      // OpenSSL's errors (bad records, failed verification), not a client that hung up or stalled.
      if (err.library !== undefined || (err.code ?? '').startsWith('ERR_SSL_')) this.handshakeErrors++;
      socket.destroy();
    });
    if (this.settings.sessionCache) this.enableSessionCache(server);
    this.servers.add(server);
    server.once('close', () => this.servers.delete(server));
    return server;
  }

  /** ssl_session_cache: a server-side session cache, counting new sessions (ssl_new_sessions). */
  private enableSessionCache(server: tls.Server): void {
    server.on('newSession', (id: Buffer, data: Buffer, done: () => void) => {
      this.newSessions++;
      if (this.sessions.size >= SESSION_CACHE_SIZE) {
        const oldest = this.sessions.keys().next().value as string;
        this.sessions.delete(oldest);
      }
      this.sessions.set(id.toString('hex'), data);
      done();
    });
    server.on('resumeSession', (id: Buffer, done: (err: Error | null, data: Buffer | null) => void) => {
      done(null, this.sessions.get(id.toString('hex')) ?? null);
    });
  }
}
