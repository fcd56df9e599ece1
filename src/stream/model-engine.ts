/**
 * The real InferenceEngine: a trained kws model (Classifier, which applies the model's
 * normalisation stats and runs one batched inference) fed by one incremental
 * StreamingFeatureExtractor per session (each STFT frame computed once).
 *
 * Heavy: imports TensorFlow.js through the classifier. Commands import this module inside
 * their action only.
 */
import { Classifier } from '../model/classifier';
import type { BackendChoice } from '../model/backend';
import type { ModelMetadata } from '../model/metadata';
import type { InferenceEngine, SessionFeatures } from './engine';
import { ModelSessionFeatures } from './session-features';

export class ModelEngine implements InferenceEngine {
  readonly name: string;
  readonly labels: readonly string[];
  readonly sampleRate: number;
  readonly windowSamples: number;
  readonly frameHop: number;
  readonly meta: ModelMetadata;
  readonly dir: string;
  readonly backend: string;

  private constructor(private readonly classifier: Classifier) {
    this.meta = classifier.meta;
    this.name = classifier.meta.name;
    this.labels = classifier.labels;
    this.sampleRate = classifier.spec.sampleRate;
    this.windowSamples = classifier.spec.windowSamples;
    this.frameHop = classifier.spec.spectral?.hop ?? 1;
    this.dir = classifier.dir;
    this.backend = classifier.backend;
  }

  static async load(ref: string, opts: { backend?: BackendChoice; tuneConvolutions?: boolean } = {}): Promise<ModelEngine> {
    return new ModelEngine(await Classifier.load(ref, { ...(opts.backend ? { backend: opts.backend } : {}), tuneConvolutions: opts.tuneConvolutions ?? false }));
  }

  createSession(): SessionFeatures {
    return new ModelSessionFeatures(this.classifier.spec);
  }

  async classify(windows: Float32Array[]): Promise<Float32Array[]> {
    return this.classifier.predictFeatures(windows);
  }

  dispose(): void {
    this.classifier.dispose();
  }
}
