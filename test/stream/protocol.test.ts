import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decode,
  encode,
  HEADER_BYTES,
  legacyReply,
  MsgType,
  parseJsonPayload,
  payloadToFloat,
  SampleFormat,
  TAG_BYTES,
  int16ToPayload,
} from '../../src/stream/protocol';
import { createAuthenticator, ReplayWindow } from '../../src/stream/auth';

const audioHeader = { type: MsgType.audio, format: SampleFormat.s16le, sessionId: 0xdeadbeef, seq: 7, sampleRate: 44100, offset: 2 ** 40 + 5 };

test('an audio datagram survives encode/decode with every header field', () => {
  const payload = int16ToPayload(Int16Array.of(1, -2, 32767, -32768));
  const buf = encode(audioHeader, payload);
  assert.equal(buf.length, HEADER_BYTES + 8);
  assert.equal(buf.toString('latin1', 0, 3), 'KWS');
  const d = decode(buf);
  assert.ok(d.ok);
  assert.deepEqual(d.msg.header, { version: 1, flags: 0, ...audioHeader });
  assert.equal(d.msg.tag, null);
  assert.deepEqual([...payloadToFloat(d.msg.payload, SampleFormat.s16le)], [1 / 32768, -2 / 32768, 32767 / 32768, -1]);
});

test('decode names what is wrong with a bad datagram and never throws', () => {
  const good = encode(audioHeader, int16ToPayload(Int16Array.of(1, 2)));
  const variant = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  const reason = (b: Buffer): string => {
    const d = decode(b);
    return d.ok ? 'ok' : d.reason;
  };
  assert.equal(reason(good), 'ok');
  assert.equal(reason(good.subarray(0, 10)), 'short');
  assert.equal(reason(Buffer.alloc(2048)), 'magic');
  assert.equal(reason(variant((b) => (b[3] = 9))), 'version');
  assert.equal(reason(variant((b) => (b[4] = 0x42))), 'type');
  assert.equal(reason(variant((b) => (b[6] = 7))), 'format');
  assert.equal(reason(variant((b) => b.writeUInt32LE(0, 8))), 'session');
  assert.equal(reason(variant((b) => b.writeUInt32LE(100, 16))), 'rate');
  assert.equal(reason(variant((b) => b.writeUInt16LE(1, 26))), 'length');
  // Odd payload for 16-bit samples.
  assert.equal(reason(Buffer.concat([good, Buffer.of(1)])), 'length');
  // Claims a tag that is not there.
  assert.equal(reason(variant((b) => (b[5] = 1)).subarray(0, HEADER_BYTES + 2)), 'length');
  // Random bytes with the magic in front: only reasons, never an exception.
  for (let i = 0; i < 2000; i++) {
    const n = Math.floor(Math.random() * 80);
    const b = Buffer.alloc(n);
    for (let k = 0; k < n; k++) b[k] = Math.floor(Math.random() * 256);
    if (n >= 3) b.write('KWS', 0, 'latin1');
    if (n >= 4 && i % 2 === 0) b[3] = 1;
    decode(b);
  }
});

test('float32 audio is clamped and NaN/Inf become silence', () => {
  const p = Buffer.alloc(16);
  p.writeFloatLE(0.5, 0);
  p.writeFloatLE(NaN, 4);
  p.writeFloatLE(Infinity, 8);
  p.writeFloatLE(-7, 12);
  assert.deepEqual([...payloadToFloat(p, SampleFormat.f32le)], [0.5, 0, 0, -1]);
});

test('the legacy reply is byte-for-byte what the original server sent (Python json.dumps)', () => {
  assert.equal(legacyReply('snap', 0.75091).toString(), '{"label": "snap", "probability": 0.7509}');
  assert.equal(legacyReply('say "hi"', 1).toString(), '{"label": "say \\"hi\\"", "probability": 1}');
});

test('JSON payloads may be NUL-padded; non-objects are rejected', () => {
  const padded = Buffer.alloc(64);
  padded.write('{"a":1}');
  assert.deepEqual(parseJsonPayload(padded), { a: 1 });
  assert.equal(parseJsonPayload(Buffer.from('[1,2]')), null);
  assert.equal(parseJsonPayload(Buffer.from('{nope')), null);
});

test('a signed datagram verifies; any changed bit or another token does not', () => {
  const a = createAuthenticator('secret');
  const buf = encode(audioHeader, int16ToPayload(Int16Array.of(5, 6, 7)), a.sign);
  assert.equal(buf.length, HEADER_BYTES + 6 + TAG_BYTES);
  const d = decode(buf);
  assert.ok(d.ok);
  assert.equal(d.msg.header.flags & 1, 1);
  assert.ok(a.verify(d.msg.signed, d.msg.tag));
  assert.equal(createAuthenticator('other').verify(d.msg.signed, d.msg.tag), false);
  for (const pos of [4, 12, 20, HEADER_BYTES + 1, buf.length - 1]) {
    const t = Buffer.from(buf);
    t[pos] = (t[pos] as number) ^ 1;
    const dt = decode(t);
    if (dt.ok) assert.equal(a.verify(dt.msg.signed, dt.msg.tag), false, `flipped byte ${pos}`);
  }
  // Unsigned datagram: no tag, never verifies.
  const plain = decode(encode(audioHeader, int16ToPayload(Int16Array.of(1))));
  assert.ok(plain.ok);
  assert.equal(a.verify(plain.msg.signed, plain.msg.tag), false);
});

test('the replay window accepts each sequence number once and rejects ones too old', () => {
  const w = new ReplayWindow(8);
  for (const s of [0, 1, 2]) {
    assert.equal(w.check(s), 'new');
    w.mark(s);
  }
  assert.equal(w.check(1), 'duplicate');
  assert.equal(w.check(5), 'new'); // ahead, gap of 3
  w.mark(5);
  assert.equal(w.check(3), 'new'); // late but inside the window
  w.mark(3);
  assert.equal(w.check(3), 'duplicate');
  w.mark(20);
  assert.equal(w.check(12), 'old');
  assert.equal(w.check(13), 'new');
  assert.equal(w.check(20), 'duplicate');
});
