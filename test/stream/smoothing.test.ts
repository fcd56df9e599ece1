import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { PosteriorSmoother } from '../../src/stream/smoothing';

const p = (...v: number[]): Float32Array => Float32Array.from(v);
const close = (a: Float32Array, b: number[]): void => {
  assert.equal(a.length, b.length);
  a.forEach((v, i) => assert.ok(Math.abs(v - (b[i] as number)) < 1e-6, `index ${i}: ${v} vs ${b[i]}`));
};

test('averages the newest windows of a stream by the trapezoid rule', () => {
  const s = new PosteriorSmoother(3, 0.25);
  close(s.push(1.0, p(1, 0)), [1, 0]);
  // Two windows: both are edges, weights 1/2 and 1/2.
  close(s.push(1.25, p(0, 1)), [0.5, 0.5]);
  // Three: weights 1/2, 1, 1/2 -> (0.5 * [1,0] + [0,1] + 0.5 * [0,1]) / 2.
  close(s.push(1.5, p(0, 1)), [0.25, 0.75]);
  // The oldest falls out: only the last three count.
  close(s.push(1.75, p(0, 1)), [0, 1]);
  const four = new PosteriorSmoother(4, 0.25);
  [p(1, 0), p(0, 1), p(0, 1), p(1, 0)].forEach((x, i) => four.push(i * 0.25, x));
  // History now 0.25..1.0: [0,1], [0,1], [1,0], [0,1] with weights 1/2, 1, 1, 1/2.
  close(four.push(1.0, p(0, 1)), [1 / 3, 2 / 3]);
});

test('a single confusable window no longer wins on its own', () => {
  const s = new PosteriorSmoother(3, 0.25);
  s.push(0.25, p(0.9, 0.1));
  s.push(0.5, p(0.9, 0.1));
  const out = s.push(0.75, p(0.2, 0.8));
  assert.ok((out[0] as number) > (out[1] as number), 'one window of "go" inside background stays background');
});

test('restarts after a jump in stream time, so unrelated windows are not averaged', () => {
  const s = new PosteriorSmoother(3, 0.25);
  s.push(1.0, p(1, 0));
  s.push(1.25, p(1, 0));
  close(s.push(9.0, p(0, 1)), [0, 1]);
  // Time going backwards (a new stream) restarts too.
  close(s.push(0.25, p(1, 0)), [1, 0]);
});

test('one window means no smoothing, and nonsense sizes are refused', () => {
  const s = new PosteriorSmoother(1, 0.25);
  const x = p(0.3, 0.7);
  assert.equal(s.push(1, x), x);
  assert.throws(() => new PosteriorSmoother(0, 0.25), RangeError);
  assert.throws(() => new PosteriorSmoother(1.5, 0.25), RangeError);
});
