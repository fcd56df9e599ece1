/**
 * Streaming feature extraction for the server: audio arrives in chunks of any size,
 * each STFT frame is computed once, as soon as its samples are in, and kept in a ring;
 * a window's features are then assembled from the ring instead of being recomputed.
 *
 * Exactness. currentWindow() returns exactly what the batch FeatureExtractor.compute()
 * returns for the same windowSamples-long stretch of the stream (the test checks this
 * to 1e-4; in practice it is bit-identical), because:
 *
 *  - Windows start on the hop grid: the window is stream[S, S + windowSamples) with
 *    S the largest multiple of hop such that the window is complete. So window frame t
 *    is stream frame S/hop + t, and an interior frame (whose nonzero analysis window
 *    lies inside the window) has the same samples in both paths. A window may therefore
 *    end up to hop - 1 samples before the newest sample (32 ms for the seed spec).
 *  - Centre padding. The batch path pads each window at both ends (reflect or zeros).
 *    Frames whose analysis window crosses a window edge depend on that padding, not
 *    on the neighbouring stream audio, so the stream never caches them: they are
 *    recomputed from the window's own samples for every window, with the same padding
 *    code as the batch path. For the seed spec (n_fft 2048, hop 512) these are frames
 *    0, 1, 31 and 32 of 33; a spec with center = false has none.
 *  - What depends on the whole window (dB reference 'max', the top_db floor, then
 *    the DCT after the floor) is done per window from the cached mel power. When the
 *    spec is frame-local (fixed dB reference, no top_db) the finished feature column
 *    itself is cached and a window is only a copy.
 *
 * Memory is bounded: the last windowSamples + a few frames of audio, and one ring
 * slot per window frame.
 */
import { SpectralCore } from './extract';
import { featureShape, isFrameLocal, type FeatureSpec } from './spec';

export class StreamingFeatureExtractor {
  readonly spec: FeatureSpec;
  readonly rows: number;
  readonly frames: number;
  readonly size: number;
  private readonly core: SpectralCore | null;
  private readonly W: number;
  private readonly hop: number;
  private readonly winLength: number;
  /** Nonzero analysis window of stream frame g starts at stream sample g * hop + aOff. */
  private readonly aOff: number;
  /** Window frames tLo..tHi are interior (cached); the others are edge frames. */
  private readonly tLo: number;
  private readonly tHi: number;
  private readonly frameLocal: boolean;
  private readonly ringSlots: number;
  private readonly melRing: Float64Array | null;
  private readonly ringMax: Float64Array;
  private readonly featRing: Float32Array | null;
  private readonly frameBuf: Float32Array;
  private readonly melScratch: Float64Array;
  private readonly windowMel: Float64Array;
  private readonly refDb: number;

  private buf: Float32Array;
  /** buf[0] is stream sample bufBase; buf holds bufLen samples. */
  private bufBase = 0;
  private bufLen = 0;
  private seen = 0;
  private nextFrame: number;
  private computed = 0;

  constructor(spec: FeatureSpec) {
    this.spec = spec;
    const shape = featureShape(spec);
    this.rows = shape.rows;
    this.frames = shape.frames;
    this.size = shape.rows * shape.frames;
    this.W = spec.windowSamples;
    this.frameLocal = isFrameLocal(spec);
    if (spec.kind === 'raw') {
      this.core = null;
      this.hop = 1;
      this.winLength = 1;
      this.aOff = 0;
      this.tLo = 0;
      this.tHi = -1;
      this.ringSlots = 0;
      this.melRing = null;
      this.featRing = null;
      this.ringMax = new Float64Array(0);
      this.frameBuf = new Float32Array(0);
      this.melScratch = new Float64Array(0);
      this.windowMel = new Float64Array(0);
      this.refDb = 0;
      this.nextFrame = 0;
      this.buf = new Float32Array(this.W + 8192);
      return;
    }
    const core = new SpectralCore(spec);
    this.core = core;
    const sp = core.sp;
    this.hop = sp.hop;
    this.winLength = sp.winLength;
    this.aOff = core.frameShift + core.winStart;
    this.tLo = Math.max(0, Math.ceil(-this.aOff / this.hop));
    this.tHi = Math.min(this.frames - 1, Math.floor((this.W - this.winLength - this.aOff) / this.hop));
    this.nextFrame = this.tLo;
    // The newest computed frame can be this far past the newest window's first cached
    // frame (a window lags the stream by up to hop - 1 samples, and with center = false
    // or winLength < nFft a frame's nonzero span ends before its FFT frame does).
    this.ringSlots = Math.max(1, Math.floor((this.W + this.hop - 1 - this.aOff - this.winLength) / this.hop) - this.tLo + 1);
    this.melRing = this.frameLocal ? null : new Float64Array(this.ringSlots * core.nMels);
    this.featRing = this.frameLocal ? new Float32Array(this.ringSlots * this.rows) : null;
    this.ringMax = new Float64Array(this.ringSlots);
    this.frameBuf = new Float32Array(sp.nFft);
    this.melScratch = new Float64Array(core.nMels);
    this.windowMel = new Float64Array(this.frames * core.nMels);
    this.refDb = this.frameLocal ? core.dbParams(0).refDb : 0;
    this.buf = new Float32Array(this.W + sp.nFft + 2 * this.hop + 8192);
  }

  /** Samples pushed so far. */
  get samplesSeen(): number {
    return this.seen;
  }

  /** Stream frames computed so far (frames whose analysis window lies inside the stream). */
  get framesComputed(): number {
    return this.computed;
  }

  /** Number of cached frames a window reuses, and how many edge frames it recomputes. */
  get framesPerWindow(): { cached: number; recomputed: number } {
    const cached = this.core ? Math.max(0, this.tHi - this.tLo + 1) : 0;
    return { cached, recomputed: this.core ? this.frames - cached : 0 };
  }

  /** A full window is available. */
  ready(): boolean {
    return this.seen >= this.W;
  }

  /** Stream sample index where currentWindow() starts (a multiple of hop). */
  windowStart(): number {
    if (!this.ready()) throw new Error('no complete window yet: check ready() first');
    return Math.floor((this.seen - this.W) / this.hop) * this.hop;
  }

  /** Forget the stream (e.g. a new client); keeps the allocated buffers. */
  reset(): void {
    this.bufBase = 0;
    this.bufLen = 0;
    this.seen = 0;
    this.computed = 0;
    this.nextFrame = this.tLo;
  }

  /** Append samples; returns how many new stream frames were completed. */
  push(samples: Float32Array): number {
    let done = 0;
    let pos = 0;
    while (pos < samples.length) {
      if (this.bufLen === this.buf.length) this.compact();
      const take = Math.min(samples.length - pos, this.buf.length - this.bufLen);
      this.buf.set(samples.subarray(pos, pos + take), this.bufLen);
      this.bufLen += take;
      this.seen += take;
      pos += take;
      done += this.computeFrames();
    }
    return done;
  }

  private computeFrames(): number {
    const core = this.core;
    if (core === null) return 0;
    let n = 0;
    const frameBuf = this.frameBuf;
    const ws = core.winStart;
    for (;;) {
      const g = this.nextFrame;
      const a = g * this.hop + this.aOff;
      if (a + this.winLength > this.seen) break;
      // Only the nonzero part of the window matters; the rest of frameBuf stays zero.
      const from = a - this.bufBase;
      frameBuf.set(this.buf.subarray(from, from + this.winLength), ws);
      const slot = g % this.ringSlots;
      if (this.melRing !== null) {
        this.ringMax[slot] = core.melAt(frameBuf, 0, this.melRing, slot * core.nMels);
      } else if (this.featRing !== null) {
        core.melAt(frameBuf, 0, this.melScratch, 0);
        core.finishFrame(this.melScratch, 0, this.refDb, -Infinity, this.featRing, slot * this.rows, 1);
      }
      this.nextFrame = g + 1;
      this.computed++;
      n++;
    }
    return n;
  }

  /** Drop samples that neither a future stream frame nor a future window can need. */
  private compact(): void {
    const nextFrameStart = this.core ? this.nextFrame * this.hop + this.aOff : this.seen;
    const nextWindowStart = Math.floor((this.seen - this.W) / this.hop) * this.hop;
    const keepFrom = Math.max(this.bufBase, Math.min(nextFrameStart, nextWindowStart));
    const drop = keepFrom - this.bufBase;
    if (drop <= 0) {
      // Cannot happen with the capacity chosen in the constructor; grow rather than fail.
      const bigger = new Float32Array(this.buf.length * 2);
      bigger.set(this.buf.subarray(0, this.bufLen));
      this.buf = bigger;
      return;
    }
    this.buf.copyWithin(0, drop, this.bufLen);
    this.bufLen -= drop;
    this.bufBase = keepFrom;
  }

  /**
   * Features of the newest complete hop-aligned window (see windowStart()), identical to
   * FeatureExtractor.compute() on those samples. Writes into `out` when given.
   */
  currentWindow(out?: Float32Array): Float32Array {
    const start = this.windowStart();
    const dest = out ?? new Float32Array(this.size);
    if (dest.length < this.size) throw new RangeError(`output buffer holds ${dest.length} values, needs ${this.size}`);
    const view = this.buf.subarray(start - this.bufBase, start - this.bufBase + this.W);
    const core = this.core;
    if (core === null) {
      dest.set(view);
      return dest;
    }
    const m = start / this.hop;
    const frames = this.frames;
    if (this.tHi >= this.tLo && (m + this.tLo < this.nextFrame - this.ringSlots || m + this.tHi >= this.nextFrame)) {
      throw new Error(`streaming ring does not hold frames ${m + this.tLo}..${m + this.tHi} (next ${this.nextFrame}, ${this.ringSlots} slots)`);
    }
    const nMels = core.nMels;
    if (this.melRing !== null) {
      const wm = this.windowMel;
      let maxMel = 0;
      for (let t = 0; t < frames; t++) {
        let fmax: number;
        if (t >= this.tLo && t <= this.tHi) {
          const slot = (m + t) % this.ringSlots;
          wm.set(this.melRing.subarray(slot * nMels, (slot + 1) * nMels), t * nMels);
          fmax = this.ringMax[slot];
        } else {
          fmax = core.melFrame(view, t, wm, t * nMels);
        }
        if (fmax > maxMel) maxMel = fmax;
      }
      core.finish(wm, frames, maxMel, dest);
    } else if (this.featRing !== null) {
      const rows = this.rows;
      const ring = this.featRing;
      for (let t = 0; t < frames; t++) {
        if (t >= this.tLo && t <= this.tHi) {
          const base = ((m + t) % this.ringSlots) * rows;
          for (let r = 0; r < rows; r++) dest[r * frames + t] = ring[base + r];
        } else {
          core.melFrame(view, t, this.melScratch, 0);
          core.finishFrame(this.melScratch, 0, this.refDb, -Infinity, dest, t, frames);
        }
      }
    }
    return dest;
  }
}
