/**
 * Data-parallel training (src/model/replicas.ts): two threads sharing every mini-batch train the
 * same weights as one thread alone (batch-norm statistics are summed across them), a batch with
 * fewer rows than threads works, and a thread that is gone fails the step instead of hanging it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { LayersModel } from '@tensorflow/tfjs';
import { initBackend, type TF } from '../../src/model/backend';
import { registerTrainingLayers } from '../../src/model/training-layers';
import { trainLoop } from '../../src/model/train';
import { shareGradients } from '../../src/model/gradients';
import { Replicas } from '../../src/model/replicas';
import { createRng } from '../../src/util/rng';

let tf: TF;
let replicas: Replicas;

before(async () => {
  tf = (await initBackend('wasm')).tf;
  replicas = await Replicas.start(tf, 2, 'wasm');
});

after(async () => {
  await replicas.close();
});

const SHAPE = [8, 10, 1];

/** Conv (no bias) -> kws BatchNormalization -> ReLU -> pooling -> dense: no dropout, so no per-thread draws. */
function buildModel(): LayersModel {
  const T = registerTrainingLayers(tf);
  return tf.sequential({
    layers: [
      T.conv2d({ filters: 8, kernelSize: 3, padding: 'same', useBias: false, inputShape: SHAPE, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }),
      T.batchNormalization({}),
      tf.layers.activation({ activation: 'relu' }),
      tf.layers.globalAveragePooling2d({}),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }),
    ],
  });
}

function data(n: number): { x: Float32Array; y: Int32Array } {
  const rng = createRng(17);
  const x = new Float32Array(n * SHAPE.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return { x, y: Int32Array.from({ length: n }, (_, i) => i % 3) };
}

async function train(withReplicas: Replicas | null, n: number, batchSize: number): Promise<{ weights: Float32Array[]; loss: number }> {
  const model = buildModel();
  const { x, y } = data(n);
  const r = await trainLoop({
    tf,
    model,
    inputShape: SHAPE,
    numClasses: 3,
    epochs: 2,
    batchSize,
    learningRate: 0.01,
    seed: 5,
    schedule: 'constant',
    trainFeatures: () => x,
    trainLabels: y,
    valFeatures: new Float32Array(0),
    valLabels: new Int32Array(0),
    replicas: withReplicas,
  });
  const weights = model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
  model.dispose();
  return { weights, loss: r.history[r.history.length - 1]?.loss ?? Number.NaN };
}

test("one step's gradients from two threads are the whole batch's gradients (batch-norm parameters included)", async () => {
  const model = buildModel();
  const { x, y } = data(10);
  const xt = tf.tensor(x, [10, ...SHAPE]);
  const alone = shareGradients(tf, model, xt, y, 3, 10);
  await replicas.setModel(model);
  const shared = await replicas.step(x, SHAPE, y, 3, 0);
  assert.ok(Math.abs(alone.lossSum - shared.lossSum) < 1e-4, `loss ${alone.lossSum} against ${shared.lossSum}`);
  alone.grads.forEach((g, i) => {
    const a = g.dataSync();
    const b = (shared.grads[i] as typeof g).dataSync();
    let worst = 0;
    let scale = 1e-6;
    for (let j = 0; j < a.length; j++) {
      worst = Math.max(worst, Math.abs((a[j] as number) - (b[j] as number)));
      scale = Math.max(scale, Math.abs(a[j] as number));
    }
    assert.ok(worst / scale < 1e-4, `gradient ${i} (${model.trainableWeights[i]?.name}) differs by ${worst} at scale ${scale}`);
  });
  tf.dispose([xt, ...alone.grads, ...shared.grads]);
  model.dispose();
});

test('two threads sharing each mini-batch train the same weights and moving averages as one thread', async () => {
  const one = await train(null, 24, 12);
  const two = await train(replicas, 24, 12);
  assert.ok(Math.abs(one.loss - two.loss) < 1e-5, `loss ${one.loss} against ${two.loss}`);
  assert.equal(one.weights.length, two.weights.length);
  one.weights.forEach((w, i) => {
    const v = two.weights[i] as Float32Array;
    let worst = 0;
    for (let j = 0; j < w.length; j++) worst = Math.max(worst, Math.abs((w[j] as number) - (v[j] as number)));
    assert.ok(worst < 1e-4, `weight ${i} differs by ${worst}`);
  });
});

test('a mini-batch of one example (fewer rows than threads) trains, and the idle thread catches up', async () => {
  // 13 examples in batches of 12: the second step of each epoch has one row.
  const one = await train(null, 13, 12);
  const two = await train(replicas, 13, 12);
  assert.ok(Math.abs(one.loss - two.loss) < 1e-5, `loss ${one.loss} against ${two.loss}`);
});

test('a training thread that is gone fails the next step at once', async () => {
  const spare = await Replicas.start(tf, 2, 'wasm');
  const model = buildModel();
  await spare.setModel(model);
  const internals = spare as unknown as { threads: Array<{ worker: { terminate(): Promise<number> } }> };
  await internals.threads[0]?.worker.terminate();
  await new Promise((r) => setTimeout(r, 50));
  const { x, y } = data(4);
  await assert.rejects(spare.step(x, SHAPE, y, 3, 0), /training thread exited/);
  model.dispose();
  await spare.close();
});

test('validation shared between the threads gives the main model\'s own predictions', async () => {
  const model = buildModel();
  const { x, y } = data(11);
  await replicas.setModel(model);
  // Train a step so the workers' copies would be stale if predict did not send every weight.
  const step = await replicas.step(x, SHAPE, y, 3, 0);
  tf.dispose(step.grads);
  model.layers[1]?.setWeights(model.layers[1].getWeights().map((w) => tf.mul(w, 1.5)));
  const shared = await replicas.predict(x, 11, SHAPE);
  const own = (model.predict(tf.tensor(x, [11, ...SHAPE])) as import('@tensorflow/tfjs').Tensor).dataSync();
  assert.equal(shared.length, own.length);
  for (let i = 0; i < own.length; i++) assert.ok(Math.abs((shared[i] as number) - (own[i] as number)) < 1e-6, `probability ${i}`);
  model.dispose();
});
