/** kws's own layers: known answers, and SpecAugment only while training. */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, type TF } from '../../src/model/backend';
import { registerKwsLayers } from '../../src/model/layers';

let tf: TF;
before(async () => {
  tf = (await initBackend('wasm')).tf;
});

test('power spectrum pairs the first half of the channels (re) with the second (im)', () => {
  const layer = registerKwsLayers(tf).powerSpectrum();
  const x = tf.tensor3d([[[3, 1, 4, 2]]]); // re = [3, 1], im = [4, 2]
  assert.deepEqual((layer.apply(x) as ReturnType<typeof tf.tensor3d>).arraySync(), [[[25, 5]]]);
  assert.deepEqual(layer.computeOutputShape([null, 7, 4]), [null, 7, 2]);
});

test('log compression is log(x + epsilon) and keeps its epsilon through serialisation', () => {
  const layer = registerKwsLayers(tf).logCompression({ epsilon: 0.5 });
  const y = (layer.apply(tf.tensor1d([0, 0.5, Math.E - 0.5])) as ReturnType<typeof tf.tensor1d>).arraySync();
  [Math.log(0.5), 0, 1].forEach((v, i) => assert.ok(Math.abs((y[i] as number) - v) < 1e-6));
  assert.equal(layer.getConfig()['epsilon'], 0.5);
});

test('SpecAugment zeroes one run of frames and one of bands per example while training, nothing otherwise', () => {
  const layer = registerKwsLayers(tf).specAugment({ maxFrames: 3, maxBands: 2, seed: 1 });
  const x = tf.ones([16, 10, 8]);
  assert.deepEqual((layer.apply(x, { training: false }) as typeof x).arraySync(), x.arraySync());
  const y = (layer.apply(x, { training: true }) as typeof x).arraySync() as number[][][];
  let masked = 0;
  for (const example of y) {
    const zeroFrames = example.filter((frame) => frame.every((v) => v === 0)).length;
    const zeroBands = example[0]?.map((_, b) => example.every((frame) => frame[b] === 0)).filter(Boolean).length ?? 0;
    assert.ok(zeroFrames <= 3 && zeroBands <= 2, `${zeroFrames} frames, ${zeroBands} bands masked`);
    // Everything outside the masked frames and bands is untouched.
    const zeros = example.flat().filter((v) => v === 0).length;
    assert.equal(zeros, zeroFrames * 8 + zeroBands * 10 - zeroFrames * zeroBands);
    masked += zeros > 0 ? 1 : 0;
  }
  assert.ok(masked >= 12, `only ${masked} of 16 examples masked`);
});
