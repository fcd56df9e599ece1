/**
 * Batch normalisation in training as two kernels, one pass over the activation each way.
 *
 * tfjs-layers expresses a training-mode BatchNormalization as tf.moments + tf.batchNorm, and their
 * gradients as a chain of element-wise ops (Mean's gradient allocates a tensor of ones the size of
 * the activation, then Multiply, Tile, Sum, Sub, RealDiv, ...). Profiled on the notebooks' MFCC model
 * on WASM that chain was 58 % of a training step (2.75 s of an epoch against 1.15 s without the two
 * BN layers; docs/backends.md). Here the forward pass computes the per-channel statistics and
 * the normalised output together, and the backward pass computes dx, dgamma and dbeta together.
 *
 * Statistics are over every axis but the last (channels last, the layout of all kws models).
 * Per-channel sums are accumulated in float64. When several replicas train one model on shares of a
 * batch (src/model/parallel), setStatisticsReducer() installs a function that sums the per-channel
 * sums across them, so each replica normalises with the statistics of the whole batch, exactly as
 * one process would.
 *
 * Owner: model core.
 */
import type { KernelConfig, TensorInfo, NamedAttrMap, Tensor, GradConfig } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import { simdKernels, type SimdKernels } from './simd';
import { asF32, channelsOf, cpuMemory, ownKernelAvailable, pointer, registerOwnKernels, wasmMemory, type Memory, type WasmLike } from './memory';

export const BN_TRAIN = 'KwsBatchNormTrain';
export const BN_TRAIN_GRAD = 'KwsBatchNormTrainGrad';

/**
 * Sums `sums` (laid out as the caller chose) element-wise across replicas, in place. The identity
 * when one process trains alone.
 */
export type StatisticsReducer = (sums: Float64Array) => void;

let reducer: StatisticsReducer | null = null;

/** Install (or remove, with null) the cross-replica sum used by both kernels. */
export function setStatisticsReducer(r: StatisticsReducer | null): void {
  reducer = r;
}

function reduce(sums: Float64Array): void {
  if (reducer) reducer(sums);
}

/**
 * After the reduction: the batch's mean and (biased) variance per channel, and the scale that
 * normalises and applies gamma, from [sum x (C), sum x^2 (C), count].
 */
function normalisation(sums: Float64Array, gamma: Float32Array, C: number, epsilon: number, meanOut: Float32Array, varOut: Float32Array, scale: Float32Array): void {
  const count = sums[2 * C] as number;
  for (let c = 0; c < C; c++) {
    const mean = (sums[c] as number) / count;
    const variance = Math.max(0, (sums[C + c] as number) / count - mean * mean);
    meanOut[c] = mean;
    varOut[c] = variance;
    scale[c] = (gamma[c] as number) / Math.sqrt(variance + epsilon);
  }
}

/**
 * After the reduction: dgamma and dbeta (this thread's part, from `local`: the threads' parameter
 * gradients are added up after the step, replicas.ts) and the per-channel coefficients of
 * dx = k1 * dy + k2 * (x - mean) + k3, from the whole batch's [sum dy (C), sum dy * (x - mean) (C), count].
 */
function gradientCoefficients(
  sums: Float64Array,
  local: Float64Array,
  gamma: Float32Array,
  variance: Float32Array,
  C: number,
  epsilon: number,
  out: { dgamma: Float32Array; dbeta: Float32Array; k1: Float32Array; k2: Float32Array; k3: Float32Array },
): void {
  const count = sums[2 * C] as number;
  for (let c = 0; c < C; c++) {
    const is = 1 / Math.sqrt((variance[c] as number) + epsilon);
    const sumDy = sums[c] as number;
    const sumDyXc = sums[C + c] as number;
    out.dbeta[c] = local[c] as number;
    out.dgamma[c] = (local[C + c] as number) * is;
    const a = (gamma[c] as number) * is;
    out.k1[c] = a;
    out.k2[c] = (-a * is * is * sumDyXc) / count;
    out.k3[c] = (-a * sumDy) / count;
  }
}

/**
 * Forward: y = (x - mean) / sqrt(var + eps) * gamma + beta, with the batch's mean and (biased)
 * variance per channel, which it also outputs for the layer's moving averages.
 */
function forward(mem: Memory, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, epsilon: number): TensorInfo[] {
  const C = channelsOf(x, BN_TRAIN);
  const { infos, views } = mem.alloc([x.shape.slice(), [C], [C]]);
  const [y, meanOut, varOut] = views() as [Float32Array, Float32Array, Float32Array];
  const xv = mem.read(x);
  const g = mem.read(gamma);
  const b = mem.read(beta);
  const n = xv.length;
  // [sum x (C), sum x^2 (C), count]: one reduction across replicas.
  const sums = new Float64Array(2 * C + 1);
  for (let i = 0; i < n; i += C) {
    for (let c = 0; c < C; c++) {
      const v = xv[i + c] as number;
      sums[c] = (sums[c] as number) + v;
      sums[C + c] = (sums[C + c] as number) + v * v;
    }
  }
  sums[2 * C] = n / C;
  reduce(sums);
  const scale = new Float32Array(C);
  normalisation(sums, g, C, epsilon, meanOut, varOut, scale);
  // (x - mean) first, as tf.batchNorm does: x * scale + (beta - mean * scale) would cancel
  // catastrophically in float32 for a channel whose mean is large against its spread.
  for (let i = 0; i < n; i += C) {
    for (let c = 0; c < C; c++) y[i + c] = ((xv[i + c] as number) - (meanOut[c] as number)) * (scale[c] as number) + (b[c] as number);
  }
  return infos;
}

/**
 * Backward, with xhat = (x - mean) * invstd over the whole batch of N positions:
 *   dbeta = sum dy, dgamma = sum dy * xhat, dx = gamma * invstd * (dy - dbeta / N - xhat * dgamma / N).
 * dx needs the sums over the whole batch; dgamma and dbeta are this thread's part of them, because
 * the threads' parameter gradients are added up after the step.
 */
function backward(mem: Memory, dy: TensorInfo, x: TensorInfo, gamma: TensorInfo, mean: TensorInfo, variance: TensorInfo, epsilon: number): TensorInfo[] {
  const C = channelsOf(x, BN_TRAIN);
  const { infos, views } = mem.alloc([x.shape.slice(), [C], [C]]);
  const [dx, dgammaOut, dbetaOut] = views() as [Float32Array, Float32Array, Float32Array];
  const g = mem.read(dy);
  const xv = mem.read(x);
  const gam = mem.read(gamma);
  const mu = mem.read(mean);
  const vr = mem.read(variance);
  const n = xv.length;
  // [sum dy (C), sum dy * (x - mean) (C), count]
  const sums = new Float64Array(2 * C + 1);
  for (let i = 0; i < n; i += C) {
    for (let c = 0; c < C; c++) {
      const d = g[i + c] as number;
      sums[c] = (sums[c] as number) + d;
      sums[C + c] = (sums[C + c] as number) + d * ((xv[i + c] as number) - (mu[c] as number));
    }
  }
  sums[2 * C] = n / C;
  const local = sums.slice();
  reduce(sums);
  const k1 = new Float32Array(C);
  const k2 = new Float32Array(C);
  const k3 = new Float32Array(C);
  gradientCoefficients(sums, local, gam, vr, C, epsilon, { dgamma: dgammaOut, dbeta: dbetaOut, k1, k2, k3 });
  for (let i = 0; i < n; i += C) {
    for (let c = 0; c < C; c++) {
      dx[i + c] = (k1[c] as number) * (g[i + c] as number) + (k2[c] as number) * ((xv[i + c] as number) - (mu[c] as number)) + (k3[c] as number);
    }
  }
  return infos;
}

function epsilonOf(attrs: NamedAttrMap | undefined): number {
  const e = (attrs as { epsilon?: unknown } | undefined)?.epsilon;
  return typeof e === 'number' ? e : 1e-3;
}

/**
 * The same two passes with the SIMD kernels of simd.wat, in the backend's memory. Per-channel
 * vectors go through a scratch block there: [sums: f64 x (2C + 1)][four f32 x C vectors].
 */
function withScratch<T>(simd: SimdKernels, C: number, body: (sumsPtr: number, vecPtr: (k: number) => number, sums: () => Float64Array, vec: (k: number) => Float32Array) => T): T {
  const sumsBytes = (2 * C + 1) * 8;
  const base = simd.malloc(sumsBytes + 4 * C * 4);
  try {
    const vecPtr = (k: number): number => base + sumsBytes + k * C * 4;
    return body(
      base,
      vecPtr,
      () => new Float64Array(simd.memory.buffer, base, 2 * C + 1),
      (k) => new Float32Array(simd.memory.buffer, vecPtr(k), C),
    );
  } finally {
    simd.free(base);
  }
}

function forwardSimd(simd: SimdKernels, wb: WasmLike, x: TensorInfo, gamma: TensorInfo, beta: TensorInfo, epsilon: number): TensorInfo[] {
  const C = channelsOf(x, BN_TRAIN);
  const rows = x.shape.reduce((a, b) => a * b, 1) / C;
  const infos = [wb.makeOutput(x.shape.slice(), 'float32'), wb.makeOutput([C], 'float32'), wb.makeOutput([C], 'float32')];
  return withScratch(simd, C, (sumsPtr, vecPtr, sumsView, vec) => {
    sumsView().fill(0);
    simd.bnStats(pointer(wb, x), rows, C, sumsPtr);
    const sums = sumsView().slice();
    sums[2 * C] = rows;
    reduce(sums);
    const [, meanOut, varOut] = infos.map((i) => asF32(wb.typedArrayFromHeap(i), 'output')) as [Float32Array, Float32Array, Float32Array];
    normalisation(sums, asF32(wb.typedArrayFromHeap(gamma), 'gamma'), C, epsilon, meanOut, varOut, vec(1));
    vec(0).set(meanOut);
    simd.bnNormalize(pointer(wb, x), pointer(wb, infos[0] as TensorInfo), rows, C, vecPtr(0), vecPtr(1), pointer(wb, beta));
    return infos;
  });
}

function backwardSimd(simd: SimdKernels, wb: WasmLike, dy: TensorInfo, x: TensorInfo, gamma: TensorInfo, mean: TensorInfo, variance: TensorInfo, epsilon: number): TensorInfo[] {
  const C = channelsOf(x, BN_TRAIN);
  const rows = x.shape.reduce((a, b) => a * b, 1) / C;
  const infos = [wb.makeOutput(x.shape.slice(), 'float32'), wb.makeOutput([C], 'float32'), wb.makeOutput([C], 'float32')];
  return withScratch(simd, C, (sumsPtr, vecPtr, sumsView, vec) => {
    sumsView().fill(0);
    simd.bnGradSums(pointer(wb, dy), pointer(wb, x), pointer(wb, mean), rows, C, sumsPtr);
    const sums = sumsView().slice();
    sums[2 * C] = rows;
    const local = sums.slice();
    reduce(sums);
    const [, dgamma, dbeta] = infos.map((i) => asF32(wb.typedArrayFromHeap(i), 'output')) as [Float32Array, Float32Array, Float32Array];
    const gam = asF32(wb.typedArrayFromHeap(gamma), 'gamma');
    const vr = asF32(wb.typedArrayFromHeap(variance), 'variance');
    gradientCoefficients(sums, local, gam, vr, C, epsilon, { dgamma, dbeta, k1: vec(0), k2: vec(1), k3: vec(2) });
    simd.bnGradDx(pointer(wb, dy), pointer(wb, x), pointer(wb, infos[0] as TensorInfo), rows, C, pointer(wb, mean), vecPtr(0), vecPtr(1), vecPtr(2));
    return infos;
  });
}

function kernelsFor(backendName: 'wasm' | 'cpu', memory: (backend: unknown) => Memory): KernelConfig[] {
  // The SIMD kernels need whole vectors of 4 channels; the JavaScript loops take any count.
  const simdFor = (backend: unknown, x: TensorInfo): SimdKernels | null => (backendName === 'wasm' && channelsOf(x, BN_TRAIN) % 4 === 0 ? simdKernels(backend) : null);
  return [
    {
      kernelName: BN_TRAIN,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, gamma, beta } = inputs as { x: TensorInfo; gamma: TensorInfo; beta: TensorInfo };
        const simd = simdFor(backend, x);
        if (simd) return forwardSimd(simd, backend as WasmLike, x, gamma, beta, epsilonOf(attrs));
        return forward(memory(backend), x, gamma, beta, epsilonOf(attrs));
      },
    },
    {
      kernelName: BN_TRAIN_GRAD,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy, x, gamma, mean, variance } = inputs as { dy: TensorInfo; x: TensorInfo; gamma: TensorInfo; mean: TensorInfo; variance: TensorInfo };
        const simd = simdFor(backend, x);
        if (simd) return backwardSimd(simd, backend as WasmLike, dy, x, gamma, mean, variance, epsilonOf(attrs));
        return backward(memory(backend), dy, x, gamma, mean, variance, epsilonOf(attrs));
      },
    },
  ];
}

const gradient: GradConfig = {
  kernelName: BN_TRAIN,
  inputsToSave: ['x', 'gamma'],
  outputsToSave: [false, true, true],
  // Only the normalised output carries a gradient: the mean and variance outputs feed the moving
  // averages, which are not trained.
  gradFunc: (dys: Tensor | Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
    const dy = Array.isArray(dys) ? (dys[0] as Tensor) : dys;
    const [x, gamma, mean, variance] = saved as [Tensor, Tensor, Tensor, Tensor];
    const engine = gradEngine;
    if (!engine) throw new Error(`${BN_TRAIN_GRAD}: registerBatchNormKernels() has not run`);
    // One kernel call for all three gradients; the engine asks for each through a thunk.
    const [dx, dgamma, dbeta] = engine.runKernel(BN_TRAIN_GRAD, { dy, x, gamma, mean, variance }, attrs) as Tensor[];
    return { x: () => dx as Tensor, gamma: () => dgamma as Tensor, beta: () => dbeta as Tensor };
  },
};

let gradEngine: ReturnType<TF['engine']> | null = null;

/** Register both kernels for the WASM and CPU backends, and the forward kernel's gradient (idempotent). */
export function registerBatchNormKernels(tf: TF): void {
  gradEngine = tf.engine();
  registerOwnKernels(tf, [...kernelsFor('wasm', wasmMemory), ...kernelsFor('cpu', cpuMemory)], gradient);
}

/** Whether the fused kernels can run on the active backend (not on tfjs-node, which has its own). */
export function batchNormKernelsAvailable(tf: TF): boolean {
  return ownKernelAvailable(tf, BN_TRAIN);
}
