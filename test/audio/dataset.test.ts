import { test } from 'node:test';
import assert from 'node:assert/strict';
import { summarizeLengths, type ClipLength } from '../../src/audio/dataset';
import { createRng } from '../../src/util/rng';

const clip = (samples: number, file = `c${samples}.wav`): ClipLength => ({ file, samples, sampleRate: 16000 });

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

test('summarizeLengths: two clips, one far longer, is flagged (the overall median of two could never flag it)', () => {
  const s = summarizeLengths([clip(16000), clip(160000)]);
  assert.equal(s.longest.samples, 160000);
  assert.equal(s.medianSamples, 88000);
  assert.deepEqual(s.outliers.map((o) => o.samples), [160000]);
  assert.deepEqual(summarizeLengths([clip(16000), clip(30000)]).outliers, []);
  assert.deepEqual(summarizeLengths([clip(16000)]).outliers, []);
});

test('summarizeLengths: each clip against the median of the others, as a brute-force check computes it', () => {
  const rng = createRng(11);
  for (let trial = 0; trial < 50; trial++) {
    const n = 2 + Math.floor(rng.next() * 9);
    const lens = Array.from({ length: n }, () => 1000 + Math.floor(rng.next() * 5000) * (rng.next() < 0.2 ? 5 : 1));
    const clips = lens.map((l, i) => clip(l, `f${i}.wav`));
    const want = clips.filter((c, i) => c.samples > 2 * median(lens.filter((_, j) => j !== i))).map((c) => c.file).sort();
    assert.deepEqual(summarizeLengths(clips).outliers.map((o) => o.file).sort(), want, `lengths ${lens.join(',')}`);
    assert.equal(summarizeLengths(clips).medianSamples, median(lens));
  }
});
