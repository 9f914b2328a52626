/*
 * What a connection remembers between requests: the protocol's session state.
 */

/** Per-connection state of the binary protocol: SASL authentication. */
export class BinarySession {
  /** Commands other than SASL and VERSION are served (memcached's c->authenticated). */
  authenticated = false;
  /** A SASL_AUTH began an exchange that SASL_STEP may continue (c->sasl_started). */
  saslStarted = false;
  /** An exchange succeeded on this connection; the SASL library refuses to run another. */
  saslCompleted = false;
}

/** Per-connection protocol state. */
export interface ClientState {
  lastCommandTime: number;
  /** Set when the connection speaks the binary protocol. */
  binary?: BinarySession;
  /** Under -Y: the connection has sent a user and password from the file. */
  asciiAuthenticated: boolean;
}
