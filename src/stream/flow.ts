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
  private samplesSent = 0;
  private answered = 0;
  private forgiven = 0;
  private nextSendAt = 0;
  private readonly interval: number;
  private readonly maxAhead: number;
  private readonly stallMs: number;
  private wake: (() => void) | null = null;

  constructor(
    private readonly opts: FlowOptions,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.interval = opts.maxDatagramsPerSec ? 1000 / (0.8 * opts.maxDatagramsPerSec) : 0;
    this.maxAhead = opts.maxAhead ?? 16;
    this.stallMs = opts.stallMs ?? 500;
  }

  /** Windows the server owes for the audio sent so far (at its own rate). */
  expectedWindows(): number {
    const serverSamples = (this.samplesSent * this.opts.serverRate) / this.opts.clientRate;
    if (serverSamples < this.opts.windowSamples) return 0;
    return Math.floor((serverSamples - this.opts.windowSamples) / this.opts.hopSamples) + 1;
  }

  outstanding(): number {
    return this.expectedWindows() - this.answered - this.forgiven;
  }

  /** A result arrived. */
  onResult(): void {
    this.answered++;
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  /** Wait until one more datagram of `samples` samples may go out; call before sending it. */
  async beforeSend(samples: number): Promise<void> {
    let lastProgress = this.now();
    let seen = this.answered;
    while (this.outstanding() > this.maxAhead) {
      if (this.answered !== seen) {
        seen = this.answered;
        lastProgress = this.now();
      }
      const waited = this.now() - lastProgress;
      if (waited >= this.stallMs) {
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
    this.samplesSent += samples;
  }
}
