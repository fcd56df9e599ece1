/**
 * The neural networks kws trains, and the settings that go with each.
 *
 * 'seed' reproduces the original notebooks' Keras models layer for layer (same shapes, same
 * parameter counts, same training defaults), for people who mirror the original. 'default' is a
 * small batch-normalised CNN with global pooling per type: far fewer weights than the seed models
 * (whose Flatten -> Dense layers hold most of their parameters), independent of the input's exact
 * width, and meant to generalise; the training engineer tunes it against measured accuracy.
 *
 * Initialisation is deterministic: every layer's initialiser gets a seed derived from opts.seed,
 * so the same seed gives the same initial weights on every backend.
 *
 * Owner: model core.
 */
import type { LayersModel, layers as tfLayers } from '@tensorflow/tfjs';
import type { TF } from './backend';
import type { ArchName, ModelType } from './metadata';
import { seedSpec, type FeatureKind, type FeatureSpec } from '../features/spec';

export interface BuildOptions {
  type: ModelType;
  arch: ArchName;
  /** Model input shape without the batch axis (modelInputShape(spec) from features/spec). */
  inputShape: number[];
  numClasses: number;
  /** Seed for weight initialisation; default 42. */
  seed?: number;
}

export interface ArchDefaults {
  epochs: number;
  batchSize: number;
  learningRate: number;
  featureSpec: FeatureSpec;
  /** One line for `kws train --help`. */
  description: string;
}

export const MODEL_TYPES: readonly ModelType[] = ['mfcc', 'spectrogram', 'raw'];
export const ARCH_NAMES: readonly ArchName[] = ['seed', 'default'];

/** The feature kind each model type consumes ('spectrogram' models read log-mel features). */
export function featureKindFor(type: ModelType): FeatureKind {
  return type === 'spectrogram' ? 'logmel' : type;
}

/**
 * The default (non-seed) features: 1 s at 16 kHz, 25 ms Hann window in a 512-point FFT, 10 ms hop,
 * no centring, 40 mel bands, dB against a fixed reference with no top-dB floor. The fixed
 * reference makes every frame depend only on its own samples, so a live stream can compute
 * each frame once and reuse it (isFrameLocal in features/spec).
 */
export function defaultSpec(kind: FeatureKind): FeatureSpec {
  const windowSamples = 16000;
  if (kind === 'raw') return { specVersion: 1, kind, sampleRate: 16000, windowSamples };
  const spectral = {
    nFft: 512,
    winLength: 400,
    hop: 160,
    center: false,
    padMode: 'constant' as const,
    nMels: 40,
    fmin: 20,
    fmax: 8000,
    dbRef: 1.0,
    topDb: null,
  };
  return kind === 'mfcc'
    ? { specVersion: 1, kind, sampleRate: 16000, windowSamples, spectral, nMfcc: 20 }
    : { specVersion: 1, kind, sampleRate: 16000, windowSamples, spectral };
}

const SEED_EPOCHS: Record<ModelType, number> = { mfcc: 8, spectrogram: 12, raw: 17 };

export function archDefaults(type: ModelType, arch: ArchName): ArchDefaults {
  const kind = featureKindFor(type);
  if (arch === 'seed') {
    return {
      epochs: SEED_EPOCHS[type],
      batchSize: 100,
      learningRate: 0.001,
      featureSpec: seedSpec(kind),
      description: `the notebook's ${type} model and settings (${SEED_EPOCHS[type]} epochs, batch 100, Adam 0.001, librosa features)`,
    };
  }
  return {
    // 40 epochs at a 3e-3 peak: at 1e-3 / 25 epochs validation accuracy was still climbing.
    epochs: 40,
    batchSize: 32,
    learningRate: 0.003,
    featureSpec: defaultSpec(kind),
    description: `a small batch-normalised CNN with global pooling on ${kind === 'raw' ? 'raw 1 s audio' : `40-band ${kind} features`}`,
  };
}

type Layer = tfLayers.Layer;

/** Seeded initialisers: a fresh seed per layer, derived from the model seed. */
function initFactory(tf: TF, seed: number): { kernel: () => ReturnType<TF['initializers']['glorotUniform']> } {
  let n = 0;
  return {
    kernel: () => tf.initializers.glorotUniform({ seed: seed * 1000 + n++ }),
  };
}

function checkOptions(opts: BuildOptions): void {
  if (!Number.isInteger(opts.numClasses) || opts.numClasses < 2) {
    throw new RangeError(`a classifier needs at least 2 classes, got ${opts.numClasses}`);
  }
  const rank = opts.type === 'raw' ? 2 : 3;
  if (opts.inputShape.length !== rank || opts.inputShape.some((d) => !Number.isInteger(d) || d <= 0)) {
    throw new RangeError(`a ${opts.type} model needs an input shape of rank ${rank}, got [${opts.inputShape.join(', ')}]`);
  }
}

/** Build (uncompiled) the model for a type and architecture. */
export function buildModel(tf: TF, opts: BuildOptions): LayersModel {
  checkOptions(opts);
  const seed = opts.seed ?? 42;
  const init = initFactory(tf, seed);
  const L = tf.layers;
  const stack: Layer[] = [];
  const n = opts.numClasses;
  const softmax = (): Layer => L.dense({ units: n, activation: 'softmax', kernelInitializer: init.kernel(), name: 'probabilities' });

  if (opts.arch === 'seed') {
    if (opts.type === 'raw') {
      // Notebook 3: two Conv1D per block, valid padding, ReLU throughout.
      const conv = (filters: number, kernelSize: number, first = false): Layer =>
        L.conv1d({
          filters,
          kernelSize,
          padding: 'valid',
          activation: 'relu',
          kernelInitializer: init.kernel(),
          ...(first ? { inputShape: opts.inputShape } : {}),
        });
      stack.push(conv(16, 9, true), conv(16, 9), L.maxPooling1d({ poolSize: 16 }), L.dropout({ rate: 0.1, seed: seed + 1 }));
      stack.push(conv(32, 3), conv(32, 3), L.maxPooling1d({ poolSize: 4 }), L.dropout({ rate: 0.1, seed: seed + 2 }));
      stack.push(conv(128, 3), conv(128, 3), L.globalMaxPooling1d({}), L.dropout({ rate: 0.2, seed: seed + 3 }));
      stack.push(
        L.dense({ units: 32, activation: 'relu', kernelInitializer: init.kernel() }),
        L.dense({ units: 256, activation: 'relu', kernelInitializer: init.kernel() }),
        softmax(),
      );
    } else {
      // Notebooks 1 and 2: Conv2D 4x10 same -> BN -> ReLU -> MaxPool 2x2 -> Flatten -> Dense -> BN -> ReLU -> softmax.
      const filters = opts.type === 'mfcc' ? 16 : 64;
      const units = opts.type === 'mfcc' ? 64 : 128;
      stack.push(
        L.conv2d({ filters, kernelSize: [4, 10], padding: 'same', inputShape: opts.inputShape, kernelInitializer: init.kernel() }),
        L.batchNormalization({}),
        L.activation({ activation: 'relu' }),
        L.maxPooling2d({ poolSize: [2, 2] }),
        L.flatten({}),
        L.dense({ units, kernelInitializer: init.kernel() }),
        L.batchNormalization({}),
        L.activation({ activation: 'relu' }),
        softmax(),
      );
    }
  } else if (opts.type === 'raw') {
    // A strided front end brings 16000 samples down quickly; BN after each conv; global max pooling.
    const block = (filters: number, kernelSize: number, strides: number, pool: number, first = false): void => {
      stack.push(
        L.conv1d({
          filters,
          kernelSize,
          strides,
          padding: 'same',
          useBias: false,
          kernelInitializer: init.kernel(),
          ...(first ? { inputShape: opts.inputShape } : {}),
        }),
        L.batchNormalization({}),
        L.activation({ activation: 'relu' }),
      );
      if (pool > 1) stack.push(L.maxPooling1d({ poolSize: pool }));
    };
    block(16, 13, 4, 4, true);
    block(32, 9, 1, 4);
    block(64, 5, 1, 4);
    block(64, 3, 1, 1);
    stack.push(L.globalMaxPooling1d({}), L.dropout({ rate: 0.3, seed: seed + 1 }), softmax());
  } else {
    // Three 3x3 conv blocks on the time-frequency image, global average pooling, dropout.
    const block = (filters: number, pool: boolean, first = false): void => {
      stack.push(
        L.conv2d({
          filters,
          kernelSize: 3,
          padding: 'same',
          useBias: false,
          kernelInitializer: init.kernel(),
          ...(first ? { inputShape: opts.inputShape } : {}),
        }),
        L.batchNormalization({}),
        L.activation({ activation: 'relu' }),
      );
      if (pool) stack.push(L.maxPooling2d({ poolSize: 2 }));
    };
    // Four blocks (16-32-64-64 filters), pooling after the first three: measured on a
    // speaker-disjoint split of the shared keyword set, the fourth block added ~3 points
    // over three (docs/training.md).
    block(16, true, true);
    block(32, true);
    block(64, true);
    block(64, false);
    stack.push(L.globalAveragePooling2d({}), L.dropout({ rate: 0.3, seed: seed + 1 }), softmax());
  }

  return tf.sequential({ layers: stack, name: `kws_${opts.type}_${opts.arch}` });
}

/** Compile with the settings every kws model uses (Adam, categorical cross-entropy, accuracy). */
export function compileModel(tf: TF, model: LayersModel, learningRate: number): void {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
}
