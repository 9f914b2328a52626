/*
 * -o: memcached 1.6.18's suboption list, each name with memcached's checks of its value,
 * applied to Config, kept inert, or refused.
 */

import { MEGABYTE } from '../config';
import { SLAB_PAGE_SIZE } from './checks';
import { HTTP_SUBOPTIONS } from './http-suboptions';
import { UsageError } from './errors';
import { type ParseState, refuse } from './state';
import { atof, checkedInteger, safeStrtod, strtolong } from './values';

type SuboptionHandler = (value: string | null, state: ParseState) => void;

function requireValue(value: string | null, missing: string): string {
  if (value === null) throw new UsageError(missing);
  return value;
}

function subInteger(name: string, value: string | null, missing: string): number {
  return checkedInteger(name, requireValue(value, missing));
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
  ['no_maxconns_fast', refusedSub('no_maxconns_fast', 'always answers a connection past -c with "ERROR Too many open connections"')],
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
      subUnsigned('lru_crawler_tocrawl', value, 'Missing lru_crawler_tocrawl value', 'lru_crawler_tocrawl takes a numeric 32bit value');
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
  // recordcache's own: a bound on the input held across all connections (see Config.inputMemLimit).
  ['input_mem_limit', (value, state) => void (state.config.inputMemLimit = byteSizeSub('input_mem_limit', value))],
  // recordcache's own: which values become records.
  ['records_min_size', (value, state) => void (state.config.recordsMinSize = byteSizeSub('records_min_size', value))],
  [
    'records_min_hits',
    (value, state) => {
      const hits = subInteger('records_min_hits', value, 'Missing records_min_hits argument');
      if (hits < 0) throw new UsageError('records_min_hits must be 0 (when stored) or more');
      state.config.recordsMinHits = hits;
    },
  ],
  [
    'watcher_logbuf_size',
    // The size, in KB, of each watch connection's buffer (server/event-log.ts).
    unsignedSub('watcher_logbuf_size'),
  ],
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
        refuse(state, '-o read_buf_mem_limit: recordcache bounds all buffered input with -o input_mem_limit instead; remove it');
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
  // recordcache's own: the HTTP listener.
  ...HTTP_SUBOPTIONS,
]);

/** A byte count with an optional k, m or g suffix. */
function byteSizeSub(name: string, value: string | null): number {
  const match = value === null ? null : /^(\d+)([kKmMgG]?)$/.exec(value);
  if (match === null)
    throw new UsageError(`Invalid value for ${name}: "${value ?? ''}" (expected bytes, with an optional k, m or g suffix)`);
  const unit = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(match[1]) * unit;
}

/** The names -o accepts, for the help text and for tests. */
export const SUBOPTION_NAMES: readonly string[] = [...SUBOPTIONS.keys()];

/** The suboptions refused whatever their value (slab_automove=2 and a read_buf_mem_limit other than 0 too). */
export const REFUSED_SUBOPTION_NAMES: readonly string[] = SUBOPTION_NAMES.filter((name) => REFUSED_SUBOPTIONS.has(SUBOPTIONS.get(name)!));

export function applySuboptions(list: string, state: ParseState): void {
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
