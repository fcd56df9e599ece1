import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RealPowerFFT } from '../../src/features/fft';
import { createRng } from '../../src/util/rng';

/** |DFT|^2 by the definition, in float64. */
function naivePower(x: Float32Array, off: number, w: Float64Array, n: number): Float64Array {
  const out = new Float64Array(n / 2 + 1);
  for (let k = 0; k <= n / 2; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < n; j++) {
      const v = x[off + j] * w[j];
      re += v * Math.cos((2 * Math.PI * k * j) / n);
      im -= v * Math.sin((2 * Math.PI * k * j) / n);
    }
    out[k] = re * re + im * im;
  }
  return out;
}

// Both an even and an odd number of radix-2 stages of the half-size transform.
for (const n of [8, 16, 32, 64, 256, 512, 1024, 2048]) {
  test(`power spectrum of size ${n} equals the DFT definition`, () => {
    const rng = createRng(n);
    const x = Float32Array.from({ length: n + 7 }, () => rng.normal());
    const w = Float64Array.from({ length: n }, () => rng.next());
    const fft = new RealPowerFFT(n);
    const got = new Float64Array(n / 2 + 1);
    fft.power(x, 5, w, got);
    const want = naivePower(x, 5, w, n);
    const scale = Math.max(...want);
    for (let k = 0; k <= n / 2; k++) assert.ok(Math.abs(got[k] - want[k]) <= 1e-9 * scale, `bin ${k}: ${got[k]} vs ${want[k]}`);
  });
}

test('a pure tone lands in its bin', () => {
  const n = 2048;
  const x = Float32Array.from({ length: n }, (_, i) => Math.cos((2 * Math.PI * 100 * i) / n));
  const out = new Float64Array(n / 2 + 1);
  new RealPowerFFT(n).power(x, 0, new Float64Array(n).fill(1), out);
  const peak = (n / 2) ** 2;
  // Float32 input rounding leaves ~1e-7 relative noise.
  assert.ok(Math.abs(out[100] / peak - 1) < 1e-6, `peak ${out[100]}`);
  for (let k = 0; k <= n / 2; k++) if (k !== 100) assert.ok(out[k] < 1e-9 * peak, `leak in bin ${k}: ${out[k]}`);
});

test('rejects sizes that are not powers of two', () => {
  assert.throws(() => new RealPowerFFT(1000), /power of two/);
  assert.throws(() => new RealPowerFFT(4), /power of two/);
});
