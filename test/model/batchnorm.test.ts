import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { recalibrateBatchNorm } from '../../src/model/batchnorm';
import { trainLoop } from '../../src/model/train';
import { createRng } from '../../src/util/rng';

const EPS = 1e-3; // tfjs BatchNormalization's default epsilon

function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, what);
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs((actual[i] as number) - (expected[i] as number)) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
}

/** Per-channel mean and population variance of rows x channels values. */
function moments(x: Float32Array, channels: number): { mean: number[]; variance: number[] } {
  const n = x.length / channels;
  const mean = Array.from({ length: channels }, (_, c) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * channels + c] as number;
    return s / n;
  });
  const variance = mean.map((m, c) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += ((x[i * channels + c] as number) - m) ** 2;
    return s / n;
  });
  return { mean, variance };
}

function stats(layer: tf.layers.Layer): { mean: Float32Array; variance: Float32Array } {
  const w = layer.getWeights();
  return { mean: w[w.length - 2]?.dataSync() as Float32Array, variance: w[w.length - 1]?.dataSync() as Float32Array };
}

test('recalibrateBatchNorm sets each layer to the exact statistics of its input, lower layers first', () => {
  // x -> BN1 -> dense (fixed 2x scale) -> BN2: BN2's input depends on BN1's new statistics.
  const rng = createRng(3);
  const count = 300; // not a multiple of the 128-example batches
  const x = Float32Array.from({ length: count * 3 }, (_, i) => rng.normal() * [0.5, 2, 4][i % 3]! + [1, -3, 10][i % 3]!);
  const bn1 = tf.layers.batchNormalization({ inputShape: [3], name: 'bn1' });
  const scale = tf.layers.dense({ units: 3, useBias: false, name: 'scale' });
  const bn2 = tf.layers.batchNormalization({ name: 'bn2' });
  const model = tf.sequential({ layers: [bn1, scale, bn2] });
  scale.setWeights([tf.tensor2d([2, 0, 0, 0, 2, 0, 0, 0, 2], [3, 3])]);
  // gamma/beta that are not the identity, so the test sees them kept.
  bn1.setWeights([tf.tensor1d([1.5, 1, 0.5]), tf.tensor1d([0.1, 0, -0.2]), tf.tensor1d([0, 0, 0]), tf.tensor1d([1, 1, 1])]);

  assert.equal(recalibrateBatchNorm(tf, model, x, count, [3]), 2);

  const want1 = moments(x, 3);
  close(stats(bn1).mean, want1.mean, 1e-4, 'bn1 mean');
  close(stats(bn1).variance, want1.variance, 1e-3, 'bn1 variance');
  close(bn1.getWeights()[0]?.dataSync() as Float32Array, [1.5, 1, 0.5], 0, 'bn1 gamma kept');
  // After bn1: gamma * (x - m) / sqrt(v + eps) + beta, then doubled: mean 2 beta, variance 4 gamma^2 v / (v + eps).
  const gamma = [1.5, 1, 0.5];
  const beta = [0.1, 0, -0.2];
  close(stats(bn2).mean, beta.map((b) => 2 * b), 1e-4, 'bn2 mean');
  close(
    stats(bn2).variance,
    want1.variance.map((v, c) => (4 * (gamma[c] as number) ** 2 * v) / (v + EPS)),
    1e-3,
    'bn2 variance',
  );
  model.dispose();
});

test('recalibrateBatchNorm refuses too few floats', () => {
  const model = tf.sequential({ layers: [tf.layers.batchNormalization({ inputShape: [2] })] });
  assert.throws(() => recalibrateBatchNorm(tf, model, new Float32Array(3), 2, [2]), /needs 2 examples of 2 floats/);
  model.dispose();
});

test('trainLoop with recalibrationFeatures ends with batch-norm statistics of those features', async () => {
  const rng = createRng(9);
  const n = 64;
  const x = Float32Array.from({ length: n * 4 }, () => rng.normal() + 3);
  const y = Int32Array.from({ length: n }, (_, i) => i % 2);
  const clean = Float32Array.from({ length: n * 4 }, () => rng.normal() * 0.5 - 1);
  const bn = tf.layers.batchNormalization({ inputShape: [4] });
  const model = tf.sequential({ layers: [bn, tf.layers.dense({ units: 2, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) })] });
  await trainLoop({
    tf,
    model,
    inputShape: [4],
    numClasses: 2,
    epochs: 2,
    batchSize: 16,
    learningRate: 0.01,
    seed: 1,
    trainFeatures: () => x,
    trainLabels: y,
    recalibrationFeatures: clean,
    valFeatures: clean.subarray(0, 8 * 4),
    valLabels: y.subarray(0, 8),
  });
  // The first layer's input is the features themselves: its statistics are the clean set's, not
  // the training batches' moving average (about 3).
  const want = moments(clean, 4);
  close(stats(bn).mean, want.mean, 1e-4, 'mean');
  close(stats(bn).variance, want.variance, 1e-3, 'variance');
  model.dispose();
});
