// The numbers JS and the native engine exchange are defined once, in the addon, and read by
// server/records/native-addon.ts when it loads the addon. This pins them: a renumbering on either
// side shows here, as does a name the TypeScript side expects and the addon lost.
import assert from 'node:assert/strict';
import { loadNativeBinding } from '../server/records/native-addon';
import { missing } from '../conformance/lib/required';

describe('native addon wire numbers', function () {
  it('are exported by the addon, each group distinct, with the values engine.h and engine_binding.h give', function () {
    let binding: ReturnType<typeof loadNativeBinding>;
    try {
      binding = loadNativeBinding();
    } catch (err) {
      missing(this, 'native', (err as Error).message);
    }
    assert.deepEqual(binding.wire, {
      ops: {
        send: 1,
        complete: 2,
        end: 3,
        destroy: 4,
        ackClose: 5,
        delete: 6,
        drain: 7,
        destroyAll: 8,
        authenticated: 9,
        publish: 10,
        unpublish: 11,
        clearIndex: 12,
        flushDue: 13,
      },
      events: { open: 1, requests: 2, close: 3, openHttp: 4, output: 5 },
      closeReasons: { local: 1, peer: 2, reset: 3, queueLimit: 4, framing: 5 },
      batchFlags: { completesData: 1, closes: 2, binary: 4 },
    });
  });
});
