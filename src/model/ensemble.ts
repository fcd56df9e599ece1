/**
 * Ensembles: K copies of an architecture trained from different seeds, whose class
 * probabilities are averaged. Measured on the hardest speaker-disjoint split of the shared
 * keyword set (docs/training.md), single mfcc models scored 91.9-94.2 % depending on nothing but
 * their seed, and every average of four of them 94.75-95.0 %: the members disagree on the clips
 * they get wrong.
 *
 * The trained members become one ordinary layers model (their layers side by side, then an
 * Average layer), so every reader of a model folder (kws serve, predict, stream, another
 * TensorFlow.js program) runs an ensemble without knowing it is one.
 *
 * Owner: training.
 */
import type { TF } from './backend';

type LayersModel = import('@tensorflow/tfjs').LayersModel;
type SymbolicTensor = import('@tensorflow/tfjs').SymbolicTensor;
type Layer = import('@tensorflow/tfjs').layers.Layer;

/** Most members `kws train --ensemble` accepts: each costs a full training and a full inference. */
export const MAX_ENSEMBLE = 8;

/**
 * Seed of member k (0-based). Member 0 keeps the run's seed, so an ensemble of one is exactly the
 * single model; the others are far enough apart that no two members of nearby runs share a seed.
 */
export function memberSeed(seed: number, k: number): number {
  return k === 0 ? seed : (seed + 100 * k) >>> 0;
}

/** Layer-name prefix of member k of `count`: none for a single model, which keeps its usual names. */
export function memberPrefix(k: number, count: number): string {
  return count === 1 ? '' : `m${k + 1}_`;
}

/**
 * How many leading layers every member has in common: same class and configuration apart from
 * the name, nothing trainable, and equal weights. The raw default's frozen front end (Fourier
 * convolution, power, mel weights, log) is such a prefix, about two fifths of a raw member's
 * inference cost: three raw members took 12.1 ms per window with it computed once, 17.0 ms
 * without (WASM, batch 64, one run).
 */
export function sharedPrefixLength(members: readonly LayersModel[]): number {
  const first = members[0];
  if (!first || members.length < 2) return 0;
  const configOf = (layer: Layer): string => {
    const { name: _name, ...rest } = layer.getConfig();
    return `${layer.getClassName()} ${JSON.stringify(rest)}`;
  };
  const depth = Math.min(...members.map((m) => m.layers.length)) - 1; // the outputs are never shared
  let n = 0;
  for (; n < depth; n++) {
    const here = first.layers[n] as Layer;
    if (here.trainableWeights.length > 0) break;
    const config = configOf(here);
    const weights = here.getWeights().map((w) => w.dataSync());
    const sameAsHere = (other: Layer): boolean => {
      const theirs = other.getWeights().map((w) => w.dataSync());
      return (
        other.trainableWeights.length === 0 &&
        configOf(other) === config &&
        theirs.length === weights.length &&
        theirs.every((t, i) => t.length === weights[i]?.length && t.every((v, j) => v === weights[i]?.[j]))
      );
    };
    if (!members.slice(1).every((m) => sameAsHere(m.layers[n] as Layer))) break;
  }
  return n;
}

/**
 * One model computing the mean of the members' outputs. The members must be sequential models
 * with one input of the same shape and layer names unique across all of them (memberPrefix).
 * Their common frozen prefix (sharedPrefixLength) runs once, as member 1's layers. The layers
 * are shared, not copied: do not dispose a member while the ensemble is in use.
 */
export function averageModels(tf: TF, members: LayersModel[], name: string): LayersModel {
  const first = members[0];
  if (!first) throw new RangeError('an ensemble needs at least one member');
  if (members.length === 1) return first;
  const shape = (first.inputs[0]?.shape ?? []).slice(1) as number[];
  members.forEach((m, k) => {
    const inShape = (m.inputs[0]?.shape ?? []).slice(1).join('x');
    if (inShape !== shape.join('x')) throw new RangeError(`ensemble member ${k + 1} takes input ${inShape}, member 1 takes ${shape.join('x')}`);
  });
  const input = tf.input({ shape, name: 'features' });
  // Re-apply the members' own layers to the shared input: the saved graph is flat, with no
  // nested models for a loader to understand.
  const shared = sharedPrefixLength(members);
  let common: SymbolicTensor = input;
  for (const layer of first.layers.slice(0, shared)) common = layer.apply(common) as SymbolicTensor;
  const outputs = members.map((m) => {
    let x = common;
    for (const layer of m.layers.slice(shared)) x = layer.apply(x) as SymbolicTensor;
    return x;
  });
  const mean = tf.layers.average({ name: 'probabilities' }).apply(outputs) as SymbolicTensor;
  return tf.model({ inputs: input, outputs: mean, name });
}

/** Element-wise mean of equally long probability arrays (the members' validation outputs). */
export function meanOf(arrays: readonly Float32Array[]): Float32Array {
  const first = arrays[0];
  if (!first) return new Float32Array(0);
  const out = new Float32Array(first.length);
  for (const a of arrays) {
    if (a.length !== out.length) throw new RangeError(`cannot average arrays of ${out.length} and ${a.length} values`);
    for (let i = 0; i < a.length; i++) out[i] = (out[i] as number) + (a[i] as number);
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / arrays.length;
  return out;
}
