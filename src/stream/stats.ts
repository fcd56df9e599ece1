/** Small statistics helpers for latency figures. */

/** The q-quantile (0..1) of `values` by nearest rank; NaN for none. */
export function quantile(values: ArrayLike<number>, q: number): number {
  const n = values.length;
  if (n === 0) return NaN;
  const sorted = Float64Array.from(values as ArrayLike<number>).sort();
  const rank = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
  return sorted[rank] as number;
}

/** A bounded reservoir of recent samples (the last `size`), for periodic p50/p99. */
export class Recent {
  private readonly buf: Float64Array;
  private n = 0;
  private i = 0;

  constructor(size = 4096) {
    this.buf = new Float64Array(size);
  }

  add(v: number): void {
    this.buf[this.i] = v;
    this.i = (this.i + 1) % this.buf.length;
    if (this.n < this.buf.length) this.n++;
  }

  values(): Float64Array {
    return this.buf.slice(0, this.n);
  }

  clear(): void {
    this.n = 0;
    this.i = 0;
  }

  get count(): number {
    return this.n;
  }
}

export function fmtMs(v: number): string {
  return Number.isFinite(v) ? v.toFixed(v < 10 ? 1 : 0) : '-';
}
