import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { WorkerEngine } from '../../src/stream/worker-engine';
import { Classifier } from '../../src/model/classifier';
import { initBackend } from '../../src/model/backend';
import { buildModel } from '../../src/model/architectures';
import { saveModelFolder } from '../../src/model/store';
import type { ModelMetadata } from '../../src/model/metadata';
import { makeTempDir, repoRoot } from '../helpers';

const DEMO_MODEL = path.join(repoRoot, 'assets', 'demo', 'model');

test('a dead inference thread is reported once, and later batches fail at once instead of hanging', async () => {
  const engine = await WorkerEngine.start(DEMO_MODEL, 'wasm');
  const session = engine.createSession();
  session.push(new Float32Array(16000));
  const [probs] = await engine.classify([session.window()]);
  assert.equal(probs?.length, engine.labels.length, 'the thread answers while alive');

  const fatal: Error[] = [];
  engine.onFatal = (err) => fatal.push(err);
  await engine.crashForTest();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(fatal.length, 1, 'onFatal is called exactly once');
  assert.match(fatal[0]?.message ?? '', /inference thread exited/);
  await assert.rejects(
    Promise.race([engine.classify([session.window()]), new Promise((_, reject) => setTimeout(() => reject(new Error('classify hung')), 2000))]),
    /inference thread exited/,
  );
});

test('disposing the engine on purpose is not a death', async () => {
  const engine = await WorkerEngine.start(DEMO_MODEL, 'wasm');
  let called = false;
  engine.onFatal = () => {
    called = true;
  };
  engine.dispose();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(called, false);
});

test('a raw model with kws\'s own layers (the default raw front end) runs in the inference thread as in process', async () => {
  // The thread loads models itself: without registerKwsLayers there, kws serve could not load a
  // default raw model although kws predict can.
  const { tf } = await initBackend('wasm');
  const labels = ['a', 'b', 'c'];
  const dir = path.join(makeTempDir('kws-worker-raw-'), 'raw');
  const model = buildModel(tf, { type: 'raw', arch: 'default', inputShape: [3200, 1], numClasses: labels.length, seed: 5 });
  const meta: ModelMetadata = {
    format: 'kws-model',
    formatVersion: 1,
    name: 'raw',
    type: 'raw',
    labels,
    featureSpec: { specVersion: 1, kind: 'raw', sampleRate: 16000, windowSamples: 3200 },
    stats: { kind: 'minmax', min: -0.5, max: 0.5 },
    training: { arch: 'default', epochs: 1, batchSize: 32, learningRate: 0.003, valSplit: 0.2, splitBy: 'group', seed: 5, augment: true, syntheticNoise: 0.5, ensemble: 1, backend: 'wasm', threads: 1 },
    dataset: { fingerprint: 'f', clipsPerLabel: { a: 1, b: 1, c: 1 }, trainClips: 3, valClips: 0 },
    metrics: { valAccuracy: null, trainAccuracy: null },
    kwsVersion: '0.1.0',
    createdAt: '2026-01-02T03:04:05.000Z',
  };
  await saveModelFolder(dir, model, meta);
  model.dispose();

  const engine = await WorkerEngine.start(dir, 'wasm');
  const inProcess = await Classifier.load(dir, { backend: 'wasm' });
  try {
    const session = engine.createSession();
    // A chirp with some noise: enough structure that the probabilities are not all equal.
    const audio = Float32Array.from({ length: 3200 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * (200 + i / 4) * i) / 16000) + 0.01 * Math.sin(i * 1.7));
    session.push(audio);
    const window = session.window();
    const [threaded] = await engine.classify([window]);
    const [direct] = inProcess.predictFeatures([window]);
    assert.ok(threaded && direct && threaded.length === labels.length);
    assert.ok(Math.max(...threaded) - Math.min(...threaded) > 1e-3, `the model separates the labels at all: ${Array.from(threaded).join(", ")}`);
    for (let i = 0; i < labels.length; i++) assert.ok(Math.abs((threaded[i] as number) - (direct[i] as number)) < 1e-5, `label ${labels[i]}: ${threaded[i]} vs ${direct[i]}`);
  } finally {
    engine.dispose();
    inProcess.dispose();
  }
});
