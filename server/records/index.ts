/*
 * Picks the records backend: `--records=auto` takes the best one this machine can run.
 */

import type { Config, RecordsBackendName } from '../config';
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

export function createEngine(wanted: RecordsBackendName, config?: Config): EngineChoice {
  switch (wanted) {
    case 'js':
      return { engine: jsEngine(config), notice: null };
    case 'auto':
    case 'native': {
      if (wanted === 'auto' && process.platform !== 'linux') return { engine: jsEngine(config), notice: null };
      try {
        return { engine: new NativeRecordsEngine(nativeOptions(config)), notice: null };
      } catch (err) {
        return {
          engine: jsEngine(config),
          notice: `records backend 'native' is not available (${(err as Error).message}); using 'js'`,
        };
      }
    }
    case 'kmod':
      return {
        engine: jsEngine(config),
        notice: `records backend '${wanted}' is not available here; using 'js'`,
      };
  }
}
