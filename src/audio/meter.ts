/**
 * One reading of the live level meter (`kws rms`): the original's integer RMS, dBFS,
 * the peak, and two shape features from Meyda that help tell a voice from hiss or hum
 * when choosing a threshold: the zero-crossing rate (hiss is high, hum is low) and the
 * spectral centroid. Meyda needs power-of-two frames; the odd-sized last chunk of a
 * file gets null for those two.
 */
import Meyda from 'meyda';
import { dbfs, peakInt, rmsExact } from './level';

export interface MeterReading {
  /** Chunk number from 0. */
  chunk: number;
  /** Time of the chunk's end, in seconds from the start of the input. */
  t: number;
  /** The original's figure: floor(sqrt(mean(s^2))). */
  rms: number;
  dbfs: number;
  peak: number;
  /** Zero crossings per second (Meyda zcr scaled by the chunk duration). */
  zcrPerSecond: number | null;
  /** Spectral centroid in Hz (Meyda, Hann window). */
  centroidHz: number | null;
  /** Above the silence threshold: would start or continue a clip in `kws record`. */
  loud: boolean;
}

function isPowerOfTwo(n: number): boolean {
  return n > 1 && (n & (n - 1)) === 0;
}

export function readChunk(chunk: Int16Array, index: number, endSample: number, sampleRate: number, threshold: number): MeterReading {
  const exact = rmsExact(chunk);
  const rms = Math.floor(exact);
  let zcr: number | null = null;
  let centroid: number | null = null;
  if (isPowerOfTwo(chunk.length)) {
    const x = new Float32Array(chunk.length);
    for (let i = 0; i < chunk.length; i++) x[i] = (chunk[i] as number) / 32768;
    Meyda.bufferSize = chunk.length;
    Meyda.sampleRate = sampleRate;
    Meyda.windowingFunction = 'hanning';
    const f = Meyda.extract(['zcr', 'spectralCentroid'], x);
    if (f && typeof f.zcr === 'number') zcr = (f.zcr * sampleRate) / chunk.length;
    if (f && typeof f.spectralCentroid === 'number' && Number.isFinite(f.spectralCentroid)) centroid = (f.spectralCentroid * sampleRate) / chunk.length;
  }
  return { chunk: index, t: endSample / sampleRate, rms, dbfs: dbfs(exact), peak: peakInt(chunk), zcrPerSecond: zcr, centroidHz: centroid, loud: rms > threshold };
}

/**
 * A silence threshold from a stretch of room noise (integer RMS per chunk): twice the
 * 95th percentile or 1.25 x the loudest noise chunk, whichever is higher, and at least
 * 10, so ordinary noise never starts a clip but a voice does.
 */
export function suggestThreshold(noiseRms: number[]): { threshold: number; median: number; p95: number; max: number } {
  if (noiseRms.length === 0) throw new Error('suggestThreshold: no readings');
  const sorted = [...noiseRms].sort((a, b) => a - b);
  const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * (sorted.length - 1) + 0.5))] as number;
  const median = q(0.5);
  const p95 = q(0.95);
  const max = sorted[sorted.length - 1] as number;
  return { threshold: Math.max(10, Math.ceil(Math.max(2 * p95, 1.25 * max))), median, p95, max };
}

/**
 * Why a room measurement for `kws rms --save` looks wrong, or undefined when it looks
 * like plain room noise. A chunk far above the typical level means a sound was made
 * during the measurement (steady noise varies by well under 2x between chunks); a high
 * typical level means a noisy room, where any threshold above it may also be above a
 * quiet voice.
 */
export function roomNoiseProblem(s: { threshold: number; median: number; max: number }): string | undefined {
  if (s.max >= 100 && s.max > 4 * Math.max(s.median, 1)) {
    return `a sound was heard while measuring (loudest chunk ${s.max}, typical ${s.median})`;
  }
  if (s.median >= 300) return `the room noise itself is loud (typical chunk ${s.median}, ${dbfs(s.median).toFixed(1)} dBFS)`;
  return undefined;
}
