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

/**
 * Under -Y, a connection that has not yet sent a user and password from the file: one value
 * shared by all of them.
 */
export const AWAITING_ASCII_AUTH: { readonly awaitingAsciiAuth: true } = Object.freeze({ awaitingAsciiAuth: true });

/**
 * A `watch` connection: output only, as in memcached, which hands it to its logger thread.
 * What it sends afterwards is read and dropped.
 */
export const WATCHING: { readonly watching: true } = Object.freeze({ watching: true });

/**
 * Per-connection protocol state, kept in RecordConnection.state (the time of the last command
 * is the connection's lastCommandTime): the binary session of a connection that speaks the
 * binary protocol, AWAITING_ASCII_AUTH under -Y until a text connection authenticates, else
 * null. So an idle text connection costs no object of its own here.
 */
export type ClientState = BinarySession | typeof AWAITING_ASCII_AUTH | typeof WATCHING | null;
