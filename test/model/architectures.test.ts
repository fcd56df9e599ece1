/**
 * The seed architectures reproduce the notebooks' Keras models: layer output shapes and parameter
 * counts computed by hand from the Keras layer definitions (see the comments), for 6 classes.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, type TF } from '../../src/model/backend';
import { buildModel, archDefaults, compileModel, defaultSpec, featureKindFor, MODEL_TYPES, ARCH_NAMES } from '../../src/model/architectures';
import { modelInputShape, seedSpec, isFrameLocal } from '../../src/features/spec';
import { FeatureExtractor } from '../../src/features/extract';
import { dctMatrix } from '../../src/features/filters';
import { createRng } from '../../src/util/rng';

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
      // Short raw windows keep the test fast; the architectures do not depend on the length
      // (0.2 s: the default raw model's front end gives 9 frames, enough for three 2x2 poolings).
      const shape = type === 'raw' ? [3200, 1] : modelInputShape(d.featureSpec);
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
  // 20 ms hop: 1 + floor((16000 - 512) / 320) = 49 frames.
  assert.deepEqual(modelInputShape(mfcc), [20, 49, 1]);
  assert.deepEqual(modelInputShape(defaultSpec('logmel')), [40, 49, 1]);
  assert.deepEqual(modelInputShape(defaultSpec('raw')), [16000, 1]);
});

/** Multiply-accumulates of the conv and dense layers for one window (what inference costs). */
function macs(m: ReturnType<typeof buildModel>): number {
  let total = 0;
  for (const l of m.layers) {
    const cls = l.getClassName();
    if (cls !== 'Conv2D' && cls !== 'Dense') continue;
    const out = l.outputShape as number[];
    const kernel = l.getWeights()[0]?.shape as number[];
    // Conv2D kernel [kh, kw, cin, cout] per output position; Dense [in, out] per position of its
    // output's middle axes (once for [batch, units], per frame for [batch, frames, units]).
    const positions = cls === 'Conv2D' ? (out[1] as number) * (out[2] as number) : out.slice(1, -1).reduce((a, b) => a * (b as number), 1);
    total += positions * kernel.reduce((a, b) => a * b, 1);
  }
  return total;
}

test('the default mfcc and spectrogram models cost the same CNN plus their fixed envelope layer', () => {
  const mfcc = buildModel(tf, { type: 'mfcc', arch: 'default', inputShape: modelInputShape(defaultSpec('mfcc')), numClasses: 6 });
  const spectrogram = buildModel(tf, { type: 'spectrogram', arch: 'default', inputShape: modelInputShape(defaultSpec('logmel')), numClasses: 6 });
  // 49 x 40 bands, 24-48-96-96 filters, pooling after the first three blocks:
  // 49*40*9*24 + 24*20*9*24*48 + 12*10*9*48*96 + 6*5*9*96*96 + 96*6 = 12,865,536, plus the mfcc
  // envelope's 49 frames x 20 x 40 or the spectrogram lifter's 49 frames x 40 x 40.
  const cnn = 423_360 + 4_976_640 + 4_976_640 + 2_488_320 + 576;
  assert.equal(macs(mfcc), cnn + 49 * 20 * 40);
  assert.equal(macs(spectrogram), cnn + 49 * 40 * 40);
  // The previous mfcc default (the same CNN on the 20 x 49 coefficients) was 6,184,224.
  // raw: its mel weights (49 frames x 257 bins x 40) and the same lifter; its Fourier convolution is 1-D, not counted here.
  const raw = buildModel(tf, { type: 'raw', arch: 'default', inputShape: [16000, 1], numClasses: 6 });
  assert.equal(macs(raw), cnn + 49 * 257 * 40 + 49 * 40 * 40);
  for (const m of [mfcc, spectrogram, raw]) m.dispose();
});

/**
 * Feeds `rowValues` (one value per input row, the same in every frame) normalised by statistics
 * with a different spread per row to a default model of `type`, and checks that its fixed
 * `layerName` layer outputs `expected` (one value per band) in every frame probed.
 */
function assertFixedEnvelopeLayer(type: 'mfcc' | 'spectrogram', layerName: string, rowValues: readonly number[], expected: readonly number[]): void {
  const [rows, frames] = modelInputShape(defaultSpec(type === 'mfcc' ? 'mfcc' : 'logmel')) as [number, number, number];
  assert.equal(rowValues.length, rows);
  const std = Array.from({ length: rows * frames }, (_, i) => 1 + Math.floor(i / frames) * 0.25);
  const mean = new Array<number>(rows * frames).fill(0);
  const x = new Float32Array(rows * frames);
  for (let r = 0; r < rows; r++) for (let f = 0; f < frames; f++) x[r * frames + f] = (rowValues[r] as number) / (std[r * frames + f] as number);
  const m = buildModel(tf, { type, arch: 'default', inputShape: [rows, frames, 1], numClasses: 6, featureStats: { kind: 'standard', mean, std } });
  const layer = m.getLayer(layerName);
  assert.equal(layer.trainableWeights.length, 0, `${layerName} is fixed`);
  const probe = tf.model({ inputs: m.inputs, outputs: layer.output as never });
  const out = (probe.predict(tf.tensor4d(x, [1, rows, frames, 1])) as ReturnType<typeof tf.tensor3d>).arraySync()[0] as number[][];
  assert.equal(out.length, frames);
  for (const frame of [0, 24, frames - 1]) {
    for (let b = 0; b < expected.length; b++) assert.ok(Math.abs(((out[frame] as number[])[b] as number) - (expected[b] as number)) < 1e-4, `frame ${frame} band ${b}`);
  }
  m.dispose();
}

const BANDS = 40;
const DCT = dctMatrix(BANDS, BANDS);
/** A smooth mel envelope (dB): its first 6 DCT terms only, so 20 coefficients describe it exactly. */
const SMOOTH_COEFS = Array.from({ length: BANDS }, (_, k) => (k < 6 ? 10 / (k + 1) : 0));
const fromCoefs = (coefs: readonly number[]): number[] =>
  Array.from({ length: BANDS }, (_, b) => coefs.reduce((acc, v, k) => acc + v * (DCT[k * BANDS + b] as number), 0));

test('the default mfcc model turns normalised coefficients back into the mel envelope they came from', () => {
  assertFixedEnvelopeLayer('mfcc', 'mel_envelope', SMOOTH_COEFS.slice(0, 20), fromCoefs(SMOOTH_COEFS));
});

test('the default spectrogram model keeps the smooth envelope of normalised log-mel bands and drops the ripple of a pitch', () => {
  // The envelope plus a ripple at DCT term 30, above the 20 kept: the harmonics of a voice's pitch on the mel axis.
  const withRipple = fromCoefs(SMOOTH_COEFS.map((v, k) => (k === 30 ? 4 : v)));
  assertFixedEnvelopeLayer('spectrogram', 'lifter', withRipple, fromCoefs(SMOOTH_COEFS));
});

test('default augmentation: speed on, SpecAugment inside every default network, none for seed', () => {
  for (const type of MODEL_TYPES) {
    const d = archDefaults(type, 'default');
    assert.deepEqual(d.augmentation.speed, [0.85, 1.15]);
    // Every default makes its bands inside the network and masks them there, and the log line says so.
    assert.equal(d.masks, null);
    assert.match(d.inNetworkAugmentation ?? '', /1x<=5 frames, 1x<=6 bands, bands shifted by up to \+-2/);
    assert.equal(archDefaults(type, 'seed').masks, null);
    assert.equal(archDefaults(type, 'seed').inNetworkAugmentation, undefined);
  }
});

test('the default raw model keeps its front end fixed: only the CNN and normalisations train', () => {
  const m = buildModel(tf, { type: 'raw', arch: 'default', inputShape: [3200, 1], numClasses: 3, seed: 5 });
  assert.equal(m.getLayer('fourier').trainableWeights.length, 0);
  assert.equal(m.getLayer('mel').trainableWeights.length, 0);
  assert.ok(m.getLayer('band_norm').trainableWeights.length > 0);
  m.dispose();
});

test('the default raw model masks inside the network only when augmenting (--no-augment means the clips as recorded)', () => {
  const masked = (trainingMasks: boolean | undefined): number => {
    const m = buildModel(tf, { type: 'raw', arch: 'default', inputShape: [16000, 1], numClasses: 3, seed: 5, ...(trainingMasks === undefined ? {} : { trainingMasks }) });
    const layer = m.getLayer('spec_augment');
    const zeros = tf.tidy(() => (layer.apply(tf.ones([8, 49, 40]), { training: true }) as ReturnType<typeof tf.ones>).equal(0).sum().dataSync()[0] as number);
    m.dispose();
    return zeros;
  };
  assert.ok(masked(undefined) > 0, 'the default masks while training');
  assert.ok(masked(true) > 0);
  assert.equal(masked(false), 0);
});

test('the default raw model starts out computing the log-mel features the spectrogram model reads', () => {
  const m = buildModel(tf, { type: 'raw', arch: 'default', inputShape: [16000, 1], numClasses: 6, seed: 1 });
  // Noise plus a tone, so every band carries energy well above the log's epsilon.
  const rng = createRng(4);
  const x = Float32Array.from({ length: 16000 }, (_, i) => 0.1 * rng.normal() + 0.3 * Math.sin(i * 0.17));
  const frontEnd = tf.model({ inputs: m.inputs, outputs: m.getLayer('log').output as never });
  const ln = (frontEnd.predict(tf.tensor3d(x, [1, 16000, 1])) as ReturnType<typeof tf.tensor3d>).arraySync()[0] as number[][];
  // librosa's padded 400-in-512 Hann window sits 56 samples into each frame, where the
  // convolution's 400 taps start at the frame.
  const shifted = new Float32Array(16000);
  shifted.set(x.subarray(0, 16000 - 56), 56);
  const spec = defaultSpec('logmel');
  const features = new FeatureExtractor(spec).compute(shifted);
  const frames = ln.length;
  assert.equal(frames, 49);
  let worst = 0;
  // Frame 0 differs by the 56 samples the shift zeroed; every later frame must match.
  for (let f = 1; f < frames; f++) {
    for (let b = 0; b < 40; b++) worst = Math.max(worst, Math.abs(((ln[f] as number[])[b] as number) * (10 / Math.LN10) - (features[b * frames + f] as number)));
  }
  assert.ok(worst < 0.01, `front end differs from the log-mel features by ${worst} dB`);
  m.dispose();
});

test('the default raw model normalises its log-mel per frame and band by the training clips\' statistics, then lifters as the spectrogram model', () => {
  const len = 3200;
  const rng = createRng(9);
  // Three training clips of different loudness, and a fourth clip to probe with.
  const clips = Float32Array.from({ length: 4 * len }, (_, i) => (0.02 + 0.1 * Math.floor(i / len)) * rng.normal());
  const m = buildModel(tf, { type: 'raw', arch: 'default', inputShape: [len, 1], numClasses: 3, seed: 3, trainingClips: clips.subarray(0, 3 * len) });
  const probe = (layer: string): number[][][] =>
    (tf.model({ inputs: m.inputs, outputs: m.getLayer(layer).output as never }).predict(tf.tensor3d(clips, [4, len, 1])) as ReturnType<typeof tf.tensor3d>).arraySync();
  const logMel = probe('log');
  const normalised = probe('log_mel_norm');
  const [frames, bands] = [logMel[0]?.length as number, logMel[0]?.[0]?.length as number];
  assert.deepEqual([frames, bands], [9, 40]);
  const spreads = new Array<number>(bands).fill(0);
  let worst = 0;
  for (let f = 0; f < frames; f++) {
    for (let b = 0; b < bands; b++) {
      const train = [0, 1, 2].map((e) => logMel[e]?.[f]?.[b] as number);
      const mean = train.reduce((acc, v) => acc + v, 0) / 3;
      const std = Math.sqrt(train.reduce((acc, v) => acc + (v - mean) ** 2, 0) / 3);
      spreads[b] = (spreads[b] as number) + std / frames;
      for (let e = 0; e < 4; e++) worst = Math.max(worst, Math.abs((normalised[e]?.[f]?.[b] as number) - ((logMel[e]?.[f]?.[b] as number) - mean) / std));
    }
  }
  assert.ok(worst < 1e-3, `the normalised log-mel is off by ${worst}`);
  assert.equal(m.getLayer('log_mel_norm').trainableWeights.length, 0);
  // The lifter is the spectrogram default's: each band scaled by its spread, then the unit lifter.
  const spectrogram = buildModel(tf, { type: 'spectrogram', arch: 'default', inputShape: [40, 49, 1], numClasses: 3 });
  const unit = spectrogram.getLayer('lifter').getWeights()[0]?.dataSync() as Float32Array;
  const lifter = m.getLayer('lifter').getWeights()[0]?.dataSync() as Float32Array;
  assert.equal(m.getLayer('lifter').trainableWeights.length, 0);
  for (let i = 0; i < bands * bands; i++) assert.ok(Math.abs((lifter[i] as number) - (spreads[Math.floor(i / bands)] as number) * (unit[i] as number)) < 1e-4, `lifter element ${i}`);
  m.dispose();
  spectrogram.dispose();
});

test('bad options are refused with a clear message', () => {
  assert.throws(() => buildModel(tf, { type: 'mfcc', arch: 'seed', inputShape: [40, 33, 1], numClasses: 1 }), /at least 2 classes/);
  assert.throws(() => buildModel(tf, { type: 'raw', arch: 'seed', inputShape: [40, 33, 1], numClasses: 3 }), /rank 2/);
});

test('the raw default masks and shifts its bands inside the network, and does neither with --no-augment', () => {
  const inputShape = modelInputShape(defaultSpec('raw'));
  const configOf = (trainingMasks: boolean): Record<string, unknown> => {
    const model = buildModel(tf, { type: 'raw', arch: 'default', inputShape, numClasses: 3, trainingMasks });
    const layer = model.layers.find((l) => l.getClassName() === 'KwsSpecAugment');
    assert.ok(layer, 'the raw default has a KwsSpecAugment layer');
    const config = layer.getConfig() as Record<string, unknown>;
    model.dispose();
    return config;
  };
  const on = configOf(true);
  assert.deepEqual([on['maxFrames'], on['maxBands'], on['maxShift']], [5, 6, 2]);
  const off = configOf(false);
  assert.deepEqual([off['maxFrames'], off['maxBands'], off['maxShift']], [0, 0, undefined]);
});
