/**
 * Per-source token buckets: every source address may send up to `datagramsPerSec`
 * datagrams and `bytesPerSec` bytes per second, with a burst of one second's worth.
 * Buckets of quiet sources are forgotten, and the table is bounded so a flood of spoofed
 * source addresses cannot grow it without limit.
 */

interface Bucket {
  datagrams: number;
  bytes: number;
  last: number;
}

export interface RateLimits {
  datagramsPerSec: number;
  bytesPerSec: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: RateLimits,
    private readonly maxSources = 65536,
  ) {}

  /** True when `source` may send a datagram of `bytes` bytes now (and charge it). */
  allow(source: string, bytes: number, now: number): boolean {
    const { datagramsPerSec, bytesPerSec } = this.limits;
    let b = this.buckets.get(source);
    if (b === undefined) {
      if (this.buckets.size >= this.maxSources) {
        this.sweep(now, 1000);
        if (this.buckets.size >= this.maxSources) return false;
      }
      b = { datagrams: datagramsPerSec, bytes: bytesPerSec, last: now };
      this.buckets.set(source, b);
    } else {
      const dt = (now - b.last) / 1000;
      b.last = now;
      b.datagrams = Math.min(datagramsPerSec, b.datagrams + dt * datagramsPerSec);
      b.bytes = Math.min(bytesPerSec, b.bytes + dt * bytesPerSec);
    }
    if (b.datagrams < 1 || b.bytes < bytes) return false;
    b.datagrams -= 1;
    b.bytes -= bytes;
    return true;
  }

  /** Forget sources silent for `idleMs` (their buckets would be full again anyway). */
  sweep(now: number, idleMs = 10_000): void {
    for (const [k, b] of this.buckets) if (now - b.last > idleMs) this.buckets.delete(k);
  }

  get size(): number {
    return this.buckets.size;
  }
}
