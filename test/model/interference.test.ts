import { test } from 'node:test';
import assert from 'node:assert/strict';
import { babble, clatter, interferenceBank, swell, tones } from '../../src/model/interference';
import { augmentClip, type AugmentOptions } from '../../src/model/augment';
import { RealPowerFFT } from '../../src/features/fft';
import { createRng } from '../../src/util/rng';

const RATE = 16000;
const rms = (x: Float32Array): number => Math.sqrt(x.reduce((a, v) => a + v * v, 0) / x.length);

/** Mean power spectrum over 2048-sample frames (rectangular window). */
function spectrum(x: Float32Array): Float64Array {
  const fft = new RealPowerFFT(2048);
  const win = new Float64Array(2048).fill(1);
  const frame = new Float64Array(1025);
  const sum = new Float64Array(1025);
  for (let off = 0; off + 2048 <= x.length; off += 2048) {
    fft.power(x, off, win, frame);
    for (let k = 0; k < sum.length; k++) sum[k] = (sum[k] as number) + (frame[k] as number);
  }
  return sum;
}

/** Geometric over arithmetic mean of the power spectrum: 1 for white noise, near 0 for tones. */
function flatness(x: Float32Array): number {
  const p = spectrum(x).subarray(1);
  let logSum = 0;
  let sum = 0;
  for (const v of p) {
    logSum += Math.log(v + 1e-20);
    sum += v;
  }
  return Math.exp(logSum / p.length) / (sum / p.length);
}

function kurtosis(x: Float32Array): number {
  const m = x.reduce((a, v) => a + v, 0) / x.length;
  let m2 = 0;
  let m4 = 0;
  for (const v of x) {
    m2 += (v - m) ** 2;
    m4 += (v - m) ** 4;
  }
  m2 /= x.length;
  m4 /= x.length;
  return m4 / (m2 * m2);
}

/** RMS of consecutive 100 ms blocks. */
function blockLevels(x: Float32Array): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1600 <= x.length; i += 1600) out.push(rms(x.subarray(i, i + 1600)));
  return out;
}

test('the bank holds every kind at unit RMS, is reproducible from its seed, and leaves babble out without speech', () => {
  const speech = [Float32Array.from({ length: 8000 }, (_, i) => Math.sin(i * 0.05) * Math.exp(-i / 3000))];
  const opts = { perKind: 3, length: 32000, sampleRate: RATE };
  const a = interferenceBank(speech, opts, createRng(1));
  assert.equal(a.length, 12);
  for (const x of a) {
    assert.equal(x.length, 32000);
    assert.ok(Math.abs(rms(x) - 1) < 1e-3, `rms ${rms(x)}`);
    assert.ok(x.every(Number.isFinite));
  }
  assert.deepEqual(interferenceBank(speech, opts, createRng(1)), a);
  assert.notDeepEqual(interferenceBank(speech, opts, createRng(2)), a);
  assert.equal(interferenceBank([], opts, createRng(1)).length, 9);
});

test('babble is the speech played backwards, never forwards', () => {
  // A rising chirp: reversed, it falls. Babble must correlate with the falling chirp only.
  const n = 4000;
  const chirp = Float32Array.from({ length: n }, (_, i) => Math.sin(2 * Math.PI * (200 + (i / n) * 1800) * (i / RATE)));
  const reversed = Float32Array.from(chirp).reverse();
  const b = babble([chirp], 24000, createRng(3));
  const bestCorrelation = (ref: Float32Array): number => {
    let best = 0;
    for (let lag = 0; lag + n <= b.length; lag += 1) {
      let s = 0;
      for (let i = 0; i < n; i += 2) s += (b[lag + i] as number) * (ref[i] as number);
      best = Math.max(best, Math.abs(s));
    }
    return best;
  };
  const back = bestCorrelation(reversed);
  const forth = bestCorrelation(chirp);
  assert.ok(back > 4 * forth, `reversed ${back.toFixed(1)} vs forwards ${forth.toFixed(1)}`);
});

test('tones are narrow-band, clatter is impulsive, swells change level; white noise is none of these', () => {
  const rng = createRng(11);
  const white = Float32Array.from({ length: 32000 }, () => rng.normal());
  const whiteFlat = flatness(white);
  assert.ok(whiteFlat > 0.5, `white flatness ${whiteFlat}`);
  for (let s = 0; s < 5; s++) {
    const t = tones(32000, RATE, createRng(100 + s));
    assert.ok(flatness(t) < 0.05, `tones flatness ${flatness(t)}`);
    const c = clatter(32000, RATE, createRng(200 + s));
    assert.ok(kurtosis(c) > 6, `clatter kurtosis ${kurtosis(c)}`);
  }
  assert.ok(Math.abs(kurtosis(white) - 3) < 0.3);
  // Swells: over several draws, the loudest 100 ms block is well above the quietest.
  let widest = 0;
  for (let s = 0; s < 5; s++) {
    const levels = blockLevels(swell(32000, RATE, createRng(300 + s)));
    widest = Math.max(widest, Math.max(...levels) / Math.min(...levels));
  }
  assert.ok(widest > 3, `largest swell ratio ${widest}`);
  const whiteLevels = blockLevels(white);
  assert.ok(Math.max(...whiteLevels) / Math.min(...whiteLevels) < 1.3);
});

test('augmentClip mixes the bank at the drawn SNR, and a zero share keeps the old draws', () => {
  const clip = Float32Array.from({ length: 16000 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / RATE));
  const bank = interferenceBank([], { perKind: 2, length: 32000, sampleRate: RATE }, createRng(4));
  const o: AugmentOptions = { maxShift: 0, noiseProbability: 1, snrDb: [10, 10], gainDb: [0, 0], speed: [1, 1], interference: 1 };
  // No background recordings: the bank alone supplies the noise, at exactly 10 dB below the clip.
  const y = augmentClip(clip, [], o, createRng(1), bank);
  const added = y.map((v, i) => v - (clip[i] as number));
  const snr = 20 * Math.log10(rms(clip) / rms(added));
  assert.ok(Math.abs(snr - 10) < 0.05, `SNR ${snr}`);
  // With recordings and a share of 0, the bank is never touched: same output as without it.
  const rec = [Float32Array.from({ length: 16000 }, (_, i) => Math.sin(i * 12.9898) * 0.1)];
  const off = { ...o, interference: 0 };
  assert.deepEqual(augmentClip(clip, rec, off, createRng(2), bank), augmentClip(clip, rec, off, createRng(2)));
  // A share of 1 with recordings present still takes the noise from the bank only.
  const fromBank = augmentClip(clip, rec, o, createRng(5), bank);
  const fromRec = augmentClip(clip, rec, { ...o, interference: 0 }, createRng(5), bank);
  assert.notDeepEqual(fromBank, fromRec);
});

test('the augmentation summary names the synthetic share, and only when there is one', async () => {
  const { describeAugmentation } = await import('../../src/model/pipeline.js');
  const { defaultAugmentOptions } = await import('../../src/model/augment.js');
  const o = defaultAugmentOptions(RATE);
  assert.equal(o.interference, 0.5);
  assert.match(describeAugmentation(o, null, RATE), /noise p 0\.8 at 0\.\.20 dB SNR, 50 % of it synthetic \(babble, tones, clatter, swells\)/);
  assert.doesNotMatch(describeAugmentation({ ...o, interference: 0 }, null, RATE), /synthetic/);
});
