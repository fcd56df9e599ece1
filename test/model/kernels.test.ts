/**
 * kws's WASM convolution kernels against TensorFlow.js's stock CPU kernels: same outputs and the same
 * gradients (within 1e-4 relative to the values' scale) for 'same' and 'valid' padding, strides 1 and 2,
 * the seed models' 4x10 kernel, 1-D convolutions (conv1d runs through conv2d), batch > 1 and several
 * input/output channels.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend, type TF } from '../../src/model/backend';
import { registerTrainingKernels } from '../../src/model/kernels';
import { setIm2colChunkLimit } from '../../src/model/kernels/wasm_conv';
import { buildModel } from '../../src/model/architectures';
import { createRng } from '../../src/util/rng';

let tf: TF;

before(async () => {
  tf = (await initBackend('wasm')).tf;
});

interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  pad: 'same' | 'valid';
  stride?: number;
}

const CASES: Case[] = [
  { name: 'seed MFCC 4x10 same, 1 -> 16 channels', x: [3, 40, 33, 1], filter: [4, 10, 1, 16], pad: 'same' },
  { name: '4x10 valid', x: [2, 12, 15, 1], filter: [4, 10, 1, 3], pad: 'valid' },
  { name: '3x3 same, 3 -> 5 channels', x: [4, 9, 11, 3], filter: [3, 3, 3, 5], pad: 'same' },
  { name: '3x3 valid, 2 -> 4 channels', x: [2, 8, 7, 2], filter: [3, 3, 2, 4], pad: 'valid' },
  { name: '5x2 same, stride 2', x: [2, 11, 10, 2], filter: [5, 2, 2, 3], pad: 'same', stride: 2 },
  { name: '1x1 valid, 6 -> 2 channels', x: [3, 5, 4, 6], filter: [1, 1, 6, 2], pad: 'valid' },
  { name: 'even 2x4 kernel same (asymmetric padding)', x: [2, 6, 9, 2], filter: [2, 4, 2, 3], pad: 'same' },
];

function randomArray(n: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rng.normal();
  return a;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs((actual[i] as number) - (expected[i] as number));
    if (d > worst) {
      worst = d;
      at = i;
    }
  }
  assert.ok(worst <= 1e-4 * scale, `${what}: max difference ${worst} at ${at} (scale ${scale})`);
}

interface ConvResults {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
}

/** Forward output and both gradients of sum(conv(x, w) * g) for a fixed random g. */
async function convAndGrads(backend: 'cpu' | 'wasm', c: Case): Promise<ConvResults> {
  await tf.setBackend(backend);
  const stride = c.stride ?? 1;
  return tf.tidy(() => {
    const x = tf.tensor4d(randomArray(size(c.x), 1), c.x);
    const w = tf.tensor4d(randomArray(size(c.filter), 2), c.filter);
    const y = tf.conv2d(x, w, stride, c.pad);
    const g = tf.tensor(randomArray(y.size, 3), y.shape);
    const grads = tf.grads((a, b) => tf.sum(tf.mul(tf.conv2d(a as typeof x, b as typeof w, stride, c.pad), g)));
    const [dx, dw] = grads([x, w]);
    return { y: y.dataSync() as Float32Array, dx: (dx as typeof x).dataSync() as Float32Array, dw: (dw as typeof w).dataSync() as Float32Array };
  });
}

for (const replaceConvolutions of [false, true]) {
  const label = replaceConvolutions ? 'im2col forward + backprop-input kernels' : 'stock forward kernels';
  test(`Conv2DBackpropFilter on wasm matches the CPU backend (${label})`, async () => {
    for (const c of CASES) {
      await initBackend('wasm');
      registerTrainingKernels(tf, { replaceConvolutions });
      const ref = await convAndGrads('cpu', c);
      const got = await convAndGrads('wasm', c);
      assertClose(got.y, ref.y, `${c.name}: output`);
      assertClose(got.dx, ref.dx, `${c.name}: input gradient`);
      assertClose(got.dw, ref.dw, `${c.name}: filter gradient`);
    }
    registerTrainingKernels(tf);
  });
}

test('1-D convolution (conv1d via conv2d) gradients match the CPU backend', async () => {
  for (const replaceConvolutions of [false, true]) {
    registerTrainingKernels(tf, { replaceConvolutions });
    for (const [len, k, cin, cout] of [
      [200, 9, 1, 4],
      [61, 3, 4, 6],
    ] as const) {
      const run = async (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
        await tf.setBackend(backend);
        return tf.tidy(() => {
          const x = tf.tensor3d(randomArray(3 * len * cin, 5), [3, len, cin]);
          const w = tf.tensor3d(randomArray(k * cin * cout, 6), [k, cin, cout]);
          const y = tf.conv1d(x, w, 1, 'valid');
          const g = tf.tensor(randomArray(y.size, 7), y.shape);
          const [dx, dw] = tf.grads((a, b) => tf.sum(tf.mul(tf.conv1d(a as typeof x, b as typeof w, 1, 'valid'), g)))([x, w]);
          return [y, dx as typeof x, dw as typeof w].map((t) => t.dataSync() as Float32Array);
        });
      };
      const ref = await run('cpu');
      const got = await run('wasm');
      for (let i = 0; i < 3; i++) assertClose(got[i] as Float32Array, ref[i] as Float32Array, `conv1d len ${len} k ${k} ${cin}->${cout} part ${i}`);
    }
  }
  registerTrainingKernels(tf);
  await initBackend('wasm');
});

test('fused conv2d with bias and relu (inference path) matches the CPU backend', async () => {
  registerTrainingKernels(tf, { replaceConvolutions: true });
  const run = async (backend: 'cpu' | 'wasm'): Promise<Float32Array> => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const x = tf.tensor4d(randomArray(2 * 10 * 12 * 2, 8), [2, 10, 12, 2]);
      const w = tf.tensor4d(randomArray(3 * 4 * 2 * 5, 9), [3, 4, 2, 5]);
      const b = tf.tensor1d(randomArray(5, 10));
      return tf.fused.conv2d({ x, filter: w, strides: 1, pad: 'same', bias: b, activation: 'relu' }).dataSync() as Float32Array;
    });
  };
  const ref = await run('cpu');
  const got = await run('wasm');
  assertClose(got, ref, 'fused conv2d + bias + relu');
  assert.ok(got.some((v) => v === 0) && got.some((v) => v > 0), 'relu both clipped and passed values');
  registerTrainingKernels(tf);
  await initBackend('wasm');
});

test('a batch split into several im2col chunks gives the same results', async () => {
  // 7 images of 9 x 20 x 2 with a 3x5 kernel: 3*5*2 * 9*20 = 5,400 floats per image. With a
  // 12,000-float limit that is 2 images per chunk: 4 chunks, the last one shorter.
  const c: Case = { name: 'chunked', x: [7, 9, 20, 2], filter: [3, 5, 2, 3], pad: 'same' };
  const previous = setIm2colChunkLimit(12_000);
  try {
    registerTrainingKernels(tf, { replaceConvolutions: true });
    const ref = await convAndGrads('cpu', c);
    const got = await convAndGrads('wasm', c);
    assertClose(got.dw, ref.dw, 'chunked filter gradient');
    assertClose(got.dx, ref.dx, 'chunked input gradient');
    assertClose(got.y, ref.y, 'chunked output');
  } finally {
    setIm2colChunkLimit(previous);
    registerTrainingKernels(tf);
    await initBackend('wasm');
  }
});

test('registration replaces exactly the kernels it reports, and can put the stock ones back', async () => {
  await initBackend('wasm');
  registerTrainingKernels(tf, { replaceConvolutions: false, replaceSlowKernels: false });
  const stockConv = tf.getKernel('Conv2D', 'wasm').kernelFunc;
  const names = registerTrainingKernels(tf, { replaceConvolutions: true });
  const stockMatMul = tf.getKernel('BatchMatMul', 'wasm').kernelFunc;
  assert.deepEqual(names.sort(), ['BatchMatMul', 'Cast', 'Conv2D', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'Equal', 'FusedConv2D', 'Identity', 'MaxPoolGrad', 'Sum', 'Tile']);
  assert.notEqual(tf.getKernel('Conv2D', 'wasm').kernelFunc, stockConv);
  assert.deepEqual(registerTrainingKernels(tf, { replaceConvolutions: false, replaceSlowKernels: false }), ['Conv2DBackpropFilter']);
  assert.equal(tf.getKernel('Conv2D', 'wasm').kernelFunc, stockConv);
  assert.notEqual(tf.getKernel('BatchMatMul', 'wasm').kernelFunc, stockMatMul);
  registerTrainingKernels(tf);
});

test('faster BatchMatMul, Tile, MaxPoolGrad and Sum (JavaScript and SIMD) match the CPU backend', async () => {
  registerTrainingKernels(tf);
  const run = async (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const out: Float32Array[] = [];
      const a = tf.tensor2d(randomArray(30 * 20, 21), [30, 20]);
      const b = tf.tensor2d(randomArray(30 * 12, 22), [30, 12]);
      const c = tf.tensor2d(randomArray(12 * 20, 23), [12, 20]);
      out.push(tf.matMul(a, b, true, false).dataSync() as Float32Array); // a^T b: [20, 12]
      out.push(tf.matMul(b, c, false, false).dataSync() as Float32Array);
      out.push(tf.matMul(a, c, false, true).dataSync() as Float32Array); // a c^T: [30, 12]
      out.push(tf.matMul(c, b, true, true).dataSync() as Float32Array); // c^T b^T: [20, 30]
      const batched = tf.tensor3d(randomArray(2 * 9 * 10, 24), [2, 9, 10]);
      out.push(tf.matMul(batched, batched, true, false).dataSync() as Float32Array);
      const v = tf.tensor4d(randomArray(5, 25), [1, 1, 1, 5]);
      out.push(tf.tile(v, [3, 4, 2, 1]).dataSync() as Float32Array);
      out.push(tf.tile(tf.tensor2d(randomArray(6, 26), [2, 3]), [3, 2]).dataSync() as Float32Array);
      const x = tf.tensor4d(randomArray(2 * 9 * 7 * 3, 27), [2, 9, 7, 3]);
      const pools: Array<[[number, number], [number, number], 'valid' | 'same']> = [
        [[2, 2], [2, 2], 'valid'],
        [[3, 2], [1, 2], 'same'],
        [[16, 1], [16, 1], 'valid'],
      ];
      for (const [size, strides, pad] of pools) {
        const xx = size[0] === 16 ? tf.tensor4d(randomArray(2 * 40 * 1 * 3, 28), [2, 40, 1, 3]) : x;
        const y = tf.maxPool(xx, size, strides, pad);
        const g = tf.tensor(randomArray(y.size, 29), y.shape);
        out.push(tf.grad((t) => tf.sum(tf.mul(tf.maxPool(t as typeof xx, size, strides, pad), g)))(xx).dataSync() as Float32Array);
      }
      // Whole vectors of 4 channels take the SIMD kernels (simd.wat), the rest the JavaScript loops.
      const x8 = tf.tensor4d(randomArray(3 * 9 * 7 * 8, 30), [3, 9, 7, 8]);
      for (const [size, strides, pad] of [...pools.slice(0, 2), [[3, 3], [2, 2], 'same']] as typeof pools) {
        const y = tf.maxPool(x8, size, strides, pad);
        const g = tf.tensor(randomArray(y.size, 32), y.shape);
        out.push(tf.grad((t) => tf.sum(tf.mul(tf.maxPool(t as typeof x8, size, strides, pad), g)))(x8).dataSync() as Float32Array);
      }
      out.push(tf.sum(x8, [0, 1, 2]).dataSync() as Float32Array);
      out.push(tf.sum(x8, [0]).dataSync() as Float32Array);
      out.push(tf.sum(x, [0, 1, 2]).dataSync() as Float32Array);
      out.push(tf.sum(x, [0, 1], true).dataSync() as Float32Array);
      out.push(tf.sum(x, [1, 2]).dataSync() as Float32Array); // not leading: stock path
      return out;
    });
  };
  const ref = await run('cpu');
  const got = await run('wasm');
  assert.equal(got.length, ref.length);
  ref.forEach((r, i) => assertClose(got[i] as Float32Array, r, `case ${i}`));
  await initBackend('wasm');
});

test('Equal with broadcasting, and the Max gradient that uses it, match the CPU backend', async () => {
  registerTrainingKernels(tf);
  const run = async (backend: 'cpu' | 'wasm'): Promise<Uint8Array[]> => {
    await tf.setBackend(backend);
    return tf.tidy(() => {
      const out: Uint8Array[] = [];
      // Integers from a small range, so that equal elements occur.
      const ints = (shape: number[], seed: number): ReturnType<typeof tf.tensor> => tf.round(tf.mul(tf.tensor(randomArray(size(shape), seed), shape), 1.5));
      const pairs: Array<[number[], number[]]> = [
        [[4, 6, 5], [4, 1, 5]], // global max pooling's gradient
        [[4, 1, 5], [4, 6, 5]],
        [[3, 4], [4]], // ranks differ
        [[2, 1, 3], [1, 4, 1]], // both operands broadcast
        [[5], [1]],
      ];
      pairs.forEach(([sa, sb], i) => out.push(tf.equal(ints(sa, 40 + i), ints(sb, 50 + i)).dataSync() as Uint8Array));
      const x = tf.tensor3d(randomArray(4 * 25 * 8, 60), [4, 25, 8]);
      const g = tf.tensor2d(randomArray(4 * 8, 61), [4, 8]);
      const dx = tf.grad((t) => tf.sum(tf.mul(tf.max(t, 1), g)))(x);
      out.push(new Uint8Array(new Float32Array(dx.dataSync()).buffer));
      return out;
    });
  };
  const ref = await run('cpu');
  const got = await run('wasm');
  assert.equal(got.length, ref.length);
  ref.forEach((r, i) => assert.deepEqual(got[i], r, `case ${i}`));
  assert.ok((ref[0] as Uint8Array).some((v) => v === 1) && (ref[0] as Uint8Array).some((v) => v === 0), 'the cases must hold equal and unequal elements');
  await initBackend('wasm');
});

test('two SGD steps of the seed 2-D model give the same weights on wasm (kws kernels) as on cpu', async () => {
  const step = async (backend: 'cpu' | 'wasm'): Promise<Float32Array[]> => {
    await initBackend(backend);
    registerTrainingKernels(tf);
    await tf.setBackend(backend);
    const model = buildModel(tf, { type: 'mfcc', arch: 'seed', inputShape: [12, 20, 1], numClasses: 3, seed: 9 });
    const x = tf.tensor4d(randomArray(4 * 12 * 20, 31), [4, 12, 20, 1]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3);
    // SGD, not Adam: the conv bias before batch norm has a gradient of ~0 (the norm removes it), and
    // Adam would scale that rounding noise up to full-size steps that differ between backends.
    const opt = tf.train.sgd(0.1);
    for (let i = 0; i < 2; i++) {
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as typeof x));
    }
    const w = model.getWeights().map((t) => t.dataSync().slice() as Float32Array);
    model.dispose();
    tf.dispose([x, y]);
    return w;
  };
  const ref = await step('cpu');
  const got = await step('wasm');
  assert.equal(got.length, ref.length);
  ref.forEach((r, i) => assertClose(got[i] as Float32Array, r, `weight ${i}`));
  await initBackend('wasm');
});

test('Identity and same-dtype Cast share data on wasm, and the data outlives the original tensor', async () => {
  await initBackend('wasm');
  registerTrainingKernels(tf);
  const x = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const dataIds = (): number => tf.backend().numDataIds();
  const before = dataIds();
  const c = tf.clone(x);
  const f = tf.cast(x, 'float32');
  assert.equal(dataIds(), before, 'no new data for a clone or a same-dtype cast');
  x.dispose();
  assert.deepEqual(Array.from(c.dataSync()), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(f.dataSync()), [1, 2, 3, 4]);
  const i = tf.cast(tf.tensor1d([1.7, -2.2]), 'int32');
  assert.equal(i.dtype, 'int32');
  assert.deepEqual(Array.from(i.dataSync()), [1, -2]);
  tf.dispose([c, f, i]);
});

test('im2colRows with the SIMD run copier and with plain loops equals a direct patch gather', async () => {
  await initBackend('wasm');
  const { im2colRows, patchSize } = await import('../../src/model/kernels/im2col.js');
  const geometries = [
    { batch: 2, inH: 5, inW: 9, inC: 3, outH: 5, outW: 9, outC: 1, kH: 3, kW: 4, strideH: 1, strideW: 1, dilH: 1, dilW: 1, padTop: 1, padLeft: 1 },
    { batch: 2, inH: 1, inW: 40, inC: 2, outH: 1, outW: 16, outC: 1, kH: 1, kW: 9, strideH: 1, strideW: 2, dilH: 1, dilW: 1, padTop: 0, padLeft: 0 },
    { batch: 1, inH: 6, inW: 7, inC: 8, outH: 3, outW: 4, outC: 1, kH: 3, kW: 3, strideH: 2, strideW: 2, dilH: 1, dilW: 1, padTop: 1, padLeft: 1 },
    { batch: 1, inH: 4, inW: 8, inC: 1, outH: 4, outW: 8, outC: 1, kH: 2, kW: 3, strideH: 1, strideW: 1, dilH: 1, dilW: 2, padTop: 0, padLeft: 2 },
  ];
  for (const g of geometries) {
    const x = randomArray(g.batch * g.inH * g.inW * g.inC, 40);
    const K = patchSize(g);
    const want = new Float32Array(g.batch * g.outH * g.outW * K);
    let o = 0;
    for (let b = 0; b < g.batch; b++)
      for (let oh = 0; oh < g.outH; oh++)
        for (let ow = 0; ow < g.outW; ow++)
          for (let kh = 0; kh < g.kH; kh++)
            for (let kw = 0; kw < g.kW; kw++)
              for (let c = 0; c < g.inC; c++, o++) {
                const ih = oh * g.strideH - g.padTop + kh * g.dilH;
                const iw = ow * g.strideW - g.padLeft + kw * g.dilW;
                want[o] = ih < 0 || ih >= g.inH || iw < 0 || iw >= g.inW ? 0 : (x[((b * g.inH + ih) * g.inW + iw) * g.inC + c] as number);
              }
    const plain = new Float32Array(want.length).fill(Number.NaN);
    im2colRows(x, g, 0, g.batch, plain);
    assert.deepEqual(plain, want, 'plain loops');
    // The run copier as the WASM kernels see it, on one shared buffer.
    const heap = new Float32Array(x.length + want.length);
    heap.set(x);
    const cols = heap.subarray(x.length).fill(Number.NaN);
    const runs = (d: number, s: number, count: number, len: number, dstStep: number, srcStep: number): void => {
      for (let i = 0; i < count; i++) cols.set(heap.subarray(s + i * srcStep, s + i * srcStep + len), d + i * dstStep);
    };
    im2colRows(heap.subarray(0, x.length), g, 0, g.batch, cols, runs);
    assert.deepEqual(cols, want, 'run copier');
  }
});
