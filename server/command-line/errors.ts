/*
 * How a command line is refused: the exit status memcached gives for each kind of refusal,
 * and the errors parseArgs turns into that status and memcached's message.
 */

import { RecordcacheError } from '../errors';

/** Exit status for an unknown option or a malformed command line. */
export const USAGE_EXIT_CODE = 2;
/** Exit status for a value memcached refuses: memcached's own (EXIT_FAILURE). */
export const VALUE_EXIT_CODE = 1;
/** memcached's exit status for settings it checks after parsing (sysexits EX_USAGE). */
export const EX_USAGE = 64;

/** A value memcached refuses, with memcached's message. */
export class UsageError extends RecordcacheError {
  readonly exitCode: number = VALUE_EXIT_CODE;
  constructor(message: string, options?: ErrorOptions) {
    super('RC_USAGE', message, options);
  }
}

/** A setting memcached refuses at start-up with EX_USAGE. */
export class SettingsError extends UsageError {
  override readonly exitCode: number = EX_USAGE;
}

/** An unknown option, or an option without its argument. */
export class OptionError extends UsageError {
  override readonly exitCode: number = USAGE_EXIT_CODE;
}

/** memcached's exit status when it cannot bind (EX_OSERR). */
const EX_OSERR = 71;

export class ListenError extends UsageError {
  override readonly exitCode: number = EX_OSERR;
}
