/**
 * Convolution kernels for the WASM backend, written as im2col + the backend's own GEMM.
 *
 * - Conv2DBackpropFilter: missing from @tensorflow/tfjs-backend-wasm 4.x, so stock training of any
 *   convolutional model on WASM throws. dW[kH*kW*inC, outC] = im2col(x)^T . dy.
 * - Conv2D / FusedConv2D / Conv2DBackpropInput (optional replacements): the stock XNNPACK kernels run
 *   at a few GFLOP/s for kws's shapes (one input channel with a 4x10 kernel, 1-D signals of 16k
 *   samples); as a GEMM over an im2col matrix they run near the backend's matmul speed.
 *
 * Work is split into batch chunks so that the im2col matrix never exceeds CHUNK_FLOATS floats:
 * the raw-audio model's second convolution would otherwise need a 0.9 GB matrix.
 *
 * Owner: model core.
 */
import type { TensorInfo, DataType, KernelConfig, NamedAttrMap, NamedTensorInfoMap } from '@tensorflow/tfjs';
import type { TF } from '../backend';
import { type ConvGeometry, im2colRows, im2colTransposed, col2imRows, patchSize } from './im2col';

/** The part of BackendWasm these kernels use (structural, so no dependency on its private types). */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Upper bound on the floats of one im2col chunk (16 MiB): big enough for GEMM efficiency. */
let CHUNK_FLOATS = 4 * 1024 * 1024;

/** Change the chunk limit (tests use a small one to exercise chunking); returns the previous limit. */
export function setIm2colChunkLimit(floats: number): number {
  const previous = CHUNK_FLOATS;
  CHUNK_FLOATS = Math.max(1, Math.floor(floats));
  return previous;
}

type Pad = 'valid' | 'same' | number | [[number, number], [number, number], [number, number], [number, number]];

interface ConvAttrs {
  strides: number | [number, number];
  pad: Pad;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

function attrsOf(attrs: NamedAttrMap | undefined): ConvAttrs {
  if (!attrs) throw new Error('convolution kernel called without attributes');
  return attrs as unknown as ConvAttrs;
}

function f32(backend: WasmBackendLike, t: TensorInfo): Float32Array {
  const a = backend.typedArrayFromHeap(t);
  if (!(a instanceof Float32Array)) throw new Error(`kws wasm conv kernels support float32 only, got ${t.dtype}`);
  return a;
}

function requireNHWC(a: ConvAttrs, kernel: string): void {
  if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') {
    throw new Error(`kws ${kernel} for wasm supports dataFormat NHWC only, got ${a.dataFormat}`);
  }
}

function geometry(tf: TF, xShape: number[], filterShape: number[], a: ConvAttrs): ConvGeometry {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    false,
    'channelsLast',
  );
  return {
    batch: info.batchSize,
    inH: info.inHeight,
    inW: info.inWidth,
    inC: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    outC: info.outChannels,
    kH: info.filterHeight,
    kW: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    dilH: info.dilationHeight,
    dilW: info.dilationWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/** Images per chunk so that one im2col matrix stays under CHUNK_FLOATS. */
function imagesPerChunk(g: ConvGeometry): number {
  const perImage = patchSize(g) * g.outH * g.outW;
  return Math.max(1, Math.min(g.batch, Math.floor(CHUNK_FLOATS / Math.max(1, perImage))));
}

type MatMul = (a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean) => TensorInfo;

function matMulVia(tf: TF, backend: WasmBackendLike): MatMul {
  const bmm = tf.getKernel('BatchMatMul', 'wasm');
  return (a, b, transposeA, transposeB) =>
    bmm.kernelFunc({ inputs: { a, b } as unknown as NamedTensorInfoMap, backend, attrs: { transposeA, transposeB } }) as TensorInfo;
}

/** dW = sum over chunks of im2col(x_chunk)^T . dy_chunk, in the filter's [kH, kW, inC, outC] layout. */
export function conv2dBackpropFilterWasm(tf: TF, backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, filterShape: number[], a: ConvAttrs): TensorInfo {
  requireNHWC(a, 'Conv2DBackpropFilter');
  const g = geometry(tf, x.shape, filterShape, a);
  const K = patchSize(g);
  const P = g.outH * g.outW;
  const per = imagesPerChunk(g);
  const matMul = matMulVia(tf, backend);
  const out = backend.makeOutput([g.kH, g.kW, g.inC, g.outC], 'float32');
  const chunks = Math.ceil(g.batch / per);
  // One reusable pair of chunk buffers; the last chunk may be shorter and gets its own.
  let colsT: TensorInfo | null = null;
  let dyc: TensorInfo | null = null;
  let first = true;
  for (let c = 0; c < chunks; c++) {
    const b0 = c * per;
    const b1 = Math.min(g.batch, b0 + per);
    const n = (b1 - b0) * P;
    if (colsT === null || colsT.shape[2] !== n) {
      if (colsT) backend.disposeData(colsT.dataId);
      colsT = backend.makeOutput([1, K, n], 'float32');
    }
    // A fresh dy chunk per matmul: the WASM GEMM caches packed right-hand operands by tensor id,
    // so refilling one buffer with new values under the same id is not safe.
    if (dyc) backend.disposeData(dyc.dataId);
    dyc = chunks === 1 ? null : backend.makeOutput([1, n, g.outC], 'float32');
    // Views must be taken after every allocation: malloc may grow (and so detach) the wasm heap.
    im2colTransposed(f32(backend, x), g, b0, b1, f32(backend, colsT));
    let dyIn: TensorInfo;
    if (dyc === null) {
      dyIn = { dataId: dy.dataId, shape: [1, n, g.outC], dtype: 'float32' };
    } else {
      f32(backend, dyc).set(f32(backend, dy).subarray(b0 * P * g.outC, b1 * P * g.outC));
      dyIn = dyc;
    }
    const part = matMul(colsT, dyIn, false, false);
    const dst = f32(backend, out);
    const src = f32(backend, part);
    if (first) dst.set(src);
    else for (let i = 0; i < dst.length; i++) dst[i] = (dst[i] as number) + (src[i] as number);
    first = false;
    backend.disposeData(part.dataId);
  }
  if (colsT) backend.disposeData(colsT.dataId);
  if (dyc) backend.disposeData(dyc.dataId);
  return out;
}

/** y = im2col(x) . W (+ bias, activation), chunked over the batch. */
export function conv2dForwardWasm(tf: TF, backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, a: ConvAttrs): TensorInfo {
  requireNHWC(a, 'Conv2D');
  const g = geometry(tf, x.shape, filter.shape, a);
  const K = patchSize(g);
  const P = g.outH * g.outW;
  const per = imagesPerChunk(g);
  const matMul = matMulVia(tf, backend);
  const out = backend.makeOutput([g.batch, g.outH, g.outW, g.outC], 'float32');
  const w: TensorInfo = { dataId: filter.dataId, shape: [1, K, g.outC], dtype: 'float32' };
  let cols: TensorInfo | null = null;
  for (let b0 = 0; b0 < g.batch; b0 += per) {
    const b1 = Math.min(g.batch, b0 + per);
    const n = (b1 - b0) * P;
    if (cols === null || cols.shape[1] !== n) {
      if (cols) backend.disposeData(cols.dataId);
      cols = backend.makeOutput([1, n, K], 'float32');
    }
    im2colRows(f32(backend, x), g, b0, b1, f32(backend, cols));
    const part = matMul(cols, w, false, false);
    f32(backend, out).set(f32(backend, part), b0 * P * g.outC);
    backend.disposeData(part.dataId);
  }
  if (cols) backend.disposeData(cols.dataId);
  return out;
}

/** dx = col2im(dy . W^T), chunked over the batch. */
export function conv2dBackpropInputWasm(tf: TF, backend: WasmBackendLike, dy: TensorInfo, filter: TensorInfo, inputShape: number[], a: ConvAttrs): TensorInfo {
  requireNHWC(a, 'Conv2DBackpropInput');
  const g = geometry(tf, inputShape, filter.shape, a);
  const K = patchSize(g);
  const P = g.outH * g.outW;
  const per = imagesPerChunk(g);
  const matMul = matMulVia(tf, backend);
  const out = backend.makeOutput(inputShape.slice(), 'float32');
  f32(backend, out).fill(0);
  const w: TensorInfo = { dataId: filter.dataId, shape: [1, K, g.outC], dtype: 'float32' };
  let dyc: TensorInfo | null = null;
  for (let b0 = 0; b0 < g.batch; b0 += per) {
    const b1 = Math.min(g.batch, b0 + per);
    const n = (b1 - b0) * P;
    let dyIn: TensorInfo;
    if (per >= g.batch) {
      dyIn = { dataId: dy.dataId, shape: [1, n, g.outC], dtype: 'float32' };
    } else {
      if (dyc === null || dyc.shape[1] !== n) {
        if (dyc) backend.disposeData(dyc.dataId);
        dyc = backend.makeOutput([1, n, g.outC], 'float32');
      }
      f32(backend, dyc).set(f32(backend, dy).subarray(b0 * P * g.outC, b1 * P * g.outC));
      dyIn = dyc;
    }
    const cols = matMul(dyIn, w, false, true);
    col2imRows(f32(backend, cols), g, b0, b1, f32(backend, out));
    backend.disposeData(cols.dataId);
  }
  if (dyc) backend.disposeData(dyc.dataId);
  return out;
}

/** Kernel configs for registration (see ./index.ts). */
export function wasmConvKernels(tf: TF): { backpropFilter: KernelConfig; forward: KernelConfig; backpropInput: KernelConfig } {
  return {
    backpropFilter: {
      kernelName: 'Conv2DBackpropFilter',
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
        const at = attrsOf(attrs) as ConvAttrs & { filterShape: number[] };
        return conv2dBackpropFilterWasm(tf, backend as WasmBackendLike, x, dy, at.filterShape, at);
      },
    },
    forward: {
      kernelName: 'Conv2D',
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
        return conv2dForwardWasm(tf, backend as WasmBackendLike, x, filter, attrsOf(attrs));
      },
    },
    backpropInput: {
      kernelName: 'Conv2DBackpropInput',
      backendName: 'wasm',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
        const at = attrsOf(attrs) as ConvAttrs & { inputShape: number[] };
        return conv2dBackpropInputWasm(tf, backend as WasmBackendLike, dy, filter, at.inputShape, at);
      },
    },
  };
}
