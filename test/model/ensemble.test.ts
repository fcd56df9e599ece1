/**
 * Ensembles: the merged model computes the mean of its members' probabilities, is one flat graph
 * (no nested models for a loader to understand), keeps unique layer names even for the raw
 * model's named front end, and survives a save on one backend and a load on another.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, type TF } from '../../src/model/backend';
import { buildModel } from '../../src/model/architectures';
import { averageModels, meanOf, memberPrefix, memberSeed, sharedPrefixLength } from '../../src/model/ensemble';
import { saveModelFolder, loadModelFolder, MODEL_FILE } from '../../src/model/store';
import type { ModelMetadata } from '../../src/model/metadata';
import { makeTempDir } from '../helpers';

type Tensor = import('@tensorflow/tfjs').Tensor;

let tf: TF;
const tmp = makeTempDir('kws-ensemble-');

before(async () => {
  tf = (await initBackend('cpu')).tf;
});

test('member 0 keeps the run seed and plain layer names; other members get distinct seeds and prefixes', () => {
  assert.equal(memberSeed(42, 0), 42);
  assert.deepEqual([1, 2, 3].map((k) => memberSeed(42, k)), [142, 242, 342]);
  assert.equal(memberSeed(2 ** 32 - 1, 1), 99, 'wraps within 32 bits like --seed');
  assert.equal(memberPrefix(0, 1), '');
  assert.deepEqual([0, 1].map((k) => memberPrefix(k, 2)), ['m1_', 'm2_']);
});

test('meanOf averages element-wise and refuses arrays of different lengths', () => {
  assert.deepEqual(Array.from(meanOf([Float32Array.from([0.2, 0.8]), Float32Array.from([0.6, 0.4])])), [Float32Array.from([0.4])[0], Float32Array.from([0.6])[0]]);
  assert.throws(() => meanOf([new Float32Array(2), new Float32Array(3)]), /2 and 3/);
  assert.equal(meanOf([]).length, 0);
});

function rawMembers(count: number): ReturnType<typeof buildModel>[] {
  return Array.from({ length: count }, (_, k) =>
    buildModel(tf, { type: 'raw', arch: 'default', inputShape: [3200, 1], numClasses: 3, seed: memberSeed(7, k), namePrefix: memberPrefix(k, count) }),
  );
}

test('an ensemble of one is the member itself', () => {
  const [m] = rawMembers(1);
  assert.ok(m);
  assert.equal(averageModels(tf, [m], 'one'), m);
  m.dispose();
});

test('the shared prefix is the frozen front end with equal weights, and nothing of a spectral model', () => {
  const raw = rawMembers(3);
  const names = (raw[0]?.layers ?? []).map((l) => l.name);
  assert.equal(sharedPrefixLength(raw), 6, `shared: ${names.slice(0, sharedPrefixLength(raw)).join(', ')}`);
  assert.deepEqual(names.slice(0, 6), ['m1_fourier', 'm1_power', 'm1_mel', 'm1_log', 'm1_log_mel_norm', 'm1_lifter']);
  // A frozen layer whose weights differ ends the prefix there.
  const mel = raw[2]?.getLayer('m3_mel');
  assert.ok(mel);
  mel.setWeights(mel.getWeights().map((w) => w.mul(1.5)));
  assert.equal(sharedPrefixLength(raw), 2);
  assert.equal(sharedPrefixLength(raw.slice(0, 1)), 0, 'one member shares with nobody');
  const mfcc = [0, 1].map((k) => buildModel(tf, { type: 'mfcc', arch: 'default', inputShape: [20, 51, 1], numClasses: 3, seed: memberSeed(7, k), namePrefix: memberPrefix(k, 2) }));
  // The mfcc default's reshape, permute and fixed mel envelope are shared; its band normalisation trains.
  assert.equal(sharedPrefixLength(mfcc), 3);
  const seedMfcc = [0, 1].map((k) => buildModel(tf, { type: 'mfcc', arch: 'seed', inputShape: [40, 33, 1], numClasses: 3, seed: memberSeed(7, k), namePrefix: memberPrefix(k, 2) }));
  assert.equal(sharedPrefixLength(seedMfcc), 0, 'a trainable first layer is never shared');
  mfcc.push(...seedMfcc);
  for (const m of [...raw, ...mfcc]) m.dispose();
});

test('an ensemble of raw models outputs the mean of its members, saved on cpu and loaded on wasm', async () => {
  await initBackend('cpu');
  const members = rawMembers(3);
  const x = tf.randomNormal([4, 3200, 1], 0, 0.2, 'float32', 21);
  const xData = x.dataSync().slice();
  const each = members.map((m) => (m.predict(x) as Tensor).dataSync() as Float32Array);
  // Different seeds give different members, or the test below would prove nothing.
  assert.ok(Math.abs((each[0]?.[0] ?? 0) - (each[1]?.[0] ?? 0)) > 1e-4, 'members differ');
  const ensemble = averageModels(tf, members, 'kws_raw_default_ensemble3');
  const merged = (ensemble.predict(x) as Tensor).dataSync();
  const mean = meanOf(each);
  for (let i = 0; i < mean.length; i++) assert.ok(Math.abs((merged[i] as number) - (mean[i] as number)) < 1e-6, `output ${i}: ${merged[i]} vs ${mean[i]}`);

  const names = ensemble.layers.map((l) => l.name);
  assert.equal(new Set(names).size, names.length, `unique layer names: ${names.join(', ')}`);
  for (const n of ['m1_fourier', 'm1_log', 'm2_band_norm', 'm3_band_norm', 'm3_probabilities', 'probabilities']) assert.ok(names.includes(n), `has layer ${n}`);
  // The frozen front end runs once: its layers appear for member 1 only.
  for (const n of ['m2_fourier', 'm3_fourier', 'm2_mel', 'm3_log']) assert.ok(!names.includes(n), `no layer ${n}`);

  const meta: ModelMetadata = {
    format: 'kws-model',
    formatVersion: 1,
    name: 'ens',
    type: 'raw',
    labels: ['a', 'b', 'c'],
    featureSpec: { specVersion: 1, kind: 'raw', sampleRate: 16000, windowSamples: 3200 },
    stats: { kind: 'standard', mean: [0], std: [1] },
    training: { arch: 'default', epochs: 1, batchSize: 8, learningRate: 0.003, valSplit: 0.2, splitBy: 'clip', seed: 7, augment: true, syntheticNoise: 0.5, ensemble: 3, backend: 'cpu', threads: 1 },
    dataset: { fingerprint: 'f', clipsPerLabel: { a: 1, b: 1, c: 1 }, trainClips: 3, valClips: 0 },
    metrics: { valAccuracy: null, trainAccuracy: null },
    kwsVersion: '0.1.0',
    createdAt: '2026-01-02T03:04:05.000Z',
  };
  const dir = path.join(tmp, 'ens');
  await saveModelFolder(dir, ensemble, meta);
  const json = fs.readFileSync(path.join(dir, MODEL_FILE), 'utf8');
  assert.doesNotMatch(json, /"class_name":\s*"Sequential"/, 'one flat graph');
  assert.match(json, /"class_name":\s*"Average"/);

  const { tf: tfw } = await initBackend('wasm');
  const loaded = await loadModelFolder(dir, tfw);
  assert.equal(loaded.meta.training.ensemble, 3);
  const after = (loaded.model.predict(tfw.tensor(xData, [4, 3200, 1])) as Tensor).dataSync();
  for (let i = 0; i < mean.length; i++) assert.ok(Math.abs((after[i] as number) - (merged[i] as number)) < 1e-5, `loaded output ${i}: ${after[i]} vs ${merged[i]}`);
  loaded.model.dispose();
  await initBackend('cpu');
  ensemble.dispose();
});
