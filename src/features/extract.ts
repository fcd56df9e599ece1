/**
 * Batch feature extraction: the one implementation behind training, `kws features`,
 * prediction and (through streaming.ts, which shares SpectralCore) the server.
 *
 * Pipeline per frame (librosa 0.8 defaults for the seed spec): pad (centre, reflect or
 * zeros) -> window -> |rfft|^2 -> sparse Slaney mel filterbank. Per window: dB with
 * amin 1e-10, the reference (a number, or the window's maximum) and the top_db floor
 * (relative to the window's maximum), then for MFCC the orthonormal DCT-II.
 * Arithmetic is float64; outputs are float32, row-major [rows][frames] like librosa.
 */
import { RealPowerFFT } from './fft';
import { dctMatrix, melFilterbank, paddedHann, type SparseFilterbank } from './filters';
import { AMIN, featureShape, frameCount, requireSpectral, type FeatureSpec, type SpectralParams } from './spec';

const DB_PER_NEPER = 10 / Math.LN10;

/** Where a padded sample comes from: numpy.pad 'reflect' (mirror without repeating the edge). */
function reflectIndex(idx: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let i = idx % period;
  if (i < 0) i += period;
  return i < n ? i : period - i;
}

/**
 * Everything spectral that depends only on the spec: the FFT, window, filterbank and
 * DCT tables, and scratch buffers. Not safe to share between concurrent users
 * (nothing in Node is concurrent within one thread, so one per extractor is enough).
 */
export class SpectralCore {
  readonly spec: FeatureSpec;
  readonly sp: SpectralParams;
  readonly nMels: number;
  /** Output rows per frame: nMfcc for MFCC, nMels for log-mel. */
  readonly rows: number;
  /** Offset of frame t's FFT input from t * hop (-nFft/2 when centred). */
  readonly frameShift: number;
  /** First and one-past-last nonzero sample of the analysis window inside the FFT frame. */
  readonly winStart: number;
  readonly winEnd: number;
  private readonly fft: RealPowerFFT;
  private readonly window: Float64Array;
  private readonly fb: SparseFilterbank;
  private readonly dct: Float64Array | null;
  private readonly power: Float64Array;
  private readonly frameBuf: Float32Array;
  private readonly logCol: Float64Array;
  private readonly foldSum: Float64Array;
  private readonly foldDiff: Float64Array;

  constructor(spec: FeatureSpec) {
    if (spec.kind === 'raw') throw new Error('SpectralCore needs an mfcc or logmel spec');
    const sp = requireSpectral(spec);
    this.spec = spec;
    this.sp = sp;
    this.nMels = sp.nMels;
    this.rows = spec.kind === 'mfcc' ? (spec.nMfcc as number) : sp.nMels;
    this.frameShift = sp.center ? -Math.floor(sp.nFft / 2) : 0;
    this.winStart = Math.floor((sp.nFft - sp.winLength) / 2);
    this.winEnd = this.winStart + sp.winLength;
    this.fft = new RealPowerFFT(sp.nFft);
    this.window = paddedHann(sp.winLength, sp.nFft);
    this.fb = melFilterbank(spec.sampleRate, sp.nFft, sp.nMels, sp.fmin, sp.fmax);
    this.dct = spec.kind === 'mfcc' ? dctMatrix(this.rows, sp.nMels) : null;
    this.power = new Float64Array(sp.nFft / 2 + 1);
    this.frameBuf = new Float32Array(sp.nFft);
    this.logCol = new Float64Array(sp.nMels);
    this.foldSum = new Float64Array(sp.nMels >> 1);
    this.foldDiff = new Float64Array(sp.nMels >> 1);
  }

  /** Mel power of the unpadded FFT frame buf[start .. start+nFft) into mel[off..off+nMels); returns its maximum. */
  melAt(buf: Float32Array, start: number, mel: Float64Array, off: number): number {
    this.fft.power(buf, start, this.window, this.power);
    const p = this.power;
    const { first, end, offset, weights } = this.fb;
    const nMels = this.nMels;
    let max = 0;
    for (let b = 0; b < nMels; b++) {
      const f = first[b];
      const e = end[b];
      const base = offset[b] - f;
      let acc = 0;
      for (let k = f; k < e; k++) acc += weights[base + k] * p[k];
      mel[off + b] = acc;
      if (acc > max) max = acc;
    }
    return max;
  }

  /**
   * Mel power of frame t of `signal` as librosa frames it (centre padding with the spec's
   * pad mode where the frame runs past either end); returns its maximum.
   */
  melFrame(signal: Float32Array, t: number, mel: Float64Array, off: number): number {
    const n = signal.length;
    const nFft = this.sp.nFft;
    const start = t * this.sp.hop + this.frameShift;
    if (start >= 0 && start + nFft <= n) return this.melAt(signal, start, mel, off);
    const buf = this.frameBuf;
    const reflect = this.sp.padMode === 'reflect' && n > 0;
    for (let i = 0; i < nFft; i++) {
      const idx = start + i;
      if (idx >= 0 && idx < n) buf[i] = signal[idx];
      else buf[i] = reflect ? signal[reflectIndex(idx, n)] : 0;
    }
    return this.melAt(buf, 0, mel, off);
  }

  /** dB reference and floor of a window whose largest mel power is maxMel (librosa power_to_db). */
  dbParams(maxMel: number): { refDb: number; floorDb: number } {
    const sp = this.sp;
    const refPower = sp.dbRef === 'max' ? maxMel : sp.dbRef;
    // Same expression as finishFrame's, so silence (everything clamped to amin) is exactly 0 dB.
    const refDb = DB_PER_NEPER * Math.log(Math.max(AMIN, refPower));
    const floorDb = sp.topDb === null ? -Infinity : DB_PER_NEPER * Math.log(Math.max(AMIN, maxMel)) - refDb - sp.topDb;
    return { refDb, floorDb };
  }

  /**
   * Finish one frame: dB (and DCT for MFCC) of mel[melOff..+nMels), written to
   * out[outOff + r * stride] for r < rows (stride = frames for row-major output, 1 for a column).
   */
  finishFrame(mel: Float64Array, melOff: number, refDb: number, floorDb: number, out: Float32Array, outOff: number, stride: number): void {
    const nMels = this.nMels;
    const dct = this.dct;
    // Powers at or below floorPower end on the floor anyway: skip their log (a large share
    // of the cells in quiet stretches). 10 log10 x = DB_PER_NEPER * ln x (Math.log is faster).
    const floorPower = Math.pow(10, (floorDb + refDb) / 10);
    const col = this.logCol;
    for (let i = 0; i < nMels; i++) {
      const m = mel[melOff + i] > AMIN ? mel[melOff + i] : AMIN;
      let v = floorDb;
      if (m > floorPower) {
        v = DB_PER_NEPER * Math.log(m) - refDb;
        if (v < floorDb) v = floorDb;
      }
      col[i] = v;
    }
    if (dct === null) {
      for (let i = 0; i < nMels; i++) out[outOff + i * stride] = col[i];
      return;
    }
    // DCT-II rows are symmetric (even j) or antisymmetric (odd j) about the middle, so
    // fold the input once and halve the multiply-adds.
    const half = nMels >> 1;
    const sum = this.foldSum;
    const diff = this.foldDiff;
    for (let i = 0; i < half; i++) {
      const a = col[i];
      const b = col[nMels - 1 - i];
      sum[i] = a + b;
      diff[i] = a - b;
    }
    const mid = nMels & 1 ? col[half] : 0;
    const rows = this.rows;
    for (let j = 0; j < rows; j++) {
      const base = j * nMels;
      const src = j & 1 ? diff : sum;
      // For odd nMels the middle input has weight cos(pi*j/2): 0 for odd j.
      let acc = j & 1 ? 0 : dct[base + half] * mid;
      for (let i = 0; i < half; i++) acc += dct[base + i] * src[i];
      out[outOff + j * stride] = acc;
    }
  }

  /** Finish a whole window: mel is frame-major [frames][nMels]; out is row-major [rows][frames]. */
  finish(mel: Float64Array, frames: number, maxMel: number, out: Float32Array): void {
    const { refDb, floorDb } = this.dbParams(maxMel);
    const nMels = this.nMels;
    for (let t = 0; t < frames; t++) this.finishFrame(mel, t * nMels, refDb, floorDb, out, t, frames);
  }
}

export interface FeatureArray {
  data: Float32Array;
  rows: number;
  frames: number;
}

/**
 * Features of one window (or any signal) for a spec. Reuses its internal buffers across
 * calls; the result goes into `out` when given (pass it in hot loops), else into a new array.
 */
export class FeatureExtractor {
  readonly spec: FeatureSpec;
  /** Shape of compute()'s result. */
  readonly rows: number;
  readonly frames: number;
  readonly size: number;
  private readonly core: SpectralCore | null;
  private mel: Float64Array;

  constructor(spec: FeatureSpec) {
    this.spec = spec;
    const shape = featureShape(spec);
    this.rows = shape.rows;
    this.frames = shape.frames;
    this.size = shape.rows * shape.frames;
    this.core = spec.kind === 'raw' ? null : new SpectralCore(spec);
    this.mel = new Float64Array(this.core ? this.frames * this.core.nMels : 0);
  }

  /** Features of one window of exactly spec.windowSamples samples, row-major [rows][frames]. */
  compute(window: Float32Array, out?: Float32Array): Float32Array {
    if (window.length !== this.spec.windowSamples) {
      throw new RangeError(`feature window must have ${this.spec.windowSamples} samples, got ${window.length} (use fitToWindow first)`);
    }
    const dest = out ?? new Float32Array(this.size);
    if (dest.length < this.size) throw new RangeError(`output buffer holds ${dest.length} values, needs ${this.size}`);
    if (this.core === null) {
      dest.set(window);
      return dest;
    }
    this.run(this.core, window, this.frames, dest);
    return dest;
  }

  /**
   * Features of a signal of any length (librosa on the whole array: the dB reference and
   * floor use the whole signal). For 'raw' the signal itself as [length][1].
   */
  computeSignal(signal: Float32Array, out?: Float32Array): FeatureArray {
    if (this.core === null) {
      const data = out ?? new Float32Array(signal.length);
      data.set(signal);
      return { data, rows: signal.length, frames: 1 };
    }
    const frames = frameCount(this.core.sp, signal.length);
    if (frames <= 0) {
      throw new RangeError(`signal of ${signal.length} samples is shorter than one FFT frame (${this.core.sp.nFft}) and the spec does not centre frames`);
    }
    const rows = this.core.rows;
    const data = out ?? new Float32Array(rows * frames);
    if (data.length < rows * frames) throw new RangeError(`output buffer holds ${data.length} values, needs ${rows * frames}`);
    this.run(this.core, signal, frames, data);
    return { data, rows, frames };
  }

  private run(core: SpectralCore, signal: Float32Array, frames: number, out: Float32Array): void {
    const nMels = core.nMels;
    if (this.mel.length < frames * nMels) this.mel = new Float64Array(frames * nMels);
    const mel = this.mel;
    let maxMel = 0;
    for (let t = 0; t < frames; t++) {
      const m = core.melFrame(signal, t, mel, t * nMels);
      if (m > maxMel) maxMel = m;
    }
    core.finish(mel, frames, maxMel, out);
  }
}

/** One-off convenience (allocates an extractor): features of a whole signal. */
export function extractFeatures(spec: FeatureSpec, signal: Float32Array): FeatureArray {
  return new FeatureExtractor(spec).computeSignal(signal);
}
