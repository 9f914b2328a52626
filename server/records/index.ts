/*
 * Picks the records backend: `--records=auto` takes the best one this machine can run.
 */

import fs from 'node:fs';

import type { Config, RecordsBackendName } from '../config';
import { TlsCompositeEngine } from './composite';
import { JsRecordsEngine } from './js';
import { DEFAULT_NATIVE_OPTIONS, NativeRecordsEngine, type NativeEngineOptions } from './native';
import type { RecordsEngine } from './types';

export interface EngineChoice {
  engine: RecordsEngine;
  /** One line for the operator when the choice was not the one asked for, or null. */
  notice: string | null;
}

/** The native engine's settings from the server's: limits it frames by, and -o out_limit_soft/hard. */
export function nativeOptions(config: Config | undefined): NativeEngineOptions {
  if (config === undefined) return DEFAULT_NATIVE_OPTIONS;
  return {
    protocol: config.protocol,
    itemSizeMax: config.itemSizeMax,
    casEnabled: !config.disableCas,
    slabChunkMax: config.slabChunkMax,
    sasl: config.sasl,
    asciiAuth: config.authFile !== null,
    idleTimeoutSeconds: config.idleTimeout,
    outLimitSoft: byteSize(config.suboptions.get('out_limit_soft'), DEFAULT_NATIVE_OPTIONS.outLimitSoft),
    outLimitHard: byteSize(config.suboptions.get('out_limit_hard'), DEFAULT_NATIVE_OPTIONS.outLimitHard),
  };
}

/** "65536", "64k", "1m", "2g"; the default when absent or unreadable. */
function byteSize(text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const match = /^(\d+)([kmg]?)$/i.exec(text.trim());
  if (match === null) return fallback;
  const unit = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }[match[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(match[1]) * unit;
}

function jsEngine(config: Config | undefined): JsRecordsEngine {
  const engine = new JsRecordsEngine();
  if (config !== undefined) engine.setIdleTimeout(config.idleTimeout);
  return engine;
}

/** Where the records kernel module is loaded (kmod/). */
export const RECORDS_DEVICE = '/dev/records';

/** The native engine; with -Z, beside a js engine that serves the TLS listeners (composite.ts). */
function nativeEngine(config: Config | undefined, kmod: boolean): RecordsEngine {
  const engine = new NativeRecordsEngine({ ...nativeOptions(config), kmod });
  return config?.sslEnabled === true ? new TlsCompositeEngine(engine, jsEngine(config)) : engine;
}

export function createEngine(wanted: RecordsBackendName, config?: Config): EngineChoice {
  if (wanted === 'js' || (wanted === 'auto' && process.platform !== 'linux')) {
    return { engine: jsEngine(config), notice: null };
  }
  // auto: kmod where the module is loaded, else native, else js; an explicit choice falls back the same way.
  const tried: string[] = [];
  if (wanted === 'kmod' || (wanted === 'auto' && fs.existsSync(RECORDS_DEVICE))) {
    try {
      return { engine: nativeEngine(config, true), notice: null };
    } catch (err) {
      tried.push(`records backend 'kmod' is not available (${(err as Error).message})`);
    }
  }
  try {
    const engine = nativeEngine(config, false);
    return { engine, notice: tried.length > 0 ? `${tried.join('; ')}; using 'native'` : null };
  } catch (err) {
    tried.push(`records backend 'native' is not available (${(err as Error).message})`);
  }
  return { engine: jsEngine(config), notice: `${tried.join('; ')}; using 'js'` };
}
