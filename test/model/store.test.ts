/**
 * Model folders: a model saved on one backend loads on another with the same predictions; the
 * metadata survives the round trip; folders are never overwritten; damaged folders give errors that
 * name the file.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, type TF } from '../../src/model/backend';
import { buildModel } from '../../src/model/architectures';
import { saveModelFolder, loadModelFolder, readModelMetadata, resolveModelRef, MODEL_FILE, WEIGHTS_FILE } from '../../src/model/store';
import { METADATA_FILE, parseMetadata, type ModelMetadata } from '../../src/model/metadata';
import { seedSpec, featureSize } from '../../src/features/spec';
import { isUserError, ExitCode } from '../../src/util/errors';
import { makeTempDir } from '../helpers';

let tf: TF;
const tmp = makeTempDir('kws-store-');

before(async () => {
  tf = (await initBackend('cpu')).tf;
});

function makeMeta(name: string, labels: string[]): ModelMetadata {
  const spec = seedSpec('mfcc');
  const n = featureSize(spec);
  return {
    format: 'kws-model',
    formatVersion: 1,
    name,
    type: 'mfcc',
    labels,
    featureSpec: spec,
    stats: { kind: 'standard', mean: Array.from({ length: n }, (_, i) => (i % 7) - 3), std: Array.from({ length: n }, (_, i) => 1 + (i % 3)) },
    training: { arch: 'seed', epochs: 8, batchSize: 100, learningRate: 0.001, valSplit: 0.4, splitBy: 'clip', seed: 42, augment: false, syntheticNoise: 0, ensemble: 1, backend: 'cpu', threads: 1 },
    dataset: { fingerprint: 'abc123', clipsPerLabel: Object.fromEntries(labels.map((l, i) => [l, 10 + i])), trainClips: 30, valClips: 20 },
    metrics: { valAccuracy: 0.75, trainAccuracy: null },
    kwsVersion: '0.1.0',
    createdAt: '2026-01-02T03:04:05.000Z',
  };
}

async function expectInputError(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isUserError(err), `expected a UserError, got ${String(err)}`);
    assert.equal(err.exitCode, ExitCode.input);
    assert.match(err.message, pattern);
    return true;
  });
}

test('saved on cpu, loaded on wasm: same predictions within 1e-5, metadata round trip', async () => {
  await initBackend('cpu');
  const labels = ['go', 'no', 'stop', 'yes'];
  const model = buildModel(tf, { type: 'mfcc', arch: 'seed', inputShape: [40, 33, 1], numClasses: labels.length, seed: 5 });
  // Non-trivial batch-norm statistics, so moving mean/variance must survive the trip too.
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const xTrain = tf.randomNormal([8, 40, 33, 1], 0.5, 2, 'float32', 11);
  await model.fit(xTrain, tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4), { epochs: 2, batchSize: 4, verbose: 0 });
  const x = tf.randomNormal([5, 40, 33, 1], 0, 1, 'float32', 12);
  const xData = x.dataSync().slice();
  const before = (model.predict(x) as typeof x).dataSync().slice();

  const dir = path.join(tmp, 'models', 'm1');
  const meta = makeMeta('m1', labels);
  await saveModelFolder(dir, model, meta);
  assert.deepEqual(fs.readdirSync(dir).sort(), [METADATA_FILE, MODEL_FILE, WEIGHTS_FILE].sort());
  assert.deepEqual(fs.readdirSync(path.dirname(dir)), ['m1'], 'no temporary folder left behind');

  const { tf: tfw, name } = await initBackend('wasm');
  assert.equal(name, 'wasm');
  const loaded = await loadModelFolder(dir, tfw);
  assert.deepEqual(loaded.meta, meta);
  const after = (loaded.model.predict(tfw.tensor(xData, [5, 40, 33, 1])) as typeof x).dataSync();
  assert.equal(after.length, before.length);
  for (let i = 0; i < before.length; i++) assert.ok(Math.abs((after[i] as number) - (before[i] as number)) < 1e-5, `prediction ${i}: ${after[i]} vs ${before[i]}`);
  loaded.model.dispose();
  await initBackend('cpu');
});

test('a raw model with kws\'s own layers saved on cpu loads on wasm with the same predictions', async () => {
  await initBackend('cpu');
  // Training clips of their own, so the saved log-mel statistics are not the identity's.
  const clips = tf.randomNormal([3, 3200, 1], 0, 0.1, 'float32', 7).dataSync() as Float32Array;
  const model = buildModel(tf, { type: 'raw', arch: 'default', inputShape: [3200, 1], numClasses: 3, seed: 2, trainingClips: clips });
  const x = tf.randomNormal([2, 3200, 1], 0, 0.2, 'float32', 13);
  const xData = x.dataSync().slice();
  const before = (model.predict(x) as typeof x).dataSync().slice();
  const dir = path.join(tmp, 'models', 'raw1');
  await saveModelFolder(dir, model, { ...makeMeta('raw1', ['a', 'b', 'c']), type: 'raw', featureSpec: { specVersion: 1, kind: 'raw', sampleRate: 16000, windowSamples: 3200 } });
  assert.match(fs.readFileSync(path.join(dir, MODEL_FILE), 'utf8'), /KwsPowerSpectrum.*KwsLogCompression.*KwsFixedStandardization/s);
  const { tf: tfw } = await initBackend('wasm');
  const loaded = await loadModelFolder(dir, tfw);
  const stats = model.getLayer('log_mel_norm').getWeights().map((w) => w.dataSync());
  assert.ok(stats[0]?.some((v) => v !== 0) && stats[1]?.some((v) => v !== 1));
  assert.deepEqual(loaded.model.getLayer('log_mel_norm').getWeights().map((w) => w.dataSync()), stats, 'the statistics travel with the weights');
  const after = (loaded.model.predict(tfw.tensor(xData, [2, 3200, 1])) as typeof x).dataSync();
  for (let i = 0; i < before.length; i++) assert.ok(Math.abs((after[i] as number) - (before[i] as number)) < 1e-5, `prediction ${i}: ${after[i]} vs ${before[i]}`);
  loaded.model.dispose();
  await initBackend('cpu');
});

test('an existing folder is never overwritten', async () => {
  const dir = path.join(tmp, 'exists');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'keep.txt'), 'mine');
  const model = buildModel(tf, { type: 'mfcc', arch: 'default', inputShape: [20, 97, 1], numClasses: 2 });
  await expectInputError(saveModelFolder(dir, model, makeMeta('exists', ['a', 'b'])), /already exists/);
  assert.deepEqual(fs.readdirSync(dir), ['keep.txt']);
});

test('a model is found by name under models/ or by path; a missing one lists what exists', async () => {
  const modelsDir = path.join(tmp, 'models');
  assert.equal(await resolveModelRef('m1', modelsDir), path.join(modelsDir, 'm1'));
  const { meta } = await readModelMetadata('m1', { modelsDir });
  assert.equal(meta.name, 'm1');
  await expectInputError(readModelMetadata('nope', { modelsDir }), /model 'nope' not found/);
  await assert.rejects(readModelMetadata('nope', { modelsDir }), (err: unknown) => isUserError(err) && /m1/.test(err.hint ?? ''));
});

test('a file given as the model says it is a file and what a model folder holds', async () => {
  const modelsDir = path.join(tmp, 'models');
  const wav = path.join(tmp, 'clip.wav');
  fs.writeFileSync(wav, 'RIFF');
  await expectInputError(readModelMetadata(wav, { modelsDir }), /model '.*clip\.wav' is a file \(.*clip\.wav\), not a model folder/);
  await assert.rejects(readModelMetadata(wav, { modelsDir }), (err: unknown) => {
    assert.ok(isUserError(err));
    assert.doesNotMatch(err.message, /no folder|not found/);
    for (const f of [MODEL_FILE, WEIGHTS_FILE, METADATA_FILE]) assert.ok(err.hint?.includes(f), `hint names ${f}: ${err.hint}`);
    return true;
  });
  // model.json itself (what tf.loadLayersModel takes): the hint names the folder to give instead.
  const inner = path.join(modelsDir, 'm1', MODEL_FILE);
  await assert.rejects(readModelMetadata(inner, { modelsDir }), (err: unknown) => isUserError(err) && (err.hint ?? '').endsWith(`give its folder instead: ${path.join(modelsDir, 'm1')}`));
});

test('damaged folders give an input error naming the file', async () => {
  const src = path.join(tmp, 'models', 'm1');
  const copy = (name: string): string => {
    const d = path.join(tmp, name);
    fs.cpSync(src, d, { recursive: true });
    return d;
  };
  const noWeights = copy('no-weights');
  fs.rmSync(path.join(noWeights, WEIGHTS_FILE));
  await expectInputError(loadModelFolder(noWeights, tf), new RegExp(`${WEIGHTS_FILE}.*file missing`));

  const truncated = copy('truncated');
  const w = fs.readFileSync(path.join(truncated, WEIGHTS_FILE));
  fs.writeFileSync(path.join(truncated, WEIGHTS_FILE), w.subarray(0, w.length - 8));
  await expectInputError(loadModelFolder(truncated, tf), /truncated|bytes/);

  const badJson = copy('bad-json');
  fs.writeFileSync(path.join(badJson, MODEL_FILE), '{"modelTopology": ');
  await expectInputError(loadModelFolder(badJson, tf), new RegExp(`${MODEL_FILE}.*not valid JSON`));

  const badMeta = copy('bad-meta');
  const m = JSON.parse(fs.readFileSync(path.join(badMeta, METADATA_FILE), 'utf8')) as Record<string, unknown>;
  m['labels'] = ['only-one'];
  fs.writeFileSync(path.join(badMeta, METADATA_FILE), JSON.stringify(m));
  await expectInputError(loadModelFolder(badMeta, tf), /labels must be a list of at least 2/);

  const wrongLabels = copy('wrong-labels');
  m['labels'] = ['a', 'b', 'c'];
  fs.writeFileSync(path.join(wrongLabels, METADATA_FILE), JSON.stringify(m));
  await expectInputError(loadModelFolder(wrongLabels, tf), /4 outputs but its metadata lists 3 labels/);

  const noMeta = copy('no-meta');
  fs.rmSync(path.join(noMeta, METADATA_FILE));
  await expectInputError(loadModelFolder(noMeta, tf), new RegExp(`${METADATA_FILE}.*missing`));
});

test('metadata parsing rejects other formats and future versions with a clear message', () => {
  const meta = makeMeta('x', ['a', 'b']);
  assert.deepEqual(parseMetadata(JSON.parse(JSON.stringify(meta)), 'f.json'), meta);
  assert.throws(() => parseMetadata({ ...meta, format: 'keras' }, 'f.json'), /f\.json: not a kws model/);
  assert.throws(() => parseMetadata({ ...meta, formatVersion: 2 }, 'f.json'), /version 2 is not supported/);
  assert.throws(() => parseMetadata({ ...meta, type: 'video' }, 'f.json'), /type must be mfcc, spectrogram or raw/);
  assert.throws(() => parseMetadata({ ...meta, labels: ['a', 'a'] }, 'f.json'), /distinct/);
});
