/**
 * A tiny, exact InferenceEngine for testing the server without TensorFlow: the
 * "features" are the window's raw samples, and classify() names the tone it hears by
 * zero-crossing rate: "low" (< 1 kHz), "high" (>= 1 kHz) or "_background_" when the
 * window is quiet. Tests synthesise tone bursts and check that the right labels come
 * back at the right stream times, through the real protocol, sessions and batching.
 */
import type { InferenceEngine, SessionFeatures } from '../../src/stream/engine';

export class RingFeatures implements SessionFeatures {
  private readonly ring: Float32Array;
  private seen = 0;
  constructor(readonly windowSamples: number) {
    this.ring = new Float32Array(windowSamples);
  }
  get samplesSeen(): number {
    return this.seen;
  }
  push(samples: Float32Array): void {
    for (let i = 0; i < samples.length; i++) this.ring[(this.seen + i) % this.ring.length] = samples[i] as number;
    this.seen += samples.length;
  }
  window(): Float32Array {
    const n = this.ring.length;
    const out = new Float32Array(n);
    // Oldest first; zeros stand for samples not seen yet (the original's zero padding).
    for (let i = 0; i < n; i++) {
      const abs = this.seen - n + i;
      out[i] = abs < 0 ? 0 : (this.ring[abs % n] as number);
    }
    return out;
  }
}

export interface FakeEngineOptions {
  windowSamples?: number;
  /** Delay added to every classify() call, to simulate a slow model. */
  delayMs?: number;
  /** Throw from classify() when a window contains this exact sample value. */
  poison?: number;
}

export class FakeEngine implements InferenceEngine {
  readonly name = 'fake';
  readonly labels = ['_background_', 'low', 'high'];
  readonly sampleRate = 16000;
  readonly windowSamples: number;
  readonly frameHop = 1;
  calls = 0;
  batchSizes: number[] = [];
  constructor(readonly opts: FakeEngineOptions = {}) {
    this.windowSamples = opts.windowSamples ?? 4000;
  }
  createSession(): SessionFeatures {
    return new RingFeatures(this.windowSamples);
  }
  async classify(windows: Float32Array[]): Promise<Float32Array[]> {
    this.calls++;
    this.batchSizes.push(windows.length);
    if (this.opts.delayMs) await new Promise((r) => setTimeout(r, this.opts.delayMs));
    return windows.map((w) => {
      if (this.opts.poison !== undefined && w.includes(this.opts.poison)) throw new Error('poisoned window');
      return classifyTone(w);
    });
  }
}

/** Probabilities for [_background_, low, high] from the loud part of the window. */
export function classifyTone(w: Float32Array): Float32Array {
  let energy = 0;
  let crossings = 0;
  let loud = 0;
  for (let i = 0; i < w.length; i++) {
    const v = w[i] as number;
    energy += v * v;
    if (Math.abs(v) > 0.05) {
      loud++;
      if (i > 0 && (w[i - 1] as number) * v < 0) crossings++;
    }
  }
  const rms = Math.sqrt(energy / w.length);
  if (rms < 0.05 || loud === 0) return Float32Array.of(0.9, 0.05, 0.05);
  // Zero crossings per loud sample, times rate/2, estimates the tone's frequency.
  const freq = (crossings / loud) * 8000;
  return freq < 1000 ? Float32Array.of(0.04, 0.95, 0.01) : Float32Array.of(0.04, 0.01, 0.95);
}

/** Int16 PCM: silence with tone bursts {freq, start, dur} (seconds), amplitude 0.5. */
export function toneTrack(seconds: number, bursts: { freq: number; start: number; dur: number }[], rate = 16000): Int16Array {
  const out = new Int16Array(Math.round(seconds * rate));
  for (const b of bursts) {
    const a = Math.round(b.start * rate);
    const n = Math.round(b.dur * rate);
    for (let i = 0; i < n && a + i < out.length; i++) out[a + i] = Math.round(16384 * Math.sin((2 * Math.PI * b.freq * i) / rate));
  }
  return out;
}
