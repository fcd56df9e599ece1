/**
 * `kws train` on bad input: each case must fail fast with a message naming what is wrong
 * and what to do, a non-zero exit, no stack trace, and nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir, runKws } from '../helpers';
import { encodeWav } from '../../src/audio/wav';

function clip(file: string, seconds = 1): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const s = new Int16Array(Math.round(16000 * seconds));
  for (let i = 0; i < s.length; i++) s[i] = Math.round(3000 * Math.sin(i / 5));
  fs.writeFileSync(file, encodeWav(s, 16000));
}

function trainIn(dir: string, extra: string[] = []): { status: number | null; stderr: string } {
  return runKws(['train', '--data', 'data', '--name', 'm', '--epochs', '1', ...extra], { cwd: dir });
}

function assertNothingWritten(dir: string): void {
  for (const d of ['models', 'stats']) {
    const p = path.join(dir, d);
    assert.ok(!fs.existsSync(p) || fs.readdirSync(p).length === 0, `${d}/ should be empty`);
  }
}

function assertClean(r: { status: number | null; stderr: string }, status: number, re: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  assert.match(r.stderr, re);
  assert.doesNotMatch(r.stderr, /\n\s+at .*\.js:\d+/, 'no stack trace for a user mistake');
}

test('missing data folder', () => {
  const dir = makeTempDir();
  const r = trainIn(dir);
  assertClean(r, 3, /data folder not found: data\n.*kws record/);
  assertNothingWritten(dir);
});

test('a single label', () => {
  const dir = makeTempDir();
  clip(path.join(dir, 'data', 'yes', 'a.wav'));
  assertClean(trainIn(dir), 3, /only one label \(yes\).*at least two\n.*_background_/);
  assertNothingWritten(dir);
});

test('an empty label folder', () => {
  const dir = makeTempDir();
  clip(path.join(dir, 'data', 'yes', 'a.wav'));
  fs.mkdirSync(path.join(dir, 'data', 'no'), { recursive: true });
  assertClean(trainIn(dir), 3, /label folder data\/no has no \.wav files/);
  assertNothingWritten(dir);
});

test('a corrupt WAV names the file', () => {
  const dir = makeTempDir();
  for (const l of ['yes', 'no']) for (let i = 0; i < 3; i++) clip(path.join(dir, 'data', l, `${i}.wav`));
  fs.writeFileSync(path.join(dir, 'data', 'no', 'broken.wav'), Buffer.from('RIFF\x10\x00\x00\x00WAVEjunkjunk'));
  assertClean(trainIn(dir), 3, /broken\.wav/);
  assertNothingWritten(dir);
});

test('clips longer than the window are listed, with what to do', () => {
  const dir = makeTempDir();
  for (const l of ['yes', 'no']) for (let i = 0; i < 3; i++) clip(path.join(dir, 'data', l, `${i}.wav`));
  clip(path.join(dir, 'data', 'yes', 'long.wav'), 2.5);
  assertClean(trainIn(dir), 3, /1 clip\(s\) in .* are longer than the model's 1 s window: yes\/long\.wav \(2\.50 s\)\n.*--crop/);
  assertNothingWritten(dir);
});

test('bad option values are usage errors', () => {
  const dir = makeTempDir();
  assertClean(runKws(['train', '--type', 'cnn'], { cwd: dir }), 2, /unknown --type 'cnn'/);
  assertClean(runKws(['train', '-m', '-s'], { cwd: dir }), 2, /conflicting model types: mfcc and spectrogram/);
  assertClean(runKws(['train', '--val-split', '1'], { cwd: dir }), 2, /--val-split/);
  assertClean(runKws(['train', '--threads', '0'], { cwd: dir }), 2, /--threads must be a whole number from 1 to 64, got "0"/);
  assertClean(runKws(['train', '--name', '../x'], { cwd: dir }), 2, /invalid model name/);
  assertClean(runKws(['predict', 'a.wav'], { cwd: dir }), 2, /--model NAME is required/);
});

test('--split-by voice without speaker information says how to provide it', () => {
  const dir = makeTempDir();
  for (const l of ['yes', 'no']) for (let i = 0; i < 3; i++) clip(path.join(dir, 'data', l, `${i}.wav`));
  assertClean(trainIn(dir, ['--split-by', 'voice']), 2, /--split-by voice needs to know who speaks.*\n.*manifest\.csv/);
  assertNothingWritten(dir);
});
