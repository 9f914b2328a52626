/*
 * memcached 1.6.18's command line, parsed into a Config.
 *
 * Option letters, long names, argument forms (getopt_long: `-p 11211`, `-p11211`, `-vvv`,
 * `-Mp 11211`, `--port=11211`, `--port 11211`, unambiguous long-name prefixes such as
 * `--conn=10`), the -o suboption list, defaults and the checks memcached makes on the
 * result are memcached's, and so are its error messages where it has one.
 *
 * Numbers are read as memcached reads them (atoi, atof, strtoul truncated to 32 bits), so
 * `-c 10x` is 10 and `-f x` is 0 ("Factor must be greater than 1"). Arguments that are not
 * options are ignored, as getopt moves them aside and memcached never looks at them.
 *
 * Where recordcache differs, on purpose (test/cli-args.test.ts runs each command line it
 * tests against Debian's memcached and lists these):
 * - An unknown option, or one without its argument, exits 2 with one line; memcached prints
 *   getopt's line and `Illegal argument "?"` and exits 1.
 * - Values memcached accepts but cannot mean (a negative port, a port above 65535, an empty
 *   or non-octal -a mask) are refused; where memcached crashes (`-o slab_chunk_max` or
 *   `slab_sizes` with no or a bad value) a message is given instead.
 * - A -c too small for memcached's own file descriptors, which stops memcached starting,
 *   is accepted: recordcache's limit counts client connections only.
 * - Options recordcache cannot honour are refused with one line naming them (refusedSub,
 *   and -k -L -e -N), but only once memcached's own checks pass, so a command line
 *   memcached refuses gets memcached's message and exit status.
 * - -l entries, `notls:` among them, are read once every option is read, with memcached's
 *   messages and exit status (71) for a bad one; memcached reads them when it binds.
 *   parseArgs binds nothing, and neither reads certificates (server/tls.ts) nor -Y files.
 */

import { type Config, MEGABYTE, RECORDCACHE_VERSION, type RecordsBackendName } from '../config';
import { checkSettings } from './checks';
import { SettingsError, UsageError } from './errors';
import { readOptions } from './getopt';
import { licenseText, usageText } from './help';
import { addListenEntries } from './listen';
import { type ParseState, newParseState, refuse } from './state';
import { applySuboptions } from './suboptions';
import { type OptionSpec, PROGRAM, RECORDS_BACKENDS } from './table';
import { atof, integerOption, itemSizeOption, megabytesOption, octalOption } from './values';

export { EX_USAGE, USAGE_EXIT_CODE, VALUE_EXIT_CODE } from './errors';
export { parseListenEntry, type ListenAddress } from './listen';
export { SUBOPTION_NAMES } from './suboptions';

export type ParseResult =
  /** `stderr` holds warnings and notes (possibly empty) for the caller to print before starting. */
  { kind: 'run'; config: Config; stderr: string } | { kind: 'exit'; code: number; stdout: string; stderr: string };

type EarlyExit = Extract<ParseResult, { kind: 'exit' }>;

/**
 * Parses memcached's command line. `argv` excludes the program name (process.argv.slice(2)).
 * Pure: the caller prints `stdout`/`stderr` and exits or starts the server.
 */
export function parseArgs(argv: readonly string[]): ParseResult {
  const state = newParseState();
  try {
    for (const { spec, value } of readOptions(argv)) {
      const early = applyOption(spec, value, state);
      if (early !== null) return early;
    }
    checkSettings(state);
    if (state.refusal !== null) throw new UsageError(state.refusal);
  } catch (error) {
    if (error instanceof UsageError) {
      return { kind: 'exit', code: error.exitCode, stdout: '', stderr: error.message === '' ? '' : error.message + '\n' };
    }
    throw error;
  }
  return { kind: 'run', config: state.config, stderr: state.notes.map((note) => note + '\n').join('') };
}

/** Applies one option; returns the result when the option ends parsing (-h, -i, -V). */
function applyOption(spec: OptionSpec, value: string | null, state: ParseState): EarlyExit | null {
  const config = state.config;
  const text = value ?? '';
  switch (spec.id) {
    case 'h':
      return { kind: 'exit', code: 0, stdout: usageText(), stderr: '' };
    case 'i':
      return { kind: 'exit', code: 0, stdout: licenseText(), stderr: '' };
    case 'V':
      return { kind: 'exit', code: 0, stdout: `${PROGRAM} ${RECORDCACHE_VERSION}\n`, stderr: '' };
    case 'A':
      config.enableShutdown = true;
      break;
    case 'Z':
      config.sslEnabled = true;
      break;
    case 'a':
      config.socketMask = octalOption(spec, text);
      break;
    case 'U':
      config.udpPort = integerOption(spec, text);
      state.udpSpecified = true;
      break;
    case 'p':
      config.port = integerOption(spec, text);
      state.tcpSpecified = true;
      break;
    case 's':
      config.socketPath = text;
      break;
    case 'm':
      config.maxBytes = megabytesOption(spec, text) * MEGABYTE;
      break;
    case 'M':
      config.noEvict = true;
      break;
    case 'c':
      config.maxConns = integerOption(spec, text);
      if (config.maxConns <= 0) throw new UsageError('Maximum connections must be greater than 0');
      break;
    case 'r':
      config.coreDumps = true;
      break;
    case 'k':
      // Node has no mlockall(); accepting -k would leave the operator believing the cache is locked.
      refuse(state, '-k (--lock-memory): recordcache cannot lock its memory; remove -k');
      break;
    case 'L':
      refuse(state, '-L (--enable-largepages): recordcache does not preallocate memory in large pages; remove -L');
      break;
    case 'v':
      // `--verbose=N` counts once, as in memcached; the level is the number of -v given.
      config.verbose++;
      break;
    case 'l':
      addListenEntries(text, state);
      break;
    case 'd':
      config.daemonize = true;
      break;
    case 'u':
      config.user = text;
      break;
    case 'P':
      config.pidFile = text;
      break;
    case 'e':
      refuse(state, `-e ${text}: recordcache keeps items in process memory only and cannot restart from a memory file; remove -e`);
      break;
    case 'f': {
      const factor = atof(text);
      if (factor <= 1.0) throw new UsageError('Factor must be greater than 1');
      config.factor = factor;
      break;
    }
    case 'n':
      config.chunkSize = integerOption(spec, text);
      if (config.chunkSize <= 0) throw new UsageError('Chunk size must be greater than 0');
      break;
    case 't':
      config.threads = integerOption(spec, text);
      if (config.threads <= 0) throw new UsageError('Number of threads must be greater than 0');
      if (config.threads > 64) {
        state.notes.push(
          'WARNING: Setting a high number of worker threads is not recommended. ' +
            'Set this value to the number of cores in your machine or less.',
        );
      }
      break;
    case 'D':
      if (text === '') throw new UsageError('No delimiter specified');
      // memcached keeps the first character only.
      config.prefixDelimiter = text[0];
      config.detailEnabled = true;
      break;
    case 'R':
      config.reqsPerEvent = integerOption(spec, text);
      if (config.reqsPerEvent <= 0) throw new UsageError('Number of requests per event must be greater than 0');
      break;
    case 'C':
      config.disableCas = true;
      break;
    case 'b':
      // memcached passes any number to listen(); the kernel reads a negative one as its maximum.
      config.backlog = integerOption(spec, text);
      break;
    case 'B':
      state.protocolSpecified = true;
      if (text !== 'auto' && text !== 'binary' && text !== 'ascii') {
        throw new SettingsError(`Invalid value for binding protocol: ${text}\n -- should be one of auto, binary, or ascii`);
      }
      config.protocol = text;
      break;
    case 'I':
      config.itemSizeMax = itemSizeOption(spec, text);
      break;
    case 'S':
      config.sasl = true;
      break;
    case 'F':
      config.disableFlushAll = true;
      break;
    case 'X':
      config.disableDumping = true;
      break;
    case 'W':
      config.disableWatch = true;
      break;
    case 'Y':
      config.authFile = text;
      break;
    case 'N':
      state.napiIds = integerOption(spec, text);
      if (state.napiIds <= 0) throw new UsageError('Maximum number of NAPI IDs must be greater than 0');
      break;
    case 'o':
      applySuboptions(text, state);
      break;
    case 'records':
      if (!(RECORDS_BACKENDS as readonly string[]).includes(text)) {
        throw new UsageError(`Invalid value for --records: ${text} -- should be one of ${RECORDS_BACKENDS.join(', ')}`);
      }
      config.records = text as RecordsBackendName;
      break;
    default:
      throw new Error(`option table entry without a handler: ${spec.id}`);
  }
  return null;
}
