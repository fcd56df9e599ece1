/**
 * The small interface the streaming server needs from the model side. The server,
 * sessions, batching and scoring are written against this, so they can be tested with
 * a tiny engine in test/stream and run with the real model (model-engine.ts) unchanged.
 */

/** Per-session incremental feature state: push audio, read the current window's features. */
export interface SessionFeatures {
  /** Feed samples at the engine's sample rate (floats in [-1, 1)). */
  push(samples: Float32Array): void;
  /** Samples pushed so far. */
  readonly samplesSeen: number;
  /** The features of the most recent window (zero-padded while fewer samples were seen); a copy. */
  window(): Float32Array;
}

export interface InferenceEngine {
  /** Short name for logs and WELCOME (the model's name). */
  readonly name: string;
  /** Output labels, in the order of the probabilities classify() returns. */
  readonly labels: readonly string[];
  /** The rate every session's audio is converted to before features (16000 for kws models). */
  readonly sampleRate: number;
  /** Samples in one classified window. */
  readonly windowSamples: number;
  /** Samples between feature frames: classification hops are rounded to a multiple of it. */
  readonly frameHop: number;
  createSession(): SessionFeatures;
  /** Probabilities for each window, in one batched inference. */
  classify(windows: Float32Array[]): Promise<Float32Array[]>;
  dispose?(): void;
}

/** The best label of a probability vector. */
export function argmax(probs: Float32Array): { index: number; probability: number } {
  let best = 0;
  let bestP = -Infinity;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i] as number;
    if (p > bestP) {
      bestP = p;
      best = i;
    }
  }
  return { index: best, probability: Number.isFinite(bestP) ? bestP : 0 };
}
