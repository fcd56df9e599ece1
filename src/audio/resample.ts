/**
 * Band-limited sample-rate conversion: a Kaiser-windowed sinc evaluated at each output
 * instant (the libsamplerate / resampy approach). Usual ratios (44100 -> 16000 is
 * 160/441) use exact per-phase coefficients; any other ratio (odd rates with no small
 * common factor) interpolates a finely tabulated kernel.
 *
 * Why not linear interpolation or picking every k-th sample: both alias. A 10 kHz tone
 * in a 44.1 kHz file would come out of a 16 kHz conversion as a 6 kHz tone that was
 * never there. Here everything above the new Nyquist is removed first (77 dB down just
 * past the band edge, ~100 dB and more beyond; see docs/recording.md and the tests).
 *
 * The Resampler class works on a stream in chunks, so `kws ... --input big.wav` never
 * holds a whole converted file; `resample()` is the one-shot form. Both give the same
 * output sample for sample.
 */

export interface ResamplerOptions {
  /** Zero crossings of the sinc on each side: longer = sharper cut-off, slower. */
  zeros?: number;
  /** Pass band edge as a fraction of the lower Nyquist frequency. */
  rolloff?: number;
  /** Kaiser window shape: higher = deeper stopband, wider transition. */
  beta?: number;
}

const DEFAULTS: Required<ResamplerOptions> = { zeros: 32, rolloff: 0.94, beta: 9.5 };
/** Kernel table points per zero crossing; linear interpolation error is ~1e-6 here. */
const TABLE_RES = 512;

/** Modified Bessel function of the first kind, order 0 (series; converges fast for x < 50). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

const tableCache = new Map<string, Float64Array>();

/** sinc(u) * kaiser(u / zeros) for u = 0 .. zeros, TABLE_RES points per unit, plus a 0 guard. */
function kernelTable(zeros: number, beta: number): Float64Array {
  const key = `${zeros}/${beta}`;
  const hit = tableCache.get(key);
  if (hit) return hit;
  const n = zeros * TABLE_RES;
  const t = new Float64Array(n + 2);
  const norm = besselI0(beta);
  for (let i = 0; i <= n; i++) {
    const u = i / TABLE_RES;
    const r = u / zeros;
    const w = besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / norm;
    t[i] = (i === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u)) * w;
  }
  t[n] = 0;
  t[n + 1] = 0;
  tableCache.set(key, t);
  return t;
}

interface Polyphase {
  /** L: output samples per repeat of the pattern. */
  phases: number;
  /** M: input samples per repeat. */
  step: number;
  /** floor(p * M / L): input offset of phase p within a repeat. */
  baseOffset: Int32Array;
  /** Offset of the first tap from the base sample. */
  jMin: number;
  taps: number;
  /** phases x taps, output gain included. */
  coef: Float64Array;
}

const polyCache = new Map<string, Polyphase | undefined>();
const MAX_PHASES = 2048;

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/**
 * For integer rates whose ratio reduces to L/M with L <= 2048 (every common pair:
 * 44100->16000 is 160/441, 48000->16000 is 1/3), the kernel is needed only at L
 * fractional offsets: tabulate those exactly once and the inner loop becomes a dot
 * product, about 5x faster than interpolating the kernel table per tap.
 */
function polyphaseFor(from: number, to: number, scale: number, halfWidth: number, zeros: number, beta: number): Polyphase | undefined {
  if (!Number.isInteger(from) || !Number.isInteger(to)) return undefined;
  const key = `${from}/${to}/${scale}/${zeros}/${beta}`;
  if (polyCache.has(key)) return polyCache.get(key);
  const g = gcd(from, to);
  const phases = to / g;
  const step = from / g;
  let result: Polyphase | undefined;
  if (phases <= MAX_PHASES) {
    const jMin = Math.floor(-halfWidth);
    const taps = Math.ceil(halfWidth) + 2 - jMin;
    const coef = new Float64Array(phases * taps);
    const baseOffset = new Int32Array(phases);
    const norm = besselI0(beta);
    for (let p = 0; p < phases; p++) {
      baseOffset[p] = Math.floor((p * step) / phases);
      const frac = ((p * step) % phases) / phases;
      for (let j = 0; j < taps; j++) {
        const u = Math.abs(frac - (jMin + j)) * scale;
        if (u >= zeros) continue;
        const r = u / zeros;
        const w = besselI0(beta * Math.sqrt(1 - r * r)) / norm;
        coef[p * taps + j] = (u === 0 ? 1 : Math.sin(Math.PI * u) / (Math.PI * u)) * w * scale;
      }
    }
    result = { phases, step, baseOffset, jMin, taps, coef };
  }
  polyCache.set(key, result);
  return result;
}

function checkRate(name: string, rate: number): void {
  if (!Number.isFinite(rate) || rate <= 0) throw new RangeError(`resample: ${name} must be a positive number, got ${rate}`);
}

export class Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  private readonly table: Float64Array;
  /** Kernel scale: zero crossings per input sample (the cut-off as a fraction of the input rate, times 2). */
  private readonly scale: number;
  /** Half-width of the kernel in input samples. */
  private readonly halfWidth: number;
  private readonly zeros: number;
  /** Exact per-phase coefficients when the ratio is a fraction with a small denominator. */
  private readonly poly: Polyphase | undefined;
  private buf: Float32Array = new Float32Array(0);
  /** Absolute input index of buf[0]. */
  private bufStart = 0;
  /** Input samples received so far. */
  private received = 0;
  /** Index of the next output sample. */
  private produced = 0;
  private flushed = false;

  constructor(fromRate: number, toRate: number, options: ResamplerOptions = {}) {
    checkRate('fromRate', fromRate);
    checkRate('toRate', toRate);
    const o = { ...DEFAULTS, ...options };
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.zeros = o.zeros;
    this.table = kernelTable(o.zeros, o.beta);
    this.scale = Math.min(1, toRate / fromRate) * o.rolloff;
    this.halfWidth = o.zeros / this.scale;
    this.poly = polyphaseFor(fromRate, toRate, this.scale, this.halfWidth, o.zeros, o.beta);
  }

  /** Output instant of output sample n, in input samples. */
  private timeOf(n: number): number {
    return (n * this.fromRate) / this.toRate;
  }

  /** Convert the next chunk; returns the output samples that are now complete. */
  process(x: Float32Array): Float32Array {
    if (this.flushed) throw new Error('Resampler: process() after flush()');
    if (this.fromRate === this.toRate) {
      this.received += x.length;
      this.produced += x.length;
      return x.slice();
    }
    this.append(x);
    return this.run(this.received);
  }

  /** The remaining output, treating the input as followed by silence. */
  flush(): Float32Array {
    if (this.flushed) return new Float32Array(0);
    this.flushed = true;
    if (this.fromRate === this.toRate) return new Float32Array(0);
    // As many outputs in total as the input spans: ceil(n * to / from).
    const total = Math.ceil((this.received * this.toRate) / this.fromRate - 1e-9);
    return this.run(Infinity, total);
  }

  private append(x: Float32Array): void {
    // Keep only what the next outputs can still reach.
    const keepFrom = Math.max(this.bufStart, Math.floor(this.timeOf(this.produced) - this.halfWidth) - 1);
    const drop = Math.min(keepFrom - this.bufStart, this.buf.length);
    const kept = this.buf.subarray(drop);
    const next = new Float32Array(kept.length + x.length);
    next.set(kept, 0);
    next.set(x, kept.length);
    this.buf = next;
    this.bufStart += drop;
    this.received += x.length;
  }

  /** Produce outputs whose kernel lies within [.., available) (zeros beyond `received`). */
  private run(available: number, limit = Infinity): Float32Array {
    const { table, scale, halfWidth, buf, bufStart, received } = this;
    // Outputs never pass the instant of the last input received (or `limit`).
    const bound = Math.min(limit, Math.ceil((received * this.toRate) / this.fromRate) + 1) - this.produced;
    const out = new Float32Array(Math.max(0, bound));
    let count = 0;
    const tabScale = scale * TABLE_RES;
    const tabEnd = this.zeros * TABLE_RES;
    for (;;) {
      const n = this.produced;
      if (n >= limit || count >= out.length) break;
      const t = this.timeOf(n);
      const hi = Math.floor(t + halfWidth);
      if (hi >= available) break;
      let acc = 0;
      const poly = this.poly;
      if (poly) {
        // out[n] = sum_j x[base + j] * c[phase][j]: a plain dot product, no kernel lookups.
        const phase = n % poly.phases;
        const base = ((n - phase) / poly.phases) * poly.step + (poly.baseOffset[phase] as number);
        const first = base + poly.jMin;
        const lo = Math.max(first, bufStart);
        const top = Math.min(base + poly.jMin + poly.taps - 1, received - 1);
        const c0 = phase * poly.taps - first;
        const b0 = -bufStart;
        const coef = poly.coef;
        for (let k = lo; k <= top; k++) acc += (buf[k + b0] as number) * (coef[k + c0] as number);
        out[count++] = acc;
        this.produced = n + 1;
        continue;
      }
      const lo = Math.max(Math.ceil(t - halfWidth), bufStart);
      const top = Math.min(hi, received - 1);
      for (let k = lo; k <= top; k++) {
        const u = Math.abs(t - k) * tabScale;
        const i = u | 0;
        if (i >= tabEnd) continue;
        const a = table[i] as number;
        const h = a + (u - i) * ((table[i + 1] as number) - a);
        acc += (buf[k - bufStart] as number) * h;
      }
      out[count++] = acc * scale;
      this.produced = n + 1;
    }
    return out.subarray(0, count);
  }
}

/** Resample a whole signal from `fromRate` to `toRate` Hz; returns ceil(n * to / from) samples. */
export function resample(x: Float32Array, fromRate: number, toRate: number, options: ResamplerOptions = {}): Float32Array {
  if (fromRate === toRate) return x.slice();
  const r = new Resampler(fromRate, toRate, options);
  const a = r.process(x);
  const b = r.flush();
  const out = new Float32Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
