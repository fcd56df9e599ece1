/**
 * A trained model ready to answer "which label is this?": the server's and `kws predict`'s hot path.
 *
 * Takes UNNORMALISED feature windows (what FeatureExtractor.compute or the streaming extractor
 * produce), applies the model's own normalisation statistics while packing them into one reused
 * input buffer, and runs ONE batched inference call for the whole batch: per-call overhead in
 * TensorFlow.js is large next to the model's arithmetic, so batching the windows of many streams
 * is what makes hundreds of concurrent streams affordable.
 *
 * Owner: model core.
 */
import type { LayersModel, Tensor } from '@tensorflow/tfjs';
import { initBackend, type BackendChoice, type TF } from './backend';
import { registerTrainingKernels } from './kernels';
import { loadModelFolder } from './store';
import type { ModelMetadata } from './metadata';
import type { FeatureSpec } from '../features/spec';
import { featureSize, modelInputShape } from '../features/spec';
import { Normalizer, checkStatsFit } from '../features/normalize';
import { FeatureExtractor } from '../features/extract';
import { fitToWindow } from '../features/window';
import { loadClip } from '../audio/wav';

export interface ClassifierLoadOptions {
  backend?: BackendChoice;
  /** Folder that bare model names are looked up in (default models/). */
  modelsDir?: string;
  /**
   * WASM only: time both convolution implementations on this model and keep the faster
   * (pickConvolutions). It costs most of a second at load, so only a long-running server asks for
   * it; everything else runs the stock kernels.
   */
  tuneConvolutions?: boolean;
}

export class Classifier {
  readonly labels: readonly string[];
  readonly meta: ModelMetadata;
  readonly spec: FeatureSpec;
  /** Floats in one feature window. */
  readonly windowSize: number;
  /** The folder the model was loaded from. */
  readonly dir: string;
  /** The TensorFlow.js backend running it. */
  readonly backend: string;
  private readonly tf: TF;
  private readonly model: LayersModel;
  private readonly normalizer: Normalizer;
  private readonly inputShape: number[];
  private input: Float32Array = new Float32Array(0);
  private extractor: FeatureExtractor | null = null;
  private clipWindow: Float32Array | null = null;
  /** WASM only: whose convolution kernels run this model (see pickConvolutions). */
  convolutions: 'kws im2col' | 'stock' | null = null;

  private constructor(tf: TF, backend: string, model: LayersModel, meta: ModelMetadata, dir: string) {
    this.tf = tf;
    this.backend = backend;
    this.model = model;
    this.meta = meta;
    this.labels = meta.labels.slice();
    this.spec = meta.featureSpec;
    this.dir = dir;
    this.windowSize = featureSize(meta.featureSpec);
    this.inputShape = modelInputShape(meta.featureSpec);
    checkStatsFit(meta.stats, meta.featureSpec, `${dir} (stats)`);
    this.normalizer = new Normalizer(meta.stats);
  }

  /** Load a model folder (name under models/ or a path) on the chosen backend (default auto). */
  static async load(ref: string, opts: ClassifierLoadOptions = {}): Promise<Classifier> {
    const { tf, name } = await initBackend(opts.backend ?? 'auto');
    const { model, meta, dir } = await loadModelFolder(ref, tf, opts.modelsDir === undefined ? {} : { modelsDir: opts.modelsDir });
    const c = new Classifier(tf, name, model, meta, dir);
    if (name === 'wasm') {
      if (opts.tuneConvolutions) c.pickConvolutions();
      else {
        registerTrainingKernels(tf, { replaceConvolutions: false });
        c.convolutions = 'stock';
      }
    }
    c.warmUp();
    return c;
  }

  /**
   * Which convolution kernels run this model on WASM: kws's im2col + GEMM ones (registered for
   * training, where they are much faster for the notebooks' shapes) or the stock XNNPACK ones.
   * For inference the winner depends on the architecture (measured: stock 1.35x faster for the
   * default MFCC model at batch 64; im2col faster for 1-channel 4x10 kernels), so time both
   * on a batch and keep the faster. Both give the same probabilities (within 1e-5).
   */
  private pickConvolutions(): void {
    const batch = Array.from({ length: 32 }, () => new Float32Array(this.windowSize));
    const time = (replaceConvolutions: boolean): number => {
      registerTrainingKernels(this.tf, { replaceConvolutions });
      this.predictFeatures(batch);
      const t = performance.now();
      this.predictFeatures(batch);
      return performance.now() - t;
    };
    // Alternate and keep each side's best of 6: other work on the machine only ever adds time.
    let ours = Infinity;
    let stock = Infinity;
    for (let round = 0; round < 6; round++) {
      ours = Math.min(ours, time(true));
      stock = Math.min(stock, time(false));
    }
    // The stock kernels are the maintained path: kws's replace them only when clearly faster.
    const useOurs = ours < 0.9 * stock;
    if (useOurs) registerTrainingKernels(this.tf, { replaceConvolutions: true });
    this.convolutions = useOurs ? 'kws im2col' : 'stock';
  }

  /** The first call compiles kernels and allocates; do it at load so the first real request is fast. */
  private warmUp(): void {
    this.predictFeatures([new Float32Array(this.windowSize)]);
  }

  /**
   * Class probabilities (in `labels` order) for each unnormalised feature window. One inference call
   * for the whole batch. The inputs are not modified.
   */
  predictFeatures(batch: Float32Array[]): Float32Array[] {
    const n = batch.length;
    if (n === 0) return [];
    const size = this.windowSize;
    if (this.input.length < n * size) this.input = new Float32Array(n * size);
    const buf = this.input;
    for (let i = 0; i < n; i++) {
      const w = batch[i] as Float32Array;
      if (w.length !== size) throw new RangeError(`feature window ${i} has ${w.length} values; this model needs ${size}`);
      const dst = buf.subarray(i * size, (i + 1) * size);
      dst.set(w);
      this.normalizer.apply(dst);
    }
    const tf = this.tf;
    const probs = tf.tidy(() => {
      const x = tf.tensor(buf.subarray(0, n * size), [n, ...this.inputShape], 'float32');
      return this.model.predict(x) as Tensor;
    });
    const flat = probs.dataSync() as Float32Array;
    probs.dispose();
    const k = this.labels.length;
    const out: Float32Array[] = new Array<Float32Array>(n);
    for (let i = 0; i < n; i++) out[i] = flat.slice(i * k, (i + 1) * k);
    return out;
  }

  /**
   * Probabilities for whole clips at the model's sample rate: each is fitted to the window
   * (centred zero-padding, or the loudest window of a longer clip), turned into features, and all
   * are classified in one call.
   */
  predictClips(clips: Float32Array[]): Float32Array[] {
    if (clips.length === 0) return [];
    if (!this.extractor) this.extractor = new FeatureExtractor(this.spec);
    if (!this.clipWindow) this.clipWindow = new Float32Array(this.spec.windowSamples);
    const extractor = this.extractor;
    const win = this.clipWindow;
    const feats = clips.map((clip) => {
      fitToWindow(clip, this.spec.windowSamples, { mode: 'centre', out: win });
      return extractor.compute(win, new Float32Array(this.windowSize));
    });
    return this.predictFeatures(feats);
  }

  /**
   * Probabilities for WAV files (any rate; converted to the model's), in `files` order. Files are
   * read and classified 64 at a time: memory stays bounded for thousands of files, and each chunk
   * is one inference call. `onProgress` gets the number of files done after each chunk.
   */
  async predictFiles(files: readonly string[], onProgress?: (done: number) => void): Promise<Float32Array[]> {
    const CHUNK = 64;
    const out: Float32Array[] = [];
    for (let s = 0; s < files.length; s += CHUNK) {
      const chunk = files.slice(s, s + CHUNK);
      const clips: Float32Array[] = [];
      for (const f of chunk) clips.push(await loadClip(f, this.spec.sampleRate));
      out.push(...this.predictClips(clips));
      onProgress?.(out.length);
    }
    return out;
  }

  /** Index and label of the most probable class of one probability vector. */
  top(probs: Float32Array): { index: number; label: string; probability: number } {
    let best = 0;
    for (let i = 1; i < probs.length; i++) if ((probs[i] as number) > (probs[best] as number)) best = i;
    return { index: best, label: this.labels[best] as string, probability: probs[best] as number };
  }

  /** Free the model's weights (the backend stays up). */
  dispose(): void {
    this.model.dispose();
  }
}
