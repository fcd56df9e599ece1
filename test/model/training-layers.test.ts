/**
 * kws's BatchNormalization (src/model/training-layers.ts, kernels in src/model/kernels/batchnorm.ts)
 * against the stock tfjs-layers class: the same training-mode output, the same gradients with
 * respect to the input, gamma and beta, and the same moving averages afterwards, on the CPU and
 * WASM backends; a model that uses it saves as a standard BatchNormalization layer. kws's Conv1D
 * (bias and ReLU in one kernel, src/model/kernels/bias-relu.ts) against the stock Conv1D likewise.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, type TF } from '../../src/model/backend';
import { registerTrainingLayers } from '../../src/model/training-layers';
import { createRng } from '../../src/util/rng';
import type { Tensor, layers as tfLayers } from '@tensorflow/tfjs';

let tf: TF;

before(async () => {
  tf = (await initBackend('wasm')).tf;
});

function randomArray(n: number, seed: number, offset = 0, scale = 1): Float32Array {
  const rng = createRng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = offset + scale * rng.normal();
  return a;
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let scale = 1e-6;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] as number) - (b[i] as number)));
  return worst / scale;
}

interface Run {
  y: Float32Array;
  dx: Float32Array;
  dgamma: Float32Array;
  dbeta: Float32Array;
  movingMean: Float32Array;
  movingVariance: Float32Array;
}

/**
 * Two training-mode calls of `layer` (the first builds it and moves the averages), with non-trivial
 * gamma and beta, and d(sum(y * w)) / d(x, gamma, beta) of the second.
 */
function trainStep(layer: tfLayers.Layer, shape: number[], seed: number, offset: number): Run {
  const x = tf.tensor(randomArray(shape.reduce((p, q) => p * q, 1), seed, offset, 3), shape);
  const w = tf.tensor(randomArray(x.size, seed + 1), shape);
  tf.dispose(layer.apply(x, { training: true }) as Tensor);
  const C = shape[shape.length - 1] as number;
  layer.setWeights([tf.tensor1d(randomArray(C, seed + 2, 1, 0.3)), tf.tensor1d(randomArray(C, seed + 3)), ...layer.getWeights().slice(2)]);
  let y: Float32Array = new Float32Array(0);
  const { value, grads } = tf.variableGrads(() => {
    const out = layer.apply(x, { training: true }) as Tensor;
    y = out.dataSync().slice() as Float32Array;
    return tf.sum(tf.mul(out, w)) as ReturnType<typeof tf.scalar>;
  });
  // The input gradient in a second pass; it moves the averages once more, for both layers alike.
  const dx = tf.grad((xx: Tensor) => tf.sum(tf.mul(layer.apply(xx, { training: true }) as Tensor, w)))(x);
  const [gammaName, betaName] = layer.trainableWeights.map((v) => v.name) as [string, string];
  const weights = layer.getWeights();
  const run: Run = {
    y,
    dx: dx.dataSync().slice() as Float32Array,
    dgamma: (grads[gammaName] as Tensor).dataSync().slice() as Float32Array,
    dbeta: (grads[betaName] as Tensor).dataSync().slice() as Float32Array,
    movingMean: (weights[2] as Tensor).dataSync().slice() as Float32Array,
    movingVariance: (weights[3] as Tensor).dataSync().slice() as Float32Array,
  };
  tf.dispose([x, w, dx, value, ...Object.values(grads)]);
  return run;
}

for (const backend of ['cpu', 'wasm'] as const) {
  for (const [shape, offset] of [
    [[4, 5, 6, 3], 0],
    [[3, 7, 2], 40], // rank 3, and a mean far from 0 against its spread
    [[16, 8], -2],
    [[2, 9, 5, 16], 7], // whole vectors of 4 channels: the SIMD kernels on wasm
  ] as const) {
    test(`BatchNormalization in training matches the stock layer on ${backend}, input [${shape.join(', ')}] around ${offset}`, async () => {
      await initBackend(backend);
      await tf.setBackend(backend);
      const ours = registerTrainingLayers(tf).batchNormalization({ momentum: 0.9 });
      const stock = tf.layers.batchNormalization({ momentum: 0.9 });
      assert.notEqual(ours.constructor, stock.constructor, 'the test must compare two different classes');
      const a = trainStep(ours, shape.slice(), 11, offset);
      const b = trainStep(stock, shape.slice(), 11, offset);
      for (const k of Object.keys(a) as Array<keyof Run>) {
        const d = maxRelDiff(a[k], b[k]);
        assert.ok(d < 1e-4, `${k}: relative difference ${d.toExponential(2)}`);
      }
      await initBackend('wasm');
    });
  }
}

interface ConvRun {
  y: Float32Array;
  dx: Float32Array;
  dkernel: Float32Array;
  dbias: Float32Array;
}

/** A Conv1D layer's output and d(sum(y * w)) / d(x, kernel, bias), with given weights. */
function convStep(layer: tfLayers.Layer, shape: [number, number, number], training: boolean, seed: number): ConvRun {
  const x = tf.tensor3d(randomArray(shape[0] * shape[1] * shape[2], seed), shape);
  tf.dispose(layer.apply(x) as Tensor);
  const [k, b] = layer.getWeights() as [Tensor, Tensor];
  // A bias around 0 against outputs of about +-3: both sides of the ReLU, per channel.
  layer.setWeights([tf.tensor(randomArray(k.size, seed + 1), k.shape), tf.tensor1d(randomArray(b.size, seed + 2, 0, 0.5))]);
  const y = layer.apply(x, { training }) as Tensor;
  const w = tf.tensor(randomArray(y.size, seed + 3), y.shape);
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(layer.apply(x, { training }) as Tensor, w)) as ReturnType<typeof tf.scalar>);
  const dx = tf.grad((xx: Tensor) => tf.sum(tf.mul(layer.apply(xx, { training }) as Tensor, w)))(x);
  const [kName, bName] = layer.trainableWeights.map((v) => v.name) as [string, string];
  const run: ConvRun = {
    y: y.dataSync().slice() as Float32Array,
    dx: dx.dataSync().slice() as Float32Array,
    dkernel: (grads[kName] as Tensor).dataSync().slice() as Float32Array,
    dbias: (grads[bName] as Tensor).dataSync().slice() as Float32Array,
  };
  tf.dispose([x, y, w, dx, ...Object.values(grads)]);
  return run;
}

for (const backend of ['cpu', 'wasm'] as const) {
  for (const filters of [3, 8]) {
    test(`Conv1D with bias and ReLU matches the stock layer on ${backend}, ${filters} filters (${filters % 4 === 0 ? 'SIMD on wasm' : 'JavaScript loops'})`, async () => {
      await initBackend(backend);
      await tf.setBackend(backend);
      for (const training of [true, false]) {
        const args = { filters, kernelSize: 5, activation: 'relu' as const, padding: 'valid' as const };
        const ours = registerTrainingLayers(tf).conv1d(args);
        const stock = tf.layers.conv1d(args);
        assert.notEqual(ours.constructor, stock.constructor, 'the test must compare two different classes');
        const a = convStep(ours, [3, 40, 2], training, 5);
        const b = convStep(stock, [3, 40, 2], training, 5);
        assert.ok(b.y.some((v) => v === 0) && b.y.some((v) => v > 0), 'the case must reach both sides of the ReLU');
        for (const key of Object.keys(a) as Array<keyof ConvRun>) {
          const d = maxRelDiff(a[key], b[key]);
          assert.ok(d < 1e-4, `${key} (training ${training}): relative difference ${d.toExponential(2)}`);
        }
      }
      await initBackend('wasm');
    });
  }
}

test('a model with kws BatchNormalization saves as a standard Keras BatchNormalization layer and predicts the same after loading', async () => {
  await initBackend('wasm');
  const BN = registerTrainingLayers(tf);
  const model = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3] }), BN.batchNormalization({}), tf.layers.dense({ units: 2 })] });
  const x = tf.tensor2d(randomArray(15, 5), [5, 3]);
  model.apply(x, { training: true });
  const json = JSON.stringify(model.toJSON(null, false));
  assert.match(json, /"class_name":"BatchNormalization"/);
  const saved: { weightData?: ArrayBuffer; weightSpecs?: unknown } = {};
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved.weightData = artifacts.weightData as ArrayBuffer;
      saved.weightSpecs = artifacts.weightSpecs;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const loaded = await tf.loadLayersModel(
    tf.io.fromMemory({ modelTopology: JSON.parse(json) as object, weightSpecs: saved.weightSpecs as never, weightData: saved.weightData as ArrayBuffer }),
  );
  const d = maxRelDiff((loaded.predict(x) as Tensor).dataSync() as Float32Array, (model.predict(x) as Tensor).dataSync() as Float32Array);
  assert.ok(d < 1e-6, `prediction difference ${d}`);
});

test('kws Dropout draws a fresh mask on every training call, the same sequence for the same seed, and none at inference', async () => {
  await initBackend('wasm');
  const T = registerTrainingLayers(tf);
  const x = tf.ones([4, 64]);
  const masks = (seed: number): string[] => {
    const d = T.dropout({ rate: 0.5, seed });
    return [0, 1, 2].map(() => Array.from((d.apply(x, { training: true }) as Tensor).dataSync()).join(','));
  };
  const a = masks(7);
  assert.equal(new Set(a).size, 3, 'three calls, three different masks');
  assert.deepEqual(masks(7), a, 'reproducible from the seed');
  // The stock layer repeats its mask on every call (what this class fixes).
  const stock = tf.layers.dropout({ rate: 0.5, seed: 7 });
  const s1 = (stock.apply(x, { training: true }) as Tensor).dataSync().join(',');
  assert.equal((stock.apply(x, { training: true }) as Tensor).dataSync().join(','), s1);
  const d = T.dropout({ rate: 0.5, seed: 7 });
  assert.deepEqual(Array.from((d.apply(x, { training: false }) as Tensor).dataSync()), Array.from(x.dataSync()));
  const json = JSON.stringify(tf.sequential({ layers: [tf.layers.dense({ units: 2, inputShape: [3] }), T.dropout({ rate: 0.3, seed: 1 })] }).toJSON(null, false));
  assert.match(json, /"class_name":"Dropout"/);
});
