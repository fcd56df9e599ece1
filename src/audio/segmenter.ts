/**
 * Cutting a chunk stream into clips: on silence (`kws record`) or at a fixed length
 * (`kws fixed`, `kws record --fixed`). Pure state machines over Int16Array chunks, so
 * the commands, the tests and any future live tool share one behaviour.
 *
 * A chunk is loud when its integer RMS (the original's figure) is above the threshold,
 * exactly as in the original.
 */
import { rmsInt } from './level';

export interface Clip {
  samples: Int16Array;
  /** Absolute sample index (from the start of the stream) of the clip's first sample. */
  start: number;
  /** Absolute index one past the clip's last sample. */
  end: number;
  /** Why the clip ended: enough quiet, the length limit, a fixed length, or the end of input. */
  reason: 'quiet' | 'max-length' | 'fixed' | 'end-of-input';
}

export interface SilenceOptions {
  /** Integer-RMS level a chunk must exceed to count as sound (original default 30). */
  threshold: number;
  /** The clip ends after this many consecutive quiet chunks (the original meant 7). */
  quietChunks: number;
  /** Quiet chunks kept before the first loud chunk, so onsets are not clipped. */
  preRollChunks: number;
  /** Quiet chunks kept after the last loud chunk (the rest of the quiet run is dropped). */
  postRollChunks: number;
  /** Clips whose sound (first to last loud chunk) is shorter than this are dropped, in samples. */
  minSoundSamples: number;
  /** A clip is cut at this many samples (and the next starts only after a quiet chunk). */
  maxSamples: number;
}

export interface SegmentResult {
  clips: Clip[];
  /** Clips dropped for being shorter than minSoundSamples (for reporting). */
  dropped: Clip[];
}

function concat(chunks: Int16Array[], limit = Infinity): Int16Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  n = Math.min(n, limit);
  const out = new Int16Array(n);
  let off = 0;
  for (const c of chunks) {
    if (off >= n) break;
    const take = Math.min(c.length, n - off);
    out.set(take === c.length ? c : c.subarray(0, take), off);
    off += take;
  }
  return out;
}

/**
 * Splits on silence. A clip starts at a loud chunk (plus pre-roll), continues through
 * short quiet gaps, and ends once `quietChunks` quiet chunks follow one another; it
 * keeps `postRollChunks` of that quiet run.
 */
export class SilenceSegmenter {
  private readonly o: SilenceOptions;
  private position = 0;
  /** Recent chunks while idle: the pre-roll candidates. */
  private history: { chunk: Int16Array; start: number }[] = [];
  private clip: Int16Array[] = [];
  private clipStart = 0;
  private clipSamples = 0;
  /** Number of chunks of `clip` up to and including the last loud one. */
  private loudUpTo = 0;
  private firstLoudAt = 0;
  private lastLoudEnd = 0;
  private quietRun = 0;
  /** After a clip is cut at max length, wait for a quiet chunk before starting another. */
  private waitForQuiet = false;

  constructor(options: SilenceOptions) {
    this.o = options;
  }

  /** True while a clip is in progress. */
  get recording(): boolean {
    return this.clip.length > 0;
  }

  /** Samples in the clip in progress. */
  get currentSamples(): number {
    return this.clipSamples;
  }

  push(chunk: Int16Array): SegmentResult {
    const result: SegmentResult = { clips: [], dropped: [] };
    const start = this.position;
    this.position += chunk.length;
    const loud = rmsInt(chunk) > this.o.threshold;
    if (!this.recording) {
      if (this.waitForQuiet) {
        if (loud) return result;
        this.waitForQuiet = false;
      }
      if (!loud) {
        this.history.push({ chunk, start });
        if (this.history.length > this.o.preRollChunks) this.history.shift();
        return result;
      }
      // Onset: the clip starts with the pre-roll.
      this.clip = this.history.map((h) => h.chunk);
      this.clipStart = this.history.length ? (this.history[0] as { start: number }).start : start;
      this.clipSamples = this.clip.reduce((s, c) => s + c.length, 0);
      this.history = [];
      this.firstLoudAt = start;
      this.quietRun = 0;
    }
    this.clip.push(chunk);
    this.clipSamples += chunk.length;
    if (loud) {
      this.quietRun = 0;
      this.loudUpTo = this.clip.length;
      this.lastLoudEnd = start + chunk.length;
    } else {
      this.quietRun++;
    }
    if (this.clipSamples >= this.o.maxSamples) {
      this.finish('max-length', result);
      this.waitForQuiet = loud;
    } else if (this.quietRun >= this.o.quietChunks) {
      this.finish('quiet', result);
    }
    return result;
  }

  /** The end of the input (or Ctrl+C): finish the clip in progress, if any. */
  flush(): SegmentResult {
    const result: SegmentResult = { clips: [], dropped: [] };
    if (this.recording) this.finish('end-of-input', result);
    return result;
  }

  private finish(reason: Clip['reason'], result: SegmentResult): void {
    let chunks = this.clip;
    if (reason !== 'max-length') {
      // Keep the post-roll of the trailing quiet run, drop the rest.
      chunks = chunks.slice(0, Math.min(chunks.length, this.loudUpTo + this.o.postRollChunks));
    }
    const samples = concat(chunks, this.o.maxSamples);
    const clip: Clip = { samples, start: this.clipStart, end: this.clipStart + samples.length, reason };
    const sound = this.lastLoudEnd - this.firstLoudAt;
    if (sound < this.o.minSoundSamples) result.dropped.push(clip);
    else result.clips.push(clip);
    // The quiet chunks we dropped can serve as the next clip's pre-roll.
    const rest = this.clip.slice(chunks.length);
    let restStart = clip.start + chunks.reduce((s, c) => s + c.length, 0);
    this.history = [];
    for (const c of rest) {
      this.history.push({ chunk: c, start: restStart });
      restStart += c.length;
    }
    this.history = this.o.preRollChunks > 0 ? this.history.slice(-this.o.preRollChunks) : [];
    this.clip = [];
    this.clipSamples = 0;
    this.loudUpTo = 0;
    this.quietRun = 0;
  }
}

export interface FixedOptions {
  /** Exact length of every clip, in samples. */
  length: number;
  /**
   * 'back-to-back': clips follow one another with no gap (the original's -f).
   * 'onset': each clip starts at a loud chunk (minus the pre-roll) and the next waits
   * for a quiet chunk and a new onset.
   */
  mode: 'back-to-back' | 'onset';
  /** Onset mode: the loudness threshold (integer RMS). */
  threshold: number;
  /** Onset mode: chunks kept before the onset. */
  preRollChunks: number;
}

/**
 * Cuts exactly `length`-sample clips. The part of a clip still in progress at the end
 * of input is not a clip: `pendingSamples` says how much of it there was, so the
 * caller can report it as discarded.
 */
export class FixedClipper {
  private readonly o: FixedOptions;
  private position = 0;
  private parts: Int16Array[] = [];
  private fill = 0;
  private clipStart = 0;
  private history: { chunk: Int16Array; start: number }[] = [];
  private armed = true;

  constructor(options: FixedOptions) {
    if (!Number.isInteger(options.length) || options.length < 1) throw new RangeError(`FixedClipper: length must be a positive integer, got ${options.length}`);
    this.o = options;
  }

  /** Samples of the clip in progress (0 when waiting for an onset). */
  get pendingSamples(): number {
    return this.fill;
  }

  /** True while a clip is being filled. */
  get recording(): boolean {
    return this.o.mode === 'back-to-back' || this.fill > 0;
  }

  push(chunk: Int16Array): Clip[] {
    const out: Clip[] = [];
    const start = this.position;
    this.position += chunk.length;
    if (this.o.mode === 'back-to-back') {
      this.take(chunk, start, out);
      return out;
    }
    if (this.fill > 0) {
      this.take(chunk, start, out);
      if (this.fill === 0) this.armed = false;
      return out;
    }
    const loud = rmsInt(chunk) > this.o.threshold;
    if (!this.armed) {
      if (!loud) this.armed = true;
    } else if (loud) {
      // Start at the pre-roll, then this chunk.
      const first = this.history.length ? (this.history[0] as { start: number }).start : start;
      this.take(concat([...this.history.map((h) => h.chunk), chunk]), first, out);
      this.history = [];
      if (this.fill === 0) this.armed = false;
      return out;
    }
    if (this.o.preRollChunks > 0) {
      this.history.push({ chunk, start });
      if (this.history.length > this.o.preRollChunks) this.history.shift();
    }
    return out;
  }

  private take(chunk: Int16Array, start: number, out: Clip[]): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.o.mode === 'onset' && this.fill === 0 && off > 0) {
        // A finished onset clip does not roll over into the next one.
        return;
      }
      if (this.fill === 0) this.clipStart = start + off;
      const n = Math.min(this.o.length - this.fill, chunk.length - off);
      this.parts.push(chunk.subarray(off, off + n));
      this.fill += n;
      off += n;
      if (this.fill === this.o.length) {
        const samples = concat(this.parts);
        out.push({ samples, start: this.clipStart, end: this.clipStart + samples.length, reason: 'fixed' });
        this.parts = [];
        this.fill = 0;
      }
    }
  }
}
