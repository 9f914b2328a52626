/*
 * The checks memcached makes once every option is read, with its messages and EX_USAGE.
 */

import { type Config, MEGABYTE } from '../config';
import { SettingsError } from './errors';
import { checkHttpSettings } from './http-suboptions';
import { checkListeners } from './listen';
import { type ParseState, refuse } from './state';

// Limits from memcached.h / settings_init.
const ITEM_SIZE_MAX_LOWER_LIMIT = 1024;
const ITEM_SIZE_MAX_UPPER_LIMIT = 1024 * MEGABYTE;
export const SLAB_PAGE_SIZE = MEGABYTE;
const CHUNK_ALIGN_BYTES = 8;
const MAX_SLAB_CLASSES = 63;
const UINT32_MAX = 4294967295;

/** The checks memcached makes once every option is read, in its order. */
export function checkSettings(state: ParseState): void {
  const config = state.config;
  if (state.napiIds > config.threads) {
    throw new SettingsError(`Number of napi_ids(${state.napiIds}) cannot be greater than number of threads(${config.threads})`);
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
    throw new SettingsError(`slab_chunk_max (bytes: ${config.slabChunkMax}) must divide evenly into ${SLAB_PAGE_SIZE} (slab_page_size)`);
  }
  if (state.extPathGiven) {
    if (config.itemSizeMax > state.extWbufSize) {
      throw new SettingsError(`-I (item_size_max: ${config.itemSizeMax}) cannot be larger than ext_wbuf_size: ${state.extWbufSize}`);
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
  checkHttpSettings(state);
  checkListeners(state);
}

/** -Z needs a TCP port. */
function checkTlsSettings(config: Config): void {
  if (config.sslEnabled && config.port === 0) throw new SettingsError('ERROR: You cannot enable SSL without a TCP port.');
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
