import { test } from 'node:test';
import assert from 'node:assert/strict';
import Meyda from 'meyda';
import { dbfs, peakInt, rmsExact, rmsFromDbfs, rmsInt } from '../../src/audio/level';
import { readChunk, roomNoiseProblem, suggestThreshold } from '../../src/audio/meter';

// Known answers for the original's figure, floor(sqrt(mean(s^2))), worked by hand.
test('rmsInt known answers', () => {
  assert.equal(rmsInt(new Int16Array(1024)), 0);
  assert.equal(rmsInt(new Int16Array([3, 4])), 3); // sqrt(12.5) = 3.54 -> 3
  assert.equal(rmsInt(new Int16Array([30, -30, 30, -30])), 30);
  assert.equal(rmsInt(new Int16Array([31, 0])), 21); // sqrt(480.5) = 21.92
  assert.equal(rmsInt(new Int16Array([-32768, -32768])), 32768);
  assert.equal(rmsInt(new Int16Array([32767, -32768])), 32767); // sqrt(1073709056.5) = 32767.5
  assert.equal(rmsInt(new Int16Array([1])), 1);
  assert.equal(rmsInt(new Int16Array([])), 0);
  // A square wave of +-1000 over a full chunk, and a 1 kHz sine of amplitude 10000 (rms 7071.07).
  assert.equal(rmsInt(Int16Array.from({ length: 1024 }, (_, i) => (i % 2 ? 1000 : -1000))), 1000);
  const s = Int16Array.from({ length: 1024 }, (_, i) => Math.round(10000 * Math.sin((2 * Math.PI * 1000 * i) / 16000)));
  assert.equal(rmsInt(s), 7071);
});

test('rmsInt truncates at exact boundaries like the original (no float drift)', () => {
  // mean of squares exactly 899.999... vs 900: [30]*1023 + [29] -> floor(sqrt(899.94)) = 29
  const a = new Int16Array(1024).fill(30);
  assert.equal(rmsInt(a), 30);
  a[0] = 29;
  assert.equal(rmsInt(a), 29);
});

test('Meyda rms equals our RMS only with its window set to rect (its default Hann window changes the figure)', () => {
  const x = Int16Array.from({ length: 1024 }, (_, i) => Math.round(3000 * Math.sin(i / 7) + 500 * Math.cos(i / 3)));
  const f = new Float32Array(1024);
  for (let i = 0; i < 1024; i++) f[i] = (x[i] as number) / 32768;
  const saved = Meyda.windowingFunction;
  try {
    Meyda.windowingFunction = 'rect';
    const rect = Meyda.extract('rms', f) as unknown as number;
    assert.ok(Math.abs(rect * 32768 - rmsExact(x)) < 1e-6);
    Meyda.windowingFunction = 'hanning';
    const hann = Meyda.extract('rms', f) as unknown as number;
    // Measured: 1316.3 against the original's 2152.3 for this chunk (docs/recording.md).
    assert.ok(hann * 32768 < 0.7 * rmsExact(x));
  } finally {
    Meyda.windowingFunction = saved;
  }
});

test('dBFS: full-scale square 0 dB, full-scale sine -3.01 dB, threshold 30 is -60.77 dB, silence -inf', () => {
  assert.equal(dbfs(32768), 0);
  assert.ok(Math.abs(dbfs(32768 / Math.SQRT2) - -3.0103) < 1e-4);
  assert.ok(Math.abs(dbfs(30) - -60.767) < 1e-3);
  assert.equal(dbfs(0), -Infinity);
  assert.ok(Math.abs(rmsFromDbfs(dbfs(1234)) - 1234) < 1e-9);
});

test('peakInt', () => {
  assert.equal(peakInt(new Int16Array([3, -7, 5])), 7);
  assert.equal(peakInt(new Int16Array([-32768])), 32768);
});

test('meter reading: zero-crossing rate and centroid from Meyda match a 1 kHz tone', () => {
  const x = Int16Array.from({ length: 1024 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 1000 * (i + 0.25)) / 16000)));
  const r = readChunk(x, 3, 4096, 16000, 30);
  assert.equal(r.chunk, 3);
  assert.equal(r.t, 0.256);
  assert.equal(r.rms, rmsInt(x));
  assert.equal(r.loud, true);
  // 2 crossings per cycle: 2000 per second.
  assert.ok(r.zcrPerSecond !== null && Math.abs(r.zcrPerSecond - 2000) <= 16, String(r.zcrPerSecond));
  assert.ok(r.centroidHz !== null && Math.abs(r.centroidHz - 1000) < 50, String(r.centroidHz));
  const short = readChunk(x.subarray(0, 1000), 0, 1000, 16000, 1e9);
  assert.equal(short.zcrPerSecond, null);
  assert.equal(short.loud, false);
});

test('suggestThreshold: above the loudest noise, twice the 95th percentile, at least 10', () => {
  const noise = [5, 6, 7, 6, 5, 8, 6, 7, 6, 5, 6, 7, 6, 5, 6, 7, 6, 5, 6, 9];
  const s = suggestThreshold(noise);
  assert.equal(s.max, 9);
  assert.equal(s.p95, 8); // nearest rank: sorted[round(0.95 * 19)] = sorted[18]
  assert.equal(s.threshold, 16); // max(2 * 8, 1.25 * 9)
  assert.equal(suggestThreshold([0, 0, 0]).threshold, 10);
  assert.equal(suggestThreshold([40, 40, 100]).threshold, 200);
});

test('roomNoiseProblem: steady room noise passes; a sound during the measurement or a loud room is named', () => {
  // Steady noise: chunks within a few tens of percent of each other.
  assert.equal(roomNoiseProblem(suggestThreshold([38, 40, 41, 39, 44, 40, 42])), undefined);
  assert.equal(roomNoiseProblem(suggestThreshold([0, 0, 1, 0, 2, 0])), undefined);
  // Someone spoke: one chunk 100x the rest.
  const spoke = suggestThreshold([6, 5, 7, 6, 2100, 1800, 6, 5]);
  assert.match(roomNoiseProblem(spoke) ?? '', /a sound was heard while measuring \(loudest chunk 2100, typical 6\)/);
  // A loud fan: no burst, but the level itself is high.
  assert.match(roomNoiseProblem(suggestThreshold([900, 950, 1000, 980, 940])) ?? '', /room noise itself is loud \(typical chunk 950, -30\.8 dBFS\)/);
});
