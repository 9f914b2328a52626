/*
 * Picks the records backend: `--records=auto` takes the best one this machine can run.
 */

import fs from 'node:fs';

import type { Config, RecordsBackendName } from '../config';
import { TlsCompositeEngine } from './composite';
import { JsRecordsEngine } from './js';
import { KmodRecordsEngine, RECORDS_DEVICE } from './kmod';
import { NativeRecordsEngine } from './native';
import { DEFAULT_NATIVE_OPTIONS, type NativeEngineOptions } from './native-options';
import type { RecordsEngine } from './types';

export { RECORDS_DEVICE };

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
    threads: config.threads,
    // A negative -o idle_timeout never times out, as in memcached.
    idleTimeoutSeconds: Math.max(0, config.idleTimeout),
    outLimitSoft: config.outLimitSoft ?? DEFAULT_NATIVE_OPTIONS.outLimitSoft,
    outLimitHard: config.outLimitHard ?? DEFAULT_NATIVE_OPTIONS.outLimitHard,
    inputMemLimit: config.inputMemLimit,
  };
}

function jsEngine(config: Config | undefined): JsRecordsEngine {
  const engine = new JsRecordsEngine();
  if (config !== undefined) {
    engine.setIdleTimeout(Math.max(0, config.idleTimeout));
    engine.setInputMemLimit(config.inputMemLimit);
  }
  return engine;
}

/** The native or kmod engine; with -Z, beside a js engine that serves the TLS listeners (composite.ts). */
function addonEngine(config: Config | undefined, kmod: boolean): RecordsEngine {
  const options = nativeOptions(config);
  const engine = kmod ? new KmodRecordsEngine(options) : new NativeRecordsEngine(options);
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
      return { engine: addonEngine(config, true), notice: null };
    } catch (err) {
      tried.push(`records backend 'kmod' is not available (${(err as Error).message})`);
    }
  }
  try {
    const engine = addonEngine(config, false);
    return { engine, notice: tried.length > 0 ? `${tried.join('; ')}; using 'native'` : null };
  } catch (err) {
    tried.push(`records backend 'native' is not available (${(err as Error).message})`);
  }
  return { engine: jsEngine(config), notice: `${tried.join('; ')}; using 'js'` };
}
