import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, sharedRoot } from '../helpers';
import {
  decodeWav,
  encodeWav,
  encodeWavFormat,
  floatToInt16,
  loadClip,
  readWavFile,
  saveClip,
  writeWavNoClobber,
  type DecodedWav,
  type SampleFormat,
} from '../../src/audio/wav';
import { isUserError, ExitCode } from '../../src/util/errors';

/** A deterministic test signal already on the grid of `bits`, so a round trip must be exact. */
function gridSignal(n: number, bits: number, fmt: SampleFormat, seed: number): Float32Array {
  const x = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    const u = s / 2147483648; // [0, 1)
    const v = 2 * u - 1; // [-1, 1)
    if (fmt === 'float') x[i] = v;
    else {
      const full = 2 ** (bits - 1);
      // 32-bit ints are not all representable in float32: use a 24-bit grid for them.
      const step = bits === 32 ? 2 ** 8 : 1;
      const q = Math.min(full - step, Math.round((v * full) / step) * step);
      x[i] = q / full + 0; // never -0: decoding gives +0
    }
  }
  // The extremes, which is where off-by-one and sign bugs live.
  if (n >= 2) {
    x[0] = -1;
    x[1] = fmt === 'float' ? 0.999 : (2 ** (bits - 1) - (bits === 32 ? 256 : 1)) / 2 ** (bits - 1);
  }
  return x;
}

const FORMATS: { bitDepth: number; sampleFormat: SampleFormat }[] = [
  { bitDepth: 8, sampleFormat: 'int' },
  { bitDepth: 16, sampleFormat: 'int' },
  { bitDepth: 24, sampleFormat: 'int' },
  { bitDepth: 32, sampleFormat: 'int' },
  { bitDepth: 32, sampleFormat: 'float' },
  { bitDepth: 64, sampleFormat: 'float' },
];

for (const f of FORMATS) {
  for (const channels of [1, 2, 3]) {
    test(`round trip: ${f.bitDepth}-bit ${f.sampleFormat}, ${channels} channel(s)`, () => {
      const data = Array.from({ length: channels }, (_, c) => gridSignal(777, f.bitDepth, f.sampleFormat, 17 + c));
      const wav: DecodedWav = { sampleRate: 44100, channels, bitDepth: f.bitDepth, sampleFormat: f.sampleFormat, data };
      const buf = encodeWavFormat(wav);
      assert.equal(buf.length, 44 + 777 * channels * (f.bitDepth / 8));
      const back = decodeWav(buf, 'mem.wav');
      assert.equal(back.sampleRate, 44100);
      assert.equal(back.channels, channels);
      assert.equal(back.bitDepth, f.bitDepth);
      assert.equal(back.sampleFormat, f.sampleFormat);
      for (let c = 0; c < channels; c++) assert.deepEqual(back.data[c], data[c], `channel ${c}`);
    });
  }
}

test('8-bit WAV is unsigned: byte 128 is silence, 0 is -1, 255 is 127/128', () => {
  const wav = encodeWavFormat({ sampleRate: 8000, channels: 1, bitDepth: 8, sampleFormat: 'int', data: [new Float32Array([0, -1, 127 / 128])] });
  assert.deepEqual([...wav.subarray(44)], [128, 0, 255]);
});

test('16-bit bytes decode to exactly int16 / 32768, interleaved channels split', () => {
  const pcm = new Int16Array([0, -32768, 32767, 1, -1, 12345]);
  const st = decodeWav(encodeWav(pcm, 16000, 2), 'st.wav');
  assert.deepEqual([...(st.data[0] as Float32Array)], [0, 32767 / 32768, -1 / 32768]);
  assert.deepEqual([...(st.data[1] as Float32Array)], [-1, 1 / 32768, 12345 / 32768]);
});

/** Build a RIFF file from chunks, padding odd sizes as the spec says. */
function riff(chunks: [string, Buffer, number?][]): Buffer {
  const parts: Buffer[] = [];
  for (const [id, body, sizeOverride] of chunks) {
    const head = Buffer.alloc(8);
    head.write(id, 0, 'latin1');
    head.writeUInt32LE(sizeOverride ?? body.length, 4);
    parts.push(head, body);
    if (body.length % 2) parts.push(Buffer.alloc(1));
  }
  const all = Buffer.concat(parts);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(all.length + 4, 4);
  head.write('WAVE', 8, 'latin1');
  return Buffer.concat([head, all]);
}

function fmtChunk(code: number, channels: number, rate: number, bits: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(code, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE((rate * channels * bits) / 8, 8);
  b.writeUInt16LE((channels * bits) / 8, 12);
  b.writeUInt16LE(bits, 14);
  return b;
}

function extensibleFmt(subCode: number, channels: number, rate: number, bits: number): Buffer {
  const b = Buffer.alloc(40);
  fmtChunk(0xfffe, channels, rate, bits).copy(b, 0);
  b.writeUInt16LE(22, 16); // cbSize
  b.writeUInt16LE(bits, 18); // valid bits
  b.writeUInt32LE(channels === 2 ? 3 : 4, 20); // channel mask
  b.writeUInt16LE(subCode, 24); // SubFormat GUID starts with the format code
  Buffer.from('000000001000800000aa00389b71', 'hex').copy(b, 26);
  return b;
}

test('WAVE_FORMAT_EXTENSIBLE 24-bit stereo (what sox and editors write) decodes', () => {
  const data = Buffer.alloc(12);
  data.writeIntLE(-8388608, 0, 3);
  data.writeIntLE(4194304, 3, 3);
  data.writeIntLE(1, 6, 3);
  data.writeIntLE(-1, 9, 3);
  const w = decodeWav(riff([['fmt ', extensibleFmt(1, 2, 48000, 24)], ['data', data]]), 'ext.wav');
  assert.equal(w.bitDepth, 24);
  assert.equal(w.sampleFormat, 'int');
  assert.deepEqual([...(w.data[0] as Float32Array)], [-1, 1 / 8388608]);
  assert.deepEqual([...(w.data[1] as Float32Array)], [0.5, -1 / 8388608]);
});

test('extensible float, JUNK before fmt, LIST after data, odd-sized chunk with pad byte', () => {
  const data = Buffer.alloc(8);
  data.writeFloatLE(0.25, 0);
  data.writeFloatLE(-0.75, 4);
  const w = decodeWav(
    riff([
      ['JUNK', Buffer.alloc(28)],
      ['bext', Buffer.alloc(5, 7)], // odd size: followed by a pad byte
      ['fmt ', extensibleFmt(3, 1, 22050, 32)],
      ['data', data],
      ['LIST', Buffer.from('INFOISFT\x05\x00\x00\x00kws!\x00\x00', 'latin1')],
    ]),
    'junk.wav',
  );
  assert.equal(w.sampleFormat, 'float');
  assert.equal(w.sampleRate, 22050);
  assert.deepEqual([...(w.data[0] as Float32Array)], [0.25, -0.75]);
});

test('streamed WAV with data size 0 or 0xFFFFFFFF reads to the end of the file; a half frame is dropped', () => {
  const pcm = Buffer.alloc(9); // 4 stereo 16-bit frames would be 16 bytes; 9 bytes = 2 whole frames
  pcm.writeInt16LE(100, 0);
  pcm.writeInt16LE(-100, 2);
  pcm.writeInt16LE(200, 4);
  pcm.writeInt16LE(-200, 6);
  for (const size of [0, 0xffffffff]) {
    const head = riff([['fmt ', fmtChunk(1, 2, 16000, 16)]]);
    const dataHead = Buffer.alloc(8);
    dataHead.write('data', 0, 'latin1');
    dataHead.writeUInt32LE(size, 4);
    const w = decodeWav(Buffer.concat([head, dataHead, pcm]), 'stream.wav');
    assert.deepEqual([...(w.data[0] as Float32Array)].map((v) => v * 32768), [100, 200]);
    assert.deepEqual([...(w.data[1] as Float32Array)].map((v) => v * 32768), [-100, -200]);
  }
});

test('a cut-off file (data size larger than the file) keeps what is there', () => {
  const full = encodeWav(new Int16Array([1, 2, 3, 4, 5]), 16000);
  const w = decodeWav(full.subarray(0, full.length - 3), 'cut.wav');
  assert.deepEqual([...(w.data[0] as Float32Array)].map((v) => v * 32768), [1, 2, 3]);
});

function assertInputError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isUserError(err), `expected a UserError, got ${String(err)}`);
    assert.equal(err.exitCode, ExitCode.input);
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(err.message.includes(p), `"${err.message}" should include "${p}"`);
      else assert.match(err.message, p);
    }
    return true;
  });
}

test('corrupt and unsupported files give input errors naming the file and the problem', () => {
  assertInputError(() => decodeWav(Buffer.alloc(0), 'empty.wav'), 'empty.wav', 'empty');
  assertInputError(() => decodeWav(Buffer.from('hello, this is a text file', 'utf8'), 'notes.wav'), 'notes.wav', 'not a WAV file', '"hell"');
  assertInputError(() => decodeWav(Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00', 'latin1'), 'song.wav'), 'song.wav', 'not a WAV file');
  const rifx = riff([['fmt ', fmtChunk(1, 1, 16000, 16)], ['data', Buffer.alloc(4)]]);
  rifx.write('RIFX', 0, 'latin1');
  assertInputError(() => decodeWav(rifx, 'be.wav'), 'be.wav', 'big-endian');
  assertInputError(() => decodeWav(riff([['fmt ', fmtChunk(7, 1, 8000, 8)], ['data', Buffer.alloc(4)]]), 'ulaw.wav'), 'ulaw.wav', 'mu-law', 'not supported');
  assertInputError(() => decodeWav(riff([['fmt ', fmtChunk(1, 1, 8000, 12)], ['data', Buffer.alloc(4)]]), 'odd.wav'), 'odd.wav', '12-bit');
  assertInputError(() => decodeWav(riff([['fmt ', fmtChunk(3, 1, 8000, 16)], ['data', Buffer.alloc(4)]]), 'f16.wav'), 'f16.wav', '16-bit float');
  assertInputError(() => decodeWav(riff([['fmt ', fmtChunk(1, 1, 16000, 16)]]), 'nodata.wav'), 'nodata.wav', 'no "data" chunk');
  assertInputError(() => decodeWav(riff([['data', Buffer.alloc(4)]]), 'nofmt.wav'), 'nofmt.wav', 'no "fmt " chunk');
  assertInputError(() => decodeWav(riff([['fmt ', fmtChunk(1, 0, 16000, 16)], ['data', Buffer.alloc(4)]]), 'zero.wav'), 'zero.wav', '0 channels');
  assertInputError(() => decodeWav(riff([['fmt ', Buffer.alloc(10)], ['data', Buffer.alloc(4)]]), 'short.wav'), 'short.wav', 'too short');
});

test('readWavFile: a missing file and a folder are input errors naming them', async () => {
  const dir = makeTempDir();
  await assert.rejects(readWavFile(path.join(dir, 'nope.wav')), (err: unknown) => isUserError(err) && err.message.includes('nope.wav') && err.message.includes('no such file'));
  await assert.rejects(readWavFile(dir), (err: unknown) => isUserError(err) && err.message.includes('folder'));
});

test('floatToInt16: scale by 32768, round half to even like numpy, clip to int16', () => {
  const x = new Float32Array([0, 1, -1, 2, -2, 0.5 / 32768, 1.5 / 32768, -0.5 / 32768, 2.5 / 32768, 100.4 / 32768, -100.6 / 32768]);
  assert.deepEqual([...floatToInt16(x)], [0, 32767, -32768, 32767, -32768, 0, 2, 0, 2, 100, -101]);
});

test('loadClip on 16-bit mono 16 kHz files is bit-exactly int16/32768 (the librosa reference samples)', async (t) => {
  const refDir = path.join(sharedRoot, 'reference', 'features');
  if (!fs.existsSync(refDir)) {
    // sharedRoot is repoRoot/../shared: CI clones the repository with shared/ beside it.
    t.skip(`the shared reference samples are not at ${refDir} (shared/ must sit beside the repository, where CI puts it); bit-exact check not run`);
    return;
  }
  const names = fs.readdirSync(refDir).filter((f) => f.endsWith('.wav'));
  assert.ok(names.length >= 5);
  for (const name of names) {
    const y = await loadClip(path.join(refDir, name));
    const raw = fs.readFileSync(path.join(refDir, name.replace(/\.wav$/, '.f32')));
    const ref = new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
    assert.equal(y.length, ref.length, name);
    assert.deepEqual(Buffer.from(y.buffer, y.byteOffset, y.byteLength), Buffer.from(ref.buffer, ref.byteOffset, ref.byteLength), `${name} differs`);
  }
});

test('loadClip mixes channels by averaging and resamples to the target rate', async () => {
  const dir = makeTempDir();
  const n = 44100;
  const left = new Float32Array(n).fill(0.5);
  const right = new Float32Array(n).fill(-0.25);
  const file = path.join(dir, 'st.wav');
  fs.writeFileSync(file, encodeWavFormat({ sampleRate: 44100, channels: 2, bitDepth: 32, sampleFormat: 'float', data: [left, right] }));
  const y = await loadClip(file);
  assert.equal(y.length, 16000);
  // DC 0.125 passes the low-pass unchanged, away from the ends.
  for (let i = 200; i < 15800; i += 97) assert.ok(Math.abs((y[i] as number) - 0.125) < 1e-4, `sample ${i}: ${y[i]}`);
  const same = await loadClip(file, 44100);
  assert.equal(same.length, 44100);
  assert.equal(same[1000], 0.125);
});

test('writeWavNoClobber never replaces a file and leaves no temporary files', async () => {
  const dir = makeTempDir();
  const target = path.join(dir, 'a.wav');
  const first = encodeWav(new Int16Array([1, 2, 3]), 16000);
  const second = encodeWav(new Int16Array([9, 9, 9]), 16000);
  assert.equal(await writeWavNoClobber(target, first), true);
  assert.equal(await writeWavNoClobber(target, second), false);
  assert.deepEqual(fs.readFileSync(target), first);
  assert.deepEqual(fs.readdirSync(dir), ['a.wav']);
});

test('saveClip picks a fresh name when one is taken', async () => {
  const dir = makeTempDir();
  fs.writeFileSync(path.join(dir, 'x1.wav'), 'taken');
  let i = 0;
  const file = await saveClip(dir, () => `x${++i}.wav`, new Int16Array([5, -5]), 16000);
  assert.equal(path.basename(file), 'x2.wav');
  assert.equal(fs.readFileSync(path.join(dir, 'x1.wav'), 'utf8'), 'taken');
  const back = await readWavFile(file);
  assert.deepEqual([...(back.data[0] as Float32Array)].map((v) => v * 32768), [5, -5]);
});
