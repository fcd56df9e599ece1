import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { FlowControl } from '../../src/stream/flow';

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
  for (let i = 0; i < 15; i++) await f.beforeSend(1024);
  assert.equal(f.expectedWindows(), 0, '15 360 samples: not a full window yet');
  await f.beforeSend(1024);
  assert.equal(f.expectedWindows(), 1);
  for (let i = 0; i < 8; i++) await f.beforeSend(1024);
  assert.equal(f.expectedWindows(), 3, '24 576 samples: windows end at 16 000, 20 096 and 24 192');
  f.onResult();
  assert.equal(f.outstanding(), 2);
});

test('a client at another rate is counted in server samples', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, clientRate: 8000, maxAhead: 1000 }, c.now, c.sleep);
  for (let i = 0; i < 8; i++) await f.beforeSend(1000);
  assert.equal(f.expectedWindows(), 1, '8000 samples at 8 kHz are one 16 kHz window');
});

test('waits for results when too many windows are unanswered, and goes on when they come', async () => {
  const c = clock();
  const f = new FlowControl({ ...base, maxAhead: 2, stallMs: 500 }, c.now, c.sleep);
  for (let i = 0; i < 24; i++) await f.beforeSend(1024);
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
