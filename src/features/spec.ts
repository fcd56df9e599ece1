/**
 * The one feature definition. A FeatureSpec fully determines what a model sees:
 * training writes it into the model's metadata, and prediction and the server read
 * it back from there, so the three can never disagree.
 *
 * Owner: features. (Types here are a contract shared with model/ and stream/.)
 */
import { inputError } from '../util/errors';

export type FeatureKind = 'mfcc' | 'logmel' | 'raw';

/** How the STFT pads the signal edges when `center` is true (librosa's pad_mode). */
export type PadMode = 'reflect' | 'constant';

export interface SpectralParams {
  /** FFT size (librosa n_fft). */
  nFft: number;
  /** Analysis window length (<= nFft); the window is centred inside the FFT frame, as librosa does. */
  winLength: number;
  /** Hop between frames in samples. */
  hop: number;
  /** librosa center=True: pad nFft/2 on both sides so frame t is centred on sample t*hop. */
  center: boolean;
  padMode: PadMode;
  nMels: number;
  fmin: number;
  fmax: number;
  /**
   * Reference for dB: 'max' = the maximum of the whole window's mel power (librosa ref=np.max),
   * or a fixed number (librosa ref=1.0 for MFCC). A fixed reference keeps features frame-local.
   */
  dbRef: 'max' | number;
  /** Floor at (max over the whole window) - topDb, or null for no floor. */
  topDb: number | null;
}

export interface FeatureSpec {
  /** Version of this spec's schema, so old model folders stay readable. */
  specVersion: 1;
  kind: FeatureKind;
  sampleRate: number;
  /** Window length in samples: every clip is zero-padded or cropped to this. */
  windowSamples: number;
  /** Absent for kind 'raw'. */
  spectral?: SpectralParams;
  /** Number of cepstral coefficients, for kind 'mfcc'. */
  nMfcc?: number;
}

/** librosa's power_to_db amin: power below this is clamped before the log. */
export const AMIN = 1e-10;

export const FEATURE_KINDS: readonly FeatureKind[] = ['mfcc', 'logmel', 'raw'];

/** The notebooks' window: the longest training clip, 16384 samples (33 frames at hop 512). */
export const SEED_WINDOW_SAMPLES = 16384;

/**
 * Exactly the original's features: librosa 0.8 defaults at 16 kHz (n_fft 2048, hop 512,
 * periodic Hann 2048, center with reflect padding, 128 Slaney mels 0-8000 Hz, power 2;
 * MFCC: power_to_db(ref=1.0, top_db=80) then 40 ortho DCT-II coefficients;
 * log-mel: power_to_db(ref=np.max, top_db=80)).
 */
export function seedSpec(kind: FeatureKind, windowSamples = SEED_WINDOW_SAMPLES): FeatureSpec {
  if (kind === 'raw') return { specVersion: 1, kind, sampleRate: 16000, windowSamples };
  const spectral: SpectralParams = {
    nFft: 2048,
    winLength: 2048,
    hop: 512,
    center: true,
    padMode: 'reflect',
    nMels: 128,
    fmin: 0,
    fmax: 8000,
    dbRef: kind === 'mfcc' ? 1.0 : 'max',
    topDb: 80,
  };
  return kind === 'mfcc'
    ? { specVersion: 1, kind, sampleRate: 16000, windowSamples, spectral, nMfcc: 40 }
    : { specVersion: 1, kind, sampleRate: 16000, windowSamples, spectral };
}

/** Number of STFT frames for a signal of `n` samples (librosa's framing). */
export function frameCount(sp: SpectralParams, n: number): number {
  if (sp.center) return 1 + Math.floor(n / sp.hop);
  return n >= sp.nFft ? 1 + Math.floor((n - sp.nFft) / sp.hop) : 0;
}

/** Rows of the feature array: coefficients (mfcc), mel bands (logmel), samples (raw). */
export function featureRows(spec: FeatureSpec): number {
  if (spec.kind === 'raw') return spec.windowSamples;
  const sp = requireSpectral(spec);
  return spec.kind === 'mfcc' ? (spec.nMfcc as number) : sp.nMels;
}

/** Shape of what FeatureExtractor.compute returns, row-major [rows][frames] (raw: [windowSamples][1]). */
export function featureShape(spec: FeatureSpec): { rows: number; frames: number } {
  if (spec.kind === 'raw') return { rows: spec.windowSamples, frames: 1 };
  return { rows: featureRows(spec), frames: frameCount(requireSpectral(spec), spec.windowSamples) };
}

/** Number of floats in one feature array. */
export function featureSize(spec: FeatureSpec): number {
  const { rows, frames } = featureShape(spec);
  return rows * frames;
}

/** The model's input shape without the batch axis: [rows, frames, 1], or [windowSamples, 1] for raw. */
export function modelInputShape(spec: FeatureSpec): number[] {
  if (spec.kind === 'raw') return [spec.windowSamples, 1];
  const { rows, frames } = featureShape(spec);
  return [rows, frames, 1];
}

/**
 * True when every frame's features depend only on that frame's samples (a fixed dB
 * reference and no top_db floor), so a stream can cache finished frames.
 */
export function isFrameLocal(spec: FeatureSpec): boolean {
  return spec.kind !== 'raw' && spec.spectral !== undefined && typeof spec.spectral.dbRef === 'number' && spec.spectral.topDb === null;
}

export function requireSpectral(spec: FeatureSpec): SpectralParams {
  if (!spec.spectral) throw new Error(`feature spec of kind ${spec.kind} has no spectral parameters`);
  return spec.spectral;
}

/** One line for logs and `kws features`: what the model sees. */
export function describeSpec(spec: FeatureSpec): string {
  const secs = (spec.windowSamples / spec.sampleRate).toFixed(3).replace(/\.?0+$/, '');
  if (spec.kind === 'raw') return `raw waveform, ${spec.windowSamples} samples (${secs} s) at ${spec.sampleRate} Hz`;
  const sp = requireSpectral(spec);
  const { rows, frames } = featureShape(spec);
  const what = spec.kind === 'mfcc' ? `MFCC ${spec.nMfcc} coefficients from ${sp.nMels} mel bands` : `log-mel ${sp.nMels} bands`;
  const win = sp.winLength === sp.nFft ? `window ${sp.nFft}` : `window ${sp.winLength} in FFT ${sp.nFft}`;
  const pad = sp.center ? `centred, ${sp.padMode} padding` : 'not centred';
  const ref = sp.dbRef === 'max' ? 'ref max' : `ref ${sp.dbRef}`;
  const top = sp.topDb === null ? 'no top_db' : `top_db ${sp.topDb}`;
  return `${what} (${rows} x ${frames} frames per window), ${win}, hop ${sp.hop}, ${pad}, ${sp.fmin}-${sp.fmax} Hz, dB ${ref}, ${top}; ${spec.windowSamples} samples (${secs} s) at ${spec.sampleRate} Hz`;
}

// ---------------------------------------------------------------------------
// Validation of a spec read from JSON (model metadata, files a person edited).

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function posInt(obj: Record<string, unknown>, key: string, where: string, problems: string[]): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    problems.push(`${where}${key} must be a positive integer (got ${JSON.stringify(v)})`);
    return 1;
  }
  return v;
}

function finiteNum(obj: Record<string, unknown>, key: string, where: string, problems: string[]): number {
  const v = obj[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    problems.push(`${where}${key} must be a number (got ${JSON.stringify(v)})`);
    return 0;
  }
  return v;
}

/**
 * Check a spec read from JSON. Every problem is listed in one inputError naming `source`
 * (the file it came from), so a person can fix the file in one go.
 */
export function parseFeatureSpec(json: unknown, source: string): FeatureSpec {
  const problems: string[] = [];
  if (!isRecord(json)) throw inputError(`${source}: the feature spec must be a JSON object`);
  if (json.specVersion !== 1) problems.push(`specVersion must be 1 (got ${JSON.stringify(json.specVersion)}); this kws reads version 1 specs`);
  const kind = json.kind;
  if (kind !== 'mfcc' && kind !== 'logmel' && kind !== 'raw') {
    throw inputError(`${source}: feature kind must be one of ${FEATURE_KINDS.join(', ')} (got ${JSON.stringify(kind)})`);
  }
  const sampleRate = posInt(json, 'sampleRate', '', problems);
  const windowSamples = posInt(json, 'windowSamples', '', problems);
  let spectral: SpectralParams | undefined;
  let nMfcc: number | undefined;
  if (kind !== 'raw') {
    const s = json.spectral;
    if (!isRecord(s)) {
      problems.push(`spectral parameters are missing (kind ${kind} needs nFft, hop, nMels, ...)`);
    } else {
      const w = 'spectral.';
      const nFft = posInt(s, 'nFft', w, problems);
      const winLength = posInt(s, 'winLength', w, problems);
      const hop = posInt(s, 'hop', w, problems);
      const nMels = posInt(s, 'nMels', w, problems);
      const fmin = finiteNum(s, 'fmin', w, problems);
      const fmax = finiteNum(s, 'fmax', w, problems);
      if (nFft & (nFft - 1) || nFft < 8) problems.push(`spectral.nFft must be a power of two >= 8 (got ${nFft})`);
      if (winLength > nFft) problems.push(`spectral.winLength (${winLength}) must not exceed nFft (${nFft})`);
      if (typeof s.center !== 'boolean') problems.push(`spectral.center must be true or false`);
      const center = s.center === true;
      if (s.padMode !== 'reflect' && s.padMode !== 'constant') problems.push(`spectral.padMode must be "reflect" or "constant" (got ${JSON.stringify(s.padMode)})`);
      const padMode: PadMode = s.padMode === 'constant' ? 'constant' : 'reflect';
      if (fmin < 0 || fmax <= fmin || fmax > sampleRate / 2) {
        problems.push(`spectral.fmin/fmax must satisfy 0 <= fmin < fmax <= sampleRate/2 (got ${fmin}, ${fmax})`);
      }
      let dbRef: 'max' | number = 1;
      if (s.dbRef === 'max') dbRef = 'max';
      else if (typeof s.dbRef === 'number' && Number.isFinite(s.dbRef) && s.dbRef > 0) dbRef = s.dbRef;
      else problems.push(`spectral.dbRef must be "max" or a positive number (got ${JSON.stringify(s.dbRef)})`);
      let topDb: number | null = null;
      if (s.topDb === null) topDb = null;
      else if (typeof s.topDb === 'number' && Number.isFinite(s.topDb) && s.topDb >= 0) topDb = s.topDb;
      else problems.push(`spectral.topDb must be null or a non-negative number (got ${JSON.stringify(s.topDb)})`);
      spectral = { nFft, winLength, hop, center, padMode, nMels, fmin, fmax, dbRef, topDb };
      if (!center && windowSamples < nFft) problems.push(`windowSamples (${windowSamples}) must be at least nFft (${nFft}) when center is false`);
    }
    if (kind === 'mfcc') {
      nMfcc = posInt(json, 'nMfcc', '', problems);
      if (spectral && nMfcc > spectral.nMels) problems.push(`nMfcc (${nMfcc}) must not exceed nMels (${spectral.nMels})`);
    }
  }
  if (problems.length > 0) {
    throw inputError(`${source}: invalid feature spec:\n  - ${problems.join('\n  - ')}`, 'Fix the file, or retrain the model so it writes a valid spec.');
  }
  const spec: FeatureSpec = { specVersion: 1, kind, sampleRate, windowSamples };
  if (spectral) spec.spectral = spectral;
  if (nMfcc !== undefined) spec.nMfcc = nMfcc;
  return spec;
}

/** Two specs describe the same features (used to check stats and models agree). */
export function sameSpec(a: FeatureSpec, b: FeatureSpec): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(s: FeatureSpec): unknown {
  const sp = s.spectral;
  return [
    s.specVersion,
    s.kind,
    s.sampleRate,
    s.windowSamples,
    s.nMfcc ?? null,
    sp ? [sp.nFft, sp.winLength, sp.hop, sp.center, sp.padMode, sp.nMels, sp.fmin, sp.fmax, sp.dbRef, sp.topDb] : null,
  ];
}
