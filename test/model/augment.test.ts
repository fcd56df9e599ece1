import { test } from 'node:test';
import assert from 'node:assert/strict';
import { augmentClip, timeShift, defaultAugmentOptions, type AugmentOptions } from '../../src/model/augment';
import { createRng } from '../../src/util/rng';

const tone = (n: number, f = 440, amp = 0.3): Float32Array => Float32Array.from({ length: n }, (_, i) => amp * Math.sin((2 * Math.PI * f * i) / 16000));
const rms = (x: Float32Array): number => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);

test('timeShift moves samples and fills the gap with zeros', () => {
  const x = Float32Array.from([1, 2, 3, 4, 5]);
  assert.deepEqual([...timeShift(x, 2)], [0, 0, 1, 2, 3]);
  assert.deepEqual([...timeShift(x, -1)], [2, 3, 4, 5, 0]);
  assert.deepEqual([...timeShift(x, 0)], [1, 2, 3, 4, 5]);
});

test('augmentation is reproducible from the seed and leaves the input untouched', () => {
  const clip = tone(16000);
  const copy = Float32Array.from(clip);
  const noise = [Float32Array.from({ length: 8000 }, (_, i) => Math.sin(i * 12.9898) * 0.1)];
  const o = defaultAugmentOptions(16000);
  const a = augmentClip(clip, noise, o, createRng(5));
  const b = augmentClip(clip, noise, o, createRng(5));
  const c = augmentClip(clip, noise, o, createRng(6));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual(clip, copy);
});

test('noise is mixed at the drawn SNR and gain stays in its range', () => {
  const clip = tone(16000);
  const white = createRng(9);
  const noise = [Float32Array.from({ length: 16000 }, () => white.normal() * 0.05)];
  // No shift, no gain, always noise at exactly 10 dB: the added part must be 10 dB below the tone.
  const o: AugmentOptions = { maxShift: 0, noiseProbability: 1, snrDb: [10, 10], gainDb: [0, 0] };
  const y = augmentClip(clip, noise, o, createRng(1));
  const added = y.map((v, i) => v - (clip[i] as number));
  const snr = 20 * Math.log10(rms(clip) / rms(added));
  assert.ok(Math.abs(snr - 10) < 0.05, `SNR ${snr}`);
  const g: AugmentOptions = { maxShift: 0, noiseProbability: 0, snrDb: [0, 0], gainDb: [-6, 6] };
  for (let s = 0; s < 20; s++) {
    const r = rms(augmentClip(clip, [], g, createRng(s))) / rms(clip);
    assert.ok(r >= 10 ** (-6 / 20) - 1e-6 && r <= 10 ** (6 / 20) + 1e-6, `gain ratio ${r}`);
  }
});

test('shifts stay within maxShift and the output never exceeds full scale', () => {
  const clip = new Float32Array(1000);
  clip[500] = 0.9;
  const o: AugmentOptions = { maxShift: 100, noiseProbability: 0, snrDb: [0, 0], gainDb: [6, 12] };
  for (let s = 0; s < 50; s++) {
    const y = augmentClip(clip, [], o, createRng(s));
    const at = y.findIndex((v) => v !== 0);
    assert.ok(at >= 400 && at <= 600, `impulse moved to ${at}`);
    assert.ok(Math.max(...y.map(Math.abs)) <= 1);
  }
});
