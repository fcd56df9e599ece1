/**
 * Classifier: normalises raw feature windows with the model's own statistics, batches them into one
 * call, and gives the same answers as normalising and predicting by hand.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { initBackend, type TF } from '../../src/model/backend';
import { buildModel, defaultSpec } from '../../src/model/architectures';
import { saveModelFolder, loadModelFolder } from '../../src/model/store';
import { Classifier } from '../../src/model/classifier';
import type { ModelMetadata } from '../../src/model/metadata';
import { featureSize, modelInputShape } from '../../src/features/spec';
import { FeatureExtractor } from '../../src/features/extract';
import { fitToWindow } from '../../src/features/window';
import { createRng } from '../../src/util/rng';
import { makeTempDir } from '../helpers';

const tmp = makeTempDir('kws-classifier-');
const modelsDir = path.join(tmp, 'models');
const labels = ['clap', 'snap', 'yes'];
const spec = defaultSpec('mfcc');
const size = featureSize(spec);
let tf: TF;

function window(seed: number): Float32Array {
  const rng = createRng(seed);
  // Unnormalised MFCC-like values: large offsets per coefficient, as real features have.
  return Float32Array.from({ length: size }, (_, i) => -200 + 10 * Math.floor(i / 97) + 30 * rng.normal());
}

before(async () => {
  tf = (await initBackend('wasm')).tf;
  const model = buildModel(tf, { type: 'mfcc', arch: 'default', inputShape: modelInputShape(spec), numClasses: labels.length, seed: 3 });
  const meta: ModelMetadata = {
    format: 'kws-model',
    formatVersion: 1,
    name: 'clf',
    type: 'mfcc',
    labels,
    featureSpec: spec,
    stats: { kind: 'standard', mean: Array.from({ length: size }, (_, i) => -200 + 10 * Math.floor(i / 97)), std: Array.from({ length: size }, () => 30) },
    training: { arch: 'default', epochs: 1, batchSize: 8, learningRate: 0.001, valSplit: 0.2, splitBy: 'clip', seed: 1, augment: false, syntheticNoise: 0, ensemble: 1, backend: 'wasm', threads: 1 },
    dataset: { fingerprint: 'x', clipsPerLabel: { clap: 1, snap: 1, yes: 1 }, trainClips: 3, valClips: 0 },
    metrics: { valAccuracy: null, trainAccuracy: null },
    kwsVersion: '0.1.0',
    createdAt: new Date(0).toISOString(),
  };
  await saveModelFolder(path.join(modelsDir, 'clf'), model, meta);
  model.dispose();
});

/** What the classifier should compute: (x - mean) / std, then the model. */
async function byHand(windows: Float32Array[]): Promise<Float32Array[]> {
  const { model, meta } = await loadModelFolder('clf', tf, { modelsDir });
  if (meta.stats.kind !== 'standard') throw new Error('fixture has standard stats');
  const { mean, std } = meta.stats;
  const flat = new Float32Array(windows.length * size);
  windows.forEach((w, k) => w.forEach((v, i) => (flat[k * size + i] = (v - (mean[i] as number)) / (std[i] as number))));
  const p = model.predict(tf.tensor(flat, [windows.length, ...modelInputShape(spec)])) as ReturnType<typeof tf.tensor>;
  const data = p.dataSync();
  model.dispose();
  return windows.map((_, k) => data.slice(k * labels.length, (k + 1) * labels.length) as Float32Array);
}

function assertClose(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs((a[i] as number) - (b[i] as number)) < 1e-5, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('loads by name, exposes labels, spec and metadata', async () => {
  const c = await Classifier.load('clf', { backend: 'wasm', modelsDir });
  assert.deepEqual(c.labels, labels);
  assert.deepEqual(c.spec, spec);
  assert.equal(c.meta.name, 'clf');
  assert.equal(c.backend, 'wasm');
  assert.equal(c.windowSize, size);
  c.dispose();
});

test('predictFeatures normalises with the model stats and matches a by-hand prediction', async () => {
  const c = await Classifier.load('clf', { backend: 'wasm', modelsDir });
  const windows = [window(1), window(2), window(3), window(4), window(5)];
  const copies = windows.map((w) => w.slice());
  const got = c.predictFeatures(windows);
  assert.deepEqual(windows, copies, 'inputs are not modified');
  const want = await byHand(windows);
  got.forEach((p, k) => assertClose(p, want[k] as Float32Array, `window ${k}`));
  // Distinct inputs give distinct outputs: the batch rows are not mixed up.
  assert.notDeepEqual(got[0], got[1]);
  // One at a time gives the same answers as the batch (the reused buffer is handled right).
  windows.forEach((w, k) => assertClose((c.predictFeatures([w])[0] as Float32Array), got[k] as Float32Array, `single ${k}`));
  for (const p of got) assert.ok(Math.abs(p.reduce((s, v) => s + v, 0) - 1) < 1e-4);
  const top = c.top(got[0] as Float32Array);
  assert.equal(top.label, labels[top.index]);
  assert.equal(top.probability, Math.max(...(got[0] as Float32Array)));
  assert.deepEqual(c.predictFeatures([]), []);
  assert.throws(() => c.predictFeatures([new Float32Array(10)]), /has 10 values; this model needs/);
  c.dispose();
});

test('predictClips fits, extracts and predicts whole clips', async () => {
  const c = await Classifier.load('clf', { backend: 'wasm', modelsDir });
  const rng = createRng(9);
  const short = Float32Array.from({ length: 9000 }, () => 0.1 * rng.normal());
  const long = Float32Array.from({ length: 20000 }, (_, i) => 0.3 * Math.sin(i / 7));
  const got = c.predictClips([short, long]);
  const ex = new FeatureExtractor(spec);
  const feats = [short, long].map((clip) => ex.compute(fitToWindow(clip, spec.windowSamples, { mode: 'centre' })));
  const want = c.predictFeatures(feats);
  assertClose(got[0] as Float32Array, want[0] as Float32Array, 'short clip');
  assertClose(got[1] as Float32Array, want[1] as Float32Array, 'long clip');
  c.dispose();
});
