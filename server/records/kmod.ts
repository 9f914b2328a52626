/*
 * The kmod records backend: the native engine with every TCP connection attached to the
 * records kernel module (kmod/, /dev/records). The module frames their requests with its
 * strparser and sends their replies and records from its own queues, woken by the socket's
 * write space; a record the module holds is sent to many sockets by page reference. The
 * addon (native/src/kmod.cc) hands sockets to the module and keeps serving any it refuses,
 * so the JS side is the native engine's, with the module's counters added to `stats`.
 */

import type { RecordStats } from './native-addon';
import { NativeRecordsEngine } from './native';
import { DEFAULT_NATIVE_OPTIONS, type NativeEngineOptions } from './native-options';

/** Where the records kernel module is loaded (kmod/). */
export const RECORDS_DEVICE = '/dev/records';

export class KmodRecordsEngine extends NativeRecordsEngine {
  /** Throws, as the native engine does, when the addon cannot load or the module cannot be opened. */
  constructor(options: NativeEngineOptions = DEFAULT_NATIVE_OPTIONS) {
    super(options, 'kmod');
  }

  protected override countersOf(s: RecordStats): [string, number][] {
    const counters = super.countersOf(s);
    counters.push(
      ['records_kernel', s.kernel],
      ['records_kernel_connections', s.kernelConnections],
      ['records_kernel_refused', s.kernelRefused],
    );
    return counters;
  }
}
