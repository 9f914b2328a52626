/*
 * memcached's clock: `now()` is seconds since the process started, ticking once a second,
 * and starts at 62 so that "time 0" never looks like a real time (memcached stats_init).
 * The store takes a Clock so tests can drive time by hand.
 */

/** memcached starts its relative clock ITEM_UPDATE_INTERVAL + 2 seconds in. */
export const CLOCK_START = 62;

export interface Clock {
  /** Relative seconds: memcached's current_time. */
  now(): number;
  /** Unix time the relative clock counts from (memcached's process_started). */
  readonly processStarted: number;
}

export class SystemClock implements Clock {
  readonly processStarted: number;
  private readonly startedMs: number;
  /**
   * The same start on CLOCK_MONOTONIC in nanoseconds (performance.now() counts on it too),
   * so the records engine's read index tells the same second (native/src/read_index.cc).
   */
  readonly startedNs: number;

  constructor() {
    this.startedMs = performance.now();
    this.startedNs = Number(process.hrtime.bigint());
    this.processStarted = Math.floor(Date.now() / 1000) - CLOCK_START;
  }

  now(): number {
    return CLOCK_START + Math.floor((performance.now() - this.startedMs) / 1000);
  }
}

/** A clock that moves only when told; for tests of expiry and flush. */
export class ManualClock implements Clock {
  private current = CLOCK_START;
  constructor(readonly processStarted = 1_700_000_000 - CLOCK_START) {}

  now(): number {
    return this.current;
  }

  /** Called after the clock moved (the read index keeps the same time). */
  onAdvance: (() => void) | null = null;

  advance(seconds: number): void {
    this.current += seconds;
    this.onAdvance?.();
  }
}
