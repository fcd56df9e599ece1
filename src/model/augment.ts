/**
 * Training-time augmentation on the raw window, before features are computed, so
 * it works the same for every model type. Four perturbations a recording really
 * undergoes: another speaker talks faster or slower with a higher or lower voice
 * (speed perturbation: resampling moves pitch and formants together, the cheapest
 * stand-in for an unseen voice), the word starts at another moment (time shift),
 * the room is noisier (background noise at a random SNR), the speaker is nearer or
 * farther (gain). SpecAugment-style masks are in maskFeatures() below; the default
 * models apply them inside the network (layers.ts, KwsSpecAugment), and the pipeline
 * applies them to the features only for models whose defaults ask for it.
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
  /** Speed (resampling) factor range; [1, 1] switches it off. 1.1 = 10 % faster and higher. */
  speed: [number, number];
  /**
   * Share of the noisy clips whose noise comes from the synthetic interference bank
   * (interference.ts) instead of the background recordings; 0 switches the bank off.
   */
  interference: number;
}

/** SpecAugment: zeroed stripes on normalised features (0 = the training mean). */
export interface MaskOptions {
  /** Masks across time (whole frames) per example, each up to maxTimeWidth frames wide. */
  timeMasks: number;
  maxTimeWidth: number;
  /** Masks across feature rows (mel bands or coefficients), each up to maxRowWidth rows. */
  rowMasks: number;
  maxRowWidth: number;
  /**
   * Shift every row of an example by the same random -maxRowShift..+maxRowShift rows (edge rows
   * repeated), before the masks: on mel bands, a cheap vocal-tract-length perturbation (formants
   * of a longer or shorter vocal tract sit a few bands lower or higher). 0 or absent: off, and no
   * random draw for it, so recipes without it keep their exact draws. Meaningless on MFCC rows.
   */
  maxRowShift?: number;
}

export function defaultAugmentOptions(sampleRate: number): AugmentOptions {
  // 100 ms of shift keeps a 1 s window's word inside it; 0-20 dB SNR covers a quiet
  // room to a loud fan; +-6 dB is the difference between near and arm's length.
  // Speed 0.85-1.15 spans roughly +-2.5 semitones and +-15 % tempo, about the spread
  // between two adult speakers of the same sex; measured in docs/training.md.
  // Half the noise from the synthetic bank: the dataset's own background noise is the best guess
  // at the user's room, the bank covers the noise kinds it lacks; measured in docs/training.md.
  return { maxShift: Math.round(0.1 * sampleRate), noiseProbability: 0.8, snrDb: [0, 20], gainDb: [-6, 6], speed: [0.85, 1.15], interference: 0.5 };
}

/**
 * Resample `clip` by `factor` around its centre, keeping its length: the output at sample i
 * reads the input at c + (i - c) * factor (linear interpolation), zeros outside. A factor above 1
 * plays faster and higher (a 440 Hz tone becomes 440 * factor Hz) and shortens the word about the
 * window's centre, so a centred word stays centred. Linear interpolation has no anti-alias
 * filter; at factors up to ~1.2 only the top 1.3 kHz below Nyquist can fold back, where speech
 * has little energy, and it costs a fraction of a windowed-sinc resampler.
 */
export function speedPerturb(clip: Float32Array, factor: number): Float32Array {
  if (!(factor > 0) || !Number.isFinite(factor)) throw new RangeError(`speed factor must be a positive number, got ${factor}`);
  const n = clip.length;
  const out = new Float32Array(n);
  if (factor === 1) {
    out.set(clip);
    return out;
  }
  const c = (n - 1) / 2;
  for (let i = 0; i < n; i++) {
    const pos = c + (i - c) * factor;
    if (pos < 0 || pos > n - 1) continue;
    const k = Math.floor(pos);
    const f = pos - k;
    const a = clip[k] as number;
    out[i] = f === 0 ? a : a + f * ((clip[k + 1] as number) - a);
  }
  return out;
}

/**
 * A random shift of -max..+max rows (one draw), for maskFeatures and the default models' in-network
 * SpecAugment layer alike.
 */
export function drawRowShift(rng: Rng, max: number): number {
  return rng.int(2 * max + 1) - max;
}

/** The source row of row `r` after a shift of `shift` rows, edge rows repeated. */
export function shiftedSource(r: number, shift: number, rows: number): number {
  return Math.min(rows - 1, Math.max(0, r - shift));
}

/** The masks (and shift) in words, for the training log; `rowName` is what the rows are. */
export function describeMasks(m: MaskOptions, rowName: string): string {
  const shift = m.maxRowShift ? `, ${rowName} shifted by up to +-${m.maxRowShift}` : '';
  return `SpecAugment ${m.timeMasks}x<=${m.maxTimeWidth} frames, ${m.rowMasks}x<=${m.maxRowWidth} ${rowName}${shift}`;
}

/**
 * SpecAugment (Park et al. 2019) without time warping: zero `timeMasks` random runs of frames and
 * `rowMasks` random runs of rows in each normalised example, in place, after shifting its rows by a
 * random amount when `maxRowShift` is set. `x` holds `count` examples
 * of rows x frames values, row-major ([row][frame], the FeatureExtractor layout). Zero is the
 * training mean after normalisation, so a mask looks like "average speech here", not silence.
 */
export function maskFeatures(x: Float32Array, count: number, rows: number, frames: number, opts: MaskOptions, rng: Rng): void {
  const size = rows * frames;
  if (x.length < count * size) throw new RangeError(`maskFeatures: ${x.length} values cannot hold ${count} x ${rows} x ${frames}`);
  const maxShift = opts.maxRowShift ?? 0;
  const original = maxShift > 0 ? new Float32Array(size) : null;
  for (let e = 0; e < count; e++) {
    const base = e * size;
    if (original) {
      const shift = drawRowShift(rng, maxShift);
      if (shift !== 0) {
        original.set(x.subarray(base, base + size));
        for (let r = 0; r < rows; r++) {
          const from = shiftedSource(r, shift, rows);
          x.set(original.subarray(from * frames, (from + 1) * frames), base + r * frames);
        }
      }
    }
    for (let m = 0; m < opts.timeMasks; m++) {
      const w = rng.int(Math.min(opts.maxTimeWidth, frames) + 1);
      const t0 = rng.int(frames - w + 1);
      for (let r = 0; r < rows; r++) x.fill(0, base + r * frames + t0, base + r * frames + t0 + w);
    }
    for (let m = 0; m < opts.rowMasks; m++) {
      const w = rng.int(Math.min(opts.maxRowWidth, rows) + 1);
      const r0 = rng.int(rows - w + 1);
      x.fill(0, base + r0 * frames, base + (r0 + w) * frames);
    }
  }
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
 * background recordings, `interference` the synthetic bank; a random slice the length of the
 * clip is taken from one of them (looped if a recording is shorter).
 */
export function augmentClip(clip: Float32Array, noise: readonly Float32Array[], opts: AugmentOptions, rng: Rng, interference: readonly Float32Array[] = []): Float32Array {
  const [s0, s1] = opts.speed;
  // No draw when speed is off, so recipes without it keep their exact random sequence.
  const src = s0 === 1 && s1 === 1 ? clip : speedPerturb(clip, rng.uniform(s0, s1));
  const shift = opts.maxShift > 0 ? rng.int(2 * opts.maxShift + 1) - opts.maxShift : 0;
  const out = timeShift(src, shift);
  const gain = Math.pow(10, rng.uniform(opts.gainDb[0], opts.gainDb[1]) / 20);
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) * gain;
  const useBank = interference.length > 0 && opts.interference > 0;
  if ((noise.length > 0 || useBank) && rng.next() < opts.noiseProbability) {
    // No draw without a bank, so recipes without one keep their exact random sequence.
    const fromBank = useBank && (noise.length === 0 || rng.next() < opts.interference);
    const pool = fromBank ? interference : noise;
    const n = pool[rng.int(pool.length)] as Float32Array;
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
