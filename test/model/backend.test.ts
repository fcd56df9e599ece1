/**
 * Backend selection: 'auto' falls back from the (absent here) tfjs-node to WASM with kws's training
 * kernels, records why, and KWS_BACKEND / explicit choices behave.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, backendReport, parseBackendChoice, backendFromEnv, tfjsNodeResolvable } from '../../src/model/backend';
import { isUserError, ExitCode } from '../../src/util/errors';

test('auto picks wasm when tfjs-node is missing, and the report says why', async (t) => {
  if (tfjsNodeResolvable().ok) {
    t.skip('@tensorflow/tfjs-node is installed on this machine');
    return;
  }
  const saved = process.env['KWS_BACKEND'];
  delete process.env['KWS_BACKEND'];
  try {
    const info = await initBackend('auto');
    assert.equal(info.name, 'wasm');
    assert.equal(info.tf.getBackend(), 'wasm');
    assert.match(info.note ?? '', /tfjs-node not available/);
    const report = backendReport();
    assert.equal(report.active, 'wasm');
    assert.match(report.tfjsNodeUnavailable ?? '', /not installed/);
    assert.ok(report.customKernels.includes('Conv2DBackpropFilter'));
    assert.ok(report.attempts.some((a) => a.backend === 'tfjs-node' && !a.ok));
    assert.equal(report.wasm?.simd, true);
    // Idempotent: a second call returns the same running backend.
    assert.equal((await initBackend('auto')).tf, info.tf);
    // The kernel kws adds is really there: wasm training of a conv net does not throw.
    const tf = info.tf;
    const w = tf.tensor4d(new Float32Array(18).fill(0.5), [3, 3, 1, 2]);
    const x = tf.tensor4d(new Float32Array(72).fill(1), [2, 6, 6, 1]);
    const g = tf.grad((v) => tf.sum(tf.conv2d(x, v as typeof w, 1, 'same')))(w);
    assert.deepEqual(g.shape, [3, 3, 1, 2]);
  } finally {
    if (saved !== undefined) process.env['KWS_BACKEND'] = saved;
  }
});

test('explicit choices switch backends; tfjs-node when absent is a dependency error', async (t) => {
  const cpu = await initBackend('cpu');
  assert.equal(cpu.name, 'cpu');
  assert.equal(cpu.tf.getBackend(), 'cpu');
  const wasm = await initBackend('wasm');
  assert.equal(wasm.tf.getBackend(), 'wasm');
  if (tfjsNodeResolvable().ok) {
    t.skip('@tensorflow/tfjs-node is installed on this machine');
    return;
  }
  await assert.rejects(initBackend('tfjs-node'), (err: unknown) => isUserError(err) && err.exitCode === ExitCode.dependency && /tfjs-node/.test(err.message));
  // A failed switch leaves the previous backend running.
  assert.equal((await initBackend('auto')).name, 'wasm');
});

test('KWS_BACKEND and --backend values are validated', () => {
  assert.equal(parseBackendChoice('cpu'), 'cpu');
  assert.throws(() => parseBackendChoice('gpu'), (err: unknown) => isUserError(err) && err.exitCode === ExitCode.usage);
  const saved = process.env['KWS_BACKEND'];
  try {
    process.env['KWS_BACKEND'] = 'cpu';
    assert.equal(backendFromEnv(), 'cpu');
    process.env['KWS_BACKEND'] = 'fast';
    assert.throws(() => backendFromEnv(), /KWS_BACKEND=fast/);
  } finally {
    if (saved === undefined) delete process.env['KWS_BACKEND'];
    else process.env['KWS_BACKEND'] = saved;
  }
});
