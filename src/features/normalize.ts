/**
 * Normalisation statistics computed on the training split and applied identically
 * at inference. Owner: features.
 *
 * As the notebooks: MFCC and log-mel use per-element mean and standard deviation
 * (population std, numpy's default ddof=0) and map x -> (x - mean) / std; raw audio
 * uses the scalar min and max and maps x -> (x - min) / (max - min + 1e-6) - 0.5.
 *
 * Zero standard deviation: an element whose training std is below MIN_STD (1e-6) is
 * divided by 1 instead, i.e. it is only centred. Such an element was (nearly) constant
 * in training, so it carries no information the model could have learned to scale;
 * dividing by ~0 would turn float noise at inference into huge values, and by 0 into
 * NaN/Infinity (what the original produced).
 */
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { errnoCode, errorMessage, inputError } from '../util/errors';
import { writeFileAtomic } from '../util/fsutil';
import { parseNpy, NpyFormatError } from './npy';
import { featureSize, type FeatureSpec } from './spec';

/** Per-element mean/std (MFCC, log-mel), or scalar min/max (raw), as the notebooks did. */
export type NormStats =
  | { kind: 'standard'; mean: number[]; std: number[] }
  | { kind: 'minmax'; min: number; max: number };

/** Standard deviations below this are treated as 1 (see the file comment). */
export const MIN_STD = 1e-6;
/** The notebooks' guard in the raw min/max scaling. */
export const MINMAX_EPS = 1e-6;

/**
 * Statistics over the training features (each one array of featureSize(spec) values), in one
 * pass, so a generator is enough.
 */
export function computeStats(spec: FeatureSpec, features: Iterable<Float32Array>): NormStats {
  const size = featureSize(spec);
  if (spec.kind === 'raw') {
    let count = 0;
    let min = Infinity;
    let max = -Infinity;
    for (const f of features) {
      checkLength(f, size);
      for (let i = 0; i < f.length; i++) {
        const v = f[i];
        if (v < min) min = v;
        if (v > max) max = v;
      }
      count++;
    }
    if (count === 0) throw inputError('cannot compute normalisation statistics: there are no training clips');
    return { kind: 'minmax', min, max };
  }
  return { kind: 'standard', ...elementStats(features, size) };
}

/**
 * Per-element mean and population std of arrays of `size` values (Welford's update in float64,
 * one pass): the MFCC and log-mel statistics, and the raw default's in-network log-mel ones.
 */
export function elementStats(features: Iterable<Float32Array>, size: number): { mean: number[]; std: number[] } {
  let count = 0;
  const mean = new Float64Array(size);
  const m2 = new Float64Array(size);
  for (const f of features) {
    checkLength(f, size);
    count++;
    const inv = 1 / count;
    for (let i = 0; i < size; i++) {
      const d = f[i] - mean[i];
      mean[i] += d * inv;
      m2[i] += d * (f[i] - mean[i]);
    }
  }
  if (count === 0) throw inputError('cannot compute normalisation statistics: there are no training clips');
  const std = new Array<number>(size);
  for (let i = 0; i < size; i++) std[i] = Math.sqrt(Math.max(0, m2[i] / count));
  return { mean: Array.from(mean), std };
}

/** What a feature is multiplied by after centring: 1 / std, or 1 where std < MIN_STD (see the file comment). */
export function inverseStd(std: number): number {
  return std >= MIN_STD ? 1 / std : 1;
}

function checkLength(f: Float32Array, size: number): void {
  if (f.length !== size) throw new RangeError(`feature array has ${f.length} values, the spec needs ${size}`);
}

/**
 * A NormStats prepared for fast repeated use (inverse std precomputed in a typed array).
 * normalizeInPlace builds one per call; hot loops (the server) should keep one.
 */
export class Normalizer {
  private readonly mean: Float64Array | null;
  private readonly invStd: Float64Array | null;
  private readonly min: number;
  private readonly scale: number;

  constructor(readonly stats: NormStats) {
    if (stats.kind === 'standard') {
      if (stats.mean.length !== stats.std.length) throw new RangeError(`stats have ${stats.mean.length} means but ${stats.std.length} standard deviations`);
      this.mean = Float64Array.from(stats.mean);
      this.invStd = Float64Array.from(stats.std, inverseStd);
      this.min = 0;
      this.scale = 1;
    } else {
      this.mean = null;
      this.invStd = null;
      this.min = stats.min;
      this.scale = 1 / (stats.max - stats.min + MINMAX_EPS);
    }
  }

  /** Normalise x in place; returns x. */
  apply(x: Float32Array): Float32Array {
    if (this.mean !== null && this.invStd !== null) {
      const mean = this.mean;
      const inv = this.invStd;
      if (x.length !== mean.length) throw new RangeError(`feature array has ${x.length} values but the statistics have ${mean.length}`);
      for (let i = 0; i < x.length; i++) x[i] = (x[i] - mean[i]) * inv[i];
    } else {
      const min = this.min;
      const scale = this.scale;
      for (let i = 0; i < x.length; i++) x[i] = (x[i] - min) * scale - 0.5;
    }
    return x;
  }
}

export function normalizeInPlace(stats: NormStats, x: Float32Array): Float32Array {
  return new Normalizer(stats).apply(x);
}

/** Throws an inputError naming `source` when the stats do not fit features of `spec`. */
export function checkStatsFit(stats: NormStats, spec: FeatureSpec, source: string): void {
  const wantMinmax = spec.kind === 'raw';
  if (wantMinmax !== (stats.kind === 'minmax')) {
    throw inputError(
      `${source}: ${stats.kind === 'minmax' ? 'min/max' : 'mean/std'} statistics do not fit ${spec.kind} features`,
      `${spec.kind === 'raw' ? 'Raw models need max_data/min_data statistics' : 'MFCC and log-mel models need per-element mean/std statistics'}.`,
    );
  }
  if (stats.kind === 'standard' && stats.mean.length !== featureSize(spec)) {
    throw inputError(`${source}: statistics have ${stats.mean.length} values but ${spec.kind} features of this spec have ${featureSize(spec)}`, 'Use the statistics computed for this model, or retrain it.');
  }
}

// ---------------------------------------------------------------------------
// Files. kws writes stats/NAME.json as {"format":"kws-stats", ...}. It also reads the
// original's files: stats/NAME.npy = np.array([std, mean]) (std first) and
// stats/NAME.json = {"max_data": "...", "min_data": "..."} with numbers as strings.

export interface StatsFile {
  format: 'kws-stats';
  formatVersion: 1;
  stats: NormStats;
  /** The spec the statistics were computed for, when known. */
  featureSpec?: FeatureSpec;
}

export function statsToJson(stats: NormStats, featureSpec?: FeatureSpec): StatsFile {
  const file: StatsFile = { format: 'kws-stats', formatVersion: 1, stats };
  if (featureSpec) file.featureSpec = featureSpec;
  return file;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numberArray(v: unknown): number[] | null {
  if (!Array.isArray(v)) return null;
  const out: number[] = [];
  for (const x of v) {
    if (typeof x !== 'number' || !Number.isFinite(x)) return null;
    out.push(x);
  }
  return out;
}

/** A number, or a string holding one (the original wrote str(np.max(...))). */
function looseNumber(v: unknown): number | null {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : null;
}

/** Parse the statistics part of a kws stats file, kws model metadata, or the original's JSON. */
export function parseStats(json: unknown, source: string): NormStats {
  if (!isRecord(json)) throw inputError(`${source}: statistics must be a JSON object`);
  if (json.format === 'kws-stats') return parseStats(json.stats, source);
  if ('max_data' in json || 'min_data' in json) {
    const max = looseNumber(json.max_data);
    const min = looseNumber(json.min_data);
    if (max === null || min === null) throw inputError(`${source}: max_data and min_data must be numbers (or strings holding numbers)`);
    if (max < min) throw inputError(`${source}: max_data (${max}) is smaller than min_data (${min})`);
    return { kind: 'minmax', min, max };
  }
  if (json.kind === 'minmax') {
    const min = looseNumber(json.min);
    const max = looseNumber(json.max);
    if (min === null || max === null || max < min) throw inputError(`${source}: minmax statistics need numbers min <= max`);
    return { kind: 'minmax', min, max };
  }
  if (json.kind === 'standard') {
    const mean = numberArray(json.mean);
    const std = numberArray(json.std);
    if (!mean || !std) throw inputError(`${source}: standard statistics need finite number arrays "mean" and "std"`);
    if (mean.length !== std.length) throw inputError(`${source}: "mean" has ${mean.length} values but "std" has ${std.length}`);
    if (std.some((s) => s < 0)) throw inputError(`${source}: a standard deviation is negative`);
    return { kind: 'standard', mean, std };
  }
  throw inputError(`${source}: not a statistics file (expected kws stats, or the original's max_data/min_data)`);
}

/** The original's stats/NAME.npy: an array [std, mean] (std first) of any feature shape. */
export function statsFromOriginalNpy(buf: Buffer, source: string): NormStats {
  let arr;
  try {
    arr = parseNpy(buf);
  } catch (err) {
    if (err instanceof NpyFormatError) throw inputError(`${source}: ${err.message}`);
    throw err;
  }
  if (arr.shape.length < 1 || arr.shape[0] !== 2) {
    throw inputError(`${source}: expected an array [std, mean] with first dimension 2, got shape (${arr.shape.join(', ')})`);
  }
  const n = arr.data.length / 2;
  const std = Array.from(arr.data.subarray(0, n));
  const mean = Array.from(arr.data.subarray(n));
  if (std.some((s) => !Number.isFinite(s) || s < 0) || mean.some((m) => !Number.isFinite(m))) {
    throw inputError(`${source}: statistics contain NaN, infinite or negative standard deviations`);
  }
  return { kind: 'standard', mean, std };
}

/** Read stats from a kws stats JSON, or the original's .npy / .json. */
export async function readStatsFile(file: string): Promise<NormStats> {
  let buf: Buffer;
  try {
    buf = await fsp.readFile(file);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') throw inputError(`statistics file not found: ${file}`, 'Train a model first (kws train), or give the path to an existing stats file.');
    throw inputError(`cannot read statistics file ${file}: ${errorMessage(err)}`);
  }
  if (path.extname(file).toLowerCase() === '.npy') return statsFromOriginalNpy(buf, file);
  let json: unknown;
  try {
    json = JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw inputError(`${file}: not valid JSON (${errorMessage(err)})`);
  }
  return parseStats(json, file);
}

export async function writeStatsFile(file: string, stats: NormStats, featureSpec?: FeatureSpec): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(statsToJson(stats, featureSpec))}\n`);
}
