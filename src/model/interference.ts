/**
 * Synthetic interference: noise recordings made up at training time, so that a model does not
 * learn the one kind of noise its dataset happens to contain.
 *
 * A dataset's `_background_` folder holds whatever noise its author recorded or generated. The
 * shared keyword set has only steady coloured noise and mains hum; a model trained on it alone
 * took babble, music and clatter for words (docs/training.md, "Noise the dataset does not
 * have"). Rooms have talkers, tones and transients, so the bank mixes four families, each with
 * wide random parameters rather than a model of any one recording:
 *
 * - babble: several training utterances played backwards and overlapped. Reversed speech has
 *   speech's spectrum and rhythm but none of the keywords' order of sounds, so it can be mixed
 *   into any clip, `_background_` included, without making its label wrong;
 * - tones: harmonic complexes whose pitch jumps now and then (beeps, whines, motors, music);
 * - clatter: random clicks and knocks, each a decaying burst of filtered noise;
 * - coloured noise that swells and fades (wind, traffic, fans), with a random spectral tilt
 *   and one random resonance.
 *
 * Owner: training.
 */
import type { Rng } from '../util/rng';

export type InterferenceKind = 'babble' | 'tones' | 'clatter' | 'swell';
export const INTERFERENCE_KINDS: readonly InterferenceKind[] = ['babble', 'tones', 'clatter', 'swell'];

export interface InterferenceBankOptions {
  /** Recordings per kind. */
  perKind: number;
  /** Length of each recording in samples (a random slice of it is mixed into a clip). */
  length: number;
  sampleRate: number;
}

function normalise(x: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += (x[i] as number) * (x[i] as number);
  const r = Math.sqrt(s / Math.max(1, x.length));
  if (r > 1e-9) for (let i = 0; i < x.length; i++) x[i] = (x[i] as number) / r;
  return x;
}

/** Two-pole resonator (a biquad band-pass, constant 0 dB peak gain), applied in place. */
function bandPass(x: Float32Array, centreHz: number, q: number, sampleRate: number): void {
  const w = (2 * Math.PI * Math.min(centreHz, 0.45 * sampleRate)) / sampleRate;
  const alpha = Math.sin(w) / (2 * q);
  const a0 = 1 + alpha;
  const b0 = alpha / a0;
  const b2 = -alpha / a0;
  const a1 = (-2 * Math.cos(w)) / a0;
  const a2 = (1 - alpha) / a0;
  let x1 = 0;
  let x2 = 0;
  let y1 = 0;
  let y2 = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    const y = b0 * v + b2 * x2 - a1 * y1 - a2 * y2;
    x2 = x1;
    x1 = v;
    y2 = y1;
    y1 = y;
    x[i] = y;
  }
}

/**
 * White noise tilted by `tilt` (0 = white, towards 1 = brown): a mix of the white noise and its
 * leaky integral, which falls at 6 dB per octave above a few hertz.
 */
function tiltedNoise(n: number, tilt: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  let integ = 0;
  for (let i = 0; i < n; i++) {
    const w = rng.normal();
    integ = 0.995 * integ + 0.1 * w;
    out[i] = (1 - tilt) * w + tilt * integ * 3;
  }
  return out;
}

/** Reversed training utterances, three to six at a time, overlapped at random places. */
export function babble(speech: readonly Float32Array[], n: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  if (speech.length === 0) return out;
  const talkers = 3 + rng.int(4);
  for (let t = 0; t < talkers; t++) {
    let pos = rng.int(n);
    const gain = Math.pow(10, rng.uniform(-10, 0) / 20);
    // Each talker keeps talking for the whole recording, one reversed utterance after another.
    for (let guard = 0; guard < 64; guard++) {
      const clip = normalise(Float32Array.from(speech[rng.int(speech.length)] as Float32Array).reverse());
      for (let i = 0; i < clip.length; i++) {
        const j = (pos + i) % n;
        out[j] = (out[j] as number) + gain * (clip[i] as number);
      }
      pos += clip.length;
      if (pos >= n + n / 2) break;
    }
  }
  return normalise(out);
}

/** Harmonic complexes whose fundamental jumps every 0.1-1 s, with a little vibrato. */
export function tones(n: number, sampleRate: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  let i = 0;
  while (i < n) {
    const len = Math.round(rng.uniform(0.1, 1) * sampleRate);
    const f0 = 60 * Math.pow(2, rng.uniform(0, 5)); // 60 Hz to 1.9 kHz
    const harmonics = 1 + rng.int(8);
    const decay = rng.uniform(0.5, 2);
    const vibHz = rng.uniform(0, 6);
    const vibDepth = rng.uniform(0, 0.01);
    const fade = rng.next() < 0.5 ? rng.uniform(0, 6) : 0; // some notes die away, some hold
    const phase = new Float64Array(harmonics);
    for (let h = 0; h < harmonics; h++) phase[h] = rng.uniform(0, 2 * Math.PI);
    for (let k = 0; k < len && i + k < n; k++) {
      const t = k / sampleRate;
      const f = f0 * (1 + vibDepth * Math.sin(2 * Math.PI * vibHz * t));
      let v = 0;
      for (let h = 0; h < harmonics; h++) {
        const fh = f * (h + 1);
        if (fh >= 0.45 * sampleRate) break;
        phase[h] = ((phase[h] as number) + (2 * Math.PI * fh) / sampleRate) % (2 * Math.PI);
        v += Math.sin(phase[h] as number) / Math.pow(h + 1, decay);
      }
      out[i + k] = v * Math.exp(-fade * t) * Math.min(1, k / (0.005 * sampleRate));
    }
    i += len;
  }
  return normalise(out);
}

/** Clicks and knocks: decaying bursts of band-passed noise at 1-40 per second, over faint hiss. */
export function clatter(n: number, sampleRate: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  const hiss = rng.uniform(0, 0.05);
  for (let i = 0; i < n; i++) out[i] = hiss * rng.normal();
  const rate = rng.uniform(1, 40);
  let pos = 0;
  for (;;) {
    pos += Math.round((-Math.log(1 - rng.next()) / rate) * sampleRate);
    if (pos >= n) break;
    const len = Math.round(rng.uniform(0.002, 0.08) * sampleRate);
    const burst = tiltedNoise(len, rng.uniform(0, 0.8), rng);
    bandPass(burst, 200 * Math.pow(2, rng.uniform(0, 5)), rng.uniform(0.7, 5), sampleRate);
    const amp = Math.pow(10, rng.uniform(-20, 0) / 20);
    const tau = len / rng.uniform(2, 6);
    for (let k = 0; k < len && pos + k < n; k++) out[pos + k] = (out[pos + k] as number) + amp * (burst[k] as number) * Math.exp(-k / tau) * 4;
  }
  return normalise(out);
}

/** Tilted noise with one resonance, swelling and fading at 0.1-3 Hz. */
export function swell(n: number, sampleRate: number, rng: Rng): Float32Array {
  const base = tiltedNoise(n, rng.uniform(0, 1), rng);
  const res = Float32Array.from(base);
  bandPass(res, 100 * Math.pow(2, rng.uniform(0, 6)), rng.uniform(0.5, 4), sampleRate);
  normalise(res);
  normalise(base);
  const mix = rng.uniform(0, 1);
  const rateHz = rng.uniform(0.1, 3);
  const depth = rng.uniform(0, 0.9);
  const ph = rng.uniform(0, 2 * Math.PI);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const env = 1 + depth * Math.sin((2 * Math.PI * rateHz * i) / sampleRate + ph);
    out[i] = env * ((1 - mix) * (base[i] as number) + mix * (res[i] as number));
  }
  return normalise(out);
}

/**
 * `perKind` recordings of every kind, each `length` samples at unit RMS. `speech` is the
 * training clips that hold speech (babble is made from them; with none, babble is left out).
 */
export function interferenceBank(speech: readonly Float32Array[], opts: InterferenceBankOptions, rng: Rng): Float32Array[] {
  const bank: Float32Array[] = [];
  for (const kind of INTERFERENCE_KINDS) {
    if (kind === 'babble' && speech.length === 0) continue;
    for (let k = 0; k < opts.perKind; k++) {
      if (kind === 'babble') bank.push(babble(speech, opts.length, rng));
      else if (kind === 'tones') bank.push(tones(opts.length, opts.sampleRate, rng));
      else if (kind === 'clatter') bank.push(clatter(opts.length, opts.sampleRate, rng));
      else bank.push(swell(opts.length, opts.sampleRate, rng));
    }
  }
  return bank;
}
