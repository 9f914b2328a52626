/*
 * recordcache's own errors: each class has a stable `code`, so callers and tests tell them
 * apart without matching messages (whose words follow memcached's, and may change with it).
 */

export class RecordcacheError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** -Z settings that cannot serve TLS: memcached's message, exit status 64. */
export class TlsSetupError extends RecordcacheError {
  constructor(message: string) {
    super('RC_TLS_SETUP', message);
  }
}

/** The native records engine cannot run here (not built, not Linux, a stale build). */
export class EngineUnavailableError extends RecordcacheError {
  constructor(message: string) {
    super('RC_ENGINE_UNAVAILABLE', message);
  }
}

/** -o http_port with a records backend the HTTP listener has not been made to serve. */
export class HttpUnsupportedError extends RecordcacheError {
  constructor(message: string) {
    super('RC_HTTP_UNSUPPORTED', message);
  }
}

/** The HTTP listener could not bind its port on one of the -l addresses. */
export class HttpListenError extends RecordcacheError {
  constructor(message: string, options?: ErrorOptions) {
    super('RC_HTTP_LISTEN', message, options);
  }
}
