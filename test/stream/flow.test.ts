import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FlowControl } from '../../src/stream/flow';
import { AudioTrack, type DueWindow } from '../../src/stream/track';
import { FakeEngine } from './fake-engine';

/** A fake clock: sleeping advances it, so tests run instantly and exactly. */
function clock(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: async (ms) => {
      slept.push(ms);
      t += ms;
    },
    slept,
  };
}

const base = { windowSamples: 16000, hopSamples: 4096, serverRate: 16000, clientRate: 16000 };

test('counts the windows the server owes for the audio sent', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, maxAhead: 1000 }, c.now, c.sleep);
  for (let i = 0; i < 3; i++) await f.beforeSend(1024);
  assert.equal(f.expectedWindows(), 0, '3072 samples: not a hop yet');
  await f.beforeSend(1024);
  assert.equal(f.expectedWindows(), 1, 'the first window ends one hop in (zero-padded), as the server emits it');
  for (let i = 0; i < 20; i++) await f.beforeSend(1024);
  assert.equal(f.expectedWindows(), 6, '24 576 samples: windows end at 4096, 8192, ... 24 576');
  f.onResult();
  assert.equal(f.outstanding(), 5);
});

/** Send `plan` (n = chunks of 1024 samples sent, -n = skipped) through FlowControl and a real AudioTrack. */
function compareWithTrack(clientRate: number, plan: number[]): { flow: number; track: number }[] {
  const engine = new FakeEngine({ windowSamples: 16000 });
  const hopSamples = 4160;
  const track = new AudioTrack(engine, { clientRate, hopSamples });
  const c = clock();
  const f = new FlowControl({ windowSamples: 16000, hopSamples, serverRate: 16000, clientRate, maxAhead: 1_000_000 }, c.now, c.sleep);
  const counts: { flow: number; track: number }[] = [];
  const due: DueWindow[] = [];
  let offset = 0;
  for (const step of plan) {
    for (let i = 0; i < Math.abs(step); i++) {
      if (step < 0) f.skip(1024);
      else {
        void f.beforeSend(1024);
        track.append(offset, new Float32Array(1024).fill(0.1), due);
      }
      offset += 1024;
    }
    counts.push({ flow: f.expectedWindows(), track: track.windows });
  }
  return counts;
}

test('the count matches the server track, with the silence gate skipping short and long stretches', () => {
  // 3 chunks skipped are zero-filled and classified; 40 are more than a window plus a hop, so only part is.
  const counts = compareWithTrack(16000, [-50, 30, -3, 10, -40, 25, -1, 7]);
  for (const { flow, track } of counts) assert.equal(flow, track);
});

test('the count matches the server track for a client at 8 kHz (resampled by the server)', () => {
  const counts = compareWithTrack(8000, [-5, 30, -3, 10, -40, 25]);
  // The server's resampler holds back a few samples, so it may owe one window less for a moment.
  for (const { flow, track } of counts) assert.ok(flow - track >= 0 && flow - track <= 1, `flow ${flow}, track ${track}`);
});

test('results that come after their windows were forgiven do not become credit', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, maxAhead: 4, stallMs: 500 }, c.now, c.sleep);
  // A slow server: nothing for a while, so the sender forgives the shortfall and goes on...
  for (let i = 0; i < 40; i++) await f.beforeSend(1024);
  // ...then every window's result arrives after all.
  const owed = f.expectedWindows();
  for (let i = 0; i < owed; i++) f.onResult();
  assert.equal(f.outstanding(), 0);
  // So the next windows are held to maxAhead again, instead of running ahead on the late results.
  const before = c.now();
  for (let i = 0; i < 4 * 6; i++) await f.beforeSend(1024);
  assert.ok(c.now() - before >= 500, 'it had to wait again once maxAhead windows were unanswered');
});

test('a client at another rate is counted in server samples', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, clientRate: 8000, maxAhead: 1000 }, c.now, c.sleep);
  for (let i = 0; i < 8; i++) await f.beforeSend(1000);
  assert.equal(f.expectedWindows(), 3, '8000 samples at 8 kHz are 16 000 at 16 kHz: 3 hops of 4096');
});

test('waits for results when too many windows are unanswered, and goes on when they come', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, maxAhead: 2, stallMs: 500 }, c.now, c.sleep);
  for (let i = 0; i < 12; i++) await f.beforeSend(1024);
  assert.equal(f.outstanding(), 3);
  // The next send must wait; answer one window while it does.
  const sending = f.beforeSend(1024);
  f.onResult();
  await sending;
  assert.ok(f.outstanding() <= 3);
  assert.equal(c.now() < 500, true, 'a result ends the wait without the stall timeout');
});

test('a lost result costs a pause, never a hang', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, maxAhead: 2, stallMs: 500 }, c.now, c.sleep);
  for (let i = 0; i < 40; i++) await f.beforeSend(1024);
  assert.ok(c.now() >= 500, 'it waited for the stall time');
  assert.ok(c.now() < 5000, `but not for long (${c.now()} ms)`);
});

test('stays under 80 % of the server datagram rate', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, maxAhead: 1_000_000, maxDatagramsPerSec: 1000 }, c.now, c.sleep);
  for (let i = 0; i < 2000; i++) await f.beforeSend(1024);
  // 2000 datagrams at 800/s take 2.5 s (less the 20 ms the sender may run ahead).
  assert.ok(c.now() >= 2450 && c.now() <= 2500, `took ${c.now()} ms`);
});

test('a server that answers nothing at all costs two stalls, not one per few windows', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, maxAhead: 4, stallMs: 500 }, c.now, c.sleep);
  // 400 datagrams = 100 windows, none answered (the server stopped after the WELCOME).
  for (let i = 0; i < 400; i++) await f.beforeSend(1024);
  assert.ok(c.now() >= 1000 && c.now() < 1500, `waited ${c.now()} ms`);
  // A result means it is answering again: the sender holds to maxAhead once more.
  f.onResult();
  const before = c.now();
  for (let i = 0; i < 40; i++) await f.beforeSend(1024);
  assert.ok(c.now() - before >= 500, 'it waits for results again');
});
