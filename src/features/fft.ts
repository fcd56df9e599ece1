/**
 * Power spectrum of one windowed real frame: |rfft(w * x)|^2 for bins 0..N/2.
 *
 * Hand-written because it was the fastest option measured on the target machine
 * (2-core AMD EPYC, Node 20; docs/features.md has the figures): fft.js's
 * realTransform took about 14 us per 2048-point frame and returns the full complex
 * spectrum in a plain array; this radix-4 transform fuses the windowing, the
 * bit-reversed load and the first (twiddle-free) pass, and returns only the power,
 * which is all the mel filterbank needs.
 *
 * Method: the real N-point input is packed as N/2 complex points z[n] = x[2n] + i x[2n+1],
 * transformed with an iterative decimation-in-time FFT (radix-4 passes that merge two
 * radix-2 stages, plus one radix-2 pass when log2(N/2) is odd), then split into the
 * spectrum of the real signal: X[k] = (Z[k] + conj Z[M-k])/2 - i e^{-2 pi i k/N} (Z[k] - conj Z[M-k])/2.
 * All arithmetic is float64.
 */
export class RealPowerFFT {
  readonly size: number;
  private readonly half: number;
  /** Bit-reversal permutation of 0..M-1, pre-multiplied by 2 (index into the real input). */
  private readonly revIn: Uint32Array;
  private readonly radix2First: boolean;
  /** Radix-4 passes after the first: block length L and offset into `twiddles` (6 values per k). */
  private readonly passL: Int32Array;
  private readonly passOffset: Int32Array;
  private readonly twiddles: Float64Array;
  private readonly postCos: Float64Array;
  private readonly postSin: Float64Array;
  private readonly re: Float64Array;
  private readonly im: Float64Array;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 8 || (size & (size - 1)) !== 0) {
      throw new RangeError(`FFT size must be a power of two >= 8, got ${size}`);
    }
    this.size = size;
    const M = size >> 1;
    this.half = M;
    let bits = 0;
    while (1 << bits < M) bits++;
    this.revIn = new Uint32Array(M);
    for (let i = 0; i < M; i++) {
      let r = 0;
      for (let b = 0; b < bits; b++) if (i & (1 << b)) r |= 1 << (bits - 1 - b);
      this.revIn[i] = 2 * r;
    }
    this.radix2First = bits % 2 === 1;
    // The first pass (block length 1, or 2 after a radix-2 pass) is done while loading.
    const firstL = this.radix2First ? 2 : 1;
    const ls: number[] = [];
    const offs: number[] = [];
    const tw: number[] = [];
    for (let L = firstL * 4; L < M; L *= 4) {
      ls.push(L);
      offs.push(tw.length);
      for (let k = 0; k < L; k++) {
        const a = (-2 * Math.PI * k) / (4 * L);
        tw.push(Math.cos(a), Math.sin(a), Math.cos(2 * a), Math.sin(2 * a), Math.cos(3 * a), Math.sin(3 * a));
      }
    }
    this.passL = Int32Array.from(ls);
    this.passOffset = Int32Array.from(offs);
    this.twiddles = Float64Array.from(tw);
    this.postCos = new Float64Array(M + 1);
    this.postSin = new Float64Array(M + 1);
    for (let k = 0; k <= M; k++) {
      this.postCos[k] = Math.cos((2 * Math.PI * k) / size);
      this.postSin[k] = -Math.sin((2 * Math.PI * k) / size);
    }
    this.re = new Float64Array(M);
    this.im = new Float64Array(M);
  }

  /**
   * out[k] = |sum_n window[n] x[offset + n] e^{-2 pi i k n / N}|^2 for k = 0..N/2.
   * Reads x[offset .. offset + N); `window` has length N; `out` has length N/2 + 1.
   */
  power(x: Float32Array, offset: number, window: Float64Array, out: Float64Array): void {
    const M = this.half;
    const re = this.re;
    const im = this.im;
    const rev = this.revIn;
    if (this.radix2First) {
      // Odd number of radix-2 stages: a radix-2 pass fused with the load, then a
      // radix-4 pass on blocks of 2 (its two twiddle triples are computed inline).
      for (let i = 0; i < M; i += 2) {
        const j0 = rev[i];
        const j1 = rev[i + 1];
        const ar = x[offset + j0] * window[j0];
        const ai = x[offset + j0 + 1] * window[j0 + 1];
        const br = x[offset + j1] * window[j1];
        const bi = x[offset + j1 + 1] * window[j1 + 1];
        re[i] = ar + br;
        im[i] = ai + bi;
        re[i + 1] = ar - br;
        im[i + 1] = ai - bi;
      }
      this.radix4Pass(2, -1);
    } else {
      // Bit-reversed load fused with the first radix-4 pass (all twiddles are 1).
      for (let i = 0; i < M; i += 4) {
        const j0 = rev[i];
        const j1 = rev[i + 1];
        const j2 = rev[i + 2];
        const j3 = rev[i + 3];
        const ar = x[offset + j0] * window[j0];
        const ai = x[offset + j0 + 1] * window[j0 + 1];
        const br = x[offset + j1] * window[j1];
        const bi = x[offset + j1 + 1] * window[j1 + 1];
        const cr = x[offset + j2] * window[j2];
        const ci = x[offset + j2 + 1] * window[j2 + 1];
        const dr = x[offset + j3] * window[j3];
        const di = x[offset + j3 + 1] * window[j3 + 1];
        const s0r = ar + br;
        const s0i = ai + bi;
        const s1r = ar - br;
        const s1i = ai - bi;
        const s2r = cr + dr;
        const s2i = ci + di;
        const s3r = cr - dr;
        const s3i = ci - di;
        re[i] = s0r + s2r;
        im[i] = s0i + s2i;
        re[i + 2] = s0r - s2r;
        im[i + 2] = s0i - s2i;
        re[i + 1] = s1r + s3i;
        im[i + 1] = s1i - s3r;
        re[i + 3] = s1r - s3i;
        im[i + 3] = s1i + s3r;
      }
    }
    const passL = this.passL;
    const passOffset = this.passOffset;
    for (let p = 0; p < passL.length; p++) this.radix4Pass(passL[p], passOffset[p]);

    // Split the packed complex spectrum into the real signal's spectrum, keep |X|^2.
    const pc = this.postCos;
    const ps = this.postSin;
    const r0 = re[0];
    const i0 = im[0];
    out[0] = (r0 + i0) * (r0 + i0);
    out[M] = (r0 - i0) * (r0 - i0);
    for (let k = 1; k < M; k++) {
      const zr = re[k];
      const zi = im[k];
      const cr = re[M - k];
      const ci = -im[M - k];
      const er = zr + cr;
      const ei = zi + ci;
      const dr = zr - cr;
      const di = zi - ci;
      const wr = pc[k];
      const wi = ps[k];
      const xr = er + di * wr + dr * wi;
      const xi = ei + di * wi - dr * wr;
      out[k] = 0.25 * (xr * xr + xi * xi);
    }
  }

  /** Combine blocks of length L into blocks of length 4L. offset -1: L = 2 with exact twiddles. */
  private radix4Pass(L: number, offset: number): void {
    const M = this.half;
    const re = this.re;
    const im = this.im;
    const size = 4 * L;
    const tw = this.twiddles;
    for (let k = 0; k < L; k++) {
      let w1r: number, w1i: number, w2r: number, w2i: number, w3r: number, w3i: number;
      if (offset < 0) {
        const a = (-2 * Math.PI * k) / size;
        w1r = Math.cos(a);
        w1i = Math.sin(a);
        w2r = Math.cos(2 * a);
        w2i = Math.sin(2 * a);
        w3r = Math.cos(3 * a);
        w3i = Math.sin(3 * a);
      } else {
        const t = offset + 6 * k;
        w1r = tw[t];
        w1i = tw[t + 1];
        w2r = tw[t + 2];
        w2i = tw[t + 3];
        w3r = tw[t + 4];
        w3i = tw[t + 5];
      }
      for (let a = k; a < M; a += size) {
        const b = a + L;
        const c = b + L;
        const d = c + L;
        const ar = re[a];
        const ai = im[a];
        const b0r = re[b];
        const b0i = im[b];
        const c0r = re[c];
        const c0i = im[c];
        const d0r = re[d];
        const d0i = im[d];
        const br = b0r * w2r - b0i * w2i;
        const bi = b0r * w2i + b0i * w2r;
        const cr = c0r * w1r - c0i * w1i;
        const ci = c0r * w1i + c0i * w1r;
        const dr = d0r * w3r - d0i * w3i;
        const di = d0r * w3i + d0i * w3r;
        const s0r = ar + br;
        const s0i = ai + bi;
        const s1r = ar - br;
        const s1i = ai - bi;
        const s2r = cr + dr;
        const s2i = ci + di;
        const s3r = cr - dr;
        const s3i = ci - di;
        re[a] = s0r + s2r;
        im[a] = s0i + s2i;
        re[c] = s0r - s2r;
        im[c] = s0i - s2i;
        re[b] = s1r + s3i;
        im[b] = s1i - s3r;
        re[d] = s1r - s3i;
        im[d] = s1i + s3r;
      }
    }
  }
}
