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
import { type ConvGeometry, type RunsCopy, im2colRows, im2colTransposed, im2colTransposedPlanar, col2imRows, patchSize } from './im2col';
import { simdKernels } from './simd';

/** The part of BackendWasm these kernels use (structural, so no dependency on its private types). */
export interface WasmBackendLike {
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: object, force?: boolean): boolean;
}

/**
 * Upper bound on the floats of one im2col chunk (4 MiB, about the size of this machine's L2
 * cache): measured on the notebooks' raw model with two threads, 13.7 s per epoch against 14.3 s
 * with 16 MiB chunks and 18.3 s with 64 MiB; the MFCC models did not change.
 */
let CHUNK_FLOATS = 1024 * 1024;

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

/** The SIMD run copier between two tensors' views of the WASM heap, if the kernels are there. */
function runsBetween(backend: WasmBackendLike, src: Float32Array, dst: Float32Array): RunsCopy | undefined {
  const simd = simdKernels(backend);
  if (!simd) return undefined;
  const s0 = src.byteOffset;
  const d0 = dst.byteOffset;
  return (d, s, count, len, dstStep, srcStep) => simd.copyRuns(d0 + 4 * d, s0 + 4 * s, count, 4 * len, 4 * dstStep, 4 * srcStep);
}

/** im2colRows on the WASM heap, with the SIMD run copier when it is available. */
function patchesInto(backend: WasmBackendLike, x: TensorInfo, g: ConvGeometry, b0: number, b1: number, cols: TensorInfo): void {
  const xs = f32(backend, x);
  const cs = f32(backend, cols);
  im2colRows(xs, g, b0, b1, cs, runsBetween(backend, xs, cs));
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

/**
 * dW = sum over chunks of im2col(x_chunk)^T . dy_chunk, in the filter's [kH, kW, inC, outC] layout.
 * The GEMM's right-hand operand is the dy chunk, which XNNPACK packs (the im2col matrix is far
 * larger, so it must not be the one packed).
 */
export function conv2dBackpropFilterWasm(tf: TF, backend: WasmBackendLike, x: TensorInfo, dy: TensorInfo, filterShape: number[], a: ConvAttrs): TensorInfo {
  requireNHWC(a, 'Conv2DBackpropFilter');
  const g = geometry(tf, x.shape, filterShape, a);
  const P = g.outH * g.outW;
  const per = imagesPerChunk(g);
  const matMul = matMulVia(tf, backend);
  const transpose = tf.getKernel('Transpose', 'wasm');
  const out = backend.makeOutput([g.kH, g.kW, g.inC, g.outC], 'float32');
  const chunks = Math.ceil(g.batch / per);
  for (let c = 0; c < chunks; c++) {
    const b0 = c * per;
    const b1 = Math.min(g.batch, b0 + per);
    const n = (b1 - b0) * P;
    const colsT = transposedPatches(backend, transpose, x, g, b0, b1);
    // A fresh dy chunk per matmul: the WASM GEMM caches packed right-hand operands by tensor id,
    // so refilling one buffer with new values under the same id is not safe.
    const dyIn: TensorInfo = chunks === 1 ? { dataId: dy.dataId, shape: [1, n, g.outC], dtype: 'float32' } : sliceRows(backend, dy, b0 * P * g.outC, n, g.outC);
    const part = matMul(colsT, dyIn, false, false);
    const dst = f32(backend, out);
    const src = f32(backend, part);
    if (c === 0) dst.set(src);
    else for (let i = 0; i < dst.length; i++) dst[i] = (dst[i] as number) + (src[i] as number);
    backend.disposeData(part.dataId);
    backend.disposeData(colsT.dataId);
    if (dyIn.dataId !== dy.dataId) backend.disposeData(dyIn.dataId);
  }
  return out;
}

/**
 * The transposed im2col matrix [1, K, n] of images b0..b1-1. With one input channel its rows are
 * contiguous runs of the input rows and are written directly; otherwise the images are transposed
 * to channel planes first (one pass over the input, by the backend's Transpose) and the rows are
 * runs of those planes.
 */
function transposedPatches(backend: WasmBackendLike, transpose: KernelConfig, x: TensorInfo, g: ConvGeometry, b0: number, b1: number): TensorInfo {
  const K = patchSize(g);
  const n = (b1 - b0) * g.outH * g.outW;
  if (g.inC === 1) {
    const colsT = backend.makeOutput([1, K, n], 'float32');
    // Views must be taken after every allocation: malloc may grow (and so detach) the wasm heap.
    im2colTransposed(f32(backend, x), g, b0, b1, f32(backend, colsT));
    return colsT;
  }
  const pixels = g.inH * g.inW;
  const images = b1 - b0;
  const chunk = images === g.batch ? { dataId: x.dataId, shape: [images * pixels, g.inC], dtype: 'float32' as const } : sliceRows(backend, x, b0 * pixels * g.inC, images * pixels, g.inC);
  const planes = transpose.kernelFunc({ inputs: { x: { ...chunk, shape: [images * pixels, g.inC] } } as unknown as NamedTensorInfoMap, backend, attrs: { perm: [1, 0] } }) as TensorInfo;
  if (chunk.dataId !== x.dataId) backend.disposeData(chunk.dataId);
  const colsT = backend.makeOutput([1, K, n], 'float32');
  const ps = f32(backend, planes);
  const cs = f32(backend, colsT);
  im2colTransposedPlanar(ps, g, images, cs, runsBetween(backend, ps, cs));
  backend.disposeData(planes.dataId);
  return colsT;
}

/** Rows [start, start + rows) of a [*, cols] float tensor, copied into a new [1, rows, cols] tensor. */
function sliceRows(backend: WasmBackendLike, t: TensorInfo, startFloat: number, rows: number, cols: number): TensorInfo {
  const part = backend.makeOutput([1, rows, cols], 'float32');
  f32(backend, part).set(f32(backend, t).subarray(startFloat, startFloat + rows * cols));
  return part;
}

/** y = im2col(x) . W (+ bias, activation), chunked over the batch. */
export function conv2dForwardWasm(tf: TF, backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, a: ConvAttrs): TensorInfo {
  requireNHWC(a, 'Conv2D');
  const g = geometry(tf, x.shape, filter.shape, a);
  return convForward(tf, backend, x, filter, g, [g.batch, g.outH, g.outW, g.outC]);
}

/**
 * Whether the stock XNNPACK convolution is the faster forward pass: with several input channels it
 * reads the input in place, where im2col first writes kH*kW copies of it. Measured on the notebooks'
 * raw model's 16 -> 16-channel, 9-tap convolution (batch 50): 118 ms stock, 152 ms im2col; with one
 * input channel (the seed 4x10 kernels) im2col is the faster one.
 */
function stockForwardIsFaster(g: ConvGeometry): boolean {
  return g.inC >= 8 && g.dilH === 1 && g.dilW === 1;
}

/** The stock Conv2D kernel on geometry g, its padding explicit; null when it would not give g's output. */
function stockConv(backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, g: ConvGeometry, outShape: number[]): TensorInfo | null {
  const stock = stockConvKernel;
  if (!stock) return null;
  const padBottom = (g.outH - 1) * g.strideH + g.kH - g.inH - g.padTop;
  const padRight = (g.outW - 1) * g.strideW + g.kW - g.inW - g.padLeft;
  if (padBottom < 0 || padRight < 0) return null;
  const w: TensorInfo = { dataId: filter.dataId, shape: [g.kH, g.kW, g.inC, g.outC], dtype: 'float32' };
  const out = stock.kernelFunc({
    inputs: { x, filter: w } as unknown as NamedTensorInfoMap,
    backend,
    attrs: { strides: [g.strideH, g.strideW], pad: [[0, 0], [g.padTop, padBottom], [g.padLeft, padRight], [0, 0]], dataFormat: 'NHWC', dilations: [1, 1] } as unknown as NamedAttrMap,
  }) as TensorInfo;
  if (out.shape.join() !== outShape.join()) {
    backend.disposeData(out.dataId);
    return null;
  }
  return { dataId: out.dataId, shape: outShape.slice(), dtype: 'float32' };
}

let stockConvKernel: KernelConfig | null = null;

/** The stock Conv2D kernel, for the shapes it does faster (set by kernels/index.ts when it replaces it). */
export function setStockConv2D(k: KernelConfig | null): void {
  stockConvKernel = k;
}

function convForward(tf: TF, backend: WasmBackendLike, x: TensorInfo, filter: TensorInfo, g: ConvGeometry, outShape: number[]): TensorInfo {
  if (stockForwardIsFaster(g)) {
    const viaStock = stockConv(backend, x, filter, g, outShape);
    if (viaStock) return viaStock;
  }
  const K = patchSize(g);
  const P = g.outH * g.outW;
  const per = imagesPerChunk(g);
  const matMul = matMulVia(tf, backend);
  const out = backend.makeOutput(outShape, 'float32');
  const w: TensorInfo = { dataId: filter.dataId, shape: [1, K, g.outC], dtype: 'float32' };
  let cols: TensorInfo | null = null;
  for (let b0 = 0; b0 < g.batch; b0 += per) {
    const b1 = Math.min(g.batch, b0 + per);
    const n = (b1 - b0) * P;
    if (cols === null || cols.shape[1] !== n) {
      if (cols) backend.disposeData(cols.dataId);
      cols = backend.makeOutput([1, n, K], 'float32');
    }
    patchesInto(backend, x, g, b0, b1, cols);
    const part = matMul(cols, w, false, false);
    f32(backend, out).set(f32(backend, part), b0 * P * g.outC);
    backend.disposeData(part.dataId);
  }
  if (cols) backend.disposeData(cols.dataId);
  return out;
}

/**
 * dx for a convolution with stride 1 and no dilation: the forward convolution of dy with the filter
 * rotated by 180 degrees and its channel axes swapped, padded by (k - 1 - pad). That reuses
 * im2colRows's contiguous run copies; the scatter-add of col2im (the general case below) touches
 * each input position K times, one float at a time.
 */
function conv2dBackpropInputAsConv(tf: TF, backend: WasmBackendLike, dy: TensorInfo, filter: TensorInfo, inputShape: number[], g: ConvGeometry): TensorInfo {
  const { kH, kW, inC, outC } = g;
  const rotated = backend.makeOutput([kH, kW, outC, inC], 'float32');
  const w = f32(backend, filter);
  const r = f32(backend, rotated);
  for (let kh = 0; kh < kH; kh++)
    for (let kw = 0; kw < kW; kw++)
      for (let ci = 0; ci < inC; ci++)
        for (let co = 0; co < outC; co++) r[((kh * kW + kw) * outC + co) * inC + ci] = w[(((kH - 1 - kh) * kW + (kW - 1 - kw)) * inC + ci) * outC + co] as number;
  const gT: ConvGeometry = {
    batch: g.batch,
    inH: g.outH,
    inW: g.outW,
    inC: outC,
    outH: g.inH,
    outW: g.inW,
    outC: inC,
    kH,
    kW,
    strideH: 1,
    strideW: 1,
    dilH: 1,
    dilW: 1,
    padTop: kH - 1 - g.padTop,
    padLeft: kW - 1 - g.padLeft,
  };
  const out = convForward(tf, backend, dy, rotated, gT, inputShape.slice());
  backend.disposeData(rotated.dataId);
  return out;
}

/**
 * Whether dx is cheaper as a convolution of dy: its im2col matrix has outC/inC times the columns of
 * col2im's, but is built from contiguous runs where col2im scatter-adds float by float, and its GEMM
 * produces inC columns, which must not be too few. Measured on the notebooks' raw model (16 -> 16
 * channels): 9.3 against 11.0 s per 300 clips; on its MFCC model (1 -> 16) col2im was faster.
 */
function backpropInputAsConv(g: ConvGeometry): boolean {
  return g.strideH === 1 && g.strideW === 1 && g.dilH === 1 && g.dilW === 1 && g.inC >= 8 && g.outC <= 4 * g.inC;
}

/** dx = col2im(dy . W^T), chunked over the batch (or, where backpropInputAsConv says so, a convolution of dy). */
export function conv2dBackpropInputWasm(tf: TF, backend: WasmBackendLike, dy: TensorInfo, filter: TensorInfo, inputShape: number[], a: ConvAttrs): TensorInfo {
  requireNHWC(a, 'Conv2DBackpropInput');
  const g = geometry(tf, inputShape, filter.shape, a);
  if (backpropInputAsConv(g)) return conv2dBackpropInputAsConv(tf, backend, dy, filter, inputShape, g);
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
