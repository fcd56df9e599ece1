/**
 * The fixed per-spec tables: analysis window, Slaney mel filterbank and DCT-II matrix,
 * built once in float64 exactly as librosa builds them (librosa.filters.mel with
 * htk=False, norm='slaney'; scipy.fft.dct(norm='ortho')).
 */

/** Periodic Hann of `winLength` (scipy get_window('hann', n, fftbins=True)), centred in `nFft` zeros as librosa pads it. */
export function paddedHann(winLength: number, nFft: number): Float64Array {
  const w = new Float64Array(nFft);
  const lpad = Math.floor((nFft - winLength) / 2);
  for (let n = 0; n < winLength; n++) w[lpad + n] = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / winLength);
  return w;
}

const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP; // 15
const LOG_STEP = Math.log(6.4) / 27;

/** Slaney mel scale (librosa hz_to_mel, htk=False): linear below 1 kHz, logarithmic above. */
export function hzToMel(f: number): number {
  return f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) / LOG_STEP : f / F_SP;
}

export function melToHz(m: number): number {
  return m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (m - MIN_LOG_MEL)) : F_SP * m;
}

/**
 * A mel filterbank stored sparsely: band b has weights[offset[b] + (k - first[b])] for
 * FFT bins first[b] <= k < end[b], zero elsewhere. Each bin feeds at most two bands, so
 * applying it costs about 2 * (nFft/2 + 1) multiply-adds instead of nMels * (nFft/2 + 1).
 */
export interface SparseFilterbank {
  nMels: number;
  nBins: number;
  first: Int32Array;
  end: Int32Array;
  offset: Int32Array;
  weights: Float64Array;
}

/** Band edge frequencies in Hz: nMels + 2 points evenly spaced on the Slaney mel scale. */
export function melEdgesHz(nMels: number, fmin: number, fmax: number): Float64Array {
  const lo = hzToMel(fmin);
  const hi = hzToMel(fmax);
  const edges = new Float64Array(nMels + 2);
  // np.linspace: lo + i * step, with the last point exactly hi.
  const step = (hi - lo) / (nMels + 1);
  for (let i = 0; i < nMels + 2; i++) edges[i] = melToHz(i === nMels + 1 ? hi : lo + i * step);
  return edges;
}

/** librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney') as dense rows [nMels][nFft/2+1]. */
export function melFilterbankDense(sampleRate: number, nFft: number, nMels: number, fmin: number, fmax: number): Float64Array[] {
  const nBins = Math.floor(nFft / 2) + 1;
  const hz = melEdgesHz(nMels, fmin, fmax);
  const rows: Float64Array[] = [];
  for (let i = 0; i < nMels; i++) {
    const row = new Float64Array(nBins);
    const d0 = hz[i + 1] - hz[i];
    const d1 = hz[i + 2] - hz[i + 1];
    const enorm = 2 / (hz[i + 2] - hz[i]);
    for (let k = 0; k < nBins; k++) {
      const fk = (k * sampleRate) / nFft; // librosa fft_frequencies
      const lower = (fk - hz[i]) / d0;
      const upper = (hz[i + 2] - fk) / d1;
      const w = Math.max(0, Math.min(lower, upper));
      row[k] = w * enorm;
    }
    rows.push(row);
  }
  return rows;
}

export function melFilterbank(sampleRate: number, nFft: number, nMels: number, fmin: number, fmax: number): SparseFilterbank {
  const dense = melFilterbankDense(sampleRate, nFft, nMels, fmin, fmax);
  const nBins = Math.floor(nFft / 2) + 1;
  const first = new Int32Array(nMels);
  const end = new Int32Array(nMels);
  const offset = new Int32Array(nMels);
  const w: number[] = [];
  for (let b = 0; b < nMels; b++) {
    const row = dense[b];
    let lo = 0;
    while (lo < nBins && row[lo] === 0) lo++;
    let hi = nBins;
    while (hi > lo && row[hi - 1] === 0) hi--;
    first[b] = lo;
    end[b] = hi;
    offset[b] = w.length;
    for (let k = lo; k < hi; k++) w.push(row[k]);
  }
  return { nMels, nBins, first, end, offset, weights: Float64Array.from(w) };
}

/** Orthonormal DCT-II rows 0..nOut-1 over nIn inputs (scipy.fft.dct(type=2, norm='ortho')[:nOut]), row-major. */
export function dctMatrix(nOut: number, nIn: number): Float64Array {
  const m = new Float64Array(nOut * nIn);
  for (let j = 0; j < nOut; j++) {
    const s = j === 0 ? Math.sqrt(1 / nIn) : Math.sqrt(2 / nIn);
    for (let i = 0; i < nIn; i++) m[j * nIn + i] = s * Math.cos((Math.PI * j * (2 * i + 1)) / (2 * nIn));
  }
  return m;
}
