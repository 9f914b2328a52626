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

import {
  Config,
  MEGABYTE,
  MEMCACHED_VERSION,
  Protocol,
  RECORDCACHE_VERSION,
  RecordsBackendName,
  defaultConfig,
} from './config';
import { RecordcacheError } from './errors';

export type ParseResult =
  /** `stderr` holds warnings and notes (possibly empty) for the caller to print before starting. */
  | { kind: 'run'; config: Config; stderr: string }
  | { kind: 'exit'; code: number; stdout: string; stderr: string };

/** Exit status for an unknown option or a malformed command line. */
export const USAGE_EXIT_CODE = 2;
/** Exit status for a value memcached refuses: memcached's own (EXIT_FAILURE). */
export const VALUE_EXIT_CODE = 1;
/** memcached's exit status for settings it checks after parsing (sysexits EX_USAGE). */
export const EX_USAGE = 64;

const PROGRAM = 'recordcache';

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

// Limits from memcached.h / settings_init.
const ITEM_SIZE_MAX_LOWER_LIMIT = 1024;
const ITEM_SIZE_MAX_UPPER_LIMIT = 1024 * MEGABYTE;
const SLAB_PAGE_SIZE = MEGABYTE;
const CHUNK_ALIGN_BYTES = 8;
const MAX_SLAB_CLASSES = 63;
const DEFAULT_EXT_WBUF_SIZE = 4 * MEGABYTE;
const UINT32_MAX = 4294967295;

/** A value memcached refuses, with memcached's message. */
class UsageError extends RecordcacheError {
  readonly exitCode: number = VALUE_EXIT_CODE;
  constructor(message: string, options?: ErrorOptions) {
    super('RC_USAGE', message, options);
  }
}

/** A setting memcached refuses at start-up with EX_USAGE. */
class SettingsError extends UsageError {
  override readonly exitCode: number = EX_USAGE;
}

/** An unknown option, or an option without its argument. */
class OptionError extends UsageError {
  override readonly exitCode: number = USAGE_EXIT_CODE;
}

type ArgumentKind = 'none' | 'required' | 'optional';

interface OptionSpec {
  /** The short letter, or the long name for long-only options. */
  id: string;
  short: string | null;
  long: string | null;
  argument: ArgumentKind;
}

// memcached's longopts table, in its order (getopt_long lists ambiguous matches in this order).
const OPTIONS: readonly OptionSpec[] = [
  { id: 'a', short: 'a', long: 'unix-mask', argument: 'required' },
  { id: 'A', short: 'A', long: 'enable-shutdown', argument: 'none' },
  { id: 'Z', short: 'Z', long: 'enable-ssl', argument: 'none' },
  { id: 'p', short: 'p', long: 'port', argument: 'required' },
  { id: 's', short: 's', long: 'unix-socket', argument: 'required' },
  { id: 'U', short: 'U', long: 'udp-port', argument: 'required' },
  { id: 'm', short: 'm', long: 'memory-limit', argument: 'required' },
  { id: 'M', short: 'M', long: 'disable-evictions', argument: 'none' },
  { id: 'c', short: 'c', long: 'conn-limit', argument: 'required' },
  { id: 'k', short: 'k', long: 'lock-memory', argument: 'none' },
  { id: 'h', short: 'h', long: 'help', argument: 'none' },
  { id: 'i', short: 'i', long: 'license', argument: 'none' },
  { id: 'V', short: 'V', long: 'version', argument: 'none' },
  { id: 'r', short: 'r', long: 'enable-coredumps', argument: 'none' },
  { id: 'v', short: 'v', long: 'verbose', argument: 'optional' },
  { id: 'd', short: 'd', long: 'daemon', argument: 'none' },
  { id: 'l', short: 'l', long: 'listen', argument: 'required' },
  { id: 'u', short: 'u', long: 'user', argument: 'required' },
  { id: 'P', short: 'P', long: 'pidfile', argument: 'required' },
  { id: 'f', short: 'f', long: 'slab-growth-factor', argument: 'required' },
  { id: 'n', short: 'n', long: 'slab-min-size', argument: 'required' },
  { id: 't', short: 't', long: 'threads', argument: 'required' },
  { id: 'L', short: 'L', long: 'enable-largepages', argument: 'none' },
  { id: 'R', short: 'R', long: 'max-reqs-per-event', argument: 'required' },
  { id: 'C', short: 'C', long: 'disable-cas', argument: 'none' },
  { id: 'b', short: 'b', long: 'listen-backlog', argument: 'required' },
  { id: 'B', short: 'B', long: 'protocol', argument: 'required' },
  { id: 'I', short: 'I', long: 'max-item-size', argument: 'required' },
  { id: 'S', short: 'S', long: 'enable-sasl', argument: 'none' },
  { id: 'F', short: 'F', long: 'disable-flush-all', argument: 'none' },
  { id: 'X', short: 'X', long: 'disable-dumping', argument: 'none' },
  { id: 'W', short: 'W', long: 'disable-watch', argument: 'none' },
  { id: 'Y', short: 'Y', long: 'auth-file', argument: 'required' },
  { id: 'e', short: 'e', long: 'memory-file', argument: 'required' },
  { id: 'o', short: 'o', long: 'extended', argument: 'required' },
  { id: 'N', short: 'N', long: 'napi-ids', argument: 'required' },
  // Short-only in memcached.
  { id: 'D', short: 'D', long: null, argument: 'required' },
  // recordcache's own.
  { id: 'records', short: null, long: 'records', argument: 'required' },
];

const RECORDS_BACKENDS: readonly RecordsBackendName[] = ['auto', 'js', 'native', 'kmod'];

/** Everything the final checks need that Config does not keep. */
interface ParseState {
  config: Config;
  notes: string[];
  protocolSpecified: boolean;
  tcpSpecified: boolean;
  udpSpecified: boolean;
  napiIds: number;
  slabChunkChanged: boolean;
  lruMaintainer: boolean;
  temporaryTtl: boolean;
  hotLruPct: number;
  warmLruPct: number;
  extPathGiven: boolean;
  extWbufSize: number;
  slabSizes: string | null;
  /** The first option recordcache cannot honour, refused once memcached's checks pass. */
  refusal: string | null;
  /** Every -l text, joined with ',' as memcached keeps them (settings.inter). */
  inter: string | null;
}

type EarlyExit = Extract<ParseResult, { kind: 'exit' }>;

/**
 * Parses memcached's command line. `argv` excludes the program name (process.argv.slice(2)).
 * Pure: the caller prints `stdout`/`stderr` and exits or starts the server.
 */
export function parseArgs(argv: readonly string[]): ParseResult {
  const state: ParseState = {
    config: defaultConfig(),
    notes: [],
    protocolSpecified: false,
    tcpSpecified: false,
    udpSpecified: false,
    napiIds: 0,
    slabChunkChanged: false,
    lruMaintainer: true,
    temporaryTtl: false,
    hotLruPct: 20,
    warmLruPct: 40,
    extPathGiven: false,
    extWbufSize: DEFAULT_EXT_WBUF_SIZE,
    slabSizes: null,
    refusal: null,
    inter: null,
  };
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

/* ---------------------------------------------------------------- getopt_long */

interface ParsedOption {
  spec: OptionSpec;
  value: string | null;
}

/** Yields options in command-line order, as getopt_long hands them to memcached. */
function* readOptions(argv: readonly string[]): Generator<ParsedOption> {
  let index = 0;
  while (index < argv.length) {
    const arg = argv[index++];
    // getopt stops at `--`; what follows, like any other non-option, memcached never reads.
    if (arg === '--') return;
    if (arg.startsWith('--')) {
      const equals = arg.indexOf('=');
      const name = equals < 0 ? arg.slice(2) : arg.slice(2, equals);
      const inline = equals < 0 ? null : arg.slice(equals + 1);
      const spec = findLongOption(name, arg);
      if (spec.argument === 'none') {
        if (inline !== null) throw new OptionError(`${PROGRAM}: option '--${spec.long}' doesn't allow an argument`);
        yield { spec, value: null };
      } else if (spec.argument === 'optional') {
        // An optional argument only ever comes after '='; the next word is not taken.
        yield { spec, value: inline };
      } else if (inline !== null) {
        yield { spec, value: inline };
      } else if (index < argv.length) {
        yield { spec, value: argv[index++] };
      } else {
        throw new OptionError(`${PROGRAM}: option '--${spec.long}' requires an argument`);
      }
      continue;
    }
    if (arg.length < 2 || arg[0] !== '-') continue;
    // A cluster of short options: flags, then at most one that takes the rest (or the next word).
    for (let at = 1; at < arg.length; at++) {
      const letter = arg[at];
      const spec = OPTIONS.find((option) => option.short === letter);
      if (spec === undefined) throw new OptionError(`${PROGRAM}: invalid option -- '${letter}'`);
      if (spec.argument !== 'required') {
        yield { spec, value: null };
        continue;
      }
      if (at + 1 < arg.length) {
        yield { spec, value: arg.slice(at + 1) };
      } else if (index < argv.length) {
        yield { spec, value: argv[index++] };
      } else {
        throw new OptionError(`${PROGRAM}: option requires an argument -- '${letter}'`);
      }
      break;
    }
  }
}

function findLongOption(name: string, arg: string): OptionSpec {
  const exact = OPTIONS.find((option) => option.long === name);
  if (exact !== undefined) return exact;
  const candidates = name === '' ? [] : OPTIONS.filter((option) => option.long !== null && option.long.startsWith(name));
  if (candidates.length === 1) return candidates[0];
  if (candidates.length > 1) {
    const possibilities = candidates.map((option) => `'--${option.long}'`).join(' ');
    throw new OptionError(`${PROGRAM}: option '${arg}' is ambiguous; possibilities: ${possibilities}`);
  }
  throw new OptionError(`${PROGRAM}: unrecognized option '${arg}'`);
}

/* ---------------------------------------------------------------- options */

function optionLabel(spec: OptionSpec): string {
  if (spec.short === null) return `--${spec.long}`;
  if (spec.long === null) return `-${spec.short}`;
  return `-${spec.short} (--${spec.long})`;
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
        throw new SettingsError(
          `Invalid value for binding protocol: ${text}\n -- should be one of auto, binary, or ascii`,
        );
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
        throw new UsageError(
          `Invalid value for --records: ${text} -- should be one of ${RECORDS_BACKENDS.join(', ')}`,
        );
      }
      config.records = text as RecordsBackendName;
      break;
    default:
      throw new Error(`option table entry without a handler: ${spec.id}`);
  }
  return null;
}

/** Remembers the first option recordcache cannot honour; parseArgs refuses it after the checks. */
function refuse(state: ParseState, message: string): void {
  if (state.refusal === null) state.refusal = message;
}

/* ---------------------------------------------------------------- values */

/**
 * C's atoi, as memcached reads most numeric options: leading blanks, a sign, the digits
 * that follow; anything after them is ignored and no digits at all is 0. memcached's own
 * range checks then refuse what makes no sense (`-t abc` is "Number of threads must be
 * greater than 0").
 */
function atoi(text: string): number {
  const match = /^[ \t\n\v\f\r]*([+-]?\d+)/.exec(text);
  if (match === null) return 0;
  return Number(BigInt.asIntN(32, BigInt(match[1])));
}

function integerOption(spec: OptionSpec, text: string): number {
  return checkedInteger(optionLabel(spec), text);
}

function checkedInteger(_label: string, text: string): number {
  return atoi(text);
}

const FLOAT_PREFIX = /^[ \t\n\v\f\r]*([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)/;

/** C's atof: the longest number at the start (after blanks); 0 when there is none. */
function atof(text: string): number {
  const match = FLOAT_PREFIX.exec(text);
  return match === null ? 0 : Number(match[1]);
}

/** memcached's safe_strtod: strtod, then nothing but blanks after the number. */
function safeStrtod(text: string): number | null {
  const match = FLOAT_PREFIX.exec(text);
  if (match === null) return null;
  const rest = text.slice(match[0].length);
  if (rest !== '' && !/^[ \t\n\v\f\r]/.test(rest)) return null;
  return Number(match[1]);
}

function octalOption(spec: OptionSpec, text: string): number {
  // Only the permission bits reach the socket (memcached masks with 0777).
  if (!/^[0-7]+$/.test(text) || parseInt(text, 8) > 0o777) {
    throw new UsageError(`Invalid value for ${optionLabel(spec)}: "${text}" (expected an octal mode such as 700)`);
  }
  return parseInt(text, 8);
}

function megabytesOption(spec: OptionSpec, text: string): number {
  // memcached reads -m with atoi, so `-m 64m` means 64; other suffixes would be misread there.
  void spec;
  return atoi(text);
}

function itemSizeOption(spec: OptionSpec, text: string): number {
  const last = text.slice(-1);
  const unit = last === 'k' || last === 'K' ? 1024 : last === 'm' || last === 'M' ? MEGABYTE : 1;
  const digits = unit === 1 ? text : text.slice(0, -1);
  void spec;
  // atoi times the unit in a C int, as memcached reads it, so 4096m wraps to 0; the limit
  // checks that follow name what is wrong.
  return Math.imul(atoi(digits), unit);
}

/* ---------------------------------------------------------------- -l */

function addListenEntries(text: string, state: ParseState): void {
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

function readListenEntry(entry: string): ListenAddress {
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

/* ---------------------------------------------------------------- -o */

type SuboptionHandler = (value: string | null, state: ParseState) => void;

function requireValue(value: string | null, missing: string): string {
  if (value === null) throw new UsageError(missing);
  return value;
}

function subInteger(name: string, value: string | null, missing: string): number {
  return checkedInteger(name, requireValue(value, missing));
}

const INTEGER_PREFIX = /^[ \t\n\v\f\r]*([+-]?)(\d+)/;

/**
 * strtoul/strtol as memcached's safe_strtoul/safe_strtol use them: blanks, a sign, digits,
 * then only blanks; the value as a 64-bit long (null past its range) and whether it had a minus.
 */
function strtolong(text: string, signed: boolean): { value: bigint; negative: boolean } | null {
  const match = INTEGER_PREFIX.exec(text);
  if (match === null) return null;
  const rest = text.slice(match[0].length);
  if (rest !== '' && !/^[ \t\n\v\f\r]/.test(rest)) return null;
  const magnitude = BigInt(match[2]);
  const negative = match[1] === '-';
  if (signed ? magnitude > (negative ? 2n ** 63n : 2n ** 63n - 1n) : magnitude > 2n ** 64n - 1n) return null;
  return { value: negative ? -magnitude : magnitude, negative };
}

/** safe_strtoul: an unsigned decimal, kept in 32 bits (4294967296 is 0); a minus is refused. */
function subUnsigned(name: string, value: string | null, missing: string, unparsable?: string): number {
  const text = requireValue(value, missing);
  const parsed = strtolong(text, false);
  if (parsed === null || parsed.negative) throw new UsageError(unparsable ?? `could not parse argument to ${name}`);
  return Number(BigInt.asUintN(32, parsed.value));
}

/** safe_strtol: a signed decimal, kept in 32 bits. */
function subSigned(name: string, value: string | null, missing: string): number {
  const text = requireValue(value, missing);
  const parsed = strtolong(text, true);
  if (parsed === null) throw new UsageError(`could not parse argument to ${name}`);
  return Number(BigInt.asIntN(32, parsed.value));
}

/** atof, as memcached reads its ratios and factors. */
function subFloat(value: string | null, missing: string): number {
  return atof(requireValue(value, missing));
}

const flag: SuboptionHandler = () => {};

function unsignedSub(name: string): SuboptionHandler {
  return (value) => {
    subUnsigned(name, value, `Missing ${name} argument`);
  };
}

function stringSub(name: string): SuboptionHandler {
  return (value) => {
    requireValue(value, `Missing ${name} argument`);
  };
}

/** safe_strtod, as extstore reads its ratios. */
function floatSub(name: string): SuboptionHandler {
  return (value) => {
    if (safeStrtod(requireValue(value, `Missing ${name} argument`)) === null) {
      throw new UsageError(`could not parse argument to ${name}`);
    }
  };
}

/**
 * A suboption recordcache cannot honour: memcached's checks of its value first (so a bad
 * value gets memcached's message), then a refusal once every check has passed.
 */
function refusedSub(name: string, why: string, check: SuboptionHandler = flag): SuboptionHandler {
  const handler: SuboptionHandler = (value, state) => {
    check(value, state);
    refuse(state, `-o ${name}: recordcache ${why}; remove it`);
  };
  REFUSED_SUBOPTIONS.add(handler);
  return handler;
}

/** The handlers refusedSub made, so that -h can list what is refused. */
const REFUSED_SUBOPTIONS = new Set<SuboptionHandler>();

const SEGMENTED_LRU = 'evicts as memcached does with its default segmented LRU, and cannot tune or turn it off';
const NO_PAGE_MOVER = 'never moves slab pages between classes (memcached with slab_automove=0)';

/**
 * Every suboption memcached 1.6.18 (as Debian builds it: TLS, extstore, sock_cookie_id)
 * knows, with its checks. Each one is applied to Config, or kept inert with the reason
 * memcached's clients see no difference, or refused (refusedSub). All accepted ones are
 * also kept verbatim in Config.suboptions for `stats settings`.
 */
const SUBOPTIONS: ReadonlyMap<string, SuboptionHandler> = new Map<string, SuboptionHandler>([
  // Inert: the default, which recordcache follows (ERROR Too many open connections past -c).
  ['maxconns_fast', flag],
  [
    'no_maxconns_fast',
    refusedSub('no_maxconns_fast', 'always answers a connection past -c with "ERROR Too many open connections"'),
  ],
  [
    'hashpower',
    (value, state) => {
      const power = subInteger('hashpower', value, 'Missing numeric argument for hashpower');
      if (power < 12) throw new UsageError(`Initial hashtable multiplier of ${power} is too low`);
      if (power > 32) {
        throw new UsageError(
          `Initial hashtable multiplier of ${power} is too high\n` +
            'Choose a value based on "STAT hash_power_level" from a running instance',
        );
      }
      state.config.hashPowerInit = power;
    },
  ],
  [
    'no_hashexpand',
    (_value, state) => {
      state.config.hashExpand = false;
    },
  ],
  [
    'slab_reassign',
    (_value, state) => {
      state.config.slabReassign = true;
    },
  ],
  [
    'no_slab_reassign',
    (_value, state) => {
      state.config.slabReassign = false;
    },
  ],
  [
    'slab_automove',
    (value, state) => {
      const mode = value === null ? 1 : checkedInteger('slab_automove', value);
      if (mode < 0 || mode > 2) throw new UsageError('slab_automove must be between 0 and 2');
      state.config.slabAutomove = mode;
      // 0 is what recordcache does; 1 is memcached's default (README "Known gaps": pages never move).
      if (mode === 2) refuse(state, `-o slab_automove=2: recordcache ${NO_PAGE_MOVER}; remove it`);
    },
  ],
  [
    // Pages never move in recordcache, which is what this asks for.
    'no_slab_automove',
    (_value, state) => {
      state.config.slabAutomove = 0;
    },
  ],
  [
    'slab_automove_ratio',
    refusedSub('slab_automove_ratio', NO_PAGE_MOVER, (value) => {
      const ratio = subFloat(value, 'Missing slab_automove_ratio argument');
      if (ratio <= 0 || ratio > 1) throw new UsageError('slab_automove_ratio must be > 0 and < 1');
    }),
  ],
  [
    'slab_automove_window',
    refusedSub('slab_automove_window', NO_PAGE_MOVER, (value) => {
      const window = subInteger('slab_automove_window', value, 'Missing slab_automove_window argument');
      if (window < 3) throw new UsageError('slab_automove_window must be > 2');
    }),
  ],
  [
    // Inert: memcached frees items whose reference count leaked for this long; a reference
    // leaks only through a bug, so no client sees it.
    'tail_repair_time',
    (value) => {
      const seconds = subInteger('tail_repair_time', value, 'Missing numeric argument for tail_repair_time');
      if (seconds < 10) throw new UsageError('Cannot set tail_repair_time to less than 10 seconds');
    },
  ],
  [
    // Inert: the hash function only places keys in memcached's table; no reply depends on it.
    'hash_algorithm',
    (value) => {
      const name = requireValue(value, 'Missing hash_algorithm argument');
      if (name !== 'jenkins' && name !== 'murmur3' && name !== 'xxh3') {
        throw new UsageError('Unknown hash_algorithm option (jenkins, murmur3, xxh3)');
      }
    },
  ],
  // Inert: the default; recordcache's once-a-second sweep reclaims expired items as the crawler does.
  ['lru_crawler', flag],
  ['no_lru_crawler', refusedSub('no_lru_crawler', 'always reclaims expired items in the background, as the LRU crawler does')],
  [
    // Inert: paces the crawler's background walk; when an expired item is reclaimed is timing, not a reply.
    'lru_crawler_sleep',
    (value) => {
      const micros = subInteger('lru_crawler_sleep', value, 'Missing lru_crawler_sleep value');
      if (micros < 0 || micros > 1000000) throw new UsageError('LRU crawler sleep must be between 0 and 1 second');
    },
  ],
  [
    // Inert: as lru_crawler_sleep, a pace of the background walk.
    'lru_crawler_tocrawl',
    (value) => {
      subUnsigned(
        'lru_crawler_tocrawl',
        value,
        'Missing lru_crawler_tocrawl value',
        'lru_crawler_tocrawl takes a numeric 32bit value',
      );
    },
  ],
  [
    // Inert: the default, whose evictions the store follows.
    'lru_maintainer',
    (_value, state) => {
      state.lruMaintainer = true;
    },
  ],
  [
    'no_lru_maintainer',
    refusedSub('no_lru_maintainer', SEGMENTED_LRU, (_value, state) => {
      state.lruMaintainer = false;
    }),
  ],
  [
    'hot_lru_pct',
    refusedSub('hot_lru_pct', SEGMENTED_LRU, (value, state) => {
      state.hotLruPct = subInteger('hot_lru_pct', value, 'Missing hot_lru_pct argument');
      if (state.hotLruPct < 1 || state.hotLruPct >= 80) throw new UsageError('hot_lru_pct must be > 1 and < 80');
    }),
  ],
  [
    'warm_lru_pct',
    refusedSub('warm_lru_pct', SEGMENTED_LRU, (value, state) => {
      state.warmLruPct = subInteger('warm_lru_pct', value, 'Missing warm_lru_pct argument');
      if (state.warmLruPct < 1 || state.warmLruPct >= 80) throw new UsageError('warm_lru_pct must be > 1 and < 80');
    }),
  ],
  [
    'hot_max_factor',
    refusedSub('hot_max_factor', SEGMENTED_LRU, (value) => {
      if (subFloat(value, 'Missing hot_max_factor argument') <= 0) throw new UsageError('hot_max_factor must be > 0');
    }),
  ],
  [
    'warm_max_factor',
    refusedSub('warm_max_factor', SEGMENTED_LRU, (value) => {
      if (subFloat(value, 'Missing warm_max_factor argument') <= 0) throw new UsageError('warm_max_factor must be > 0');
    }),
  ],
  [
    'temporary_ttl',
    refusedSub('temporary_ttl', 'has no temporary LRU: items with a short TTL are evicted like any other', (value, state) => {
      subInteger('temporary_ttl', value, 'Missing temporary_ttl argument');
      state.temporaryTtl = true;
    }),
  ],
  [
    'idle_timeout',
    (value, state) => {
      // atoi, as memcached reads it; memcached never times a connection out for a negative value.
      state.config.idleTimeout = subInteger('idle_timeout', value, 'Missing numeric argument for idle_timeout');
    },
  ],
  // recordcache's own: per-connection output limits (stop reading a connection whose replies
  // are unread past the soft limit, close it past the hard one).
  [
    'out_limit_soft',
    (value, state) => {
      state.config.outLimitSoft = byteSizeSub('out_limit_soft', value);
    },
  ],
  [
    'out_limit_hard',
    (value, state) => {
      state.config.outLimitHard = byteSizeSub('out_limit_hard', value);
    },
  ],
  // recordcache's own: which values become records.
  ['records_min_size', (value, state) => void (state.config.recordsMinSize = byteSizeSub('records_min_size', value))],
  [
    'records_min_hits',
    (value, state) => {
      const hits = subInteger('records_min_hits', value, 'Missing records_min_hits argument');
      if (hits < 1) throw new UsageError('records_min_hits must be at least 1');
      state.config.recordsMinHits = hits;
    },
  ],
  ['watcher_logbuf_size', refusedSub('watcher_logbuf_size', 'has no watch command, whose buffer this sizes', unsignedSub('watcher_logbuf_size'))],
  [
    'worker_logbuf_size',
    (value, state) => {
      subUnsigned('worker_logbuf_size', value, 'Missing worker_logbuf_size argument');
      // The size of a buffer that only `watch` reads (not implemented); but memcached 1.6.18
      // falls through into slab_sizes here, so the value also becomes the slab class list.
      state.slabSizes = value;
    },
  ],
  [
    'slab_sizes',
    (value, state) => {
      // memcached crashes without a value.
      state.slabSizes = requireValue(value, 'Missing slab_sizes argument');
    },
  ],
  [
    'slab_chunk_max',
    (value, state) => {
      const bytes = subSigned('slab_chunk_max', value, 'Missing slab_chunk_max argument');
      if (bytes <= 0) throw new UsageError('slab_chunk_max must be greater than 0');
      state.config.slabChunkMax = bytes;
      state.slabChunkChanged = true;
    },
  ],
  [
    'track_sizes',
    (_value, state) => {
      state.config.trackSizes = true;
    },
  ],
  // Inert: both are no-ops in memcached 1.6.18 (`stats settings` always says inline_ascii_response no).
  ['inline_ascii_resp', flag],
  ['no_inline_ascii_resp', flag],
  // Inert: "currently no new defaults" in memcached 1.6.18.
  ['modern', flag],
  [
    'no_modern',
    refusedSub(
      'no_modern',
      "keeps memcached's modern defaults (segmented LRU, maxconns_fast, murmur3, background crawler)",
      (_value, state) => {
        if (!state.slabChunkChanged) state.config.slabChunkMax = SLAB_PAGE_SIZE;
        state.lruMaintainer = false;
      },
    ),
  ],
  [
    'no_chunked_items',
    (_value, state) => {
      state.config.slabChunkMax = SLAB_PAGE_SIZE;
    },
  ],
  // Inert: a seccomp filter on memcached's own system calls; nothing a client sees.
  ['drop_privileges', flag],
  ['no_drop_privileges', flag],
  [
    // Inert: a no-op in memcached 1.6.18 too, with the same notice.
    'resp_obj_mem_limit',
    (_value, state) => {
      state.notes.push('DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,');
    },
  ],
  [
    'read_buf_mem_limit',
    (value, state) => {
      // 0, memcached's default, is no limit, as in recordcache.
      if (subUnsigned('read_buf_mem_limit', value, 'Missing read_buf_mem_limit argument') !== 0) {
        refuse(state, '-o read_buf_mem_limit: recordcache does not limit the memory of read buffers; remove it');
      }
    },
  ],
  // TLS settings are accepted without -Z, as memcached accepts them (server/tls.ts uses them).
  ['ssl_chain_cert', stringSub('ssl_chain_cert')],
  ['ssl_key', stringSub('ssl_key')],
  [
    'ssl_verify_mode',
    (value) => {
      const mode = subSigned('ssl_verify_mode', value, 'Missing ssl_verify_mode argument');
      if (mode < 0 || mode > 3) throw new UsageError('Invalid ssl_verify_mode. Use help to see valid options.');
    },
  ],
  [
    'ssl_keyformat',
    (value) => {
      subSigned('ssl_keyformat', value, 'Missing ssl_keyformat argument');
    },
  ],
  ['ssl_ciphers', stringSub('ssl_ciphers')],
  ['ssl_ca_cert', stringSub('ssl_ca_cert')],
  // Inert: the size of memcached's TLS write buffer, shown by `stats settings`; the bytes sent are the same.
  ['ssl_wbuf_size', unsignedSub('ssl_wbuf_size')],
  ['ssl_session_cache', flag],
  // Refused: Node's TLS keeps its session keys in user space (README, Kernel TLS).
  ['ssl_kernel_tls', refusedSub('ssl_kernel_tls', 'cannot hand TLS session keys to the kernel')],
  [
    'ssl_min_version',
    (value) => {
      const version = subSigned('ssl_min_version', value, 'Missing ssl_min_version argument');
      if (version < 0 || version > 3) throw new UsageError('Invalid ssl_min_version. Use help to see valid options.');
    },
  ],
  // memcached ignores a value it cannot read.
  ['sock_cookie_id', refusedSub('sock_cookie_id', 'cannot mark its sockets for firewalls', stringSub('sock_cookie_id'))],
  // extstore (storage.c). Inert but ext_path: the others tune the external storage that only
  // ext_path turns on, and ext_path is refused.
  [
    'ext_page_size',
    (value, state) => {
      if (state.extPathGiven) throw new UsageError('Must specify ext_page_size before any ext_path arguments');
      unsignedSub('ext_page_size')(value, state);
    },
  ],
  [
    'ext_wbuf_size',
    (value, state) => {
      state.extWbufSize = subUnsigned('ext_wbuf_size', value, 'Missing ext_wbuf_size argument') * MEGABYTE;
    },
  ],
  ['ext_threads', unsignedSub('ext_threads')],
  ['ext_io_depth', unsignedSub('ext_io_depth')],
  [
    'ext_path',
    refusedSub('ext_path', 'has no external storage: items stay in memory', (value, state) => {
      const path = requireValue(value, 'missing argument to ext_path, ie: ext_path=/d/file:5G');
      checkExtPath(path);
      state.extPathGiven = true;
    }),
  ],
  ['ext_item_size', unsignedSub('ext_item_size')],
  ['ext_item_age', unsignedSub('ext_item_age')],
  ['ext_low_ttl', unsignedSub('ext_low_ttl')],
  ['ext_recache_rate', unsignedSub('ext_recache_rate')],
  ['ext_compact_under', unsignedSub('ext_compact_under')],
  ['ext_drop_under', unsignedSub('ext_drop_under')],
  ['ext_max_sleep', unsignedSub('ext_max_sleep')],
  ['ext_max_frag', floatSub('ext_max_frag')],
  ['ext_drop_unread', flag],
  ['slab_automove_freeratio', refusedSub('slab_automove_freeratio', NO_PAGE_MOVER, floatSub('slab_automove_freeratio'))],
]);

/** The names -o accepts, for the help text and for tests. */
/** A byte count with an optional k, m or g suffix. */
function byteSizeSub(name: string, value: string | null): number {
  const match = value === null ? null : /^(\d+)([kKmMgG]?)$/.exec(value);
  if (match === null) throw new UsageError(`Invalid value for ${name}: "${value ?? ''}" (expected bytes, with an optional k, m or g suffix)`);
  const unit = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(match[1]) * unit;
}

export const SUBOPTION_NAMES: readonly string[] = [...SUBOPTIONS.keys()];

/** The suboptions refused whatever their value (slab_automove=2 and a read_buf_mem_limit other than 0 too). */
const REFUSED_SUBOPTION_NAMES: readonly string[] = SUBOPTION_NAMES.filter((name) => REFUSED_SUBOPTIONS.has(SUBOPTIONS.get(name)!));

function applySuboptions(list: string, state: ParseState): void {
  if (list === '') return;
  const tokens = list.split(',');
  // getsubopt stops at the end of the string, so one trailing comma ends the list quietly.
  if (tokens.length > 1 && tokens[tokens.length - 1] === '') tokens.pop();
  for (const token of tokens) {
    const equals = token.indexOf('=');
    const name = equals < 0 ? token : token.slice(0, equals);
    const value = equals < 0 ? null : token.slice(equals + 1);
    const handler = SUBOPTIONS.get(name);
    if (handler === undefined) throw new UsageError(`Illegal suboption "${token}"`);
    handler(value, state);
    state.config.suboptions.set(name, value ?? '');
  }
}

/**
 * `<file>:<size>[:<bucket>]`, as storage.c's storage_conf_parse reads it (the size with atoi,
 * so any text passes), with its messages.
 */
function checkExtPath(path: string): void {
  const failed = '\nfailed to parse ext_path argument';
  const parts = path.split(':').filter((part) => part !== '');
  if (parts.length === 0) throw new UsageError(failed.slice(1));
  if (parts.length < 2) {
    throw new UsageError('must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)' + failed);
  }
  const bucket = parts.slice(2).join(':');
  if (bucket !== '' && bucket !== 'default') {
    if (bucket === 'compact' || bucket === 'lowttl' || bucket === 'chunked') {
      throw new UsageError('ext_path only presently supports the default bucket' + failed);
    }
    throw new UsageError(`Unknown extstore bucket: ${bucket}` + failed);
  }
}

/* ---------------------------------------------------------------- final checks */

/** The checks memcached makes once every option is read, in its order. */
function checkSettings(state: ParseState): void {
  const config = state.config;
  if (state.napiIds > config.threads) {
    throw new SettingsError(
      `Number of napi_ids(${state.napiIds}) cannot be greater than number of threads(${config.threads})`,
    );
  }
  if (state.napiIds > 0) {
    refuse(state, '-N (--napi-ids): recordcache does not place connections on threads by NAPI id; remove -N');
  }
  if (config.itemSizeMax < ITEM_SIZE_MAX_LOWER_LIMIT) {
    throw new SettingsError('Item max size cannot be less than 1024 bytes.');
  }
  if (config.itemSizeMax > Math.floor(config.maxBytes / 2)) {
    throw new SettingsError('Cannot set item size limit higher than 1/2 of memory max.');
  }
  if (config.itemSizeMax > ITEM_SIZE_MAX_UPPER_LIMIT) {
    throw new SettingsError('Cannot set item size limit higher than a gigabyte.');
  }
  if (config.itemSizeMax > MEGABYTE && !state.slabChunkChanged) {
    config.slabChunkMax = SLAB_PAGE_SIZE / 2;
  }
  if (config.slabChunkMax > config.itemSizeMax) {
    throw new SettingsError(
      `slab_chunk_max (bytes: ${config.slabChunkMax}) cannot be larger than -I (item_size_max ${config.itemSizeMax})`,
    );
  }
  if (config.itemSizeMax % config.slabChunkMax !== 0) {
    throw new SettingsError(
      `-I (item_size_max: ${config.itemSizeMax}) must be evenly divisible by slab_chunk_max (bytes: ${config.slabChunkMax})`,
    );
  }
  if (SLAB_PAGE_SIZE % config.slabChunkMax !== 0) {
    throw new SettingsError(
      `slab_chunk_max (bytes: ${config.slabChunkMax}) must divide evenly into ${SLAB_PAGE_SIZE} (slab_page_size)`,
    );
  }
  if (state.extPathGiven) {
    if (config.itemSizeMax > state.extWbufSize) {
      throw new SettingsError(
        `-I (item_size_max: ${config.itemSizeMax}) cannot be larger than ext_wbuf_size: ${state.extWbufSize}`,
      );
    }
    if (config.udpPort !== 0) throw new SettingsError('Cannot use UDP with extstore enabled (-U 0 to disable)');
  }
  if (state.slabSizes !== null) config.slabSizes = checkSlabSizes(state.slabSizes, config);
  if (state.hotLruPct + state.warmLruPct > 80) {
    throw new SettingsError('hot_lru_pct + warm_lru_pct cannot be more than 80% combined');
  }
  if (state.temporaryTtl && !state.lruMaintainer) {
    throw new SettingsError('temporary_ttl requires lru_maintainer to be enabled');
  }
  if (config.sasl) {
    if (!state.protocolSpecified) config.protocol = 'binary';
    else if (config.protocol !== 'binary') {
      throw new SettingsError('ERROR: You cannot allow the ASCII protocol while using SASL.');
    }
    if (config.udpPort !== 0) throw new SettingsError('ERROR: Cannot enable UDP while using binary SASL authentication.');
  }
  if (config.authFile !== null) {
    if (!state.protocolSpecified) config.protocol = 'ascii';
    else if (config.protocol !== 'ascii') {
      throw new SettingsError('ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.');
    }
  }
  // A UDP port given without -p moves TCP to it as well.
  if (state.udpSpecified && config.udpPort !== 0 && !state.tcpSpecified) config.port = config.udpPort;
  for (const port of [config.port, config.udpPort]) {
    if (port < 0 || port > 65535) throw new SettingsError(`ERROR: Invalid port number ${port}.`);
  }
  // memcached checks this last, just before loading the auth file (UDP has no authentication).
  if (config.authFile !== null && config.udpPort !== 0) {
    throw new SettingsError('Cannot use UDP with ascii authentication enabled (-U 0 to disable)');
  }
  checkTlsSettings(config);
  checkListeners(state);
}

/** memcached's exit status when it cannot bind (EX_OSERR). */
const EX_OSERR = 71;

class ListenError extends UsageError {
  override readonly exitCode: number = EX_OSERR;
}

/** -Z needs a TCP port. */
function checkTlsSettings(config: Config): void {
  if (config.sslEnabled && config.port === 0) throw new SettingsError('ERROR: You cannot enable SSL without a TCP port.');
}

/**
 * The -l entries, read as memcached reads them when it binds a TCP or UDP port (none with
 * -s), so a bad one is refused after every other check, with memcached's exit status.
 */
function checkListeners(state: ParseState): void {
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

/** `-o slab_sizes=96-120-...`: ascending chunk sizes (memcached.c _parse_slab_sizes). */
function checkSlabSizes(text: string, config: Config): number[] {
  // memcached exits without a word when the list holds no size at all.
  if (text.split('-').every((part) => part === '')) throw new SettingsError('');
  const sizes: number[] = [];
  let last = 0;
  let classes = 0;
  for (const part of text.split('-')) {
    if (part === '') continue;
    const parsed = /^\+?\d+$/.test(part) && Number(part) <= UINT32_MAX ? Number(part) : 0;
    if (parsed < config.chunkSize || parsed > config.slabChunkMax) {
      throw new SettingsError(`slab size ${parsed} is out of valid range`);
    }
    if (last >= parsed) throw new SettingsError(`slab size ${parsed} cannot be lower than or equal to a previous class size`);
    if (parsed <= last + CHUNK_ALIGN_BYTES) {
      throw new SettingsError(`slab size ${parsed} must be at least ${CHUNK_ALIGN_BYTES} bytes larger than previous class`);
    }
    last = parsed;
    sizes.push(parsed);
    if (++classes >= MAX_SLAB_CLASSES) throw new SettingsError('too many slab classes specified');
  }
  return sizes;
}

/* ---------------------------------------------------------------- texts */

function usageText(): string {
  const d = defaultConfig();
  const lines = [
    `${PROGRAM} ${RECORDCACHE_VERSION} (memcached ${MEMCACHED_VERSION} compatible)`,
    `-p, --port=<num>          TCP port to listen on (default: ${d.port})`,
    `-U, --udp-port=<num>      UDP port to listen on (default: ${d.udpPort}, off)`,
    '-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)',
    `-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: ${d.socketMask.toString(8)})`,
    '-A, --enable-shutdown     enable ascii "shutdown" command',
    '-l, --listen=<addr>       interface to listen on (default: INADDR_ANY)',
    '                          repeatable and comma separated; <addr>:<port>, [<ipv6>]:<port>,',
    '                          proto[ascii|binary|negotiating]:<addr> and tag[<name>]:<addr> accepted;',
    "                          with -Z, 'notls:<addr>:<port>' keeps that listener plaintext",
    '-d, --daemon              run as a daemon',
    '-r, --enable-coredumps    maximize core file limit',
    '-u, --user=<user>         assume identity of <username> (only when run as root)',
    `-m, --memory-limit=<num>  item memory in megabytes (default: ${d.maxBytes / MEGABYTE})`,
    '-M, --disable-evictions   return error on memory exhausted instead of evicting',
    `-c, --conn-limit=<num>    max simultaneous connections (default: ${d.maxConns})`,
    '-k, --lock-memory         refused: memory cannot be locked',
    '-v, --verbose             verbose (print errors/warnings while in event loop)',
    '-vv                       very verbose (also print client commands/responses)',
    '-vvv                      extremely verbose (internal state transitions)',
    '-h, --help                print this help and exit',
    '-i, --license             print the license and exit',
    '-V, --version             print version and exit',
    '-P, --pidfile=<file>      save PID in <file>',
    `-f, --slab-growth-factor=<num> chunk size growth factor (default: ${d.factor.toFixed(2)})`,
    `-n, --slab-min-size=<bytes> min space used for key+value+flags (default: ${d.chunkSize})`,
    '-L, --enable-largepages   refused: no large-page preallocation',
    `-D <char>                 delimiter between key prefixes and IDs for per-prefix stats`,
    `                          (default: "${d.prefixDelimiter}"); giving it turns per-prefix stats on`,
    `-t, --threads=<num>       checked as memcached checks it; requests run on one thread`,
    '-R, --max-reqs-per-event  maximum number of requests per event, limits the',
    '                          requests processed per connection to prevent',
    `                          starvation (default: ${d.reqsPerEvent})`,
    '-C, --disable-cas         disable use of CAS',
    `-b, --listen-backlog=<num> set the backlog queue limit (default: ${d.backlog})`,
    '-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto-negotiate)',
    '-I, --max-item-size=<num> adjusts max item size',
    `                          (default: ${d.itemSizeMax / MEGABYTE}m, min: 1k, max: 1024m)`,
    '-S, --enable-sasl         turn on Sasl authentication',
    '-F, --disable-flush-all   disable flush_all command',
    '-X, --disable-dumping     disable stats cachedump and lru_crawler metadump',
    '-W, --disable-watch       disable watch commands (live logging)',
    '-Y, --auth-file=<file>    enable ASCII protocol authentication. format:',
    '                          user:pass\\nuser2:pass2\\n',
    '-e, --memory-file=<file>  refused: the cache is not restartable',
    '-Z, --enable-ssl          enable TLS/SSL',
    '-N, --napi-ids=<num>      refused: connections are not placed by NAPI id',
    '-o, --extended            comma separated list of extended options',
    `   - idle_timeout:        timeout for idle connections. (default: ${d.idleTimeout}, no timeout)`,
    "   - track_sizes:         enable dynamic reports for 'stats sizes' command.",
    `   - slab_chunk_max:      maximum slab chunk size in bytes (default: ${d.slabChunkMax})`,
    '   - slab_sizes, no_chunked_items, hashpower, no_hashexpand, no_slab_reassign, slab_automove=0|1:',
    "                          as in memcached (slab classes, and what 'stats' reports)",
    '   - out_limit_soft, out_limit_hard: stop reading, then close, a connection whose replies',
    '                          are unread past this many bytes (native engine; default 1m, 256m)',
    '   - records_min_size, records_min_hits: which values become records (default 32k, 1)',
    '   - refused, as recordcache cannot honour them:',
    ...wrapNames(REFUSED_SUBOPTION_NAMES, '     ', 92),
    "   - every other memcached 1.6.18 suboption is checked as memcached checks it, shown by",
    "     'stats settings', and changes nothing a memcached client would see",
    `--records=<name>          records backend: ${RECORDS_BACKENDS.join(', ')} (default: ${d.records})`,
  ];
  return lines.join('\n') + '\n';
}

function wrapNames(names: readonly string[], indent: string, width: number): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const name of names) {
    const piece = line === indent ? name : ` ${name}`;
    if (line.length + piece.length > width && line !== indent) {
      lines.push(line);
      line = indent + name;
    } else {
      line += piece;
    }
  }
  if (line !== indent) lines.push(line);
  return lines;
}

function licenseText(): string {
  return (
    `${PROGRAM} ${RECORDCACHE_VERSION}\n\n` +
    'Released under the BSD 3-Clause License (SPDX-License-Identifier: BSD-3-Clause).\n'
  );
}
