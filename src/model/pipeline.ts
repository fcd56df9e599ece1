/**
 * `kws train` from start to finish: scan data/, split, load clips, compute (or
 * reuse cached) features, normalise with training-split statistics, build and train
 * the model, then write the model folder, stats/NAME.json and the HTML report.
 *
 * Order matters for "nothing half-written": every check that can fail on user input
 * (data layout, names already taken, corrupt WAVs, over-long clips) runs before the
 * first byte of output is written, and the outputs are published last, each by an
 * atomic rename, with the model folder removed again if a later write fails.
 *
 * Owner: training.
 */
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ArchName, DatasetSummary, ModelMetadata, ModelType, TrainingSettings } from './metadata';
import { featureShape, featureSize, modelInputShape, describeSpec, type FeatureSpec } from '../features/spec';
import { FeatureExtractor } from '../features/extract';
import { loadClip } from '../audio/wav';
import { computeStats, Normalizer, statsToJson, type NormStats } from '../features/normalize';
import { initBackend, tfjsNodeResolvable, type BackendChoice, type BackendInfo, type TF } from './backend';
import { clipsPerLabel, fingerprintClips, scanDataset, type ClipRef, type Dataset } from './dataset';
import { checkSplit, splitClips, type Split, type SplitBy } from './split';
import { augmentClip, defaultAugmentOptions, describeMasks, maskFeatures, type AugmentOptions, type MaskOptions } from './augment';
import { interferenceBank } from './interference';
import { featureCacheKey, readFeatureCache, writeFeatureCache } from './cache';
import { trainLoop, type EpochLog } from './train';
import { defaultTrainingThreads, Replicas } from './replicas';
import { averageModels, MAX_ENSEMBLE, meanOf, memberPrefix, memberSeed } from './ensemble';
import { argmaxRows, evaluatePredictions, type Evaluation } from './evaluate';
import { renderReport } from './report';
import { inputError, usageError, UserError, ExitCode, errorMessage } from '../util/errors';
import { listWavFiles, pathExists, writeFileAtomic, isDirectory, publishNoClobber, tempPathFor } from '../util/fsutil';
import { createProgress, formatSeconds } from '../util/progress';
import { createRng, type Rng } from '../util/rng';
import { VERSION } from '../version';
import { fitToWindow } from '../features/window';

type LayersModel = import('@tensorflow/tfjs').LayersModel;

/** The folder-name prefix of each type's default model name, as the notebooks named them. */
export const NAME_PREFIX: Record<ModelType, string> = { mfcc: 'mfccmodel', spectrogram: 'specmodel', raw: '1dconv' };

export interface TrainOptions {
  type: ModelType;
  arch: ArchName;
  dataDir: string;
  name?: string;
  epochs?: number;
  batchSize?: number;
  learningRate?: number;
  valSplit?: number;
  splitBy?: SplitBy;
  seed: number;
  /** undefined = the architecture's default (on for 'default', off for 'seed'). */
  augment?: boolean;
  noiseDir?: string;
  /** Extra reversed-speech _unknown_ clips per epoch, as a share of the _unknown_ training clips (default: the architecture's). */
  reversedNegatives?: number;
  /** Share of the noisy clips that get synthetic interference instead of background recordings (default: the architecture's). */
  syntheticNoise?: number;
  /** Members of an ensemble (default 1: a single model); see src/model/ensemble.ts. */
  ensemble?: number;
  backend: BackendChoice;
  /**
   * Threads that share every mini-batch (src/model/replicas.ts); default KWS_THREADS or the
   * machine's cores. tfjs-node runs its own threads, so it trains on one.
   */
  threads?: number;
  modelsDir: string;
  statsDir: string;
  /** Feature cache folder, or null for no cache. */
  cacheDir: string | null;
  /** Cut clips longer than the window (centre) instead of refusing them. */
  crop: boolean;
  tensorboardDir?: string;
  quiet?: boolean;
  /** Experiments only (not a CLI flag): train a subset, another spec, another builder. */
  maxClipsPerLabel?: number;
  specOverride?: FeatureSpec;
  buildModelOverride?: (tf: TF, inputShape: number[], numClasses: number, seed: number) => LayersModel;
  /** Experiments only: replace parts of the architecture's augmentation recipe. */
  augmentOverride?: Partial<AugmentOptions>;
  masksOverride?: MaskOptions | null;
  labelSmoothingOverride?: number;
  /** Experiments only: do not write anything. */
  dryRun?: boolean;
  /**
   * Benchmarks only: called once with the normalised, un-augmented training and validation
   * features before training, so that another framework can train on exactly the same data.
   */
  onFeatures?: (data: { trainX: Float32Array; trainY: Int32Array; valX: Float32Array; valY: Int32Array; inputShape: number[]; labels: string[] }) => void;
}

export interface TrainResult {
  name: string;
  type: ModelType;
  arch: ArchName;
  backend: string;
  /** Threads that shared every mini-batch. */
  threads: number;
  modelDir: string | null;
  statsFile: string | null;
  reportFile: string | null;
  labels: string[];
  trainClips: number;
  valClips: number;
  splitBy: SplitBy;
  augment: boolean;
  /** Members averaged (1: a single model). */
  ensemble: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** The saved model's validation accuracy (an ensemble's: its average's). */
  valAccuracy: number | null;
  trainAccuracy: number | null;
  secondsPerEpoch: number;
  featureSeconds: number;
  featureCache: 'hit' | 'miss' | 'off';
  history: EpochLog[];
  validation: Evaluation | null;
}

export interface ArchDefaultsLike {
  epochs: number;
  batchSize: number;
  learningRate: number;
  featureSpec: FeatureSpec;
  valSplit?: number;
  augment?: boolean;
  /** Waveform augmentation (default: defaultAugmentOptions). */
  augmentation?: AugmentOptions;
  /** SpecAugment masks on normalised features while augmenting (default: none). */
  masks?: MaskOptions | null;
  /** Augmentation the model itself applies while training, for the log line (default: none). */
  inNetworkAugmentation?: string;
  /** Label smoothing for the default architectures (default 0). */
  labelSmoothing?: number;
  /** Extra _unknown_ examples made of time-reversed speech, as a fraction of the _unknown_ training clips (default 0). */
  reversedNegatives?: number;
  /** Recompute the batch-norm statistics over the un-augmented training clips after training (default false). */
  batchNormRecalibration?: boolean;
}

const log = (quiet: boolean | undefined, msg: string): void => {
  if (!quiet) process.stderr.write(`${msg}\n`);
};

/**
 * The first of NAME, NAME-2, NAME-3, ... with neither a model folder nor a stats file: an
 * automatic name (the type and the Unix second) must not make the second of two trainings
 * started in the same second (a batch script) fail on a name the user never chose.
 */
export async function freeModelName(base: string, modelsDir: string, statsDir: string): Promise<string> {
  for (let k = 1; ; k++) {
    const name = k === 1 ? base : `${base}-${k}`;
    if (!(await pathExists(path.resolve(modelsDir, name))) && !(await pathExists(path.resolve(statsDir, `${name}.json`)))) return name;
  }
}

/** A model name becomes a folder and a file name: keep it to safe characters. */
export function checkModelName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) {
    throw usageError(`invalid model name '${name}'`, 'Use letters, digits, dot, dash and underscore (starting with a letter or digit).');
  }
}

export function defaultModelName(type: ModelType, now = Date.now()): string {
  return `${NAME_PREFIX[type]}${Math.floor(now / 1000)}`;
}

/**
 * Fit a clip to the window the way inference does ('centre': pad short clips on both
 * sides; long ones, allowed only with --crop, keep their loudest stretch), so the
 * model trains on what it will be shown.
 */
export function fitClip(clip: Float32Array, windowSamples: number): Float32Array {
  return clip.length === windowSamples ? clip : fitToWindow(clip, windowSamples, { mode: 'centre' });
}

/** Training-split normalisation statistics (features' computeStats over the chosen rows). */
export function computeTrainStats(spec: FeatureSpec, x: Float32Array, rowSize: number, rows: readonly number[]): NormStats {
  function* pick(): Generator<Float32Array> {
    for (const r of rows) yield x.subarray(r * rowSize, (r + 1) * rowSize);
  }
  return computeStats(spec, pick());
}

/** Normalise every row of a features block in place, exactly as inference will. */
export function applyStats(stats: NormStats, x: Float32Array, rowSize: number): void {
  const n = new Normalizer(stats);
  for (let o = 0; o < x.length; o += rowSize) n.apply(x.subarray(o, o + rowSize));
}

interface LoadedClips {
  audio: Float32Array[];
}

async function loadClips(ds: Dataset, clips: ClipRef[], windowSamples: number, sampleRate: number, crop: boolean, quiet?: boolean): Promise<LoadedClips> {
  const progress = createProgress('reading clips', clips.length, { quiet });
  const audio: Float32Array[] = [];
  const tooLong: string[] = [];
  for (const [i, c] of clips.entries()) {
    const a = await loadClip(c.path, sampleRate);
    if (a.length > windowSamples) tooLong.push(`${c.relPath} (${(a.length / sampleRate).toFixed(2)} s)`);
    audio.push(a);
    progress.update(i + 1);
  }
  progress.done();
  if (tooLong.length > 0 && !crop) {
    const secs = (windowSamples / sampleRate).toFixed(3).replace(/\.?0+$/, '');
    throw inputError(
      `${tooLong.length} clip(s) in ${ds.root} are longer than the model's ${secs} s window: ${tooLong.slice(0, 5).join(', ')}${tooLong.length > 5 ? ', ...' : ''}`,
      'Cut them to one word each (kws fixed makes fixed-length clips), or pass --crop to keep the loudest window-length stretch of each.',
    );
  }
  return { audio };
}

function featuresOf(extractor: { compute(w: Float32Array, out?: Float32Array): Float32Array }, audio: readonly Float32Array[], windowSamples: number, rowSize: number, progressLabel: string | null, quiet?: boolean): Float32Array {
  const x = new Float32Array(audio.length * rowSize);
  const progress = progressLabel ? createProgress(progressLabel, audio.length, { quiet }) : null;
  audio.forEach((a, i) => {
    extractor.compute(fitClip(a, windowSamples), x.subarray(i * rowSize, (i + 1) * rowSize));
    progress?.update(i + 1);
  });
  progress?.done();
  return x;
}

async function loadNoise(noiseDir: string | undefined, ds: Dataset, split: Split, audio: Float32Array[], sampleRate: number): Promise<{ noise: Float32Array[]; source: string }> {
  if (noiseDir !== undefined) {
    if (!(await isDirectory(noiseDir))) throw inputError(`--noise folder not found: ${noiseDir}`, 'Give a folder of WAV recordings of background noise.');
    const files = await listWavFiles(noiseDir);
    if (files.length === 0) throw inputError(`--noise folder ${noiseDir} has no .wav files`);
    const noise: Float32Array[] = [];
    for (const f of files) noise.push(await loadClip(f, sampleRate));
    return { noise, source: `${files.length} file(s) in ${noiseDir}` };
  }
  // Only training-split background clips: mixing validation clips into training
  // would leak them.
  const bgLabel = ds.labels.indexOf('_background_');
  if (bgLabel < 0) return { noise: [], source: 'none (no _background_ label and no --noise DIR)' };
  const noise = split.train.filter((i) => ds.clips[i]?.labelIndex === bgLabel).map((i) => audio[i] as Float32Array);
  return { noise, source: `${noise.length} training clip(s) of _background_` };
}

/**
 * Where reversed-speech negatives come from: indices into the training split of every clip that
 * holds speech (every label but _background_), and how many to add per epoch. Null when the
 * fraction is 0 or the data has no _unknown_ label to give them.
 */
export function reversedNegatives(ds: Dataset, split: Split, fraction: number): { label: number; count: number; sources: number[] } | null {
  const label = ds.labels.indexOf('_unknown_');
  if (!(fraction > 0) || label < 0) return null;
  const background = ds.labels.indexOf('_background_');
  const labelOf = (j: number): number => ds.clips[split.train[j] as number]?.labelIndex ?? -1;
  const sources = split.train.map((_, j) => j).filter((j) => labelOf(j) !== background);
  const unknownCount = split.train.filter((_, j) => labelOf(j) === label).length;
  const count = Math.round(fraction * unknownCount);
  return count > 0 && sources.length > 0 ? { label, count, sources } : null;
}

/**
 * The synthetic interference bank for one run: 32 two-window recordings of each kind, babble made
 * from the training split's speech only, drawn from its own generator so that the epochs'
 * draws stay as they were.
 */
function buildInterference(ds: Dataset, split: Split, trainAudio: readonly Float32Array[], windowSamples: number, sampleRate: number, seed: number): Float32Array[] {
  const background = ds.labels.indexOf('_background_');
  const speech = trainAudio.filter((_, j) => ds.clips[split.train[j] as number]?.labelIndex !== background);
  return interferenceBank(speech, { perKind: 32, length: 2 * windowSamples, sampleRate }, createRng((seed ^ 0x5eed1) >>> 0));
}

/** One line naming every augmentation in force, for the log and the report. */
export function describeAugmentation(a: AugmentOptions, masks: MaskOptions | null, sampleRate: number, reversedNegatives = 0): string {
  const parts: string[] = [];
  if (a.speed[0] !== 1 || a.speed[1] !== 1) parts.push(`speed ${a.speed[0]}..${a.speed[1]}`);
  parts.push(`time shift +-${Math.round((1000 * a.maxShift) / sampleRate)} ms`, `gain ${a.gainDb[0]}..${a.gainDb[1]} dB`);
  parts.push(`noise p ${a.noiseProbability} at ${a.snrDb[0]}..${a.snrDb[1]} dB SNR`);
  if (a.interference > 0) parts.push(`${Math.round(a.interference * 100)} % of it synthetic (babble, tones, clatter, swells)`);
  if (masks) parts.push(describeMasks(masks, 'rows'));
  if (reversedNegatives > 0) parts.push(`${reversedNegatives} reversed-speech clips per epoch as _unknown_`);
  return parts.join(', ');
}

async function resolveDefaults(type: ModelType, arch: ArchName): Promise<ArchDefaultsLike> {
  const mod = await import('./architectures.js');
  return mod.archDefaults(type, arch);
}

function summarizeSettings(o: { arch: ArchName; epochs: number; batchSize: number; learningRate: number; valSplit: number; splitBy: SplitBy; seed: number; augment: boolean; syntheticNoise: number; ensemble: number; backend: string; threads: number }): TrainingSettings {
  return {
    arch: o.arch,
    epochs: o.epochs,
    batchSize: o.batchSize,
    learningRate: o.learningRate,
    valSplit: o.valSplit,
    splitBy: o.splitBy === 'voice' ? 'group' : 'clip',
    seed: o.seed,
    augment: o.augment,
    syntheticNoise: o.syntheticNoise,
    ensemble: o.ensemble,
    backend: o.backend,
    threads: o.threads,
  };
}

export async function runTraining(opts: TrainOptions): Promise<TrainResult> {
  const t0 = Date.now();
  const defaults = await resolveDefaults(opts.type, opts.arch);
  const spec = opts.specOverride ?? defaults.featureSpec;
  const epochs = opts.epochs ?? defaults.epochs;
  const batchSize = opts.batchSize ?? defaults.batchSize;
  const learningRate = opts.learningRate ?? defaults.learningRate;
  const valSplit = opts.valSplit ?? defaults.valSplit ?? (opts.arch === 'seed' ? 0.4 : 0.2);
  const augment = opts.augment ?? defaults.augment ?? opts.arch === 'default';
  if (!Number.isInteger(epochs) || epochs < 1) throw usageError(`--epochs must be a whole number >= 1, got ${epochs}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw usageError(`--batch-size must be a whole number >= 1, got ${batchSize}`);
  if (!(valSplit >= 0 && valSplit < 1)) throw usageError(`--val-split must be at least 0 and below 1, got ${valSplit}`);
  const members = opts.ensemble ?? 1;
  if (!Number.isInteger(members) || members < 1 || members > MAX_ENSEMBLE) throw usageError(`--ensemble must be a whole number from 1 to ${MAX_ENSEMBLE}, got ${members}`);

  // 1. Everything that can be refused is refused before anything is written.
  const name = opts.name ?? (await freeModelName(defaultModelName(opts.type), opts.modelsDir, opts.statsDir));
  checkModelName(name);
  const modelDir = path.resolve(opts.modelsDir, name);
  const statsFile = path.resolve(opts.statsDir, `${name}.json`);
  if (!opts.dryRun) {
    if (await pathExists(modelDir)) throw usageError(`a model named ${name} already exists (${modelDir})`, 'Choose another --name; kws never overwrites a model.');
    if (await pathExists(statsFile)) throw usageError(`stats for a model named ${name} already exist (${statsFile})`, 'Choose another --name; kws never overwrites a model.');
  }
  if (opts.tensorboardDir !== undefined) {
    if (!tfjsNodeResolvable().ok) {
      throw new UserError('--tensorboard needs @tensorflow/tfjs-node, which is not installed', {
        exitCode: ExitCode.dependency,
        hint: 'Install it (npm install @tensorflow/tfjs-node, needs internet), or leave out --tensorboard: the HTML report in the model folder shows the same curves.',
      });
    }
  }

  const ds = await scanDataset(opts.dataDir);
  if (opts.maxClipsPerLabel !== undefined) {
    const keep: ClipRef[] = [];
    for (const l of ds.labels) keep.push(...ds.clips.filter((c) => c.label === l).slice(0, opts.maxClipsPerLabel));
    ds.clips = keep;
    ds.fingerprint = fingerprintClips(keep);
  }
  if ((opts.syntheticNoise ?? 0) > 0 && !augment) {
    throw usageError('--synthetic-noise mixes noise into augmented clips, but augmentation is off', 'Leave out --no-augment (or --arch seed), or leave out --synthetic-noise.');
  }
  if ((opts.reversedNegatives ?? 0) > 0) {
    if (!augment) throw usageError('--reversed-negatives adds augmented clips, but augmentation is off', 'Leave out --no-augment (or --arch seed), or leave out --reversed-negatives.');
    if (!ds.labels.includes('_unknown_')) {
      throw usageError(`--reversed-negatives labels its clips _unknown_, but ${opts.dataDir} has no _unknown_ folder`, 'Add DATA/_unknown_ with other words, or leave out --reversed-negatives.');
    }
  }
  const splitBy: SplitBy = opts.splitBy ?? 'clip';
  if (splitBy === 'voice' && ds.groupSource === 'none') {
    throw usageError(
      `--split-by voice needs to know who speaks in each clip, but ${opts.dataDir} has no manifest.csv with a voice column and no file names like SPEAKER__name.wav`,
      'Add manifest.csv (columns file,voice) to the data folder, name clips SPEAKER__anything.wav, or use --split-by clip.',
    );
  }
  const split = splitClips(ds.clips, { valFraction: valSplit, by: splitBy, seed: opts.seed });
  checkSplit(split, ds.clips, ds.labels);
  const counts = clipsPerLabel(ds);
  log(opts.quiet, `data: ${ds.clips.length} clips, ${ds.labels.length} labels (${ds.labels.map((l) => `${l} ${counts[l]}`).join(', ')})`);
  const few = ds.labels.filter((l) => (counts[l] ?? 0) < 50);
  if (few.length > 0) {
    // The original's README: 150 clips per sound gave about 92 %, 350 gave 98-99 %.
    log(opts.quiet, `note: few clips for ${few.map((l) => `${l} (${counts[l]})`).join(', ')}; a few hundred per label train much better models`);
  }
  log(opts.quiet, `split: ${split.train.length} training, ${split.val.length} validation clips (by ${splitBy}${splitBy === 'voice' ? `, groups from ${ds.groupSource}` : ''}, seed ${opts.seed})`);

  // 2. Audio and features.
  const rowSize = featureSize(spec);
  const inputShape = modelInputShape(spec);
  const tFeat = Date.now();
  const extractor = new FeatureExtractor(spec);
  let features: Float32Array | null = null;
  let loaded: LoadedClips | null = null;
  let cacheState: TrainResult['featureCache'] = 'off';
  // Without --crop an entry exists only if every clip fitted the window (the run that wrote it
  // refused otherwise), so a hit needs no re-check; --crop entries are kept apart for that reason.
  const cacheKey = opts.cacheDir !== null ? featureCacheKey({ spec, fit: opts.crop ? 'centre,crop-loudest' : 'centre', clips: ds.clips }) : null;
  if (opts.cacheDir !== null && cacheKey !== null) {
    const cached = await readFeatureCache(opts.cacheDir, cacheKey);
    if (cached && cached.count === ds.clips.length && cached.rowSize === rowSize) {
      features = cached.data;
      cacheState = 'hit';
      log(opts.quiet, `features: reused ${path.join(opts.cacheDir, `features-${cacheKey}.f32`)}`);
    }
  }
  // Audio is needed to compute features, or to augment them; a cache hit without
  // augmentation skips reading the clips altogether.
  if (features === null || augment) loaded = await loadClips(ds, ds.clips, spec.windowSamples, spec.sampleRate, opts.crop, opts.quiet);
  if (features === null) {
    features = featuresOf(extractor, (loaded as LoadedClips).audio, spec.windowSamples, rowSize, 'features', opts.quiet);
    if (opts.cacheDir !== null && cacheKey !== null) {
      await writeFeatureCache(opts.cacheDir, cacheKey, { data: features, count: ds.clips.length, rowSize }, { spec, data: ds.root, clips: ds.clips.length });
      cacheState = 'miss';
    }
  }
  const featureSeconds = (Date.now() - tFeat) / 1000;

  const stats = computeTrainStats(spec, features, rowSize, split.train);
  const gather = (x: Float32Array, idx: readonly number[]): Float32Array => {
    const out = new Float32Array(idx.length * rowSize);
    idx.forEach((src, j) => out.set(x.subarray(src * rowSize, (src + 1) * rowSize), j * rowSize));
    return out;
  };
  const trainX = gather(features, split.train);
  applyStats(stats, trainX, rowSize);
  const valX = gather(features, split.val);
  applyStats(stats, valX, rowSize);
  const trainY = Int32Array.from(split.train.map((i) => ds.clips[i]?.labelIndex ?? 0));
  const valY = Int32Array.from(split.val.map((i) => ds.clips[i]?.labelIndex ?? 0));
  opts.onFeatures?.({ trainX, trainY, valX, valY, inputShape, labels: ds.labels });

  let augmentationSummary = 'off';
  let syntheticShare = 0;
  let negativeCount = 0;
  let augmentFeatures: ((epoch: number, seed: number) => Float32Array) | null = null;
  const aopts: AugmentOptions = {
    ...(defaults.augmentation ?? defaultAugmentOptions(spec.sampleRate)),
    ...opts.augmentOverride,
    ...(opts.syntheticNoise !== undefined ? { interference: opts.syntheticNoise } : {}),
  };
  const masks: MaskOptions | null = opts.masksOverride !== undefined ? opts.masksOverride : (defaults.masks ?? null);
  const labelSmoothing = opts.labelSmoothingOverride ?? defaults.labelSmoothing ?? 0;
  const recalibrate = defaults.batchNormRecalibration ?? false;
  let trainLabels = trainY;
  if (augment && loaded) {
    const audio = loaded.audio;
    const { noise, source } = await loadNoise(opts.noiseDir, ds, split, audio, spec.sampleRate);
    const trainAudio = split.train.map((i) => fitClip(audio[i] as Float32Array, spec.windowSamples));
    const bank = aopts.interference > 0 ? buildInterference(ds, split, trainAudio, spec.windowSamples, spec.sampleRate, opts.seed) : [];
    const negatives = reversedNegatives(ds, split, opts.reversedNegatives ?? defaults.reversedNegatives ?? 0);
    if (negatives) trainLabels = Int32Array.from([...trainY, ...new Array<number>(negatives.count).fill(negatives.label)]);
    negativeCount = negatives?.count ?? 0;
    const { rows, frames } = featureShape(spec);
    augmentFeatures = (epoch: number, seed: number): Float32Array => {
      // One generator per epoch, derived from the (member's) seed: epoch e is the same whatever ran before.
      const rng: Rng = createRng((seed * 1000003 + epoch * 7919) >>> 0);
      const clips = trainAudio.map((a) => augmentClip(a, noise, aopts, rng, bank));
      if (negatives) {
        // Fresh sources each epoch: a word played backwards has the voice, loudness and spectrum
        // of speech but none of the keywords' order of sounds, which is what "_unknown_" must
        // learn to catch ("dog" and "down" are not "go").
        for (let k = 0; k < negatives.count; k++) {
          const src = trainAudio[negatives.sources[rng.int(negatives.sources.length)] as number] as Float32Array;
          clips.push(augmentClip(Float32Array.from(src).reverse(), noise, aopts, rng, bank));
        }
      }
      const x = featuresOf(extractor, clips, spec.windowSamples, rowSize, null);
      applyStats(stats, x, rowSize);
      if (masks) maskFeatures(x, clips.length, rows, frames, masks, rng);
      return x;
    };
    // Without background recordings every noisy clip gets the bank's noise.
    syntheticShare = bank.length === 0 ? 0 : noise.length === 0 ? 1 : aopts.interference;
    const inNetwork = defaults.inNetworkAugmentation ? `; ${defaults.inNetworkAugmentation}` : '';
    augmentationSummary = `${describeAugmentation({ ...aopts, interference: syntheticShare }, masks, spec.sampleRate, negativeCount)}, recorded noise from ${source}${inNetwork}`;
    log(opts.quiet, `augmentation: ${augmentationSummary}`);
  } else log(opts.quiet, 'augmentation: off');

  // 3. Model: one, or the members of an ensemble trained one after another.
  const backend: BackendInfo = await initBackend(opts.backend);
  const { tf } = backend;
  log(opts.quiet, `backend: ${backend.name}${backend.note ? ` (${backend.note})` : ''}`);
  const { buildModel } = await import('./architectures.js');
  const build = (seed: number, k: number): LayersModel =>
    opts.buildModelOverride
      ? opts.buildModelOverride(tf, inputShape, ds.labels.length, seed)
      : buildModel(tf, { type: opts.type, arch: opts.arch, inputShape, numClasses: ds.labels.length, seed, sampleRate: spec.sampleRate, namePrefix: memberPrefix(k, members), trainingMasks: augment, featureStats: stats, ...(opts.type === 'raw' ? { trainingClips: trainX } : {}) });

  const tb = opts.tensorboardDir !== undefined ? await openTensorboard(tf, opts.tensorboardDir) : null;
  let threads = backend.name === 'wasm' || backend.name === 'cpu' ? Math.min(opts.threads ?? defaultTrainingThreads(os.availableParallelism()), batchSize) : 1;
  let replicas: Replicas | null = null;
  if (threads > 1) {
    try {
      replicas = await Replicas.start(tf, threads, backend.name);
    } catch (err) {
      // Slower, not wrong: the same training on this thread alone.
      log(opts.quiet, `threads: ${threads} requested, but the training threads did not start (${errorMessage(err)}); training on one`);
      threads = 1;
    }
  }
  log(opts.quiet, `threads: ${threads}${threads > 1 ? ' (each takes a share of every mini-batch)' : ''}`);
  const tTrain = Date.now();
  const batchProgress = process.stderr.isTTY && !opts.quiet ? { p: createProgress('  batch', 1, { quiet: true }) } : null;
  const trained: LayersModel[] = [];
  const memberProbs: Float32Array[] = [];
  const history: EpochLog[] = [];
  try {
    for (let k = 0; k < members; k++) {
      const seed = memberSeed(opts.seed, k);
      const member = build(seed, k);
      const who = members > 1 ? `member ${k + 1}/${members} (seed ${seed}): ` : '';
      log(opts.quiet, `model: ${who}${opts.type}/${opts.arch}, ${member.countParams()} parameters, input ${inputShape.join('x')}; ${epochs} epochs, batch ${batchSize}, learning rate ${learningRate}`);
      const result = await trainLoop({
        tf,
        model: member,
        inputShape,
        numClasses: ds.labels.length,
        epochs,
        batchSize,
        learningRate,
        seed,
        // The notebooks trained with plain Adam at a fixed rate; --arch seed keeps that.
        schedule: opts.arch === 'seed' ? 'constant' : 'warmup-cosine',
        labelSmoothing,
        trainFeatures: (e) => (augmentFeatures ? augmentFeatures(e, seed) : trainX),
        trainLabels,
        ...(recalibrate ? { recalibrationFeatures: trainX } : {}),
        valFeatures: valX,
        valLabels: valY,
        replicas,
        onBatch: batchProgress
          ? (done, total) => {
              if (done === 1) batchProgress.p = createProgress(`  epoch batches`, total);
              batchProgress.p.update(done);
              if (done === total) batchProgress.p.done();
            }
          : undefined,
        onEpoch: (h) => {
          const elapsed = (Date.now() - tTrain) / 1000;
          const done = k * epochs + h.epoch;
          const eta = (elapsed / done) * (members * epochs - done);
          const val = h.valAcc === null ? '' : `  val_loss ${(h.valLoss ?? 0).toFixed(3)}  val_acc ${(100 * h.valAcc).toFixed(1)}%`;
          const more = done < members * epochs;
          log(opts.quiet, `${members > 1 ? `member ${k + 1}/${members} ` : ''}epoch ${h.epoch}/${h.epochs}  loss ${h.loss.toFixed(3)}  acc ${(100 * h.acc).toFixed(1)}%${val}  ${h.seconds.toFixed(1)}s${more ? `  ETA ${formatSeconds(eta)}` : ''}`);
          tb?.write(h, k * epochs);
        },
      });
      trained.push(member);
      memberProbs.push(result.valProbs);
      history.push(...result.history.map((h) => (members > 1 ? { ...h, member: k + 1 } : h)));
    }
  } finally {
    await replicas?.close();
  }
  const model = averageModels(tf, trained, `kws_${opts.type}_${opts.arch}_ensemble${members}`);
  const valProbs = meanOf(memberProbs);
  const validation = split.val.length > 0 ? evaluatePredictions(ds.labels, valY, argmaxRows(valProbs, ds.labels.length)) : null;
  // An ensemble's accuracy is its average's, not its last member's.
  const valAccuracy = validation ? validation.accuracy : null;
  const finalEpochs = history.filter((h) => h.epoch === epochs);
  const trainAccuracy = finalEpochs.length > 0 ? finalEpochs.reduce((a, h) => a + h.acc, 0) / finalEpochs.length : null;
  if (members > 1 && validation) log(opts.quiet, `ensemble of ${members}: val_acc ${(100 * validation.accuracy).toFixed(1)}% (members: ${finalEpochs.map((h) => `${(100 * (h.valAcc ?? 0)).toFixed(1)}%`).join(', ')})`);
  const secondsPerEpoch = history.reduce((a, h) => a + h.seconds, 0) / Math.max(1, history.length);

  const settings = summarizeSettings({ arch: opts.arch, epochs, batchSize, learningRate, valSplit, splitBy, seed: opts.seed, augment, syntheticNoise: syntheticShare, ensemble: members, backend: backend.name, threads });
  const datasetSummary: DatasetSummary = { fingerprint: ds.fingerprint, clipsPerLabel: counts, trainClips: split.train.length, valClips: split.val.length };
  const createdAt = new Date().toISOString();
  const meta: ModelMetadata = {
    format: 'kws-model',
    formatVersion: 1,
    name,
    type: opts.type,
    labels: ds.labels,
    featureSpec: spec,
    stats,
    training: settings,
    dataset: datasetSummary,
    metrics: { valAccuracy, trainAccuracy },
    kwsVersion: VERSION,
    createdAt,
  };

  const out: TrainResult = {
    name,
    type: opts.type,
    arch: opts.arch,
    backend: backend.name,
    threads,
    modelDir: null,
    statsFile: null,
    reportFile: null,
    labels: ds.labels,
    trainClips: split.train.length,
    valClips: split.val.length,
    splitBy,
    augment,
    ensemble: members,
    epochs,
    batchSize,
    learningRate,
    valAccuracy,
    trainAccuracy,
    secondsPerEpoch,
    featureSeconds,
    featureCache: cacheState,
    history,
    validation,
  };
  if (opts.dryRun) {
    model.dispose();
    return out;
  }

  // 4. Publish: model folder (atomic, never overwrites), then report and stats. If a later
  // write fails, the model folder goes again so no model exists without its stats.
  const report = renderReport({
    name,
    type: opts.type,
    arch: opts.arch,
    backend: backend.name,
    createdAt,
    featureDescription: describeSpec(spec),
    settings: {
      epochs,
      'batch size': batchSize,
      'learning rate': learningRate,
      'validation split': `${valSplit} by ${splitBy}`,
      seed: opts.seed,
      ensemble: members === 1 ? 'no (one model)' : `${members} members (seeds ${Array.from({ length: members }, (_, k) => memberSeed(opts.seed, k)).join(', ')}), probabilities averaged`,
      augmentation: augmentationSummary,
      'label smoothing': labelSmoothing,
      'batch-norm statistics': recalibrate ? 'recomputed on the un-augmented training clips after the last epoch' : 'moving averages from training',
      backend: threads > 1 ? `${backend.name}, ${threads} threads` : backend.name,
      'seconds per epoch': secondsPerEpoch.toFixed(1),
      'total seconds': ((Date.now() - t0) / 1000).toFixed(0),
      'dataset fingerprint': ds.fingerprint,
      'kws version': VERSION,
    },
    dataset: { clipsPerLabel: counts, trainClips: split.train.length, valClips: split.val.length, splitBy },
    history,
    validation,
  });
  const { saveModelFolder } = await import('./store.js');
  await saveModelFolder(modelDir, model, meta);
  try {
    const reportFile = path.join(modelDir, 'report.html');
    await writeFileAtomic(reportFile, report);
    await writeStatsNoClobber(statsFile, stats, spec);
    out.modelDir = modelDir;
    out.statsFile = statsFile;
    out.reportFile = reportFile;
  } catch (err) {
    await fsp.rm(modelDir, { recursive: true, force: true });
    throw err;
  }
  model.dispose();
  return out;
}

async function writeStatsNoClobber(file: string, stats: NormStats, spec: FeatureSpec): Promise<void> {
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = tempPathFor(file);
  await fsp.writeFile(tmp, `${JSON.stringify(statsToJson(stats, spec))}\n`);
  await publishNoClobber(tmp, file);
}

interface TbWriter {
  /** One epoch's scalars at step offset + epoch (an ensemble's members follow one another). */
  write(h: EpochLog, offset: number): void;
}

/** Scalars for TensorBoard through tfjs-node's summary writer (only present with tfjs-node). */
async function openTensorboard(tf: TF, dir: string): Promise<TbWriter> {
  const nodeNs = (tf as unknown as { node?: { summaryFileWriter(d: string): { scalar(n: string, v: number, s: number): void; flush(): void } } }).node;
  if (!nodeNs) {
    throw new UserError('--tensorboard needs the tfjs-node backend, but another backend is running', {
      exitCode: ExitCode.dependency,
      hint: 'Use --backend tfjs-node (with @tensorflow/tfjs-node installed), or leave out --tensorboard.',
    });
  }
  const train = nodeNs.summaryFileWriter(path.join(dir, 'train'));
  const val = nodeNs.summaryFileWriter(path.join(dir, 'val'));
  return {
    write(h, offset) {
      const step = offset + h.epoch;
      train.scalar('loss', h.loss, step);
      train.scalar('accuracy', h.acc, step);
      if (h.valLoss !== null) val.scalar('loss', h.valLoss, step);
      if (h.valAcc !== null) val.scalar('accuracy', h.valAcc, step);
      train.flush();
      val.flush();
    },
  };
}
