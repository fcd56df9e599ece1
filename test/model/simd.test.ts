/**
 * The committed WebAssembly (src/model/kernels/simd-binary.ts) is what tools/assemble-simd.js makes
 * of simd.wat, and it instantiates on the WASM backend's memory.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/model/backend';
import { simdKernels, simdModuleBytes } from '../../src/model/kernels/simd';

const ROOT = path.resolve(__dirname, '..', '..', '..');

interface Assembler {
  assemble(wat: string): Promise<Buffer>;
  WAT: string;
}

test('simd-binary.ts is the assembly of simd.wat (run `node tools/assemble-simd.js` after editing it)', async () => {
  const tool = require(path.join(ROOT, 'tools', 'assemble-simd.js')) as Assembler;
  const bytes = await tool.assemble(fs.readFileSync(tool.WAT, 'utf8'));
  assert.ok(Buffer.from(simdModuleBytes()).equals(bytes), 'simd-binary.ts is stale');
});

test('the SIMD kernels instantiate on the WASM backend and sum per channel in float64', async () => {
  const { tf } = await initBackend('wasm');
  const simd = simdKernels(tf.backend());
  assert.ok(simd, 'kernels available on the wasm backend');
  const C = 8;
  const rows = 3;
  const x = tf.tensor2d(Float32Array.from({ length: rows * C }, (_, i) => i + 0.5), [rows, C]);
  const ptr = (tf.backend() as unknown as { typedArrayFromHeap(t: unknown): Float32Array }).typedArrayFromHeap({ dataId: x.dataId, shape: x.shape, dtype: x.dtype }).byteOffset;
  const sums = simd.malloc(2 * C * 8);
  try {
    new Float64Array(simd.memory.buffer, sums, 2 * C).fill(0);
    simd.bnStats(ptr, rows, C, sums);
    const got = Array.from(new Float64Array(simd.memory.buffer, sums, 2 * C));
    const want = [...Array.from({ length: C }, (_, c) => [0, 1, 2].reduce((a, r) => a + r * C + c + 0.5, 0)), ...Array.from({ length: C }, (_, c) => [0, 1, 2].reduce((a, r) => a + (r * C + c + 0.5) ** 2, 0))];
    assert.deepEqual(got, want);
  } finally {
    simd.free(sums);
    x.dispose();
  }
});
