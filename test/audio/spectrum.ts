/**
 * Test helper: the spectrum of a signal, for checking tones, harmonics and aliases.
 * A 4-term Blackman-Harris window keeps leakage below -92 dB, so a spur we report
 * at -60 dB is really in the signal and not the window's side lobes.
 */
import FFT from 'fft.js';

export interface Spectrum {
  /** Magnitude in dB relative to a full-scale sine (0 dB = amplitude 1), per bin. */
  db: Float64Array;
  binHz: number;
}

export function spectrum(x: Float32Array, rate: number, size = 8192): Spectrum {
  if (x.length < size) throw new Error(`spectrum: need ${size} samples, got ${x.length}`);
  // Analyse the middle of the signal, away from start/end transients.
  const start = Math.floor((x.length - size) / 2);
  const a = [0.35875, 0.48829, 0.14128, 0.01168];
  const input = new Array<number>(size);
  let wsum = 0;
  for (let i = 0; i < size; i++) {
    const p = (2 * Math.PI * i) / (size - 1);
    const w = (a[0] as number) - (a[1] as number) * Math.cos(p) + (a[2] as number) * Math.cos(2 * p) - (a[3] as number) * Math.cos(3 * p);
    wsum += w;
    input[i] = (x[start + i] as number) * w;
  }
  const fft = new FFT(size);
  const out = fft.createComplexArray() as number[];
  fft.realTransform(out, input);
  const db = new Float64Array(size / 2 + 1);
  for (let k = 0; k <= size / 2; k++) {
    const re = out[2 * k] as number;
    const im = out[2 * k + 1] as number;
    // A sine of amplitude A gives a peak of A * wsum / 2.
    const mag = (2 * Math.sqrt(re * re + im * im)) / wsum;
    db[k] = 20 * Math.log10(Math.max(mag, 1e-20));
  }
  return { db, binHz: rate / size };
}

/** The strongest bin, in Hz and dB. */
export function peak(s: Spectrum): { hz: number; db: number; bin: number } {
  let best = 0;
  for (let k = 1; k < s.db.length; k++) if ((s.db[k] as number) > (s.db[best] as number)) best = k;
  return { hz: best * s.binHz, db: s.db[best] as number, bin: best };
}

/** The strongest bin outside +-`guard` bins of `bin` (harmonics, aliases, noise), in dB. */
export function worstSpur(s: Spectrum, bin: number, guard = 6): { hz: number; db: number } {
  let best = -Infinity;
  let at = 0;
  for (let k = 0; k < s.db.length; k++) {
    if (Math.abs(k - bin) <= guard) continue;
    if ((s.db[k] as number) > best) {
      best = s.db[k] as number;
      at = k;
    }
  }
  return { hz: at * s.binHz, db: best };
}

export function sine(freq: number, rate: number, seconds: number, amplitude = 0.5): Float32Array {
  const n = Math.round(rate * seconds);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / rate);
  return x;
}
