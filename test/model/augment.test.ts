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
  const o: AugmentOptions = { maxShift: 0, noiseProbability: 1, snrDb: [10, 10], gainDb: [0, 0], speed: [1, 1], interference: 0 };
  const y = augmentClip(clip, noise, o, createRng(1));
  const added = y.map((v, i) => v - (clip[i] as number));
  const snr = 20 * Math.log10(rms(clip) / rms(added));
  assert.ok(Math.abs(snr - 10) < 0.05, `SNR ${snr}`);
  const g: AugmentOptions = { maxShift: 0, noiseProbability: 0, snrDb: [0, 0], gainDb: [-6, 6], speed: [1, 1], interference: 0 };
  for (let s = 0; s < 20; s++) {
    const r = rms(augmentClip(clip, [], g, createRng(s))) / rms(clip);
    assert.ok(r >= 10 ** (-6 / 20) - 1e-6 && r <= 10 ** (6 / 20) + 1e-6, `gain ratio ${r}`);
  }
});

test('shifts stay within maxShift and the output never exceeds full scale', () => {
  const clip = new Float32Array(1000);
  clip[500] = 0.9;
  const o: AugmentOptions = { maxShift: 100, noiseProbability: 0, snrDb: [0, 0], gainDb: [6, 12], speed: [1, 1], interference: 0 };
  for (let s = 0; s < 50; s++) {
    const y = augmentClip(clip, [], o, createRng(s));
    const at = y.findIndex((v) => v !== 0);
    assert.ok(at >= 400 && at <= 600, `impulse moved to ${at}`);
    assert.ok(Math.max(...y.map(Math.abs)) <= 1);
  }
});

/** Frequency of a clean tone from its zero crossings (rising edges, interpolated) between sample a and b. */
function measuredHz(x: Float32Array, a: number, b: number): number {
  const rises: number[] = [];
  for (let i = a; i < b - 1; i++) {
    const u = x[i] as number;
    const v = x[i + 1] as number;
    if (u < 0 && v >= 0) rises.push(i + u / (u - v));
  }
  const first = rises[0] as number;
  const last = rises[rises.length - 1] as number;
  return ((rises.length - 1) * 16000) / (last - first);
}

test('speed perturbation scales a tone\'s frequency by the factor and keeps the centre fixed', async () => {
  const { speedPerturb } = await import('../../src/model/augment.js');
  const x = tone(16000, 500);
  assert.ok(Math.abs(measuredHz(x, 4000, 12000) - 500) < 0.5);
  for (const f of [0.85, 0.9, 1.1, 1.15]) {
    const y = speedPerturb(x, f);
    assert.equal(y.length, x.length);
    const hz = measuredHz(y, 6000, 10000);
    assert.ok(Math.abs(hz - 500 * f) < 1, `factor ${f}: ${hz} Hz, expected ${500 * f}`);
  }
  // An impulse at the centre stays there; one 1000 samples later moves to 1000 / factor.
  const imp = new Float32Array(16001);
  imp[8000] = 1;
  imp[9000] = 0.5;
  const y = speedPerturb(imp, 1.25);
  assert.equal(y[8000], 1);
  assert.equal(y[8800], 0.5);
  // Faster playback leaves zeros at both ends (the clip got shorter), slower crops them.
  assert.equal(speedPerturb(x, 1.2)[0], 0);
  assert.notEqual(speedPerturb(x, 0.8)[100], 0);
  assert.deepEqual(speedPerturb(x, 1), x);
  assert.throws(() => speedPerturb(x, 0), /positive/);
});

test('augmentClip draws a speed factor in range, reproducibly', () => {
  const x = tone(16000, 500);
  const o: AugmentOptions = { maxShift: 0, noiseProbability: 0, snrDb: [0, 0], gainDb: [0, 0], speed: [0.85, 1.15], interference: 0 };
  const seen: number[] = [];
  for (let s = 0; s < 20; s++) {
    const hz = measuredHz(augmentClip(x, [], o, createRng(s)), 6000, 10000);
    assert.ok(hz > 500 * 0.85 - 1 && hz < 500 * 1.15 + 1, `${hz} Hz`);
    seen.push(hz);
  }
  // The factors really vary (not a constant), spreading over most of the range.
  assert.ok(Math.max(...seen) - Math.min(...seen) > 75, `spread ${Math.min(...seen)}..${Math.max(...seen)}`);
  assert.deepEqual(augmentClip(x, [], o, createRng(3)), augmentClip(x, [], o, createRng(3)));
});

test('maskFeatures zeroes whole frames and whole rows within the widths, per example', async () => {
  const { maskFeatures } = await import('../../src/model/augment.js');
  const rows = 8;
  const frames = 30;
  const count = 50;
  const x = new Float32Array(count * rows * frames).fill(1);
  maskFeatures(x, count, rows, frames, { timeMasks: 1, maxTimeWidth: 5, rowMasks: 1, maxRowWidth: 3 }, createRng(4));
  let masksSeen = 0;
  for (let e = 0; e < count; e++) {
    const at = (r: number, t: number): number => x[e * rows * frames + r * frames + t] as number;
    // A frame is time-masked when every row is zero there; a row is masked when every frame is.
    const zeroFrames = Array.from({ length: frames }, (_, t) => t).filter((t) => Array.from({ length: rows }, (_, r) => at(r, t)).every((v) => v === 0));
    const zeroRows = Array.from({ length: rows }, (_, r) => r).filter((r) => Array.from({ length: frames }, (_, t) => at(r, t)).every((v) => v === 0));
    assert.ok(zeroFrames.length <= 5 && zeroRows.length <= 3, `example ${e}: ${zeroFrames.length} frames, ${zeroRows.length} rows`);
    // Masks are contiguous runs.
    if (zeroFrames.length > 0) assert.equal((zeroFrames.at(-1) as number) - (zeroFrames[0] as number) + 1, zeroFrames.length);
    if (zeroRows.length > 0) assert.equal((zeroRows.at(-1) as number) - (zeroRows[0] as number) + 1, zeroRows.length);
    // Every zero belongs to a masked frame or row: nothing else is touched.
    for (let r = 0; r < rows; r++) for (let t = 0; t < frames; t++) if (at(r, t) === 0) assert.ok(zeroFrames.includes(t) || zeroRows.includes(r));
    masksSeen += zeroFrames.length + zeroRows.length;
  }
  assert.ok(masksSeen > count, 'masks are drawn, not all of width zero');
  const y = new Float32Array(count * rows * frames).fill(1);
  maskFeatures(y, count, rows, frames, { timeMasks: 1, maxTimeWidth: 5, rowMasks: 1, maxRowWidth: 3 }, createRng(4));
  assert.deepEqual(y, x);
});

test('maskFeatures with maxRowShift moves every row of an example by one amount within the limit, repeating the edge rows', async () => {
  const { maskFeatures } = await import('../../src/model/augment.js');
  const rows = 10;
  const frames = 7;
  const count = 60;
  // Row r of every example holds r + 1 in every frame, so a row's value says where it came from.
  const x = new Float32Array(count * rows * frames);
  for (let e = 0; e < count; e++) for (let r = 0; r < rows; r++) x.fill(r + 1, (e * rows + r) * frames, (e * rows + r + 1) * frames);
  maskFeatures(x, count, rows, frames, { timeMasks: 0, maxTimeWidth: 0, rowMasks: 0, maxRowWidth: 0, maxRowShift: 2 }, createRng(8));
  const shifts = new Set<number>();
  for (let e = 0; e < count; e++) {
    const row = (r: number): number[] => Array.from(x.subarray((e * rows + r) * frames, (e * rows + r + 1) * frames));
    for (let r = 0; r < rows; r++) assert.ok(row(r).every((v) => v === (row(r)[0] as number)), `example ${e}: row ${r} is one source row`);
    // The middle row tells the shift; every row follows it, clamped at the edges.
    const shift = 5 - ((row(5)[0] as number) - 1);
    assert.ok(Math.abs(shift) <= 2, `example ${e}: shift ${shift}`);
    for (let r = 0; r < rows; r++) assert.equal(row(r)[0], Math.min(rows - 1, Math.max(0, r - shift)) + 1, `example ${e}, row ${r}, shift ${shift}`);
    shifts.add(shift);
  }
  assert.deepEqual([...shifts].sort((p, q) => p - q), [-2, -1, 0, 1, 2], 'every shift in -2..2 is drawn');
  // Without the option, no draw is spent on it: the masks of a recipe without the shift stay the same.
  const a = new Float32Array(4 * rows * frames).fill(1);
  const b = new Float32Array(4 * rows * frames).fill(1);
  maskFeatures(a, 4, rows, frames, { timeMasks: 1, maxTimeWidth: 3, rowMasks: 1, maxRowWidth: 2 }, createRng(9));
  maskFeatures(b, 4, rows, frames, { timeMasks: 1, maxTimeWidth: 3, rowMasks: 1, maxRowWidth: 2, maxRowShift: 0 }, createRng(9));
  assert.deepEqual(a, b);
});
