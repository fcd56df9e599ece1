/**
 * Training-time augmentation on the raw window, before features are computed, so
 * it works the same for every model type. Three perturbations a recording really
 * undergoes: the word starts at another moment (time shift), the room is noisier
 * (background noise at a random SNR), the speaker is nearer or farther (gain).
 * All draws come from a seeded generator: the same seed gives the same epochs.
 *
 * Owner: training.
 */
import type { Rng } from '../util/rng';

export interface AugmentOptions {
  /** Largest shift either way, in samples. */
  maxShift: number;
  /** Probability that a clip gets background noise mixed in. */
  noiseProbability: number;
  /** Signal-to-noise ratio range in dB. */
  snrDb: [number, number];
  /** Gain range in dB. */
  gainDb: [number, number];
}

export function defaultAugmentOptions(sampleRate: number): AugmentOptions {
  // 100 ms of shift keeps a 1 s window's word inside it; 0-20 dB SNR covers a quiet
  // room to a loud fan; +-6 dB is the difference between near and arm's length.
  return { maxShift: Math.round(0.1 * sampleRate), noiseProbability: 0.8, snrDb: [0, 20], gainDb: [-6, 6] };
}

function rms(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (x[i] as number);
  return Math.sqrt(s / Math.max(1, x.length));
}

/** Shift by `shift` samples (positive = later), filling the gap with zeros. */
export function timeShift(clip: Float32Array, shift: number): Float32Array {
  const out = new Float32Array(clip.length);
  if (shift >= 0) out.set(clip.subarray(0, Math.max(0, clip.length - shift)), shift);
  else out.set(clip.subarray(-shift));
  return out;
}

/**
 * Returns a new, perturbed copy of `clip` (never modifies it). `noise` is a list of
 * background recordings; a random slice the length of the clip is taken (looped if
 * a recording is shorter).
 */
export function augmentClip(clip: Float32Array, noise: readonly Float32Array[], opts: AugmentOptions, rng: Rng): Float32Array {
  const shift = opts.maxShift > 0 ? rng.int(2 * opts.maxShift + 1) - opts.maxShift : 0;
  const out = timeShift(clip, shift);
  const gain = Math.pow(10, rng.uniform(opts.gainDb[0], opts.gainDb[1]) / 20);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * gain;
  if (noise.length > 0 && rng.next() < opts.noiseProbability) {
    const n = noise[rng.int(noise.length)] as Float32Array;
    if (n.length > 0) {
      const start = rng.int(n.length);
      const snr = rng.uniform(opts.snrDb[0], opts.snrDb[1]);
      const sig = rms(out);
      let nr = 0;
      for (let i = 0; i < out.length; i++) {
        const v = n[(start + i) % n.length] as number;
        nr += v * v;
      }
      nr = Math.sqrt(nr / out.length);
      // A near-silent clip (e.g. a background one) gets noise at its own level
      // relative to full scale instead of an exploding ratio.
      const ref = sig > 1e-4 ? sig : 0.01;
      const scale = nr > 1e-9 ? ref / nr / Math.pow(10, snr / 20) : 0;
      for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + scale * (n[(start + i) % n.length] as number);
    }
  }
  // Keep the result a valid recording: a real microphone clips at full scale.
  for (let i = 0; i < out.length; i++) {
    const v = out[i] as number;
    if (v > 1) out[i] = 1;
    else if (v < -1) out[i] = -1;
  }
  return out;
}
