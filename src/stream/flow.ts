/**
 * Flow control for sending faster than real time (`kws stream -i FILE --fast`).
 *
 * A server protects itself from a fast sender twice: its per-source rate limit drops
 * datagrams beyond `maxDatagramsPerSec`, and its inference queue sheds windows that waited too
 * long. Both are right for a live stream and both made --fast lose results (measured: 937 of
 * 12,001 datagrams and 62 windows lost on an 828 s file). A file has no deadline, so the sender
 * waits instead: it stays under the announced datagram rate, and keeps at most `maxAhead`
 * windows sent but not yet answered. If no result arrives for `stallMs` (a result lost on the
 * network, a stretch the server does not classify) it forgives the shortfall and goes on, so
 * a lost reply costs a pause, never a hang.
 */

import { maxZeroFill } from './track';

export interface FlowOptions {
  /** Samples per window and per hop, and the server's sample rate (from WELCOME). */
  windowSamples: number;
  hopSamples: number;
  serverRate: number;
  /** Rate of the audio the client sends. */
  clientRate: number;
  /** Datagrams per second the server accepts from one source; the sender keeps below 80 % of it. */
  maxDatagramsPerSec?: number;
  maxAhead?: number;
  stallMs?: number;
}

export class FlowControl {
  /** Client samples the server has placed: audio sent, plus skipped audio it zero-fills. */
  private samplesSent = 0;
  /** Client samples skipped (silence gate) since the last datagram sent. */
  private skipped = 0;
  /** The longest gap the server zero-fills (track.ts); the rest of a gap only shifts time. */
  private readonly maxFill: number;
  private answered = 0;
  private forgiven = 0;
  private nextSendAt = 0;
  private readonly interval: number;
  private readonly maxAhead: number;
  private readonly stallMs: number;
  private wake: (() => void) | null = null;
  /** Results received when the last stall was forgiven (-1: none yet). */
  private answeredAtStall = -1;
  /** No result across two stalls: the server stopped answering, so don't wait for it. */
  private deaf = false;

  constructor(
    private readonly opts: FlowOptions,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.interval = opts.maxDatagramsPerSec ? 1000 / (0.8 * opts.maxDatagramsPerSec) : 0;
    this.maxAhead = opts.maxAhead ?? 16;
    this.stallMs = opts.stallMs ?? 500;
    this.maxFill = maxZeroFill(opts.windowSamples, opts.hopSamples, opts.clientRate, opts.serverRate);
  }

  /**
   * Windows the server owes for the audio sent so far (at its own rate). Its track emits a
   * window every hop from the first sample (the first ones zero-padded, as the original's),
   * not from the first full window.
   */
  expectedWindows(): number {
    const serverSamples = (this.samplesSent * this.opts.serverRate) / this.opts.clientRate;
    return Math.floor(serverSamples / this.opts.hopSamples);
  }

  outstanding(): number {
    return this.expectedWindows() - this.answered - this.forgiven;
  }

  /**
   * `samples` were not sent (the silence gate). The server zero-fills up to `maxFill` of such
   * a gap when the next datagram arrives and classifies the windows inside it, so they count.
   */
  skip(samples: number): void {
    this.skipped += samples;
  }

  /** A result arrived. */
  onResult(): void {
    this.answered++;
    this.deaf = false;
    // A result forgiven as lost that comes after all (a slow server, not a lost reply) must
    // not become credit: the server never owes fewer than zero windows.
    const over = this.answered + this.forgiven - this.expectedWindows();
    if (over > 0) this.forgiven = Math.max(0, this.forgiven - over);
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Wait until one more datagram of `samples` samples may go out; call before sending it. */
  async beforeSend(samples: number): Promise<void> {
    let lastProgress = this.now();
    let seen = this.answered;
    while (!this.deaf && this.outstanding() > this.maxAhead) {
      if (this.answered !== seen) {
        seen = this.answered;
        lastProgress = this.now();
      }
      const waited = this.now() - lastProgress;
      if (waited >= this.stallMs) {
        // Not one result since the last stall: the server is gone or deaf (stopped, its
        // inference thread dead). Waiting would stretch an 800 s file by minutes of stalls
        // before the END that reports it, so send on (still paced) until a result comes.
        if (this.answered === this.answeredAtStall) this.deaf = true;
        this.answeredAtStall = this.answered;
        this.forgiven += this.outstanding() - Math.floor(this.maxAhead / 2);
        break;
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        void this.sleep(Math.min(50, this.stallMs - waited)).then(() => {
          if (this.wake === resolve) this.wake = null;
          resolve();
        });
      });
    }
    if (this.interval > 0) {
      // Timers are coarser than one datagram's interval (0.6 ms at 1,600/s), so sleep only
      // once 20 ms of sending is owed; the server's bucket holds a second's burst.
      const t = this.now();
      this.nextSendAt = Math.max(t - 20, this.nextSendAt) + this.interval;
      if (this.nextSendAt - t > 20) await this.sleep(this.nextSendAt - t);
    }
    this.samplesSent += Math.min(this.skipped, this.maxFill) + samples;
    this.skipped = 0;
  }
}
