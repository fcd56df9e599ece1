/**
 * Streaming = batch (issue point 5): a signal pushed in random chunk sizes gives, for
 * every hop-aligned window, the features FeatureExtractor.compute gives for the same
 * samples (within 1e-4; it is bit-identical by construction). Centre padding at stream
 * edges: edge frames of each window are padded like the batch path (never taken from
 * neighbouring stream audio), which the reflect-vs-constant case below pins down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FeatureExtractor } from '../../src/features/extract';
import { StreamingFeatureExtractor } from '../../src/features/streaming';
import { seedSpec, type FeatureSpec } from '../../src/features/spec';
import { createRng } from '../../src/util/rng';
import { loadReference } from './reference';

function testSignal(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const burst = Math.sin(i / 3000) > 0.3 ? 0.4 : 0.02; // loud and quiet stretches, so ref=max varies
    y[i] = burst * Math.sin(i * (0.05 + 0.0000003 * i)) + 0.01 * rng.normal();
  }
  return y;
}

function check(spec: FeatureSpec, signal: Float32Array, seed: number, maxChunk: number): number {
  const rng = createRng(seed);
  const stream = new StreamingFeatureExtractor(spec);
  const batch = new FeatureExtractor(spec);
  const hop = spec.spectral?.hop ?? 1;
  let pos = 0;
  let windows = 0;
  let frames = 0;
  const got = new Float32Array(stream.size);
  while (pos < signal.length) {
    const n = Math.min(signal.length - pos, 1 + rng.int(maxChunk));
    frames += stream.push(signal.subarray(pos, pos + n));
    pos += n;
    assert.equal(stream.samplesSeen, pos);
    if (!stream.ready()) {
      assert.equal(pos < spec.windowSamples, true);
      continue;
    }
    const start = stream.windowStart();
    assert.equal(start % hop, 0, 'windows start on the hop grid');
    assert.ok(start + spec.windowSamples <= pos && start + spec.windowSamples + hop > pos, 'newest complete window');
    stream.currentWindow(got);
    const want = batch.compute(signal.slice(start, start + spec.windowSamples));
    for (let i = 0; i < want.length; i++) {
      if (!(Math.abs(got[i] - want[i]) <= 1e-4)) assert.fail(`window at ${start}, element ${i}: stream ${got[i]} vs batch ${want[i]}`);
    }
    windows++;
  }
  assert.equal(frames, stream.framesComputed);
  return windows;
}

const long = testSignal(16000 * 6, 1);

test('seed MFCC (reflect): random chunks 1..3000 samples give the batch features of every window', () => {
  const windows = check(seedSpec('mfcc'), long, 2, 3000);
  assert.ok(windows > 50, `only ${windows} windows checked`);
});

test('seed log-mel (ref max, top_db over the window): random chunks, constant padding', () => {
  const spec = seedSpec('logmel');
  spec.spectral!.padMode = 'constant';
  check(spec, long, 3, 1500);
});

test('tiny chunks (1..20 samples) and huge chunks (larger than the internal buffer)', () => {
  check(seedSpec('mfcc'), long.subarray(0, 40000), 4, 20);
  check(seedSpec('logmel'), long, 5, 60000);
});

test('frame-local spec (25 ms in FFT 512, hop 160, not centred, fixed ref): finished columns are cached', () => {
  const spec: FeatureSpec = {
    specVersion: 1,
    kind: 'logmel',
    sampleRate: 16000,
    windowSamples: 16000,
    spectral: { nFft: 512, winLength: 400, hop: 160, center: false, padMode: 'constant', nMels: 40, fmin: 0, fmax: 8000, dbRef: 1, topDb: null },
  };
  const s = new StreamingFeatureExtractor(spec);
  assert.deepEqual(s.framesPerWindow, { cached: 97, recomputed: 0 });
  check(spec, long, 6, 2000);
  check({ ...spec, kind: 'mfcc', nMfcc: 13, spectral: { ...spec.spectral!, center: true, padMode: 'reflect' } }, long, 7, 777);
});

test('window not a multiple of the hop, and winLength < nFft with ref max (mel cached, dB per window)', () => {
  check(seedSpec('mfcc', 16000), long, 8, 2500);
  const spec: FeatureSpec = {
    specVersion: 1,
    kind: 'logmel',
    sampleRate: 16000,
    windowSamples: 15999,
    spectral: { nFft: 512, winLength: 400, hop: 160, center: true, padMode: 'reflect', nMels: 40, fmin: 20, fmax: 7600, dbRef: 'max', topDb: 60 },
  };
  check(spec, long, 9, 3000);
});

test('seed spec caches 29 of 33 frames per window and recomputes the 4 padded edge frames', () => {
  assert.deepEqual(new StreamingFeatureExtractor(seedSpec('mfcc')).framesPerWindow, { cached: 29, recomputed: 4 });
});

test('stream edges follow the batch padding: reflect and constant windows differ only in edge frames', () => {
  const word = loadReference('word_yes_1s').samples;
  const padded = new Float32Array(16384 + 4096);
  padded.set(word, 3000);
  const out: Record<string, Float32Array> = {};
  for (const pad of ['reflect', 'constant'] as const) {
    const spec = seedSpec('mfcc');
    spec.spectral!.padMode = pad;
    const s = new StreamingFeatureExtractor(spec);
    s.push(padded);
    out[pad] = s.currentWindow();
    assert.equal(s.windowStart(), 4096); // floor((20480 - 16384) / 512) * 512
  }
  const frames = 33;
  for (let t = 0; t < frames; t++) {
    let diff = 0;
    for (let r = 0; r < 40; r++) diff = Math.max(diff, Math.abs(out.reflect[r * frames + t] - out.constant[r * frames + t]));
    if (t >= 2 && t <= 30) assert.equal(diff, 0, `interior frame ${t} must not depend on padding`);
  }
});

test('raw: the window is the newest windowSamples samples on the sample grid', () => {
  const spec = seedSpec('raw', 1000);
  const s = new StreamingFeatureExtractor(spec);
  s.push(long.subarray(0, 999));
  assert.equal(s.ready(), false);
  s.push(long.subarray(999, 25000));
  assert.equal(s.windowStart(), 24000);
  assert.deepEqual(s.currentWindow(), long.slice(24000, 25000));
});

test('reset starts a new stream', () => {
  const s = new StreamingFeatureExtractor(seedSpec('mfcc'));
  s.push(long.subarray(0, 30000));
  s.reset();
  assert.equal(s.samplesSeen, 0);
  assert.equal(s.ready(), false);
  s.push(long.subarray(50000, 50000 + 16384));
  assert.deepEqual(s.currentWindow(), new FeatureExtractor(seedSpec('mfcc')).compute(long.slice(50000, 50000 + 16384)));
});
