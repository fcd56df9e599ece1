/** `kws features` end to end: the real binary on real WAV files. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, runKws } from '../helpers';
import { encodeWav } from '../../src/audio/wav';
import { parseNpy } from '../../src/features/npy';
import { seedSpec } from '../../src/features/spec';
import { computeStats, statsToJson } from '../../src/features/normalize';
import { METADATA_FILE, type ModelMetadata } from '../../src/model/metadata';
import { loadReference, maxAbsDiff } from './reference';

const dir = makeTempDir();
const ref = loadReference('word_yes_1s');
const wavPath = path.join(dir, 'yes.wav');
fs.writeFileSync(wavPath, encodeWav(Int16Array.from(ref.samples, (v) => Math.round(v * 32768)), 16000));

interface FeaturesJson {
  shape: [number, number];
  data: number[][];
  featureSpec: { kind: string; spectral?: { padMode: string } };
  fit: string;
  normalized: boolean;
}

test('--json with --fit none reproduces the librosa reference for both padding modes', () => {
  for (const pad of ['reflect', 'constant'] as const) {
    for (const kind of ['mfcc', 'logmel'] as const) {
      const r = runKws(['features', wavPath, '--kind', kind, '--pad', pad, '--fit', 'none', '--json']);
      assert.equal(r.status, 0, r.stderr);
      const out = JSON.parse(r.stdout) as FeaturesJson;
      assert.deepEqual(out.shape, [kind === 'mfcc' ? 40 : 128, 32]);
      assert.equal(out.featureSpec.spectral?.padMode, pad);
      assert.ok(maxAbsDiff(out.data.flat(), ref.features[pad][kind], 32).max <= 0.01);
    }
  }
});

test('default: the 16384-sample window of the original (33 frames), printed as a table', () => {
  const r = runKws(['features', wavPath]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /shape: \[40\]\[33\]/);
  assert.match(r.stdout, /zero-padded \(centre\)/);
  assert.equal(r.stdout.split('\n').filter((l) => /^c\d+ /.test(l)).length, 40);
});

test('--out writes a float32 .npy [rows, frames]', () => {
  const out = path.join(dir, 'f.npy');
  const r = runKws(['features', wavPath, '--kind', 'logmel', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const arr = parseNpy(fs.readFileSync(out));
  assert.deepEqual(arr.shape, [128, 33]);
  assert.equal(arr.dtype, '<f4');
  assert.equal(Math.max(...arr.data), 0, 'log-mel with ref max peaks at 0 dB');
});

test('--model uses the spec and statistics stored with a model', () => {
  const modelDir = path.join(dir, 'models', 'tiny');
  fs.mkdirSync(modelDir, { recursive: true });
  const spec = seedSpec('logmel', 8192);
  spec.spectral!.padMode = 'constant';
  const stats = computeStats(spec, [new Float32Array(128 * 17).fill(-40), new Float32Array(128 * 17).fill(-20)]);
  const meta: ModelMetadata = {
    format: 'kws-model',
    formatVersion: 1,
    name: 'tiny',
    type: 'spectrogram',
    labels: ['yes', 'no'],
    featureSpec: spec,
    stats: statsToJson(stats).stats,
    training: { arch: 'default', epochs: 1, batchSize: 1, learningRate: 0.001, valSplit: 0.2, splitBy: 'clip', seed: 1, augment: false, syntheticNoise: 0, ensemble: 1, backend: 'cpu', threads: 1 },
    dataset: { fingerprint: 'x', clipsPerLabel: { yes: 1, no: 1 }, trainClips: 2, valClips: 0 },
    metrics: { valAccuracy: null, trainAccuracy: null },
    kwsVersion: '0.0.0',
    createdAt: new Date(0).toISOString(),
  };
  fs.writeFileSync(path.join(modelDir, METADATA_FILE), JSON.stringify(meta));
  const r = runKws(['features', wavPath, '--model', 'tiny', '--normalize', '--json'], { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as FeaturesJson;
  assert.deepEqual(out.shape, [128, 17]);
  assert.equal(out.normalized, true);
  assert.equal(out.featureSpec.spectral?.padMode, 'constant');
  // (x - (-30)) / 10: 0 dB maps to 3.
  assert.equal(Math.max(...out.data.flat()), 3);
});

test('mistakes give an actionable message and the documented exit code, no stack trace', () => {
  const cases: [string[], number, RegExp][] = [
    [['features', path.join(dir, 'missing.wav')], 3, /missing\.wav: no such file/],
    [['features', wavPath, '--kind', 'cqt'], 2, /--kind/],
    [['features', wavPath, '--window', '-5'], 2, /--window must be a positive whole number/],
    [['features', wavPath, '--normalize'], 2, /--normalize needs --model/],
    [['features', wavPath, '--out', path.join(dir, 'x.txt')], 2, /--out must name a \.npy file/],
    [['features', wavPath, '--model', 'nope'], 3, /model 'nope' not found/],
  ];
  for (const [args, code, msg] of cases) {
    const r = runKws(args, { cwd: dir });
    assert.equal(r.status, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
