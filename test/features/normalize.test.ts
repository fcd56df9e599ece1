import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fixturesDir, makeTempDir } from '../helpers';
import { UserError } from '../../src/util/errors';
import { seedSpec, type FeatureSpec } from '../../src/features/spec';
import { checkStatsFit, computeStats, normalizeInPlace, Normalizer, parseStats, readStatsFile, writeStatsFile } from '../../src/features/normalize';
import { encodeNpy } from '../../src/features/npy';

/** A tiny spec: 2 rows x 2 frames (center false, 2 frames of nFft 8, hop 4). */
const tiny: FeatureSpec = {
  specVersion: 1,
  kind: 'logmel',
  sampleRate: 16000,
  windowSamples: 12,
  spectral: { nFft: 8, winLength: 8, hop: 4, center: false, padMode: 'constant', nMels: 2, fmin: 0, fmax: 8000, dbRef: 1, topDb: null },
};

test('per-element mean and population std (numpy ddof=0), then (x - mean) / std', () => {
  const feats = [Float32Array.of(1, 2, 5, 10), Float32Array.of(3, 2, 7, 20), Float32Array.of(5, 2, 9, 30)];
  const stats = computeStats(tiny, feats);
  assert.equal(stats.kind, 'standard');
  if (stats.kind !== 'standard') return;
  assert.deepEqual(stats.mean.map((v) => +v.toFixed(9)), [3, 2, 7, 20]);
  const s = Math.sqrt(8 / 3);
  assert.deepEqual(stats.std.map((v) => +v.toFixed(9)), [s, 0, s, Math.sqrt(200 / 3)].map((v) => +v.toFixed(9)));
  const x = normalizeInPlace(stats, Float32Array.of(5, 2, 7, 30));
  assert.ok(Math.abs(x[0] - 2 / s) < 1e-6);
  assert.equal(x[2], 0);
  // Zero std: centred only, never NaN or Infinity, even for a value the training never saw.
  assert.equal(x[1], 0);
  const y = normalizeInPlace(stats, Float32Array.of(0, 3.5, 0, 0));
  assert.equal(y[1], 1.5);
  assert.ok(y.every(Number.isFinite));
});

test('raw: scalar min/max, (x - min) / (max - min + 1e-6) - 0.5', () => {
  const spec = seedSpec('raw', 4);
  const stats = computeStats(spec, [Float32Array.of(-0.5, 0, 0.25, 0.1), Float32Array.of(0.5, 0.2, -0.1, 0)]);
  assert.deepEqual(stats, { kind: 'minmax', min: -0.5, max: 0.5 });
  const x = normalizeInPlace(stats, Float32Array.of(-0.5, 0.5, 0));
  assert.ok(Math.abs(x[0] - -0.5) < 1e-6 && Math.abs(x[1] - 0.5) < 1e-5 && Math.abs(x[2]) < 1e-6);
  // All-equal training data (max == min) still gives finite values.
  const flat = normalizeInPlace({ kind: 'minmax', min: 0, max: 0 }, Float32Array.of(0, 1e-7));
  assert.ok(flat.every(Number.isFinite));
});

test('no training clips is a user error, wrong sizes a bug', () => {
  assert.throws(() => computeStats(tiny, []), (e: unknown) => e instanceof UserError && /no training clips/.test(e.message));
  assert.throws(() => computeStats(tiny, [new Float32Array(3)]), RangeError);
  assert.throws(() => new Normalizer({ kind: 'standard', mean: [0, 0], std: [1, 1] }).apply(new Float32Array(3)), RangeError);
});

test('kws stats file round trip, and checkStatsFit against a spec', async () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'stats', 'words.json');
  const stats = computeStats(tiny, [Float32Array.of(1, 2, 3, 4), Float32Array.of(2, 2, 2, 2)]);
  await writeStatsFile(file, stats, tiny);
  const text = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  assert.equal(text.format, 'kws-stats');
  assert.deepEqual(await readStatsFile(file), stats);
  checkStatsFit(stats, tiny, file);
  assert.throws(() => checkStatsFit(stats, seedSpec('mfcc'), file), /statistics have 4 values but mfcc features of this spec have 1320/);
  assert.throws(() => checkStatsFit(stats, seedSpec('raw'), file), /do not fit raw features/);
});

test("reads the original's stats/NAME.npy ([std, mean], std first) written by NumPy", async () => {
  const stats = await readStatsFile(path.join(fixturesDir, 'npy', 'original_stats_mfcc.npy'));
  assert.equal(stats.kind, 'standard');
  if (stats.kind !== 'standard') return;
  assert.equal(stats.std.length, 40 * 33);
  assert.equal(stats.std[0], 0);
  assert.ok(Math.abs(stats.std[1] - 1.622259259223938) < 1e-7);
  assert.ok(Math.abs(stats.mean[0] - 0.1257302165031433) < 1e-7);
  assert.ok(Math.abs(stats.mean[40 * 33 - 1] - 1.1976616382598877) < 1e-7);
  checkStatsFit(stats, seedSpec('mfcc'), 'x');
  const x = normalizeInPlace(stats, new Float32Array(40 * 33));
  assert.ok(x.every(Number.isFinite), 'the zero std element does not produce NaN/Infinity');
});

test("reads the original's stats/NAME.json (max_data/min_data as strings)", async () => {
  const dir = makeTempDir();
  const file = path.join(dir, 'raw.json');
  fs.writeFileSync(file, JSON.stringify({ max_data: '0.99996948', min_data: '-1.0' }));
  assert.deepEqual(await readStatsFile(file), { kind: 'minmax', min: -1, max: 0.99996948 });
  assert.throws(() => parseStats({ max_data: 'abc', min_data: '0' }, 'raw.json'), /raw\.json: max_data and min_data must be numbers/);
});

test('stats file errors name the file and say what is wrong', async () => {
  const dir = makeTempDir();
  await assert.rejects(readStatsFile(path.join(dir, 'none.json')), /statistics file not found: .*none\.json/);
  const bad = path.join(dir, 'bad.json');
  fs.writeFileSync(bad, '{oops');
  await assert.rejects(readStatsFile(bad), /bad\.json: not valid JSON/);
  const wrongShape = path.join(dir, 'w.npy');
  fs.writeFileSync(wrongShape, encodeNpy([1, 2, 3], [3]));
  await assert.rejects(readStatsFile(wrongShape), /w\.npy: expected an array \[std, mean\] with first dimension 2, got shape \(3\)/);
  const notNpy = path.join(dir, 'n.npy');
  fs.writeFileSync(notNpy, 'text');
  await assert.rejects(readStatsFile(notNpy), (e: unknown) => e instanceof UserError && /n\.npy: not a NumPy .npy file/.test(e.message));
  assert.throws(() => parseStats({ kind: 'standard', mean: [1], std: [1, 2] }, 's.json'), /s\.json: "mean" has 1 values but "std" has 2/);
});
