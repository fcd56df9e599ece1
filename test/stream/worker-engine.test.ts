import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { WorkerEngine } from '../../src/stream/worker-engine';
import { repoRoot } from '../helpers';

const DEMO_MODEL = path.join(repoRoot, 'assets', 'demo', 'model');

test('a dead inference thread is reported once, and later batches fail at once instead of hanging', async () => {
  const engine = await WorkerEngine.start(DEMO_MODEL, 'wasm');
  const session = engine.createSession();
  session.push(new Float32Array(16000));
  const [probs] = await engine.classify([session.window()]);
  assert.equal(probs?.length, engine.labels.length, 'the thread answers while alive');

  const fatal: Error[] = [];
  engine.onFatal = (err) => fatal.push(err);
  await engine.crashForTest();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(fatal.length, 1, 'onFatal is called exactly once');
  assert.match(fatal[0]?.message ?? '', /inference thread exited/);
  await assert.rejects(
    Promise.race([engine.classify([session.window()]), new Promise((_, reject) => setTimeout(() => reject(new Error('classify hung')), 2000))]),
    /inference thread exited/,
  );
});

test('disposing the engine on purpose is not a death', async () => {
  const engine = await WorkerEngine.start(DEMO_MODEL, 'wasm');
  let called = false;
  engine.onFatal = () => {
    called = true;
  };
  engine.dispose();
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(called, false);
});
