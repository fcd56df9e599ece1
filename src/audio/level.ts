/**
 * Loudness figures for int16 chunks.
 *
 * `rmsInt` is the original's figure, floor(sqrt(mean(s^2))) over int16 samples: the
 * silence threshold (default 30) is on this scale, so it must be reproduced exactly,
 * including the truncation. It is three lines over the int16 samples. Meyda's `rms` is
 * not the same figure: Meyda.extract applies its global window (Hann by default) before
 * every feature, which gave 1316 instead of 2152 on a test chunk; with the window set to
 * 'rect' it agrees, but it still needs a power-of-two frame (a file's last chunk is not)
 * and a float copy of every chunk. So the threshold figure is computed here.
 * Meyda does supply the zero-crossing rate shown by `kws rms --json` (see meter.ts).
 */

/** The original's integer RMS: floor(sqrt(mean(s^2))) of int16 samples; 0 for an empty chunk. */
export function rmsInt(chunk: Int16Array): number {
  return Math.floor(rmsExact(chunk));
}

/** sqrt(mean(s^2)) of int16 samples, not truncated. */
export function rmsExact(chunk: Int16Array): number {
  if (chunk.length === 0) return 0;
  let sum = 0;
  for (let i = 0; i < chunk.length; i++) {
    const v = chunk[i] as number;
    sum += v * v;
  }
  return Math.sqrt(sum / chunk.length);
}

/**
 * Decibels relative to full scale for an RMS on the int16 scale: a full-scale square
 * wave (rms 32768) is 0 dBFS, a full-scale sine -3.01 dBFS, rms 30 (the default
 * threshold) -60.8 dBFS. Silence gives -Infinity.
 */
export function dbfs(rms: number): number {
  return rms > 0 ? 20 * Math.log10(rms / 32768) : -Infinity;
}

/** The inverse of dbfs: the int16-scale RMS for a level in dBFS. */
export function rmsFromDbfs(db: number): number {
  return 32768 * 10 ** (db / 20);
}

/** Largest absolute int16 sample (32768 for a -32768 sample). */
export function peakInt(samples: Int16Array): number {
  let p = 0;
  for (let i = 0; i < samples.length; i++) {
    const v = Math.abs(samples[i] as number);
    if (v > p) p = v;
  }
  return p;
}

/** Format dBFS for people: one decimal, "-inf" for silence. */
export function formatDbfs(db: number): string {
  return Number.isFinite(db) ? db.toFixed(1) : '-inf';
}
