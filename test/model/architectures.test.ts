/**
 * The seed architectures reproduce the notebooks' Keras models: layer output shapes and parameter
 * counts computed by hand from the Keras layer definitions (see the comments), for 6 classes.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, type TF } from '../../src/model/backend';
import { buildModel, archDefaults, compileModel, defaultSpec, featureKindFor, MODEL_TYPES, ARCH_NAMES } from '../../src/model/architectures';
import { modelInputShape, seedSpec, isFrameLocal } from '../../src/features/spec';

let tf: TF;
before(async () => {
  tf = (await initBackend('wasm')).tf;
});

function outputShapes(model: ReturnType<typeof buildModel>): string[] {
  return model.layers.map((l) => JSON.stringify(l.outputShape));
}

test('seed MFCC model: Keras shapes and 329,110 parameters', () => {
  const m = buildModel(tf, { type: 'mfcc', arch: 'seed', inputShape: [40, 33, 1], numClasses: 6 });
  // Conv2D 4*10*1*16+16 = 656; BN 4*16 = 64; Dense 5120*64+64 = 327,744; BN 4*64 = 256; Dense 64*6+6 = 390.
  assert.equal(m.countParams(), 656 + 64 + 327_744 + 256 + 390);
  assert.deepEqual(outputShapes(m), [
    '[null,40,33,16]',
    '[null,40,33,16]',
    '[null,40,33,16]',
    '[null,20,16,16]',
    '[null,5120]',
    '[null,64]',
    '[null,64]',
    '[null,64]',
    '[null,6]',
  ]);
  m.dispose();
});

test('seed spectrogram model: Keras shapes and 8,392,902 parameters', () => {
  const m = buildModel(tf, { type: 'spectrogram', arch: 'seed', inputShape: [128, 33, 1], numClasses: 6 });
  // Conv2D 4*10*64+64 = 2,624; BN 256; Dense 65,536*128+128 = 8,388,736; BN 512; Dense 128*6+6 = 774.
  assert.equal(m.countParams(), 2624 + 256 + 8_388_736 + 512 + 774);
  assert.equal(outputShapes(m)[3], '[null,64,16,64]');
  assert.equal(outputShapes(m)[4], '[null,65536]');
  m.dispose();
});

test('seed raw model: Keras shapes and 82,966 parameters', () => {
  const m = buildModel(tf, { type: 'raw', arch: 'seed', inputShape: [16384, 1], numClasses: 6 });
  // Conv1D: 9*1*16+16 = 160; 9*16*16+16 = 2,320; 3*16*32+32 = 1,568; 3*32*32+32 = 3,104;
  // 3*32*128+128 = 12,416; 3*128*128+128 = 49,280. Dense: 128*32+32 = 4,128; 32*256+256 = 8,448; 256*6+6 = 1,542.
  assert.equal(m.countParams(), 160 + 2320 + 1568 + 3104 + 12_416 + 49_280 + 4128 + 8448 + 1542);
  assert.deepEqual(outputShapes(m), [
    '[null,16376,16]',
    '[null,16368,16]',
    '[null,1023,16]',
    '[null,1023,16]',
    '[null,1021,32]',
    '[null,1019,32]',
    '[null,254,32]',
    '[null,254,32]',
    '[null,252,128]',
    '[null,250,128]',
    '[null,128]',
    '[null,128]',
    '[null,32]',
    '[null,256]',
    '[null,6]',
  ]);
  m.dispose();
});

test('seed defaults are the notebooks\' settings and librosa features with the right input shapes', () => {
  const expected = { mfcc: [8, [40, 33, 1]], spectrogram: [12, [128, 33, 1]], raw: [17, [16384, 1]] } as const;
  for (const type of MODEL_TYPES) {
    const d = archDefaults(type, 'seed');
    assert.equal(d.epochs, expected[type][0]);
    assert.equal(d.batchSize, 100);
    assert.equal(d.learningRate, 0.001);
    assert.deepEqual(d.featureSpec, seedSpec(featureKindFor(type)));
    assert.deepEqual(modelInputShape(d.featureSpec), expected[type][1]);
  }
});

test('every type x arch builds, predicts a probability distribution, and trains one step', async () => {
  for (const type of MODEL_TYPES) {
    for (const arch of ARCH_NAMES) {
      const d = archDefaults(type, arch);
      // Short raw windows keep the test fast; the architectures do not depend on the length.
      const shape = type === 'raw' ? [2048, 1] : modelInputShape(d.featureSpec);
      const m = buildModel(tf, { type, arch, inputShape: shape, numClasses: 3, seed: 7 });
      compileModel(tf, m, d.learningRate);
      const x = tf.randomNormal([4, ...shape], 0, 1, 'float32', 1);
      const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
      const p = m.predict(x) as ReturnType<typeof tf.randomNormal>;
      assert.deepEqual(p.shape, [4, 3], `${type}/${arch} output shape`);
      const sums = tf.sum(p, 1).dataSync();
      for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-4, `${type}/${arch} probabilities sum to ${s}`);
      const h = await m.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
      const loss = h.history['loss']?.[0];
      assert.ok(typeof loss === 'number' && Number.isFinite(loss), `${type}/${arch} finite loss`);
      tf.dispose([x, y, p]);
      m.dispose();
    }
  }
});

test('initialisation is deterministic per seed', () => {
  const weights = (seed: number): Float32Array => {
    const m = buildModel(tf, { type: 'mfcc', arch: 'default', inputShape: [20, 97, 1], numClasses: 4, seed });
    const all = m.getWeights().map((w) => Array.from(w.dataSync()));
    m.dispose();
    return Float32Array.from(all.flat());
  };
  assert.deepEqual(weights(3), weights(3));
  assert.notDeepEqual(weights(3), weights(4));
});

test('default features are frame-local (a stream can cache frames) and sized as documented', () => {
  const mfcc = defaultSpec('mfcc');
  assert.ok(isFrameLocal(mfcc));
  assert.deepEqual(modelInputShape(mfcc), [20, 97, 1]);
  assert.deepEqual(modelInputShape(defaultSpec('logmel')), [40, 97, 1]);
  assert.deepEqual(modelInputShape(defaultSpec('raw')), [16000, 1]);
});

test('bad options are refused with a clear message', () => {
  assert.throws(() => buildModel(tf, { type: 'mfcc', arch: 'seed', inputShape: [40, 33, 1], numClasses: 1 }), /at least 2 classes/);
  assert.throws(() => buildModel(tf, { type: 'raw', arch: 'seed', inputShape: [40, 33, 1], numClasses: 3 }), /rank 2/);
});
