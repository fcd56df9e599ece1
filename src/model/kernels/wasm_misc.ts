/**
 * Replacements for stock WASM kernels that are slow on the shapes training produces. Each was found
 * by profiling a training step of the seed models (tf.profile) and each is checked against the CPU
 * backend in test/model/kernels.test.ts. Measured on this machine (CPU ms, see docs/backends.md):
 *
 * - BatchMatMul with transposeA/transposeB: the stock kernel is 5-10x slower than transposing the
 *   operand explicitly and multiplying untransposed (dense-layer weight gradients are a^T . dy).
 * - Tile: the stock kernel computes each output index generically; batch normalisation's gradient
 *   tiles a [1,1,1,C] vector to the whole activation. Block copies are far faster.
 * - MaxPoolGrad: a direct scatter of dy to each window's arg-max.
 * - Sum over leading axes (bias gradients): the stock kernel first transposes the whole tensor.
 * - Equal with broadcasting: the gradient of Max (global max pooling) compares the input with the
 *   broadcast maxima; the stock kernel computes each element's indices generically, 18x slower than
 *   without broadcasting (233 ms against 13 ms for [100, 250, 128] against [100, 1, 128]).
 *
 * Owner: model core.
 */
import type { KernelConfig, TensorInfo, NamedAttrMap, NamedTensorInfoMap } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import type { WasmBackendLike } from './wasm_conv';
import { simdKernels } from './simd';

function f32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const a = backend.typedArrayFromHeap(t);
  if (!(a instanceof Float32Array)) throw new Error(`expected float32, got ${t.dtype}`);
  return a;
}

/** Operands smaller than this many multiply-adds per transposed element are not worth transposing. */
const MIN_REUSE = 8;

export function batchMatMulKernel(tf: TF, stock: KernelConfig): KernelConfig {
  return {
    kernelName: 'BatchMatMul',
    backendName: 'wasm',
    kernelFunc: (params) => {
      const { inputs, backend, attrs } = params;
      const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
      const at = (attrs ?? {}) as NamedAttrMap & { transposeA?: boolean; transposeB?: boolean };
      let transposeA = at.transposeA === true;
      let transposeB = at.transposeB === true;
      if ((!transposeA && !transposeB) || a.dtype !== 'float32' || b.dtype !== 'float32') return stock.kernelFunc(params);
      const wb = backend as WasmBackendLike;
      const ra = a.shape.length;
      const rb = b.shape.length;
      const M = (transposeA ? a.shape[ra - 1] : a.shape[ra - 2]) as number;
      const N = (transposeB ? b.shape[rb - 2] : b.shape[rb - 1]) as number;
      const transpose = tf.getKernel('Transpose', 'wasm');
      const swapLast = (t: TensorInfo): TensorInfo => {
        const perm = t.shape.map((_, i) => i);
        const r = perm.length;
        perm[r - 1] = r - 2;
        perm[r - 2] = r - 1;
        return transpose.kernelFunc({ inputs: { x: t } as unknown as NamedTensorInfoMap, backend, attrs: { perm } }) as TensorInfo;
      };
      const temps: TensorInfo[] = [];
      let A = a;
      let B = b;
      // Transposing costs one pass over the operand; it pays when each element is reused >= MIN_REUSE times.
      if (transposeA && N >= MIN_REUSE) {
        A = swapLast(a);
        temps.push(A);
        transposeA = false;
      }
      if (transposeB && M >= MIN_REUSE) {
        B = swapLast(b);
        temps.push(B);
        transposeB = false;
      }
      const out = stock.kernelFunc({ inputs: { a: A, b: B } as unknown as NamedTensorInfoMap, backend, attrs: { transposeA, transposeB } }) as TensorInfo;
      for (const t of temps) wb.disposeData(t.dataId);
      return out;
    },
  };
}

export function tileKernel(stock: KernelConfig): KernelConfig {
  return {
    kernelName: 'Tile',
    backendName: 'wasm',
    kernelFunc: (params) => {
      const { inputs, backend, attrs } = params;
      const { x } = inputs as { x: TensorInfo };
      const reps = ((attrs ?? {}) as NamedAttrMap & { reps: number[] }).reps;
      if (x.dtype !== 'float32' || !Array.isArray(reps) || reps.length !== x.shape.length) return stock.kernelFunc(params);
      const wb = backend as WasmBackendLike;
      const shape = x.shape.slice();
      const outShape = shape.map((d, i) => d * (reps[i] as number));
      // Tile one axis at a time, innermost first; each step repeats contiguous blocks.
      let cur: Float32Array = f32(wb, x).slice();
      for (let axis = shape.length - 1; axis >= 0; axis--) {
        const r = reps[axis] as number;
        if (r === 1) continue;
        let outer = 1;
        for (let i = 0; i < axis; i++) outer *= shape[i] as number;
        const inner = cur.length / Math.max(1, outer);
        const next = new Float32Array(cur.length * r);
        for (let o = 0; o < outer; o++) {
          const src = cur.subarray(o * inner, (o + 1) * inner);
          for (let k = 0; k < r; k++) next.set(src, (o * r + k) * inner);
        }
        shape[axis] = (shape[axis] as number) * r;
        cur = next;
      }
      const out = wb.makeOutput(outShape, 'float32');
      f32(wb, out).set(cur);
      return out;
    },
  };
}

export function maxPoolGradKernel(tf: TF, stock: KernelConfig): KernelConfig {
  return {
    kernelName: 'MaxPoolGrad',
    backendName: 'wasm',
    kernelFunc: (params) => {
      const { inputs, backend, attrs } = params;
      const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
      const at = (attrs ?? {}) as NamedAttrMap & {
        filterSize: number | [number, number];
        strides: number | [number, number];
        pad: 'valid' | 'same' | number;
        dimRoundingMode?: 'floor' | 'round' | 'ceil';
      };
      if (input.dtype !== 'float32' || input.shape.length !== 4) return stock.kernelFunc(params);
      const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], at.filterSize, at.strides, 1, at.pad, at.dimRoundingMode);
      const wb = backend as WasmBackendLike;
      const out = wb.makeOutput(input.shape.slice(), 'float32');
      const dx = f32(wb, out);
      dx.fill(0);
      const x = f32(wb, input);
      const g = f32(wb, dy);
      const { batchSize, inHeight, inWidth, inChannels: C, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth } = info;
      const padTop = info.padInfo.top;
      const padLeft = info.padInfo.left;
      const simd = C % 4 === 0 ? simdKernels(backend) : null;
      if (simd) {
        simd.maxPoolGrad(x.byteOffset, g.byteOffset, dx.byteOffset, batchSize, inHeight, inWidth, C, outHeight, outWidth, strideHeight, strideWidth, filterHeight, filterWidth, padTop, padLeft);
        return out;
      }
      // Channels innermost: scan each window once for all channels, keeping per-channel maxima.
      const bestV = new Float32Array(C);
      const bestI = new Int32Array(C);
      let gi = 0;
      for (let b = 0; b < batchSize; b++) {
        const xb = b * inHeight * inWidth * C;
        for (let oh = 0; oh < outHeight; oh++) {
          const h0 = Math.max(0, oh * strideHeight - padTop);
          const h1 = Math.min(inHeight, oh * strideHeight - padTop + filterHeight);
          for (let ow = 0; ow < outWidth; ow++, gi += C) {
            const w0 = Math.max(0, ow * strideWidth - padLeft);
            const w1 = Math.min(inWidth, ow * strideWidth - padLeft + filterWidth);
            if (h0 >= h1 || w0 >= w1) continue;
            // The first maximum in row-major window order, as the CPU backend picks it.
            const first = xb + (h0 * inWidth + w0) * C;
            for (let c = 0; c < C; c++) {
              bestV[c] = x[first + c] as number;
              bestI[c] = first + c;
            }
            for (let h = h0; h < h1; h++) {
              for (let w = h === h0 ? w0 + 1 : w0; w < w1; w++) {
                const base = xb + (h * inWidth + w) * C;
                for (let c = 0; c < C; c++) {
                  const v = x[base + c] as number;
                  if (v > (bestV[c] as number)) {
                    bestV[c] = v;
                    bestI[c] = base + c;
                  }
                }
              }
            }
            for (let c = 0; c < C; c++) {
              const i = bestI[c] as number;
              dx[i] = (dx[i] as number) + (g[gi + c] as number);
            }
          }
        }
      }
      return out;
    },
  };
}

export function sumKernel(tf: TF, stock: KernelConfig): KernelConfig {
  return {
    kernelName: 'Sum',
    backendName: 'wasm',
    kernelFunc: (params) => {
      const { inputs, backend, attrs } = params;
      const { x } = inputs as { x: TensorInfo };
      const at = (attrs ?? {}) as NamedAttrMap & { axis: number | number[]; keepDims?: boolean };
      const rank = x.shape.length;
      const axes = tf.util.parseAxisParam(at.axis, x.shape).slice().sort((p, q) => p - q);
      // Only the leading-axes case (bias gradients: sum over batch and positions) is special-cased.
      const leading = axes.length > 0 && axes.length < rank && axes.every((v, i) => v === i);
      if (x.dtype !== 'float32' || !leading) return stock.kernelFunc(params);
      const wb = backend as WasmBackendLike;
      let outer = 1;
      for (const a of axes) outer *= x.shape[a] as number;
      const keptShape = x.shape.slice(axes.length);
      const inner = keptShape.reduce((p, q) => p * q, 1);
      // A plain loop, not ones . x on the GEMM: the WASM matmul caches packed weights by tensor id,
      // so viewing one tensor with two different [outer, inner] splits would reuse stale packing.
      const outShape = at.keepDims ? x.shape.map((d, i) => (i < axes.length ? 1 : d)) : keptShape;
      const out = wb.makeOutput(outShape, 'float32');
      const simd = inner % 4 === 0 ? simdKernels(backend) : null;
      if (simd) {
        const sums = simd.malloc(inner * 8);
        try {
          new Float64Array(simd.memory.buffer, sums, inner).fill(0);
          simd.sumRows(f32(wb, x).byteOffset, outer, inner, sums);
          f32(wb, out).set(new Float64Array(simd.memory.buffer, sums, inner));
        } finally {
          simd.free(sums);
        }
        return out;
      }
      const acc = new Float64Array(inner);
      const src = f32(wb, x);
      for (let o = 0; o < outer; o++) {
        const base = o * inner;
        for (let j = 0; j < inner; j++) acc[j] = (acc[j] as number) + (src[base + j] as number);
      }
      f32(wb, out).set(acc);
      return out;
    },
  };
}

/**
 * Identity, and Cast to the same dtype, without a copy: the stock WASM kernels copy the whole
 * tensor, and TensorFlow.js clones every tensor a gradient saves (Engine.saveTensorsForBackwardMode),
 * which on the notebooks' raw model was about 10 % of a training step. Tensors are immutable, so
 * sharing the data with a reference count is what the CPU backend does, and what the WASM backend's
 * own Reshape does.
 */
export function identityKernel(stock: KernelConfig): KernelConfig {
  return {
    kernelName: 'Identity',
    backendName: 'wasm',
    kernelFunc: (params) => {
      const { x } = params.inputs as { x: TensorInfo };
      if (x.dtype === 'string') return stock.kernelFunc(params);
      return shareData(params.backend as RefCounted, x);
    },
  };
}

export function castKernel(stock: KernelConfig): KernelConfig {
  return {
    kernelName: 'Cast',
    backendName: 'wasm',
    kernelFunc: (params) => {
      const { x } = params.inputs as { x: TensorInfo };
      const dtype = ((params.attrs ?? {}) as NamedAttrMap & { dtype?: string }).dtype;
      if (dtype !== x.dtype || x.dtype === 'string') return stock.kernelFunc(params);
      return shareData(params.backend as RefCounted, x);
    },
  };
}

interface RefCounted {
  incRef(dataId: object): void;
}

function shareData(backend: RefCounted, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape.slice(), dtype: x.dtype };
}

/**
 * Equal between float32 tensors whose shapes broadcast: rows of the last axis at a time, each
 * operand's offset kept per axis, so no element's indices are recomputed.
 */
export function equalKernel(tf: TF, stock: KernelConfig): KernelConfig {
  return {
    kernelName: 'Equal',
    backendName: 'wasm',
    kernelFunc: (params) => {
      const { a, b } = params.inputs as { a: TensorInfo; b: TensorInfo };
      const sameShape = a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
      if (a.dtype !== 'float32' || b.dtype !== 'float32' || sameShape) return stock.kernelFunc(params);
      const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      const rank = outShape.length;
      if (rank === 0) return stock.kernelFunc(params);
      const wb = params.backend as WasmBackendLike;
      const out = wb.makeOutput(outShape, 'bool');
      const o = wb.typedArrayFromHeap(out);
      const av = f32(wb, a);
      const bv = f32(wb, b);
      // Element strides per output axis, 0 along axes an operand broadcasts.
      const stridesOf = (shape: number[]): number[] => {
        const padded = [...new Array<number>(rank - shape.length).fill(1), ...shape];
        const strides = new Array<number>(rank).fill(0);
        let step = 1;
        for (let i = rank - 1; i >= 0; i--) {
          strides[i] = padded[i] === 1 ? 0 : step;
          step *= padded[i] as number;
        }
        return strides;
      };
      const sa = stridesOf(a.shape);
      const sb = stridesOf(b.shape);
      const inner = outShape[rank - 1] as number;
      const ia = sa[rank - 1] as number;
      const ib = sb[rank - 1] as number;
      const index = new Array<number>(rank).fill(0);
      let pa = 0;
      let pb = 0;
      for (let p = 0; p < o.length; p += inner) {
        for (let j = 0; j < inner; j++) o[p + j] = av[pa + j * ia] === bv[pb + j * ib] ? 1 : 0;
        // Advance the outer axes like an odometer.
        for (let ax = rank - 2; ax >= 0; ax--) {
          pa += sa[ax] as number;
          pb += sb[ax] as number;
          if (++(index[ax] as number) < (outShape[ax] as number)) break;
          index[ax] = 0;
          pa -= (sa[ax] as number) * (outShape[ax] as number);
          pb -= (sb[ax] as number) * (outShape[ax] as number);
        }
      }
      return out;
    },
  };
}
