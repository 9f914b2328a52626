/*
 * Picks the records backend: `--records=auto` takes the best one this machine can run.
 */

import type { RecordsBackendName } from '../config';
import { JsRecordsEngine } from './js';
import type { RecordsEngine } from './types';

export interface EngineChoice {
  engine: RecordsEngine;
  /** One line for the operator when the choice was not the one asked for, or null. */
  notice: string | null;
}

export function createEngine(wanted: RecordsBackendName): EngineChoice {
  switch (wanted) {
    case 'auto':
    case 'js':
      return { engine: new JsRecordsEngine(), notice: null };
    case 'native':
    case 'kmod':
      return {
        engine: new JsRecordsEngine(),
        notice: `records backend '${wanted}' is not available here; using 'js'`,
      };
  }
}
