import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitToWindow, loudestStart } from '../../src/features/window';
import { createRng } from '../../src/util/rng';

const clip = Float32Array.from({ length: 10 }, (_, i) => i + 1);

test('centre and start padding put the clip where documented, zeros elsewhere', () => {
  assert.deepEqual(Array.from(fitToWindow(clip, 16, { mode: 'start' })), [...Array.from(clip), 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(Array.from(fitToWindow(clip, 16, { mode: 'centre' })), [0, 0, 0, ...Array.from(clip), 0, 0, 0]);
  assert.deepEqual(Array.from(fitToWindow(clip, 10, { mode: 'random', rng: createRng(1) })), Array.from(clip));
});

test('random padding: seeded, reproducible, and reaches both ends', () => {
  const offsets = (seed: number): number[] => {
    const rng = createRng(seed);
    return Array.from({ length: 200 }, () => fitToWindow(clip, 14, { mode: 'random', rng }).indexOf(1));
  };
  assert.deepEqual(offsets(42), offsets(42));
  assert.notDeepEqual(offsets(42), offsets(43));
  const seen = new Set(offsets(42));
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4], 'every offset 0..4 occurs');
  assert.throws(() => fitToWindow(clip, 14, { mode: 'random' }), /needs an rng/);
});

test('clips longer than the window keep their loudest stretch, in every mode', () => {
  const long = new Float32Array(1000).fill(0.01);
  for (let i = 600; i < 700; i++) long[i] = 0.9;
  for (const mode of ['random', 'centre', 'start'] as const) {
    const out = fitToWindow(long, 200, { mode, rng: createRng(1) });
    assert.equal(out.length, 200);
    const start = loudestStart(long, 200);
    assert.ok(start >= 500 && start <= 600, `start ${start}`);
    assert.deepEqual(out, long.slice(start, start + 200));
  }
  // Ties (constant signal) keep the earliest stretch.
  assert.equal(loudestStart(new Float32Array(500).fill(0.5), 100), 0);
});

test('writes into a given buffer (reused across clips)', () => {
  const out = new Float32Array(16).fill(7);
  const r = fitToWindow(clip, 16, { mode: 'start', out });
  assert.equal(r, out);
  assert.equal(out[15], 0);
});
