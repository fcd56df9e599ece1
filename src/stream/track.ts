/**
 * One stream of audio turned into due windows: sample-rate conversion, placement by
 * sample offset (skipped silence and lost datagrams become zeros at the right time),
 * incremental features, and the hop schedule. Shared by the server (one per session)
 * and `kws score` (one per recording), so offline scoring sees exactly what the
 * server would have classified.
 */
import { Resampler } from '../audio/resample';
import type { InferenceEngine, SessionFeatures } from './engine';

export interface DueWindow {
  /** Unnormalised features of the window (a copy). */
  features: Float32Array;
  /** End of the window in seconds of the sender's stream time. */
  t: number;
  /** End of the window in the sender's samples. */
  endOffset: number;
}

/**
 * The longest gap (client samples) a track zero-fills: a window and a hop. Longer gaps only shift
 * stream time. Exported because a client pacing itself (flow.ts) must count the same windows.
 */
export function maxZeroFill(windowSamples: number, hopSamples: number, clientRate: number, serverRate: number): number {
  return Math.ceil(((windowSamples + hopSamples) * clientRate) / serverRate);
}

export type AppendOutcome = 'ok' | 'late' | 'overlap';

export class AudioTrack {
  readonly clientRate: number;
  readonly hopSamples: number;
  private features: SessionFeatures;
  private readonly resampler: Resampler | null;
  private readonly engineRate: number;
  /** The next client sample index expected (everything before it has been placed). */
  private nextOffset = 0;
  /** Engine samples at which the next window is due. */
  private nextDue: number;
  /** Engine samples at the last classified window. */
  private lastWindowAt = 0;
  /** Seconds of stream time skipped without feeding samples (gaps longer than a window). */
  private timeShift = 0;
  /** Longest gap (client samples) that is zero-filled; longer gaps restart the window. */
  private readonly maxFill: number;
  windows = 0;

  constructor(
    engine: InferenceEngine,
    opts: { clientRate: number; hopSamples: number },
  ) {
    this.clientRate = opts.clientRate;
    this.engineRate = engine.sampleRate;
    this.hopSamples = opts.hopSamples;
    this.nextDue = opts.hopSamples;
    this.features = engine.createSession();
    this.resampler = opts.clientRate === engine.sampleRate ? null : new Resampler(opts.clientRate, engine.sampleRate);
    this.maxFill = maxZeroFill(engine.windowSamples, opts.hopSamples, opts.clientRate, engine.sampleRate);
  }

  get expectedOffset(): number {
    return this.nextOffset;
  }

  /** Engine samples fed so far. */
  get samplesSeen(): number {
    return this.features.samplesSeen;
  }

  /**
   * Place `samples` (client rate) starting at client sample `offset`; windows that became
   * due are appended to `out`. A gap before `offset` is filled with silence (fillGap).
   */
  append(offset: number, samples: Float32Array, out: DueWindow[]): AppendOutcome {
    let data = samples;
    let outcome: AppendOutcome = 'ok';
    if (offset < this.nextOffset) {
      const skip = this.nextOffset - offset;
      if (skip >= samples.length) return 'late';
      data = samples.subarray(skip);
      outcome = 'overlap';
    } else if (offset > this.nextOffset) {
      this.fillGap(offset - this.nextOffset, out);
    }
    this.nextOffset = Math.max(offset, this.nextOffset) + data.length;
    this.feed(this.convert(data), out);
    return outcome;
  }

  /** The end of the stream: classify the tail if it has not been classified yet. */
  flush(out: DueWindow[]): void {
    if (this.resampler) this.feed(this.resampler.flush(), out);
    if (this.features.samplesSeen > this.lastWindowAt) this.emit(out);
  }

  private convert(x: Float32Array): Float32Array {
    return this.resampler ? this.resampler.process(x) : x;
  }

  /**
   * Missing audio (skipped silence or a lost datagram) becomes zeros in place, and the
   * windows that fall due inside it are classified as usual, so results stay on the hop
   * grid. A gap longer than a window only shifts time: feeding more zeros would change
   * nothing but the CPU bill.
   */
  private fillGap(gap: number, out: DueWindow[]): void {
    const fill = Math.min(gap, this.maxFill);
    if (gap > fill) this.timeShift += (gap - fill) / this.clientRate;
    const zeros = this.convert(new Float32Array(fill));
    if (zeros.length > 0) this.feed(zeros, out);
  }

  /** Push engine-rate samples, cutting at each hop boundary so every due window is captured. */
  private feed(x: Float32Array, out: DueWindow[]): void {
    let pos = 0;
    while (pos < x.length) {
      const need = this.nextDue - this.features.samplesSeen;
      const take = Math.min(need, x.length - pos);
      if (take > 0) this.features.push(pos === 0 && take === x.length ? x : x.subarray(pos, pos + take));
      pos += take;
      if (this.features.samplesSeen >= this.nextDue) {
        this.emit(out);
        this.nextDue += this.hopSamples;
      }
    }
  }

  private emit(out: DueWindow[]): void {
    const seen = this.features.samplesSeen;
    this.lastWindowAt = seen;
    this.windows++;
    const t = seen / this.engineRate + this.timeShift;
    out.push({ features: this.features.window(), t, endOffset: Math.round(t * this.clientRate) });
  }
}
