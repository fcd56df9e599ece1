/**
 * What a model folder says about itself (models/NAME/kws-model.json). Everything
 * needed to use a model travels with it: labels in output order, the feature spec,
 * normalisation statistics, how it was trained and on what.
 *
 * Owner: model core. (Types here are a contract shared with train, serve and stream.)
 */
import { parseFeatureSpec, type FeatureSpec } from '../features/spec';
import { parseStats, type NormStats } from '../features/normalize';
import { inputError } from '../util/errors';

/** The user-facing model type (`--type`), as the original's server flags named them. */
export type ModelType = 'mfcc' | 'spectrogram' | 'raw';
/** 'seed' = the notebooks' exact architecture; 'default' = the one chosen to generalise. */
export type ArchName = 'seed' | 'default';

export interface TrainingSettings {
  arch: ArchName;
  epochs: number;
  batchSize: number;
  learningRate: number;
  valSplit: number;
  /** How the validation split was made: shuffled clips, or whole voices/speakers held out. */
  splitBy: 'clip' | 'group';
  seed: number;
  augment: boolean;
  /**
   * Share of the noisy training clips that got synthetic interference instead of a background
   * recording (0 without augmentation; folders written before the field read as 0).
   */
  syntheticNoise: number;
  /** Members averaged in the model (1: a single model; older folders have none and read as 1). */
  ensemble: number;
  backend: string;
  /** Threads that shared every mini-batch (src/model/replicas.ts; older folders read as 1). */
  threads: number;
}

export interface DatasetSummary {
  /** Hash over the sorted (relative path, size, mtime) of every clip used. */
  fingerprint: string;
  clipsPerLabel: Record<string, number>;
  trainClips: number;
  valClips: number;
}

export interface ModelMetadata {
  format: 'kws-model';
  formatVersion: 1;
  name: string;
  type: ModelType;
  labels: string[];
  featureSpec: FeatureSpec;
  stats: NormStats;
  training: TrainingSettings;
  dataset: DatasetSummary;
  metrics: { valAccuracy: number | null; trainAccuracy: number | null };
  kwsVersion: string;
  createdAt: string;
}

export const METADATA_FILE = 'kws-model.json';

// ---------------------------------------------------------------------------
// Reading a metadata file back. Every problem is reported in one inputError naming the file,
// so a person can see at once what is wrong with a hand-edited or truncated model folder.


const MODEL_TYPES_SET = new Set<string>(['mfcc', 'spectrogram', 'raw']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** Validate parsed JSON as ModelMetadata (`source` names the file in errors). */
export function parseMetadata(json: unknown, source: string): ModelMetadata {
  if (!isObject(json)) throw inputError(`${source}: model metadata must be a JSON object`);
  if (json.format !== 'kws-model') throw inputError(`${source}: not a kws model metadata file (format is ${JSON.stringify(json.format)}, expected "kws-model")`);
  if (json.formatVersion !== 1) {
    throw inputError(`${source}: model format version ${JSON.stringify(json.formatVersion)} is not supported by this kws (it reads version 1)`, 'Upgrade kws, or retrain the model with this version.');
  }
  const problems: string[] = [];
  if (typeof json.name !== 'string' || json.name === '') problems.push('name must be a non-empty string');
  if (typeof json.type !== 'string' || !MODEL_TYPES_SET.has(json.type)) problems.push(`type must be mfcc, spectrogram or raw (got ${JSON.stringify(json.type)})`);
  const labels = json.labels;
  if (!Array.isArray(labels) || labels.length < 2 || !labels.every((l) => typeof l === 'string' && l !== '')) {
    problems.push('labels must be a list of at least 2 non-empty strings');
  } else if (new Set(labels).size !== labels.length) {
    problems.push('labels must be distinct');
  }
  const t = json.training;
  if (!isObject(t)) problems.push('training settings are missing');
  const d = json.dataset;
  if (!isObject(d)) problems.push('dataset summary is missing');
  const m = json.metrics;
  if (!isObject(m)) problems.push('metrics are missing');
  if (problems.length > 0) throw inputError(`${source}: invalid model metadata:\n  - ${problems.join('\n  - ')}`, 'The model folder is damaged; retrain the model.');
  const featureSpec = parseFeatureSpec(json.featureSpec, `${source} (featureSpec)`);
  const stats = parseStats(json.stats, `${source} (stats)`);
  const tr = t as Record<string, unknown>;
  const ds = d as Record<string, unknown>;
  const mt = m as Record<string, unknown>;
  const clipsPerLabel: Record<string, number> = {};
  if (isObject(ds.clipsPerLabel)) for (const [k, v] of Object.entries(ds.clipsPerLabel)) if (num(v) !== null) clipsPerLabel[k] = v as number;
  return {
    format: 'kws-model',
    formatVersion: 1,
    name: json.name as string,
    type: json.type as ModelType,
    labels: (labels as string[]).slice(),
    featureSpec,
    stats,
    training: {
      arch: tr.arch === 'seed' ? 'seed' : 'default',
      epochs: num(tr.epochs) ?? 0,
      batchSize: num(tr.batchSize) ?? 0,
      learningRate: num(tr.learningRate) ?? 0,
      valSplit: num(tr.valSplit) ?? 0,
      splitBy: tr.splitBy === 'group' ? 'group' : 'clip',
      seed: num(tr.seed) ?? 0,
      augment: tr.augment === true,
      syntheticNoise: num(tr.syntheticNoise) ?? 0,
      ensemble: num(tr.ensemble) ?? 1,
      threads: num(tr.threads) ?? 1,
      backend: typeof tr.backend === 'string' ? tr.backend : 'unknown',
    },
    dataset: {
      fingerprint: typeof ds.fingerprint === 'string' ? ds.fingerprint : '',
      clipsPerLabel,
      trainClips: num(ds.trainClips) ?? 0,
      valClips: num(ds.valClips) ?? 0,
    },
    metrics: { valAccuracy: num(mt.valAccuracy), trainAccuracy: num(mt.trainAccuracy) },
    kwsVersion: typeof json.kwsVersion === 'string' ? json.kwsVersion : 'unknown',
    createdAt: typeof json.createdAt === 'string' ? json.createdAt : '',
  };
}
