/**
 * The real `kws train` binary on generated clips (a low hum, a high whistle and a rising
 * chirp per label, at random positions and levels in noise), then `kws predict` on clips it
 * never saw and `kws evaluate` on a held-out folder. Small enough to train in seconds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, runKws, startKwsServe, stopKwsServe } from '../helpers';
import { encodeWav, floatToInt16 } from '../../src/audio/wav';
import { createRng, type Rng } from '../../src/util/rng';

const SR = 16000;
const LABELS = ['chirp', 'high', 'low'];

function synth(label: string, rng: Rng, seconds = 1): Float32Array {
  const n = Math.round(seconds * SR);
  const x = new Float32Array(n);
  const len = Math.round(SR * rng.uniform(0.3, 0.5));
  const start = rng.int(n - len);
  const amp = rng.uniform(0.1, 0.5);
  const f0 = label === 'low' ? rng.uniform(250, 400) : label === 'high' ? rng.uniform(2500, 3500) : rng.uniform(500, 700);
  let phase = 0;
  for (let i = 0; i < len; i++) {
    const f = label === 'chirp' ? f0 + (3000 * i) / len : f0;
    phase += (2 * Math.PI * f) / SR;
    const env = Math.sin((Math.PI * i) / len);
    x[start + i] = amp * env * Math.sin(phase);
  }
  for (let i = 0; i < n; i++) x[i] = (x[i] as number) + 0.003 * rng.normal();
  return x;
}

function writeSet(root: string, perLabel: number, seed: number): void {
  const rng = createRng(seed);
  for (const label of LABELS) {
    fs.mkdirSync(path.join(root, label), { recursive: true });
    for (let i = 0; i < perLabel; i++) {
      fs.writeFileSync(path.join(root, label, `${label}_${i}.wav`), encodeWav(floatToInt16(synth(label, rng)), SR));
    }
  }
}

/** A project folder with data/ (14 clips per label) and held/ (4 other clips per label). */
function toneProject(prefix: string): { dir: string; data: string; held: string } {
  const dir = makeTempDir(prefix);
  const data = path.join(dir, 'data');
  writeSet(data, 14, 1);
  const held = path.join(dir, 'held');
  writeSet(held, 4, 2);
  return { dir, data, held };
}

test('kws train -> predict -> evaluate on generated clips', { timeout: 300_000 }, () => {
  const { dir, data, held } = toneProject('kws-e2e-train-');
  const common = ['--data', data, '--models-dir', path.join(dir, 'models'), '--stats-dir', path.join(dir, 'stats'), '--cache-dir', path.join(dir, 'preproc')];
  const trainArgs = (name: string, epochs: number, threads = 1): string[] =>
    ['train', '--type', 'mfcc', '--name', name, '--epochs', String(epochs), '--batch-size', '8', '--learning-rate', '0.01', '--val-split', '0.25', '--threads', String(threads), ...common, '--json'];
  // Two threads share every mini-batch (src/model/replicas.ts), whatever the machine has.
  // 20 epochs: the mfcc default's mel envelope (session 16) needs more steps on these 42 clips
  // than the coefficient CNN before it did (6 epochs then).
  const train = trainArgs('tones', 20, 2);
  const r = runKws(train, { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as { name: string; labels: string[]; valAccuracy: number; featureCache: string; modelDir: string; reportFile: string; statsFile: string; history: unknown[]; threads: number };
  assert.deepEqual(summary.labels, LABELS);
  assert.match(r.stderr, /threads: 2 \(each takes a share of every mini-batch\)/);
  assert.equal(summary.history.length, 20);
  assert.equal(summary.featureCache, 'miss');
  // Progress and the closing lines go to stderr.
  assert.match(r.stderr, /epoch 20\/20 .*val_acc/);
  assert.match(r.stderr, /backend: (wasm|cpu|tensorflow)/);
  assert.match(r.stderr, /saved model .*tones/);
  assert.match(r.stderr, /final validation accuracy/);
  for (const f of ['kws-model.json', 'model.json', 'weights.bin', 'report.html']) assert.ok(fs.existsSync(path.join(summary.modelDir, f)), f);
  assert.ok(fs.existsSync(summary.statsFile));
  const meta = JSON.parse(fs.readFileSync(path.join(summary.modelDir, 'kws-model.json'), 'utf8')) as { labels: string[]; training: { epochs: number; seed: number; threads: number }; dataset: { fingerprint: string } };
  assert.deepEqual(meta.labels, LABELS);
  assert.equal(meta.training.epochs, 20);
  assert.equal(summary.threads, 2);
  assert.equal(meta.training.threads, 2);
  assert.match(meta.dataset.fingerprint, /^[0-9a-f]{32}$/);
  assert.match(fs.readFileSync(summary.reportFile, 'utf8'), /<svg /);

  // Clips it never saw: each must come back with its own label.
  const files = LABELS.flatMap((l) => [0, 1, 2, 3].map((i) => path.join(held, l, `${l}_${i}.wav`)));
  const p = runKws(['predict', '--model', summary.modelDir, '--json', '--top', '2', ...files], { cwd: dir });
  assert.equal(p.status, 0, p.stderr);
  const preds = JSON.parse(p.stdout) as { file: string; label: string; probability: number; top: { label: string }[] }[];
  assert.equal(preds.length, files.length);
  const correct = preds.filter((q) => path.basename(path.dirname(q.file)) === q.label).length;
  assert.ok(correct >= files.length - 1, `predict: ${correct}/${files.length} correct: ${p.stdout}`);
  assert.equal(preds[0]?.top.length, 2);

  const e = runKws(['evaluate', '--model', 'tones', '--models-dir', path.join(dir, 'models'), '--data', held], { cwd: dir });
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /accuracy \d+\.\d% on 12 clips/);
  assert.match(e.stdout, /confusion matrix/);

  // Same clips, same spec: the cached features are reused; a touched clip invalidates them.
  const again = runKws(trainArgs('tones2', 1), { cwd: dir });
  assert.equal(again.status, 0, again.stderr);
  assert.equal((JSON.parse(again.stdout) as { featureCache: string }).featureCache, 'hit');
  assert.equal((JSON.parse(again.stdout) as { threads: number }).threads, 1);
  const touched = path.join(data, 'low', 'low_0.wav');
  fs.utimesSync(touched, new Date(), new Date(Date.now() + 5000));
  const third = runKws(trainArgs('tones3', 1), { cwd: dir });
  assert.equal(third.status, 0, third.stderr);
  assert.equal((JSON.parse(third.stdout) as { featureCache: string }).featureCache, 'miss');

  // Never overwrite: the same name again is refused and the model is untouched.
  const before = fs.readFileSync(path.join(summary.modelDir, 'weights.bin'));
  const dup = runKws(train, { cwd: dir });
  assert.equal(dup.status, 2);
  assert.match(dup.stderr, /a model named tones already exists/);
  assert.deepEqual(fs.readFileSync(path.join(summary.modelDir, 'weights.bin')), before);
});

test('kws train --reversed-negatives adds backwards speech as _unknown_, --synthetic-noise sets the interference share (bad values are usage errors); --val-split 0; --no-augment on a raw model', { timeout: 120_000 }, () => {
  const dir = makeTempDir('kws-e2e-revneg-');
  const data = path.join(dir, 'data');
  writeSet(data, 10, 3);
  fs.renameSync(path.join(data, 'low'), path.join(data, '_unknown_'));
  const common = ['--data', data, '--models-dir', path.join(dir, 'models'), '--stats-dir', path.join(dir, 'stats'), '--no-cache', '--epochs', '1', '--batch-size', '8'];
  const r = runKws(['train', '--name', 'rev', '--reversed-negatives', '0.5', '--val-split', '0.2', ...common, '--json'], { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  // 8 of the 10 _unknown_ clips train; half as many reversed clips join them each epoch.
  assert.match(r.stderr, /augmentation: .*, 4 reversed-speech clips per epoch as _unknown_/);
  // Synthetic interference is on by default. This set has no _background_ recordings, so every
  // noisy clip gets the synthetic kind; the log and the summary say so.
  assert.match(r.stderr, /100 % of it synthetic \(babble, tones, clatter, swells\).*recorded noise from none/);
  const report = fs.readFileSync(path.join(dir, 'models', 'rev', 'report.html'), 'utf8');
  assert.match(report, /4 reversed-speech clips per epoch as _unknown_/);
  assert.match(report, /100 % of it synthetic/);
  const trainedWith = (name: string): number =>
    (JSON.parse(fs.readFileSync(path.join(dir, 'models', name, 'kws-model.json'), 'utf8')) as { training: { syntheticNoise: number } }).training.syntheticNoise;
  assert.equal(trainedWith('rev'), 1);
  // The run also covers --val-split 0 (train on every clip, as for the model one ships).
  const off = runKws(['train', '--name', 'plain', '--val-split', '0', '--synthetic-noise', '0', ...common, '--json'], { cwd: dir });
  assert.equal(off.status, 0, off.stderr);
  assert.doesNotMatch(off.stderr, /reversed-speech/);
  assert.doesNotMatch(off.stderr, /synthetic/);
  assert.equal(trainedWith('plain'), 0);
  const all = JSON.parse(off.stdout) as { trainClips: number; valClips: number; valAccuracy: number | null };
  assert.deepEqual([all.trainClips, all.valClips, all.valAccuracy], [30, 0, null]);
  assert.match(off.stderr, /no validation split/);
  assert.match(fs.readFileSync(path.join(dir, 'models', 'plain', 'report.html'), 'utf8'), /No validation split \(--val-split 0\)/);
  // --no-augment means the clips as recorded: the raw model's in-network SpecAugment is off too.
  const raw = runKws(['train', '--name', 'rawplain', '--type', 'raw', '--no-augment', ...common], { cwd: dir });
  assert.equal(raw.status, 0, raw.stderr);
  assert.match(raw.stderr, /augmentation: off/);
  const topology = fs.readFileSync(path.join(dir, 'models', 'rawplain', 'model.json'), 'utf8');
  // Layer configs are saved with Keras's snake_case keys.
  const masks: { max_frames: number; max_bands: number }[] = [];
  JSON.parse(topology, (_key, value: unknown) => {
    const v = value as { class_name?: string; config?: { max_frames: number; max_bands: number } };
    if (v && v.class_name === 'KwsSpecAugment' && v.config) masks.push(v.config);
    return value;
  });
  assert.equal(masks.length, 1, 'one in-network SpecAugment layer');
  assert.deepEqual([masks[0]?.max_frames, masks[0]?.max_bands], [0, 0]);
  const bad = runKws(['train', '--name', 'bad', '--reversed-negatives', '-1', ...common], { cwd: dir });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--reversed-negatives/);
  const noAugment = runKws(['train', '--name', 'bad2', '--reversed-negatives', '0.5', '--no-augment', ...common], { cwd: dir });
  assert.equal(noAugment.status, 2);
  assert.match(noAugment.stderr, /augmentation is off/);
  const badShare = runKws(['train', '--name', 'bad4', '--synthetic-noise', '1.5', ...common], { cwd: dir });
  assert.equal(badShare.status, 2);
  assert.match(badShare.stderr, /--synthetic-noise/);
  const shareNoAugment = runKws(['train', '--name', 'bad5', '--synthetic-noise', '0.5', '--no-augment', ...common], { cwd: dir });
  assert.equal(shareNoAugment.status, 2);
  assert.match(shareNoAugment.stderr, /--synthetic-noise mixes noise into augmented clips, but augmentation is off/);
  fs.renameSync(path.join(data, '_unknown_'), path.join(data, 'low'));
  const noUnknown = runKws(['train', '--name', 'bad3', '--reversed-negatives', '0.5', ...common], { cwd: dir });
  assert.equal(noUnknown.status, 2);
  assert.match(noUnknown.stderr, /has no _unknown_ folder/);
  for (const name of ['bad2', 'bad3', 'bad4', 'bad5']) assert.ok(!fs.existsSync(path.join(dir, 'models', name)), `nothing written for ${name}`);
});

test('kws train --ensemble 2: two members from two seeds, averaged in one model that predict and serve run', { timeout: 300_000 }, async () => {
  const { dir, data, held } = toneProject('kws-e2e-ensemble-');
  const common = ['--data', data, '--models-dir', path.join(dir, 'models'), '--stats-dir', path.join(dir, 'stats'), '--no-cache', '--batch-size', '8', '--learning-rate', '0.01', '--val-split', '0.25'];
  // 20 epochs: the mfcc default's mel envelope (session 16) needs more steps on 42 tone clips than
  // the coefficient CNN before it did (4 epochs then; this test takes about 16 s here).
  const epochs = 20;
  const r = runKws(['train', '--name', 'pair', '--epochs', String(epochs), '--ensemble', '2', ...common, '--json'], { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  const summary = JSON.parse(r.stdout) as {
    ensemble: number;
    valAccuracy: number;
    modelDir: string;
    history: { member?: number; epoch: number; valAcc: number }[];
    validation: { accuracy: number };
  };
  assert.equal(summary.ensemble, 2);
  assert.deepEqual(
    summary.history.map((h) => `${h.member}:${h.epoch}`),
    [1, 2].flatMap((m) => Array.from({ length: epochs }, (_, e) => `${m}:${e + 1}`)),
  );
  // The saved model's accuracy is the average's, which need not be either member's.
  assert.equal(summary.valAccuracy, summary.validation.accuracy);
  assert.match(r.stderr, /member 1\/2 \(seed 42\)/);
  assert.match(r.stderr, /member 2\/2 \(seed 142\)/);
  assert.match(r.stderr, new RegExp(`member 2/2 epoch ${epochs}/${epochs} .*val_acc`));
  assert.match(r.stderr, /ensemble of 2: val_acc \d+\.\d% \(members: \d+\.\d%, \d+\.\d%\)/);
  const meta = JSON.parse(fs.readFileSync(path.join(summary.modelDir, 'kws-model.json'), 'utf8')) as { training: { ensemble: number } };
  assert.equal(meta.training.ensemble, 2);
  const report = fs.readFileSync(path.join(summary.modelDir, 'report.html'), 'utf8');
  assert.match(report, /member 2: accuracy/);
  assert.match(report, /\(ensemble of 2\)/);
  assert.match(report, new RegExp(`${epochs} epochs for each of 2 members`));

  const files = LABELS.flatMap((l) => [0, 1, 2, 3].map((i) => path.join(held, l, `${l}_${i}.wav`)));
  const p = runKws(['predict', '--model', summary.modelDir, '--json', ...files], { cwd: dir });
  assert.equal(p.status, 0, p.stderr);
  const preds = JSON.parse(p.stdout) as { file: string; label: string }[];
  const correct = preds.filter((q) => path.basename(path.dirname(q.file)) === q.label).length;
  assert.ok(correct >= files.length - 1, `predict: ${correct}/${files.length} correct: ${p.stdout}`);

  // The server's inference thread loads it too, and says what it costs.
  const serve = await startKwsServe(summary.modelDir);
  assert.match(serve.stderr(), /model pair \(mfcc, ensemble of 2: up to 2x the work per window; chirp, high, low\)/);
  assert.equal(await stopKwsServe(serve.child), 0, serve.stderr());

  for (const bad of ['0', '9', '1.5']) {
    const b = runKws(['train', '--name', `bad${bad}`, '--epochs', '1', '--ensemble', bad, ...common], { cwd: dir });
    assert.equal(b.status, 2, `--ensemble ${bad}: ${b.stderr}`);
    assert.match(b.stderr, /--ensemble/);
  }
  assert.ok(!fs.existsSync(path.join(dir, 'models', 'bad0')), 'nothing written');
});
