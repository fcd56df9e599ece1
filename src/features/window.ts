/**
 * Fitting a clip to the model's window (spec.windowSamples).
 *
 * Shorter clips are zero-padded, as the notebooks did: at a random offset for training
 * (`random`, drawn from a seeded Rng so runs are reproducible), in the middle for
 * inference (`centre`), or at the start (`start`).
 *
 * Longer clips (the original crashed on them): every mode keeps the loudest
 * window-length stretch, i.e. the window-length span with the largest sum of squared
 * samples (the earliest one on ties). A keyword recorded with a long lead-in or tail
 * is then cut around the word rather than arbitrarily, and the rule is deterministic,
 * so training and inference crop the same clip the same way.
 */
import type { Rng } from '../util/rng';

export type FitMode = 'random' | 'centre' | 'start';

export const FIT_MODES: readonly FitMode[] = ['random', 'centre', 'start'];

export interface FitOptions {
  mode: FitMode;
  /** Required for mode 'random'. */
  rng?: Rng;
  /** Write here (length windowSamples) instead of allocating. */
  out?: Float32Array;
}

/** Start of the loudest `len`-sample stretch of `clip` (clip.length >= len). */
export function loudestStart(clip: Float32Array, len: number): number {
  let energy = 0;
  for (let i = 0; i < len; i++) energy += clip[i] * clip[i];
  let best = energy;
  let bestStart = 0;
  for (let s = 1; s + len <= clip.length; s++) {
    const add = clip[s + len - 1];
    const drop = clip[s - 1];
    energy += add * add - drop * drop;
    // A running sum drifts; the tolerance keeps ties with the earliest start.
    if (energy > best * (1 + 1e-12) + 1e-12) {
      best = energy;
      bestStart = s;
    }
  }
  return bestStart;
}

export function fitToWindow(clip: Float32Array, windowSamples: number, opts: FitOptions): Float32Array {
  const out = opts.out ?? new Float32Array(windowSamples);
  if (out.length !== windowSamples) throw new RangeError(`fitToWindow output must have ${windowSamples} samples, got ${out.length}`);
  if (clip.length >= windowSamples) {
    const start = clip.length === windowSamples ? 0 : loudestStart(clip, windowSamples);
    out.set(clip.subarray(start, start + windowSamples));
    return out;
  }
  const room = windowSamples - clip.length;
  let offset: number;
  switch (opts.mode) {
    case 'random':
      if (!opts.rng) throw new Error("fitToWindow mode 'random' needs an rng (src/util/rng.ts createRng(seed))");
      // Any offset 0..room inclusive, so the clip can touch either end.
      offset = opts.rng.int(room + 1);
      break;
    case 'centre':
      offset = Math.floor(room / 2);
      break;
    case 'start':
      offset = 0;
      break;
  }
  out.fill(0, 0, offset);
  out.set(clip, offset);
  out.fill(0, offset + clip.length);
  return out;
}
