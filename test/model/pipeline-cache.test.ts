/**
 * The training pipeline on a tiny real dataset: a feature-cache hit without augmentation must not
 * read the clips again (it is keyed on each clip's path, size and mtime), and augmentation must.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeTempDir } from '../helpers';
import { encodeWav } from '../../src/audio/wav';
import { runTraining, type TrainOptions } from '../../src/model/pipeline';

function makeData(root: string): string[] {
  const files: string[] = [];
  ['low', 'high'].forEach((label, li) => {
    fs.mkdirSync(path.join(root, label), { recursive: true });
    for (let k = 0; k < 4; k++) {
      const f = 300 + 900 * li + 40 * k;
      const s = Int16Array.from({ length: 16000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * f * i) / 16000)));
      const file = path.join(root, label, `${label}_${k}.wav`);
      fs.writeFileSync(file, encodeWav(s, 16000));
      files.push(file);
    }
  });
  return files;
}

test('a feature-cache hit without augmentation does not read the clips; with augmentation it does', async () => {
  const dir = makeTempDir();
  const data = path.join(dir, 'data');
  const files = makeData(data);
  const opts: TrainOptions = {
    type: 'mfcc',
    arch: 'default',
    dataDir: data,
    epochs: 1,
    batchSize: 4,
    valSplit: 0.25,
    seed: 1,
    augment: false,
    backend: 'cpu',
    modelsDir: path.join(dir, 'models'),
    statsDir: path.join(dir, 'stats'),
    cacheDir: path.join(dir, 'cache'),
    crop: false,
    quiet: true,
    dryRun: true,
  };
  const first = await runTraining(opts);
  assert.equal(first.featureCache, 'miss');
  // Same size and mtime, unreadable content: only a run that reads the audio can notice.
  for (const f of files) {
    const st = fs.statSync(f);
    fs.writeFileSync(f, Buffer.alloc(st.size, 0x55));
    fs.utimesSync(f, st.atime, st.mtime);
  }
  const second = await runTraining(opts);
  assert.equal(second.featureCache, 'hit');
  assert.deepEqual(second.labels, first.labels);
  await assert.rejects(runTraining({ ...opts, augment: true }), /\.wav/);
});
