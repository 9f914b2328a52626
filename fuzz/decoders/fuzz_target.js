/*
 * Jazzer.js target over the TypeScript protocol decoders (server/protocol, as tsc builds
 * them into dist/): each input is one connection's bytes, framed as text, binary and -Y
 * authentication under memcached's default limits and under small ones, and each request
 * framed is decoded. Besides no exception and no hang, what must hold:
 *  - every TypeScript framer decides what the C framer linked into the native engine
 *    decides (kmod/records_parse.c rp_measure), field for field;
 *  - a whole request is never longer than the input, a needed length is more than it, and
 *    the request is whole again when the input ends where it ends;
 *  - base64 decoding what base64 encoding made gives the bytes back.
 */
const assert = require('node:assert/strict');
const path = require('node:path');

const dist = path.join(__dirname, '..', '..', 'dist', 'server');
const { newFrame } = require(path.join(dist, 'framing'));
const { frameText, decodeText } = require(path.join(dist, 'protocol', 'text'));
const { frameBinary } = require(path.join(dist, 'protocol', 'binary-frame'));
const { decodeBinary } = require(path.join(dist, 'protocol', 'binary-decode'));
const { frameAuth, decodeAuth } = require(path.join(dist, 'protocol', 'auth'));
const { base64Decode, base64Encode } = require(path.join(dist, 'protocol', 'base64'));
const { udpRequestId } = require(path.join(dist, 'protocol', 'udp'));
const { loadNativeBinding } = require(path.join(dist, 'records', 'native-addon'));

const native = loadNativeBinding();

/* server/framing.ts FrameStatus; kmod/records_parse.h enum rp_proto. */
const WHOLE = 1;
const NEED_MORE = 2;
const PROTO_TEXT = 1;
const PROTO_BINARY = 2;
const PROTO_AUTH = 3;

/* memcached's defaults, and limits small enough for short inputs to be items too large. */
const LIMITS = [
  { itemSizeMax: 1024 * 1024, casEnabled: true, slabChunkMax: 512 * 1024, sasl: false },
  { itemSizeMax: 160, casEnabled: false, slabChunkMax: 120, sasl: true },
];

function frameWith(proto, buf, end, limits) {
  const out = newFrame();
  if (proto === PROTO_TEXT) return frameText(buf, 0, end, limits, out);
  if (proto === PROTO_BINARY) return frameBinary(buf, 0, end, limits, out);
  return frameAuth(buf, 0, end, out);
}

function decode(proto, buf, length, limits) {
  if (proto === PROTO_TEXT) return decodeText(buf, 0, length, limits);
  if (proto === PROTO_BINARY) return decodeBinary(buf, 0, length, limits);
  return decodeAuth(buf, 0, length);
}

function checkFraming(proto, buf, limits) {
  const frame = frameWith(proto, buf, buf.length, limits);
  const ours = [frame.status, frame.length, frame.swallow, frame.needed];
  const engine = native.frame(buf, proto, limits.itemSizeMax, limits.casEnabled ? 1 : 0, limits.slabChunkMax, limits.sasl ? 1 : 0);
  assert.deepEqual(ours, engine, `protocol ${proto}: TypeScript frames [status, length, swallow, needed] ${ours}, C ${engine}`);
  if (frame.status === WHOLE) {
    assert.ok(frame.length > 0 && frame.length <= buf.length, `whole ${frame.length} of ${buf.length}`);
    // (memcached reads an authentication line only once two bytes are in)
    if (proto !== PROTO_AUTH || frame.length >= 2) {
      const again = frameWith(proto, buf, frame.length, limits);
      assert.deepEqual([again.status, again.length, again.swallow], [WHOLE, frame.length, frame.swallow], 'not whole at its own length');
    }
    decode(proto, buf, frame.length, limits);
  } else if (frame.status === NEED_MORE) {
    assert.ok(frame.needed === 0 || frame.needed > buf.length, `needs ${frame.needed} with ${buf.length} in`);
  }
}

module.exports.fuzz = function (data) {
  const buf = Buffer.from(data);
  if (buf.length === 0) return;
  for (const limits of LIMITS) {
    checkFraming(PROTO_TEXT, buf, limits);
    checkFraming(PROTO_BINARY, buf, limits);
    checkFraming(PROTO_AUTH, buf, limits);
  }
  const decoded = base64Decode(buf, 0, buf.length);
  if (decoded !== null) {
    const encoded = Buffer.from(base64Encode(decoded), 'latin1');
    assert.deepEqual(base64Decode(encoded, 0, encoded.length), decoded, 'base64 round trip');
  }
  udpRequestId(buf);
};
