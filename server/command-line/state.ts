/*
 * What parsing remembers between options: the Config being filled, and what the final
 * checks need that Config does not keep.
 */

import { type Config, MEGABYTE, defaultConfig } from '../config';

const DEFAULT_EXT_WBUF_SIZE = 4 * MEGABYTE;

/** Everything the final checks need that Config does not keep. */
export interface ParseState {
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

export function newParseState(): ParseState {
  return {
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
}

/** Remembers the first option recordcache cannot honour; parseArgs refuses it after the checks. */
export function refuse(state: ParseState, message: string): void {
  if (state.refusal === null) state.refusal = message;
}
