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

test('SpecAugment with maxShift moves all bands of an example by one amount within the limit, and passes the gradient back', () => {
  const layer = registerKwsLayers(tf).specAugment({ maxFrames: 0, maxBands: 0, maxShift: 2, seed: 5 });
  const bands = 9;
  // Band b holds b + 1 in every frame, so a band's value says where it came from.
  const x = tf.tensor3d(Array.from({ length: 20 * 4 * bands }, (_, i) => (i % bands) + 1), [20, 4, bands]);
  const y = (layer.apply(x, { training: true }) as typeof x).arraySync();
  const shifts = new Set<number>();
  for (const example of y) {
    const shift = 4 - (((example[0] as number[])[4] as number) - 1);
    assert.ok(Math.abs(shift) <= 2, `shift ${shift}`);
    for (const frame of example) frame.forEach((v, b) => assert.equal(v, Math.min(bands - 1, Math.max(0, b - shift)) + 1, `band ${b}, shift ${shift}`));
    shifts.add(shift);
  }
  assert.ok(shifts.size >= 4, `shifts drawn: ${[...shifts].join(', ')}`);
  // d(sum y)/dx counts the output bands each input band feeds; each output band has one source.
  const g = tf.grad((t) => tf.sum(layer.apply(t, { training: true }) as typeof t))(x).arraySync() as number[][][];
  for (const example of g) {
    const total = (example[0] as number[]).reduce((p, q) => p + q, 0);
    assert.equal(total, bands, 'every output band comes from one input band');
  }
  assert.equal(layer.getConfig()['maxShift'], 2);
  assert.equal(registerKwsLayers(tf).specAugment({ maxFrames: 1, maxBands: 1, seed: 5 }).getConfig()['maxShift'], undefined, 'older configs stay as they were');
});

test('fixed standardization maps x to (x - mean) * scale with one frozen mean and scale per position; the identity until set', () => {
  const layer = registerKwsLayers(tf).fixedStandardization();
  const x = tf.tensor3d([[[1, 2], [3, 4], [5, 6]]]);
  assert.deepEqual((layer.apply(x) as typeof x).arraySync(), x.arraySync(), 'the identity before it is set');
  assert.equal(layer.trainableWeights.length, 0);
  assert.deepEqual(layer.getWeights().map((w) => w.shape), [[3, 2], [3, 2]], 'one mean and scale per frame and band, none per example');
  layer.setWeights([tf.tensor2d([[1, 1], [0, 2], [-1, 5]]), tf.tensor2d([[1, 2], [0.5, 1], [1, -1]])]);
  const expected = [[0, 2], [1.5, 2], [6, -1]];
  assert.deepEqual((layer.apply(tf.concat([x, x])) as typeof x).arraySync(), [expected, expected]);
});
