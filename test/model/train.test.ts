import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { learningRateAt, lossAndAccuracy, trainLoop } from '../../src/model/train';
import { createRng } from '../../src/util/rng';

test('learning rate warms up, peaks, then decays to 5 % of the peak', () => {
  const steps = 100;
  const lrs = Array.from({ length: steps }, (_, s) => learningRateAt(s, 10, steps, 0.01));
  assert.ok((lrs[0] as number) < 0.002);
  assert.ok(Math.abs((lrs[9] as number) - 0.01) < 1e-12);
  for (let s = 10; s < steps; s++) assert.ok((lrs[s] as number) <= (lrs[s - 1] as number) + 1e-12);
  assert.ok(Math.abs((lrs[steps - 1] as number) - 0.0005) < 2e-4);
});

test('lossAndAccuracy on known probabilities', () => {
  const m = lossAndAccuracy(Float32Array.from([0.9, 0.1, 0.2, 0.8, 0.6, 0.4]), Int32Array.from([0, 1, 1]), 2);
  assert.ok(Math.abs(m.acc - 2 / 3) < 1e-9);
  assert.ok(Math.abs(m.loss - -(Math.log(0.9) + Math.log(0.8) + Math.log(0.4)) / 3) < 1e-6);
});

function data(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  // Two Gaussian blobs in 4-D, separable by their means.
  const rng = createRng(seed);
  const x = new Float32Array(n * 4);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = i % 2;
    for (let j = 0; j < 4; j++) x[i * 4 + j] = rng.normal() * 0.7 + (y[i] === 1 ? 1 : -1);
  }
  return { x, y };
}

function model(seed: number): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.dense({ inputShape: [4], units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }));
  m.add(tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }));
  return m;
}

test('the loop learns a separable problem, reports every epoch, and is reproducible', async () => {
  await tf.setBackend('cpu');
  const tr = data(200, 1);
  const va = data(60, 2);
  const run = async (): Promise<{ accs: number[]; probs: Float32Array }> => {
    const logs: number[] = [];
    const r = await trainLoop({
      tf,
      model: model(3),
      inputShape: [4],
      numClasses: 2,
      epochs: 4,
      batchSize: 20,
      learningRate: 0.02,
      seed: 42,
      trainFeatures: () => tr.x,
      trainLabels: tr.y,
      valFeatures: va.x,
      valLabels: va.y,
      onEpoch: (l) => logs.push(l.epoch),
    });
    assert.deepEqual(logs, [1, 2, 3, 4]);
    assert.ok((r.history[3]?.loss as number) < (r.history[0]?.loss as number));
    return { accs: r.history.map((h) => h.valAcc as number), probs: r.valProbs };
  };
  const a = await run();
  assert.ok((a.accs[3] as number) > 0.9, `val accuracy ${a.accs[3]}`);
  assert.equal(a.probs.length, 120);
  const b = await run();
  assert.deepEqual(b.accs, a.accs);
  assert.deepEqual(b.probs, a.probs);
});

test('default model names follow the notebooks; unsafe names are refused', async () => {
  const { defaultModelName, checkModelName } = await import('../../src/model/pipeline.js');
  assert.equal(defaultModelName('mfcc', 1700000000123), 'mfccmodel1700000000');
  assert.equal(defaultModelName('spectrogram', 1700000000123), 'specmodel1700000000');
  assert.equal(defaultModelName('raw', 1700000000123), '1dconv1700000000');
  // Two automatic names in the same second: the second gets a suffix instead of an error.
  const { freeModelName } = await import('../../src/model/pipeline.js');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const pathMod = await import('node:path');
  const root = fs.mkdtempSync(pathMod.join(os.tmpdir(), 'kws-names-'));
  try {
    const models = pathMod.join(root, 'models');
    const stats = pathMod.join(root, 'stats');
    assert.equal(await freeModelName('mfccmodel1700000000', models, stats), 'mfccmodel1700000000');
    fs.mkdirSync(pathMod.join(models, 'mfccmodel1700000000'), { recursive: true });
    assert.equal(await freeModelName('mfccmodel1700000000', models, stats), 'mfccmodel1700000000-2');
    fs.mkdirSync(stats, { recursive: true });
    fs.writeFileSync(pathMod.join(stats, 'mfccmodel1700000000-2.json'), '{}');
    assert.equal(await freeModelName('mfccmodel1700000000', models, stats), 'mfccmodel1700000000-3');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  checkModelName('lights_v2.1');
  for (const bad of ['../x', '.hidden', 'a/b', '', 'a b']) assert.throws(() => checkModelName(bad), /invalid model name/);
});

test('-m/-s/-1 map to the types; --type and a contradicting flag are refused', async () => {
  const { resolveType } = await import('../../src/commands/train.js');
  assert.equal(resolveType({}), 'mfcc');
  assert.equal(resolveType({ spectrogram: true }), 'spectrogram');
  assert.equal(resolveType({ conv1d: true }), 'raw');
  assert.equal(resolveType({ type: 'raw', conv1d: true }), 'raw');
  assert.throws(() => resolveType({ type: 'mfcc', conv1d: true }), /conflicting model types/);
  assert.throws(() => resolveType({ type: 'cnn' }), /unknown --type/);
});

test('normalisation statistics come from the training rows only', async () => {
  const { computeTrainStats, applyStats } = await import('../../src/model/pipeline.js');
  const { seedSpec } = await import('../../src/features/spec.js');
  const raw = { ...seedSpec('raw', 3) };
  // Row 1 (a validation clip) holds the extremes; it must not influence the statistics.
  const x = Float32Array.from([0, 0.5, -0.5, 9, -9, 9, 1, 0.25, -1]);
  const stats = computeTrainStats(raw, x, 3, [0, 2]);
  assert.deepEqual(stats, { kind: 'minmax', min: -1, max: 1 });
  const y = Float32Array.from([1, -1, 0]);
  applyStats(stats, y, 3);
  // As the notebooks: (x - min) / (max - min + 1e-6) - 0.5.
  assert.ok(Math.abs((y[0] as number) - 0.5) < 1e-5 && Math.abs((y[1] as number) + 0.5) < 1e-5 && Math.abs(y[2] as number) < 1e-5);
});

test('label smoothing trains against (1 - eps) one-hot + eps / K targets', async () => {
  await tf.setBackend('cpu');
  // A model whose output is fixed at [0.9, 0.1] (zero kernel, log-probability bias) and a learning
  // rate too small to move it: the first epoch's loss is the cross-entropy against the targets.
  const fixed = (): tf.Sequential => {
    const m = tf.sequential();
    m.add(tf.layers.dense({ inputShape: [1], units: 2, activation: 'softmax', kernelInitializer: 'zeros', biasInitializer: tf.initializers.constant({ value: 0 }) }));
    m.layers[0]?.setWeights([tf.zeros([1, 2]), tf.tensor1d([Math.log(0.9), Math.log(0.1)])]);
    return m;
  };
  const loss = async (labelSmoothing: number): Promise<number> => {
    const r = await trainLoop({
      tf,
      model: fixed(),
      inputShape: [1],
      numClasses: 2,
      epochs: 1,
      batchSize: 4,
      learningRate: 1e-12,
      seed: 1,
      labelSmoothing,
      trainFeatures: () => new Float32Array(4),
      trainLabels: Int32Array.from([0, 0, 0, 0]),
      valFeatures: new Float32Array(0),
      valLabels: new Int32Array(0),
    });
    return r.history[0]?.loss as number;
  };
  assert.ok(Math.abs((await loss(0)) - -Math.log(0.9)) < 1e-5);
  // eps 0.2, K 2: targets [0.9, 0.1].
  assert.ok(Math.abs((await loss(0.2)) - -(0.9 * Math.log(0.9) + 0.1 * Math.log(0.1))) < 1e-5);
  await assert.rejects(loss(1), /label smoothing/);
});

test('reversed-speech negatives: sources are the training clips with speech, labelled _unknown_', async () => {
  const { reversedNegatives } = await import('../../src/model/pipeline.js');
  const labels = ['_background_', '_unknown_', 'go', 'yes'];
  const clip = (i: number, label: string): import('../../src/model/dataset').ClipRef => ({
    path: `/d/${label}/${i}.wav`,
    relPath: `${label}/${i}.wav`,
    label,
    labelIndex: labels.indexOf(label),
    size: 1,
    mtimeMs: 0,
    group: null,
  });
  const clips = [clip(0, '_background_'), clip(1, '_unknown_'), clip(2, '_unknown_'), clip(3, 'go'), clip(4, 'yes'), clip(5, '_unknown_')];
  const ds = { root: '/d', labels, clips, groupSource: 'none' as const, fingerprint: 'x' };
  // Clip 5 is in validation: it counts neither as a source nor towards the number of negatives.
  const split = { train: [0, 1, 2, 3, 4], val: [5] };
  const neg = reversedNegatives(ds, split, 0.5);
  assert.deepEqual(neg, { label: 1, count: 1, sources: [1, 2, 3, 4] });
  assert.equal(reversedNegatives(ds, split, 0), null);
  assert.equal(reversedNegatives({ ...ds, labels: ['_background_', 'go', 'no', 'yes'] }, split, 0.5), null, 'no _unknown_ label, no negatives');
});
