/**
 * The neural networks kws trains, and the settings that go with each.
 *
 * 'seed' reproduces the original notebooks' Keras models layer for layer (same shapes, same
 * parameter counts, same training defaults), for people who mirror the original. 'default' is a
 * small batch-normalised CNN with global pooling per type: far fewer weights than the seed models
 * (whose Flatten -> Dense layers hold most of their parameters), independent of the input's exact
 * width, and meant to generalise; the training engineer tunes it against measured accuracy.
 *
 * Every default makes 40 mel bands inside the network first (raw: from audio, a frozen log-mel
 * front end, normalised and liftered as the spectrogram model's features; mfcc: a smooth envelope
 * from the coefficients, a fixed inverse DCT; spectrogram: the same envelope from the log-mel
 * bands, a fixed lifter) and runs the same batch-normalised CNN on them.
 *
 * Initialisation is deterministic: every layer's initialiser gets a seed derived from opts.seed,
 * so the same seed gives the same initial weights on every backend.
 *
 * Owner: model core.
 */
import type { LayersModel, SymbolicTensor, Tensor, layers as tfLayers } from '@tensorflow/tfjs';
import type { TF } from './backend';
import type { ArchName, ModelType } from './metadata';
import { seedSpec, type FeatureKind, type FeatureSpec } from '../features/spec';
import { dctMatrix, melFilterbankDense } from '../features/filters';
import { elementStats, inverseStd, type NormStats } from '../features/normalize';
import { registerKwsLayers } from './layers';
import { registerTrainingLayers } from './training-layers';
import { defaultAugmentOptions, describeMasks, type AugmentOptions, type MaskOptions } from './augment';

export interface BuildOptions {
  type: ModelType;
  arch: ArchName;
  /** Model input shape without the batch axis (modelInputShape(spec) from features/spec). */
  inputShape: number[];
  numClasses: number;
  /** Seed for weight initialisation; default 42. */
  seed?: number;
  /** Sample rate of the input (raw models' front end); default 16000. */
  sampleRate?: number;
  /**
   * Put before every layer name kws chooses ('probabilities', the raw front end's layers) and the
   * model name; default ''. The members of an ensemble need it: one graph holds all their layers,
   * and layer names must be unique in a graph.
   */
  namePrefix?: string;
  /**
   * Whether the defaults' in-network SpecAugment masks while training; default true. False for
   * `kws train --no-augment`, which promises training on the clips as recorded; the layer stays
   * (as the identity), so the graph is the same either way.
   */
  trainingMasks?: boolean;
  /**
   * The training features' normalisation statistics. The mfcc and spectrogram defaults undo the
   * normalisation before their fixed envelope layer and need each input row's spread for it;
   * without them (tests, benchmarks) they assume a spread of 1.
   */
  featureStats?: NormStats;
  /**
   * The raw default's normalised training clips, one after another: it normalises its log-mel
   * by their mean and std per frame and band. Without them (tests, benchmarks) it does not.
   */
  trainingClips?: Float32Array;
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
  /** What the network itself does to its input while training (the defaults' masks), for the log. */
  inNetworkAugmentation?: string;
  /** Label smoothing epsilon. */
  labelSmoothing: number;
  /** Extra _unknown_ examples of reversed speech per epoch, as a fraction of the _unknown_ training clips. */
  reversedNegatives: number;
  /** Recompute the batch-norm statistics over the un-augmented training clips after the last epoch (src/model/batchnorm.ts). */
  batchNormRecalibration: boolean;
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
 * Epochs of the defaults, measured on three speaker-disjoint splits (docs/training.md): mfcc
 * (the mel-envelope model, session 16) 95.5 % (80) -> 96.3 % (120), better on two of the three
 * splits and on voices and noise the dataset lacks with every seed (+1.1 points), and the first
 * recipe at 95 % or more on every split; spectrogram (the CNN on the bands, session 13) 94.9 %
 * (80) -> 95.85 % (120), better on every split and on voices and noise the dataset lacks (+0.2 /
 * +1.6 points), for 1.5x the training time. The raw network of sessions 10-17 was level (95.8 % at
 * 80, 95.5 % at 120); the liftered spectrogram model and the raw model that normalises and
 * lifters its log-mel the same way (session 18: 96.0 %, 95.0 % or more on every split) were
 * measured at 120 only.
 */
const DEFAULT_EPOCHS: Record<ModelType, number> = { mfcc: 120, spectrogram: 120, raw: 120 };

/**
 * SpecAugment: one time mask of up to 5 frames (100 ms at the 20 ms hop) and one mask over up to
 * 6 of the 40 mel bands, the bands first shifted by up to 2 either way (docs/training.md): on three
 * speaker-disjoint splits spectrogram +2 / +5 / +2 clips and level on voices and noise the dataset
 * lacks; raw +0 / +4 / +3 clips and +47 clips of 3,360 on those (then applied to the features;
 * every default now applies them inside the network to its mel envelope, in a KwsSpecAugment
 * layer that is active only while training).
 */
const LOGMEL_MASKS: MaskOptions = { timeMasks: 1, maxTimeWidth: 5, rowMasks: 1, maxRowWidth: 6, maxRowShift: 2 };

/** Dropout before every default model's softmax. */
const CLASSIFIER_DROPOUT = 0.3;
/**
 * The raw model's Fourier and mel weights stay where they start. Trained with Adam at the CNN's
 * learning rate they lost the filterbank within a few epochs (docs/training.md: 58-61 %
 * validation after 16-22 epochs, against 86 % frozen); Adam's steps are ~lr whatever a weight's
 * size, and the mel weights are ~0.01.
 */
const RAW_FRONT_END_TRAINABLE = false;

/** Mel bands of the default MFCC (the DCT's input), which the mfcc default's envelope restores. */
const MFCC_ENVELOPE_BANDS = (defaultSpec('mfcc').spectral as NonNullable<FeatureSpec['spectral']>).nMels;
/** Coefficients the spectrogram default's lifter keeps: as many as the default MFCC. */
const LIFTER_COEFFICIENTS = defaultSpec('mfcc').nMfcc as number;

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
      reversedNegatives: 0,
      // The notebooks keep Keras's moving averages.
      batchNormRecalibration: false,
      description: `the notebook's ${type} model and settings (${SEED_EPOCHS[type]} epochs, batch 100, Adam 0.001, librosa features)`,
    };
  }
  return {
    // DEFAULT_EPOCHS at a 3e-3 peak. With augmentation this strong the nets underfit (training
    // accuracy on augmented clips ends below validation), so longer runs keep paying up to a point
    // that differs per type (docs/training.md, "Current defaults").
    epochs: DEFAULT_EPOCHS[type],
    batchSize: 32,
    learningRate: 0.003,
    featureSpec,
    augmentation,
    masks: null,
    inNetworkAugmentation: `in the network after its front end: ${describeMasks(LOGMEL_MASKS, 'bands')}`,
    labelSmoothing: 0,
    // Off by default: 0.5 gained 0.8 points of clip accuracy on three speaker-disjoint mfcc splits
    // but cost 5 points of keyword recall in a stream of unseen voices (docs/training.md).
    reversedNegatives: 0,
    // Better on unseen voices in 8 of 9 speaker-disjoint runs, about half a point (docs/training.md).
    batchNormRecalibration: true,
    description: {
      raw: 'a log-mel front end inside the network (Fourier convolution, power, mel, log), normalised by training statistics and liftered as the spectrogram model, then the small batch-normalised CNN, on raw 1 s audio',
      mfcc: 'the 20 MFCC turned back into a 40-band mel envelope inside the network (fixed inverse DCT), then the small batch-normalised CNN',
      logmel: 'the 40 log-mel bands liftered to a smooth envelope inside the network (fixed DCT, 20 coefficients, inverse DCT), then the small batch-normalised CNN',
    }[kind],
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
  const prefix = opts.namePrefix ?? '';
  const named = (name: string): string => `${prefix}${name}`;
  const init = initFactory(tf, seed);
  const L = tf.layers;
  const T = registerTrainingLayers(tf);
  const stack: Layer[] = [];
  const n = opts.numClasses;
  const softmax = (): Layer => L.dense({ units: n, activation: 'softmax', kernelInitializer: init.kernel(), name: named('probabilities') });

  if (opts.arch === 'seed') {
    if (opts.type === 'raw') {
      // Notebook 3: two Conv1D per block, valid padding, ReLU throughout.
      const conv = (filters: number, kernelSize: number, first = false): Layer =>
        T.conv1d({
          filters,
          kernelSize,
          padding: 'valid',
          activation: 'relu',
          kernelInitializer: init.kernel(),
          ...(first ? { inputShape: opts.inputShape } : {}),
        });
      stack.push(conv(16, 9, true), conv(16, 9), L.maxPooling1d({ poolSize: 16 }), T.dropout({ rate: 0.1, seed: seed + 1 }));
      stack.push(conv(32, 3), conv(32, 3), L.maxPooling1d({ poolSize: 4 }), T.dropout({ rate: 0.1, seed: seed + 2 }));
      stack.push(conv(128, 3), conv(128, 3), L.globalMaxPooling1d({}), T.dropout({ rate: 0.2, seed: seed + 3 }));
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
        T.conv2d({ filters, kernelSize: [4, 10], padding: 'same', inputShape: opts.inputShape, kernelInitializer: init.kernel() }),
        T.batchNormalization({}),
        L.activation({ activation: 'relu' }),
        L.maxPooling2d({ poolSize: [2, 2] }),
        L.flatten({}),
        L.dense({ units, kernelInitializer: init.kernel() }),
        T.batchNormalization({}),
        L.activation({ activation: 'relu' }),
        softmax(),
      );
    }
    return tf.sequential({ layers: stack, name: named(`kws_${opts.type}_${opts.arch}`) });
  }
  if (opts.type === 'raw') {
    // No per-window loudness normalisation: with one (a frozen layer normalisation over the
    // window, the previous default) the same net scored 88.5 % on the hardest speaker-disjoint
    // split against 93.7 % without (docs/training.md). How loud a window is tells background from
    // speech; the random gain of the augmentation keeps the net from leaning on it too hard.
    const len = opts.inputShape[0] as number;
    // A front end that computes the spectrogram model's log-mel features inside the network:
    // strided 1-D convolution = windowed Fourier transform, power, mel weighting, log, then a
    // per-band normalisation. The strided 1-D CNNs that learnt their filters from random taps
    // stayed 5-10 points below the spectral models on unseen voices (docs/training.md).
    const fe = rawFrontEndGeometry(opts.sampleRate ?? 16000);
    const kws = registerKwsLayers(tf);
    stack.push(
      L.conv1d({
        filters: 2 * fe.bins,
        kernelSize: fe.winLength,
        strides: fe.hop,
        padding: 'valid',
        useBias: false,
        trainable: RAW_FRONT_END_TRAINABLE,
        inputShape: opts.inputShape,
        name: named('fourier'),
      }),
      kws.powerSpectrum({ name: named('power') }),
      L.dense({ units: fe.nMels, useBias: false, trainable: RAW_FRONT_END_TRAINABLE, name: named('mel') }),
      // 1e-10, as librosa's amin: the raw input is scaled to about +-0.5, so quiet background
      // clips (-70 dBFS) have band powers near 1e-8 that a larger epsilon would flatten.
      kws.logCompression({ name: named('log'), epsilon: 1e-10 }),
      // From here on the spectrogram default's path: its log-mel features arrive normalised per
      // frame and band by training statistics, then the lifter keeps the envelope. The raw
      // default makes the same log-mel, so it takes the same two steps (docs/training.md,
      // "Raw: the spectrogram default's path").
      kws.fixedStandardization({ name: named('log_mel_norm') }),
      L.dense({ units: fe.nMels, useBias: false, trainable: false, name: named('lifter') }),
    );
    const frames = Math.floor((len - fe.winLength) / fe.hop) + 1;
    pushBandClassifier(tf, stack, { frames, bands: fe.nMels, named, seed, masking: opts.trainingMasks ?? true, kernel: init.kernel, softmax });
    const model = tf.sequential({ layers: stack, name: named(`kws_${opts.type}_${opts.arch}`) });
    initRawFrontEnd(tf, model, fe, prefix);
    const spreads = opts.trainingClips ? setRawLogMelStats(tf, model, prefix, opts.trainingClips) : new Array<number>(fe.nMels).fill(1);
    const lifter = lifterKernel(spreads, LIFTER_COEFFICIENTS);
    tf.tidy(() => model.getLayer(named('lifter')).setWeights([tf.tensor2d(lifter, [fe.nMels, fe.nMels])]));
    return model;
  }
  // mfcc and spectrogram: the same smooth 40-band mel envelope, then the raw model's classifier.
  // mfcc: the coefficients back to bands (a fixed inverse DCT, one frame at a time); the CNN sees
  // where in frequency energy sits, so noise in a few bands stays in those bands instead of
  // spreading over every coefficient: level on three speaker-disjoint splits and about 4 points
  // better on voices and noise the dataset lacks than the same CNN on the coefficients.
  // spectrogram: the log-mel bands through the DCT, cut to the mfcc default's 20 coefficients and
  // back (a rectangular lifter): it keeps the vocal tract's envelope and drops the harmonics of the
  // speaker's pitch. On the hardest speaker-disjoint split 95.5 % against 94.0 % for the CNN on
  // the bands themselves, and 91.6 % for this path without the lifter (docs/training.md, "Liftered log-mel").
  const [rows, frames] = opts.inputShape as [number, number, number];
  const envelope = opts.type === 'mfcc' ? { name: 'mel_envelope', bands: MFCC_ENVELOPE_BANDS } : { name: 'lifter', bands: rows };
  stack.push(
    L.reshape({ targetShape: [rows, frames], inputShape: opts.inputShape }),
    L.permute({ dims: [2, 1] }),
    L.dense({ units: envelope.bands, useBias: false, trainable: false, name: named(envelope.name) }),
  );
  pushBandClassifier(tf, stack, { frames, bands: envelope.bands, named, seed, masking: opts.trainingMasks ?? true, kernel: init.kernel, softmax });
  const model = tf.sequential({ layers: stack, name: named(`kws_${opts.type}_${opts.arch}`) });
  const spreads = rowSpreads(opts.featureStats, rows, frames);
  const kernel = opts.type === 'mfcc' ? melEnvelopeKernel(spreads, envelope.bands) : lifterKernel(spreads, LIFTER_COEFFICIENTS);
  tf.tidy(() => model.getLayer(named(envelope.name)).setWeights([tf.tensor2d(kernel, [rows, envelope.bands])]));
  return model;
}

/**
 * The classifier every default shares once it has its bands ([frames, bands] per example): each
 * band normalised, SpecAugment with LOGMEL_MASKS (training only), then the 2-D CNN with global
 * pooling.
 */
function pushBandClassifier(
  tf: TF,
  stack: Layer[],
  o: { frames: number; bands: number; named: (name: string) => string; seed: number; masking: boolean; kernel: () => ReturnType<TF['initializers']['glorotUniform']>; softmax: () => Layer },
): void {
  const T = registerTrainingLayers(tf);
  stack.push(
    T.batchNormalization({ axis: -1, name: o.named('band_norm') }),
    registerKwsLayers(tf).specAugment({
      name: o.named('spec_augment'),
      maxFrames: o.masking ? LOGMEL_MASKS.maxTimeWidth : 0,
      maxBands: o.masking ? LOGMEL_MASKS.maxRowWidth : 0,
      maxShift: o.masking ? (LOGMEL_MASKS.maxRowShift ?? 0) : 0,
      seed: o.seed + 2,
    }),
    tf.layers.reshape({ targetShape: [o.frames, o.bands, 1] }),
  );
  conv2dBlocks(tf, stack, o.kernel);
  stack.push(tf.layers.globalAveragePooling2d({}), T.dropout({ rate: CLASSIFIER_DROPOUT, seed: o.seed + 1 }), o.softmax());
}

/**
 * How far one unit of each normalised input row is in the features' own units: the mean over its
 * frames of the normalisation's std (1 without stats). Scaling a row by it before the fixed layers
 * undoes the normalisation up to an offset per band, which the band normalisation after them removes.
 */
function rowSpreads(stats: NormStats | undefined, rows: number, frames: number): number[] {
  return Array.from({ length: rows }, (_, r) => {
    if (stats?.kind !== 'standard') return 1;
    let spread = 0;
    for (let f = 0; f < frames; f++) spread += stats.std[r * frames + f] as number;
    return spread / frames;
  });
}

/** The mfcc envelope's kernel [coefficients, bands]: the orthonormal DCT-II's rows (its inverse, truncated to the coefficients kept), row c scaled by spreads[c]. */
function melEnvelopeKernel(spreads: readonly number[], bands: number): Float32Array {
  const rows = spreads.length;
  const dct = dctMatrix(rows, bands);
  const kernel = new Float32Array(rows * bands);
  for (let c = 0; c < rows; c++) for (let b = 0; b < bands; b++) kernel[c * bands + b] = (spreads[c] as number) * (dct[c * bands + b] as number);
  return kernel;
}

/** The spectrogram lifter's kernel [bands, bands]: band i scaled by spreads[i], then the DCT-II kept to its first `keep` coefficients and inverted. */
function lifterKernel(spreads: readonly number[], keep: number): Float32Array {
  const bands = spreads.length;
  const dct = dctMatrix(keep, bands);
  const kernel = new Float32Array(bands * bands);
  for (let i = 0; i < bands; i++) {
    for (let o = 0; o < bands; o++) {
      let sum = 0;
      for (let k = 0; k < keep; k++) sum += (dct[k * bands + i] as number) * (dct[k * bands + o] as number);
      kernel[i * bands + o] = (spreads[i] as number) * sum;
    }
  }
  return kernel;
}

/**
 * 3x3 conv blocks on a time-frequency image, pooling after the first three: measured on a
 * speaker-disjoint split of the shared keyword set, the fourth block added ~3 points over three,
 * and 24-48-96-96 filters with SpecAugment beat 16-32-64-64 while still costing less per window
 * at the 20 ms hop than 16-32-64-64 did at 10 ms (docs/training.md).
 */
function conv2dBlocks(tf: TF, stack: Layer[], kernel: () => ReturnType<TF['initializers']['glorotUniform']>): void {
  DEFAULT_WIDTHS.forEach((filters, i) => {
    stack.push(
      registerTrainingLayers(tf).conv2d({
        filters,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: kernel(),
      }),
      registerTrainingLayers(tf).batchNormalization({}),
      tf.layers.activation({ activation: 'relu' }),
    );
    if (i < 3) stack.push(tf.layers.maxPooling2d({ poolSize: 2 }));
  });
}

/** The raw model's front end mirrors the default log-mel features: 25 ms Hann, 512-point DFT, 20 ms hop, 40 bands. */
export function rawFrontEndGeometry(sampleRate: number): { winLength: number; nFft: number; hop: number; bins: number; nMels: number; sampleRate: number } {
  const spectral = defaultSpec('logmel').spectral as NonNullable<FeatureSpec['spectral']>;
  const scale = sampleRate / 16000;
  const winLength = Math.round(spectral.winLength * scale);
  const nFft = Math.round(spectral.nFft * scale);
  return { winLength, nFft, hop: Math.round(spectral.hop * scale), bins: Math.floor(nFft / 2) + 1, nMels: spectral.nMels, sampleRate };
}

/** Start the front end as a windowed DFT (cosines, then sines) followed by librosa's mel weights. */
function initRawFrontEnd(tf: TF, model: LayersModel, fe: ReturnType<typeof rawFrontEndGeometry>, prefix: string): void {
  const { winLength, nFft, bins } = fe;
  const kernel = new Float32Array(winLength * 2 * bins);
  for (let t = 0; t < winLength; t++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * t) / winLength);
    for (let k = 0; k < bins; k++) {
      const phase = (2 * Math.PI * k * t) / nFft;
      kernel[t * 2 * bins + k] = w * Math.cos(phase);
      kernel[t * 2 * bins + bins + k] = -w * Math.sin(phase);
    }
  }
  const mel = melFilterbankDense(fe.sampleRate, nFft, fe.nMels, 20, fe.sampleRate / 2);
  const melKernel = new Float32Array(bins * fe.nMels);
  mel.forEach((row, m) => row.forEach((v, k) => (melKernel[k * fe.nMels + m] = v)));
  tf.tidy(() => {
    model.getLayer(`${prefix}fourier`).setWeights([tf.tensor3d(kernel, [winLength, 1, 2 * bins])]);
    model.getLayer(`${prefix}mel`).setWeights([tf.tensor2d(melKernel, [bins, fe.nMels])]);
  });
}

/** Clips per front-end pass while averaging: bounds the memory of the Fourier frames (~4 MB per clip). */
const STATS_BATCH = 64;

/**
 * Set the raw model's log-mel normalisation to the statistics of its front end's output over
 * `clips`, per frame and band, computed and applied as the features' (elementStats, inverseStd);
 * returns each band's spread (its std averaged over frames) for the lifter, as rowSpreads does for
 * the spectrogram model.
 */
function setRawLogMelStats(tf: TF, model: LayersModel, prefix: string, clips: Float32Array): number[] {
  const len = model.inputs[0]?.shape[1] as number;
  const count = clips.length / len;
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`the raw log-mel statistics need whole clips of ${len} samples, got ${clips.length} values`);
  const frontEnd = tf.model({ inputs: model.inputs, outputs: model.getLayer(`${prefix}log`).output as SymbolicTensor });
  const [frames, bands] = (frontEnd.outputs[0]?.shape.slice(1) ?? []) as [number, number];
  const size = frames * bands;
  function* logMels(): Generator<Float32Array> {
    for (let start = 0; start < count; start += STATS_BATCH) {
      const n = Math.min(STATS_BATCH, count - start);
      const batch = tf.tidy(() => (frontEnd.predict(tf.tensor3d(clips.subarray(start * len, (start + n) * len), [n, len, 1])) as Tensor).dataSync() as Float32Array);
      for (let e = 0; e < n; e++) yield batch.subarray(e * size, (e + 1) * size);
    }
  }
  const { mean, std } = elementStats(logMels(), size);
  const weights = [Float32Array.from(mean), Float32Array.from(std, inverseStd)];
  tf.tidy(() => model.getLayer(`${prefix}log_mel_norm`).setWeights(weights.map((w) => tf.tensor2d(w, [frames, bands]))));
  return Array.from({ length: bands }, (_, b) => {
    let spread = 0;
    for (let f = 0; f < frames; f++) spread += std[f * bands + b] as number;
    return spread / frames;
  });
}

/** Compile with the settings every kws model uses (Adam, categorical cross-entropy, accuracy). */
export function compileModel(tf: TF, model: LayersModel, learningRate: number): void {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
}
