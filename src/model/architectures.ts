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
import { defaultAugmentOptions, type AugmentOptions, type MaskOptions } from './augment';

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
  /** Waveform augmentation when augmenting (on by default for 'default', off for 'seed'). */
  augmentation: AugmentOptions;
  /** SpecAugment masks on the normalised features while augmenting, or null. */
  masks: MaskOptions | null;
  /** Label smoothing epsilon. */
  labelSmoothing: number;
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
 * The default (non-seed) features: 1 s at 16 kHz, 25 ms Hann window in a 512-point FFT, 20 ms hop
 * (49 frames), no centring, 40 mel bands, dB against a fixed reference with no top-dB floor. The
 * fixed reference makes every frame depend only on its own samples, so a live stream can compute
 * each frame once and reuse it (isFrameLocal in features/spec). A 20 ms hop measured as accurate
 * as 10 ms on unseen voices (docs/training.md) at half the features and half the network's work
 * per window, which is what lets the server run hundreds of streams.
 */
export function defaultSpec(kind: FeatureKind): FeatureSpec {
  const windowSamples = 16000;
  if (kind === 'raw') return { specVersion: 1, kind, sampleRate: 16000, windowSamples };
  const spectral = {
    nFft: 512,
    winLength: 400,
    hop: 320,
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

/**
 * SpecAugment per type: one time mask of up to 5 frames (100 ms at the 20 ms hop) and one mask
 * over up to 15 % of the rows (3 of 20 MFCC coefficients, 6 of 40 mel bands). Raw audio has no
 * rows to mask; its regularisation is dropout and the waveform augmentation.
 */
const MASKS: Record<ModelType, MaskOptions | null> = {
  mfcc: { timeMasks: 1, maxTimeWidth: 5, rowMasks: 1, maxRowWidth: 3 },
  spectrogram: { timeMasks: 1, maxTimeWidth: 5, rowMasks: 1, maxRowWidth: 6 },
  raw: null,
};

const RAW_DROPOUT = 0.5;

/** Conv widths of the default 2-D CNN's four blocks. */
export const DEFAULT_WIDTHS: readonly number[] = [24, 48, 96, 96];

export function archDefaults(type: ModelType, arch: ArchName): ArchDefaults {
  const kind = featureKindFor(type);
  const featureSpec = arch === 'seed' ? seedSpec(kind) : defaultSpec(kind);
  const augmentation = defaultAugmentOptions(featureSpec.sampleRate);
  if (arch === 'seed') {
    return {
      epochs: SEED_EPOCHS[type],
      batchSize: 100,
      learningRate: 0.001,
      featureSpec,
      augmentation,
      masks: null,
      labelSmoothing: 0,
      description: `the notebook's ${type} model and settings (${SEED_EPOCHS[type]} epochs, batch 100, Adam 0.001, librosa features)`,
    };
  }
  return {
    // 40 epochs at a 3e-3 peak: at 1e-3 / 25 epochs validation accuracy was still climbing.
    epochs: 40,
    batchSize: 32,
    learningRate: 0.003,
    featureSpec,
    augmentation,
    masks: MASKS[type],
    labelSmoothing: 0,
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
    // Per-window loudness normalisation first: a fixed layer normalisation over the whole window
    // ((x - mean) / sqrt(var + eps), frozen at scale 1 and offset 0) makes the net blind to how
    // loud the speaker is, which the features' global min/max scaling does not. eps 1e-10 on the
    // variance is -100 dB below full scale, under the quietest background clips (~-70 dBFS), so
    // they are still normalised rather than floored. (Frozen scale and offset rather than
    // center/scale: false, because training the latter fails on the WASM backend.)
    const len = opts.inputShape[0] as number;
    const norm = L.layerNormalization({ axis: -1, epsilon: 1e-10, trainable: false, name: 'window_rms_norm' });
    stack.push(L.reshape({ targetShape: [1, len], inputShape: opts.inputShape }), norm, L.reshape({ targetShape: [len, 1] }));
    // A strided front end brings 16000 samples down quickly; BN after each conv; global max pooling.
    const block = (filters: number, kernelSize: number, strides: number, pool: number): void => {
      stack.push(
        L.conv1d({
          filters,
          kernelSize,
          strides,
          padding: 'same',
          useBias: false,
          kernelInitializer: init.kernel(),
        }),
        L.batchNormalization({}),
        L.activation({ activation: 'relu' }),
      );
      if (pool > 1) stack.push(L.maxPooling1d({ poolSize: pool }));
    };
    block(16, 13, 4, 4);
    block(32, 9, 1, 4);
    block(64, 5, 1, 4);
    block(64, 3, 1, 1);
    // Dropout 0.5: this net reached 97-99 % on training voices well below that on new ones.
    stack.push(L.globalMaxPooling1d({}), L.dropout({ rate: RAW_DROPOUT, seed: seed + 1 }), softmax());
  } else {
    // 3x3 conv blocks on the time-frequency image, global average pooling, dropout.
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
    // Four blocks, pooling after the first three: measured on a speaker-disjoint split of the
    // shared keyword set, the fourth block added ~3 points over three, and 24-48-96-96 filters
    // with SpecAugment beat 16-32-64-64 while still costing less per window at the 20 ms hop than
    // 16-32-64-64 did at 10 ms (docs/training.md).
    DEFAULT_WIDTHS.forEach((filters, i) => block(filters, i < 3, i === 0));
    stack.push(L.globalAveragePooling2d({}), L.dropout({ rate: 0.3, seed: seed + 1 }), softmax());
  }

  return tf.sequential({ layers: stack, name: `kws_${opts.type}_${opts.arch}` });
}

/** Compile with the settings every kws model uses (Adam, categorical cross-entropy, accuracy). */
export function compileModel(tf: TF, model: LayersModel, learningRate: number): void {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
}
