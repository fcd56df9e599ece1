import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reorderer, REORDER_MAX } from '../../src/stream/session';
import { AudioTrack, type DueWindow } from '../../src/stream/track';
import { FakeEngine } from './fake-engine';

test('the reorderer puts swapped datagrams back in order', () => {
  const r = new Reorderer<number>();
  assert.deepEqual(r.push(0, 0), [0]);
  assert.deepEqual(r.push(2, 2), []);
  assert.deepEqual(r.push(1, 1), [1, 2]);
  assert.deepEqual(r.push(3, 3), [3]);
  assert.equal(r.lost, 0);
  // Too late: already passed.
  assert.deepEqual(r.push(1, 1), []);
  assert.equal(r.late, 1);
});

test('a lost datagram is given up on after REORDER_MAX later ones, and counted', () => {
  const r = new Reorderer<number>();
  r.push(10, 10);
  const out: number[] = [];
  // 11 is lost.
  for (let s = 12; s <= 12 + REORDER_MAX; s++) out.push(...r.push(s, s));
  assert.deepEqual(out, Array.from({ length: REORDER_MAX + 1 }, (_, i) => 12 + i));
  assert.equal(r.lost, 1);
  // Flush at end of stream skips remaining gaps.
  r.push(20, 20);
  assert.deepEqual(r.flush(), [20]);
  assert.equal(r.lost, 1 + (20 - (13 + REORDER_MAX)));
});

test('a gap waited for longer than the hold time is given up, so a pausing client is not left hanging', () => {
  const r = new Reorderer<number>();
  r.push(0, 0, 1000);
  // 1 is lost, and the client pauses after 2 (a silence gate): nothing arrives to push 2 out.
  assert.deepEqual(r.push(2, 2, 1010), []);
  assert.deepEqual(r.flushIfOlder(1050, 100), [], 'still within the hold time');
  assert.deepEqual(r.flushIfOlder(1110, 100), [2]);
  assert.equal(r.lost, 1);
  assert.deepEqual(r.flushIfOlder(5000, 100), [], 'nothing held: nothing to flush');
  // The hold time counts from the oldest held item, not the newest.
  r.push(4, 4, 6000);
  r.push(5, 5, 6090);
  assert.deepEqual(r.flushIfOlder(6100, 100), [4, 5]);
});

function ramp(n: number, start: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => (start + i) / 1e6);
}

test('windows fall due every hop, each ending at the right sample, whatever the chunking', () => {
  const engine = new FakeEngine({ windowSamples: 1000 });
  for (const chunk of [1, 7, 250, 1024, 5000]) {
    const track = new AudioTrack(engine, { clientRate: 16000, hopSamples: 500 });
    const due: DueWindow[] = [];
    for (let off = 0; off < 3000; off += chunk) track.append(off, ramp(Math.min(chunk, 3000 - off), off), due);
    assert.deepEqual(due.map((w) => w.endOffset), [500, 1000, 1500, 2000, 2500, 3000], `chunk ${chunk}`);
    // The window ending at 1500 holds samples 500..1499.
    const w = due[2] as DueWindow;
    assert.ok(Math.abs((w.features[0] as number) - 500 / 1e6) < 1e-9);
    assert.ok(Math.abs((w.features[999] as number) - 1499 / 1e6) < 1e-9);
    // Zero padding while the stream is shorter than a window.
    assert.equal((due[0] as DueWindow).features[0], 0);
  }
});

test('a gap in offsets is filled with silence and windows keep stream time', () => {
  const engine = new FakeEngine({ windowSamples: 1000 });
  const track = new AudioTrack(engine, { clientRate: 16000, hopSamples: 500 });
  const due: DueWindow[] = [];
  track.append(0, ramp(500, 0), due);
  // Skipped silence: the next chunk starts at 800.
  track.append(800, ramp(500, 800), due);
  // The schedule is unchanged (the gap ends before the window due at 1000).
  assert.deepEqual(due.map((w) => w.endOffset), [500, 1000]);
  const w = due[1] as DueWindow;
  assert.equal(w.features[799], 0); // sample 799 was never sent: silence
  assert.ok(Math.abs((w.features[800] as number) - 800 / 1e6) < 1e-9);
  assert.ok(Math.abs((w.features[999] as number) - 999 / 1e6) < 1e-9);
  // A gap much longer than a window does not feed megabytes of zeros but keeps time.
  track.append(16000 * 60, ramp(500, 0), due);
  const last = due[due.length - 1] as DueWindow;
  // Its window lies within the new audio (the hop grid restarts after a long gap).
  assert.ok(last.t > 60 && last.t <= 60 + 500 / 16000 + 1e-9, `t=${last.t}`);
  assert.ok(track.samplesSeen < 5000, `fed ${track.samplesSeen}`);
  // Overlapping and fully old audio.
  assert.equal(track.append(0, ramp(10, 0), due), 'late');
});

test('audio at another sample rate is converted; stream time stays in the sender\'s seconds', () => {
  const engine = new FakeEngine({ windowSamples: 4000 });
  const track = new AudioTrack(engine, { clientRate: 8000, hopSamples: 4000 });
  const due: DueWindow[] = [];
  // 1 s of a 500 Hz tone at 8 kHz.
  const tone = Float32Array.from({ length: 8000 }, (_, i) => 0.5 * Math.sin((2 * Math.PI * 500 * i) / 8000));
  for (let off = 0; off < 8000; off += 800) track.append(off, tone.subarray(off, off + 800), due);
  track.flush(due);
  assert.ok(due.length >= 3, `${due.length} windows`);
  assert.ok(Math.abs((due[0] as DueWindow).t - 0.25) < 1e-9);
  assert.equal((due[0] as DueWindow).endOffset, 2000);
  // Final (flushed) window reaches the end of the second.
  assert.ok(Math.abs((due[due.length - 1] as DueWindow).t - 1) < 0.01);
});
