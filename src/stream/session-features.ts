/**
 * Per-session incremental features for a kws model, shared by the in-thread engine
 * (model-engine.ts) and the worker-thread engine (worker-engine.ts). Light: no TensorFlow.
 */
import { StreamingFeatureExtractor } from '../features/streaming';
import type { FeatureSpec } from '../features/spec';
import type { SessionFeatures } from './engine';

/**
 * Session features from the streaming extractor. The extractor only answers once a whole
 * window has been seen; the original server classified a short stream zero-padded, so
 * each session starts with a window of silence already pushed (that costs one window of
 * frames per session, once) and every window is then complete.
 */
export class ModelSessionFeatures implements SessionFeatures {
  private readonly x: StreamingFeatureExtractor;
  private readonly prefill: number;
  constructor(spec: FeatureSpec) {
    this.x = new StreamingFeatureExtractor(spec);
    const hop = spec.spectral?.hop ?? 1;
    // A whole number of hops keeps the hop grid (and so the window ends) on stream samples.
    this.prefill = Math.ceil(spec.windowSamples / hop) * hop;
    this.x.push(new Float32Array(this.prefill));
  }
  get samplesSeen(): number {
    return this.x.samplesSeen - this.prefill;
  }
  push(samples: Float32Array): void {
    this.x.push(samples);
  }
  window(): Float32Array {
    return this.x.currentWindow();
  }
}

