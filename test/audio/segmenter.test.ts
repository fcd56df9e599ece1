import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FixedClipper, SilenceSegmenter, type Clip, type SilenceOptions } from '../../src/audio/segmenter';
import { createRng } from '../../src/util/rng';

const CHUNK = 1024;

/** Quiet noise (integer RMS about 6, under the default threshold 30) with 700 Hz bursts. */
function synth(totalSamples: number, bursts: [number, number][], seed = 1): Int16Array {
  const rng = createRng(seed);
  const x = new Int16Array(totalSamples);
  for (let i = 0; i < totalSamples; i++) x[i] = Math.round(6 * rng.normal());
  for (const [a, b] of bursts) for (let i = a; i < b; i++) x[i] = Math.round(8000 * Math.sin((2 * Math.PI * 700 * i) / 16000));
  return x;
}

function runSilence(x: Int16Array, o: Partial<SilenceOptions> = {}): { clips: Clip[]; dropped: Clip[] } {
  const seg = new SilenceSegmenter({ threshold: 30, quietChunks: 7, preRollChunks: 0, postRollChunks: 0, minSoundSamples: 0, maxSamples: 10 * 16000, ...o });
  const clips: Clip[] = [];
  const dropped: Clip[] = [];
  for (let i = 0; i < x.length; i += CHUNK) {
    const r = seg.push(x.slice(i, i + CHUNK));
    clips.push(...r.clips);
    dropped.push(...r.dropped);
  }
  const r = seg.flush();
  clips.push(...r.clips);
  dropped.push(...r.dropped);
  return { clips, dropped };
}

/** Every clip must be an exact, contiguous copy of the input it claims to span. */
function assertFaithful(x: Int16Array, clips: Clip[]): void {
  for (const c of clips) {
    assert.equal(c.samples.length, c.end - c.start);
    assert.deepEqual(c.samples, x.slice(c.start, c.end), `clip ${c.start}..${c.end} is not the input`);
  }
}

const BURSTS: [number, number][] = [
  [10_000, 17_500],
  [40_321, 52_000],
  [80_777, 86_000],
];

test('three tone bursts separated by silence give three clips, boundaries within one chunk', () => {
  const x = synth(110_000, BURSTS);
  const { clips } = runSilence(x);
  assert.equal(clips.length, 3);
  assertFaithful(x, clips);
  clips.forEach((c, i) => {
    const [a, b] = BURSTS[i] as [number, number];
    assert.ok(Math.abs(c.start - a) < CHUNK, `clip ${i} starts at ${c.start}, burst at ${a}`);
    assert.ok(Math.abs(c.end - b) < CHUNK, `clip ${i} ends at ${c.end}, burst at ${b}`);
    assert.equal(c.reason, 'quiet');
  });
});

test('pre-roll and post-roll add whole chunks of the real input around the sound', () => {
  const x = synth(110_000, BURSTS);
  const { clips } = runSilence(x, { preRollChunks: 2, postRollChunks: 3 });
  assert.equal(clips.length, 3);
  assertFaithful(x, clips);
  clips.forEach((c, i) => {
    const [a, b] = BURSTS[i] as [number, number];
    assert.ok(c.start <= a - 2 * CHUNK + CHUNK && c.start > a - 3 * CHUNK, `start ${c.start} for burst at ${a}`);
    assert.ok(c.end >= b + 2 * CHUNK && c.end < b + 4 * CHUNK, `end ${c.end} for burst end ${b}`);
  });
});

test('a burst with short gaps inside stays one clip; a gap of quietChunks chunks splits it', () => {
  // Gaps of 3 chunks (< 7) inside the sound: one clip.
  const gap = 3 * CHUNK;
  const parts: [number, number][] = [];
  let t = 8000;
  for (let k = 0; k < 5; k++) {
    parts.push([t, t + 4000]);
    t += 4000 + gap;
  }
  const x = synth(t + 20_000, parts);
  const { clips } = runSilence(x);
  assert.equal(clips.length, 1, `got ${clips.length} clips`);
  assert.ok(Math.abs((clips[0] as Clip).start - 8000) < CHUNK);
  assert.ok(Math.abs((clips[0] as Clip).end - (t - gap)) < CHUNK);

  // A gap of 9 chunks (>= 7 quiet chunks whatever the alignment): two clips.
  const y = synth(80_000, [
    [8000, 16000],
    [16000 + 9 * CHUNK, 40000],
  ]);
  assert.equal(runSilence(y).clips.length, 2);
});

test('quiet chunks are counted consecutively (the original counted them in total)', () => {
  // Ten 2-chunk gaps: 20 quiet chunks in total but never 7 in a row, so one clip.
  const parts: [number, number][] = [];
  let t = 5000;
  for (let k = 0; k < 11; k++) {
    parts.push([t, t + 3 * CHUNK]);
    t += 5 * CHUNK;
  }
  const x = synth(t + 20_000, parts);
  const { clips } = runSilence(x);
  assert.equal(clips.length, 1);
});

test('max length cuts a long sound once, then waits for quiet before the next clip', () => {
  const x = synth(200_000, [
    [5000, 100_000],
    [130_000, 140_000],
  ]);
  const { clips } = runSilence(x, { maxSamples: 16000 });
  assert.equal(clips.length, 2);
  assertFaithful(x, clips);
  assert.equal((clips[0] as Clip).samples.length, 16000);
  assert.equal((clips[0] as Clip).reason, 'max-length');
  assert.ok(Math.abs((clips[1] as Clip).start - 130_000) < CHUNK);
});

test('clips whose sound is shorter than the minimum are dropped and reported', () => {
  const x = synth(100_000, [
    [10_300, 10_500], // a click inside one chunk (10240..11264)
    [40_000, 50_000],
  ]);
  const { clips, dropped } = runSilence(x, { minSoundSamples: 2 * CHUNK });
  assert.equal(clips.length, 1);
  assert.equal(dropped.length, 1);
  assert.ok(Math.abs((clips[0] as Clip).start - 40_000) < CHUNK);
});

test('flush finishes the clip in progress (Ctrl+C mid-sound)', () => {
  const x = synth(30_000, [[10_000, 30_000]]);
  const { clips } = runSilence(x);
  assert.equal(clips.length, 1);
  assert.equal((clips[0] as Clip).reason, 'end-of-input');
  assertFaithful(x, clips);
});

test('silence only: no clips', () => {
  assert.equal(runSilence(synth(100_000, [])).clips.length, 0);
});

function runFixed(x: Int16Array, length: number, mode: 'back-to-back' | 'onset', preRollChunks = 0): { clips: Clip[]; pending: number } {
  const f = new FixedClipper({ length, mode, threshold: 30, preRollChunks });
  const clips: Clip[] = [];
  for (let i = 0; i < x.length; i += CHUNK) clips.push(...f.push(x.slice(i, i + CHUNK)));
  return { clips, pending: f.pendingSamples };
}

test('fixed back-to-back: exactly N samples each, contiguous, remainder left pending', () => {
  const x = synth(10 * CHUNK, [[0, 10 * CHUNK]]);
  const { clips, pending } = runFixed(x, 3000, 'back-to-back');
  assert.equal(clips.length, 3);
  assertFaithful(x, clips);
  clips.forEach((c, i) => {
    assert.equal(c.samples.length, 3000);
    assert.equal(c.start, 3000 * i);
  });
  assert.equal(pending, 10 * CHUNK - 9000);
});

test('fixed onset mode: each clip starts at its sound (minus pre-roll) and is exactly N long', () => {
  const x = synth(120_000, BURSTS);
  const { clips, pending } = runFixed(x, 8000, 'onset', 1);
  assert.equal(clips.length, 3);
  assertFaithful(x, clips);
  clips.forEach((c, i) => {
    const [a] = BURSTS[i] as [number, number];
    assert.equal(c.samples.length, 8000);
    assert.ok(c.start <= a && c.start > a - 2 * CHUNK, `clip ${i} starts at ${c.start}, sound at ${a}`);
  });
  assert.equal(pending, 0);
});

test('fixed onset mode: a long sound gives one clip, not a clip per N samples', () => {
  const x = synth(100_000, [[10_000, 80_000]]);
  const { clips } = runFixed(x, 8000, 'onset');
  assert.equal(clips.length, 1);
});
