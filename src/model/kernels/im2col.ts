/**
 * im2col / col2im for NHWC 2-D convolutions, in plain typed-array loops.
 *
 * Why these exist: the stock WASM backend of TensorFlow.js has no Conv2DBackpropFilter kernel, and its
 * XNNPACK convolutions are slow for the shapes kws trains (one input channel, wide 4x10 kernels, or
 * very long 1-D signals). Rewriting a convolution as one matrix multiply over an im2col matrix lets
 * the WASM backend's fast GEMM do all the arithmetic; the loops here only move memory.
 *
 * Geometry is TensorFlow's (Conv2DInfo from backend_util.computeConv2DInfo): output position
 * (oh, ow) reads input rows oh*strideH + kh*dilH - padTop and columns ow*strideW + kw*dilW - padLeft,
 * zeros outside the input.
 *
 * Owner: model core.
 */

export interface ConvGeometry {
  batch: number;
  inH: number;
  inW: number;
  inC: number;
  outH: number;
  outW: number;
  outC: number;
  kH: number;
  kW: number;
  strideH: number;
  strideW: number;
  dilH: number;
  dilW: number;
  padTop: number;
  padLeft: number;
}

/** Number of im2col columns (kH*kW*inC): the reduction size of the forward GEMM. */
export function patchSize(g: ConvGeometry): number {
  return g.kH * g.kW * g.inC;
}

/**
 * A copy of `len` floats from `src` to `dst`. When both are views of one buffer (the WASM heap, where
 * every tensor lives) it is a memmove (copyWithin) on a view of the whole buffer; otherwise a loop.
 */
type RunCopy = (dstIndex: number, srcIndex: number, len: number) => void;

function runCopier(src: Float32Array, dst: Float32Array): RunCopy {
  if (src.buffer === dst.buffer) {
    const heap = new Float32Array(src.buffer);
    // >>> not >>: the heap grows past 2 GiB, where >> would turn an offset negative.
    const s0 = src.byteOffset >>> 2;
    const d0 = dst.byteOffset >>> 2;
    return (d, s, len) => {
      // Short runs are quicker in a loop than through the call into copyWithin.
      if (len < 16) for (let i = 0; i < len; i++) heap[d0 + d + i] = heap[s0 + s + i] as number;
      else heap.copyWithin(d0 + d, s0 + s, s0 + s + len);
    };
  }
  return (d, s, len) => {
    for (let i = 0; i < len; i++) dst[d + i] = src[s + i] as number;
  };
}

/**
 * Copies `count` runs of `len` floats: run i from src[srcIndex + i * srcStep] to
 * dst[dstIndex + i * dstStep]. The WASM backend passes its SIMD kernel (simd.wat), which does a
 * whole row of patches in one call.
 */
export type RunsCopy = (dstIndex: number, srcIndex: number, count: number, len: number, dstStep: number, srcStep: number) => void;

/**
 * Fill `cols` (row-major [(b1-b0)*outH*outW, kH*kW*inC]) with the patches of images b0..b1-1:
 * row = output position, column = (kh, kw, ci), the filter's own layout, so that
 * cols . filter[kH*kW*inC, outC] is the convolution output in NHWC order.
 *
 * Without dilation along the width, the kW*inC values a patch takes from one input row are
 * contiguous in NHWC memory, so each is one run copy (a 1-D convolution's whole patch is one run),
 * and the patches of one output row that stay clear of the padding are evenly spaced runs.
 */
export function im2colRows(x: Float32Array, g: ConvGeometry, b0: number, b1: number, cols: Float32Array, runs?: RunsCopy): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW, dilH, dilW, padTop, padLeft } = g;
  const K = kH * kW * inC;
  const span = kW * inC;
  const rowW = inW * inC;
  const imgSize = inH * rowW;
  const copy = runCopier(x, cols);
  // Output columns whose every tap lies inside the input row (none with dilation: they go tap by tap).
  const owIn0 = dilW === 1 ? Math.min(outW, Math.max(0, Math.ceil(padLeft / strideW))) : outW;
  const owIn1 = dilW === 1 ? Math.max(owIn0, Math.min(outW, Math.floor((inW - kW + padLeft) / strideW) + 1)) : outW;
  let r0 = 0;
  for (let b = b0; b < b1; b++) {
    const xb = b * imgSize;
    for (let oh = 0; oh < outH; oh++, r0 += outW) {
      for (let kh = 0; kh < kH; kh++) {
        const ih = oh * strideH - padTop + kh * dilH;
        const col = kh * span;
        if (ih < 0 || ih >= inH) {
          for (let ow = 0; ow < outW; ow++) cols.fill(0, (r0 + ow) * K + col, (r0 + ow) * K + col + span);
          continue;
        }
        const xr = xb + ih * rowW;
        for (let ow = 0; ow < outW; ow++) {
          if (ow === owIn0 && owIn1 > owIn0) {
            const first = xr + (owIn0 * strideW - padLeft) * inC;
            if (runs) runs((r0 + owIn0) * K + col, first, owIn1 - owIn0, span, K, strideW * inC);
            else for (let k = 0; k < owIn1 - owIn0; k++) copy((r0 + owIn0 + k) * K + col, first + k * strideW * inC, span);
            ow = owIn1 - 1;
            continue;
          }
          const o = (r0 + ow) * K + col;
          const iw0 = ow * strideW - padLeft;
          if (dilW === 1) {
            // Taps kwLo..kwHi-1 fall inside the row; the rest read padding.
            const kwLo = Math.max(0, -iw0);
            const kwHi = Math.min(kW, inW - iw0);
            if (kwHi <= kwLo) {
              cols.fill(0, o, o + span);
            } else {
              if (kwLo > 0) cols.fill(0, o, o + kwLo * inC);
              copy(o + kwLo * inC, xr + (iw0 + kwLo) * inC, (kwHi - kwLo) * inC);
              if (kwHi < kW) cols.fill(0, o + kwHi * inC, o + span);
            }
            continue;
          }
          let p = o;
          for (let kw = 0; kw < kW; kw++) {
            const iw = iw0 + kw * dilW;
            if (iw < 0 || iw >= inW) {
              for (let c = 0; c < inC; c++) cols[p++] = 0;
            } else {
              const xi = xr + iw * inC;
              for (let c = 0; c < inC; c++) cols[p++] = x[xi + c] as number;
            }
          }
        }
      }
    }
  }
}

/**
 * Fill `colsT` (row-major [kH*kW*inC, (b1-b0)*outH*outW]) with the transposed patch matrix of
 * images b0..b1-1, so that colsT . dy[(b1-b0)*outH*outW, outC] is the filter gradient in the filter's
 * [kH, kW, inC, outC] layout. Rows are written contiguously along the output width, which is the
 * fast direction for both reads and writes when inC is small (the common case in kws).
 */
export function im2colTransposed(x: Float32Array, g: ConvGeometry, b0: number, b1: number, colsT: Float32Array): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW, dilH, dilW, padTop, padLeft } = g;
  const N = (b1 - b0) * outH * outW;
  const rowW = inW * inC;
  const imgSize = inH * rowW;
  // Valid output-column range for each kw is the same for every row: compute it once.
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const off = kw * dilW - padLeft;
      // ow valid when 0 <= ow*strideW + off < inW.
      const owLo = Math.max(0, Math.ceil(-off / strideW));
      const owHi = Math.min(outW, Math.floor((inW - 1 - off) / strideW) + 1);
      for (let c = 0; c < inC; c++) {
        const row = ((kh * kW + kw) * inC + c) * N;
        let o = row;
        for (let b = b0; b < b1; b++) {
          const xb = b * imgSize + c;
          for (let oh = 0; oh < outH; oh++) {
            const ih = oh * strideH - padTop + kh * dilH;
            if (ih < 0 || ih >= inH || owHi <= owLo) {
              colsT.fill(0, o, o + outW);
              o += outW;
              continue;
            }
            for (let ow = 0; ow < owLo; ow++) colsT[o++] = 0;
            const xr = xb + ih * rowW;
            if (strideW === 1 && inC === 1) {
              const start = xr + owLo + off;
              colsT.set(x.subarray(start, start + (owHi - owLo)), o);
              o += owHi - owLo;
            } else {
              for (let ow = owLo; ow < owHi; ow++) colsT[o++] = x[xr + (ow * strideW + off) * inC] as number;
            }
            for (let ow = owHi; ow < outW; ow++) colsT[o++] = 0;
          }
        }
      }
    }
  }
}

/**
 * Fill `colsT` (row-major [kH*kW*inC, images*outH*outW]) from input planes ([inC, images, inH, inW],
 * channels first): row (kh, kw, c) is plane c read at the tap's offset, so with stride 1 along the
 * width every output row of it is one contiguous run. The caller gets the planes from one transpose
 * of the input, which has kH*kW times fewer floats than transposing the row-major im2col matrix.
 */
export function im2colTransposedPlanar(planes: Float32Array, g: ConvGeometry, images: number, colsT: Float32Array, runs?: RunsCopy): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW, dilH, dilW, padTop, padLeft } = g;
  const N = images * outH * outW;
  const plane = images * inH * inW;
  for (let kh = 0; kh < kH; kh++) {
    for (let kw = 0; kw < kW; kw++) {
      const off = kw * dilW - padLeft;
      const owLo = Math.min(outW, Math.max(0, Math.ceil(-off / strideW)));
      const owHi = Math.max(owLo, Math.min(outW, Math.floor((inW - 1 - off) / strideW) + 1));
      for (let c = 0; c < inC; c++) {
        let o = ((kh * kW + kw) * inC + c) * N;
        for (let b = 0; b < images; b++) {
          for (let oh = 0; oh < outH; oh++, o += outW) {
            const ih = oh * strideH - padTop + kh * dilH;
            if (ih < 0 || ih >= inH || owHi <= owLo) {
              colsT.fill(0, o, o + outW);
              continue;
            }
            if (owLo > 0) colsT.fill(0, o, o + owLo);
            const src = c * plane + (b * inH + ih) * inW + owLo * strideW + off;
            const len = owHi - owLo;
            if (strideW !== 1) for (let k = 0; k < len; k++) colsT[o + owLo + k] = planes[src + k * strideW] as number;
            else if (runs) runs(o + owLo, src, 1, len, 0, 0);
            else colsT.set(planes.subarray(src, src + len), o + owLo);
            if (owHi < outW) colsT.fill(0, o + owHi, o + outW);
          }
        }
      }
    }
  }
}

/**
 * Scatter-add `cols` (row-major [(b1-b0)*outH*outW, kH*kW*inC], the gradient with respect to the
 * im2col matrix) back onto images b0..b1-1 of `dx` (NHWC), which the caller has zeroed: the input
 * gradient of a convolution is col2im(dy . filter^T).
 */
export function col2imRows(cols: Float32Array, g: ConvGeometry, b0: number, b1: number, dx: Float32Array): void {
  const { inH, inW, inC, outH, outW, kH, kW, strideH, strideW, dilH, dilW, padTop, padLeft } = g;
  const K = kH * kW * inC;
  const rowW = inW * inC;
  const imgSize = inH * rowW;
  let r = 0;
  for (let b = b0; b < b1; b++) {
    const xb = b * imgSize;
    for (let oh = 0; oh < outH; oh++) {
      const ih0 = oh * strideH - padTop;
      for (let ow = 0; ow < outW; ow++, r++) {
        const iw0 = ow * strideW - padLeft;
        let o = r * K;
        for (let kh = 0; kh < kH; kh++) {
          const ih = ih0 + kh * dilH;
          if (ih < 0 || ih >= inH) {
            o += kW * inC;
            continue;
          }
          const xr = xb + ih * rowW;
          for (let kw = 0; kw < kW; kw++) {
            const iw = iw0 + kw * dilW;
            if (iw < 0 || iw >= inW) {
              o += inC;
            } else {
              const xi = xr + iw * inC;
              for (let c = 0; c < inC; c++) dx[xi + c] = (dx[xi + c] as number) + (cols[o++] as number);
            }
          }
        }
      }
    }
  }
}
